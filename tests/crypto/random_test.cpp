#include <gtest/gtest.h>

#include <set>

#include "crypto/random.h"
#include "test_util.h"

namespace ikecluster::crypto {
namespace {

TEST(DeterministicRandom, SameSeedSameStream) {
    DeterministicRandom a(42), b(42);
    EXPECT_EQ(a.bytes(1000), b.bytes(1000));
    EXPECT_EQ(a.u64(), b.u64());
    EXPECT_EQ(a.u32(), b.u32());
}

TEST(DeterministicRandom, DifferentSeedsDiffer) {
    DeterministicRandom a(1), b(2);
    EXPECT_NE(a.bytes(32), b.bytes(32));
}

TEST(DeterministicRandom, StreamIndependentOfReadSizes) {
    DeterministicRandom a(7), b(7);
    Bytes whole = a.bytes(1190);
    Bytes pieces;
    for (std::size_t n : {1u, 3u, 16u, 17u, 255u, 256u, 257u, 385u}) {
        Bytes p = b.bytes(n);
        pieces.insert(pieces.end(), p.begin(), p.end());
    }
    ASSERT_EQ(pieces.size(), whole.size());
    EXPECT_EQ(pieces, whole);
}

TEST(DeterministicRandom, PinnedOutput) {
    // Pins the construction, AES-256-CTR (zero counter block) keyed with
    // SHA-256("ikecluster DeterministicRandom v1" | seed as 8 octets BE), so a
    // change that would silently alter every recorded simulator run fails
    // here. Expected value computed independently with Python's
    // `cryptography` package.
    DeterministicRandom r(0);
    EXPECT_EQ(to_hex(r.bytes(16)), "ea6064c42db9148d7b21c48ea91588d4");
    EXPECT_EQ(r.seed(), 0u);
}

TEST(DeterministicRandom, LooksRandom) {
    DeterministicRandom r(99);
    Bytes b = r.bytes(1 << 16);
    std::size_t ones = 0;
    for (auto v : b)
        ones += static_cast<std::size_t>(__builtin_popcount(v));
    const double frac = static_cast<double>(ones) / (b.size() * 8.0);
    EXPECT_NEAR(frac, 0.5, 0.01);
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 1000; ++i)
        seen.insert(r.u64());
    EXPECT_EQ(seen.size(), 1000u);
}

TEST(SystemRandom, ProducesDistinctOutput) {
    SystemRandom pub;
    SystemRandom priv(SystemRandom::Stream::Private);
    EXPECT_NE(pub.bytes(32), pub.bytes(32));
    EXPECT_NE(priv.bytes(32), priv.bytes(32));
    EXPECT_TRUE(pub.bytes(0).empty());
}

}  // namespace
}  // namespace ikecluster::crypto
