#include "sim/cluster_sim.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <sstream>

#include "cluster/node.h"
#include "cluster/spi_space.h"
#include "crypto/random.h"
#include "esp/esp_sa.h"
#include "ike/engine.h"
#include "ike/negotiate.h"
#include "wire/header.h"
#include "wire/message.h"

namespace ikecluster::sim {

namespace {

using namespace std::chrono_literals;
using cluster::ClusterNode;
using cluster::Role;

const IpAddress kVip = *IpAddress::parse("192.0.2.1");
constexpr Duration kTick = 2ms;
constexpr std::size_t kInnerSize = 40;

// Peers live in the shared address space (RFC 6598, 100.64.0.0/10): in a
// simulation nothing leaves the process, and it holds 4 million of them.
IpAddress peer_addr(int i) {
    return *IpAddress::parse("100." + std::to_string(64 + i / 65536) + "." +
                             std::to_string(i / 256 % 256) + "." + std::to_string(i % 256));
}

std::uint64_t mix(std::uint64_t seed, std::uint64_t salt) {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (salt + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// One Child SA in a data plane: the real ESP objects, so what the cluster
// replicates (keys, counters) is exercised for real.
struct DpChild {
    ike::IkeSpis ike;
    std::uint32_t spi_in = 0, spi_out = 0;
    std::optional<esp::OutboundSa> out;
    std::optional<esp::InboundSa> in;
};

struct Member {
    std::uint16_t id = 0;
    bool up = false;
    int generation = 0;
    std::unique_ptr<crypto::DeterministicRandom> rng;
    std::unique_ptr<cluster::MemberSpiAllocator> spis;
    std::unique_ptr<ike::Engine> engine;
    std::unique_ptr<ClusterNode> node;
    std::map<std::uint32_t, DpChild> dp;  // by spi_in
    // IKE datagrams held until the standbys have the state they reveal.
    std::deque<std::pair<ClusterNode::Ticket, ike::SendDatagram>> held;
    // How far this host's monotonic clock is ahead of the simulation's
    // (clock jumps); it survives a restart, like the host's clock.
    Duration clock_skew{0};
};

struct Peer {
    int index = 0;
    IpAddress addr;
    std::unique_ptr<crypto::DeterministicRandom> rng;
    std::unique_ptr<ike::Engine> engine;
    std::map<std::uint32_t, DpChild> dp;
    int handshakes = 0;
    bool initiated = false;
    Time last_esp_in{};
    Time last_ike_rekey{};
    std::uint64_t seen_retransmits = 0;
    ike::IkeSpis newest;
    std::optional<ike::SendDatagram> last_ike;  // for retransmission storms
};

class Sim {
  public:
    explicit Sim(const SimConfig& cfg) : cfg_(cfg), net_(mix(cfg.seed, 1)) {
        res_.seed = cfg.seed;
        setup_configs();
    }

    SimResult run() {
        for (int i = 0; i < cfg_.members; ++i) {
            members_.emplace_back();
            members_.back().id = std::uint16_t(i + 1);
        }
        for (Member& m : members_)
            start_member(m);
        for (int i = 0; i < cfg_.peers; ++i) {
            peers_.emplace_back();
            Peer& p = peers_.back();
            p.index = i;
            p.addr = peer_addr(i);
            p.rng = std::make_unique<crypto::DeterministicRandom>(mix(cfg_.seed, 1000 + i));
            p.engine = std::make_unique<ike::Engine>(peer_cfgs_[i], *p.rng);
            // Peers connect once the cluster has chosen its active member.
            // Spread over at most 8 s so that every peer is up before the faults.
            Duration stagger = std::min<Duration>(37ms, Duration(8s) / std::max(1, cfg_.peers));
            at(Time{} + 2s + i * stagger, [this, i] {
                Peer& pp = peers_[i];
                if (!pp.engine->initiate(now_, "gw")) violation("peer could not initiate");
                pp.initiated = true;
                drain_peer(pp);
            });
        }
        schedule_faults();
        Time end = Time{} + cfg_.duration;
        for (Time t{}; t <= end; t = t + kTick)
            at(t, [this] { tick(); });
        while (!events_.empty()) {
            auto ev = events_.top();
            events_.pop();
            now_ = ev.when;
            ev.fn();
        }
        final_checks();
        res_.sync_datagrams = sync_datagrams_;
        for (const Peer& p : peers_)
            res_.peer_syncs += p.engine->stats().peer_syncs_answered;
        return std::move(res_);
    }

  private:
    struct Ev {
        Time when;
        std::uint64_t order;
        std::function<void()> fn;
        bool operator<(const Ev& o) const {
            return when != o.when ? when > o.when : order > o.order;
        }
    };

    // A member's own clock (clock jumps move it ahead of the others').
    Time mnow(const Member& m) const { return now_ + m.clock_skew; }

    void at(Time t, std::function<void()> fn) { events_.push(Ev{t, next_order_++, std::move(fn)}); }
    bool chance(double p) { return p > 0 && double(net_.u32()) / 4294967296.0 < p; }
    Duration jitter(Duration max) {
        if (max.count() <= 0) return Duration{0};
        return Duration(Duration::rep(net_.u64() % std::uint64_t(max.count())));
    }
    void log(const std::string& s) {
        if (cfg_.timeline) {
            std::ostringstream o;
            o << "t=" << now_.ms() << "ms " << s;
            res_.timeline.push_back(o.str());
        }
    }
    // What peers see. Without partitions a peer must never notice anything.
    // A split brain can lose IKE state: the side that served the peers may
    // lose the epoch contest (the cure is RFC 6311, issue 6), so there these
    // count as disruptions; the safety invariants stay violations.
    void peer_problem(const std::string& s) {
        if (!peers_may_notice()) return violation(s);
        ++res_.peer_disruptions;
        log("peer disruption: " + s);
    }

    // Split brain is possible: a partition, or a clock jump long enough
    // for a standby to miss a live active's heartbeats (one interval short
    // of the dead interval is enough, with the next heartbeat in flight).
    bool peers_may_notice() const {
        if (cfg_.partitions > 0) return true;
        const auto& ms = cluster::NodeConfig{}.membership;
        return cfg_.clock_jumps > 0 && cfg_.max_clock_jump >= ms.heartbeat;
    }

    void violation(const std::string& s) {
        std::ostringstream o;
        o << "seed " << cfg_.seed << " t=" << now_.ms() << "ms: " << s;
        res_.violations.push_back(o.str());
        log("VIOLATION " + s);
    }

    void setup_configs() {
        auto ike_props =
            *ike::parse_proposals("aes128gcm16-prfsha256-x25519", ike::ProposalKind::IKE);
        auto esp_props = *ike::parse_proposals("aes128gcm16", ike::ProposalKind::ESP);
        // The gateway: one responder connection for every peer. Its own
        // lifetimes are long and it checks liveness rarely, so the requests
        // in this run come from the peers (see docs/ha.md on requests the
        // active had outstanding when it died: RFC 6311, issue 6).
        ike::ConnectionConfig gw;
        gw.name = "roadwarriors";
        gw.local_addrs = {kVip};
        gw.local_id = *ike::Identity::parse("gw.example");
        gw.psk = to_bytes("cluster simulator psk");
        gw.ike_proposals = ike_props;
        gw.ike_lifetimes = {24h, 25h, 0s};
        gw.dpd_delay = 0s;
        ike::ChildConfig gc;
        gc.name = "net";
        gc.local_ts = *ike::parse_ts_list("172.16.0.0/16");
        gc.remote_ts = *ike::parse_ts_list("10.0.0.0/8");
        gc.esp_proposals = esp_props;
        gc.lifetimes = {24h, 25h, 0s};
        gw.children.push_back(gc);
        member_cfg_.connections.push_back(gw);
        // The simulated peers are our engine, which draws IKE IVs at random:
        // they can answer every RFC 6311 sync (the guard is for strongSwan).
        member_cfg_.msgid_sync_guard_sequential_ivs = false;

        for (int i = 0; i < cfg_.peers; ++i) {
            ike::EngineConfig pc;
            ike::ConnectionConfig c;
            c.name = "gw";
            c.local_addrs = {peer_addr(i)};
            c.remote_addrs = {kVip};
            c.local_id = *ike::Identity::parse("peer" + std::to_string(i) + ".example");
            c.remote_id = *ike::Identity::parse("gw.example");
            c.psk = to_bytes("cluster simulator psk");
            c.ike_proposals = ike_props;
            c.ike_lifetimes = {cfg_.ike_rekey, cfg_.ike_rekey * 2, cfg_.ike_rekey / 5};
            c.dpd_delay = 5s;
            ike::ChildConfig ch;
            ch.name = "net";
            ch.local_ts = *ike::parse_ts_list("10." + std::to_string(i / 250) + "." +
                                              std::to_string(i % 250) + ".0/24");
            ch.remote_ts = *ike::parse_ts_list("172.16.0.0/16");
            ch.esp_proposals = esp_props;
            ch.lifetimes = {cfg_.child_rekey, cfg_.child_rekey * 2, cfg_.child_rekey / 5};
            // A client wants its tunnel up: a child the cluster lost is
            // negotiated again (Engine: INVALID_SPI, CHILD_SA_NOT_FOUND).
            ch.start_action = ike::StartAction::START;
            c.children.push_back(ch);
            pc.connections.push_back(c);
            // The peers give up on a silent gateway after about 20 s.
            pc.retransmit.timeout = 1s;
            pc.retransmit.base = 1.5;
            pc.retransmit.tries = 5;
            peer_cfgs_.push_back(pc);
        }
    }

    cluster::NodeConfig node_config(const Member& m) const {
        cluster::NodeConfig nc;
        nc.membership.self = m.id;
        nc.membership.priority = std::uint8_t(200 - m.id);
        for (const Member& o : members_) {
            if (o.id != m.id) nc.membership.peers.push_back(o.id);
        }
        nc.keys = {cluster::ClusterKey{1, Bytes(32, 0x5a)}};
        nc.stripes.shift = 20;
        nc.stripes.index = std::uint16_t(m.id - 1);
        nc.stripes.count = std::uint16_t(cfg_.members);
        nc.seq_margin = 4096;
        nc.withhold_msgids = cfg_.withhold_msgids;
        nc.peer_sync = cfg_.peer_sync == SimConfig::PeerSync::ALWAYS ? cluster::PeerSyncMode::ALWAYS
                       : cfg_.peer_sync == SimConfig::PeerSync::SUSPECTED
                           ? cluster::PeerSyncMode::SUSPECTED
                           : cluster::PeerSyncMode::NEVER;
        return nc;
    }

    void start_member(Member& m) {
        m.generation++;
        m.rng = std::make_unique<crypto::DeterministicRandom>(
            mix(cfg_.seed, 100 * m.id + std::uint64_t(m.generation)));
        m.spis = std::make_unique<cluster::MemberSpiAllocator>(*m.rng, m.id - 1u);
        m.engine = std::make_unique<ike::Engine>(member_cfg_, *m.rng, m.spis.get());
        m.engine->set_unknown_spi_answers(false);  // until it takes over
        auto node = ClusterNode::create(node_config(m), *m.rng, mnow(m));
        if (!node) {
            violation("node create failed: " + node.error().what);
            return;
        }
        m.node = std::make_unique<ClusterNode>(std::move(*node));
        m.dp.clear();
        m.held.clear();
        m.up = true;
        log("member " + std::to_string(m.id) + " starts (generation " +
            std::to_string(m.generation) + ")");
    }

    void crash(Member& m) {
        if (!m.up) return;
        log("member " + std::to_string(m.id) + " crashes (role " +
            cluster::to_string(m.node->role()) + ")");
        // What each standby has acknowledged at this moment must survive.
        for (Member& o : members_) {
            if (!o.up || o.id == m.id) continue;
            auto& snap = acked_at_crash_[o.id];
            snap.clear();
            o.node->replica().for_each([&](const ike::IkeSaState& sa) { snap.insert(sa.spis); });
        }
        if (vip_holder_ == m.id) gap_start_ = now_;
        m.up = false;
        m.engine.reset();
        m.node.reset();
        m.dp.clear();
        m.held.clear();
        if (vip_holder_ == m.id) vip_holder_ = 0;
    }

    // Crashes the active member, if a synced standby is there to take over
    // (the cluster tolerates one failure at a time: with every replica gone
    // there is nothing to take over from). Otherwise retries a second later.
    void crash_active(int tries) {
        bool standby_ready = false;
        Member* active = nullptr;
        for (Member& m : members_) {
            if (!m.up) continue;
            if (m.node->role() == Role::ACTIVE) {
                active = &m;
            } else if (m.node->synced()) {
                standby_ready = true;
            }
        }
        if (!active || !standby_ready) {
            if (tries > 0) at(now_ + 1s, [this, tries] { crash_active(tries - 1); });
            return;
        }
        std::uint16_t id = active->id;
        crash(*active);
        at(now_ + cfg_.restart_after, [this, id] {
            Member& mm = members_[id - 1];
            if (!mm.up) start_member(mm);
        });
    }

    // Debugging aid: where a standby's replica differs from the active's
    // engine (message IDs may lag by the exchange in flight).
    void compare_replicas(Member& active) {
        for (Member& o : members_) {
            if (!o.up || o.id == active.id) continue;
            for (const auto& spis : active.engine->established()) {
                const auto* live = active.engine->find(spis);
                const auto* rep = o.node->replica().find(spis);
                if (!rep) {
                    log("member " + std::to_string(o.id) + " lacks IKE SA " +
                        std::to_string(spis.spi_i % 100000));
                    continue;
                }
                std::string d;
                if (live->keys != rep->keys) d += " keys";
                if (live->initiator != rep->initiator) d += " initiator";
                if (!(live->suite == rep->suite)) d += " suite";
                if (live->msgids.next_request_in != rep->msgids.next_request_in ||
                    live->msgids.next_request_out != rep->msgids.next_request_out)
                    d += " msgids";
                if (live->children.size() != rep->children.size()) d += " children";
                if (live->local_id != rep->local_id || live->remote_id != rep->remote_id)
                    d += " ids";
                if (!(live->local == rep->local) || !(live->remote == rep->remote))
                    d += " endpoints";
                if (!d.empty())
                    log("member " + std::to_string(o.id) + " replica of " +
                        std::to_string(spis.spi_i % 100000) + " differs:" + d);
            }
        }
    }

    void schedule_faults() {
        Duration window = cfg_.duration * 7 / 10 - 10s;
        if (window <= Duration{0}) return;
        for (int c = 0; c < cfg_.crashes; ++c) {
            Time t =
                Time{} + 10s + Duration(Duration::rep(net_.u64() % std::uint64_t(window.count())));
            at(t, [this] { crash_active(20); });
        }
        for (int p = 0; p < cfg_.partitions; ++p) {
            Time t =
                Time{} + 10s + Duration(Duration::rep(net_.u64() % std::uint64_t(window.count())));
            at(t, [this] {
                for (Member& m : members_) {
                    if (cfg_.timeline && m.up && m.node->role() == Role::ACTIVE)
                        compare_replicas(m);
                }
                partitioned_ = true;
                log("sync network partitioned");
            });
            at(t + cfg_.partition_length, [this] {
                partitioned_ = false;
                log("sync network healed");
            });
        }
        auto when = [&] {
            return Time{} + 10s +
                   Duration(Duration::rep(net_.u64() % std::uint64_t(window.count())));
        };
        for (int j = 0; j < cfg_.clock_jumps; ++j) {
            const std::uint64_t pick = net_.u64();
            const Duration by = 1ms + jitter(cfg_.max_clock_jump);
            at(when(), [this, pick, by] {
                Member& m = members_[pick % members_.size()];
                m.clock_skew += by;
                log("member " + std::to_string(m.id) + "'s clock jumps ahead by " +
                    std::to_string(by.count() / 1000000) + " ms");
            });
        }
        for (int j = 0; j < cfg_.storms; ++j) {
            at(when(), [this] {
                log("peers' retransmission storm");
                for (Peer& p : peers_) {
                    if (!p.last_ike) continue;
                    for (int c = 0; c < cfg_.storm_copies; ++c)
                        at(now_ + jitter(5ms), [this, d = *p.last_ike] { to_cluster(d); });
                }
            });
        }
        for (int j = 0; j < cfg_.floods; ++j) {
            const Time t = when();
            const std::size_t threshold = member_cfg_.cookie_threshold;
            at(t, [this] { log("half-open flood starts"); });
            for (int k = 0; k < cfg_.flood_size; ++k) {
                at(t + Duration(1s) * k / std::max(1, cfg_.flood_size),
                   [this, k, threshold] { flood_one(k, threshold); });
            }
            // The flood's half-open SAs are gone once they time out
            // (half_open_timeout, 30 s by default), if the run lasts that long.
            const Time check = t + 1s + member_cfg_.half_open_timeout + 2s;
            if (check >= Time{} + cfg_.duration) continue;
            at(check, [this] {
                if (Member* m = holder()) {
                    const std::size_t left = m->engine->half_open_count();
                    if (left > connecting_peers())
                        violation(
                            std::to_string(left) +
                            " half-open IKE SAs outlived the half-open timeout after a flood");
                }
            });
        }
    }

    std::size_t connecting_peers() const {
        std::size_t n = 0;
        for (const Peer& p : peers_)
            n += p.engine->established().empty() ? 1 : 0;
        return n;
    }

    // One spoofed IKE_SA_INIT request of a half-open flood: a fresh source
    // address (198.18.0.0/15, RFC 2544) and SPI each time, a valid offer
    // and key share, and the attacker never answers a COOKIE.
    void flood_one(int k, std::size_t threshold) {
        Member* m = holder();
        if (!m) return;
        wire::Message req;
        req.header.spi_i = net_.u64() | 1;
        req.header.exchange = std::uint8_t(ExchangeType::IKE_SA_INIT);
        req.header.flags = wire::kFlagInitiator;
        req.payloads.push_back(
            wire::make_payload(wire::PayloadType::SA,
                               ike::make_sa_payload(member_cfg_.connections[0].ike_proposals, {})));
        req.payloads.push_back(
            wire::make_payload(wire::PayloadType::KE,
                               wire::KePayload{std::uint16_t(DhId::CURVE25519), net_.bytes(32)}));
        req.payloads.push_back(
            wire::make_payload(wire::PayloadType::NONCE, wire::NoncePayload{net_.bytes(32)}));
        const IpAddress from =
            *IpAddress::parse("198." + std::to_string(18 + (k >> 16 & 1)) + "." +
                              std::to_string(k >> 8 & 0xff) + "." + std::to_string(k & 0xff));
        ++res_.flood_datagrams;
        m->engine->receive(mnow(*m), Endpoint{kVip, 500}, Endpoint{from, 500},
                           wire::encode_message(req));
        drain_member(*m);
        const std::size_t half_open = m->engine->half_open_count();
        res_.max_half_open = std::max(res_.max_half_open, half_open);
        // §2.6: above the threshold the responder keeps no state for an
        // IKE_SA_INIT without a valid cookie.
        if (half_open > threshold + 1 && half_open > threshold + 1 + connecting_peers())
            violation("half-open flood: the active holds " + std::to_string(half_open) +
                      " half-open IKE SAs (cookie threshold " + std::to_string(threshold) + ")");
    }

    // ---- the network -------------------------------------------------------

    void to_cluster(const ike::SendDatagram& d) {
        if (cfg_.timeline && std::getenv("IKEC_SIM_TRACE_IKE")) {
            if (auto h = wire::decode_header(d.data)) {
                log("IKE " + d.local.addr.to_string() + " -> cluster: exchange " +
                    std::to_string(int(h->exchange_type())) + " id " +
                    std::to_string(h->message_id) + (h->is_response() ? " response" : " request") +
                    " len " + std::to_string(d.data.size()));
            }
        }
        if (chance(cfg_.peer_loss)) return;
        at(now_ + cfg_.peer_delay, [this, d] {
            Member* m = holder();
            if (!m) return;
            auto before = m->engine->stats().dropped;
            m->engine->receive(mnow(*m), d.remote, d.local, d.data);
            if (cfg_.timeline && m->engine->stats().dropped != before) {
                std::string why;
                if (auto h = wire::decode_header(d.data)) {
                    ike::IkeSpis sp{h->spi_i, h->spi_r};
                    why = " id=" + std::to_string(h->message_id) +
                          " resp=" + std::to_string(h->is_response()) +
                          " spi_i=" + std::to_string(h->spi_i % 100000);
                    if (const auto* st = m->engine->find(sp)) {
                        why += " known: in=" + std::to_string(st->msgids.next_request_in) +
                               " last_resp=" + std::to_string(st->msgids.last_response_id);
                    } else {
                        why += " unknown SA";
                    }
                }
                log("member " + std::to_string(m->id) + " dropped an IKE datagram from " +
                    d.local.addr.to_string() + why);
            }
            drain_member(*m);
        });
    }
    void to_peer(const ike::SendDatagram& d) {
        if (cfg_.timeline && std::getenv("IKEC_SIM_TRACE_IKE")) {
            if (auto h = wire::decode_header(d.data)) {
                log("IKE cluster -> " + d.remote.addr.to_string() + ": exchange " +
                    std::to_string(int(h->exchange_type())) + " id " +
                    std::to_string(h->message_id) + (h->is_response() ? " response" : " request") +
                    " len " + std::to_string(d.data.size()));
            }
        }
        if (chance(cfg_.peer_loss)) return;
        at(now_ + cfg_.peer_delay, [this, d] {
            for (Peer& p : peers_) {
                if (p.addr == d.remote.addr) {
                    p.engine->receive(now_, d.remote, d.local, d.data);
                    drain_peer(p);
                }
            }
        });
    }
    void to_member(std::uint16_t from, std::uint16_t to, Bytes dg) {
        ++sync_datagrams_;
        if (partitioned_ || chance(cfg_.sync_loss)) return;
        int copies = chance(cfg_.sync_duplicate) ? 2 : 1;
        for (int c = 0; c < copies; ++c) {
            int gen = members_[to - 1].generation;
            Duration delay = cfg_.sync_delay + jitter(cfg_.sync_jitter);
            if (chance(cfg_.sync_reorder)) delay += 1ms + jitter(19ms);
            Bytes copy = dg;
            if (!copy.empty() && chance(cfg_.sync_corrupt)) {
                // Anywhere: the header, the counter, the ciphertext or the tag.
                std::uint64_t bit = net_.u64() % (copy.size() * 8);
                copy[bit / 8] ^= std::uint8_t(1u << (bit % 8));
                ++res_.sync_corrupted;
            }
            at(now_ + delay, [this, from, to, dg = std::move(copy), gen] {
                Member& m = members_[to - 1];
                if (!m.up || m.generation != gen) return;
                m.node->receive(mnow(m), from, dg);
                drain_member(m);
            });
        }
    }
    Member* holder() {
        if (vip_holder_ == 0) return nullptr;
        Member& m = members_[vip_holder_ - 1];
        return m.up ? &m : nullptr;
    }

    // ---- members -------------------------------------------------------------

    void dp_install(std::map<std::uint32_t, DpChild>& dp, const ike::InstallChildSa& c,
                    const esp::SeqStripes& stripes) {
        DpChild d;
        d.ike = c.ike;
        d.spi_in = c.child.spi_in;
        d.spi_out = c.child.spi_out;
        esp::SaOptions o;
        o.stripes = stripes;
        auto out = esp::OutboundSa::create(c.child, o);
        auto in = esp::InboundSa::create(c.child, o);
        if (!out || !in) {
            violation("ESP SA could not be built");
            return;
        }
        d.out.emplace(std::move(*out));
        d.in.emplace(std::move(*in));
        if (c.out_next_seq > d.out->next_seq()) (void)d.out->set_next_seq(c.out_next_seq);
        if (c.in_highest > 0) d.in->window().raise_highest(c.in_highest);
        dp[d.spi_in] = std::move(d);
    }

    // RFC 6311 counter moves, as the daemon's data plane applies them.
    static void dp_adjust(std::map<std::uint32_t, DpChild>& dp, const ike::AdjustChildCounters& a) {
        auto it = dp.find(a.spi_in);
        if (it == dp.end()) return;
        if (a.out_advance)
            (void)it->second.out->set_next_seq(it->second.out->next_seq() + a.out_advance);
        if (a.in_floor) (void)it->second.in->window().raise_highest(a.in_floor);
    }

    void drain_member(Member& m) {
        if (!m.up) return;
        for (int guard = 0; guard < 100; ++guard) {
            bool any = false;
            auto outs = m.engine->take_outputs();
            std::vector<ike::SendDatagram> dgs;
            for (auto& o : outs) {
                any = true;
                if (auto* d = std::get_if<ike::SendDatagram>(&o)) {
                    dgs.push_back(std::move(*d));
                } else if (auto* c = std::get_if<ike::InstallChildSa>(&o)) {
                    dp_install(m.dp, *c, node_config(m).stripes);
                } else if (auto* r = std::get_if<ike::RemoveChildSa>(&o)) {
                    m.dp.erase(r->spi_in);
                } else if (auto* e = std::get_if<ike::Event>(&o)) {
                    m.node->on_engine_event(mnow(m), *e);
                } else if (auto* a = std::get_if<ike::AdjustChildCounters>(&o)) {
                    dp_adjust(m.dp, *a);
                }
            }
            if (!dgs.empty()) {
                auto t = m.node->ticket();
                for (auto& d : dgs)
                    m.held.emplace_back(t, std::move(d));
            }
            for (auto& a : m.node->take_actions()) {
                any = true;
                if (auto* t = std::get_if<cluster::Takeover>(&a)) {
                    takeover(m, *t);
                } else if (auto* sp = std::get_if<cluster::SyncPeers>(&a)) {
                    for (const auto& spis : sp->sas)
                        (void)m.engine->sync_with_peer(mnow(m), spis, sp->request);
                } else if (auto* r = std::get_if<cluster::Reassert>(&a)) {
                    log("member " + std::to_string(m.id) +
                        " reasserts the address against member " + std::to_string(r->rival));
                    vip_holder_ = m.id;
                } else if (auto* s = std::get_if<cluster::Stepdown>(&a)) {
                    log("member " + std::to_string(m.id) + " steps down: " + s->reason);
                    if (cfg_.timeline) {
                        for (const auto& [spi, d] : m.dp) {
                            log("  leaves child " + std::to_string(spi) + " (out SPI " +
                                std::to_string(d.spi_out) + ") at out " +
                                std::to_string(d.out->next_seq()));
                        }
                    }
                    m.node->on_checkpoints(mnow(m), checkpoints(m));
                    m.engine->forget_all();
                    m.engine->set_unknown_spi_answers(false);
                    m.held.clear();
                    if (vip_holder_ == m.id) vip_holder_ = 0;
                }
            }
            if (m.node->take_checkpoint_due()) {
                m.node->on_checkpoints(mnow(m), checkpoints(m));
                m.node->on_cookie_secrets(mnow(m), m.engine->cookie_secrets());
            }
            for (auto& og : m.node->take_datagrams()) {
                any = true;
                to_member(m.id, og.to, std::move(og.datagram));
            }
            while (!m.held.empty()) {
                auto st = m.node->check(m.held.front().first);
                if (st == ClusterNode::TicketState::PENDING) break;
                if (st == ClusterNode::TicketState::ACKED) to_peer(m.held.front().second);
                m.held.pop_front();
            }
            if (!any) return;
        }
    }

    static std::vector<cluster::CounterCheckpoint> checkpoints(const Member& m) {
        std::vector<cluster::CounterCheckpoint> cps;
        for (const auto& [spi, d] : m.dp) {
            cps.push_back({d.ike, spi, d.out->next_seq(), d.in->window().highest()});
        }
        return cps;
    }

    void takeover(Member& m, const cluster::Takeover& t) {
        ++res_.takeovers;
        log("member " + std::to_string(m.id) + " takes over, epoch " + std::to_string(t.epoch) +
            ", " + std::to_string(t.sas.size()) + " IKE SAs: " + t.reason);
        if (cfg_.timeline) {
            const auto& ns = m.node->stats();
            log("  node stats: applied " + std::to_string(ns.records_applied) + " rejected " +
                std::to_string(ns.records_rejected) + " ignored " +
                std::to_string(ns.records_ignored) + " malformed " +
                std::to_string(ns.records_malformed) + " bulks " +
                std::to_string(ns.bulk_received));
        }
        auto [it, fresh] = active_by_epoch_.emplace(t.epoch, m.id);
        if (!fresh && it->second != m.id) {
            violation("two members active in epoch " + std::to_string(t.epoch));
        }
        if (t.cookies) (void)m.engine->import_cookie_secrets(*t.cookies);
        m.engine->set_unknown_spi_answers(true, t.synced ? mnow(m) : mnow(m) + 30s);
        if (cfg_.timeline) {
            for (const auto& per_sa : t.counters) {
                for (const auto& c : per_sa) {
                    log("  resumes child " + std::to_string(c.spi_in) + " (member " +
                        std::to_string(m.id) + ") at out " + std::to_string(c.out_next_seq) +
                        ", in " + std::to_string(c.in_highest));
                }
            }
        }
        std::set<ike::IkeSpis> imported;
        for (std::size_t i = 0; i < t.sas.size(); ++i) {
            const auto& sa = t.sas[i];
            Status st = m.engine->import_ike_sa(mnow(m), sa, t.counters[i],
                                                i < t.peer_sync.size() && t.peer_sync[i]);
            if (!st) {
                violation("import of an IKE SA failed: " + st.error().what);
            } else {
                imported.insert(sa.spis);
            }
        }
        // What this member acknowledged before the active died must be here,
        // unless the peer has since removed it too, or is removing it: an
        // IKE SA the peer already replaced by a rekey goes with its Delete,
        // and the dead active may have accepted that Delete and replicated
        // it (the record still in flight at the crash) without the answer
        // reaching the peer. The peer then ends the old SA as REPLACED.
        for (const auto& spis : acked_at_crash_[m.id]) {
            if (imported.count(spis)) continue;
            for (Peer& p : peers_) {
                if (p.engine->find(spis) && !(p.newest != ike::IkeSpis{} && p.newest != spis)) {
                    peer_problem("IKE SA acknowledged before the crash was not taken over");
                }
            }
        }
        acked_at_crash_[m.id].clear();
        vip_holder_ = m.id;
    }

    // ---- peers -------------------------------------------------------------------

    void drain_peer(Peer& p) {
        for (auto& o : p.engine->take_outputs()) {
            if (auto* d = std::get_if<ike::SendDatagram>(&o)) {
                if (cfg_.storms > 0) p.last_ike = *d;
                to_cluster(*d);
            } else if (auto* c = std::get_if<ike::InstallChildSa>(&o)) {
                if (cfg_.timeline) {
                    log("peer " + std::to_string(p.index) + " installs child in " +
                        std::to_string(c->child.spi_in) + " out " +
                        std::to_string(c->child.spi_out));
                }
                dp_install(p.dp, *c, esp::SeqStripes{});
            } else if (auto* r = std::get_if<ike::RemoveChildSa>(&o)) {
                if (cfg_.timeline) {
                    log("peer " + std::to_string(p.index) + " removes child in " +
                        std::to_string(r->spi_in) + " out " + std::to_string(r->spi_out));
                }
                p.dp.erase(r->spi_in);
            } else if (auto* e = std::get_if<ike::Event>(&o)) {
                peer_event(p, *e);
            } else if (auto* a = std::get_if<ike::AdjustChildCounters>(&o)) {
                dp_adjust(p.dp, *a);
            }
        }
    }

    void peer_event(Peer& p, const ike::Event& e) {
        if (std::holds_alternative<ike::IkeSaEstablished>(e)) {
            ++res_.peer_handshakes;
            if (++p.handshakes > 1) {
                peer_problem("peer " + std::to_string(p.index) + " had to start a new IKE_SA_INIT");
            }
            p.last_esp_in = now_;
        } else if (const auto* r = std::get_if<ike::IkeSaRekeyed>(&e)) {
            ++res_.peer_ike_rekeys;
            p.last_ike_rekey = now_;
            p.newest = r->sa.spis;
            log("peer " + std::to_string(p.index) + " rekeyed IKE SA " +
                std::to_string(r->old_spis.spi_i % 100000) + " -> " +
                std::to_string(r->sa.spis.spi_i % 100000));
        } else if (const auto* cr = std::get_if<ike::ChildSaRekeyed>(&e)) {
            ++res_.peer_child_rekeys;
            log("peer " + std::to_string(p.index) + " rekeyed child " +
                std::to_string(cr->old_spi_in) + " -> " + std::to_string(cr->child.spi_in));
        } else if (const auto* d = std::get_if<ike::IkeSaDeleted>(&e)) {
            log("peer " + std::to_string(p.index) + " deleted IKE SA " +
                std::to_string(d->spis.spi_i % 100000) + " reason " +
                std::to_string(int(d->reason)));
            if (d->reason == ike::DeleteReason::PEER_DEAD ||
                d->reason == ike::DeleteReason::AUTH_FAILED ||
                d->reason == ike::DeleteReason::EXPIRED) {
                peer_problem("peer " + std::to_string(p.index) + " lost its IKE SA (reason " +
                             std::to_string(int(d->reason)) + ")");
            }
        }
    }

    // ---- traffic ------------------------------------------------------------------

    // One packet through an outbound SA; returns the ESP bytes.
    std::optional<Bytes> seal(DpChild& d) {
        std::array<std::uint8_t, esp::kHeadroom + kInnerSize + esp::kTailroom> buf{};
        buf[esp::kHeadroom] = 0x45;  // an IPv4 header's first octet
        auto r = d.out->seal(buf, kInnerSize);
        if (!r) return std::nullopt;
        return Bytes(r->begin(), r->end());
    }

    void traffic() {
        Member* m = holder();
        for (Peer& p : peers_) {
            for (auto& [spi, d] : p.dp) {
                auto pkt = seal(d);
                if (!pkt) continue;
                ++res_.esp_sent;
                if (!m || chance(cfg_.peer_loss)) continue;
                auto it = m->dp.find(d.spi_out);
                if (it == m->dp.end()) continue;
                if (it->second.in->open(*pkt)) ++res_.esp_delivered;
            }
        }
        if (!m) return;
        // The active answers on every SA it has.
        for (auto& [spi, d] : m->dp) {
            std::uint64_t seq = d.out->next_seq();
            auto pkt = seal(d);
            if (!pkt) continue;
            ++res_.esp_sent;
            if (auto [it, fresh] = used_seqs_[{d.spi_in, d.spi_out}].emplace(seq, m->id); !fresh) {
                violation("ESP sequence number " + std::to_string(seq) + " sent twice on SPI " +
                          std::to_string(d.spi_out) + " (by member " + std::to_string(it->second) +
                          ", then by member " + std::to_string(m->id) + ")");
            }
            if (chance(cfg_.peer_loss)) continue;
            for (Peer& p : peers_) {
                auto it = p.dp.find(d.spi_out);
                if (it == p.dp.end()) continue;
                if (it->second.in->open(*pkt)) {
                    ++res_.esp_delivered;
                    if (gap_start_ != Time::max()) {
                        res_.max_gap_ms =
                            std::max(res_.max_gap_ms, (now_ - gap_start_).count() / 1000000);
                        gap_start_ = Time::max();
                    }
                    p.last_esp_in = now_;
                }
            }
        }
        // A deposed member that still sends (split brain) must not reuse
        // numbers either.
        for (Member& o : members_) {
            if (!o.up || &o == m || o.node->role() != Role::ACTIVE) continue;
            for (auto& [spi, d] : o.dp) {
                std::uint64_t seq = d.out->next_seq();
                if (!seal(d)) continue;
                if (auto [it, fresh] = used_seqs_[{d.spi_in, d.spi_out}].emplace(seq, o.id);
                    !fresh) {
                    violation("split brain: ESP sequence number " + std::to_string(seq) +
                              " sent twice on SPI " + std::to_string(d.spi_out) + " (by member " +
                              std::to_string(it->second) + ", then by member " +
                              std::to_string(o.id) + ")");
                }
            }
        }
    }

    void tick() {
        for (Member& m : members_) {
            if (!m.up) continue;
            const Time t = mnow(m);
            if (m.engine->next_deadline() <= t) m.engine->on_timer(t);
            if (m.node->next_deadline() <= t) m.node->on_timer(t);
            drain_member(m);
        }
        for (Peer& p : peers_) {
            if (p.engine->next_deadline() <= now_) p.engine->on_timer(now_);
            drain_peer(p);
            // Half-open SAs are not replicated: a handshake a failover cut
            // fails, and the client tries again (strongSwan's keyingtries).
            if (p.initiated && p.handshakes == 0 && p.engine->ike_sa_count() == 0) {
                ++res_.handshake_retries;
                log("peer " + std::to_string(p.index) + " retries its handshake");
                (void)p.engine->initiate(now_, "gw");
                drain_peer(p);
            }
            if (cfg_.timeline && p.engine->stats().retransmits_sent != p.seen_retransmits) {
                p.seen_retransmits = p.engine->stats().retransmits_sent;
                std::string st;
                for (const auto& e : p.engine->established()) {
                    const auto* sa = p.engine->find(e);
                    st += " out=" + std::to_string(sa->msgids.next_request_out) +
                          " in=" + std::to_string(sa->msgids.next_request_in);
                    if (Member* h = holder()) {
                        if (const auto* hs = h->engine->find(e)) {
                            st += " | holder " + std::to_string(h->id) +
                                  " out=" + std::to_string(hs->msgids.next_request_out) +
                                  " in=" + std::to_string(hs->msgids.next_request_in);
                        } else {
                            st += " | holder " + std::to_string(h->id) + " lacks the SA";
                        }
                    }
                }
                log("peer " + std::to_string(p.index) + " retransmits:" + st);
            }
        }
        if ((now_ - Time{}) % cfg_.traffic_interval == Duration{0}) traffic();
        // Membership: at most one active per epoch, seen from every member.
        for (Member& m : members_) {
            if (!m.up || m.node->role() != Role::ACTIVE) continue;
            auto [it, fresh] = active_by_epoch_.emplace(m.node->epoch(), m.id);
            if (!fresh && it->second != m.id) {
                violation("two members active in epoch " + std::to_string(m.node->epoch()));
            }
        }
    }

    void final_checks() {
        int active = 0;
        Member* a = nullptr;
        for (Member& m : members_) {
            if (m.up && m.node->role() == Role::ACTIVE) {
                ++active;
                a = &m;
            }
        }
        if (active != 1) violation(std::to_string(active) + " active members at the end");
        for (Peer& p : peers_) {
            auto est = p.engine->established();
            // An IKE rekey in its last step (the old SA's Delete in flight)
            // when the run ends leaves two for a moment.
            if (est.size() == 2 && now_ - p.last_ike_rekey < 2s) est = {p.newest};
            if (est.size() != 1) {
                std::string which;
                for (const auto& e : est) {
                    which += " " + std::to_string(e.spi_i % 100000) + "/" +
                             std::to_string(e.spi_r % 100000) +
                             (a && a->engine->find(e) ? "(on active)" : "(not on active)");
                }
                peer_problem("peer " + std::to_string(p.index) + " has " +
                             std::to_string(est.size()) + " IKE SAs at the end:" + which);
                continue;
            }
            if (a && !a->engine->find(est.front())) {
                peer_problem("peer " + std::to_string(p.index) +
                             "'s IKE SA is not on the active member at the end");
            }
            if (now_ - p.last_esp_in > 2s && cfg_.timeline) {
                for (const auto& [spi, d] : p.dp) {
                    std::string where = "unknown to the active";
                    if (a) {
                        if (auto it = a->dp.find(d.spi_out); it != a->dp.end()) {
                            where = "active sends on " + std::to_string(it->second.spi_out);
                        }
                    }
                    log("  peer " + std::to_string(p.index) + " child in " + std::to_string(spi) +
                        " out " + std::to_string(d.spi_out) + ": " + where);
                }
            }
            if (now_ - p.last_esp_in > 2s) {
                peer_problem("peer " + std::to_string(p.index) + " received no ESP in the last " +
                             std::to_string((now_ - p.last_esp_in).count() / 1000000) + " ms");
            }
        }
    }

    SimConfig cfg_;
    SimResult res_;
    crypto::DeterministicRandom net_;
    ike::EngineConfig member_cfg_;
    std::vector<ike::EngineConfig> peer_cfgs_;
    std::deque<Member> members_;
    std::deque<Peer> peers_;
    std::priority_queue<Ev> events_;
    std::uint64_t next_order_ = 0;
    Time now_{};
    std::uint16_t vip_holder_ = 0;
    bool partitioned_ = false;
    Time gap_start_ = Time::max();
    std::uint64_t sync_datagrams_ = 0;
    std::map<std::uint64_t, std::uint16_t> active_by_epoch_;
    std::map<std::uint16_t, std::set<ike::IkeSpis>> acked_at_crash_;
    // Every ESP sequence number sent, per SA, and by whom. An SA is both its
    // SPIs: in a split brain the loser can hold a Child SA the peer never
    // completed, with the peer's SPI but other keys (the peer retransmitted
    // its CREATE_CHILD_SA to the winner), which is a different SA.
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::map<std::uint64_t, std::uint16_t>>
        used_seqs_;
};

}  // namespace

SimResult run_cluster_sim(const SimConfig& cfg) {
    return Sim(cfg).run();
}

}  // namespace ikecluster::sim
