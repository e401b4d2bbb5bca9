// Anti-replay window for one inbound ESP SA (RFC 4303 §3.4.3), kept the
// RFC 6479 way: a ring of 64-bit blocks indexed by sequence number, so
// advancing the window clears whole blocks instead of shifting a bitmap whose
// cost grows with the window size. Extended Sequence Numbers are supported
// (RFC 4303 Appendix A2): the high 32 bits, never sent, are inferred from the
// low 32 bits in the packet and the window position.
//
// Use in two steps, because the window must only move for packets whose ICV
// verified (§3.4.3: "the receive window is updated only if the integrity
// verification succeeds"), so forged packets cannot push it forward:
//
//   auto seq = window.check(esp_header.seq);   // before the ICV
//   if (!seq) drop;                            // duplicate or too old
//   ... verify ICV, decrypt ...
//   window.accept(*seq);                       // after it verified
//
// Nothing here allocates after construction. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace ikecluster::esp {

class ReplayWindow {
  public:
    static constexpr std::size_t kDefaultSize = 1024;
    static constexpr std::size_t kMinSize = 32;  // RFC 4303 §3.4.3: at least 32
    static constexpr std::size_t kMaxSize = std::size_t{1} << 20;

    enum class Verdict : std::uint8_t {
        FRESH,      // not seen and inside (or ahead of) the window
        DUPLICATE,  // seen already
        TOO_OLD,    // left of the window (or, with ESN, before sequence number 1)
    };
    struct Check {
        Verdict verdict = Verdict::FRESH;
        std::uint64_t seq = 0;  // the full (ESN-inferred) sequence number
    };

    // `size` packets are tracked behind the highest one received; it is
    // rounded up to a power of two and clamped to [kMinSize, kMaxSize]
    // (size() says what was used). `esn`: the SA negotiated Extended
    // Sequence Numbers.
    explicit ReplayWindow(std::size_t size = kDefaultSize, bool esn = false);

    // The full sequence number of a packet carrying `seq_low`, if it may be
    // processed; nullopt for a duplicate or a packet left of the window.
    // Changes nothing.
    std::optional<std::uint64_t> check(std::uint32_t seq_low) const;
    // The same with the reason for a refusal (for counters and logs).
    Check classify(std::uint32_t seq_low) const;

    // Records `seq` (from check()) as received, moving the window when it is
    // the new highest. Call only after the packet's ICV verified. Returns
    // false, changing nothing, if `seq` is 0, left of the window or already
    // recorded (so a second accept of the same number is harmless).
    bool accept(std::uint64_t seq);

    // The highest sequence number accepted so far (0 before the first).
    std::uint64_t highest() const { return top_; }
    // Resumes from a replicated high-water mark (a standby taking over the
    // SA, RFC 6311): afterwards every number <= `seq` counts as received and
    // anything above it is fresh. Numbers between the replicated mark and
    // what the old member really accepted are refused conservatively, so a
    // takeover can drop a few in-flight packets but never accepts a replay.
    // Only raises: a `seq` at or below highest() changes nothing and
    // returns false.
    bool raise_highest(std::uint64_t seq);

    std::size_t size() const { return size_; }
    bool esn() const { return esn_; }

  private:
    std::uint64_t& block(std::uint64_t seq) { return blocks_[(seq >> 6) & block_mask_]; }
    const std::uint64_t& block(std::uint64_t seq) const {
        return blocks_[(seq >> 6) & block_mask_];
    }
    static std::uint64_t bit(std::uint64_t seq) { return std::uint64_t{1} << (seq & 63); }

    std::size_t size_;
    bool esn_;
    std::uint64_t block_mask_;
    std::uint64_t top_ = 0;
    std::vector<std::uint64_t> blocks_;
};

}  // namespace ikecluster::esp
