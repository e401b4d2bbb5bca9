#include "ike/cookie.h"

#include <string>

#include "crypto/keys.h"

namespace ikecluster::ike {

CookieJar::CookieJar(crypto::Random& rng, Duration lifetime)
    // A zero or negative lifetime would rotate on every call and make every
    // cookie unverifiable; the shortest meaningful one is used instead.
    : rng_(&rng), lifetime_(lifetime > Duration::zero() ? lifetime : Duration(1)) {}

bool CookieJar::usable(const CookieSecret& s, Time now) const {
    const Duration age = now - s.created;
    // age < 2 * lifetime, written so that a long lifetime cannot overflow.
    return age < lifetime_ || age - lifetime_ < lifetime_;
}

void CookieJar::rotate_if_due(Time now) {
    if (!s_.current) {
        // A random first version: a member that restarts (or a fresh jar)
        // does not reuse the version numbers of secrets it has forgotten.
        s_.current = CookieSecret{rng_->u32(), rng_->bytes(kSecretSize), now};
        return;
    }
    if (now - s_.current->created < lifetime_) return;

    // §2.6: the outgoing secret stays acceptable for a while as the previous
    // one, unless it is already too old to verify anything; the one before
    // it is forgotten.
    const std::uint32_t next_version = s_.current->version + 1;  // wraps mod 2^32
    if (usable(*s_.current, now)) {
        s_.previous = std::move(s_.current);
    } else {
        s_.previous.reset();
    }
    s_.current = CookieSecret{next_version, rng_->bytes(kSecretSize), now};
}

Bytes CookieJar::make(Time now, BytesView ni, const IpAddress& initiator, std::uint64_t spi_i) {
    rotate_if_due(now);
    return crypto::make_cookie(s_.current->version, s_.current->secret, ni, initiator, spi_i);
}

bool CookieJar::verify(Time now, BytesView cookie, BytesView ni, const IpAddress& initiator,
                       std::uint64_t spi_i) {
    rotate_if_due(now);
    // The version is sent in the clear, so picking the secret by it leaks
    // nothing; the digest comparison itself is constant-time (check_cookie).
    const auto version = crypto::cookie_secret_version(cookie);
    if (!version) return false;
    for (const auto* s : {&s_.current, &s_.previous}) {
        if (*s && (*s)->version == *version && usable(**s, now))
            return crypto::check_cookie(cookie, (*s)->secret, ni, initiator, spi_i);
    }
    return false;
}

CookieSecrets CookieJar::export_secrets() const {
    return s_;
}

Status CookieJar::import_secrets(const CookieSecrets& s) {
    if (s.previous && !s.current) return make_error(0, "cookie secrets: previous without current");
    for (const auto* c : {&s.current, &s.previous}) {
        if (!*c) continue;
        if ((*c)->secret.empty()) return make_error(0, "cookie secrets: empty secret");
        // The core's time starts at 0; an earlier creation time is corrupt
        // and would make the age computation overflow.
        if ((*c)->created.since_epoch < Duration::zero())
            return make_error(0, "cookie secrets: creation time before 0");
    }
    if (s.previous && s.previous->version == s.current->version)
        return make_error(0, "cookie secrets: previous and current share version " +
                                 std::to_string(s.current->version));
    s_ = s;
    return Ok{};
}

}  // namespace ikecluster::ike
