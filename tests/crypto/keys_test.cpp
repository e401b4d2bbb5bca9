#include <gtest/gtest.h>

#include <string>

#include "crypto/keys.h"
#include "crypto/prf.h"
#include "test_util.h"

namespace ikecluster::crypto {
namespace {

using test::H;

Bytes seq(std::uint8_t first, std::size_t n) {
    Bytes b(n);
    for (std::size_t k = 0; k < n; ++k)
        b[k] = static_cast<std::uint8_t>(first + k);
    return b;
}

const CipherSuite kAes256Gcm16PrfSha256{EncrId::AES_GCM_16, 256, IntegId::NONE,
                                        PrfId::HMAC_SHA2_256, DhId::CURVE25519};
const CipherSuite kAes128Sha256{EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128,
                                PrfId::HMAC_SHA2_256, DhId::MODP_2048};

const Bytes kNi = seq(0x10, 32);
const Bytes kNr = seq(0xa0, 32);
const Bytes kDh = seq(0x00, 64);
constexpr std::uint64_t kSpiI = 0x0102030405060708;
constexpr std::uint64_t kSpiR = 0x1112131415161718;

TEST(Sizes, PerAlgorithm) {
    EXPECT_EQ(encr_key_size(EncrId::AES_CBC, 128), 16u);
    EXPECT_EQ(encr_key_size(EncrId::AES_CBC, 256), 32u);
    EXPECT_EQ(encr_key_size(EncrId::AES_GCM_16, 128), 20u);  // + 4-octet salt
    EXPECT_EQ(encr_key_size(EncrId::AES_GCM_16, 256), 36u);
    EXPECT_EQ(encr_key_size(EncrId::CHACHA20_POLY1305, 0), 36u);
    EXPECT_EQ(encr_key_size(EncrId::CHACHA20_POLY1305, 256), 36u);
    EXPECT_EQ(encr_key_size(EncrId::CHACHA20_POLY1305, 128), 0u);
    EXPECT_EQ(encr_key_size(EncrId::AES_CBC, 100), 0u);
    EXPECT_EQ(salt_size(EncrId::AES_GCM_16), 4u);
    EXPECT_EQ(salt_size(EncrId::AES_CBC), 0u);

    EXPECT_EQ(integ_key_size(IntegId::HMAC_SHA2_256_128), 32u);
    EXPECT_EQ(integ_key_size(IntegId::HMAC_SHA2_384_192), 48u);
    EXPECT_EQ(integ_key_size(IntegId::HMAC_SHA2_512_256), 64u);
    EXPECT_EQ(integ_key_size(IntegId::NONE), 0u);

    EXPECT_EQ(icv_size(EncrId::AES_GCM_16, IntegId::NONE), 16u);
    EXPECT_EQ(icv_size(EncrId::CHACHA20_POLY1305, IntegId::NONE), 16u);
    EXPECT_EQ(icv_size(EncrId::AES_CBC, IntegId::HMAC_SHA2_256_128), 16u);
    EXPECT_EQ(icv_size(EncrId::AES_CBC, IntegId::HMAC_SHA2_384_192), 24u);
    EXPECT_EQ(icv_size(EncrId::AES_CBC, IntegId::HMAC_SHA2_512_256), 32u);

    EXPECT_EQ(iv_size(EncrId::AES_GCM_16), 8u);
    EXPECT_EQ(iv_size(EncrId::CHACHA20_POLY1305), 8u);
    EXPECT_EQ(iv_size(EncrId::AES_CBC), 16u);
    EXPECT_EQ(block_size(EncrId::AES_CBC), 16u);
    EXPECT_EQ(block_size(EncrId::AES_GCM_16), 1u);
    EXPECT_TRUE(is_aead(EncrId::CHACHA20_POLY1305));
    EXPECT_FALSE(is_aead(EncrId::AES_CBC));
}

TEST(Sizes, CheckSuite) {
    EXPECT_TRUE(check_suite(kAes256Gcm16PrfSha256, true).ok());
    EXPECT_TRUE(check_suite(kAes128Sha256, true).ok());
    CipherSuite s = kAes256Gcm16PrfSha256;
    s.integ = IntegId::HMAC_SHA2_256_128;
    EXPECT_FALSE(check_suite(s, true).ok());
    s = kAes128Sha256;
    s.integ = IntegId::NONE;
    EXPECT_FALSE(check_suite(s, true).ok());
    s = kAes128Sha256;
    s.key_bits = 64;
    auto st = check_suite(s, true);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("64-bit"), std::string::npos) << st.error().what;
    s = kAes128Sha256;
    s.prf = static_cast<PrfId>(2);
    EXPECT_FALSE(check_suite(s, true).ok());
    EXPECT_TRUE(check_suite(s, false).ok());  // ESP has no PRF
}

TEST(IkeKeys, Aes128Sha256KnownAnswer) {
    // Expected values computed independently with Python's hmac module from
    // the RFC 7296 §2.13/§2.14 formulas.
    auto k = derive_ike_keys(kAes128Sha256, kDh, kNi, kNr, kSpiI, kSpiR);
    ASSERT_TRUE(k.ok()) << k.error().what;
    EXPECT_EQ(to_hex(k->skeyseed),
              "6f24ce2c387fe71bb5b32c1afa30cfb4a45fa3a694f2c326155c2dc4202c8789");
    EXPECT_EQ(to_hex(k->sk_d), "19f5771ee530f093c9d69b80a8bd95ba67cec81f4cbf01f9564588c35e078ab3");
    EXPECT_EQ(to_hex(k->sk_ai), "afb835aea1771d41f7635fa13c19c6cc768d1659f215eeae866510aeac033183");
    EXPECT_EQ(to_hex(k->sk_ar), "8af0771c6ebd78bb2ddcea3163c1fecd446c918960059bef6bd620d3acbe0402");
    EXPECT_EQ(to_hex(k->sk_ei), "8550fca0f8017a87af43867a2042eccd");
    EXPECT_EQ(to_hex(k->sk_er), "79a38a3c17f24aed5268bcc00185fdd1");
    EXPECT_EQ(to_hex(k->sk_pi), "b86f29fa97d6a3c34c68ef5a4cce619859df243d635338f3aa8f90b9f51b0b14");
    EXPECT_EQ(to_hex(k->sk_pr), "40acd9dcefda52498f67b082aa3b418a83501406981b85bb529cff0120844951");
}

TEST(IkeKeys, Aes256Gcm16PrfSha256LengthsAndStructure) {
    auto k = derive_ike_keys(kAes256Gcm16PrfSha256, kDh, kNi, kNr, kSpiI, kSpiR);
    ASSERT_TRUE(k.ok()) << k.error().what;
    EXPECT_EQ(k->skeyseed.size(), 32u);
    EXPECT_EQ(k->sk_d.size(), 32u);
    EXPECT_TRUE(k->sk_ai.empty());
    EXPECT_TRUE(k->sk_ar.empty());
    EXPECT_EQ(k->sk_ei.size(), 36u);  // 32-octet key + 4-octet salt
    EXPECT_EQ(k->sk_er.size(), 36u);
    EXPECT_EQ(k->sk_pi.size(), 32u);
    EXPECT_EQ(k->sk_pr.size(), 32u);

    Prf prf(PrfId::HMAC_SHA2_256);
    EXPECT_EQ(k->skeyseed, prf.prf(concat(kNi, kNr), kDh));
    auto km = prf.prf_plus(k->skeyseed, concat(kNi, kNr, H("0102030405060708 1112131415161718")),
                           32 + 36 * 2 + 32 * 2);
    ASSERT_TRUE(km.ok());
    EXPECT_EQ(*km, concat(k->sk_d, k->sk_ei, k->sk_er, k->sk_pi, k->sk_pr));

    // Deterministic, and every input matters.
    auto again = derive_ike_keys(kAes256Gcm16PrfSha256, kDh, kNi, kNr, kSpiI, kSpiR);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->sk_er, k->sk_er);
    auto other_spi = derive_ike_keys(kAes256Gcm16PrfSha256, kDh, kNi, kNr, kSpiI, kSpiR + 1);
    ASSERT_TRUE(other_spi.ok());
    EXPECT_EQ(other_spi->skeyseed, k->skeyseed);
    EXPECT_NE(other_spi->sk_d, k->sk_d);
}

TEST(IkeKeys, Sha512PrfKeyLengths) {
    CipherSuite s{EncrId::CHACHA20_POLY1305, 0, IntegId::NONE, PrfId::HMAC_SHA2_512,
                  DhId::CURVE25519};
    auto k = derive_ike_keys(s, kDh, kNi, kNr, kSpiI, kSpiR);
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(k->sk_d.size(), 64u);
    EXPECT_EQ(k->sk_pi.size(), 64u);
    EXPECT_EQ(k->sk_ei.size(), 36u);
    k->wipe();
    EXPECT_TRUE(k->sk_d.empty());
}

TEST(IkeKeys, RejectsBadSuite) {
    CipherSuite s = kAes128Sha256;
    s.integ = IntegId::NONE;
    EXPECT_FALSE(derive_ike_keys(s, kDh, kNi, kNr, kSpiI, kSpiR).ok());
}

TEST(IkeKeys, RekeyUsesOldPrfForSkeyseed) {
    // Old SA negotiated PRF-HMAC-SHA2-512, the new one PRF-HMAC-SHA2-256.
    const Bytes old_sk_d = seq(0x50, 64);
    const Bytes ni = seq(0x60, 24), nr = seq(0x70, 40);
    auto k = derive_ike_keys_rekey(kAes128Sha256, PrfId::HMAC_SHA2_512, old_sk_d, kDh, ni, nr,
                                   kSpiI, kSpiR);
    ASSERT_TRUE(k.ok()) << k.error().what;
    Prf old_prf(PrfId::HMAC_SHA2_512);
    // SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
    EXPECT_EQ(k->skeyseed, old_prf.prf(old_sk_d, concat(kDh, ni, nr)));
    EXPECT_EQ(k->skeyseed.size(), 64u);
    Prf new_prf(PrfId::HMAC_SHA2_256);
    auto km = new_prf.prf_plus(k->skeyseed, concat(ni, nr, H("0102030405060708 1112131415161718")),
                               32 * 5 + 16 * 2);
    ASSERT_TRUE(km.ok());
    EXPECT_EQ(*km, concat(k->sk_d, k->sk_ai, k->sk_ar, k->sk_ei, k->sk_er, k->sk_pi, k->sk_pr));
    EXPECT_EQ(k->sk_d.size(), 32u);
}

TEST(IkeKeys, Resumption) {
    const Bytes old_sk_d = seq(0x50, 32);
    auto k = derive_ike_keys_resume(kAes256Gcm16PrfSha256, old_sk_d, kNi, kNr, kSpiI, kSpiR);
    ASSERT_TRUE(k.ok()) << k.error().what;
    Prf prf(PrfId::HMAC_SHA2_256);
    // RFC 5723 §5.1: SKEYSEED = prf(SK_d (old), "Resumption" | Ni | Nr)
    EXPECT_EQ(k->skeyseed, prf.prf(old_sk_d, concat(to_bytes("Resumption"), kNi, kNr)));
    auto km = prf.prf_plus(k->skeyseed, concat(kNi, kNr, H("0102030405060708 1112131415161718")),
                           32 + 36 * 2 + 32 * 2);
    ASSERT_TRUE(km.ok());
    EXPECT_EQ(*km, concat(k->sk_d, k->sk_ei, k->sk_er, k->sk_pi, k->sk_pr));
}

TEST(ChildKeys, OrderAndLengths) {
    const Bytes sk_d = seq(0x30, 32);
    Prf prf(PrfId::HMAC_SHA2_256);
    // Without PFS: KEYMAT = prf+(SK_d, Ni | Nr).
    auto c = derive_child_keys(kAes128Sha256, PrfId::HMAC_SHA2_256, sk_d, {}, kNi, kNr);
    ASSERT_TRUE(c.ok()) << c.error().what;
    EXPECT_EQ(c->encr_i.size(), 16u);
    EXPECT_EQ(c->integ_i.size(), 32u);
    auto km = prf.prf_plus(sk_d, concat(kNi, kNr), 2 * (16 + 32));
    ASSERT_TRUE(km.ok());
    // Initiator->responder encryption, then integrity, then the reverse.
    EXPECT_EQ(*km, concat(c->encr_i, c->integ_i, c->encr_r, c->integ_r));

    // With PFS: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr).
    auto p = derive_child_keys(kAes256Gcm16PrfSha256, PrfId::HMAC_SHA2_256, sk_d, kDh, kNi, kNr);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->encr_i.size(), 36u);
    EXPECT_TRUE(p->integ_i.empty());
    auto km2 = prf.prf_plus(sk_d, concat(kDh, kNi, kNr), 72);
    ASSERT_TRUE(km2.ok());
    EXPECT_EQ(*km2, concat(p->encr_i, p->encr_r));
    EXPECT_NE(p->encr_i, p->encr_r);
}

TEST(PskAuth, KnownAnswerAndStructure) {
    auto k = derive_ike_keys(kAes128Sha256, kDh, kNi, kNr, kSpiI, kSpiR);
    ASSERT_TRUE(k.ok());
    Bytes message = to_bytes("IKE_SA_INIT request bytes");
    Bytes id_body = concat(H("02000000"), to_bytes("gw.example.org"));  // ID_FQDN
    Bytes octets = signed_octets(PrfId::HMAC_SHA2_256, message, kNr, k->sk_pi, id_body);
    Prf prf(PrfId::HMAC_SHA2_256);
    EXPECT_EQ(octets, concat(message, kNr, prf.prf(k->sk_pi, id_body)));
    Bytes auth = psk_auth(PrfId::HMAC_SHA2_256, to_bytes("shared secret"), octets);
    EXPECT_EQ(auth,
              prf.prf(prf.prf(to_bytes("shared secret"), to_bytes("Key Pad for IKEv2")), octets));
    // Independent computation (Python hmac).
    EXPECT_EQ(to_hex(auth), "4aecad6afff848d40668e641d2d9ab687daaf9f45bfef25949141ebd8fc74c7e");
}

TEST(NatDetection, Sha1OfSpisAddressPort) {
    Endpoint v4{*IpAddress::parse("192.0.2.1"), 500};
    Endpoint v6{*IpAddress::parse("2001:db8::1"), 4500};
    EXPECT_EQ(to_hex(nat_detection_hash(kSpiI, kSpiR, v4)),
              "d798d986143f878f70765e0e869c80bbc375f701");
    EXPECT_EQ(to_hex(nat_detection_hash(kSpiI, kSpiR, v6)),
              "1ee24423bf8f59515e0265c6d0f08be3d038f7e5");
    Endpoint other_port = v4;
    other_port.port = 4500;
    EXPECT_NE(nat_detection_hash(kSpiI, kSpiR, v4), nat_detection_hash(kSpiI, kSpiR, other_port));
}

TEST(Cookie, MakeAndCheck) {
    IpAddress ip = *IpAddress::parse("192.0.2.1");
    Bytes secret = to_bytes("cookie secret");
    Bytes c = make_cookie(7, secret, kNi, ip, kSpiI);
    ASSERT_EQ(c.size(), kCookieSize);
    EXPECT_EQ(to_hex(c),
              "00000007beff5adab8dfda48c63964839c5b9af8d1636e7021afe5481e55316da43adbd7");
    EXPECT_EQ(cookie_secret_version(c), 7u);
    EXPECT_TRUE(check_cookie(c, secret, kNi, ip, kSpiI));
    EXPECT_FALSE(check_cookie(c, to_bytes("other secret"), kNi, ip, kSpiI));
    EXPECT_FALSE(check_cookie(c, secret, kNr, ip, kSpiI));
    EXPECT_FALSE(check_cookie(c, secret, kNi, *IpAddress::parse("192.0.2.2"), kSpiI));
    EXPECT_FALSE(check_cookie(c, secret, kNi, ip, kSpiI + 1));
    EXPECT_FALSE(check_cookie(BytesView(c).first(35), secret, kNi, ip, kSpiI));
    EXPECT_FALSE(cookie_secret_version(Bytes(3)).has_value());
}

}  // namespace
}  // namespace ikecluster::crypto
