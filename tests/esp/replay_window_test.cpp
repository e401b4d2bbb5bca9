// The anti-replay window on its own: RFC 4303 §3.4.3 semantics, the RFC 6479
// ring at large sizes, and RFC 4303 Appendix A2 ESN inference.
#include "esp/replay_window.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <vector>

using namespace ikecluster::esp;
using V = ReplayWindow::Verdict;

namespace {

// check() + accept(), as open() uses them.
bool take(ReplayWindow& w, std::uint32_t low) {
    auto s = w.check(low);
    return s && w.accept(*s);
}

}  // namespace

TEST(EspReplayWindow, SizesAreRoundedAndClamped) {
    EXPECT_EQ(ReplayWindow().size(), 1024u);
    EXPECT_EQ(ReplayWindow(4096).size(), 4096u);
    EXPECT_EQ(ReplayWindow(5000).size(), 8192u);
    EXPECT_EQ(ReplayWindow(1).size(), ReplayWindow::kMinSize);
    EXPECT_EQ(ReplayWindow(std::size_t{1} << 30).size(), ReplayWindow::kMaxSize);
}

TEST(EspReplayWindow, DuplicatesAreRejectedAndZeroIsNeverValid) {
    ReplayWindow w(64);
    EXPECT_EQ(w.classify(0).verdict, V::TOO_OLD);
    EXPECT_FALSE(w.accept(0));
    EXPECT_TRUE(take(w, 1));
    EXPECT_EQ(w.classify(1).verdict, V::DUPLICATE);
    EXPECT_FALSE(w.check(1));
    EXPECT_FALSE(w.accept(1));  // a second accept is harmless
    EXPECT_TRUE(take(w, 3));
    EXPECT_TRUE(take(w, 2));  // reordered, inside the window
    EXPECT_FALSE(take(w, 2));
    EXPECT_EQ(w.highest(), 3u);
}

TEST(EspReplayWindow, CheckDoesNotMoveTheWindow) {
    // Only accept() (after the ICV verified) moves it: a forged packet with a
    // huge sequence number must not push genuine ones out (§3.4.3).
    ReplayWindow w(64);
    ASSERT_TRUE(take(w, 10));
    ASSERT_TRUE(w.check(1'000'000));
    EXPECT_EQ(w.highest(), 10u);
    EXPECT_TRUE(take(w, 5));
}

class EspReplayWindowSize : public ::testing::TestWithParam<std::size_t> {};

TEST_P(EspReplayWindowSize, EdgesAreExact) {
    const std::size_t n = GetParam();
    ReplayWindow w(n);
    ASSERT_EQ(w.size(), n);
    const std::uint32_t top = static_cast<std::uint32_t>(3 * n + 17);
    ASSERT_TRUE(take(w, top));
    // top - n + 1 is the oldest number inside the window, top - n just outside.
    EXPECT_EQ(w.classify(top - static_cast<std::uint32_t>(n)).verdict, V::TOO_OLD);
    EXPECT_TRUE(take(w, top - static_cast<std::uint32_t>(n) + 1));
    // Every number inside is accepted once.
    for (std::uint32_t s = top - static_cast<std::uint32_t>(n) + 2; s < top; ++s)
        ASSERT_TRUE(take(w, s)) << s;
    for (std::uint32_t s = top - static_cast<std::uint32_t>(n) + 1; s <= top; ++s)
        ASSERT_EQ(w.classify(s).verdict, V::DUPLICATE) << s;
    // Moving by less than the window keeps the overlap; by more clears it.
    ASSERT_TRUE(take(w, top + static_cast<std::uint32_t>(n / 2)));
    EXPECT_EQ(w.classify(top).verdict, V::DUPLICATE);
    EXPECT_EQ(w.classify(top + 1).verdict, V::FRESH);
    ASSERT_TRUE(take(w, top + 10 * static_cast<std::uint32_t>(n)));
    EXPECT_EQ(w.classify(top + 10 * static_cast<std::uint32_t>(n) - 1).verdict, V::FRESH);
    EXPECT_EQ(w.classify(top + static_cast<std::uint32_t>(n / 2)).verdict, V::TOO_OLD);
}

INSTANTIATE_TEST_SUITE_P(Sizes, EspReplayWindowSize,
                         ::testing::Values(32, 64, 128, 1024, 4096, 65536, 1u << 20));

TEST(EspReplayWindow, WithoutEsnTheCounterStopsAt32Bits) {
    ReplayWindow w(64, false);
    EXPECT_FALSE(w.accept(std::uint64_t{1} << 32));
    EXPECT_TRUE(take(w, 0xffffffffu));
    EXPECT_EQ(w.classify(0).verdict, V::TOO_OLD);
    EXPECT_EQ(w.classify(1).verdict, V::TOO_OLD);
}

TEST(EspReplayWindow, EsnInfersTheHighHalfAcrossTheBoundary) {
    // RFC 4303 Appendix A2.2, both cases.
    ReplayWindow w(1024, true);
    const std::uint64_t base = (std::uint64_t{1} << 32) - 100;
    ASSERT_TRUE(w.raise_highest(base));
    // Case A (Tl >= W - 1): a low number below the window is the next subspace.
    EXPECT_EQ(*w.check(5), (std::uint64_t{1} << 32) + 5);
    EXPECT_EQ(*w.check(0xffffffffu - 10), base + 89);
    EXPECT_EQ(w.classify(static_cast<std::uint32_t>(base - 5)).verdict, V::DUPLICATE);
    // Cross the boundary.
    ASSERT_TRUE(w.accept(*w.check(3)));
    EXPECT_EQ(w.highest(), (std::uint64_t{1} << 32) + 3);
    // Case B (Tl < W - 1): numbers near 2^32 are from the previous subspace.
    auto late = w.classify(0xffffffffu - 50);  // sent before the boundary, not yet seen
    EXPECT_EQ(late.verdict, V::FRESH);
    EXPECT_EQ(late.seq, base + 49);
    EXPECT_TRUE(w.accept(late.seq));
    EXPECT_EQ(w.classify(0xffffffffu - 50).verdict, V::DUPLICATE);
    EXPECT_EQ(*w.check(7), (std::uint64_t{1} << 32) + 7);
    // Below the window's wrapped bottom, Appendix A2.2 reads the number as
    // ahead in the current subspace (the ICV, computed with the inferred high
    // half, then rejects an old packet); the window itself cannot tell.
    auto far = w.classify(0xffffffffu - 2000);
    EXPECT_EQ(far.verdict, V::FRESH);
    EXPECT_EQ(far.seq, (std::uint64_t{2} << 32) - 2001);
}

TEST(EspReplayWindow, EsnAtTheStartRefusesNumbersBeforeOne) {
    ReplayWindow w(1024, true);
    // T = 0: the window straddles "subspace -1", which does not exist.
    EXPECT_EQ(w.classify(0xffffffffu).verdict, V::TOO_OLD);
    EXPECT_EQ(w.classify(0).verdict, V::TOO_OLD);
    EXPECT_EQ(*w.check(1), 1u);
    EXPECT_EQ(*w.check(500), 500u);
}

TEST(EspReplayWindow, EsnAcrossManyBoundaries) {
    ReplayWindow w(4096, true);
    std::uint64_t seq = 1;
    for (int round = 0; round < 5; ++round) {
        seq = (static_cast<std::uint64_t>(round + 1) << 32) - 3000;
        ASSERT_TRUE(w.raise_highest(seq));
        // Step over the boundary in strides smaller than the window.
        for (int i = 0; i < 3; ++i) {
            seq += 2000;
            auto s = w.check(static_cast<std::uint32_t>(seq));
            ASSERT_TRUE(s);
            ASSERT_EQ(*s, seq);
            ASSERT_TRUE(w.accept(*s));
        }
    }
}

TEST(EspReplayWindow, RaiseHighestOnlyRaisesAndRefusesEverythingBelow) {
    ReplayWindow w(128);
    ASSERT_TRUE(take(w, 10));
    EXPECT_FALSE(w.raise_highest(5));
    EXPECT_FALSE(w.raise_highest(10));
    ASSERT_TRUE(w.raise_highest(1000));
    EXPECT_EQ(w.highest(), 1000u);
    for (std::uint32_t s = 1000 - 127; s <= 1000; ++s)
        EXPECT_EQ(w.classify(s).verdict, V::DUPLICATE) << s;
    // Numbers above the mark, in the same 64-bit block and beyond, are fresh.
    for (std::uint32_t s = 1001; s < 1200; ++s)
        EXPECT_EQ(w.classify(s).verdict, V::FRESH) << s;
    EXPECT_TRUE(take(w, 1003));
    EXPECT_TRUE(take(w, 1001));
    EXPECT_TRUE(take(w, 1002));
    EXPECT_TRUE(take(w, 1100));
}

// Any reordering of sequence numbers whose displacement stays inside the
// window, with duplicates mixed in, accepts each number exactly once.
RC_GTEST_PROP(EspReplayWindowProperty, ReorderingsWithinTheWindowAcceptEachOnce, ()) {
    const std::size_t size = *rc::gen::element<std::size_t>(32, 64, 1024, 4096);
    const bool esn = *rc::gen::arbitrary<bool>();
    const std::uint64_t start = esn ? *rc::gen::inRange<std::uint64_t>(0, std::uint64_t{1} << 33)
                                    : *rc::gen::inRange<std::uint64_t>(0, 0xffffffffu - 20000);
    const std::size_t n = *rc::gen::inRange<std::size_t>(1, 3 * size);
    ReplayWindow w(size, esn);
    if (start > 0) RC_ASSERT(w.raise_highest(start));
    // Shuffle within consecutive chunks of at most `size` numbers: each
    // number arrives while still inside the window.
    std::vector<std::uint64_t> order(n);
    std::iota(order.begin(), order.end(), start + 1);
    const std::size_t chunk = *rc::gen::inRange<std::size_t>(1, size + 1);
    std::mt19937 rng(*rc::gen::arbitrary<std::uint32_t>());
    for (std::size_t i = 0; i < n; i += chunk) {
        const auto first = order.begin() + static_cast<std::ptrdiff_t>(i);
        std::shuffle(first, order.begin() + static_cast<std::ptrdiff_t>(std::min(n, i + chunk)),
                     rng);
    }
    // Duplicates: repeat some numbers right after themselves.
    std::vector<std::uint64_t> arrivals;
    for (auto s : order) {
        arrivals.push_back(s);
        if (s % 7 == 0) arrivals.push_back(s);
    }
    std::multiset<std::uint64_t> accepted;
    for (auto s : arrivals) {
        auto full = w.check(static_cast<std::uint32_t>(s));
        if (full) {
            RC_ASSERT(*full == s);
            RC_ASSERT(w.accept(*full));
            accepted.insert(*full);
        }
    }
    RC_ASSERT(accepted.size() == n);
    for (std::uint64_t s = start + 1; s <= start + n; ++s)
        RC_ASSERT(accepted.count(s) == 1u);
}
