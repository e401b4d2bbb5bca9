// IKE identities (RFC 7296 §3.5) as configured and as carried in IDi/IDr.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

namespace ikecluster::ike {

// ID Type values of RFC 7296 §3.5.
enum class IdType : std::uint8_t {
    IPV4_ADDR = 1,
    FQDN = 2,
    RFC822_ADDR = 3,
    IPV6_ADDR = 5,
    DER_ASN1_DN = 9,
    DER_ASN1_GN = 10,
    KEY_ID = 11,
};

struct Identity {
    IdType type = IdType::FQDN;
    Bytes data;

    // Config text, strongSwan-like:
    //   "192.0.2.1" / "2001:db8::1"       -> IPV4_ADDR / IPV6_ADDR
    //   "user@example.org"                -> RFC822_ADDR
    //   "gw.example.org"                  -> FQDN
    //   "fqdn:x", "email:x", "ipv4:x", "ipv6:x", "keyid:0a0b..", "@#0a0b.."  explicit forms
    //   "@name"                           -> FQDN "name" (strongSwan's forced-FQDN form)
    // DER_ASN1_DN/GN come with certificates and are not parsed from text yet.
    static Result<Identity> parse(std::string_view text);
    std::string to_string() const;

    friend bool operator==(const Identity&, const Identity&) = default;
};

}  // namespace ikecluster::ike
