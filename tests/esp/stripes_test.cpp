// Sequence-number stripes (SeqStripes): two cluster members that both send on
// one SA (split brain) must never use the same sequence number, because with
// the AEAD suites that number is the GCM/ChaCha nonce (RFC 4106 §3.1) and a
// repeat is a nonce reuse; RFC 4303 §3.3.3 forbids repeats anyway. These
// tests check stripe_align / stripe_count_in against brute force, that
// members' numbers are disjoint whatever set_next_seq() does, the jumps at
// stripe boundaries, exhaustion and the rekey margin with stripes, and that
// count 1 changes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "base/buffer.h"
#include "esp/esp_sa.h"
#include "esp/esp_util.h"

using namespace ikecluster;
using namespace ikecluster::esp;
using namespace ikecluster::esp::test_util;

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

bool owns(std::uint64_t seq, const SeqStripes& s) {
    return s.count <= 1 || (seq >> s.shift) % s.count == s.index;
}

OutboundSa make_out(const ike::ChildSaState& c, SeqStripes s, std::uint64_t margin = 0) {
    SaOptions o;
    o.stripes = s;
    o.rekey_margin = margin;
    auto r = OutboundSa::create(c, o);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
    return std::move(*r);
}

// Seals one small packet; returns the full sequence number it used (read
// back from the 8-octet AEAD IV, which is the sequence number).
std::uint64_t seal_one(OutboundSa& sa, Bytes* packet = nullptr) {
    Bytes buf = frame(inner_packet(4, 20));
    auto r = sa.seal(buf, 20);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_error().what);
    if (!r.ok()) return 0;
    if (packet) *packet = Bytes(r->begin(), r->end());
    return load_be64(r->data() + 8);
}

const Suite& gcm() {
    return all_suites()[1];  // AES-GCM-256: IV = sequence number
}

}  // namespace

TEST(SeqStripes, AlignByHand) {
    const SeqStripes a{4, 0, 2}, b{4, 1, 2};
    EXPECT_EQ(stripe_align(1, a), 1u);
    EXPECT_EQ(stripe_align(15, a), 15u);
    EXPECT_EQ(stripe_align(16, a), 32u);
    EXPECT_EQ(stripe_align(1, b), 16u);  // member 1 starts at 2^shift
    EXPECT_EQ(stripe_align(31, b), 31u);
    EXPECT_EQ(stripe_align(32, b), 48u);
    EXPECT_EQ(stripe_align(12345, SeqStripes{}), 12345u);  // count 1: off
    // No stripe of ours left below 2^64: 0.
    EXPECT_EQ(stripe_align(std::uint64_t{1} << 63, SeqStripes{63, 0, 2}), 0u);
    EXPECT_EQ(stripe_align(1, SeqStripes{63, 1, 2}), std::uint64_t{1} << 63);
    EXPECT_EQ(stripe_align(kMax, SeqStripes{63, 1, 2}), kMax);
    EXPECT_EQ(stripe_align(kMax - 1, SeqStripes{0, 1, 3}), 0u);  // 2^64-2 ≡ 2, 2^64-1 ≡ 0 (mod 3)
    EXPECT_EQ(stripe_align(kMax - 1, SeqStripes{0, 0, 3}), kMax);
    EXPECT_EQ(stripe_align(kMax - 1, SeqStripes{0, 0, 5}), kMax);  // 2^64-1 ≡ 0 (mod 5)
    EXPECT_EQ(stripe_count_in(0, kMax, SeqStripes{63, 1, 2}), std::uint64_t{1} << 63);
    EXPECT_EQ(stripe_count_in(0, kMax, SeqStripes{}), kMax);  // saturates
    EXPECT_EQ(stripe_count_in(5, 4, SeqStripes{2, 0, 2}), 0u);
}

TEST(SeqStripes, AlignAndCountMatchBruteForce) {
    std::mt19937_64 rng(7);
    for (int round = 0; round < 3000; ++round) {
        SeqStripes s;
        s.shift = std::uint8_t(rng() % 6);
        s.count = std::uint16_t(1 + rng() % 5);
        s.index = std::uint16_t(rng() % s.count);
        const std::uint64_t base = rng() % 2 ? 0 : (rng() >> 8);
        const std::uint64_t seq = base + rng() % 300;
        const std::uint64_t n = stripe_align(seq, s);
        ASSERT_GE(n, seq);
        ASSERT_TRUE(owns(n, s)) << n;
        for (std::uint64_t x = seq; x < n; ++x)
            ASSERT_FALSE(owns(x, s)) << x << " skipped";
        const std::uint64_t last = seq + rng() % 400;
        std::uint64_t brute = 0;
        for (std::uint64_t x = seq; x <= last; ++x)
            brute += owns(x, s) ? 1 : 0;
        ASSERT_EQ(stripe_count_in(seq, last, s), brute)
            << "shift " << int(s.shift) << " index " << s.index << "/" << s.count;
    }
}

TEST(SeqStripes, MembersNeverShareANumberWhateverSetNextSeqDoes) {
    std::mt19937_64 rng(11);
    const auto c = make_child(gcm(), true);
    for (int round = 0; round < 200; ++round) {
        const std::uint8_t shift = std::uint8_t(rng() % 5);
        const std::uint16_t count = std::uint16_t(2 + rng() % 4);
        std::set<std::uint64_t> all;
        std::size_t sent = 0;
        for (std::uint16_t index = 0; index < count; ++index) {
            const SeqStripes s{shift, index, count};
            OutboundSa sa = make_out(c, s);
            ASSERT_TRUE(owns(sa.next_seq(), s));
            for (int i = 0; i < 60; ++i) {
                if (rng() % 8 == 0) {
                    // A takeover resuming from some checkpoint, possibly in
                    // another member's stripe.
                    auto r = sa.set_next_seq(sa.next_seq() + rng() % 40);
                    ASSERT_TRUE(r.ok());
                    ASSERT_TRUE(owns(*r, s)) << *r;
                }
                const std::uint64_t want = sa.next_seq();
                const std::uint64_t seq = seal_one(sa);
                ASSERT_EQ(seq, want);
                ASSERT_TRUE(owns(seq, s)) << "member " << index << " sent " << seq;
                ASSERT_TRUE(all.insert(seq).second) << seq << " sent twice";
                ++sent;
                ASSERT_TRUE(owns(sa.next_seq(), s));
            }
        }
        EXPECT_EQ(all.size(), sent);
    }
}

TEST(SeqStripes, TwoMembersSealingOnOneSaNeverRepeatAnIv) {
    // Both members believe they are active and seal on the same SA (same
    // keys); the peer's inbound SA sees the union of their packets.
    for (bool esn : {false, true}) {
        const auto c = make_child(gcm(), esn);
        OutboundSa m0 = make_out(c, SeqStripes{3, 0, 2});
        OutboundSa m1 = make_out(c, SeqStripes{3, 1, 2});
        SaOptions wide;
        wide.replay_window = 4096;
        auto in = InboundSa::create(c, wide);
        ASSERT_TRUE(in.ok());
        std::set<Bytes> ivs;
        std::vector<Bytes> packets;
        for (int i = 0; i < 300; ++i) {
            Bytes p;
            seal_one(i % 3 == 0 ? m1 : m0, &p);  // unequal rates
            ASSERT_TRUE(ivs.insert(Bytes(p.begin() + 8, p.begin() + 16)).second) << "IV reused";
            packets.push_back(std::move(p));
        }
        // Every packet of both members is fresh to the receiver: no number
        // was used twice, so none is a replay.
        std::shuffle(packets.begin(), packets.end(), std::mt19937(3));
        for (Bytes& p : packets) {
            auto r = in->open(p);
            ASSERT_TRUE(r.ok()) << to_string(r.error().code);
        }
        EXPECT_EQ(in->counters().replay_drops, 0u);
        EXPECT_EQ(in->counters().packets, 300u);
    }
}

TEST(SeqStripes, JumpsAtStripeBoundaries) {
    const auto c = make_child(gcm(), false);
    const std::vector<std::vector<std::uint64_t>> want = {
        {1, 2, 3, 12, 13, 14, 15, 24, 25},
        {4, 5, 6, 7, 16, 17, 18, 19, 28},
        {8, 9, 10, 11, 20, 21, 22, 23, 32},
    };
    for (std::uint16_t index = 0; index < 3; ++index) {
        OutboundSa sa = make_out(c, SeqStripes{2, index, 3});
        std::vector<std::uint64_t> got;
        for (std::size_t i = 0; i < want[index].size(); ++i)
            got.push_back(seal_one(sa));
        EXPECT_EQ(got, want[index]) << "member " << index;
    }
    // Stripes of one number (shift 0): every count-th number.
    OutboundSa one = make_out(c, SeqStripes{0, 2, 4});
    EXPECT_EQ(one.next_seq(), 2u);
    EXPECT_EQ(seal_one(one), 2u);
    EXPECT_EQ(seal_one(one), 6u);
    EXPECT_EQ(seal_one(one), 10u);
    // set_next_seq() into another member's stripe moves on to our next one.
    OutboundSa m1 = make_out(c, SeqStripes{4, 1, 2});
    EXPECT_EQ(m1.next_seq(), 16u);
    EXPECT_EQ(*m1.set_next_seq(20), 20u);  // ours already
    EXPECT_EQ(*m1.set_next_seq(32), 48u);  // member 0's stripe [32, 48)
    EXPECT_EQ(seal_one(m1), 48u);
}

TEST(SeqStripes, ExhaustionWithoutEsn) {
    const auto c = make_child(gcm(), false);
    const std::uint64_t q = std::uint64_t{1} << 30;
    // Two members, stripes of 2^30: member 0 owns [1, 2^30) and [2^31, 3*2^30),
    // member 1 owns [2^30, 2^31) and [3*2^30, 2^32).
    OutboundSa m0 = make_out(c, SeqStripes{30, 0, 2});
    OutboundSa m1 = make_out(c, SeqStripes{30, 1, 2});
    EXPECT_EQ(m0.remaining_before_wrap(), 2 * q - 1);  // 0 is never sent
    EXPECT_EQ(m1.remaining_before_wrap(), 2 * q);
    EXPECT_EQ(m1.next_seq(), q);
    // Neither asks for a rekey at once: the default margin is 1/16 of the
    // member's share, not of the whole space.
    EXPECT_FALSE(m0.needs_rekey());
    EXPECT_FALSE(m1.needs_rekey());

    // Member 0's last number is 3*2^30-1; after it there is no stripe of its own.
    ASSERT_TRUE(m0.set_next_seq(3 * q - 2).ok());
    EXPECT_EQ(m0.remaining_before_wrap(), 2u);
    EXPECT_TRUE(m0.needs_rekey());
    EXPECT_EQ(seal_one(m0), 3 * q - 2);
    EXPECT_EQ(seal_one(m0), 3 * q - 1);
    EXPECT_EQ(m0.remaining_before_wrap(), 0u);
    Bytes buf = frame(inner_packet(4, 20));
    const Bytes before = buf;
    auto r = m0.seal(buf, 20);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, SaError::SEQ_EXHAUSTED);
    EXPECT_EQ(buf, before);
    EXPECT_FALSE(m0.set_next_seq(3 * q + 5).ok());  // exhausted stays exhausted

    // Member 1 crosses from its first stripe to its second, then ends at 2^32-1.
    ASSERT_TRUE(m1.set_next_seq(2 * q - 1).ok());
    EXPECT_EQ(m1.remaining_before_wrap(), 1 + q);
    EXPECT_EQ(seal_one(m1), 2 * q - 1);
    EXPECT_EQ(m1.next_seq(), 3 * q);
    ASSERT_TRUE(m1.set_next_seq(4 * q - 1).ok());
    EXPECT_EQ(seal_one(m1), 4 * q - 1);
    EXPECT_EQ(m1.remaining_before_wrap(), 0u);
    EXPECT_EQ(m1.seal(buf, 20).error().code, SaError::SEQ_EXHAUSTED);

    // A checkpoint with no own number after it leaves the SA exhausted.
    OutboundSa m0b = make_out(c, SeqStripes{30, 0, 2});
    ASSERT_TRUE(m0b.set_next_seq(3 * q + 7).ok());
    EXPECT_EQ(m0b.remaining_before_wrap(), 0u);
    EXPECT_TRUE(m0b.needs_rekey());
    EXPECT_EQ(m0b.seal(buf, 20).error().code, SaError::SEQ_EXHAUSTED);
}

TEST(SeqStripes, ExhaustionAtTheTopOfTheEsnSpace) {
    const auto c = make_child(gcm(), true);
    OutboundSa m1 = make_out(c, SeqStripes{63, 1, 2});
    EXPECT_EQ(m1.next_seq(), std::uint64_t{1} << 63);
    EXPECT_EQ(m1.remaining_before_wrap(), std::uint64_t{1} << 63);
    ASSERT_TRUE(m1.set_next_seq(kMax).ok());
    EXPECT_EQ(seal_one(m1), kMax);
    Bytes buf = frame(inner_packet(4, 20));
    EXPECT_EQ(m1.seal(buf, 20).error().code, SaError::SEQ_EXHAUSTED);
    // Many small stripes near the top: the last stripe, 2^60-1, is member
    // 0's (2^60-1 ≡ 0 mod 3), so member 1's last one is 2^60-3 and the jump
    // past it finds nothing below 2^64.
    OutboundSa m = make_out(c, SeqStripes{4, 1, 3});
    const std::uint64_t last_own_start = ((kMax >> 4) - 2) << 4;
    ASSERT_TRUE(m.set_next_seq(last_own_start + 14).ok());
    EXPECT_EQ(m.remaining_before_wrap(), 2u);
    EXPECT_EQ(seal_one(m), last_own_start + 14);
    EXPECT_EQ(seal_one(m), last_own_start + 15);
    EXPECT_EQ(m.remaining_before_wrap(), 0u);
    EXPECT_TRUE(m.needs_rekey());
    EXPECT_EQ(m.seal(buf, 20).error().code, SaError::SEQ_EXHAUSTED);
}

TEST(SeqStripes, CustomMarginCountsOnlyOwnNumbers) {
    const auto c = make_child(gcm(), false);
    // Member 0 of 2, stripes of 16: 100 own numbers left means ~200 numbers
    // of the space.
    OutboundSa sa = make_out(c, SeqStripes{4, 0, 2}, 100);
    const std::uint64_t last_start = 0xffffffffu - 31;  // stripe 2^28-2, ours
    ASSERT_TRUE(sa.set_next_seq(last_start - 6 * 32).ok());
    EXPECT_EQ(sa.remaining_before_wrap(), 7u * 16);
    EXPECT_FALSE(sa.needs_rekey());
    for (int i = 0; i < 12; ++i)
        seal_one(sa);
    EXPECT_EQ(sa.remaining_before_wrap(), 100u);
    EXPECT_TRUE(sa.needs_rekey());
}

TEST(SeqStripes, CreateRejectsUnusableStripes) {
    const auto plain = make_child(gcm(), false);
    const auto esn = make_child(gcm(), true);
    auto bad = [](const ike::ChildSaState& c, SeqStripes s) {
        SaOptions o;
        o.stripes = s;
        return !OutboundSa::create(c, o).ok();
    };
    EXPECT_TRUE(bad(plain, SeqStripes{4, 0, 0}));
    EXPECT_TRUE(bad(plain, SeqStripes{4, 2, 2}));
    EXPECT_TRUE(bad(plain, SeqStripes{64, 0, 2}));
    // 2^32 numbers per stripe: member 1 has nothing of a 32-bit space...
    EXPECT_TRUE(bad(plain, SeqStripes{32, 1, 2}));
    EXPECT_FALSE(bad(plain, SeqStripes{32, 0, 2}));
    // ... but with ESN it starts at 2^32.
    EXPECT_FALSE(bad(esn, SeqStripes{32, 1, 2}));
    EXPECT_EQ(make_out(esn, SeqStripes{32, 1, 2}).next_seq(), std::uint64_t{1} << 32);
    // The inbound side ignores stripes (the peer sends what it likes).
    SaOptions o;
    o.stripes = SeqStripes{4, 3, 2};
    EXPECT_TRUE(InboundSa::create(plain, o).ok());
}

TEST(SeqStripes, CountOneIsTheUnstripedSa) {
    const auto c = make_child(gcm(), false);
    OutboundSa off = make_out(c, SeqStripes{5, 0, 1});
    OutboundSa def = make_out(c, SeqStripes{});
    for (OutboundSa* sa : {&off, &def}) {
        EXPECT_EQ(sa->next_seq(), 1u);
        EXPECT_EQ(sa->remaining_before_wrap(), 0xffffffffu);
        EXPECT_FALSE(sa->needs_rekey());
        for (std::uint64_t i = 1; i <= 40; ++i)
            EXPECT_EQ(seal_one(*sa), i);
        ASSERT_TRUE(sa->set_next_seq(0xffffffffu - (0xffffffffu / 16)).ok());
        EXPECT_FALSE(sa->needs_rekey());
        seal_one(*sa);
        EXPECT_TRUE(sa->needs_rekey());  // the old default margin, 1/16 of the space
    }
}
