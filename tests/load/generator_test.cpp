// The load generator against an in-process responder engine on virtual time:
// every SA comes up with its own identity, COOKIE and lost datagrams are
// handled, failures are counted by reason, and the rate limit spaces
// launches.
#include "generator.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <random>
#include <set>

#include "base/buffer.h"
#include "ike/proposal.h"
#include "ike/traffic_selector.h"

namespace ikecluster::load {
namespace {

using namespace std::chrono_literals;

const IpAddress kServer = *IpAddress::parse("198.51.100.1");
const IpAddress kClient = *IpAddress::parse("198.51.100.2");
constexpr std::uint16_t kPortBase = 20000;  // the generator's socket s is port kPortBase + s

ike::EngineConfig responder_config(const std::string& psk,
                                   const std::string& proposals = "aes128gcm16-prfsha256-x25519") {
    ike::EngineConfig cfg;
    ike::ConnectionConfig c;
    c.name = "rw";
    c.local_id = *ike::Identity::parse("gw.example");
    c.psk = Bytes(psk.begin(), psk.end());
    c.ike_proposals = *ike::parse_proposals(proposals, ike::ProposalKind::IKE);
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
    o.concurrency = 8;
    o.ports = 4;
    o.psk = "load-test-psk";
    return o;
}

// Runs generator and responder until the generator is done (or `limit` of
// virtual time passes). `drop(n)` decides whether the n-th datagram from
// the generator is lost.
struct Lab {
    crypto::DeterministicRandom rng_g{1}, rng_r{2};
    std::unique_ptr<Generator> gen;
    ike::Engine resp;
    Time t = Time::from_ms(1000);
    std::function<bool(std::size_t)> drop = [](std::size_t) { return false; };
    std::size_t sent = 0;
    std::vector<Time> launches;

    Lab(const LoadOptions& o, ike::EngineConfig rc) : resp(std::move(rc), rng_r) {
        auto g = Generator::create(o, rng_g);
        EXPECT_TRUE(g) << (g ? "" : g.error().what);
        gen = std::move(*g);
    }

    void run(Duration limit = 300s) {
        const Time end = t + limit;
        std::size_t launched = 0;
        while (!gen->done() && t < end) {
            gen->tick(t);
            for (; launched < gen->stats().launched; ++launched)
                launches.push_back(t);
            bool moved = true;
            while (moved) {
                moved = false;
                for (auto& s : gen->take_sends()) {
                    moved = true;
                    if (drop(sent++)) continue;
                    const Endpoint from{gen->socket_address(s.socket),
                                        std::uint16_t(kPortBase + s.socket)};
                    resp.receive(t, Endpoint{kServer, s.to.port}, from, s.data);
                }
                for (auto& out : resp.take_outputs()) {
                    auto* d = std::get_if<ike::SendDatagram>(&out);
                    if (!d) continue;
                    moved = true;
                    gen->receive(t, std::size_t(d->remote.port - kPortBase), d->local, d->data);
                }
            }
            Time next = std::min(gen->next_wakeup(), resp.next_deadline());
            if (next > t) {
                t = next;
                if (resp.next_deadline() <= t) resp.on_timer(t);
            }
        }
    }
};

TEST(LoadGenerator, EstablishesEverySaWithItsOwnIdentity) {
    Lab lab(options(50), responder_config("load-test-psk"));
    lab.run();
    const LoadStats& st = lab.gen->stats();
    EXPECT_EQ(st.launched, 50u);
    EXPECT_EQ(st.established, 50u);
    EXPECT_EQ(st.failed, 0u);
    EXPECT_EQ(st.latency_ms.size(), 50u);
    EXPECT_EQ(st.cookies, 0u);
    EXPECT_EQ(lab.gen->held(), 50u);
    EXPECT_EQ(lab.resp.ike_sa_count(), 50u);
    std::set<std::string> ids;
    std::set<std::string> inner;
    for (const auto& spis : lab.resp.established()) {
        const ike::IkeSaState* sa = lab.resp.find(spis);
        ASSERT_NE(sa, nullptr);
        ids.insert(sa->remote_id.to_string());
        ASSERT_EQ(sa->children.size(), 1u);
        ASSERT_EQ(sa->children[0].ts_remote.size(), 1u);
        inner.insert(sa->children[0].ts_remote[0].start.to_string());
    }
    EXPECT_EQ(ids.size(), 50u);
    EXPECT_TRUE(ids.count("client0@load.example"));
    EXPECT_TRUE(ids.count("client49@load.example"));
    EXPECT_EQ(inner.size(), 50u);
    EXPECT_TRUE(inner.count("198.18.0.49"));
}

TEST(LoadGenerator, AnswersCookieRequests) {
    auto rc = responder_config("load-test-psk");
    rc.cookie_threshold = 0;  // every IKE_SA_INIT must carry a COOKIE (RFC 7296 §2.6)
    Lab lab(options(20), std::move(rc));
    lab.run();
    const LoadStats& st = lab.gen->stats();
    EXPECT_EQ(st.established, 20u);
    EXPECT_EQ(st.failed, 0u);
    EXPECT_GE(st.cookies, 20u);
}

TEST(LoadGenerator, RetransmitsLostRequests) {
    // A fifth of the generator's datagrams lost, at (seeded) random: a
    // periodic pattern could hit every retransmission of one SA. (An
    // initiator's half-open SA lives 30 s, five sends; losing all five is
    // the engine giving up, which this seed does not do.)
    auto o = options(20);
    Lab lab(o, responder_config("load-test-psk"));
    std::mt19937 loss(7);
    lab.drop = [&loss](std::size_t) { return loss() % 5 == 0; };
    lab.run();
    const LoadStats& st = lab.gen->stats();
    EXPECT_EQ(st.established, 20u);
    EXPECT_EQ(st.failed, 0u);
    for (const auto& [why, n] : st.failures)
        ADD_FAILURE() << n << " x " << why;
    EXPECT_GT(st.retransmits, 0u);
    // Latencies include the retransmission timeout (2 s by default).
    EXPECT_GE(percentiles(st.latency_ms).max, 2000.0);
}

TEST(LoadGenerator, CountsAuthenticationFailures) {
    Lab lab(options(5), responder_config("another-psk-entirely"));
    lab.run();
    const LoadStats& st = lab.gen->stats();
    EXPECT_EQ(st.established, 0u);
    EXPECT_EQ(st.failed, 5u);
    ASSERT_EQ(st.failures.size(), 1u);
    EXPECT_EQ(st.failures.begin()->first,
              "IKE_AUTH answered without an SA (rejected or undecryptable)");
    EXPECT_EQ(lab.gen->in_flight(), 0u);
}

TEST(LoadGenerator, NamesRejectedProposals) {
    Lab lab(options(3), responder_config("load-test-psk", "aes256-sha256-modp2048"));
    lab.run();
    const LoadStats& st = lab.gen->stats();
    EXPECT_EQ(st.failed, 3u);
    ASSERT_EQ(st.failures.size(), 1u);
    EXPECT_EQ(st.failures.begin()->first, "IKE_SA_INIT answered with NO_PROPOSAL_CHOSEN");
}

TEST(LoadGenerator, TimesOutWithoutResponder) {
    auto o = options(4);
    o.timeout = 10s;
    Lab lab(o, responder_config("load-test-psk"));
    lab.drop = [](std::size_t) { return true; };
    lab.run();
    const LoadStats& st = lab.gen->stats();
    EXPECT_EQ(st.failed, 4u);
    EXPECT_EQ(st.failures.at("timeout: no IKE_SA_INIT response"), 4u);
    EXPECT_TRUE(lab.gen->done());
}

TEST(LoadGenerator, RateSpacesLaunches) {
    auto o = options(6);
    o.rate = 10;  // one every 100 ms
    Lab lab(o, responder_config("load-test-psk"));
    lab.run();
    ASSERT_EQ(lab.launches.size(), 6u);
    EXPECT_EQ(lab.launches.back() - lab.launches.front(), 500ms);
    EXPECT_EQ(lab.gen->stats().established, 6u);
}

TEST(LoadGenerator, ConcurrencyBoundsInFlight) {
    auto o = options(30);
    o.concurrency = 3;
    Lab lab(o, responder_config("load-test-psk"));
    lab.drop = [](std::size_t) { return true; };
    lab.gen->tick(lab.t);
    EXPECT_EQ(lab.gen->in_flight(), 3u);
    EXPECT_EQ(lab.gen->stats().launched, 3u);
}

TEST(LoadGenerator, RejectsBadOptions) {
    crypto::DeterministicRandom rng(3);
    auto o = options(0);
    EXPECT_FALSE(Generator::create(o, rng));
    o = options(1);
    o.ike_proposals = "nonsense";
    EXPECT_FALSE(Generator::create(o, rng));
    o = options(1);
    o.psk = "short";
    EXPECT_FALSE(Generator::create(o, rng));
    o = options(1);
    o.locals.clear();
    EXPECT_FALSE(Generator::create(o, rng));
}

TEST(LoadHelpers, Percentiles) {
    std::vector<double> v;
    for (int i = 100; i >= 1; --i)
        v.push_back(i);
    Percentiles p = percentiles(v);
    EXPECT_EQ(p.p50, 50);
    EXPECT_EQ(p.p90, 90);
    EXPECT_EQ(p.p99, 99);
    EXPECT_EQ(p.max, 100);
    EXPECT_EQ(percentiles({}).max, 0);
    EXPECT_EQ(percentiles({7}).p50, 7);
}

TEST(LoadHelpers, IdentitiesAndAddresses) {
    EXPECT_EQ(format_id("client%d@load.example", 42), "client42@load.example");
    EXPECT_EQ(format_id("peer", 3), "peer3");
    EXPECT_EQ(offset_address(*IpAddress::parse("198.18.0.250"), 10).to_string(), "198.18.1.4");
    EXPECT_EQ(offset_address(*IpAddress::parse("2001:db8::"), 0x10001).to_string(),
              "2001:db8::1:1");
}

}  // namespace
}  // namespace ikecluster::load
