#include "cluster/spi_space.h"

#include <gtest/gtest.h>

#include <set>

namespace ikecluster::cluster {
namespace {

TEST(MemberSpiAllocator, EveryMemberStaysInItsOwnSpace) {
    crypto::DeterministicRandom rng(7);
    for (unsigned m = 0; m < kMaxMembers; ++m) {
        MemberSpiAllocator a(rng, m);
        for (int i = 0; i < 2000; ++i) {
            std::uint64_t ike = a.ike_spi();
            std::uint32_t child = a.child_spi();
            ASSERT_NE(ike, 0u);
            ASSERT_GE(child, 256u);
            ASSERT_EQ(member_of_ike_spi(ike), m);
            ASSERT_EQ(member_of_child_spi(child), m);
        }
    }
}

TEST(MemberSpiAllocator, MembersNeverCollide) {
    // Same random stream for both: only the member bits keep them apart.
    crypto::DeterministicRandom r0(1), r1(1);
    MemberSpiAllocator a(r0, 0), b(r1, 1);
    std::set<std::uint32_t> seen;
    for (int i = 0; i < 5000; ++i) {
        seen.insert(a.child_spi());
        ASSERT_EQ(seen.count(b.child_spi()), 0u);
    }
}

}  // namespace
}  // namespace ikecluster::cluster
