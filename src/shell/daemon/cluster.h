// The daemon's side of a hot-standby cluster (docs/ha.md): the sync socket,
// the ClusterNode's timer, the virtual addresses, and what a takeover or a
// step-down does to the engine and the data plane.
//
// Everything runs on the daemon's io_context thread, like the engine.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "cluster/node.h"
#include "config/config_file.h"
#include "crypto/random.h"
#include "daemon/deadline_timer.h"
#include "daemon/log.h"
#include "ike/engine.h"
#include "net/vip.h"

namespace ikecluster::daemon {

class ClusterShell {
  public:
    // What the daemon does for the cluster.
    struct Hooks {
        // The member became active: import these SAs, claim the address.
        std::function<void(const cluster::Takeover&)> takeover;
        // The member was deposed: forget every SA silently.
        std::function<void(const cluster::Stepdown&)> stepdown;
        // RFC 6311 syncs to start now (paced by the node after a takeover).
        std::function<void(const cluster::SyncPeers&)> sync_peers;
        // ESP counters of these Child SAs from the data plane.
        std::function<std::vector<cluster::CounterCheckpoint>(
            const std::vector<std::pair<ike::IkeSpis, std::uint32_t>>&)>
            read_counters;
        std::function<ike::CookieSecrets()> cookie_secrets;
        // Sync acknowledgements arrived: held IKE datagrams may go out.
        std::function<void()> acked;
    };

    ClusterShell(asio::io_context& io, Logger& log, const config::ClusterSettings& cfg,
                 crypto::Random& rng, Hooks hooks);
    ~ClusterShell();

    // Binds the sync socket, releases any virtual address a previous run
    // left behind (a member killed with -9 cannot remove it), starts the
    // membership. Errors: the socket cannot be bound, bad settings.
    Status start();
    // Clean stop: the address goes, the socket closes.
    void stop();

    void on_engine_event(const ike::Event& e);
    cluster::ClusterNode& node() { return *node_; }
    const cluster::ClusterNode& node() const { return *node_; }

    nlohmann::json status() const;
    Status set_role(cluster::Role r, bool force);

  private:
    static Time now();
    void receive_loop();
    void pump();
    void arm_timer();
    void claim_addresses();
    void release_addresses();
    void announce_later(int remaining);

    Logger& log_;
    config::ClusterSettings cfg_;
    crypto::Random& rng_;
    Hooks hooks_;
    std::unique_ptr<cluster::ClusterNode> node_;
    asio::ip::udp::socket sock_;
    asio::ip::udp::endpoint from_;
    std::vector<std::uint8_t> buf_;
    DeadlineTimer timer_;  // the node's next deadline
    asio::steady_timer announce_timer_;
    std::unique_ptr<net::VirtualIp> vip_;
    std::uint64_t unknown_sources_ = 0;
    std::uint64_t send_errors_ = 0;
    std::chrono::steady_clock::time_point role_since_;
};

}  // namespace ikecluster::daemon
