#include "esp/replay_window.h"

#include <algorithm>
#include <bit>

namespace ikecluster::esp {

namespace {

// Blocks in the ring: enough that the window plus the block being filled at
// the top never share a block with bits that are still inside the window
// (RFC 6479 §2: one block more than the window needs), and a power of two so
// the index is a mask.
std::size_t block_count(std::size_t window) {
    return std::max<std::size_t>(2, std::bit_ceil(window / 64 + 1));
}

}  // namespace

ReplayWindow::ReplayWindow(std::size_t size, bool esn)
    : size_(std::bit_ceil(std::clamp(size, kMinSize, kMaxSize))),
      esn_(esn),
      block_mask_(block_count(size_) - 1),
      blocks_(block_count(size_), 0) {}

ReplayWindow::Check ReplayWindow::classify(std::uint32_t seq_low) const {
    std::uint64_t seq = seq_low;
    if (esn_) {
        // RFC 4303 Appendix A2.2: infer the high half from where the window
        // is. W = window size, T = highest received, Tl/Th its halves.
        const std::uint32_t tl = static_cast<std::uint32_t>(top_);
        const std::uint32_t th = static_cast<std::uint32_t>(top_ >> 32);
        const std::uint32_t w = static_cast<std::uint32_t>(size_);
        const std::uint32_t bottom = tl - w + 1;  // mod 2^32, as the RFC says
        std::uint32_t sh;
        if (tl >= w - 1) {
            // Case A: the window lies within one 2^32 subspace; a number
            // below it belongs to the next subspace.
            sh = seq_low >= bottom ? th : th + 1;
        } else {
            // Case B: the window straddles a subspace boundary; a number at
            // or above its (wrapped) bottom is from the previous subspace.
            if (seq_low >= bottom) {
                if (th == 0) return {Verdict::TOO_OLD, 0};  // before sequence number 1
                sh = th - 1;
            } else {
                sh = th;
            }
        }
        seq = (std::uint64_t{sh} << 32) | seq_low;
    }
    // Sequence number 0 is never sent: the first packet carries 1 (§3.3.3).
    if (seq == 0) return {Verdict::TOO_OLD, 0};
    if (seq > top_) return {Verdict::FRESH, seq};
    if (top_ - seq >= size_) return {Verdict::TOO_OLD, seq};
    return {(block(seq) & bit(seq)) != 0 ? Verdict::DUPLICATE : Verdict::FRESH, seq};
}

std::optional<std::uint64_t> ReplayWindow::check(std::uint32_t seq_low) const {
    const Check c = classify(seq_low);
    if (c.verdict != Verdict::FRESH) return std::nullopt;
    return c.seq;
}

bool ReplayWindow::accept(std::uint64_t seq) {
    if (seq == 0) return false;
    if (!esn_ && seq > 0xffffffffu) return false;
    if (seq > top_) {
        // Clear the blocks the window moves into; at most the whole ring.
        // Bits of the block holding the old top stay: they are still inside
        // the window.
        const std::uint64_t from = top_ >> 6;
        const std::uint64_t steps = std::min<std::uint64_t>((seq >> 6) - from, block_mask_ + 1);
        for (std::uint64_t i = 1; i <= steps; ++i)
            blocks_[(from + i) & block_mask_] = 0;
        top_ = seq;
    } else if (top_ - seq >= size_) {
        return false;
    }
    std::uint64_t& b = block(seq);
    if ((b & bit(seq)) != 0) return false;
    b |= bit(seq);
    return true;
}

bool ReplayWindow::raise_highest(std::uint64_t seq) {
    if (seq <= top_) return false;
    if (!esn_ && seq > 0xffffffffu) return false;
    // Everything up to `seq` counts as received: all blocks full, except the
    // bits above `seq` in its own block, which are fresh numbers that a later
    // accept() would not clear (it only clears blocks it moves into).
    std::fill(blocks_.begin(), blocks_.end(), ~std::uint64_t{0});
    block(seq) = ~std::uint64_t{0} >> (63 - (seq & 63));
    top_ = seq;
    return true;
}

}  // namespace ikecluster::esp
