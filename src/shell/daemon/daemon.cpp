#include "daemon/daemon.h"

#include <asio/post.hpp>

#include <csignal>

#include "daemon/describe.h"
#include "wire/esp.h"

namespace ikecluster::daemon {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

Daemon::Daemon(asio::io_context& io, ConfigStore& store, Logger& log, ServiceNotifier& notifier,
               DataPlane& dp)
    : io_(io),
      store_(store),
      log_(log),
      notifier_(notifier),
      dp_(dp),
      spis_(store.current().cluster ? std::make_unique<cluster::MemberSpiAllocator>(
                                          rng_, store.current().cluster->member_index())
                                    : nullptr),
      engine_(std::make_unique<ike::Engine>(store.current().engine, rng_, spis_.get())),
      udp_(io, log,
           [this](const Endpoint& l, const Endpoint& r, BytesView d) { on_datagram(l, r, d); }),
      dispatch_(udp_, dp, log),
      control_(io, log, [this](std::string_view line) { return handle_line(line); }),
      timer_(io,
             [this] {
                 engine_->on_timer(now());
                 pump();
             }),
      watchdog_(io),
      keepalive_(io),
      shutdown_timer_(io),
      signals_(io, SIGHUP, SIGTERM, SIGINT),
      started_(Clock::now()) {}

Daemon::~Daemon() = default;

Time Daemon::now() {
    return Time{std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch())};
}

Status Daemon::start() {
    const auto& cfg = store_.current();
    log_.set_levels(LogLevels::from_config(cfg));
    udp_.set_freebind(cfg.cluster.has_value());
    if (auto st = udp_.open(cfg.listen, cfg.ike_port, cfg.natt_port); !st) return st;
    if (auto st = control_.open(cfg.control_socket); !st) return st;
    log_.info(Subsystem::CTL, "control socket {}", cfg.control_socket);
    if (cfg.cluster) {
        ClusterShell::Hooks h;
        h.takeover = [this](const cluster::Takeover& t) { takeover(t); };
        h.stepdown = [this](const cluster::Stepdown& s) { stepdown(s); };
        h.sync_peers = [this](const cluster::SyncPeers& s) { sync_peers(s); };
        h.read_counters = [this](const std::vector<std::pair<ike::IkeSpis, std::uint32_t>>& kids) {
            std::vector<cluster::CounterCheckpoint> cps;
            cps.reserve(kids.size());
            for (const auto& [ike, spi] : kids) {
                if (auto c = dp_.counters(spi)) cps.push_back({ike, spi, c->first, c->second});
            }
            return cps;
        };
        h.cookie_secrets = [this] { return engine_->cookie_secrets(); };
        h.acked = [this] { release_held(); };
        // Not active yet: unknown IKE SPIs are not ours to answer for.
        engine_->set_unknown_spi_answers(false);
        cluster_ = std::make_unique<ClusterShell>(io_, log_, *cfg.cluster, rng_, std::move(h));
        dispatch_.set_observer([this](const ike::Event& e) { cluster_->on_engine_event(e); });
        if (auto st = cluster_->start(); !st) return st;
    }
    wait_signals();
    arm_watchdog();
    arm_keepalive();
    start_connections(cfg.engine.connections);
    notifier_.ready();
    notifier_.status("running");
    log_.info(Subsystem::IKE, "ikeclusterd ready with {} connection(s)",
              cfg.engine.connections.size());
    return Ok{};
}

bool Daemon::standby() const {
    return cluster_ && cluster_->node().role() != cluster::Role::ACTIVE;
}

void Daemon::start_connections(const std::vector<ike::ConnectionConfig>& conns) {
    // Only the active member talks to peers; a standby initiates what it
    // takes over, when it does (takeover()).
    if (standby()) return;
    for (const auto& c : conns) {
        bool start = false;
        for (const auto& ch : c.children)
            start = start || ch.start_action == ike::StartAction::START;
        if (!start) continue;
        auto r = engine_->initiate(now(), c.name);
        if (r) {
            log_.info(Subsystem::IKE, "initiating conn={} spi_i={:016x} (start_action)", c.name,
                      r->spi_i);
        } else {
            log_.error(Subsystem::IKE, "cannot initiate conn={}: {}", c.name, r.error().what);
        }
    }
    pump();
}

void Daemon::on_datagram(const Endpoint& local, const Endpoint& remote, BytesView data) {
    if (local.port == kEngineNattPort) {
        // Port 4500 carries IKE behind the non-ESP marker and ESP without it
        // (RFC 3948 §2.2); only the IKE part is the engine's.
        auto c = wire::classify_udp_encap(data);
        if (c && c->kind == wire::UdpEncapKind::NAT_KEEPALIVE) return;
        if (c && c->kind == wire::UdpEncapKind::ESP) {
            dp_.esp_in_udp(local, remote, c->payload);
            return;
        }
    }
    engine_->receive(now(), local, remote, data);
    pump();
}

void Daemon::post_natt_datagram(const Endpoint& local, const Endpoint& remote, Bytes data) {
    asio::post(io_, [this, local, remote, d = std::move(data)] {
        if (stopping_ && engine_->ike_sa_count() == 0) return;
        on_datagram(Endpoint{local.addr, kEngineNattPort}, remote, d);
    });
}

void Daemon::note_inbound_traffic(const ike::IkeSpis& spis) {
    engine_->note_inbound_traffic(now(), spis);
    pump();
}

void Daemon::report_invalid_spi(const IpAddress& remote, std::uint32_t spi) {
    log_.debug(Subsystem::DP, "ESP with unknown SPI {:08x} from {}", spi, remote.to_string());
    engine_->report_invalid_spi(now(), remote, spi);
    pump();
}

void Daemon::pump() {
    auto outs = engine_->take_outputs();
    if (!cluster_) {
        dispatch_.dispatch(std::move(outs));
        arm_timer();
        return;
    }
    // Hold-until-synced: SA installs and events go at once (the events feed
    // the sync channel through the dispatcher's observer); the datagrams of
    // this batch wait until every synced standby has acknowledged them, so
    // a takeover can never lose state a peer has already seen (RFC 6027
    // §3.3). A lone member (no synced standby) is never held up.
    std::vector<ike::Output> now_outs, later;
    for (auto& o : outs) {
        (std::holds_alternative<ike::SendDatagram>(o) ? later : now_outs).push_back(std::move(o));
    }
    dispatch_.dispatch(std::move(now_outs));
    if (!later.empty()) {
        held_.emplace_back(cluster_->node().ticket(), std::move(later));
    } else {
        cluster_->node().flush(now());
    }
    release_held();
    arm_timer();
}

void Daemon::release_held() {
    while (!held_.empty()) {
        auto st = cluster_->node().check(held_.front().first);
        if (st == cluster::ClusterNode::TicketState::PENDING) break;
        auto outs = std::move(held_.front().second);
        held_.pop_front();
        if (st == cluster::ClusterNode::TicketState::ACKED) {
            dispatch_.dispatch(std::move(outs));
        } else {
            log_.debug(Subsystem::CLUSTER,
                       "dropping {} IKE datagram(s): the standby went away "
                       "before it had their state",
                       outs.size());
        }
    }
}

void Daemon::takeover(const cluster::Takeover& t) {
    Time n = now();
    if (t.cookies) (void)engine_->import_cookie_secrets(*t.cookies);
    // Without a synced replica we may not be the only active member yet:
    // hold INVALID_IKE_SPI answers back for a while (Takeover::synced).
    engine_->set_unknown_spi_answers(true, t.synced ? n : n + std::chrono::seconds(30));
    std::size_t failed = 0;
    for (std::size_t i = 0; i < t.sas.size(); ++i) {
        const auto& sa = t.sas[i];
        const bool sync = i < t.peer_sync.size() && t.peer_sync[i];
        if (auto st = engine_->import_ike_sa(n, sa, t.counters[i], sync); !st) {
            ++failed;
            log_.error(Subsystem::CLUSTER, "cannot take over IKE SA {}: {}", spis_text(sa.spis),
                       st.error().what);
        }
    }
    if (failed) log_.error(Subsystem::CLUSTER, "{} IKE SA(s) not taken over", failed);
    std::size_t to_sync = 0;
    for (auto f : t.peer_sync)
        to_sync += f;
    if (to_sync)
        log_.info(Subsystem::CLUSTER,
                  "RFC 6311: {} IKE SA(s) will resynchronise message IDs and replay counters with "
                  "their peers",
                  to_sync);
    pump();
    // Connections this gateway starts itself and that came over without an
    // SA (none had been established yet) start now.
    std::vector<ike::ConnectionConfig> missing;
    for (const auto& c : engine_->config().connections) {
        bool have = false;
        for (const auto& s : engine_->established()) {
            const auto* st = engine_->find(s);
            have = have || (st && st->config_name == c.name);
        }
        if (!have) missing.push_back(c);
    }
    start_connections(missing);
}

void Daemon::sync_peers(const cluster::SyncPeers& s) {
    Time n = now();
    std::size_t started = 0;
    const std::uint64_t skipped0 = engine_->stats().peer_syncs_skipped;
    for (const auto& spis : s.sas) {
        // An SA that went meanwhile (deleted, rekeyed) needs no sync.
        if (engine_->sync_with_peer(n, spis, s.request)) ++started;
    }
    sync_started_ += started;
    log_.debug(Subsystem::CLUSTER,
               "RFC 6311: synchronising {} IKE SA(s) with their peers ({} so far); {} go on "
               "from the replica, their peers could not answer a message-ID sync",
               started, sync_started_, engine_->stats().peer_syncs_skipped - skipped0);
    pump();
}

void Daemon::stepdown(const cluster::Stepdown&) {
    // What we sent on each SA, so that a later takeover of ours starts
    // beyond it (the others may never have heard of it: a lost split brain).
    std::vector<cluster::CounterCheckpoint> cps;
    for (const auto& spis : engine_->established()) {
        const auto* st = engine_->find(spis);
        if (!st) continue;
        for (const auto& c : st->children) {
            if (auto k = dp_.counters(c.spi_in))
                cps.push_back({spis, c.spi_in, k->first, k->second});
        }
    }
    cluster_->node().on_checkpoints(now(), cps);
    engine_->forget_all();
    engine_->set_unknown_spi_answers(false);
    held_.clear();
    pump();
}

void Daemon::arm_timer() {
    timer_.arm(engine_->next_deadline());
}

void Daemon::arm_watchdog() {
    auto interval = notifier_.watchdog_interval();
    if (!interval) return;
    // Half the interval, as sd_watchdog_enabled(3) advises, so one slow
    // loop iteration does not get us killed.
    watchdog_.expires_after(*interval / 2);
    watchdog_.async_wait([this](std::error_code ec) {
        if (ec) return;
        notifier_.watchdog();
        arm_watchdog();
    });
}

// RFC 3948 §2.3: the side behind a NAT sends a one-octet keepalive on the
// NAT-T port so the NAT keeps the mapping; 20 s is the RFC's suggestion. We
// also send them when we forced encapsulation (the peer believes we are
// behind a NAT, and a NAT may in fact be there without changing addresses).
void Daemon::arm_keepalive() {
    keepalive_.expires_after(std::chrono::seconds(20));
    keepalive_.async_wait([this](std::error_code ec) {
        if (ec || stopping_) return;
        static const std::uint8_t kKeepalive[] = {0xff};
        for (const auto& s : engine_->established()) {
            const ike::IkeSaState* st = engine_->find(s);
            if (!st || !st->encap) continue;
            const ike::ConnectionConfig* conn = nullptr;
            for (const auto& c : engine_->config().connections) {
                if (c.name == st->config_name) conn = &c;
            }
            bool behind = (int(st->nat) & int(ike::NatState::LOCAL_BEHIND_NAT)) != 0;
            if (!behind && !(conn && conn->force_encap)) continue;
            if (udp_.send(Endpoint{st->local.addr, kEngineNattPort}, st->remote,
                          BytesView(kKeepalive, 1)))
                ++keepalives_sent_;
        }
        arm_keepalive();
    });
}

void Daemon::request_child_rekey(std::uint32_t spi_in) {
    const ike::IkeSaState* owner = owner_of_child(spi_in);
    if (!owner) return;
    log_.info(Subsystem::DP, "Child SA {:08x} is near the end of its sequence numbers: rekeying",
              spi_in);
    (void)engine_->rekey_child(now(), owner->spis, spi_in);
    pump();
}

void Daemon::wait_signals() {
    signals_.async_wait([this](std::error_code ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
            log_.info(Subsystem::CTL, "SIGHUP: reloading {}", store_.path());
            reload();
        } else {
            log_.info(Subsystem::CTL, "signal {}: deleting IKE SAs and stopping", sig);
            shutdown();
        }
        if (!stopping_ || sig == SIGHUP) wait_signals();
    });
}

json Daemon::reload() {
    notifier_.reloading();
    ++reloads_;
    auto r = store_.reload();
    notifier_.ready();
    if (!r) {
        log_.error(Subsystem::CTL, "reload failed, old configuration kept: {}", r.error().what);
        return error_reply("reload failed, old configuration kept: " + r.error().what);
    }
    const auto& cfg = store_.current();
    log_.set_levels(LogLevels::from_config(cfg));
    json reply = r->to_json();
    if (r->connections_changed()) {
        // New SAs use the new connections at once; established ones keep the
        // settings they were set up with until they are replaced
        // (Engine::reconfigure). SAs of removed connections are deleted.
        if (auto st = engine_->reconfigure(cfg.engine); !st) {
            log_.error(Subsystem::IKE, "engine rejected the new connections: {}", st.error().what);
            return error_reply("engine rejected the new connections: " + st.error().what);
        }
        std::size_t deleted = 0;
        for (const auto& spis : engine_->established()) {
            const ike::IkeSaState* sa = engine_->find(spis);
            if (sa && std::find(r->removed.begin(), r->removed.end(), sa->config_name) !=
                          r->removed.end()) {
                if (engine_->delete_ike(now(), spis)) ++deleted;
            }
        }
        reply["connections"] = "applied";
        reply["deleted_ike_sas"] = deleted;
        std::vector<ike::ConnectionConfig> fresh;
        for (const auto& c : cfg.engine.connections) {
            if (std::find(r->added.begin(), r->added.end(), c.name) != r->added.end())
                fresh.push_back(c);
        }
        start_connections(fresh);
    } else {
        reply["connections"] = "unchanged";
    }
    for (const auto& k : r->need_restart)
        log_.warn(Subsystem::CTL, "[daemon] {} changed: applies after restart", k);
    log_.info(Subsystem::CTL, "configuration reloaded from {}", store_.path());
    pump();
    return ok_reply(reply);
}

void Daemon::shutdown() {
    if (stopping_) return;
    stopping_ = true;
    notifier_.stopping();
    control_.close();
    if (cluster_) {
        // A cluster member does not delete its SAs on the way out: they
        // belong to the cluster. It steps down (its last heartbeat says so,
        // and a synced standby takes over at once), releases the address
        // and leaves.
        (void)cluster_->set_role(cluster::Role::STANDBY, true);
        log_.info(Subsystem::CLUSTER, "stopping: handing the SAs over to the cluster");
        shutdown_timer_.expires_after(std::chrono::milliseconds(300));
        shutdown_timer_.async_wait([this](std::error_code) {
            cluster_->stop();
            finish();
        });
        return;
    }
    auto sas = engine_->established();
    for (const auto& s : sas) {
        if (auto st = engine_->delete_ike(now(), s); !st)
            log_.debug(Subsystem::IKE, "delete {}: {}", spis_text(s), st.error().what);
    }
    log_.info(Subsystem::IKE, "deleting {} IKE SA(s) before exit", sas.size());
    pump();
    shutdown_deadline_ = Clock::now() + kShutdownGrace;
    shutdown_poll();
}

void Daemon::shutdown_poll() {
    if (engine_->ike_sa_count() == 0 || Clock::now() >= shutdown_deadline_) {
        if (engine_->ike_sa_count() != 0)
            log_.warn(Subsystem::IKE, "{} IKE SA(s) not confirmed deleted; exiting anyway",
                      engine_->ike_sa_count());
        finish();
        return;
    }
    shutdown_timer_.expires_after(std::chrono::milliseconds(50));
    shutdown_timer_.async_wait([this](std::error_code ec) {
        if (!ec) shutdown_poll();
    });
}

void Daemon::finish() {
    timer_.cancel();
    watchdog_.cancel();
    keepalive_.cancel();
    std::error_code ec;
    signals_.cancel(ec);
    udp_.close();
    io_.stop();
}

std::string Daemon::handle_line(std::string_view line) {
    ++control_requests_;
    auto req = parse_request(line);
    if (!req) {
        log_.debug(Subsystem::CTL, "bad request: {}", req.error().what);
        return error_reply(req.error().what).dump();
    }
    log_.debug(Subsystem::CTL, "request {}", request_json(*req).dump());
    return handle(*req).dump();
}

json Daemon::handle(const Request& r) {
    if (stopping_ && r.cmd != Command::LIST_SAS && r.cmd != Command::STATS)
        return error_reply("daemon is stopping");
    switch (r.cmd) {
        case Command::LIST_SAS:
            return list_sas();
        case Command::LIST_CONNS:
            return list_conns();
        case Command::STATS:
            return stats();
        case Command::RELOAD:
            return reload();
        case Command::INITIATE: {
            auto res = engine_->initiate(now(), r.conn);
            pump();
            if (!res) return error_reply(res.error().what);
            log_.info(Subsystem::CTL, "initiating conn={} spi_i={:016x}", r.conn, res->spi_i);
            return ok_reply({{"conn", r.conn}, {"spi_i", fmt::format("{:016x}", res->spi_i)}});
        }
        case Command::TERMINATE:
            return terminate(r.target);
        case Command::REKEY:
            return rekey(r.target);
        case Command::CLUSTER_STATUS:
            return cluster_status();
        case Command::SET_ROLE:
            return set_role(r);
    }
    return error_reply("unhandled command");
}

json Daemon::cluster_status() const {
    if (!cluster_) return error_reply("not a cluster member (no [cluster] section)");
    return ok_reply(cluster_->status());
}

json Daemon::set_role(const Request& r) {
    if (!cluster_) return error_reply("not a cluster member (no [cluster] section)");
    auto role = r.role == WantedRole::ACTIVE ? cluster::Role::ACTIVE : cluster::Role::STANDBY;
    if (auto st = cluster_->set_role(role, r.force); !st) return error_reply(st.error().what);
    log_.warn(Subsystem::CLUSTER, "role set to {} by control{}", role_name(r.role),
              r.force ? " (forced)" : "");
    return ok_reply(cluster_->status());
}

const ike::IkeSaState* Daemon::owner_of_child(std::uint32_t spi_in) const {
    for (const auto& s : engine_->established()) {
        const auto* st = engine_->find(s);
        if (!st) continue;
        for (const auto& c : st->children) {
            if (c.spi_in == spi_in) return st;
        }
    }
    return nullptr;
}

namespace {
// Runs `op` on each IKE SA a target names and reports which ones took it.
template <typename Op>
json on_ike_sas(const ike::Engine& e, const Target& t, Op op) {
    std::vector<ike::IkeSpis> which;
    if (t.ike) which.push_back(*t.ike);
    if (t.conn) {
        for (const auto& s : e.established()) {
            const auto* st = e.find(s);
            if (st && st->config_name == *t.conn) which.push_back(s);
        }
        if (which.empty()) return error_reply("no established IKE SA of conn '" + *t.conn + "'");
    }
    json done = json::array();
    for (const auto& s : which) {
        Status st = op(s);
        if (!st) return error_reply(spis_text(s) + ": " + st.error().what);
        done.push_back(spis_text(s));
    }
    return ok_reply({{"ike_sas", done}});
}
}  // namespace

json Daemon::terminate(const Target& t) {
    json reply;
    if (t.child) {
        const auto* owner = owner_of_child(*t.child);
        if (!owner) return error_reply("no Child SA with inbound SPI " + spi_text(*t.child));
        auto st = engine_->delete_child(now(), owner->spis, *t.child);
        if (!st) return error_reply(st.error().what);
        reply = ok_reply({{"child", spi_text(*t.child)}});
    } else {
        reply = on_ike_sas(*engine_, t,
                           [&](const ike::IkeSpis& s) { return engine_->delete_ike(now(), s); });
    }
    pump();
    return reply;
}

json Daemon::rekey(const Target& t) {
    json reply;
    if (t.child) {
        const auto* owner = owner_of_child(*t.child);
        if (!owner) return error_reply("no Child SA with inbound SPI " + spi_text(*t.child));
        auto st = engine_->rekey_child(now(), owner->spis, *t.child);
        if (!st) return error_reply(st.error().what);
        reply = ok_reply({{"child", spi_text(*t.child)}});
    } else {
        reply = on_ike_sas(*engine_, t,
                           [&](const ike::IkeSpis& s) { return engine_->rekey_ike(now(), s); });
    }
    pump();
    return reply;
}

json Daemon::list_sas() const {
    json sas = json::array();
    for (const auto& s : engine_->established()) {
        if (const auto* st = engine_->find(s)) sas.push_back(ike_sa_json(*st));
    }
    return ok_reply({{"ike_sas", sas}, {"half_open", engine_->half_open_count()}});
}

json Daemon::list_conns() const {
    json conns = json::array();
    // What the engine runs with, which differs from the file after a reload
    // until the engine can be reconfigured.
    for (const auto& c : engine_->config().connections)
        conns.push_back(connection_json(c));
    return ok_reply({{"connections", conns}});
}

json Daemon::stats() const {
    const auto& e = engine_->stats();
    const auto& d = dispatch_.stats();
    auto dp = dp_.stats();
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
    return ok_reply({{"uptime", uptime},
                     {"ike_sas", engine_->ike_sa_count()},
                     {"half_open", engine_->half_open_count()},
                     {"engine",
                      {{"datagrams_in", e.datagrams_in},
                       {"dropped", e.dropped},
                       {"retransmits_sent", e.retransmits_sent},
                       {"responses_resent", e.responses_resent},
                       {"established", e.established},
                       {"auth_failures", e.auth_failures},
                       {"cookies_sent", e.cookies_sent},
                       {"child_sas_created", e.child_sas_created},
                       {"ike_rekeys", e.ike_rekeys},
                       {"rekey_collisions", e.rekey_collisions},
                       {"deletes_received", e.deletes_received},
                       {"liveness_checks", e.liveness_checks}}},
                     {"net",
                      {{"received", udp_.received()},
                       {"sent", udp_.sent()},
                       {"send_errors", udp_.send_errors()}}},
                     {"dispatch",
                      {{"datagrams", d.datagrams},
                       {"installs", d.installs},
                       {"removals", d.removals},
                       {"events", d.events}}},
                     {"data_plane",
                      {{"installed", dp_.installed()},
                       {"nat_keepalives_sent", keepalives_sent_},
                       {"packets", dp_packet_stats_ ? dp_packet_stats_() : json::object()},
                       {"installs", dp.installs},
                       {"removals", dp.removals},
                       {"esp_in_udp", dp.esp_in_udp}}},
                     {"control", {{"requests", control_requests_}, {"reloads", reloads_}}}});
}

}  // namespace ikecluster::daemon
