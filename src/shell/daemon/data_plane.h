// Where Child SAs go once the engine has negotiated them. The ESP data plane
// (src/core/esp with TUN and raw sockets, written separately) implements this
// interface; until it is wired in, LoggingDataPlane records what it would do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "base/bytes.h"
#include "base/net.h"
#include "daemon/log.h"
#include "ike/engine.h"

namespace ikecluster::daemon {

struct DataPlaneStats {
    std::uint64_t installs = 0;
    std::uint64_t removals = 0;
    std::uint64_t esp_in_udp = 0;  // ESP datagrams seen on the NAT-T port
};

class DataPlane {
  public:
    virtual ~DataPlane() = default;
    // Both directions of one Child SA (keys, selectors, mode, encapsulation).
    virtual void install(const ike::InstallChildSa& sa) = 0;
    // Called for every SA that was installed, exactly once, when it goes.
    virtual void remove(const ike::RemoveChildSa& sa) = 0;
    // An ESP packet that arrived UDP-encapsulated on our NAT-T socket
    // (RFC 3948): the socket is shared with IKE, so the IKE shell hands these
    // over. `packet` starts at the SPI.
    virtual void esp_in_udp(const Endpoint& local, const Endpoint& remote, BytesView packet) = 0;
    virtual std::size_t installed() const = 0;
    // Outbound next sequence number and inbound replay high-water mark of a
    // Child SA (by our inbound SPI), for cluster checkpoints; nullopt when
    // this data plane does not track them.
    virtual std::optional<std::pair<std::uint64_t, std::uint64_t>> counters(
        std::uint32_t /*spi_in*/) const {
        return std::nullopt;
    }
    virtual DataPlaneStats stats() const = 0;
    // RFC 6311 counter moves (ike::AdjustChildCounters); a data plane that
    // keeps no counters ignores them.
    virtual void adjust(const ike::AdjustChildCounters& /*a*/) {}
    // Applies what install() and remove() may have left queued (the ESP
    // data plane batches its route changes). The dispatcher calls it after a
    // run of installs and removals, before the next datagram goes out and
    // before returning to the event loop. Nothing queued: nothing to do.
    virtual void flush() {}
};

// No forwarding: logs each command on the "dp" subsystem and counts SAs, so
// the control plane can run and be tested before the data plane exists.
class LoggingDataPlane final : public DataPlane {
  public:
    explicit LoggingDataPlane(Logger& log) : log_(log) {}
    void install(const ike::InstallChildSa& sa) override;
    void remove(const ike::RemoveChildSa& sa) override;
    void esp_in_udp(const Endpoint& local, const Endpoint& remote, BytesView packet) override;
    std::size_t installed() const override { return stats_.installs - stats_.removals; }
    DataPlaneStats stats() const override { return stats_; }

  private:
    Logger& log_;
    DataPlaneStats stats_;
};

}  // namespace ikecluster::daemon
