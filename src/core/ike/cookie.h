// Stateless cookies for IKE_SA_INIT (RFC 7296 §2.6) with a rotating secret.
//
//   Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
//
// VersionIDofSecret is 4 octets and Hash is SHA-256 (crypto::make_cookie), so
// every cookie is 36 octets, inside the 1..64 the COOKIE notify allows
// (wire::parse_cookie). The responder hands one out instead of keeping state
// for a half-open SA and accepts the retried IKE_SA_INIT only if the cookie
// recomputes from the same Ni, initiator address and SPIi.
//
// §2.6: the secret is changed periodically, and cookies made with the secret
// before the current one stay acceptable for a short while, so an initiator
// caught by a rotation between the two requests is not turned away. Here each
// secret is the current one for `lifetime`, then the previous one; a cookie
// is accepted only if its secret is the current or the previous one and was
// created less than 2 x lifetime ago, whichever happens first. Rotation
// happens lazily, driven by the `now` passed to make() and verify().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "base/net.h"
#include "base/result.h"
#include "base/time.h"
#include "crypto/random.h"

namespace ikecluster::ike {

// One cookie secret, as replicated to other cluster members. `created` is in
// the time base of the jar that uses it (the core's monotonic `now`); a
// cluster layer moving secrets between members with different clocks must
// translate it.
struct CookieSecret {
    std::uint32_t version = 0;
    Bytes secret;
    Time created;
    friend bool operator==(const CookieSecret&, const CookieSecret&) = default;
};

struct CookieSecrets {
    std::optional<CookieSecret> current;
    std::optional<CookieSecret> previous;
    friend bool operator==(const CookieSecrets&, const CookieSecrets&) = default;
};

class CookieJar {
  public:
    // Octets of fresh secret drawn from `rng` at each rotation (the SHA-256
    // block is 64; 32 is the hash's strength).
    static constexpr std::size_t kSecretSize = 32;

    // `rng` must outlive the jar. `lifetime` must be positive; the first
    // secret is made on the first make() or verify() call.
    CookieJar(crypto::Random& rng, Duration lifetime);

    // The cookie for an IKE_SA_INIT request from `initiator` with nonce `ni`
    // and SPIi `spi_i`, made with the current secret (rotating first if it
    // has expired at `now`). Always 36 octets.
    Bytes make(Time now, BytesView ni, const IpAddress& initiator, std::uint64_t spi_i);

    // Whether `cookie` is one make() returned for the same Ni, address and
    // SPIi with the current or previous secret, still within its validity at
    // `now` (rotating first, like make()). Any other length or an unknown
    // version is false. The comparison is constant-time.
    bool verify(Time now, BytesView cookie, BytesView ni, const IpAddress& initiator,
                std::uint64_t spi_i);

    // Copies of the secrets, for replication to another member.
    CookieSecrets export_secrets() const;

    // Replaces both secrets (the receiving side of replication). Errors, with
    // nothing changed: a previous without a current; an empty secret; the
    // previous version equal to the current one.
    Status import_secrets(const CookieSecrets& s);

    Duration lifetime() const { return lifetime_; }

  private:
    void rotate_if_due(Time now);
    bool usable(const CookieSecret& s, Time now) const;

    crypto::Random* rng_;
    Duration lifetime_;
    CookieSecrets s_;
};

}  // namespace ikecluster::ike
