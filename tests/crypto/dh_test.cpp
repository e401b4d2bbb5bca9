#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "crypto/dh.h"
#include "test_util.h"

namespace ikecluster::crypto {
namespace {

using test::H;
using test::ScriptedRandom;

std::unique_ptr<KeyExchange> make_with(DhId group, BytesView private_draw) {
    ScriptedRandom rng(private_draw);
    auto ke = make_key_exchange(group, rng);
    EXPECT_TRUE(ke.ok()) << (ke.ok() ? "" : ke.error().what);
    EXPECT_EQ(rng.remaining(), 0u);
    return ke.ok() ? std::move(*ke) : nullptr;
}

void expect_rejected(KeyExchange& ke, BytesView peer, const std::string& needle) {
    auto s = ke.shared_secret(peer);
    ASSERT_FALSE(s.ok()) << "accepted a bad public value of " << peer.size() << " octets";
    EXPECT_NE(s.error().what.find(needle), std::string::npos) << s.error().what;
}

TEST(Dh, Sizes) {
    EXPECT_EQ(public_value_size(DhId::MODP_2048), 256u);
    EXPECT_EQ(public_value_size(DhId::ECP_256), 64u);
    EXPECT_EQ(public_value_size(DhId::ECP_384), 96u);
    EXPECT_EQ(public_value_size(DhId::CURVE25519), 32u);
    EXPECT_EQ(public_value_size(DhId::NONE), 0u);
    EXPECT_EQ(shared_secret_size(DhId::ECP_384), 48u);
    EXPECT_FALSE(dh_supported(static_cast<DhId>(2)));  // MODP-1024: not built
    DeterministicRandom rng(1);
    EXPECT_FALSE(make_key_exchange(DhId::NONE, rng).ok());
    EXPECT_FALSE(make_key_exchange(static_cast<DhId>(15), rng).ok());
}

TEST(Dh, AllGroupsAgree) {
    DeterministicRandom rng(2024);
    for (DhId g : {DhId::MODP_2048, DhId::ECP_256, DhId::ECP_384, DhId::CURVE25519}) {
        SCOPED_TRACE(static_cast<int>(g));
        auto a = make_key_exchange(g, rng);
        auto b = make_key_exchange(g, rng);
        ASSERT_TRUE(a.ok() && b.ok());
        EXPECT_EQ((*a)->group(), g);
        EXPECT_EQ((*a)->public_value().size(), public_value_size(g));
        EXPECT_NE((*a)->public_value(), (*b)->public_value());
        auto sa = (*a)->shared_secret((*b)->public_value());
        auto sb = (*b)->shared_secret((*a)->public_value());
        ASSERT_TRUE(sa.ok()) << sa.error().what;
        ASSERT_TRUE(sb.ok()) << sb.error().what;
        EXPECT_EQ(*sa, *sb);
        EXPECT_EQ(sa->size(), shared_secret_size(g));
    }
}

TEST(Dh, DeterministicFromRandom) {
    for (DhId g : {DhId::MODP_2048, DhId::ECP_256, DhId::ECP_384, DhId::CURVE25519}) {
        DeterministicRandom r1(5), r2(5);
        auto a = make_key_exchange(g, r1);
        auto b = make_key_exchange(g, r2);
        ASSERT_TRUE(a.ok() && b.ok());
        EXPECT_EQ((*a)->public_value(), (*b)->public_value());
    }
}

// --- Curve25519: RFC 7748 -------------------------------------------------

TEST(X25519, Rfc7748Section5_2) {
    struct {
        const char* scalar;
        const char* u;
        const char* out;
    } cases[] = {
        {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
         "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
         "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
        {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
         "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
         "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
    };
    for (const auto& c : cases) {
        auto ke = make_with(DhId::CURVE25519, H(c.scalar));
        ASSERT_TRUE(ke);
        auto s = ke->shared_secret(H(c.u));
        ASSERT_TRUE(s.ok()) << s.error().what;
        EXPECT_EQ(to_hex(*s), c.out);
    }
}

TEST(X25519, Rfc7748Section6_1) {
    auto alice = make_with(DhId::CURVE25519,
                           H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    auto bob = make_with(DhId::CURVE25519,
                         H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    ASSERT_TRUE(alice && bob);
    EXPECT_EQ(to_hex(alice->public_value()),
              "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    EXPECT_EQ(to_hex(bob->public_value()),
              "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const char* k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    auto ka = alice->shared_secret(bob->public_value());
    auto kb = bob->shared_secret(alice->public_value());
    ASSERT_TRUE(ka.ok() && kb.ok());
    EXPECT_EQ(to_hex(*ka), k);
    EXPECT_EQ(to_hex(*kb), k);
}

TEST(X25519, RejectsWrongLengthAndLowOrderPoints) {
    DeterministicRandom rng(3);
    auto ke = make_key_exchange(DhId::CURVE25519, rng);
    ASSERT_TRUE(ke.ok());
    expect_rejected(**ke, Bytes(31, 9), "must be 32 octets, got 31");
    expect_rejected(**ke, Bytes(33, 9), "must be 32 octets, got 33");
    expect_rejected(**ke, Bytes{}, "must be 32 octets, got 0");
    // u = 0 and u = 1 are low-order points: the X25519 output is all zero.
    expect_rejected(**ke, Bytes(32, 0), "all zero");
    Bytes one(32, 0);
    one[0] = 1;
    expect_rejected(**ke, one, "all zero");
    // A point of order 8 (RFC 7748 §7 warns of these).
    expect_rejected(**ke, H("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
                    "all zero");
}

// --- ECP: RFC 5903 §8 -----------------------------------------------------

constexpr const char* kP256I =
    "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433";
constexpr const char* kP256Gi =
    "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180"
    "5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3";
constexpr const char* kP256R =
    "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53";
constexpr const char* kP256Gr =
    "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63"
    "56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB";
constexpr const char* kP256Girx =
    "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE";

constexpr const char* kP384I =
    "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655"
    "E35B5380 41E649EE 3FAEF896 783AB194";
constexpr const char* kP384Gi =
    "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6"
    "DE3AC808 ACB4BDB4 C88732AE E95F41AA"
    "9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E"
    "EB9FCFF3 C2C947DA E69B4C63 4573A81C";
constexpr const char* kP384Gr =
    "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D"
    "0D1AC43A 0336DEF9 6FDA41D0 774A3571"
    "DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF"
    "F83FA401 42209DFF 5EAAD96D B9E6386C";
constexpr const char* kP384Girx =
    "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4"
    "D6031355 69B9E9D0 9CF5D4A2 70F59746";

TEST(Ecp, Rfc5903Section8_1) {
    auto i = make_with(DhId::ECP_256, H(kP256I));
    auto r = make_with(DhId::ECP_256, H(kP256R));
    ASSERT_TRUE(i && r);
    // RFC 5903 §7: the KE data is x | y with no 0x04 prefix.
    EXPECT_EQ(i->public_value(), H(kP256Gi));
    EXPECT_EQ(r->public_value(), H(kP256Gr));
    auto si = i->shared_secret(H(kP256Gr));
    auto sr = r->shared_secret(H(kP256Gi));
    ASSERT_TRUE(si.ok()) << si.error().what;
    ASSERT_TRUE(sr.ok()) << sr.error().what;
    // The shared secret is the x coordinate only.
    EXPECT_EQ(*si, H(kP256Girx));
    EXPECT_EQ(*sr, H(kP256Girx));
}

TEST(Ecp, Rfc5903Section8_2) {
    auto i = make_with(DhId::ECP_384, H(kP384I));
    ASSERT_TRUE(i);
    EXPECT_EQ(i->public_value(), H(kP384Gi));
    auto s = i->shared_secret(H(kP384Gr));
    ASSERT_TRUE(s.ok()) << s.error().what;
    EXPECT_EQ(*s, H(kP384Girx));
}

TEST(Ecp, PrivateScalarOutOfRangeIsRedrawn) {
    // 32 octets of 0xff exceed the P-256 group order, all zeros is 0: both
    // are skipped and the RFC scalar that follows is used.
    ScriptedRandom rng(Bytes(32, 0xff));
    rng.push(Bytes(32, 0x00));
    rng.push(H(kP256I));
    auto ke = make_key_exchange(DhId::ECP_256, rng);
    ASSERT_TRUE(ke.ok());
    EXPECT_EQ((*ke)->public_value(), H(kP256Gi));

    struct Zeros final : Random {
        void fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), 0); }
    } zeros;
    auto broken = make_key_exchange(DhId::ECP_256, zeros);
    ASSERT_FALSE(broken.ok());
    EXPECT_NE(broken.error().what.find("broken Random"), std::string::npos);
}

TEST(Ecp, Rfc6989Rejections) {
    auto i = make_with(DhId::ECP_256, H(kP256I));
    ASSERT_TRUE(i);
    Bytes gr = H(kP256Gr);
    ASSERT_EQ(gr.size(), 64u);
    expect_rejected(*i, BytesView(gr).first(63), "must be 64 octets, got 63");
    expect_rejected(*i, concat(Bytes{0x04}, gr), "must be 64 octets, got 65");  // SEC 1 form
    expect_rejected(*i, Bytes(96, 1), "must be 64 octets, got 96");
    Bytes off = gr;
    off[63] ^= 0x01;
    expect_rejected(*i, off, "not a point on the curve");
    expect_rejected(*i, Bytes(64, 0), "not a point on the curve");  // (0,0): not on P-256
    Bytes big = gr;
    std::fill(big.begin(), big.begin() + 32, 0xff);  // x >= p
    expect_rejected(*i, big, "not below the field prime");

    auto i384 = make_with(DhId::ECP_384, H(kP384I));
    ASSERT_TRUE(i384);
    Bytes gr384 = H(kP384Gr);
    gr384[50] ^= 0x80;
    expect_rejected(*i384, gr384, "not a point on the curve");
    expect_rejected(*i384, Bytes(64, 1), "must be 96 octets, got 64");
}

// --- MODP-2048: RFC 3526 group 14 ------------------------------------------
// Expected values computed independently in Python: the prime from RFC 3526's
// formula p = 2^2048 - 2^1984 - 1 + 2^64 * ([2^1918 pi] + 124476) (mpmath),
// then pow(2, x, p).

constexpr const char* kModpPMinus1 =
    "ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a0879"
    "8e3404ddef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b"
    "0bff5cb6f406b7edee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da4836"
    "1c55d39a69163fa8fd24cf5f83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804"
    "f1746c08ca18217c32905e462e36ce3be39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6"
    "955817183995497cea956ae515d2261898fa051015728e5a8aacaa68fffffffffffffffe";
// x_a = 01 02 .. 28 (40 octets), x_b = 41 42 .. 68.
constexpr const char* kModpYa =
    "f0cdbd67b9f7aa420ec897f258819be9496e9a0a5726c89df16dd7f451c98e45fb7738b946ffcc3743438f66"
    "8c562d06c65d330de82a1078bf6f9292fdc86bec74ac0c26640704012785c1611d3c4f3ec28877eff3f5b11c"
    "e33a905b731dafcac4daf7e440d201db0ec4888a4e080572c92c1db2886612a28b6ab995987c8767b6a3f577"
    "e277713abefe80b9948bd5b71b931d19185d503acf998c6e4b1cdaa3bc6b1ba20c71e6aceab8bdbf477c4706"
    "bea69f095f7687f47e93f99695fe582c7cab8d33f0267dbf4aab867f3a7f7a7f626e520129cd0fa3c7dc290f"
    "59217de17293bef38ae9b3bd3829226a08f611a9077a9acf31a954332f5a54d6eb7d524b";
constexpr const char* kModpYb =
    "ac111634fd5485cd4e1b67732dbaf3348510e97e8a97de00c87028682ab7bca9f352d4f7b394d42f4d206e15"
    "cc4dbfd3764fadbdf73e68a5174da1f4088e2d6bc3eab63f1e094e53d014ef0a70df94eb7782f62c78dd5cb7"
    "d276496b86830922be80d10788940395c23950cd6c391263991d35d295aaf2da86eb386c7816e47ef109cec6"
    "d91607dbf46e0c7187771a3f55a7933b9f57cc56546280211208a4d98e8694a0c7ee8bc4f83374104cf9e217"
    "dda4776595dbdc3a53eb41ff5a961cb6bd1b6d83491de3da50835a5f6215bf717ab6e73e6910d0d37297911f"
    "920ceda505dfa12c74bf3316aa1ddb70ffa25c3f0612513fc75fcd2426ebc7b9c0c54e08";
constexpr const char* kModpZ =
    "d355067f084adc49c665671675dd3cdb80e9a5503dc2e439e0e0d60fdeac1957640ef14da60d3e07673c402c"
    "e56d78721ee90f62f05420f1978ca7b00173da2450ca22b4b934b2a17eb35d26b92725273454f39caec89e16"
    "4234f4b461dd0d98b10a67c723b463f13382600c949d5d63710d1c758d5b05aea5f3b224aa2e44f34c481a94"
    "6da5c85279242d873fdb936df3a520f4fef45e039db2767a63aa112cd60ea052118c28423880948ec26fce56"
    "6af37fbab4b268bce00e9dd1d7b751c157574a3df7d3d9d09dce1fe6b002afe8cc7197bf8352dccabc304f96"
    "9ce18892b29941f2de502166b82a7729b1b90d41f4023dea1c343998298870a841371a71";

Bytes seq(std::uint8_t first, std::size_t n) {
    Bytes b(n);
    for (std::size_t k = 0; k < n; ++k)
        b[k] = static_cast<std::uint8_t>(first + k);
    return b;
}

TEST(Modp2048, KnownPrivateKeys) {
    auto a = make_with(DhId::MODP_2048, seq(0x01, 40));
    auto b = make_with(DhId::MODP_2048, seq(0x41, 40));
    ASSERT_TRUE(a && b);
    EXPECT_EQ(to_hex(a->public_value()), kModpYa);
    EXPECT_EQ(to_hex(b->public_value()), kModpYb);
    auto za = a->shared_secret(b->public_value());
    auto zb = b->shared_secret(a->public_value());
    ASSERT_TRUE(za.ok() && zb.ok());
    EXPECT_EQ(to_hex(*za), kModpZ);
    EXPECT_EQ(to_hex(*zb), kModpZ);
}

TEST(Modp2048, PublicValueIsLeftPadded) {
    // x = 2 gives g^x = 4: a one-octet number sent as 256 octets.
    Bytes two(40, 0);
    two.back() = 2;
    auto ke = make_with(DhId::MODP_2048, two);
    ASSERT_TRUE(ke);
    Bytes expect(256, 0);
    expect.back() = 4;
    EXPECT_EQ(ke->public_value(), expect);
    // And a small but valid peer value (y = 2) is accepted, secret padded.
    Bytes y(256, 0);
    y.back() = 2;
    auto s = ke->shared_secret(y);
    ASSERT_TRUE(s.ok());
    Bytes four = expect;
    EXPECT_EQ(*s, four);  // 2^2
}

TEST(Modp2048, Rfc6989Rejections) {
    auto ke = make_with(DhId::MODP_2048, seq(0x01, 40));
    ASSERT_TRUE(ke);
    Bytes zero(256, 0);
    Bytes one(256, 0);
    one.back() = 1;
    Bytes p_minus_1 = H(kModpPMinus1);
    ASSERT_EQ(p_minus_1.size(), 256u);
    Bytes p = p_minus_1;
    p[255] = 0xff;
    Bytes all_ff(256, 0xff);
    expect_rejected(*ke, zero, "is 0 or 1");
    expect_rejected(*ke, one, "is 0 or 1");
    expect_rejected(*ke, p_minus_1, "p-1");
    expect_rejected(*ke, p, "not below the prime");
    expect_rejected(*ke, all_ff, "not below the prime");
    expect_rejected(*ke, Bytes(255, 7), "must be 256 octets, got 255");
    expect_rejected(*ke, concat(Bytes{0}, H(kModpYb)), "must be 256 octets, got 257");
    // p-2 is the largest acceptable value.
    Bytes p_minus_2 = p_minus_1;
    p_minus_2[255] = 0xfd;
    EXPECT_TRUE(ke->shared_secret(p_minus_2).ok());
}

}  // namespace
}  // namespace ikecluster::crypto
