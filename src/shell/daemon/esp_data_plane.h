// The daemon's DataPlane backed by the userspace ESP data plane
// (shell/dataplane): Child SAs the engine installs are forwarded there, the
// packet thread owns the NAT-T sockets, and IKE messages arriving on them come
// back to the daemon through the callback given to start().
#pragma once

#include <memory>

#include "config/config_file.h"
#include "daemon/data_plane.h"
#include "daemon/log.h"
#include "dataplane/dataplane.h"

namespace ikecluster::daemon {

class EspDataPlane final : public DataPlane {
  public:
    EspDataPlane(Logger& log, const config::DaemonConfig& cfg);
    ~EspDataPlane() override;

    // Opens the TUN device and the sockets and starts the packet thread.
    // Errors: no permission (CAP_NET_ADMIN / CAP_NET_RAW), port in use.
    Status start(dp::DataPlane::IkeHandler on_ike);
    // Stops the packet thread (before whatever on_ike points at goes away).
    void stop();

    // IKE on the NAT-T port goes out through the data plane's socket.
    Status send_udp(const Endpoint& local, const Endpoint& remote, BytesView data);
    std::vector<dp::Activity> take_activity();
    std::vector<dp::RekeyRequest> take_rekey_requests();
    std::vector<dp::DataPlane::UnknownSpi> take_unknown_spis();
    dp::DataPlaneStats packet_stats() const;

    void install(const ike::InstallChildSa& sa) override;
    void adjust(const ike::AdjustChildCounters& a) override;
    void remove(const ike::RemoveChildSa& sa) override;
    void flush() override;  // the queued routes, in batches; failures logged
    void esp_in_udp(const Endpoint& local, const Endpoint& remote, BytesView packet) override;
    std::size_t installed() const override { return stats_.installs - stats_.removals; }
    DataPlaneStats stats() const override { return stats_; }
    std::optional<std::pair<std::uint64_t, std::uint64_t>> counters(
        std::uint32_t spi_in) const override;

  private:
    Logger& log_;
    dp::DataPlaneConfig cfg_;
    std::unique_ptr<dp::DataPlane> dp_;
    DataPlaneStats stats_;
};

}  // namespace ikecluster::daemon
