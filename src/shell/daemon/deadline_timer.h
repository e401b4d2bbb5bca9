// An asio timer driven by a sans-IO object's next_deadline(): arm() it
// after every call into the object; it fires `fire` once the deadline
// passes. Re-arming with the same deadline costs nothing, Time::max()
// disarms. The core's Time is the steady clock's time since its epoch.
#pragma once

#include <chrono>
#include <functional>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "base/time.h"

namespace ikecluster::daemon {

class DeadlineTimer {
  public:
    DeadlineTimer(asio::io_context& io, std::function<void()> fire)
        : timer_(io), fire_(std::move(fire)) {}

    void arm(Time deadline) {
        if (deadline == armed_for_) return;
        armed_for_ = deadline;
        if (deadline == Time::max()) {
            timer_.cancel();
            return;
        }
        using Clock = std::chrono::steady_clock;
        timer_.expires_at(
            Clock::time_point(std::chrono::duration_cast<Clock::duration>(deadline.since_epoch)));
        timer_.async_wait([this](std::error_code ec) {
            if (ec) return;  // re-armed or cancelled
            armed_for_ = Time::max();
            fire_();
        });
    }
    void cancel() {
        armed_for_ = Time::max();
        timer_.cancel();
    }

  private:
    asio::steady_timer timer_;
    std::function<void()> fire_;
    Time armed_for_ = Time::max();
};

}  // namespace ikecluster::daemon
