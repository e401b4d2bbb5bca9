// Time as the core sees it: a monotonic instant handed in by the shell (the
// daemon's steady clock or the simulator's virtual clock). The core never
// reads a clock itself.
#pragma once

#include <chrono>
#include <cstdint>

namespace ikecluster {

using Duration = std::chrono::nanoseconds;

struct Time {
    Duration since_epoch{0};

    static constexpr Time max() { return Time{Duration::max()}; }
    static constexpr Time from_ms(std::int64_t ms) { return Time{std::chrono::milliseconds(ms)}; }
    std::int64_t ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
    }

    friend constexpr Time operator+(Time t, Duration d) { return Time{t.since_epoch + d}; }
    friend constexpr Time operator-(Time t, Duration d) { return Time{t.since_epoch - d}; }
    friend constexpr Duration operator-(Time a, Time b) { return a.since_epoch - b.since_epoch; }
    friend constexpr auto operator<=>(Time, Time) = default;
};

}  // namespace ikecluster
