#include "cluster/spi_space.h"

#include <cassert>

namespace ikecluster::cluster {

MemberSpiAllocator::MemberSpiAllocator(crypto::Random& rng, unsigned member_index)
    : rng_(rng), index_(member_index) {
    assert(member_index < kMaxMembers);
}

std::uint64_t MemberSpiAllocator::ike_spi() {
    constexpr std::uint64_t low_mask = (std::uint64_t{1} << (64 - kMemberBits)) - 1;
    for (;;) {
        std::uint64_t s = (std::uint64_t{index_} << (64 - kMemberBits)) | (rng_.u64() & low_mask);
        if (s != 0) return s;  // RFC 7296 §3.1: an SPI of zero means "not yet known"
    }
}

std::uint32_t MemberSpiAllocator::child_spi() {
    constexpr std::uint32_t low_mask = (std::uint32_t{1} << (32 - kMemberBits)) - 1;
    for (;;) {
        std::uint32_t s = (std::uint32_t(index_) << (32 - kMemberBits)) | (rng_.u32() & low_mask);
        if (s >= 256) return s;  // RFC 4303 §2.1: 1-255 are reserved, 0 is never sent
    }
}

}  // namespace ikecluster::cluster
