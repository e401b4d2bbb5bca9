// The load generator's probe mode against an in-process responder engine and
// a minimal gateway data plane on virtual time: each tunnel's ICMP echoes go
// through its own Child SA and come back; a gap after mark() shows up as the
// recovery time and the lost probes; a responder that forgets everything
// (a cold standby) makes reconnect mode start new IKE SAs; the recovery
// sweep brackets each tunnel's return to much less than a probe interval.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <unordered_map>

#include "base/buffer.h"
#include "esp/esp_sa.h"
#include "generator.h"
#include "ike/proposal.h"
#include "ike/traffic_selector.h"

namespace ikecluster::load {
namespace {

using namespace std::chrono_literals;

const IpAddress kServer = *IpAddress::parse("198.51.100.1");
const IpAddress kClient = *IpAddress::parse("198.51.100.2");
const IpAddress kTarget = *IpAddress::parse("203.0.113.1");
constexpr std::uint16_t kPortBase = 20000;

ike::EngineConfig responder_config() {
    ike::EngineConfig cfg;
    ike::ConnectionConfig c;
    c.name = "rw";
    c.local_id = *ike::Identity::parse("gw.example");
    c.psk = Bytes{'p', 'r', 'o', 'b', 'e', '-', 'p', 's', 'k'};
    c.ike_proposals = *ike::parse_proposals("aes128gcm16-prfsha256-x25519", ike::ProposalKind::IKE);
    c.dpd_delay = 0s;
    ike::ChildConfig ch;
    ch.name = "net";
    ch.local_ts = *ike::parse_ts_list("203.0.113.0/24");
    ch.remote_ts = *ike::parse_ts_list("198.18.0.0/15");
    ch.esp_proposals = *ike::parse_proposals("aes128gcm16", ike::ProposalKind::ESP);
    c.children.push_back(ch);
    cfg.connections.push_back(c);
    cfg.half_open_per_peer = 1000;
    cfg.cookie_threshold = 1000;
    return cfg;
}

LoadOptions options(std::size_t count) {
    LoadOptions o;
    o.server = Endpoint{kServer, 500};
    o.locals = {kClient};
    o.count = count;
    o.concurrency = 16;
    o.ports = 4;
    o.psk = "probe-psk";
    o.probe_interval = 100ms;
    o.probe_target = kTarget;
    o.retransmit_timeout = 500ms;
    return o;
}

// The responder and a gateway data plane that answers echo requests to
// kTarget through the Child SA they came in on.
struct Lab {
    crypto::DeterministicRandom rng_g{11}, rng_r{12};
    std::unique_ptr<Generator> gen;
    std::unique_ptr<ike::Engine> resp;
    struct GwSa {
        esp::InboundSa in;
        esp::OutboundSa out;
    };
    std::unordered_map<std::uint32_t, GwSa> gw;  // by SPI (ours, inbound)
    Time t = Time::from_ms(1000);
    std::function<bool()> esp_blocked = [] { return false; };
    // Per tunnel (by the index the probe carries), after decryption.
    std::function<bool(std::uint32_t)> tunnel_blocked = [](std::uint32_t) { return false; };
    std::size_t esp_seen = 0;

    explicit Lab(const LoadOptions& o)
        : resp(std::make_unique<ike::Engine>(responder_config(), rng_r)) {
        auto g = Generator::create(o, rng_g);
        EXPECT_TRUE(g) << (g ? "" : g.error().what);
        gen = std::move(*g);
    }

    // A new responder that knows nothing: what a cold standby is.
    void replace_responder() {
        resp = std::make_unique<ike::Engine>(responder_config(), rng_r);
        gw.clear();
    }

    void gateway_esp(const Endpoint& from, BytesView data) {
        ++esp_seen;
        if (esp_blocked()) return;
        auto it = gw.find(load_be32(data.data()));
        if (it == gw.end()) return;
        Bytes pkt(data.begin(), data.end());
        auto opened = it->second.in.open(std::span<std::uint8_t>(pkt));
        ASSERT_TRUE(opened);
        std::span<std::uint8_t> ip = opened->payload;
        ASSERT_GE(ip.size(), 40u);
        ASSERT_EQ(ip[9], 1);   // ICMP
        ASSERT_EQ(ip[20], 8);  // echo request
        if (tunnel_blocked(load_be32(ip.data() + 28))) return;
        // The echo reply: addresses swapped, type 0, checksum adjusted
        // (RFC 1624: the type octet went from 8 to 0).
        Bytes reply(esp::kHeadroom + ip.size() + esp::kTailroom);
        std::uint8_t* r = reply.data() + esp::kHeadroom;
        std::copy(ip.begin(), ip.end(), r);
        std::copy_n(ip.data() + 12, 4, r + 16);
        std::copy_n(ip.data() + 16, 4, r + 12);
        r[20] = 0;
        std::uint32_t sum = std::uint32_t(load_be16(r + 22)) + 0x0800;
        store_be16(r + 22, std::uint16_t((sum & 0xffff) + (sum >> 16)));
        auto sealed = it->second.out.seal(std::span<std::uint8_t>(reply), ip.size());
        ASSERT_TRUE(sealed);
        gen->receive(t, std::size_t(from.port - kPortBase), Endpoint{kServer, 4500},
                     Bytes(sealed->begin(), sealed->end()));
    }

    void run_until(Time end) {
        while (t < end) {
            gen->tick(t);
            bool moved = true;
            while (moved) {
                moved = false;
                for (auto& s : gen->take_sends()) {
                    moved = true;
                    const Endpoint from{gen->socket_address(s.socket),
                                        std::uint16_t(kPortBase + s.socket)};
                    if (s.to.port == 4500 && s.data.size() >= 8 && load_be32(s.data.data()) != 0)
                        gateway_esp(from, s.data);
                    else
                        resp->receive(t, Endpoint{kServer, s.to.port}, from, s.data);
                }
                for (auto& out : resp->take_outputs()) {
                    if (auto* ins = std::get_if<ike::InstallChildSa>(&out)) {
                        auto in = esp::InboundSa::create(ins->child);
                        auto o = esp::OutboundSa::create(ins->child);
                        ASSERT_TRUE(in && o);
                        gw.emplace(ins->child.spi_in, GwSa{std::move(*in), std::move(*o)});
                    }
                    auto* d = std::get_if<ike::SendDatagram>(&out);
                    if (!d) continue;
                    moved = true;
                    gen->receive(t, std::size_t(d->remote.port - kPortBase), d->local, d->data);
                }
            }
            Time next = std::min({gen->next_wakeup(), resp->next_deadline(), end});
            if (next > t) t = next;
            if (resp->next_deadline() <= t) resp->on_timer(t);
        }
    }
};

TEST(LoadProbe, EveryTunnelAnswersThroughItsOwnChildSa) {
    Lab lab(options(20));
    lab.run_until(lab.t + 3s);
    const LoadStats& st = lab.gen->stats();
    EXPECT_EQ(st.established, 20u);
    EXPECT_TRUE(lab.gen->all_answering());
    EXPECT_GT(st.probes_sent, 20u * 20);  // ~2.9 s at 10 probes/s per tunnel
    EXPECT_EQ(st.replies, st.probes_sent);
    EXPECT_EQ(st.esp_dropped, 0u);
    EXPECT_EQ(st.esp_other, 0u);
    EXPECT_EQ(st.ike_sa_init_sent, 20u);
    // Probes are spread over the interval: with 20 tunnels and 100 ms, one
    // every 5 ms, so each full 50 ms bucket carries 10 and half the tunnels.
    const auto& tl = lab.gen->timeline();
    ASSERT_GT(tl.size(), 20u);
    for (std::size_t k = 10; k + 1 < tl.size(); ++k) {
        EXPECT_EQ(tl[k].probes, 10u) << k;
        EXPECT_EQ(tl[k].tunnels, 10u) << k;
    }
}

TEST(LoadProbe, MeasuresAGapAfterTheMark) {
    Lab lab(options(10));
    lab.run_until(lab.t + 2s);
    ASSERT_TRUE(lab.gen->all_answering());
    const Time kill = lab.t;
    lab.gen->mark(kill);
    lab.esp_blocked = [&] { return lab.t < kill + 400ms; };
    lab.run_until(kill + 2s);
    const Recovery r = lab.gen->recovery();
    EXPECT_EQ(r.tunnels, 10u);
    EXPECT_EQ(r.recovered, 10u);
    // Back within one probe interval of the end of the gap.
    EXPECT_GE(r.all_back_ms, 400.0);
    EXPECT_LE(r.all_back_ms, 500.0);
    EXPECT_GE(r.back_ms.p50, 400.0);
    EXPECT_GE(r.all_back_sent_ms, 400.0);
    EXPECT_LE(r.all_back_sent_ms, r.all_back_ms);
    // The probe one interval before the slowest tunnel's first answered one
    // was lost: the gap ended between the two.
    EXPECT_LT(r.all_back_lower_ms, 400.0);
    EXPECT_GE(r.all_back_lower_ms, 300.0);
    const LoadStats& st = lab.gen->stats();
    // 400 ms of 10 probes/s on 10 tunnels: 40 probes lost (give or take the edges).
    EXPECT_NEAR(double(st.probes_after_mark - st.replies_after_mark), 40.0, 2.0);
    EXPECT_EQ(st.ike_sa_init_after_mark, 0u);
    EXPECT_EQ(st.reconnects, 0u);
    // The timeline shows the hole: the buckets after the mark have no replies.
    const auto& tl = lab.gen->timeline();
    const std::size_t k_kill = std::size_t((kill - lab.gen->timeline_origin()) / 50ms);
    EXPECT_EQ(tl[k_kill + 2].replies, 0u);
    EXPECT_EQ(tl[k_kill + 6].replies, 0u);
    EXPECT_GT(tl[k_kill + 12].replies, 0u);
}

TEST(LoadProbe, WithoutReconnectAColdStandbyNeverComesBack) {
    Lab lab(options(5));
    lab.run_until(lab.t + 2s);
    lab.gen->mark(lab.t);
    lab.replace_responder();
    lab.run_until(lab.t + 5s);
    const Recovery r = lab.gen->recovery();
    EXPECT_EQ(r.tunnels, 5u);
    EXPECT_EQ(r.recovered, 0u);
    EXPECT_LT(r.all_back_ms, 0.0);  // not everything came back
    EXPECT_EQ(lab.gen->stats().ike_sa_init_after_mark, 0u);
}

TEST(LoadProbe, ReconnectsAfterTheLivenessTimeout) {
    auto o = options(8);
    o.reconnect = true;
    o.liveness = 1s;
    Lab lab(o);
    lab.run_until(lab.t + 2s);
    ASSERT_TRUE(lab.gen->all_answering());
    const Time kill = lab.t;
    lab.gen->mark(kill);
    lab.replace_responder();
    lab.run_until(kill + 4s);
    const LoadStats& st = lab.gen->stats();
    EXPECT_EQ(st.reconnects, 8u);
    EXPECT_EQ(st.ike_sa_init_after_mark, 8u);
    EXPECT_EQ(st.established, 16u);
    EXPECT_TRUE(lab.gen->done());  // reconnections are not the initial launch
    const Recovery r = lab.gen->recovery();
    EXPECT_EQ(r.recovered, 8u);
    // No reply for the liveness time (after the last reply before the
    // kill), then a handshake: back after ~1 s, within a probe interval.
    EXPECT_GT(r.all_back_ms, 900.0);
    EXPECT_LT(r.all_back_ms, 1300.0);
    EXPECT_TRUE(lab.gen->all_answering());
}

TEST(LoadProbe, LivenessSparesTunnelsThatNeverAnswered) {
    // A slow data path is not a lost SA: only a tunnel that answered on its
    // SA and then fell silent reconnects.
    auto o = options(4);
    o.reconnect = true;
    o.liveness = 1s;
    Lab lab(o);
    lab.esp_blocked = [] { return true; };
    lab.run_until(lab.t + 5s);
    EXPECT_EQ(lab.gen->stats().reconnects, 0u);
    EXPECT_EQ(lab.gen->stats().ike_sa_init_sent, 4u);
    EXPECT_EQ(lab.gen->held(), 4u);
    EXPECT_FALSE(lab.gen->all_answering());
}

TEST(LoadProbe, ProbePacketsAndReplies) {
    std::array<std::uint8_t, 64> buf{};
    const IpAddress inner = *IpAddress::parse("198.18.0.7");
    ASSERT_EQ(build_probe(buf, inner, kTarget, 7, 3, Time::from_ms(5)), 48u);
    EXPECT_EQ(build_probe(std::span(buf).first(47), inner, kTarget, 7, 3, Time{}), 0u);
    EXPECT_EQ(build_probe(buf, *IpAddress::parse("2001:db8::1"), kTarget, 7, 3, Time{}), 0u);
    // A request is not a reply; turned into one (addresses swapped, type 0,
    // checksum recomputed from scratch) it names the tunnel.
    EXPECT_FALSE(parse_probe_reply(BytesView(buf.data(), 48), inner));
    std::array<std::uint8_t, 64> rep{};
    ASSERT_EQ(build_probe(rep, kTarget, inner, 7, 3, Time::from_ms(5), Time::from_ms(2)), 48u);
    rep[20] = 0;
    store_be16(rep.data() + 22, 0);
    std::uint32_t sum = 0;
    for (std::size_t k = 20; k < 48; k += 2)
        sum += load_be16(rep.data() + k);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    store_be16(rep.data() + 22, std::uint16_t(~sum));
    auto got = parse_probe_reply(BytesView(rep.data(), 48), inner);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->index, 7u);
    EXPECT_EQ(got->sent, Time::from_ms(5));
    EXPECT_EQ(got->previous, Time::from_ms(2));
    // To someone else, truncated, corrupted, or another protocol: not ours.
    EXPECT_FALSE(parse_probe_reply(BytesView(rep.data(), 48), kTarget));
    EXPECT_FALSE(parse_probe_reply(BytesView(rep.data(), 47), inner));
    EXPECT_FALSE(parse_probe_reply(BytesView(rep.data(), 0), inner));
    auto bad = rep;
    bad[30] ^= 1;
    EXPECT_FALSE(parse_probe_reply(BytesView(bad.data(), 48), inner));
    bad = rep;
    bad[45] ^= 1;  // the previous send time is covered by the checksum too
    EXPECT_FALSE(parse_probe_reply(BytesView(bad.data(), 48), inner));
    bad = rep;
    bad[9] = 17;
    EXPECT_FALSE(parse_probe_reply(BytesView(bad.data(), 48), inner));
    bad = rep;
    store_be16(bad.data() + 2, 200);  // claims more than there is
    EXPECT_FALSE(parse_probe_reply(BytesView(bad.data(), 48), inner));
}

TEST(LoadProbe, RejectsIpv6ProbesAndAShortLiveness) {
    crypto::DeterministicRandom rng(5);
    auto o = options(1);
    o.ts_base = *IpAddress::parse("2001:db8::");
    EXPECT_FALSE(Generator::create(o, rng));
    o = options(1);  // probes every 100 ms
    o.reconnect = true;
    o.liveness = 200ms;
    EXPECT_FALSE(Generator::create(o, rng));
    o.liveness = 201ms;
    EXPECT_TRUE(Generator::create(o, rng));
    // The sweep is made of probes, at a rate that is a number.
    o = options(1);
    o.sweep_rate = -1;
    EXPECT_FALSE(Generator::create(o, rng));
    o.sweep_rate = std::numeric_limits<double>::quiet_NaN();
    EXPECT_FALSE(Generator::create(o, rng));
    o.sweep_rate = std::numeric_limits<double>::infinity();
    EXPECT_FALSE(Generator::create(o, rng));
    o.sweep_rate = 100;
    EXPECT_TRUE(Generator::create(o, rng));
    o.probe_interval = 0ms;
    EXPECT_FALSE(Generator::create(o, rng));
}

// The failover of MeasuresAGapAfterTheMark, but 40 tunnels probed once a
// second: on its own, the probe round only knows each tunnel was back
// within a second of the 400 ms gap's end.
struct SweepRun {
    Recovery r;
    LoadStats st;
    std::uint64_t probes_before_mark = 0;
};
SweepRun failover_with_sweep(double sweep_rate,
                             std::function<bool(std::uint32_t, Duration)> blocked) {
    auto o = options(40);
    o.probe_interval = 1s;
    o.sweep_rate = sweep_rate;
    Lab lab(o);
    lab.run_until(lab.t + 3s);
    EXPECT_TRUE(lab.gen->all_answering());
    SweepRun out;
    out.probes_before_mark = lab.gen->stats().probes_sent;
    EXPECT_EQ(lab.gen->stats().sweep_probes, 0u);  // nothing before a mark
    const Time kill = lab.t;
    lab.gen->mark(kill);
    lab.tunnel_blocked = [&](std::uint32_t i) { return blocked(i, lab.t - kill); };
    lab.run_until(kill + 4s);
    out.r = lab.gen->recovery();
    out.st = lab.gen->stats();
    return out;
}

TEST(LoadProbe, SweepBracketsTheReturnOfEveryTunnel) {
    auto gap = [](std::uint32_t, Duration since_kill) { return since_kill < 400ms; };
    const SweepRun off = failover_with_sweep(0, gap);
    EXPECT_EQ(off.r.recovered, 40u);
    EXPECT_EQ(off.st.sweep_probes, 0u);
    EXPECT_LT(off.r.sweep_start_ms, 0.0);
    EXPECT_GT(off.r.all_back_sent_ms, 1000.0);  // a tunnel probed just before 400 ms waits 1 s

    // 400 probes/s: one sweep cycle over the 40 tunnels takes 100 ms.
    const SweepRun on = failover_with_sweep(400, gap);
    EXPECT_EQ(on.r.tunnels, 40u);
    EXPECT_EQ(on.r.recovered, 40u);
    // It starts with the first answered probe (the first regular one after
    // the gap: one every 25 ms) and reaches every tunnel left in one cycle.
    EXPECT_GE(on.r.sweep_start_ms, 400.0);
    EXPECT_LE(on.r.sweep_start_ms, 425.0);
    EXPECT_GE(on.r.all_back_sent_ms, 400.0);
    // The sweep and the round share the work: every tunnel has had a probe
    // after 40 / (400 + 40) s (a little less, the first one was back).
    EXPECT_LE(on.r.all_back_sent_ms, on.r.sweep_start_ms + 91.0);
    EXPECT_LE(on.r.all_back_ms, on.r.sweep_start_ms + 91.0);
    // The lower bound is a probe that really was lost: the regular probe of
    // a tunnel whose slot fell in the gap (one every 25 ms).
    EXPECT_LT(on.r.all_back_lower_ms, 400.0);
    EXPECT_GE(on.r.all_back_lower_ms, 370.0);
    // At most one sweep probe per tunnel left (every one answers it at
    // once here, so the sweep ends after one cycle), and they are ordinary
    // probes: counted after the mark and answered like the others.
    EXPECT_GT(on.st.sweep_probes, 20u);
    EXPECT_LT(on.st.sweep_probes, 40u);
    EXPECT_EQ(on.st.probes_after_mark, off.st.probes_after_mark + on.st.sweep_probes);
    EXPECT_EQ(on.st.probes_after_mark - on.st.replies_after_mark,
              off.st.probes_after_mark - off.st.replies_after_mark);
}

TEST(LoadProbe, SweepWaitsForTheGatewayToComeBack) {
    // The gateway still answers for 30 ms after the mark (it was killed a
    // little later), then goes dark until 400 ms: a probe sent after the
    // mark and answered then says nothing about the failover, and sweeping
    // from then on would add the sweep rate to the whole outage.
    const SweepRun on = failover_with_sweep(400, [](std::uint32_t, Duration since_kill) {
        return since_kill >= 30ms && since_kill < 400ms;
    });
    EXPECT_GE(on.r.sweep_start_ms, 400.0);
    EXPECT_LE(on.r.sweep_start_ms, 425.0);
    EXPECT_LT(on.st.sweep_probes, 40u);
    EXPECT_LE(on.r.all_back_sent_ms, on.r.sweep_start_ms + 91.0);
}

TEST(LoadProbe, SweepNarrowsOnTheLastTunnels) {
    // Tunnel 7 stays dark until 2 s after the kill, the others 400 ms.
    const SweepRun on = failover_with_sweep(400, [](std::uint32_t i, Duration since_kill) {
        return since_kill < (i == 7 ? 2000ms : 400ms);
    });
    EXPECT_EQ(on.r.recovered, 40u);
    // Alone in the sweep, it is probed every 10 ms (not at 400/s, and not
    // only once a second): its return is known to within that.
    EXPECT_GE(on.r.all_back_sent_ms, 2000.0);
    EXPECT_LE(on.r.all_back_sent_ms, 2010.0);
    EXPECT_GE(on.r.all_back_lower_ms, 1990.0);
    EXPECT_LT(on.r.all_back_lower_ms, 2000.0);
    // Up to 39 in the first cycle (fewer: the round brings some back), then
    // ~1.6 s / 10 ms for tunnel 7.
    EXPECT_GT(on.st.sweep_probes, 20u + 150);
    EXPECT_LT(on.st.sweep_probes, 39u + 170);
}

TEST(LoadProbe, SweepAndRoundShareTheWorkWhereverTheRoundIs) {
    // The gateway comes back at every phase of the probe round (one slot
    // every 25 ms): with the sweep at 80/s next to the round's 40/s, every
    // tunnel has had a probe 40 / (80 + 40) s = 333 ms after the first
    // reply, not the 500 ms of a sweep that walked over the tunnels the
    // round was about to probe anyway.
    double worst = 0;
    for (int k = 0; k < 40; ++k) {
        const Duration gap = 400ms + k * 25ms;
        const SweepRun on = failover_with_sweep(
            80, [gap](std::uint32_t, Duration since_kill) { return since_kill < gap; });
        ASSERT_EQ(on.r.recovered, 40u) << k;
        worst = std::max(worst, on.r.all_back_sent_ms - on.r.sweep_start_ms);
    }
    EXPECT_LE(worst, 340.0);
}

}  // namespace
}  // namespace ikecluster::load
