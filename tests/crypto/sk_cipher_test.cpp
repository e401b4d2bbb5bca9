#include <gtest/gtest.h>

#include <string>

#include "crypto/keys.h"
#include "crypto/sk_cipher.h"
#include "test_util.h"

namespace ikecluster::crypto {
namespace {

using test::H;

struct Suite {
    const char* name;
    EncrId encr;
    std::uint16_t bits;
    IntegId integ;
};

const Suite kSuites[] = {
    {"aes128gcm16", EncrId::AES_GCM_16, 128, IntegId::NONE},
    {"aes256gcm16", EncrId::AES_GCM_16, 256, IntegId::NONE},
    {"chacha20poly1305", EncrId::CHACHA20_POLY1305, 0, IntegId::NONE},
    {"aes128-sha256", EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128},
    {"aes256-sha256", EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_256_128},
    {"aes256-sha384", EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_384_192},
    {"aes256-sha512", EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_512_256},
    {"aes128-sha512", EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_512_256},
};

// A pair of ciphers for one direction (same keys), keyed from `rng`.
struct Pair {
    std::unique_ptr<SkCipher> sender, receiver;
};

Pair make_pair(const Suite& s, Random& rng) {
    Bytes ek = rng.bytes(encr_key_size(s.encr, s.bits));
    Bytes ik = rng.bytes(integ_key_size(s.integ));
    auto a = SkCipher::create(s.encr, s.bits, s.integ, ek, ik);
    auto b = SkCipher::create(s.encr, s.bits, s.integ, ek, ik);
    EXPECT_TRUE(a.ok() && b.ok());
    if (!a.ok() || !b.ok()) return {};
    return {std::move(*a), std::move(*b)};
}

// An IKE header + SK generic header stand-in; contents do not matter to the
// cipher, only that the same octets are passed on both ends.
Bytes fake_aad(std::size_t body_size) {
    Bytes aad = H("0102030405060708 1112131415161718 2e202508 00000001 00000000 2e000000");
    const std::size_t total = aad.size() + body_size;
    aad[24] = static_cast<std::uint8_t>(total >> 24);
    aad[25] = static_cast<std::uint8_t>(total >> 16);
    aad[26] = static_cast<std::uint8_t>(total >> 8);
    aad[27] = static_cast<std::uint8_t>(total);
    aad[30] = static_cast<std::uint8_t>((body_size + 4) >> 8);
    aad[31] = static_cast<std::uint8_t>(body_size + 4);
    return aad;
}

TEST(SkCipher, RoundTripEverySuite) {
    DeterministicRandom rng(11);
    for (const auto& s : kSuites) {
        SCOPED_TRACE(s.name);
        Pair p = make_pair(s, rng);
        ASSERT_TRUE(p.sender);
        EXPECT_EQ(p.sender->icv_size(), icv_size(s.encr, s.integ));
        EXPECT_EQ(p.sender->iv_size(), iv_size(s.encr));
        EXPECT_EQ(p.sender->block_size(), block_size(s.encr));
        for (std::size_t n : {0u, 1u, 14u, 15u, 16u, 17u, 31u, 100u, 1200u}) {
            SCOPED_TRACE(n);
            Bytes inner = rng.bytes(n);
            const std::size_t size = p.sender->sealed_size(n);
            Bytes aad = fake_aad(size);
            Bytes body = p.sender->seal(aad, inner, rng);
            ASSERT_EQ(body.size(), size);
            EXPECT_EQ((size - p.sender->iv_size() - p.sender->icv_size()) % p.sender->block_size(),
                      0u);
            auto out = p.receiver->open(aad, body);
            ASSERT_TRUE(out.ok()) << out.error().what;
            EXPECT_EQ(*out, inner);
            // The sender can open its own output too (one object, both contexts).
            auto self = p.sender->open(aad, body);
            ASSERT_TRUE(self.ok());
            EXPECT_EQ(*self, inner);
        }
    }
}

TEST(SkCipher, SealedSizes) {
    DeterministicRandom rng(12);
    Pair gcm = make_pair(kSuites[1], rng);
    Pair cbc = make_pair(kSuites[3], rng);
    Pair cbc512 = make_pair(kSuites[6], rng);
    // AEAD: IV 8 + payloads + pad length octet + ICV 16.
    EXPECT_EQ(gcm.sender->sealed_size(0), 8u + 1 + 16);
    EXPECT_EQ(gcm.sender->sealed_size(100), 8u + 101 + 16);
    // CBC: IV 16 + (payloads + pad length) rounded up to 16 + ICV.
    EXPECT_EQ(cbc.sender->sealed_size(0), 16u + 16 + 16);
    EXPECT_EQ(cbc.sender->sealed_size(15), 16u + 16 + 16);
    EXPECT_EQ(cbc.sender->sealed_size(16), 16u + 32 + 16);
    EXPECT_EQ(cbc512.sender->sealed_size(16), 16u + 32 + 32);
}

TEST(SkCipher, TamperingIsRejected) {
    DeterministicRandom rng(13);
    for (const auto& s : kSuites) {
        SCOPED_TRACE(s.name);
        Pair p = make_pair(s, rng);
        ASSERT_TRUE(p.sender);
        Bytes inner = rng.bytes(40);
        Bytes aad = fake_aad(p.sender->sealed_size(inner.size()));
        Bytes body = p.sender->seal(aad, inner, rng);
        auto expect_icv_failure = [&](BytesView a, BytesView b, const char* what) {
            auto r = p.receiver->open(a, b);
            ASSERT_FALSE(r.ok()) << what;
            EXPECT_NE(r.error().what.find("ICV mismatch"), std::string::npos)
                << what << ": " << r.error().what;
        };
        for (std::size_t pos : {std::size_t{0}, p.sender->iv_size(), body.size() / 2,
                                body.size() - p.sender->icv_size() - 1, body.size() - 1}) {
            Bytes bad = body;
            bad[pos] ^= 0x40;
            expect_icv_failure(aad, bad, "flipped body octet");
        }
        for (std::size_t pos : {std::size_t{0}, std::size_t{17}, aad.size() - 1}) {
            Bytes bad = aad;
            bad[pos] ^= 0x01;
            expect_icv_failure(bad, body, "flipped AAD octet");
        }
        expect_icv_failure(BytesView(aad).first(aad.size() - 1), body, "shortened AAD");
        // Wrong key (the other direction).
        Pair other = make_pair(s, rng);
        auto r = other.receiver->open(aad, body);
        EXPECT_FALSE(r.ok());
        // Truncations: removing whole blocks keeps CBC alignment but breaks
        // the ICV; removing anything else is a length error.
        auto t1 = p.receiver->open(aad, BytesView(body).first(body.size() - 1));
        EXPECT_FALSE(t1.ok());
        auto t2 = p.receiver->open(aad, BytesView(body).first(p.sender->iv_size()));
        ASSERT_FALSE(t2.ok());
        EXPECT_EQ(t2.error().offset, aad.size());
        EXPECT_FALSE(p.receiver->open(aad, Bytes{}).ok());
    }
}

TEST(SkCipher, BadPadLengthRejected) {
    DeterministicRandom rng(14);
    for (const auto& s : kSuites) {
        SCOPED_TRACE(s.name);
        Pair p = make_pair(s, rng);
        ASSERT_TRUE(p.sender);
        const std::size_t bs = p.sender->block_size();
        const std::size_t len = bs == 1 ? 10 : 32;
        Bytes aad = fake_aad(p.sender->iv_size() + len + p.sender->icv_size());
        Bytes iv = rng.bytes(p.sender->iv_size());
        // Pad length claims exactly everything before it: valid, empty payloads.
        Bytes padded(len, 0);
        padded.back() = static_cast<std::uint8_t>(len - 1);
        auto ok = p.sender->seal_padded(aad, padded, iv);
        ASSERT_TRUE(ok.ok());
        auto empty = p.receiver->open(aad, *ok);
        ASSERT_TRUE(empty.ok()) << empty.error().what;
        EXPECT_TRUE(empty->empty());
        // One more than that: authentic, but malformed.
        padded.back() = static_cast<std::uint8_t>(len);
        auto bad = p.sender->seal_padded(aad, padded, iv);
        ASSERT_TRUE(bad.ok());
        auto r = p.receiver->open(aad, *bad);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().what.find("pad length"), std::string::npos) << r.error().what;
        padded.back() = 0xff;
        auto worse = p.sender->seal_padded(aad, padded, iv);
        ASSERT_TRUE(worse.ok());
        EXPECT_FALSE(p.receiver->open(aad, *worse).ok());
    }
}

TEST(SkCipher, SealPaddedChecksSizes) {
    DeterministicRandom rng(15);
    Pair cbc = make_pair(kSuites[3], rng);
    Pair gcm = make_pair(kSuites[0], rng);
    EXPECT_FALSE(cbc.sender->seal_padded({}, Bytes(15), Bytes(16)).ok());
    EXPECT_FALSE(cbc.sender->seal_padded({}, Bytes(16), Bytes(8)).ok());
    EXPECT_FALSE(cbc.sender->seal_padded({}, Bytes{}, Bytes(16)).ok());
    EXPECT_FALSE(gcm.sender->seal_padded({}, Bytes(5), Bytes(16)).ok());
    EXPECT_TRUE(gcm.sender->seal_padded({}, Bytes(5), Bytes(8)).ok());
}

TEST(SkCipher, GcmKnownAnswer) {
    // McGrew-Viega test case 16 through the SK layout: key | salt, where the
    // salt is the first 4 nonce octets and the explicit IV the other 8.
    auto sk = SkCipher::create(
        EncrId::AES_GCM_16, 256, IntegId::NONE,
        H("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308 cafebabe"), {});
    ASSERT_TRUE(sk.ok());
    Bytes aad = H("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    Bytes pt =
        H("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    auto body = (*sk)->seal_padded(aad, pt, H("facedbaddecaf888"));
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(to_hex(*body),
              "facedbaddecaf888"
              "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
              "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
              "76fc6ece0f4e1768cddf8853bb2d551b");
    // The last plaintext octet (0x39) is read as the pad length: 57 of the
    // 59 octets before it are padding, leaving 2 octets of payload.
    auto inner = (*sk)->open(aad, *body);
    ASSERT_TRUE(inner.ok()) << inner.error().what;
    EXPECT_EQ(*inner, to_bytes(BytesView(pt).first(2)));
}

TEST(SkCipher, CbcHmacKnownAnswer) {
    // AES-128-CBC + HMAC-SHA2-256-128, computed independently with Python's
    // `cryptography` and hmac: ICV = HMAC(SK_a, aad | IV | ciphertext)[0:16].
    auto sk = SkCipher::create(
        EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128, H("000102030405060708090a0b0c0d0e0f"),
        H("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"));
    ASSERT_TRUE(sk.ok());
    Bytes aad = H("0102030405060708 1112131415161718 2e202508 00000000 0000005c 2900003c");
    Bytes inner = to_bytes("inner payloads here!");
    Bytes padded = concat(inner, Bytes(11, 0), Bytes{11});
    auto body = (*sk)->seal_padded(aad, padded, H("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"));
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(to_hex(*body),
              "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
              "4c32a94cc613313e30381e563c6c44d27210ba0815c4c020ea2e528a3ff8bdae"
              "e2e4cf7524aca556ef0a1118f0d873f2");
    auto out = (*sk)->open(aad, *body);
    ASSERT_TRUE(out.ok()) << out.error().what;
    EXPECT_EQ(*out, inner);
    // seal() with the same IV from the Random produces the same body (it
    // pads with zeros to the block).
    test::ScriptedRandom iv(H("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"));
    EXPECT_EQ((*sk)->seal(aad, inner, iv), *body);
}

TEST(SkCipher, CreateRejectsBadKeys) {
    auto e = SkCipher::create(EncrId::AES_GCM_16, 256, IntegId::NONE, Bytes(32), {});
    ASSERT_FALSE(e.ok());
    EXPECT_FALSE(
        SkCipher::create(EncrId::AES_GCM_16, 256, IntegId::HMAC_SHA2_256_128, Bytes(36), Bytes(32))
            .ok());
    EXPECT_FALSE(SkCipher::create(EncrId::AES_CBC, 128, IntegId::NONE, Bytes(16), {}).ok());
    EXPECT_FALSE(
        SkCipher::create(EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128, Bytes(16), Bytes(16))
            .ok());
    EXPECT_FALSE(
        SkCipher::create(EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_256_128, Bytes(16), Bytes(32))
            .ok());
    EXPECT_TRUE(
        SkCipher::create(EncrId::AES_CBC, 192, IntegId::HMAC_SHA2_384_192, Bytes(24), Bytes(48))
            .ok());
}

TEST(SkCipher, DeterministicWithSeededRandom) {
    const Suite& s = kSuites[2];
    Bytes ek(36, 7);
    auto a = SkCipher::create(s.encr, s.bits, s.integ, ek, {});
    auto b = SkCipher::create(s.encr, s.bits, s.integ, ek, {});
    ASSERT_TRUE(a.ok() && b.ok());
    DeterministicRandom r1(9), r2(9);
    Bytes aad = fake_aad(100);
    EXPECT_EQ((*a)->seal(aad, to_bytes("x"), r1), (*b)->seal(aad, to_bytes("x"), r2));
}

}  // namespace
}  // namespace ikecluster::crypto
