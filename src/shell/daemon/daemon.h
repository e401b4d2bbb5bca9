// ikeclusterd's control plane: one asio thread that owns the UDP sockets, the
// engine and its timer, the control socket, signals and the service
// manager's watchdog. Everything the engine outputs goes through the
// OutputDispatcher; Child SAs go to the DataPlane it was given.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "cluster/spi_space.h"
#include "crypto/random.h"
#include "daemon/cluster.h"
#include "daemon/config_store.h"
#include "daemon/control.h"
#include "daemon/control_server.h"
#include "daemon/data_plane.h"
#include "daemon/deadline_timer.h"
#include "daemon/dispatch.h"
#include "daemon/log.h"
#include "daemon/notifier.h"
#include "daemon/udp.h"
#include "ike/engine.h"

namespace ikecluster::daemon {

// How long a clean stop waits for the peers to answer our Deletes.
inline constexpr std::chrono::milliseconds kShutdownGrace{2000};

class Daemon {
  public:
    Daemon(asio::io_context& io, ConfigStore& store, Logger& log, ServiceNotifier& notifier,
           DataPlane& dp);
    ~Daemon();

    // Binds the sockets and the control socket, installs signal handlers,
    // initiates connections with start_action = start, then reports READY.
    // Errors: a socket could not be bound (the caller exits).
    Status start();

    // The control protocol: one parsed request, one reply object.
    nlohmann::json handle(const Request& r);
    // One raw request line (what the control socket receives).
    std::string handle_line(std::string_view line);

    // SIGHUP and the reload command.
    nlohmann::json reload();
    // SIGTERM/SIGINT: Delete every IKE SA, wait for the answers (at most
    // kShutdownGrace), then stop the io_context.
    void shutdown();
    bool stopping() const { return stopping_; }

    // Calls back from the data plane (it runs on the same io_context):
    // authentic ESP seen on an SA, so no liveness check is due (§2.4)...
    void note_inbound_traffic(const ike::IkeSpis& spis);
    // A datagram the data plane's packet thread received on the NAT-T port
    // (IKE behind the non-ESP marker). Thread-safe: it is posted to the
    // daemon's thread. `local.port` is the configured NAT-T port.
    void post_natt_datagram(const Endpoint& local, const Endpoint& remote, Bytes data);
    // Before start(): the data plane owns the NAT-T sockets; IKE sent from
    // port 4500 goes through `natt`.
    void use_natt_sender(UdpTransport::NattSender natt) { udp_.set_natt_sender(std::move(natt)); }
    // The data plane's request to rekey a Child SA (by our inbound SPI)
    // before its sequence numbers run out (RFC 4303 §3.3.3).
    void request_child_rekey(std::uint32_t spi_in);
    // Packet counters of the data plane, for the stats command.
    void set_packet_stats(std::function<nlohmann::json()> f) { dp_packet_stats_ = std::move(f); }
    // ...and ESP on an SPI we have no SA for, which the engine may report
    // to the peer with INVALID_SPI (§1.5), rate-limited by the engine.
    void report_invalid_spi(const IpAddress& remote, std::uint32_t spi);

  private:
    static Time now();
    void on_datagram(const Endpoint& local, const Endpoint& remote, BytesView data);
    void pump();  // dispatch outputs, re-arm the engine timer
    void arm_timer();
    void arm_watchdog();
    void arm_keepalive();
    void wait_signals();
    void start_connections(const std::vector<ike::ConnectionConfig>& conns);
    bool standby() const;
    void release_held();
    void takeover(const cluster::Takeover& t);
    void stepdown(const cluster::Stepdown& s);
    void sync_peers(const cluster::SyncPeers& s);
    nlohmann::json cluster_status() const;
    nlohmann::json set_role(const Request& r);
    void shutdown_poll();
    void finish();
    nlohmann::json list_sas() const;
    nlohmann::json list_conns() const;
    nlohmann::json stats() const;
    nlohmann::json terminate(const Target& t);
    nlohmann::json rekey(const Target& t);
    // The established IKE SA that owns a Child SA with this inbound SPI.
    const ike::IkeSaState* owner_of_child(std::uint32_t spi_in) const;

    asio::io_context& io_;
    ConfigStore& store_;
    Logger& log_;
    ServiceNotifier& notifier_;
    DataPlane& dp_;
    crypto::SystemRandom rng_;
    // Cluster members allocate SPIs from their own space (RFC 6027 §3.9).
    std::unique_ptr<cluster::MemberSpiAllocator> spis_;
    std::unique_ptr<ike::Engine> engine_;
    std::unique_ptr<ClusterShell> cluster_;
    // IKE datagrams held until the standbys acknowledged the state they
    // reveal (ClusterNode::ticket), in order.
    std::deque<std::pair<cluster::ClusterNode::Ticket, std::vector<ike::Output>>> held_;
    std::uint64_t sync_started_ = 0;  // RFC 6311 syncs begun since start
    UdpTransport udp_;
    OutputDispatcher dispatch_;
    ControlServer control_;
    DeadlineTimer timer_;  // the engine's next deadline
    asio::steady_timer watchdog_;
    asio::steady_timer keepalive_;
    std::uint64_t keepalives_sent_ = 0;
    asio::steady_timer shutdown_timer_;
    asio::signal_set signals_;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point shutdown_deadline_;
    std::uint64_t control_requests_ = 0;
    std::uint64_t reloads_ = 0;
    std::function<nlohmann::json()> dp_packet_stats_;
};

}  // namespace ikecluster::daemon
