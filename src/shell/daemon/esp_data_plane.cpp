#include "daemon/esp_data_plane.h"

#include <cerrno>

namespace ikecluster::daemon {

EspDataPlane::EspDataPlane(Logger& log, const config::DaemonConfig& cfg) : log_(log) {
    cfg_.tun_name = cfg.dataplane.tun_name;
    cfg_.mtu = cfg.dataplane.mtu;
    cfg_.replay_window = cfg.dataplane.replay_window;
    cfg_.manage_routes = cfg.dataplane.routes;
    cfg_.raw_esp = cfg.dataplane.raw_esp;
    cfg_.listen = cfg.listen;
    cfg_.natt_port = cfg.natt_port;
    cfg_.ike_port = cfg.ike_port;  // transport mode: IKE bypasses the TUN device
    if (cfg.cluster) {
        // Split-brain safety: this member only ever sends sequence numbers
        // from its own stripes (esp::SeqStripes, docs/ha.md).
        cfg_.stripes.shift = cfg.cluster->stripe_bits;
        cfg_.stripes.index = cfg.cluster->member_index();
        cfg_.stripes.count = cfg.cluster->member_count();
        // The virtual address is not on the interface while we are standby.
        cfg_.freebind = true;
    }
}

EspDataPlane::~EspDataPlane() {
    stop();
}

Status EspDataPlane::start(dp::DataPlane::IkeHandler on_ike) {
    auto d = dp::DataPlane::start(cfg_, std::move(on_ike));
    if (!d) return d.error();
    dp_ = std::move(*d);
    log_.info(Subsystem::DP, "data plane up: TUN {} (mtu {}), NAT-T port {}{}", dp_->tun_name(),
              cfg_.mtu, cfg_.natt_port, cfg_.raw_esp ? ", raw ESP" : "");
    return Ok{};
}

void EspDataPlane::stop() {
    dp_.reset();
}

Status EspDataPlane::send_udp(const Endpoint& local, const Endpoint& remote, BytesView data) {
    if (!dp_) return Error{0, "data plane not running"};
    return dp_->send_udp(local, remote, data);
}

std::vector<dp::Activity> EspDataPlane::take_activity() {
    return dp_ ? dp_->take_activity() : std::vector<dp::Activity>{};
}

std::vector<dp::DataPlane::UnknownSpi> EspDataPlane::take_unknown_spis() {
    return dp_ ? dp_->take_unknown_spis() : std::vector<dp::DataPlane::UnknownSpi>{};
}

std::vector<dp::RekeyRequest> EspDataPlane::take_rekey_requests() {
    return dp_ ? dp_->take_rekey_requests() : std::vector<dp::RekeyRequest>{};
}

dp::DataPlaneStats EspDataPlane::packet_stats() const {
    return dp_ ? dp_->stats() : dp::DataPlaneStats{};
}

void EspDataPlane::install(const ike::InstallChildSa& sa) {
    if (!dp_) return;
    if (auto st = dp_->install(sa); !st) {
        log_.error(Subsystem::DP, "cannot install Child SA {:08x}/{:08x}: {}", sa.child.spi_in,
                   sa.child.spi_out, st.error().what);
        return;
    }
    ++stats_.installs;
    log_.debug(Subsystem::DP, "installed Child SA in={:08x} out={:08x} peer={} {} {} mode",
               sa.child.spi_in, sa.child.spi_out, sa.remote.to_string(),
               sa.encap ? "ESP-in-UDP" : "raw ESP",
               sa.child.mode == ike::IpsecMode::TRANSPORT ? "transport" : "tunnel");
}

void EspDataPlane::adjust(const ike::AdjustChildCounters& a) {
    if (!dp_) return;
    dp_->adjust(a);
    log_.info(Subsystem::DP, "Child SA in={:08x} out={:08x}: {} (RFC 6311)", a.spi_in, a.spi_out,
              a.out_advance
                  ? "outbound sequence numbers advanced by " + std::to_string(a.out_advance)
                  : "inbound replay floor raised to " + std::to_string(a.in_floor));
}

void EspDataPlane::remove(const ike::RemoveChildSa& sa) {
    if (!dp_) return;
    dp_->remove(sa);
    ++stats_.removals;
    log_.debug(Subsystem::DP, "removed Child SA in={:08x} out={:08x}", sa.spi_in, sa.spi_out);
}

void EspDataPlane::flush() {
    if (!dp_) return;
    auto failed = dp_->flush_routes();
    if (failed.empty()) return;
    // A takeover may fail thousands at once (the TUN device went away):
    // a few lines name the routes, one more counts the rest.
    constexpr std::size_t kNamed = 8;
    std::size_t named = 0;
    for (const auto& f : failed) {
        // Deleting a route someone else already removed is harmless.
        if (!f.add && (f.err == ESRCH || f.err == ENOENT)) {
            log_.debug(Subsystem::DP, "route to {} was already gone", f.prefix.to_string());
            continue;
        }
        if (named++ < kNamed)
            log_.error(Subsystem::DP, "cannot {} route to {} via {}: {}", f.add ? "add" : "delete",
                       f.prefix.to_string(), dp_->tun_name(), f.what);
    }
    if (named > kNamed) log_.error(Subsystem::DP, "{} more route changes failed", named - kNamed);
}

void EspDataPlane::esp_in_udp(const Endpoint&, const Endpoint&, BytesView) {
    // The packet thread owns the NAT-T sockets, so ESP never reaches the IKE
    // side; nothing to do if a stray one does.
    ++stats_.esp_in_udp;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> EspDataPlane::counters(
    std::uint32_t spi_in) const {
    if (!dp_) return std::nullopt;
    auto c = dp_->counters(spi_in);
    if (!c) return std::nullopt;
    return std::make_pair(c->out_next_seq, c->in_highest);
}

}  // namespace ikecluster::daemon
