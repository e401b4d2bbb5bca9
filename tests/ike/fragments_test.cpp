// RFC 7383 fragmentation: seal_fragmented() and FragmentReassembler.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <string>

#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/sk_cipher.h"
#include "ike/fragments.h"
#include "wire/message.h"

namespace ikecluster::ike {
namespace {

using wire::EncodedChain;
using wire::Message;

struct Suite {
    const char* name;
    EncrId encr;
    std::uint16_t bits;
    IntegId integ;
};

const Suite kGcm{"aes256gcm16", EncrId::AES_GCM_16, 256, IntegId::NONE};
const Suite kCbc{"aes128-sha256", EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128};

// Fixed keys: both ends of one direction hold the same SK_e/SK_a.
struct Ciphers {
    std::unique_ptr<crypto::SkCipher> out, in;
};

Ciphers make_ciphers(const Suite& s, std::uint8_t key_seed = 1) {
    Bytes ek(crypto::encr_key_size(s.encr, s.bits));
    Bytes ik(crypto::integ_key_size(s.integ));
    std::iota(ek.begin(), ek.end(), key_seed);
    std::iota(ik.begin(), ik.end(), std::uint8_t(key_seed + 0x80));
    auto a = crypto::SkCipher::create(s.encr, s.bits, s.integ, ek, ik);
    auto b = crypto::SkCipher::create(s.encr, s.bits, s.integ, ek, ik);
    EXPECT_TRUE(a.ok() && b.ok()) << s.name;
    if (!a.ok() || !b.ok()) return {};
    return {std::move(*a), std::move(*b)};
}

wire::Header header(std::uint32_t message_id = 1, std::uint8_t flags = wire::kFlagInitiator) {
    wire::Header h;
    h.spi_i = 0x0102030405060708;
    h.spi_r = 0x1112131415161718;
    h.exchange = std::uint8_t(ExchangeType::IKE_AUTH);
    h.flags = flags;
    h.message_id = message_id;
    return h;
}

// An inner chain of exactly `len` (>= 4) encoded octets: one Vendor ID
// payload, so the reassembled bytes can be decoded and compared too.
EncodedChain chain_of(std::size_t len, std::uint8_t fill = 0) {
    Bytes id(len - wire::kGenericHeaderSize);
    std::iota(id.begin(), id.end(), fill);
    return wire::encode_payloads(
        {wire::make_payload(wire::PayloadType::VENDOR, wire::VendorPayload{std::move(id)})});
}

Result<std::optional<EncodedChain>> feed(FragmentReassembler& r, const Bytes& dgram,
                                         crypto::SkCipher& in) {
    auto m = wire::decode_message(dgram);
    EXPECT_TRUE(m.ok()) << m.error().what;
    if (!m) return m.error();
    return r.add(*m, dgram, in);
}

// Opens an unfragmented SK message.
Result<EncodedChain> open_sk(const Bytes& dgram, crypto::SkCipher& in) {
    auto m = wire::decode_message(dgram);
    if (!m) return m.error();
    const auto* sk = m->payloads.back().as<wire::SkPayload>();
    auto off = wire::encrypted_body_offset(dgram);
    if (!sk || !off) return make_error(0, "no SK payload");
    auto plain = in.open(BytesView(dgram).first(*off), BytesView(dgram).subspan(*off));
    if (!plain) return plain.error();
    return EncodedChain{sk->first_inner, std::move(*plain)};
}

std::vector<Bytes> seal(const EncodedChain& c, crypto::SkCipher& out, std::size_t max,
                        std::uint32_t message_id = 1, std::uint64_t seed = 7,
                        std::uint8_t flags = wire::kFlagInitiator) {
    crypto::DeterministicRandom rng(seed);
    auto r = seal_fragmented(header(message_id, flags), c, out, rng, max);
    EXPECT_TRUE(r.ok()) << r.error().what;
    return r.ok() ? std::move(*r) : std::vector<Bytes>{};
}

// Every datagram is a well-formed message within `max`, with the structure
// RFC 7383 §2.5 prescribes.
void check_structure(const std::vector<Bytes>& dgrams, const EncodedChain& c, std::size_t max,
                     std::uint32_t message_id) {
    ASSERT_FALSE(dgrams.empty());
    for (std::size_t i = 0; i < dgrams.size(); ++i) {
        SCOPED_TRACE("datagram " + std::to_string(i + 1) + " of " + std::to_string(dgrams.size()));
        EXPECT_LE(dgrams[i].size(), max);
        auto m = wire::decode_message(dgrams[i]);
        ASSERT_TRUE(m.ok()) << m.error().what;
        EXPECT_EQ(m->header.message_id, message_id);
        EXPECT_EQ(m->header.exchange, std::uint8_t(ExchangeType::IKE_AUTH));
        ASSERT_EQ(m->payloads.size(), 1u);
        if (dgrams.size() == 1) {
            EXPECT_EQ(m->header.next_payload, std::uint8_t(wire::PayloadType::SK));
            ASSERT_NE(m->payloads[0].as<wire::SkPayload>(), nullptr);
            continue;
        }
        EXPECT_EQ(m->header.next_payload, std::uint8_t(wire::PayloadType::SKF));
        const auto* f = m->payloads[0].as<wire::SkfPayload>();
        ASSERT_NE(f, nullptr);
        EXPECT_EQ(f->fragment_number, i + 1);
        EXPECT_EQ(f->total_fragments, dgrams.size());
        EXPECT_EQ(f->first_inner, i == 0 ? c.first : 0);
    }
}

// Feeds every fragment in order; the last one must complete.
std::optional<EncodedChain> reassemble(const std::vector<Bytes>& dgrams, crypto::SkCipher& in) {
    FragmentReassembler r;
    for (std::size_t i = 0; i < dgrams.size(); ++i) {
        auto res = feed(r, dgrams[i], in);
        EXPECT_TRUE(res.ok()) << res.error().what;
        if (!res) return std::nullopt;
        if (i + 1 == dgrams.size()) return std::move(*res);
        EXPECT_FALSE(res->has_value());
    }
    return std::nullopt;
}

// ---- sealing ----------------------------------------------------------------------

class FragmentRoundTrip : public ::testing::TestWithParam<Suite> {};

// Chain sizes from well below to well above the largest one an SK message
// of `max` octets holds: exactly those that fit go out as one SK message,
// the rest as SKF fragments, and every one reassembles byte-exactly.
TEST_P(FragmentRoundTrip, AroundTheBoundary) {
    auto [out, in] = make_ciphers(GetParam());
    ASSERT_TRUE(out && in);
    for (std::size_t max : {548u, 1232u}) {
        const std::size_t sk_limit = max - kSkOverhead;
        for (std::size_t len = max - 120; len <= max + 40; ++len) {
            SCOPED_TRACE("max " + std::to_string(max) + ", chain " + std::to_string(len));
            const EncodedChain c = chain_of(len);
            auto dgrams = seal(c, *out, max);
            check_structure(dgrams, c, max, 1);
            const bool fits = out->sealed_size(len) <= sk_limit;
            ASSERT_EQ(dgrams.size() == 1, fits);
            if (fits) {
                auto opened = open_sk(dgrams[0], *in);
                ASSERT_TRUE(opened.ok()) << opened.error().what;
                EXPECT_EQ(*opened, c);
            } else {
                EXPECT_EQ(dgrams.size(), 2u);  // just over: two fragments suffice
                auto got = reassemble(dgrams, *in);
                ASSERT_TRUE(got.has_value());
                EXPECT_EQ(*got, c);
            }
        }
    }
}

// A message many times the limit: fragments are close in size (no runt at the
// end) and the reassembled chain decodes to the payload that went in.
TEST_P(FragmentRoundTrip, LargeMessageEvenPieces) {
    auto [out, in] = make_ciphers(GetParam());
    ASSERT_TRUE(out && in);
    const EncodedChain c = chain_of(9000);
    auto dgrams = seal(c, *out, 548, 5);
    check_structure(dgrams, c, 548, 5);
    EXPECT_GE(dgrams.size(), 18u);
    auto [lo, hi] = std::minmax_element(dgrams.begin(), dgrams.end(),
                                        [](auto& a, auto& b) { return a.size() < b.size(); });
    EXPECT_LE(hi->size() - lo->size(), 16u);  // at most one cipher block apart
    auto got = reassemble(dgrams, *in);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, c);
    auto payloads = wire::decode_payloads(got->first, got->bytes);
    ASSERT_TRUE(payloads.ok()) << payloads.error().what;
    ASSERT_EQ(payloads->size(), 1u);
    EXPECT_EQ((*payloads)[0].as<wire::VendorPayload>()->id.size(), 9000u - 4);
}

INSTANTIATE_TEST_SUITE_P(Suites, FragmentRoundTrip, ::testing::Values(kGcm, kCbc),
                         [](const auto& param_info) {
                             std::string n = param_info.param.name;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

TEST(FragmentSeal, EmptyChainIsOneSkMessage) {
    auto [out, in] = make_ciphers(kGcm);
    auto dgrams = seal(EncodedChain{}, *out, 1232);
    ASSERT_EQ(dgrams.size(), 1u);
    auto opened = open_sk(dgrams[0], *in);
    ASSERT_TRUE(opened.ok()) << opened.error().what;
    EXPECT_EQ(*opened, EncodedChain{});
}

TEST(FragmentSeal, SizeTooSmallIsAnError) {
    for (const Suite& s : {kGcm, kCbc}) {
        auto [out, in] = make_ciphers(s);
        // Fixed SKF overhead plus the smallest padded piece of one octet.
        const std::size_t fixed = kSkfOverhead + out->iv_size() + out->icv_size();
        const std::size_t smallest = fixed + std::max<std::size_t>(out->block_size(), 2);
        crypto::DeterministicRandom rng(1);
        auto bad = seal_fragmented(header(), chain_of(200), *out, rng, smallest - 1);
        ASSERT_FALSE(bad.ok()) << s.name;
        EXPECT_NE(bad.error().what.find("leaves no room"), std::string::npos) << bad.error().what;
        auto good = seal_fragmented(header(), chain_of(200), *out, rng, smallest);
        ASSERT_TRUE(good.ok()) << s.name << ": " << good.error().what;
        for (const Bytes& d : *good)
            EXPECT_LE(d.size(), smallest);
        auto got = reassemble(*good, *in);
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(*got, chain_of(200));
    }
}

TEST(FragmentSeal, MoreThan65535FragmentsIsAnError) {
    auto [out, in] = make_ciphers(kGcm);
    // At the smallest size each AES-GCM fragment carries exactly one octet.
    const std::size_t max = kSkfOverhead + out->iv_size() + out->icv_size() + 2;
    EncodedChain c{std::uint8_t(wire::PayloadType::VENDOR), Bytes(65536, 0xab)};
    crypto::DeterministicRandom rng(1);
    auto r = seal_fragmented(header(), c, *out, rng, max);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("65536 fragments"), std::string::npos) << r.error().what;
}

// ---- reassembly -------------------------------------------------------------------

TEST(FragmentReassembly, OutOfOrderAndDuplicates) {
    auto [out, in] = make_ciphers(kCbc);
    const EncodedChain c = chain_of(2000);
    auto d = seal(c, *out, 548);
    ASSERT_EQ(d.size(), 5u);
    FragmentReassembler r;
    for (std::size_t i : {2u, 0u}) {
        auto res = feed(r, d[i], *in);
        ASSERT_TRUE(res.ok()) << res.error().what;
        EXPECT_FALSE(res->has_value());
    }
    auto dup = feed(r, d[2], *in);
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().what, "duplicate SKF fragment 3 of 5 (message ID 1)");
    EXPECT_EQ(r.fragments_held(), 2u);
    for (std::size_t i : {4u, 1u}) {
        auto res = feed(r, d[i], *in);
        ASSERT_TRUE(res.ok()) << res.error().what;
        EXPECT_FALSE(res->has_value());
    }
    EXPECT_EQ(r.message_id(), 1u);
    auto last = feed(r, d[3], *in);
    ASSERT_TRUE(last.ok()) << last.error().what;
    ASSERT_TRUE(last->has_value());
    EXPECT_EQ(**last, c);
    // Complete: nothing is held any more.
    EXPECT_EQ(r.message_id(), std::nullopt);
    EXPECT_EQ(r.fragments_held(), 0u);
    EXPECT_EQ(r.bytes_held(), 0u);
}

TEST(FragmentReassembly, ForgedFragmentDroppedGenuineCompletes) {
    for (const Suite& s : {kGcm, kCbc}) {
        SCOPED_TRACE(s.name);
        auto [out, in] = make_ciphers(s);
        const EncodedChain c = chain_of(1400);
        auto d = seal(c, *out, 548);
        ASSERT_EQ(d.size(), 3u);
        FragmentReassembler r;
        ASSERT_TRUE(feed(r, d[0], *in).ok());

        // A flipped octet anywhere in the body or the authenticated header.
        for (std::size_t pos : {d[1].size() - 1, d[1].size() / 2, std::size_t(20)}) {
            Bytes forged = d[1];
            forged[pos] ^= 0x01;
            auto res = feed(r, forged, *in);
            ASSERT_FALSE(res.ok());
            EXPECT_NE(res.error().what.find("integrity check failed"), std::string::npos)
                << res.error().what;
        }
        // A forged larger Total Fragments must not make us discard the
        // genuine fragments (§2.6 restarts only on authenticated ones).
        Bytes bigger = d[1];
        bigger[wire::kHeaderSize + 7] += 1;
        auto res = feed(r, bigger, *in);
        ASSERT_FALSE(res.ok());
        EXPECT_NE(res.error().what.find("integrity check failed"), std::string::npos);
        // Nor a forged fragment with a new message ID.
        Bytes other_id = d[1];
        other_id[23] ^= 0x10;
        ASSERT_FALSE(feed(r, other_id, *in).ok());
        EXPECT_EQ(r.fragments_held(), 1u);
        EXPECT_EQ(r.message_id(), 1u);

        ASSERT_TRUE(feed(r, d[1], *in).ok());
        auto done = feed(r, d[2], *in);
        ASSERT_TRUE(done.ok()) << done.error().what;
        ASSERT_TRUE(done->has_value());
        EXPECT_EQ(**done, c);
    }
}

TEST(FragmentReassembly, WrongKeysRejected) {
    auto [out, in] = make_ciphers(kGcm, 1);
    auto [out2, in2] = make_ciphers(kGcm, 2);
    auto d = seal(chain_of(1400), *out, 548);
    FragmentReassembler r;
    auto res = feed(r, d[0], *in2);
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().what.rfind("SKF fragment 1 of 3 (message ID 1): ", 0), 0u)
        << res.error().what;
    EXPECT_EQ(r.message_id(), std::nullopt);
}

// §2.6: the sender re-fragmented with a smaller size (more fragments).
TEST(FragmentReassembly, LargerTotalRestartsSmallerDropped) {
    auto [out, in] = make_ciphers(kGcm);
    const EncodedChain c = chain_of(2900);
    auto big = seal(c, *out, 1232);   // 3 fragments
    auto small = seal(c, *out, 548);  // 6 fragments
    ASSERT_EQ(big.size(), 3u);
    ASSERT_EQ(small.size(), 6u);
    FragmentReassembler r;
    ASSERT_TRUE(feed(r, big[0], *in).ok());
    ASSERT_TRUE(feed(r, big[1], *in).ok());
    EXPECT_EQ(r.fragments_held(), 2u);

    auto restart = feed(r, small[4], *in);
    ASSERT_TRUE(restart.ok()) << restart.error().what;
    EXPECT_EQ(r.fragments_held(), 1u);

    auto stale = feed(r, big[2], *in);
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.error().what,
              "SKF Total Fragments 3 is less than 6 already collected (message ID 1)");
    EXPECT_EQ(r.fragments_held(), 1u);

    std::optional<EncodedChain> got;
    for (std::size_t i : {0u, 1u, 2u, 3u, 5u}) {
        auto res = feed(r, small[i], *in);
        ASSERT_TRUE(res.ok()) << res.error().what;
        if (res->has_value()) got = std::move(**res);
    }
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, c);
}

TEST(FragmentReassembly, NewMessageIdDiscardsIncompleteOne) {
    auto [out, in] = make_ciphers(kCbc);
    const EncodedChain c1 = chain_of(1400, 1);
    const EncodedChain c2 = chain_of(1400, 2);
    auto m1 = seal(c1, *out, 548, 1);
    auto m2 = seal(c2, *out, 548, 2);
    ASSERT_EQ(m1.size(), 3u);
    ASSERT_EQ(m2.size(), 3u);
    FragmentReassembler r;
    ASSERT_TRUE(feed(r, m1[0], *in).ok());
    ASSERT_TRUE(feed(r, m1[1], *in).ok());
    ASSERT_TRUE(feed(r, m2[2], *in).ok());
    EXPECT_EQ(r.message_id(), 2u);
    EXPECT_EQ(r.fragments_held(), 1u);
    ASSERT_TRUE(feed(r, m2[0], *in).ok());
    auto done = feed(r, m2[1], *in);
    ASSERT_TRUE(done.ok()) << done.error().what;
    ASSERT_TRUE(done->has_value());
    EXPECT_EQ(**done, c2);
    // Message 1's last fragment alone starts a new (incomplete) collection.
    auto late = feed(r, m1[2], *in);
    ASSERT_TRUE(late.ok());
    EXPECT_FALSE(late->has_value());
    EXPECT_EQ(r.message_id(), 1u);
    r.reset();
    EXPECT_EQ(r.message_id(), std::nullopt);
    EXPECT_EQ(r.fragments_held(), 0u);
}

TEST(FragmentReassembly, FragmentNumberZeroOrAboveTotalRejected) {
    auto [out, in] = make_ciphers(kGcm);
    auto d = seal(chain_of(1400), *out, 548);
    // The codec already refuses these on the wire...
    for (std::uint16_t bad : {std::uint16_t(0), std::uint16_t(4)}) {
        Bytes raw = d[0];
        raw[wire::kHeaderSize + 4] = std::uint8_t(bad >> 8);
        raw[wire::kHeaderSize + 5] = std::uint8_t(bad);
        EXPECT_FALSE(wire::decode_message(raw).ok());
    }
    // ...and the reassembler does not rely on that.
    auto m = wire::decode_message(d[0]);
    ASSERT_TRUE(m.ok());
    FragmentReassembler r;
    for (std::uint16_t bad : {std::uint16_t(0), std::uint16_t(4)}) {
        Message forged = *m;
        forged.payloads[0].as<wire::SkfPayload>()->fragment_number = bad;
        auto res = r.add(forged, d[0], *in);
        ASSERT_FALSE(res.ok());
        EXPECT_EQ(res.error().what, "SKF fragment number " + std::to_string(bad) +
                                        " of 3 is out of range (message ID 1)");
        EXPECT_EQ(res.error().offset, wire::kHeaderSize + 4);
    }
    EXPECT_EQ(r.fragments_held(), 0u);
}

TEST(FragmentReassembly, TotalFragmentsLimit) {
    auto [out, in] = make_ciphers(kGcm);
    auto d = seal(chain_of(2900), *out, 548);
    ASSERT_EQ(d.size(), 6u);
    FragmentReassembler r(ReassemblyLimits{64 * 1024, 5});
    auto res = feed(r, d[0], *in);
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().what, "SKF Total Fragments 6 exceeds the limit 5 (message ID 1)");
    EXPECT_EQ(r.message_id(), std::nullopt);
}

TEST(FragmentReassembly, ByteLimitDiscardsCollection) {
    auto [out, in] = make_ciphers(kGcm);
    const EncodedChain c = chain_of(2900);
    auto d = seal(c, *out, 548);
    ASSERT_EQ(d.size(), 6u);
    FragmentReassembler r(ReassemblyLimits{1200, 256});
    std::size_t i = 0;
    for (; i < d.size(); ++i) {
        auto res = feed(r, d[i], *in);
        if (!res) {
            EXPECT_NE(res.error().what.find("SKF reassembly exceeds 1200 octets"),
                      std::string::npos)
                << res.error().what;
            break;
        }
        EXPECT_LE(r.bytes_held(), 1200u);
    }
    EXPECT_EQ(i, 2u);  // about 483 octets each: the third would pass 1200
    EXPECT_EQ(r.message_id(), std::nullopt);
    EXPECT_EQ(r.bytes_held(), 0u);

    // Exactly at the limit is fine.
    FragmentReassembler exact(ReassemblyLimits{2900, 256});
    auto got = std::optional<EncodedChain>();
    for (const Bytes& f : d) {
        auto res = feed(exact, f, *in);
        ASSERT_TRUE(res.ok()) << res.error().what;
        if (res->has_value()) got = **res;
    }
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, c);
}

TEST(FragmentReassembly, HeaderMismatchDropped) {
    auto [out, in] = make_ciphers(kGcm);
    const EncodedChain c = chain_of(1400);
    auto a = seal(c, *out, 548, 1, 7, wire::kFlagInitiator);
    auto b = seal(c, *out, 548, 1, 7, wire::kFlagInitiator | wire::kFlagResponse);
    FragmentReassembler r;
    ASSERT_TRUE(feed(r, a[0], *in).ok());
    auto res = feed(r, b[1], *in);
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().what,
              "SKF fragment header differs from the fragments held: SKF fragment 2 of 3 "
              "(message ID 1)");
    EXPECT_EQ(r.fragments_held(), 1u);
}

TEST(FragmentReassembly, NonSkfOrMismatchedInputRejected) {
    auto [out, in] = make_ciphers(kGcm);
    auto sk = seal(chain_of(100), *out, 1232);
    ASSERT_EQ(sk.size(), 1u);
    FragmentReassembler r;
    auto res = feed(r, sk[0], *in);
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().what, "not an SKF message: payload type 46");

    auto d = seal(chain_of(1400), *out, 548);
    auto m0 = wire::decode_message(d[0]);
    ASSERT_TRUE(m0.ok());
    auto mismatch = r.add(*m0, d[1], *in);
    ASSERT_FALSE(mismatch.ok());
    EXPECT_EQ(mismatch.error().what,
              "not an SKF message: datagram does not match the decoded message");

    Message none = *m0;
    none.payloads.clear();
    auto empty = r.add(none, d[0], *in);
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().what, "not an SKF message: 0 payloads, expected only SKF");
    EXPECT_EQ(r.fragments_held(), 0u);
}

// ---- property ---------------------------------------------------------------------

// Any chain size, any limit that can carry data, any arrival order with
// duplicates: every datagram fits and decodes, and the chain comes back.
RC_GTEST_PROP(FragmentProperty, RandomSizesAndOrders, ()) {
    const bool gcm = *rc::gen::arbitrary<bool>();
    const Suite& s = gcm ? kGcm : kCbc;
    auto [out, in] = make_ciphers(s);
    RC_ASSERT(out && in);
    const std::size_t len = *rc::gen::inRange<std::size_t>(4, 6001);
    const std::size_t max = *rc::gen::inRange<std::size_t>(100, 1501);
    const std::uint32_t id = *rc::gen::arbitrary<std::uint32_t>();
    const std::uint64_t seed = *rc::gen::arbitrary<std::uint64_t>();
    const EncodedChain c = chain_of(len, std::uint8_t(seed));

    crypto::DeterministicRandom rng(seed);
    auto sealed = seal_fragmented(header(id), c, *out, rng, max);
    RC_ASSERT(sealed.ok());
    const std::vector<Bytes>& d = *sealed;
    for (const Bytes& dg : d) {
        RC_ASSERT(dg.size() <= max);
        RC_ASSERT(wire::decode_message(dg).ok());
    }
    if (d.size() == 1) {
        auto opened = open_sk(d[0], *in);
        RC_ASSERT(opened.ok());
        RC_ASSERT(*opened == c);
        return;
    }

    // A random order of all fragments, with some sent twice.
    std::vector<std::size_t> order(d.size());
    std::iota(order.begin(), order.end(), 0);
    const std::size_t dups = *rc::gen::inRange<std::size_t>(0, d.size());
    for (std::size_t k = 0; k < dups; ++k)
        order.push_back(order[k]);
    std::mt19937_64 shuffle_rng(seed);
    std::shuffle(order.begin(), order.end(), shuffle_rng);

    FragmentReassembler r;
    std::optional<EncodedChain> got;
    std::size_t completions = 0;
    for (std::size_t i : order) {
        auto m = wire::decode_message(d[i]);
        RC_ASSERT(m.ok());
        auto res = r.add(*m, d[i], *in);
        if (got) continue;  // after completion, late duplicates start afresh
        if (!res) {
            RC_ASSERT(res.error().what.rfind("duplicate", 0) == 0);
            continue;
        }
        if (res->has_value()) {
            got = std::move(**res);
            ++completions;
        }
    }
    RC_ASSERT(completions == 1u);
    RC_ASSERT(got.has_value());
    RC_ASSERT(*got == c);
}

}  // namespace
}  // namespace ikecluster::ike
