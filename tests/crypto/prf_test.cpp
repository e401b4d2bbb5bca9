#include <gtest/gtest.h>

#include <string>

#include "crypto/prf.h"
#include "test_util.h"

namespace ikecluster::crypto {
namespace {

using test::H;

struct Rfc4231Case {
    const char* name;
    Bytes key;
    Bytes data;
    const char* sha256;
    const char* sha384;
    const char* sha512;
};

// RFC 4231 §4.2-4.8 (test case 5, the truncated-output case, is left out:
// IKE PRFs never truncate).
std::vector<Rfc4231Case> rfc4231_cases() {
    return {
        {"case1", Bytes(20, 0x0b), to_bytes("Hi There"),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
         "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
         "faea9ea9076ede7f4af152e8b2fa9cb6",
         "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
         "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
        {"case2", to_bytes("Jefe"), to_bytes("what do ya want for nothing?"),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
         "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
         "8e2240ca5e69e2c78b3239ecfab21649",
         "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
         "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
        {"case3", Bytes(20, 0xaa), Bytes(50, 0xdd),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
         "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
         "2a5ab39dc13814b94e3ab6e101a34f27",
         "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
         "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"},
        {"case4", H("0102030405060708090a0b0c0d0e0f10111213141516171819"), Bytes(50, 0xcd),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
         "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
         "6801dd23c4a7d679ccf8a386c674cffb",
         "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
         "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"},
        {"case6", Bytes(131, 0xaa),
         to_bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
         "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
         "0c2ef6ab4030fe8296248df163f44952",
         "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
         "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
        {"case7", Bytes(131, 0xaa),
         to_bytes("This is a test using a larger than block-size key and a larger than "
                  "block-size data. The key needs to be hashed before being used by the HMAC "
                  "algorithm."),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
         "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
         "a678cc31e799176d3860e6110c46523e",
         "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
         "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"},
    };
}

TEST(Prf, Rfc4231Vectors) {
    Prf p256(PrfId::HMAC_SHA2_256), p384(PrfId::HMAC_SHA2_384), p512(PrfId::HMAC_SHA2_512);
    // The same Prf objects are reused across cases: re-keying a cached
    // context must not leak state from the previous key.
    for (const auto& c : rfc4231_cases()) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(to_hex(p256.prf(c.key, c.data)), c.sha256);
        EXPECT_EQ(to_hex(p384.prf(c.key, c.data)), c.sha384);
        EXPECT_EQ(to_hex(p512.prf(c.key, c.data)), c.sha512);
    }
}

TEST(Prf, Sizes) {
    EXPECT_EQ(Prf(PrfId::HMAC_SHA2_256).output_size(), 32u);
    EXPECT_EQ(Prf(PrfId::HMAC_SHA2_384).output_size(), 48u);
    EXPECT_EQ(Prf(PrfId::HMAC_SHA2_512).output_size(), 64u);
    EXPECT_EQ(prf_key_size(PrfId::HMAC_SHA2_384), 48u);
    EXPECT_EQ(prf_output_size(static_cast<PrfId>(2)), 0u);  // HMAC-SHA1: not built
    EXPECT_FALSE(prf_supported(static_cast<PrfId>(2)));
}

TEST(Prf, EmptyKeyIsAValidKey) {
    // HMAC with an empty key equals HMAC with an all-zero block-sized key
    // (keys are zero-padded to the block). Checks that an empty key does not
    // silently keep the previous key either.
    Prf p(PrfId::HMAC_SHA2_256);
    Bytes data = to_bytes("data");
    Bytes with_other = p.prf(to_bytes("previous key"), data);
    Bytes empty = p.prf(Bytes{}, data);
    EXPECT_NE(empty, with_other);
    EXPECT_EQ(empty, p.prf(Bytes(64, 0), data));
    EXPECT_EQ(empty, p.prf(Bytes{}, data));
}

TEST(Prf, MultiPartEqualsConcatenation) {
    Prf p(PrfId::HMAC_SHA2_512);
    Bytes k = to_bytes("k"), a = to_bytes("abc"), b = to_bytes(""), c = to_bytes("defg");
    EXPECT_EQ(p.prf(k, {a, b, c}), p.prf(k, concat(a, b, c)));
}

TEST(PrfPlus, StructureMatchesRfc7296) {
    for (PrfId id : {PrfId::HMAC_SHA2_256, PrfId::HMAC_SHA2_384, PrfId::HMAC_SHA2_512}) {
        Prf p(id);
        const std::size_t h = p.output_size();
        Bytes key = to_bytes("prf+ key");
        Bytes seed = to_bytes("seed octets");
        auto out = p.prf_plus(key, seed, 3 * h + 5);
        ASSERT_TRUE(out.ok());
        ASSERT_EQ(out->size(), 3 * h + 5);
        // T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02), T3 = ... 0x03
        Bytes t1 = p.prf(key, concat(seed, Bytes{0x01}));
        Bytes t2 = p.prf(key, concat(t1, seed, Bytes{0x02}));
        Bytes t3 = p.prf(key, concat(t2, seed, Bytes{0x03}));
        Bytes t4 = p.prf(key, concat(t3, seed, Bytes{0x04}));
        Bytes expect = concat(t1, t2, t3, BytesView(t4).first(5));
        EXPECT_EQ(*out, expect);
        // A shorter request is a prefix of a longer one.
        auto shorter = p.prf_plus(key, seed, h - 1);
        ASSERT_TRUE(shorter.ok());
        EXPECT_EQ(*shorter, Bytes(t1.begin(), t1.end() - 1));
        auto none = p.prf_plus(key, seed, 0);
        ASSERT_TRUE(none.ok());
        EXPECT_TRUE(none->empty());
    }
}

TEST(PrfPlus, Limit255Blocks) {
    Prf p(PrfId::HMAC_SHA2_256);
    auto max = p.prf_plus(to_bytes("k"), to_bytes("s"), 255 * 32);
    ASSERT_TRUE(max.ok());
    EXPECT_EQ(max->size(), 255u * 32);
    // The last block uses counter 0xff.
    auto prev = p.prf_plus(to_bytes("k"), to_bytes("s"), 254 * 32);
    ASSERT_TRUE(prev.ok());
    Bytes t254(prev->end() - 32, prev->end());
    Bytes t255 = p.prf(to_bytes("k"), concat(t254, to_bytes("s"), Bytes{0xff}));
    EXPECT_EQ(Bytes(max->end() - 32, max->end()), t255);

    auto over = p.prf_plus(to_bytes("k"), to_bytes("s"), 255 * 32 + 1);
    ASSERT_FALSE(over.ok());
    EXPECT_NE(over.error().what.find("255"), std::string::npos) << over.error().what;
}

}  // namespace
}  // namespace ikecluster::crypto
