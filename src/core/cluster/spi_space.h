// SPIs from disjoint per-member spaces (RFC 6027 §3.9).
//
// Every member of a tight cluster allocates IKE SPIs and inbound ESP SPIs for
// the same shared address. If two members drew from the same space, an SA the
// new active creates after a takeover could clash with one it inherited (or,
// in a split brain, with one the deposed member created meanwhile). The top
// four bits of every SPI are the member's index, so members never collide;
// the rest is random.
#pragma once

#include <cstdint>

#include "crypto/random.h"
#include "ike/engine.h"

namespace ikecluster::cluster {

inline constexpr unsigned kMemberBits = 4;
inline constexpr unsigned kMaxMembers = 1u << kMemberBits;  // 16

class MemberSpiAllocator final : public ike::SpiAllocator {
  public:
    // `member_index` < kMaxMembers.
    MemberSpiAllocator(crypto::Random& rng, unsigned member_index);
    std::uint64_t ike_spi() override;
    std::uint32_t child_spi() override;

  private:
    crypto::Random& rng_;
    unsigned index_;
};

// Which member allocated an SPI.
inline unsigned member_of_ike_spi(std::uint64_t spi) {
    return unsigned(spi >> (64 - kMemberBits));
}
inline unsigned member_of_child_spi(std::uint32_t spi) {
    return spi >> (32 - kMemberBits);
}

}  // namespace ikecluster::cluster
