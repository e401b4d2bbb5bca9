#include "daemon/data_plane.h"

#include "daemon/describe.h"

namespace ikecluster::daemon {

void LoggingDataPlane::install(const ike::InstallChildSa& sa) {
    ++stats_.installs;
    log_.info(Subsystem::DP,
              "install child SA {} spi_in={:08x} spi_out={:08x} {} <-> {}{} (no data plane yet)",
              sa.child.config_name, sa.child.spi_in, sa.child.spi_out, sa.local.to_string(),
              sa.remote.to_string(), sa.encap ? " udp-encap" : "");
}

void LoggingDataPlane::remove(const ike::RemoveChildSa& sa) {
    ++stats_.removals;
    log_.info(Subsystem::DP, "remove child SA spi_in={:08x} spi_out={:08x} of IKE SA {}", sa.spi_in,
              sa.spi_out, spis_text(sa.ike));
}

void LoggingDataPlane::esp_in_udp(const Endpoint& local, const Endpoint& remote, BytesView packet) {
    ++stats_.esp_in_udp;
    log_.debug(Subsystem::DP, "dropping {} byte ESP-in-UDP packet {} -> {}: no data plane",
               packet.size(), remote.to_string(), local.to_string());
}

}  // namespace ikecluster::daemon
