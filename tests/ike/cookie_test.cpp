// RFC 7296 §2.6 cookies: CookieJar.
#include <gtest/gtest.h>

#include <chrono>
#include <numeric>

#include "base/buffer.h"
#include "crypto/random.h"
#include "ike/cookie.h"
#include "wire/notify.h"

namespace ikecluster::ike {
namespace {

using namespace std::chrono_literals;

constexpr Duration kLifetime = 5min;
const Time kT0 = Time::from_ms(1'000'000);

Bytes nonce(std::uint8_t seed = 1) {
    Bytes n(32);
    std::iota(n.begin(), n.end(), seed);
    return n;
}
const IpAddress kIp4 = IpAddress::v4({192, 0, 2, 10});
const IpAddress kIp6 = *IpAddress::parse("2001:db8::10");
constexpr std::uint64_t kSpi = 0x0123456789abcdef;

TEST(CookieJar, MakeVerifyRoundTrip) {
    crypto::DeterministicRandom rng(1);
    CookieJar jar(rng, kLifetime);
    for (const IpAddress& ip : {kIp4, kIp6}) {
        Bytes c = jar.make(kT0, nonce(), ip, kSpi);
        EXPECT_TRUE(jar.verify(kT0 + 1s, c, nonce(), ip, kSpi));
        // The same inputs under the same secret give the same cookie: the
        // responder keeps no state between the two IKE_SA_INIT requests.
        EXPECT_EQ(jar.make(kT0 + 2s, nonce(), ip, kSpi), c);
    }
}

TEST(CookieJar, CookieFitsTheNotify) {
    crypto::DeterministicRandom rng(2);
    CookieJar jar(rng, kLifetime);
    Bytes c = jar.make(kT0, nonce(), kIp4, kSpi);
    EXPECT_GE(c.size(), 1u);
    EXPECT_LE(c.size(), wire::kMaxCookieSize);
    auto n = wire::notify_cookie(c);
    ASSERT_TRUE(n.ok()) << n.error().what;
    auto parsed = wire::parse_cookie(*n->as<wire::NotifyPayload>());
    ASSERT_TRUE(parsed.ok()) << parsed.error().what;
    EXPECT_TRUE(jar.verify(kT0, *parsed, nonce(), kIp4, kSpi));
}

TEST(CookieJar, WrongInputsRejected) {
    crypto::DeterministicRandom rng(3);
    CookieJar jar(rng, kLifetime);
    Bytes c = jar.make(kT0, nonce(), kIp4, kSpi);
    EXPECT_FALSE(jar.verify(kT0, c, nonce(2), kIp4, kSpi));
    const Bytes ni = nonce();
    EXPECT_FALSE(jar.verify(kT0, c, BytesView(ni).first(ni.size() - 1), kIp4, kSpi));
    EXPECT_FALSE(jar.verify(kT0, c, nonce(), IpAddress::v4({192, 0, 2, 11}), kSpi));
    EXPECT_FALSE(jar.verify(kT0, c, nonce(), kIp6, kSpi));
    EXPECT_FALSE(jar.verify(kT0, c, nonce(), kIp4, kSpi ^ 1));
    EXPECT_TRUE(jar.verify(kT0, c, nonce(), kIp4, kSpi));
}

TEST(CookieJar, TamperedCookieRejected) {
    crypto::DeterministicRandom rng(4);
    CookieJar jar(rng, kLifetime);
    const Bytes c = jar.make(kT0, nonce(), kIp4, kSpi);
    for (std::size_t i = 0; i < c.size(); ++i) {
        Bytes t = c;
        t[i] ^= 0x80;
        EXPECT_FALSE(jar.verify(kT0, t, nonce(), kIp4, kSpi)) << "octet " << i;
    }
    EXPECT_FALSE(jar.verify(kT0, BytesView(c).first(c.size() - 1), nonce(), kIp4, kSpi));
    Bytes longer = c;
    longer.push_back(0);
    EXPECT_FALSE(jar.verify(kT0, longer, nonce(), kIp4, kSpi));
    EXPECT_FALSE(jar.verify(kT0, Bytes{}, nonce(), kIp4, kSpi));
}

TEST(CookieJar, AnotherJarsCookieRejected) {
    crypto::DeterministicRandom rng_a(5), rng_b(6);
    CookieJar a(rng_a, kLifetime), b(rng_b, kLifetime);
    Bytes c = a.make(kT0, nonce(), kIp4, kSpi);
    EXPECT_FALSE(b.verify(kT0, c, nonce(), kIp4, kSpi));
    // Even when b's secret happens to carry the same version number.
    CookieSecrets s = b.export_secrets();
    s.current->version = load_be32(c.data());
    ASSERT_TRUE(b.import_secrets(s).ok());
    EXPECT_FALSE(b.verify(kT0, c, nonce(), kIp4, kSpi));
}

// §2.6: cookies made with the previous secret stay acceptable for a while.
TEST(CookieJar, AcceptedAfterOneRotationRejectedAfterTwo) {
    crypto::DeterministicRandom rng(7);
    CookieJar jar(rng, kLifetime);
    const Bytes c = jar.make(kT0, nonce(), kIp4, kSpi);
    const std::uint32_t v0 = load_be32(c.data());

    EXPECT_TRUE(jar.verify(kT0 + kLifetime - 1ns, c, nonce(), kIp4, kSpi));
    EXPECT_EQ(jar.export_secrets().previous, std::nullopt);

    // First rotation: a new secret with the next version; c still verifies.
    const Time t1 = kT0 + kLifetime;
    const Bytes c1 = jar.make(t1, nonce(), kIp4, kSpi);
    EXPECT_NE(c1, c);
    EXPECT_EQ(load_be32(c1.data()), v0 + 1);
    EXPECT_TRUE(jar.verify(t1, c, nonce(), kIp4, kSpi));
    EXPECT_TRUE(jar.verify(t1 + kLifetime - 1ns, c, nonce(), kIp4, kSpi));

    // Second rotation: c's secret is gone, c1's is now the previous one.
    const Time t2 = t1 + kLifetime;
    EXPECT_FALSE(jar.verify(t2, c, nonce(), kIp4, kSpi));
    EXPECT_TRUE(jar.verify(t2, c1, nonce(), kIp4, kSpi));
    EXPECT_EQ(jar.export_secrets().current->version, v0 + 2);
    EXPECT_EQ(jar.export_secrets().previous->version, v0 + 1);
}

// Rotation is lazy, but a long quiet spell must not let one lazy rotation
// keep a stale secret alive as "previous".
TEST(CookieJar, LongIdleRejectsOldCookies) {
    crypto::DeterministicRandom rng(8);
    CookieJar jar(rng, kLifetime);
    const Bytes c = jar.make(kT0, nonce(), kIp4, kSpi);
    EXPECT_FALSE(jar.verify(kT0 + 10 * kLifetime, c, nonce(), kIp4, kSpi));
    EXPECT_EQ(jar.export_secrets().previous, std::nullopt);

    // Rotated late (at 1.5 lifetimes), the old secret is still bounded by two
    // lifetimes from its creation, not from the rotation.
    CookieJar late(rng, kLifetime);
    const Bytes d = late.make(kT0, nonce(), kIp4, kSpi);
    EXPECT_TRUE(late.verify(kT0 + kLifetime + kLifetime / 2, d, nonce(), kIp4, kSpi));
    EXPECT_TRUE(late.verify(kT0 + 2 * kLifetime - 1ns, d, nonce(), kIp4, kSpi));
    EXPECT_FALSE(late.verify(kT0 + 2 * kLifetime, d, nonce(), kIp4, kSpi));
}

TEST(CookieJar, VerifyBeforeAnyMakeIsFalse) {
    crypto::DeterministicRandom rng(9);
    CookieJar jar(rng, kLifetime);
    EXPECT_FALSE(jar.verify(kT0, Bytes(36, 0), nonce(), kIp4, kSpi));
}

TEST(CookieJar, ImportedSecretsVerifyTheOriginalsCookies) {
    crypto::DeterministicRandom rng_a(10), rng_b(11);
    CookieJar a(rng_a, kLifetime);
    CookieJar b(rng_b, kLifetime);
    const Bytes old_cookie = a.make(kT0, nonce(), kIp4, kSpi);
    const Time t1 = kT0 + kLifetime + 1s;
    const Bytes new_cookie = a.make(t1, nonce(), kIp6, kSpi);

    const CookieSecrets s = a.export_secrets();
    ASSERT_TRUE(s.current && s.previous);
    EXPECT_EQ(s.current->secret.size(), CookieJar::kSecretSize);
    EXPECT_EQ(s.current->created, t1);
    EXPECT_EQ(s.previous->created, kT0);

    ASSERT_TRUE(b.import_secrets(s).ok());
    EXPECT_EQ(b.export_secrets(), s);
    EXPECT_TRUE(b.verify(t1, old_cookie, nonce(), kIp4, kSpi));
    EXPECT_TRUE(b.verify(t1, new_cookie, nonce(), kIp6, kSpi));
    // b now makes the cookies a would.
    EXPECT_EQ(b.make(t1 + 1s, nonce(3), kIp4, 42), a.make(t1 + 1s, nonce(3), kIp4, 42));
}

TEST(CookieJar, BadImportsRejectedAndChangeNothing) {
    crypto::DeterministicRandom rng(12);
    CookieJar jar(rng, kLifetime);
    const Bytes c = jar.make(kT0, nonce(), kIp4, kSpi);
    const CookieSecrets before = jar.export_secrets();
    const CookieSecret good{7, Bytes(32, 1), kT0};

    CookieSecrets no_current{std::nullopt, good};
    EXPECT_EQ(jar.import_secrets(no_current).error().what,
              "cookie secrets: previous without current");
    CookieSecrets empty{CookieSecret{8, Bytes{}, kT0}, good};
    EXPECT_EQ(jar.import_secrets(empty).error().what, "cookie secrets: empty secret");
    CookieSecrets same{good, good};
    EXPECT_EQ(jar.import_secrets(same).error().what,
              "cookie secrets: previous and current share version 7");
    CookieSecrets negative{CookieSecret{8, Bytes(32, 2), Time{-1s}}, std::nullopt};
    EXPECT_EQ(jar.import_secrets(negative).error().what, "cookie secrets: creation time before 0");

    EXPECT_EQ(jar.export_secrets(), before);
    EXPECT_TRUE(jar.verify(kT0, c, nonce(), kIp4, kSpi));
}

}  // namespace
}  // namespace ikecluster::ike
