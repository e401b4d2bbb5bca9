// Key exchange methods for IKEv2 (RFC 7296 §1.2 KE payload): MODP-2048
// (RFC 3526 group 14), ECP-256/384 (RFC 5903 groups 19/20) and Curve25519
// (RFC 8031 group 31). Wire formats:
//   MODP:   g^x mod p, big-endian, left-padded with zeros to 256 octets
//           (RFC 7296 §3.4); the shared secret g^xy is padded the same way.
//   ECP:    x | y, each coordinate padded to the field size, no 0x04 prefix
//           (RFC 5903 §7); the shared secret is the x coordinate only.
//   X25519: the 32-octet u-coordinate (RFC 7748 §5); the shared secret is
//           the 32-octet X25519 output (RFC 8031 §2).
// Received values are validated as RFC 6989 requires before use.
#pragma once

#include <cstddef>
#include <memory>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/result.h"
#include "crypto/random.h"

namespace ikecluster::crypto {

bool dh_supported(DhId group);
// The exact length of a KE payload's key exchange data for `group`
// (256 / 64 / 96 / 32); 0 for NONE or an unsupported group.
std::size_t public_value_size(DhId group);
// The length of the shared secret g^ir (256 / 32 / 48 / 32); 0 if unsupported.
std::size_t shared_secret_size(DhId group);

// One ephemeral key pair. Not thread-safe; create one per exchange.
class KeyExchange {
  public:
    virtual ~KeyExchange() = default;
    virtual DhId group() const = 0;
    // Our public value in wire format (exactly public_value_size(group())).
    virtual const Bytes& public_value() const = 0;
    // g^ir from the peer's KE data. Errors (all caused by the peer; answer
    // with INVALID_SYNTAX or drop the exchange, and never reuse the result):
    //  - wrong length for the group ("... must be 256 octets, got 255")
    //  - MODP: y <= 1 or y >= p-1 (RFC 6989 §2.1)
    //  - ECP: a coordinate >= p, not a point on the curve, or the point at
    //    infinity (RFC 6989 §2.3)
    //  - X25519: the result is all zero, i.e. a low-order point
    //    (RFC 7748 §6.1, RFC 8031 §2.3)
    virtual Result<Bytes> shared_secret(BytesView peer_public) = 0;
};

// Generates a key pair for `group`, taking the private key from `rng` (so a
// DeterministicRandom makes the whole exchange reproducible). The draw is:
//   MODP-2048: 40 octets (a 320-bit exponent, the upper end of RFC 3526 §8's
//              estimate for this group), redrawn if < 2;
//   ECP-256/384: 32/48 octets as a big-endian scalar, redrawn if 0 or >= n;
//   X25519: 32 octets used as the scalar (clamped per RFC 7748 §5).
// Errors: NONE or an unsupported group; an ECP draw rejected 64 times in a
// row (only a broken Random does that).
Result<std::unique_ptr<KeyExchange>> make_key_exchange(DhId group, Random& rng);

}  // namespace ikecluster::crypto
