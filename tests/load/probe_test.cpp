// The load generator's probe mode against an in-process responder engine and
// a minimal gateway data plane on virtual time: each tunnel's ICMP echoes go
// through its own Child SA and come back; a gap after mark() shows up as the
// recovery time and the lost probes; a responder that forgets everything
// (a cold standby) makes reconnect mode start new IKE SAs.
#include <gtest/gtest.h>

#include <functional>
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
    ASSERT_EQ(build_probe(buf, inner, kTarget, 7, 3, Time::from_ms(5)), 40u);
    EXPECT_EQ(build_probe(std::span(buf).first(39), inner, kTarget, 7, 3, Time{}), 0u);
    EXPECT_EQ(build_probe(buf, *IpAddress::parse("2001:db8::1"), kTarget, 7, 3, Time{}), 0u);
    // A request is not a reply; turned into one (addresses swapped, type 0,
    // checksum recomputed from scratch) it names the tunnel.
    EXPECT_FALSE(parse_probe_reply(BytesView(buf.data(), 40), inner));
    std::array<std::uint8_t, 64> rep{};
    ASSERT_EQ(build_probe(rep, kTarget, inner, 7, 3, Time::from_ms(5)), 40u);
    rep[20] = 0;
    store_be16(rep.data() + 22, 0);
    std::uint32_t sum = 0;
    for (std::size_t k = 20; k < 40; k += 2)
        sum += load_be16(rep.data() + k);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    store_be16(rep.data() + 22, std::uint16_t(~sum));
    auto got = parse_probe_reply(BytesView(rep.data(), 40), inner);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->index, 7u);
    EXPECT_EQ(got->sent, Time::from_ms(5));
    // To someone else, truncated, corrupted, or another protocol: not ours.
    EXPECT_FALSE(parse_probe_reply(BytesView(rep.data(), 40), kTarget));
    EXPECT_FALSE(parse_probe_reply(BytesView(rep.data(), 30), inner));
    EXPECT_FALSE(parse_probe_reply(BytesView(rep.data(), 0), inner));
    auto bad = rep;
    bad[30] ^= 1;
    EXPECT_FALSE(parse_probe_reply(BytesView(bad.data(), 40), inner));
    bad = rep;
    bad[9] = 17;
    EXPECT_FALSE(parse_probe_reply(BytesView(bad.data(), 40), inner));
    bad = rep;
    store_be16(bad.data() + 2, 200);  // claims more than there is
    EXPECT_FALSE(parse_probe_reply(BytesView(bad.data(), 40), inner));
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
}

}  // namespace
}  // namespace ikecluster::load
