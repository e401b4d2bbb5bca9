#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "test_util.h"

namespace ikecluster::crypto {
namespace {

using test::H;

struct Vector {
    const char* name;
    EncrId encr;
    std::uint16_t bits;
    const char* key;
    const char* nonce;  // 12 octets = salt (4) | IV (8)
    const char* aad;
    const char* pt;
    const char* ct;
    const char* tag;
};

constexpr const char* kGcmPt60 =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
constexpr const char* kGcmPt64 =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";

constexpr const char* kSunscreen =
    "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
    "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
    "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
    "637265656e20776f756c642062652069742e";

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", appendix B,
// the test cases with a 96-bit IV (17 and 18 use other IV lengths, which
// IKE/ESP never do); RFC 8439 §2.8.2 and appendix A.5 for ChaCha20-Poly1305.
const Vector kVectors[] = {
    {"gcm-tc4 (AES-128, AAD)", EncrId::AES_GCM_16, 128, "feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", kGcmPt60,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"gcm-tc7 (AES-192, empty)", EncrId::AES_GCM_16, 192,
     "000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "cd33b28ac773f74ba00ed1f312572435"},
    {"gcm-tc13 (AES-256, empty)", EncrId::AES_GCM_16, 256,
     "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"gcm-tc14", EncrId::AES_GCM_16, 256,
     "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"gcm-tc15", EncrId::AES_GCM_16, 256,
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "", kGcmPt64,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"gcm-tc16 (AAD)", EncrId::AES_GCM_16, 256,
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2", kGcmPt60,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {"rfc8439-2.8.2", EncrId::CHACHA20_POLY1305, 0,
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", "070000004041424344454647",
     "50515253c0c1c2c3c4c5c6c7", kSunscreen,
     "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
     "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
     "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
     "3ff4def08e4b7a9de576d26586cec64b6116",
     "1ae10b594f09e26a7e902ecbd0600691"},
    {"rfc8439-A.5", EncrId::CHACHA20_POLY1305, 256,
     "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0", "000000000102030405060708",
     "f33388860000000000004e91",
     "496e7465726e65742d4472616674732061726520647261667420646f63756d65"
     "6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
     "6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
     "65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
     "6e747320617420616e792074696d652e20497420697320696e617070726f7072"
     "6961746520746f2075736520496e7465726e65742d4472616674732061732072"
     "65666572656e6365206d6174657269616c206f7220746f206369746520746865"
     "6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
     "726573732e2fe2809d",
     "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
     "4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
     "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
     "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
     "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
     "af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
     "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
     "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
     "a6ad5cb4022b02709b",
     "eead9d67890cbb22392336fea1851f38"},
};

std::unique_ptr<Aead> make(const Vector& v) {
    Bytes nonce = H(v.nonce);
    auto a = Aead::create(v.encr, v.bits, concat(H(v.key), BytesView(nonce).first(4)));
    EXPECT_TRUE(a.ok()) << (a.ok() ? "" : a.error().what);
    return a.ok() ? std::move(*a) : nullptr;
}

Aead::Iv iv_of(const Bytes& nonce) {
    return Aead::Iv(nonce.data() + 4, 8);
}

TEST(Aead, PublishedVectorsSeal) {
    for (const auto& v : kVectors) {
        SCOPED_TRACE(v.name);
        auto a = make(v);
        ASSERT_TRUE(a);
        Bytes nonce = H(v.nonce);
        Bytes out = a->seal(iv_of(nonce), H(v.aad), H(v.pt));
        EXPECT_EQ(to_hex(out), std::string(v.ct) + v.tag);
        // A second operation on the same cached context gives the same result.
        EXPECT_EQ(a->seal(iv_of(nonce), H(v.aad), H(v.pt)), out);
    }
}

TEST(Aead, PublishedVectorsOpen) {
    for (const auto& v : kVectors) {
        SCOPED_TRACE(v.name);
        auto a = make(v);
        ASSERT_TRUE(a);
        Bytes nonce = H(v.nonce);
        Bytes sealed = concat(H(v.ct), H(v.tag));
        auto pt = a->open(iv_of(nonce), H(v.aad), sealed);
        ASSERT_TRUE(pt.ok()) << pt.error().what;
        EXPECT_EQ(to_hex(*pt), v.pt);

        // Any flipped bit in ciphertext, tag or AAD is refused.
        for (std::size_t pos : {std::size_t{0}, sealed.size() / 2, sealed.size() - 1}) {
            Bytes bad = sealed;
            bad[pos] ^= 0x01;
            auto r = a->open(iv_of(nonce), H(v.aad), bad);
            ASSERT_FALSE(r.ok());
            EXPECT_NE(r.error().what.find("ICV mismatch"), std::string::npos);
        }
        Bytes aad = H(v.aad);
        aad.push_back(0);
        EXPECT_FALSE(a->open(iv_of(nonce), aad, sealed).ok());
        Bytes other_nonce = nonce;
        other_nonce[11] ^= 1;
        EXPECT_FALSE(a->open(iv_of(other_nonce), H(v.aad), sealed).ok());
        // Truncated below the tag.
        EXPECT_FALSE(a->open(iv_of(nonce), H(v.aad), BytesView(sealed).first(15)).ok());
    }
}

TEST(Aead, InPlace) {
    const Vector& v = kVectors[5];  // gcm-tc16
    auto a = make(v);
    ASSERT_TRUE(a);
    Bytes nonce = H(v.nonce);
    Bytes buf = H(v.pt);
    std::uint8_t tag[16];
    a->seal(iv_of(nonce), H(v.aad), buf, buf, Aead::Tag(tag, 16));
    EXPECT_EQ(to_hex(buf), v.ct);
    EXPECT_EQ(to_hex(BytesView(tag, 16)), v.tag);
    ASSERT_TRUE(a->open(iv_of(nonce), H(v.aad), buf, buf, Aead::ConstTag(tag, 16)));
    EXPECT_EQ(to_hex(buf), v.pt);
    // On a bad tag the output is wiped, never left as unauthenticated data.
    a->seal(iv_of(nonce), H(v.aad), buf, buf, Aead::Tag(tag, 16));
    tag[0] ^= 1;
    EXPECT_FALSE(a->open(iv_of(nonce), H(v.aad), buf, buf, Aead::ConstTag(tag, 16)));
    EXPECT_EQ(buf, Bytes(buf.size(), 0));
}

TEST(Aead, CreateRejectsBadParameters) {
    EXPECT_FALSE(Aead::create(EncrId::AES_CBC, 128, Bytes(16)).ok());
    EXPECT_FALSE(Aead::create(EncrId::AES_GCM_16, 512, Bytes(68)).ok());
    EXPECT_FALSE(Aead::create(EncrId::AES_GCM_16, 256, Bytes(32)).ok());  // salt missing
    EXPECT_FALSE(Aead::create(EncrId::CHACHA20_POLY1305, 0, Bytes(32)).ok());
    EXPECT_TRUE(Aead::create(EncrId::CHACHA20_POLY1305, 0, Bytes(36)).ok());
    auto a = Aead::create(EncrId::AES_GCM_16, 128, Bytes(16));
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.error().what.find("20 octets"), std::string::npos) << a.error().what;
}

}  // namespace
}  // namespace ikecluster::crypto
