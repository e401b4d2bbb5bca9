// Output dispatch: what the engine asks for, handed to whoever does it --
// datagrams to the sockets, Child SAs to the data plane, events to the log
// (and, later, to the cluster layer through the observer).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "daemon/data_plane.h"
#include "daemon/log.h"
#include "daemon/udp.h"
#include "ike/engine.h"

namespace ikecluster::daemon {

struct DispatchStats {
    std::uint64_t datagrams = 0;
    std::uint64_t send_errors = 0;
    std::uint64_t installs = 0;
    std::uint64_t removals = 0;
    std::uint64_t events = 0;
};

class OutputDispatcher {
  public:
    using EventObserver = std::function<void(const ike::Event&)>;

    OutputDispatcher(DatagramSender& net, DataPlane& dp, Logger& log)
        : net_(net), dp_(dp), log_(log) {}

    // The cluster layer subscribes here; called after the event is logged.
    void set_observer(EventObserver o) { observer_ = std::move(o); }

    // In order: the engine emits an install before the datagram that lets
    // the peer use the SA, and keeping that order matters once ESP is real.
    // The data plane is flushed (DataPlane::flush) after installs and
    // removals, before the next datagram and before returning.
    void dispatch(std::vector<ike::Output> outputs);
    const DispatchStats& stats() const { return stats_; }

  private:
    DatagramSender& net_;
    DataPlane& dp_;
    Logger& log_;
    EventObserver observer_;
    DispatchStats stats_;
};

}  // namespace ikecluster::daemon
