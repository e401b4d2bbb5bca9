#include "daemon/cluster.h"

#include <asio/ip/address.hpp>

#include <algorithm>

#include "daemon/describe.h"

namespace ikecluster::daemon {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxSyncDatagram = 65535;

// The control protocol speaks lower case ("active", "standby"), as set-role does.
const char* role_text(cluster::Role r) {
    return r == cluster::Role::ACTIVE ? "active" : "standby";
}

asio::ip::address to_asio(const IpAddress& a) {
    return asio::ip::make_address(a.to_string());
}

cluster::NodeConfig node_config(const config::ClusterSettings& c) {
    cluster::NodeConfig nc;
    nc.membership.self = c.member_id;
    nc.membership.priority = c.priority;
    for (const auto& m : c.members) {
        if (m.id != c.member_id) nc.membership.peers.push_back(m.id);
    }
    nc.membership.heartbeat = c.heartbeat;
    nc.membership.dead_after = int(c.dead_after);
    nc.membership.preempt = c.preempt;
    nc.membership.external = c.role_control == config::RoleControl::EXTERNAL;
    for (const auto& k : c.keys)
        nc.keys.push_back(cluster::ClusterKey{k.id, k.secret});
    nc.checkpoint_interval = c.checkpoint_interval;
    nc.seq_margin = c.seq_margin;
    nc.peer_sync = c.peer_sync == config::ClusterSettings::PeerSync::ALWAYS
                       ? cluster::PeerSyncMode::ALWAYS
                   : c.peer_sync == config::ClusterSettings::PeerSync::SUSPECTED
                       ? cluster::PeerSyncMode::SUSPECTED
                       : cluster::PeerSyncMode::NEVER;
    nc.peer_sync_rate = c.peer_sync_rate;
    nc.withhold_msgids = c.test_withhold_msgids;
    nc.stripes.shift = c.stripe_bits;
    nc.stripes.index = c.member_index();
    nc.stripes.count = c.member_count();
    return nc;
}

}  // namespace

ClusterShell::ClusterShell(asio::io_context& io, Logger& log, const config::ClusterSettings& cfg,
                           crypto::Random& rng, Hooks hooks)
    : log_(log),
      cfg_(cfg),
      rng_(rng),
      hooks_(std::move(hooks)),
      sock_(io),
      buf_(kMaxSyncDatagram),
      timer_(io,
             [this] {
                 node_->on_timer(now());
                 pump();
             }),
      announce_timer_(io),
      role_since_(Clock::now()) {}

ClusterShell::~ClusterShell() = default;

Time ClusterShell::now() {
    return Time{std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch())};
}

Status ClusterShell::start() {
    auto node = cluster::ClusterNode::create(node_config(cfg_), rng_, now());
    if (!node) return Error{0, "cluster: " + node.error().what};
    node_ = std::make_unique<cluster::ClusterNode>(std::move(*node));

    const config::ClusterMember* self = &cfg_.self();
    std::error_code ec;
    asio::ip::udp::endpoint ep(to_asio(self->address), cfg_.sync_port);
    sock_.open(ep.protocol(), ec);
    if (!ec) sock_.bind(ep, ec);
    if (ec) {
        return Error{0, "cluster: cannot bind the sync socket to " + self->address.to_string() +
                            ":" + std::to_string(cfg_.sync_port) + ": " + ec.message()};
    }
    auto vip = net::VirtualIp::open(cfg_.interface, cfg_.virtual_ips);
    if (!vip) return Error{0, "cluster: " + vip.error().what};
    vip_ = std::make_unique<net::VirtualIp>(std::move(*vip));
    if (cfg_.test_withhold_msgids)
        log_.warn(Subsystem::CLUSTER,
                  "test_withhold_msgids is set: message-ID updates are NOT replicated (testing "
                  "only; a takeover then relies on RFC 6311)");
    // A member killed with -9 leaves its address on the interface; we are
    // not active (yet), so it must go before anyone else claims it.
    release_addresses();
    log_.info(Subsystem::CLUSTER, "member {} of {} (priority {}, {} role control), sync on {}:{}",
              cfg_.member_id, cfg_.members.size(), int(cfg_.priority),
              cfg_.role_control == config::RoleControl::EXTERNAL ? "external" : "built-in",
              self->address.to_string(), cfg_.sync_port);
    receive_loop();
    pump();
    return Ok{};
}

void ClusterShell::stop() {
    timer_.cancel();
    announce_timer_.cancel();
    std::error_code ec;
    sock_.close(ec);
    if (node_ && node_->role() == cluster::Role::ACTIVE) release_addresses();
}

void ClusterShell::receive_loop() {
    sock_.async_receive_from(asio::buffer(buf_), from_, [this](std::error_code ec, std::size_t n) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            auto addr = IpAddress::parse(from_.address().to_string());
            std::optional<std::uint16_t> member;
            if (addr && from_.port() == cfg_.sync_port) {
                for (const auto& m : cfg_.members) {
                    if (m.address == *addr && m.id != cfg_.member_id) member = m.id;
                }
            }
            if (member) {
                node_->receive(now(), *member, BytesView(buf_.data(), n));
                pump();
            } else {
                ++unknown_sources_;
            }
        }
        receive_loop();
    });
}

void ClusterShell::on_engine_event(const ike::Event& e) {
    node_->on_engine_event(now(), e);
}

void ClusterShell::pump() {
    for (auto& a : node_->take_actions()) {
        if (auto* t = std::get_if<cluster::Takeover>(&a)) {
            role_since_ = Clock::now();
            log_.warn(Subsystem::CLUSTER, "taking over as active, epoch {}: {} ({} IKE SAs)",
                      t->epoch, t->reason, t->sas.size());
            auto t0 = Clock::now();
            claim_addresses();
            hooks_.takeover(*t);
            auto us =
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
            log_.warn(Subsystem::CLUSTER, "takeover done in {} us: {} IKE SAs imported", us,
                      t->sas.size());
        } else if (auto* r = std::get_if<cluster::Reassert>(&a)) {
            log_.warn(Subsystem::CLUSTER,
                      "member {} {} (our epoch {}): announcing the virtual address again", r->rival,
                      r->claims_active ? "also claims to be active"
                                       : "is back after a silence and may have claimed it",
                      cluster::epoch_string(r->epoch));
            claim_addresses();
        } else if (auto* sp = std::get_if<cluster::SyncPeers>(&a)) {
            if (hooks_.sync_peers) hooks_.sync_peers(*sp);
        } else if (auto* s = std::get_if<cluster::Stepdown>(&a)) {
            role_since_ = Clock::now();
            log_.warn(Subsystem::CLUSTER, "stepping down to standby, epoch {}: {}", s->epoch,
                      s->reason);
            release_addresses();
            hooks_.stepdown(*s);
        }
    }
    if (node_->take_checkpoint_due()) {
        auto cps = hooks_.read_counters(node_->children());
        node_->on_checkpoints(now(), cps);
        node_->on_cookie_secrets(now(), hooks_.cookie_secrets());
    }
    for (auto& og : node_->take_datagrams()) {
        for (const auto& m : cfg_.members) {
            if (m.id != og.to) continue;
            std::error_code ec;
            sock_.send_to(asio::buffer(og.datagram),
                          asio::ip::udp::endpoint(to_asio(m.address), cfg_.sync_port), 0, ec);
            if (ec) ++send_errors_;
        }
    }
    if (hooks_.acked) hooks_.acked();
    arm_timer();
}

void ClusterShell::arm_timer() {
    timer_.arm(node_->next_deadline());
}

void ClusterShell::claim_addresses() {
    if (auto st = vip_->add(); !st) {
        log_.error(Subsystem::CLUSTER, "cannot add the virtual address: {}", st.error().what);
    }
    // Neighbours must learn the new owner at once (gratuitous ARP /
    // unsolicited NA); a few repeats cover a lost announcement.
    announce_later(3);
}

void ClusterShell::announce_later(int remaining) {
    if (auto st = vip_->announce(); !st) {
        log_.warn(Subsystem::CLUSTER, "announcing the virtual address: {}", st.error().what);
    }
    if (remaining <= 1) return;
    announce_timer_.expires_after(std::chrono::milliseconds(200));
    announce_timer_.async_wait([this, remaining](std::error_code ec) {
        if (ec || !node_ || node_->role() != cluster::Role::ACTIVE) return;
        announce_later(remaining - 1);
    });
}

void ClusterShell::release_addresses() {
    if (auto st = vip_->remove(); !st) {
        log_.warn(Subsystem::CLUSTER, "removing the virtual address: {}", st.error().what);
    }
}

Status ClusterShell::set_role(cluster::Role r, bool force) {
    Status st = node_->set_role(now(), r, force);
    pump();
    return st;
}

json ClusterShell::status() const {
    const auto& n = *node_;
    json members = json::array();
    auto since = [](Time t) -> json {
        if (t == Time{}) return nullptr;
        return (now() - t).count() / 1000000;
    };
    for (const auto& v : n.membership().members()) {
        json m{{"id", v.id},       {"alive", v.alive},       {"role", role_text(v.role)},
               {"epoch", v.epoch}, {"priority", v.priority}, {"synced", v.synced}};
        if (v.id == cfg_.member_id) {
            m["self"] = true;
        } else {
            m["link"] = n.link_established(v.id) ? "up" : "down";
            m["last_heard_ms"] = since(v.last_heard);
            if (const auto* ls = n.link_stats(v.id)) {
                m["sync"] = {{"datagrams_in", ls->datagrams_in},
                             {"datagrams_out", ls->datagrams_out},
                             {"bytes_in", ls->bytes_in},
                             {"bytes_out", ls->bytes_out},
                             {"retransmits", ls->retransmits},
                             {"auth_failures", ls->auth_failures},
                             {"replays", ls->replays}};
            }
        }
        members.push_back(m);
    }
    const auto& s = n.stats();
    auto role_secs =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - role_since_).count();
    return {
        {"member", cfg_.member_id},
        {"role", role_text(n.role())},
        {"role_seconds", role_secs},
        {"epoch", n.epoch()},
        {"synced", n.synced()},
        {"role_control",
         cfg_.role_control == config::RoleControl::EXTERNAL ? "external" : "builtin"},
        {"members", members},
        {"replica",
         {{"ike_sas", n.replica().ike_sa_count()}, {"child_sas", n.replica().child_sa_count()}}},
        {"stats",
         {{"records_sent", s.records_sent},
          {"records_applied", s.records_applied},
          {"records_rejected", s.records_rejected},
          {"records_ignored", s.records_ignored},
          {"records_malformed", s.records_malformed},
          {"bulk_sent", s.bulk_sent},
          {"bulk_received", s.bulk_received},
          {"checkpoints_sent", s.checkpoints_sent},
          {"takeovers", s.takeovers},
          {"stepdowns", s.stepdowns},
          {"unknown_sources", unknown_sources_},
          {"send_errors", send_errors_}}}};
}

}  // namespace ikecluster::daemon
