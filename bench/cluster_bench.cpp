// Cluster (issue 5) figures, in process, single-threaded. A plain program
// rather than Google Benchmark: each figure is one large operation (a
// takeover of 10,000 SAs, a 100,000-SA resync) that is timed a few times as a
// whole, and the output is a table against the targets.
//
//   1. Takeover of 10,000 SAs: what the new active does. Engine::import_ike_sa
//      for every replicated IKE SA (one Child SA each), called as the daemon
//      does (Daemon::takeover passes the whole counter list to every call),
//      then the data plane's per-SA objects (esp::OutboundSa/InboundSa with
//      this member's stripes, counters resumed as DataPlane::install does).
//      Also the ClusterNode side: a standby fed 10,000 SAs by an active node
//      over a SyncLink, then set_role(ACTIVE) until the Takeover comes out.
//   2. Sync channel cost per event: datagrams and octets on the wire (both
//      directions, ACKs included) for one IKE SA creation, one message-ID
//      update and one counter checkpoint entry; sent alone (as hold-until-
//      synced does for one engine step) and 64 to a flush.
//   3. Sustained SA creations through encode -> SyncLink -> SyncLink ->
//      decode -> Replica::apply, and a 100,000-SA bulk resync (snapshot ->
//      links -> fresh Replica), checked for equality with the sender.
//
// Times: CPU time of the process (CLOCK_PROCESS_CPUTIME_ID; everything runs
// on this thread) and wall time beside it, since the machine is shared. Each
// timed figure is the median of `reps` runs (argument 1, default 5).
//
// Run: build-rel/bench/cluster_bench [reps]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cluster/node.h"
#include "cluster/records.h"
#include "cluster/replica.h"
#include "cluster/sync_link.h"
#include "crypto/random.h"
#include "esp/esp_sa.h"
#include "ike/engine.h"

using namespace ikecluster;
using namespace std::chrono_literals;

namespace {

// ---- timing ------------------------------------------------------------------

double cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}
double wall_ms() {
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Span {
    double cpu = 0, wall = 0;  // ms
};
struct Stopwatch {
    double c0 = cpu_ms(), w0 = wall_ms();
    Span stop() const { return {cpu_ms() - c0, wall_ms() - w0}; }
};
// Accumulates CPU time over many short stretches (the stages of a pipeline).
struct Meter {
    double total = 0, t0 = 0;
    void start() { t0 = cpu_ms(); }
    void stop() { total += cpu_ms() - t0; }
};

Span median(std::vector<Span> v) {
    std::sort(v.begin(), v.end(), [](const Span& a, const Span& b) { return a.cpu < b.cpu; });
    return v[v.size() / 2];
}
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "cluster_bench: %s\n", what.c_str());
    std::exit(1);
}

// ---- realistic SAs -------------------------------------------------------------

// The gateway side of road-warrior SAs as the old active (member index 0)
// negotiated them: aes256gcm16-prfsha256-x25519, ESP aes256gcm16 tunnel, NAT
// on the client side (port 4500), a cached IKE_AUTH response, random keys.
constexpr std::uint64_t kMargin = std::uint64_t{1} << 20;  // NodeConfig::seq_margin default
const esp::SeqStripes kNewActive{24, 1, 2};                // stripe_bits 24, member index 1 of 2

class SaFactory {
  public:
    explicit SaFactory(std::uint64_t seed) : rng_(seed) {}

    ike::IkeSaState make(Time now) {
        const std::uint32_t n = ++count_;
        ike::IkeSaState s;
        // Member 0's SPI space: top 4 bits 0 (cluster/spi_space.h).
        s.spis.spi_i = u64() | 1;
        do {
            s.spis.spi_r = (u64() >> 4) | 1;
        } while (!ike_spis_.insert(s.spis.spi_r).second);
        s.initiator = false;
        s.config_name = "road";
        s.suite = {};  // AES-GCM-16/256, no integ, PRF HMAC-SHA2-256, X25519
        s.keys.sk_d = bytes(32);
        s.keys.sk_ei = bytes(36);  // 32 key + 4 salt (RFC 5282)
        s.keys.sk_er = bytes(36);
        s.keys.sk_pi = bytes(32);
        s.keys.sk_pr = bytes(32);
        s.local_id = *ike::Identity::parse("vpn.example.org");
        s.remote_id = *ike::Identity::parse("user" + std::to_string(n) + "@example.org");
        s.local = {*IpAddress::parse("198.51.100.1"), 4500};
        const std::uint32_t r = std::uint32_t(u64());
        s.remote = {IpAddress::v4({100, std::uint8_t(64 + (r & 63)), std::uint8_t(r >> 8),
                                   std::uint8_t(r >> 16)}),
                    std::uint16_t(1024 + (r >> 20) % 60000)};
        s.nat = ike::NatState::REMOTE_BEHIND_NAT;
        s.encap = true;
        s.peer = {true, true, true, true, true};
        // After IKE_AUTH: the responder's cached response (IDr, AUTH, SA,
        // TSi, TSr, notifies under SK{}: ~240 octets with AES-GCM).
        s.msgids = {0, 2, 1, {bytes(240)}};
        s.established = now - std::chrono::seconds(r % 3600);
        s.rekey_at = now + 3h + std::chrono::seconds(r % 1200);
        s.expire_at = s.rekey_at + 20min;
        s.children.push_back(child(n, now));
        return s;
    }

    ike::ChildSaState child(std::uint32_t n, Time now) {
        ike::ChildSaState c;
        c.config_name = "net";
        c.unique_id = n;
        do {
            c.spi_in = (std::uint32_t(u64()) >> 4) | 0x100;
        } while (!child_spis_.insert(c.spi_in).second);
        c.spi_out = std::uint32_t(u64()) | 0x100;
        c.protocol = ProtocolId::ESP;
        c.mode = ike::IpsecMode::TUNNEL;
        c.encr = {EncrId::AES_GCM_16, 256};
        c.integ = IntegId::NONE;
        c.esn = false;
        c.keys.encr_in = bytes(36);
        c.keys.encr_out = bytes(36);
        c.ts_local = *ike::parse_ts_list("192.0.2.0/24");
        c.ts_remote = {ike::TrafficSelector::host(
            IpAddress::v4({10, 10, std::uint8_t(n >> 8), std::uint8_t(n)}))};
        c.established = now - 10min;
        c.rekey_at = now + 50min;
        c.expire_at = now + 60min;
        return c;
    }

    // What the old active last checkpointed for a child: counters well into
    // its life, in member 0's stripes.
    cluster::CounterCheckpoint checkpoint(const ike::IkeSaState& s) {
        const std::uint64_t r = u64();
        return {s.spis, s.children[0].spi_in, 1 + (r & 0x3fffffff), (r >> 32) & 0x3fffffff};
    }

  private:
    std::uint64_t u64() {
        std::uint8_t b[8];
        rng_.fill(b);
        std::uint64_t x = 0;
        for (std::uint8_t o : b)
            x = x << 8 | o;
        return x;
    }
    Bytes bytes(std::size_t n) {
        Bytes b(n);
        rng_.fill(b);
        return b;
    }

    crypto::DeterministicRandom rng_;
    std::uint32_t count_ = 0;
    std::unordered_set<std::uint64_t> ike_spis_;
    std::unordered_set<std::uint32_t> child_spis_;
};

// The gateway's configuration: a responder connection the SAs belong to.
ike::EngineConfig gateway_config() {
    ike::ConnectionConfig c;
    c.name = "road";
    c.local_addrs = {*IpAddress::parse("198.51.100.1")};
    c.local_id = *ike::Identity::parse("vpn.example.org");
    c.psk = Bytes(32, 0x42);
    c.ike_proposals = *ike::parse_proposals("aes256gcm16-prfsha256-x25519", ike::ProposalKind::IKE);
    ike::ChildConfig ch;
    ch.name = "net";
    ch.local_ts = *ike::parse_ts_list("192.0.2.0/24");
    ch.remote_ts = *ike::parse_ts_list("10.10.0.0/16");
    ch.esp_proposals = *ike::parse_proposals("aes256gcm16", ike::ProposalKind::ESP);
    c.children.push_back(ch);
    ike::EngineConfig cfg;
    cfg.connections.push_back(c);
    return cfg;
}

// The counters a new active resumes from, as ClusterNode computes them:
// checkpoint + margin, aligned to its own stripes.
ike::ChildCounters resume(const cluster::CounterCheckpoint& cp) {
    return {cp.spi_in, esp::stripe_align(cp.out_next_seq + kMargin, kNewActive), cp.in_highest};
}

// ---- sync links in process -------------------------------------------------

cluster::SyncLinkConfig link_config(std::uint16_t self, std::uint16_t peer) {
    cluster::SyncLinkConfig c;
    c.self = self;
    c.peer = peer;
    c.keys = {cluster::ClusterKey{1, Bytes(32, 0x5a)}};
    return c;
}

// Two ends of one link with a lossless, zero-delay wire between them and a
// virtual clock that jumps to the next deadline when nothing is in flight.
struct LinkPair {
    crypto::DeterministicRandom ra{11}, rb{12};
    Time now = Time::from_ms(1'000'000);
    cluster::SyncLink a = std::move(cluster::SyncLink::create(link_config(1, 2), ra, now).value());
    cluster::SyncLink b = std::move(cluster::SyncLink::create(link_config(2, 1), rb, now).value());

    LinkPair() {
        a.on_timer(now);
        until_quiet();
        if (!a.established() || !b.established()) fail("sync link handshake did not finish");
    }
    // Moves datagrams both ways at `now` until neither side has any.
    // Returns whether any moved.
    bool exchange() {
        bool any = false;
        for (;;) {
            auto da = a.take_datagrams();
            for (const Bytes& d : da)
                b.receive(now, d);
            auto db = b.take_datagrams();
            for (const Bytes& d : db)
                a.receive(now, d);
            if (da.empty() && db.empty()) return any;
            any = true;
        }
    }
    // Until everything a sent is acknowledged and the wire is quiet, letting
    // the virtual clock run to each next deadline (the delayed ACK).
    // (A delayed ACK of b's may still be pending then; the callers let the
    // clock run past it before the next event.)
    void until_quiet() {
        for (int guard = 0; guard < 100000; ++guard) {
            exchange();
            if (a.queued() == 0 && b.queued() == 0 && a.established() && b.established()) return;
            Time t = std::min(a.next_deadline(), b.next_deadline());
            if (t == Time::max()) break;
            now = std::max(now, t);
            a.on_timer(now);
            b.on_timer(now);
        }
        fail("sync link did not go quiet");
    }
};

// Whether b holds every SA of a with the same keys, message IDs, children
// and counters. (Times differ by the virtual transit time: records carry
// them relative to each host's clock.)
bool same_but_times(const cluster::Replica& a, const cluster::Replica& b) {
    if (a.ike_sa_count() != b.ike_sa_count() || a.child_sa_count() != b.child_sa_count())
        return false;
    bool same = true;
    a.for_each([&](const ike::IkeSaState& x) {
        const ike::IkeSaState* y = b.find(x.spis);
        if (!y || y->keys != x.keys || y->msgids != x.msgids ||
            y->children.size() != x.children.size()) {
            same = false;
            return;
        }
        for (std::size_t i = 0; i < x.children.size(); ++i) {
            const auto& c = x.children[i];
            if (y->children[i].spi_in != c.spi_in || y->children[i].keys != c.keys ||
                a.counters(c.spi_in) != b.counters(c.spi_in))
                same = false;
        }
    });
    return same;
}

// ---- 1. takeover -------------------------------------------------------------

struct TakeoverFigures {
    Span import_daemon, import_per_sa, esp, replica_build, replica_collect, node_takeover;
    std::size_t sas = 0;
};

TakeoverFigures takeover_bench(std::size_t kSas, int reps) {
    TakeoverFigures f;
    f.sas = kSas;
    const Time now = Time::from_ms(7'200'000);
    SaFactory gen(5);
    std::vector<ike::IkeSaState> sas;
    std::vector<cluster::CounterCheckpoint> cps;
    std::vector<ike::ChildCounters> counters;  // in SA order, one per child
    for (std::size_t i = 0; i < kSas; ++i) {
        sas.push_back(gen.make(now));
        cps.push_back(gen.checkpoint(sas.back()));
        counters.push_back(resume(cps.back()));
    }
    // The daemon's order: Takeover::counters comes from Replica::for_each,
    // i.e. hash order, not the SAs' order. Shuffle the same way (it matters
    // for the linear scan below only through where the match is found).
    std::vector<ike::ChildCounters> counters_hash_order = counters;
    std::reverse(counters_hash_order.begin(), counters_hash_order.end());

    const ike::EngineConfig cfg = gateway_config();
    esp::SaOptions opts;
    opts.replay_window = 1024;  // DataPlaneConfig default
    opts.stripes = kNewActive;

    std::vector<Span> imp_d, imp_p, esp_t;
    for (int rep = 0; rep < reps; ++rep) {
        for (int variant = 0; variant < 2; ++variant) {
            crypto::DeterministicRandom rng(100 + rep);
            auto engine = std::make_unique<ike::Engine>(cfg, rng);
            Stopwatch sw;
            for (std::size_t i = 0; i < kSas; ++i) {
                // Daemon::takeover hands every SA the whole counter list;
                // the engine scans it for each child. Variant 1 passes only
                // the SA's own entry, to show what that scan costs.
                std::span<const ike::ChildCounters> cs =
                    variant == 0 ? std::span<const ike::ChildCounters>(counters_hash_order)
                                 : std::span<const ike::ChildCounters>(&counters[i], 1);
                if (Status st = engine->import_ike_sa(now, sas[i], cs); !st)
                    fail("import_ike_sa: " + st.error().what);
            }
            std::vector<ike::Output> outs = engine->take_outputs();
            (variant == 0 ? imp_d : imp_p).push_back(sw.stop());
            if (engine->ike_sa_count() != kSas || outs.size() != kSas)
                fail("import: wrong SA or output count");
            if (variant == 1) continue;

            // The data plane's install (DataPlane::install, minus routes and
            // SPD, which are the shell's): both directions' cipher contexts,
            // counters resumed, into the SPI maps.
            struct Entry {
                esp::OutboundSa out;
                esp::InboundSa in;
            };
            std::unordered_map<std::uint32_t, Entry> dp;
            Stopwatch sw2;
            for (const ike::Output& o : outs) {
                const auto* c = std::get_if<ike::InstallChildSa>(&o);
                if (!c) fail("unexpected engine output on import");
                auto out = esp::OutboundSa::create(c->child, opts);
                auto in = esp::InboundSa::create(c->child, opts);
                if (!out || !in) fail("esp create failed");
                if (c->out_next_seq > 1) {
                    const std::uint64_t next =
                        c->child.esn ? c->out_next_seq
                                     : std::min<std::uint64_t>(c->out_next_seq, 1ull << 32);
                    if (auto r = out->set_next_seq(next); !r.ok()) fail("set_next_seq failed");
                }
                if (c->in_highest > 0) (void)in->window().raise_highest(c->in_highest);
                dp.insert_or_assign(c->child.spi_in, Entry{std::move(*out), std::move(*in)});
            }
            esp_t.push_back(sw2.stop());
            // The counters really are the resumed ones.
            for (std::size_t i = 0; i < kSas; i += 997) {
                const auto& e = dp.at(counters[i].spi_in);
                if (e.out.next_seq() != counters[i].out_next_seq ||
                    e.in.window().highest() != counters[i].in_highest)
                    fail("resumed counters differ");
            }
        }
    }
    f.import_daemon = median(imp_d);
    f.import_per_sa = median(imp_p);
    f.esp = median(esp_t);

    // ClusterNode side, by parts: the standby's replica of 10,000 SAs, and
    // collecting the Takeover from it (for_each + counters + stripes).
    std::vector<Span> build_t, collect_t;
    for (int rep = 0; rep < reps; ++rep) {
        cluster::Replica rep_a;
        Stopwatch sw;
        for (const auto& s : sas) {
            if (!rep_a.apply(cluster::Record{ike::IkeSaEstablished{s}}).ok()) fail("replica apply");
        }
        for (const auto& b : cluster::batch_checkpoints(cps)) {
            if (!rep_a.apply(cluster::Record{b}).ok()) fail("replica checkpoints");
        }
        build_t.push_back(sw.stop());
        Stopwatch sw2;
        cluster::Takeover t;
        rep_a.for_each([&](const ike::IkeSaState& sa) {
            t.sas.push_back(sa);
            auto& mine = t.counters.emplace_back();
            for (const auto& c : sa.children) {
                auto rc = rep_a.counters(c.spi_in);
                cluster::CounterCheckpoint cp{sa.spis, c.spi_in, rc ? rc->out_next_seq : 1,
                                              rc ? rc->in_highest : 0};
                mine.push_back(resume(cp));
            }
        });
        collect_t.push_back(sw2.stop());
        if (t.sas.size() != kSas || t.counters.size() != kSas) fail("collect: wrong count");
    }
    f.replica_build = median(build_t);
    f.replica_collect = median(collect_t);

    // The whole ClusterNode: an active node feeds a standby 10,000 SAs and
    // their checkpoints over a sync link; then the standby is made active
    // (external role control, as keepalived would) and we time set_role
    // until its Takeover is out. That includes what become_active does
    // besides collecting: the resumed counters into its own replica, and a
    // bulk snapshot queued for the other member, whose link still looks up.
    std::vector<Span> node_t;
    for (int rep = 0; rep < reps; ++rep) {
        auto node_cfg = [](std::uint16_t self, std::uint16_t peer, std::uint16_t index) {
            cluster::NodeConfig nc;
            nc.membership.self = self;
            nc.membership.peers = {peer};
            nc.membership.external = true;
            nc.keys = {cluster::ClusterKey{1, Bytes(32, 0x5a)}};
            nc.stripes = {24, index, 2};
            return nc;
        };
        crypto::DeterministicRandom ra(21 + rep), rb(31 + rep);
        Time t = Time::from_ms(1'000'000);
        auto a = std::move(cluster::ClusterNode::create(node_cfg(1, 2, 0), ra, t).value());
        auto b = std::move(cluster::ClusterNode::create(node_cfg(2, 1, 1), rb, t).value());
        auto pump = [&](int rounds) {
            for (int i = 0; i < rounds; ++i) {
                t = t + 1ms;
                a.on_timer(t);
                b.on_timer(t);
                bool any = true;
                while (any) {
                    any = false;
                    for (auto& o : a.take_datagrams()) {
                        b.receive(t, 1, o.datagram);
                        any = true;
                    }
                    for (auto& o : b.take_datagrams()) {
                        a.receive(t, 2, o.datagram);
                        any = true;
                    }
                }
            }
        };
        if (!a.set_role(t, cluster::Role::ACTIVE).ok()) fail("node a: set_role");
        pump(300);
        if (!b.synced()) fail("node b did not sync");
        for (std::size_t i = 0; i < kSas; ++i) {
            a.on_engine_event(t, ike::Event{ike::IkeSaEstablished{sas[i]}});
            if (i % 256 == 255) pump(1);
        }
        a.on_checkpoints(t, cps);
        pump(300);
        if (b.replica().ike_sa_count() != kSas || !same_but_times(a.replica(), b.replica()))
            fail("node b's replica differs from a's");
        (void)b.take_actions();
        Stopwatch sw;
        if (Status st = b.set_role(t, cluster::Role::ACTIVE); !st)
            fail("node b: set_role: " + st.error().what);
        auto actions = b.take_actions();
        node_t.push_back(sw.stop());
        const cluster::Takeover* to =
            actions.empty() ? nullptr : std::get_if<cluster::Takeover>(&actions.front());
        if (!to || to->sas.size() != kSas || to->counters.size() != kSas)
            fail("node b: no Takeover of every SA");
    }
    f.node_takeover = median(node_t);

    return f;
}

// ---- 2. sync channel per event ------------------------------------------------

struct EventCost {
    std::string name;
    std::size_t record_octets = 0;
    double per = 1;  // events in one record (64 for a Checkpoints batch)
    // Sent alone: one record, then wait for its ACK (hold-until-synced).
    double alone_dgrams_data = 0, alone_dgrams_ack = 0, alone_octets = 0;
    double alone_ack_ms = 0;  // virtual time until acknowledged (zero-delay wire)
    // 64 records, then one flush.
    double batch_dgrams = 0, batch_octets = 0;
};

EventCost channel_cost(const std::string& name, const Bytes& record, double per) {
    constexpr int kAlone = 1000, kBatches = 100, kBatch = 64;
    EventCost e;
    e.name = name;
    e.record_octets = record.size();
    e.per = per;
    {
        LinkPair p;
        const auto a0 = p.a.stats(), b0 = p.b.stats();
        std::vector<double> lat;
        for (int i = 0; i < kAlone; ++i) {
            const Time t0 = p.now;
            if (!p.a.send(record).ok()) fail("send");
            p.a.flush(p.now);
            p.until_quiet();
            lat.push_back(std::chrono::duration<double, std::milli>(p.now - t0).count());
            // Spread the events so no ACK of one rides on the next.
            p.now = p.now + 50ms;
            p.a.on_timer(p.now);
            p.b.on_timer(p.now);
            p.exchange();
        }
        if (p.b.take_delivered().size() != std::size_t(kAlone)) fail("records lost");
        const auto& a1 = p.a.stats();
        const auto& b1 = p.b.stats();
        const double n = kAlone * per;
        e.alone_dgrams_data = double(a1.datagrams_out - a0.datagrams_out) / n;
        e.alone_dgrams_ack = double(b1.datagrams_out - b0.datagrams_out) / n;
        e.alone_octets = double(a1.bytes_out - a0.bytes_out + b1.bytes_out - b0.bytes_out) / n;
        e.alone_ack_ms = median(lat);
        if (a1.retransmits != a0.retransmits) fail("unexpected retransmissions");
    }
    {
        LinkPair p;
        const auto a0 = p.a.stats(), b0 = p.b.stats();
        for (int i = 0; i < kBatches; ++i) {
            for (int j = 0; j < kBatch; ++j) {
                if (!p.a.send(record).ok()) fail("send");
            }
            p.a.flush(p.now);
            p.until_quiet();
            p.now = p.now + 50ms;
            p.a.on_timer(p.now);
            p.b.on_timer(p.now);
            p.exchange();
        }
        if (p.b.take_delivered().size() != std::size_t(kBatches * kBatch)) fail("records lost");
        const auto& a1 = p.a.stats();
        const auto& b1 = p.b.stats();
        const double n = kBatches * kBatch * per;
        e.batch_dgrams =
            double(a1.datagrams_out - a0.datagrams_out + b1.datagrams_out - b0.datagrams_out) / n;
        e.batch_octets = double(a1.bytes_out - a0.bytes_out + b1.bytes_out - b0.bytes_out) / n;
    }
    return e;
}

std::vector<EventCost> channel_bench() {
    const Time now = Time::from_ms(7'200'000);
    SaFactory gen(9);
    ike::IkeSaState s = gen.make(now);
    std::vector<EventCost> out;
    out.push_back(channel_cost("IKE SA created (IkeSaEstablished, 1 child)",
                               cluster::encode(ike::IkeSaEstablished{s}, now), 1));
    // After an INFORMATIONAL or CREATE_CHILD_SA: new IDs and the cached
    // response (~200 octets).
    ike::MessageIds m{0, 3, 2, {Bytes(200, 0x3c)}};
    out.push_back(channel_cost("message IDs (IkeMessageIdsAdvanced, 200 B response)",
                               cluster::encode(ike::IkeMessageIdsAdvanced{s.spis, m}, now), 1));
    cluster::Checkpoints cp;
    for (int i = 0; i < 64; ++i) {
        ike::IkeSaState x = gen.make(now);
        cp.items.push_back(gen.checkpoint(x));
    }
    out.push_back(channel_cost("counter checkpoint (1 entry of a 64-entry Checkpoints)",
                               cluster::encode(cluster::Record{cp}, now), 64));
    return out;
}

// ---- 3. sustained creations and bulk resync ------------------------------------

struct StreamFigures {
    std::size_t records = 0;
    double encode = 0, link = 0, decode = 0, apply = 0;  // CPU ms
    Span total;
    std::uint64_t dgrams = 0, octets = 0, retransmits = 0;
    bool equal = false;
};

// Streams `records` from a fresh link end a to b and into `into`, in
// batches of 256 (as an active member's engine produces them, every
// 256 events the wire is drained), timing each stage.
template <typename Get>
StreamFigures stream(std::size_t n, Get get, cluster::Replica& into) {
    constexpr std::size_t kBatch = 256;
    StreamFigures f;
    f.records = n;
    LinkPair p;
    const Time sender_now = Time::from_ms(7'200'000);
    Meter enc, link, dec, app;
    Stopwatch sw;
    std::size_t sent = 0;
    while (sent < n) {
        const std::size_t end = std::min(n, sent + kBatch);
        for (; sent < end; ++sent) {
            const cluster::Record& r = get(sent);
            enc.start();
            Bytes b = cluster::encode(r, sender_now);
            enc.stop();
            link.start();
            if (!p.a.send(std::move(b)).ok()) fail("send");
            link.stop();
        }
        link.start();
        p.a.flush(p.now);
        // Drain: the data, b's ACKs (immediate every 4 datagrams, or after
        // the ACK delay), and whatever the opened window lets a send next.
        for (;;) {
            if (!p.exchange()) {
                if (p.a.queued() == 0) break;
                Time t = std::min(p.a.next_deadline(), p.b.next_deadline());
                if (t == Time::max()) fail("stalled");
                p.now = std::max(p.now, t);
                p.a.on_timer(p.now);
                p.b.on_timer(p.now);
            }
        }
        auto got = p.b.take_delivered();
        link.stop();
        for (auto& d : got) {
            // Decoded at the sender's instant (both ends share one virtual
            // clock here), so that times come back identical and the
            // replicas can be compared whole.
            dec.start();
            auto r = cluster::decode(d.record, sender_now);
            dec.stop();
            if (!r) fail("decode: " + r.error().what);
            app.start();
            Status st = into.apply(*r);
            app.stop();
            if (!st) fail("apply: " + st.error().what);
        }
    }
    f.total = sw.stop();
    f.encode = enc.total;
    f.link = link.total;
    f.decode = dec.total;
    f.apply = app.total;
    const auto& sa = p.a.stats();
    const auto& sb = p.b.stats();
    f.dgrams = sa.datagrams_out + sb.datagrams_out;
    f.octets = sa.bytes_out + sb.bytes_out;
    f.retransmits = sa.retransmits + sb.retransmits;
    return f;
}

struct SyncFigures {
    StreamFigures creations, bulk;
    double snapshot_ms = 0;  // CPU of Replica::snapshot alone
    std::size_t bulk_records = 0;
};

SyncFigures sync_bench(int reps) {
    constexpr std::size_t kSas = 100'000;
    SyncFigures f;
    const Time now = Time::from_ms(7'200'000);
    SaFactory gen(77);
    // The records as the active member's engine events make them (built
    // before the clock starts: the engine made the states).
    std::vector<cluster::Record> created;
    created.reserve(kSas);
    std::vector<cluster::CounterCheckpoint> cps;
    for (std::size_t i = 0; i < kSas; ++i) {
        ike::IkeSaState s = gen.make(now);
        cps.push_back(gen.checkpoint(s));
        created.push_back(ike::IkeSaEstablished{std::move(s)});
    }
    // The sender's own replica (what the active member keeps, and what it
    // snapshots).
    cluster::Replica sender;
    for (const auto& r : created) {
        if (!sender.apply(r).ok()) fail("sender apply");
    }

    // Sustained creations: every SA as its own IkeSaEstablished record.
    std::vector<StreamFigures> cr;
    for (int rep = 0; rep < reps; ++rep) {
        cluster::Replica recv;
        StreamFigures s = stream(
            kSas, [&](std::size_t i) -> const cluster::Record& { return created[i]; }, recv);
        s.equal = recv == sender;
        if (!s.equal) fail("creations: receiver's replica differs from the sender's");
        cr.push_back(s);
    }
    std::sort(cr.begin(), cr.end(), [](const StreamFigures& a, const StreamFigures& b) {
        return a.total.cpu < b.total.cpu;
    });
    f.creations = cr[cr.size() / 2];
    created.clear();
    created.shrink_to_fit();

    for (const auto& b : cluster::batch_checkpoints(cps)) {
        if (!sender.apply(cluster::Record{b}).ok()) fail("sender checkpoints");
    }
    // Bulk resync: snapshot -> encode -> links -> decode -> fresh replica.
    std::vector<StreamFigures> bk;
    std::vector<double> snap_t;
    for (int rep = 0; rep < reps; ++rep) {
        Stopwatch sw;
        std::vector<cluster::Record> snap = sender.snapshot(1, 42 + rep);
        const Span snap_span = sw.stop();
        snap_t.push_back(snap_span.cpu);
        f.bulk_records = snap.size();
        cluster::Replica recv;
        StreamFigures s = stream(
            snap.size(), [&](std::size_t i) -> const cluster::Record& { return snap[i]; }, recv);
        s.total.cpu += snap_span.cpu;
        s.total.wall += snap_span.wall;
        s.equal = recv == sender && !recv.in_bulk() && recv.ike_sa_count() == kSas;
        if (!s.equal) fail("bulk: receiver's replica differs from the sender's");
        bk.push_back(s);
    }
    std::sort(bk.begin(), bk.end(), [](const StreamFigures& a, const StreamFigures& b) {
        return a.total.cpu < b.total.cpu;
    });
    f.bulk = bk[bk.size() / 2];
    f.snapshot_ms = median(snap_t);
    return f;
}

// ---- output ---------------------------------------------------------------------

std::string machine() {
    std::string model = "?";
    std::ifstream ci("/proc/cpuinfo");
    for (std::string line; std::getline(ci, line);) {
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    }
    std::string load;
    std::ifstream la("/proc/loadavg");
    std::getline(la, load);
    return model + ", load average " + load;
}

const char* verdict(bool ok) {
    return ok ? "MET" : "MISSED";
}

}  // namespace

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
    std::printf("cluster_bench: %s; median of %d runs; CPU = process CPU time\n\n",
                machine().c_str(), reps);

    // 1.
    const TakeoverFigures t = takeover_bench(10'000, reps);
    const double n = double(t.sas);
    std::printf("1. Takeover of %zu IKE SAs (1 Child SA each)\n", t.sas);
    auto row = [&](const char* what, Span s) {
        std::printf("   %-62s %8.1f ms CPU %8.1f ms wall %7.2f us/SA\n", what, s.cpu, s.wall,
                    s.cpu * 1e3 / n);
    };
    row("Engine::import_ike_sa, all counters per call (old Daemon)", t.import_daemon);
    row("Engine::import_ike_sa, the SA's own counters (as Daemon does)", t.import_per_sa);
    row("esp::OutboundSa+InboundSa::create, counters resumed", t.esp);
    const Span total_d{t.import_daemon.cpu + t.esp.cpu, t.import_daemon.wall + t.esp.wall};
    const Span total_p{t.import_per_sa.cpu + t.esp.cpu, t.import_per_sa.wall + t.esp.wall};
    row("= new active, all counters per call (import + ESP)", total_d);
    row("= new active, as shipped (import per SA + ESP)", total_p);
    row("Replica: apply 10k IkeSaEstablished + checkpoints (standby)", t.replica_build);
    row("Replica::for_each + resumed counters (Takeover contents)", t.replica_collect);
    row("ClusterNode::set_role(ACTIVE) until the Takeover is out", t.node_takeover);
    const Span whole{t.node_takeover.cpu + total_p.cpu, t.node_takeover.wall + total_p.wall};
    row("= whole takeover, as shipped (node + import per SA + ESP)", whole);
    // Cost per SA against the number of SAs: flat for linear work, growing
    // in proportion for work that scans a list of every SA per SA.
    std::printf("   CPU us per SA by takeover size      2,500    5,000   10,000   20,000\n");
    std::vector<TakeoverFigures> sizes;
    for (std::size_t k : {2'500, 5'000})
        sizes.push_back(takeover_bench(k, reps));
    sizes.push_back(t);
    sizes.push_back(takeover_bench(20'000, std::max(1, reps / 2)));
    auto scale = [&](const char* what, Span TakeoverFigures::*m) {
        std::printf("   %-34s", what);
        for (const auto& x : sizes)
            std::printf(" %8.2f", (x.*m).cpu * 1e3 / double(x.sas));
        std::printf("\n");
    };
    scale("import, all counters per call", &TakeoverFigures::import_daemon);
    scale("import, own counters (shipped)", &TakeoverFigures::import_per_sa);
    scale("ESP objects", &TakeoverFigures::esp);
    scale("ClusterNode::set_role -> Takeover", &TakeoverFigures::node_takeover);
    std::printf("\n");

    // 2.
    const std::vector<EventCost> ev = channel_bench();
    std::printf(
        "2. Sync channel per event (UDP payload octets, both directions, ACKs included;\n"
        "   +28 octets of IPv4/UDP header per datagram on the wire)\n");
    std::printf("   %-55s %6s | %-30s %8s | %-22s\n", "event", "record",
                "alone: dgrams data+ack, octets", "ACK after", "64/flush: dgrams, octets");
    for (const EventCost& e : ev) {
        std::printf("   %-55s %6zu | %6.3f + %6.3f, %9.1f %6.1f ms | %8.3f, %9.1f\n",
                    e.name.c_str(), e.record_octets, e.alone_dgrams_data, e.alone_dgrams_ack,
                    e.alone_octets, e.alone_ack_ms, e.batch_dgrams, e.batch_octets);
    }
    std::printf("\n");

    // 3.
    const SyncFigures s = sync_bench(reps);
    auto stream_row = [](const char* what, const StreamFigures& f) {
        const double k = double(f.records);
        std::printf(
            "   %-30s %7zu records: %8.1f ms CPU (%8.1f wall) = %9.0f records/s CPU\n"
            "   %-30s encode %.1f, link %.1f, decode %.1f, apply %.1f ms; %.2f dgrams/record, "
            "%.0f octets/record, %llu retransmits; replicas equal: %s\n",
            what, f.records, f.total.cpu, f.total.wall, k / (f.total.cpu / 1e3), "", f.encode,
            f.link, f.decode, f.apply, double(f.dgrams) / k, double(f.octets) / k,
            static_cast<unsigned long long>(f.retransmits), f.equal ? "yes" : "NO");
    };
    std::printf("3. Replication throughput (encode -> SyncLink -> SyncLink -> decode -> apply)\n");
    stream_row("sustained SA creations", s.creations);
    stream_row("100k-SA bulk resync", s.bulk);
    std::printf("   (bulk CPU includes Replica::snapshot: %.1f ms)\n\n", s.snapshot_ms);

    // Summary.
    const double create_rate = double(s.creations.records) / (s.creations.total.cpu / 1e3);
    std::printf("Summary                                   figure                 target      \n");
    std::printf("  takeover 10k SAs, CPU (as shipped)      %8.1f ms            < 100 ms   %s\n",
                whole.cpu, verdict(whole.cpu < 100));
    std::printf("    engine import + ESP only              %8.1f ms (%5.2f us/SA)\n", total_p.cpu,
                total_p.cpu * 1e3 / n);
    for (const EventCost& e : ev)
        std::printf("  sync: %-34.34s %6.2f dgrams, %6.0f octets per event (alone)\n",
                    e.name.c_str(), e.alone_dgrams_data + e.alone_dgrams_ack, e.alone_octets);
    std::printf("  sustained SA creations                  %8.0f /s CPU       >= 20,000/s %s\n",
                create_rate, verdict(create_rate >= 20000));
    std::printf("  100k-SA bulk resync                     %8.1f ms CPU, %s\n", s.bulk.total.cpu,
                s.bulk.equal ? "no loss (replicas equal)" : "REPLICAS DIFFER");
    return 0;
}
