// RFC 6311 after a takeover, at the node: which SAs get a sync
// (NodeConfig::peer_sync) and how the syncs are paced. A standby that holds
// 10,000 SAs takes over; the SyncPeers batches must cover every SA whose
// peer announced support within 2 s, in batches small enough that no burst
// floods the network (draft-vidya-ipsec-failover-ps), each SA once.
#include <gtest/gtest.h>

#include <set>

#include "cluster/node.h"

namespace ikecluster::cluster {
namespace {

using namespace std::chrono_literals;

ike::IkeSaState make_sa(std::uint64_t n, bool msgid_sync) {
    ike::IkeSaState s;
    s.spis = {n, n ^ 0xfeedface00000000};
    s.config_name = "rw";
    s.keys = {Bytes(32, 1), {}, {}, Bytes(36, 2), Bytes(36, 3), Bytes(32, 4), Bytes(32, 5)};
    s.local_id = *ike::Identity::parse("gw.example.org");
    s.remote_id = *ike::Identity::parse("peer" + std::to_string(n) + "@example.org");
    s.local = {*IpAddress::parse("192.0.2.1"), 4500};
    s.remote = {*IpAddress::parse("198.51.100.7"), std::uint16_t(1024 + n % 60000)};
    s.msgids = {2, 3, 2, {Bytes(80, 0x77)}};
    s.established = Time::from_ms(500);
    s.peer.msgid_sync = msgid_sync;
    ike::ChildSaState c;
    c.config_name = "net";
    c.spi_in = std::uint32_t(0x1000 + n);
    c.spi_out = std::uint32_t(0x9000000 + n);
    c.keys = {Bytes(36, 1), {}, Bytes(36, 2), {}};
    c.ts_local = {ike::TrafficSelector::host(*IpAddress::parse("10.0.0.1"))};
    c.ts_remote = {ike::TrafficSelector::host(*IpAddress::parse("10.9.0.1"))};
    c.established = Time::from_ms(1000);
    s.children.push_back(c);
    return s;
}

NodeConfig node_cfg(std::uint16_t self, std::uint16_t peer, PeerSyncMode mode) {
    NodeConfig nc;
    nc.membership.self = self;
    nc.membership.peers = {peer};
    nc.membership.external = true;
    nc.keys = {ClusterKey{1, Bytes(32, 0x5a)}};
    nc.stripes = {24, std::uint16_t(self - 1), 2};
    nc.peer_sync = mode;
    return nc;
}

struct TwoNodes {
    crypto::DeterministicRandom ra{1}, rb{2};
    Time t = Time::from_ms(1'000'000);
    ClusterNode a, b;
    explicit TwoNodes(PeerSyncMode mode)
        : a(std::move(ClusterNode::create(node_cfg(1, 2, mode), ra, t).value())),
          b(std::move(ClusterNode::create(node_cfg(2, 1, mode), rb, t).value())) {}
    void pump(int rounds, bool deliver = true) {
        for (int i = 0; i < rounds; ++i) {
            t = t + 1ms;
            a.on_timer(t);
            b.on_timer(t);
            for (bool any = true; any;) {
                any = false;
                for (auto& o : a.take_datagrams()) {
                    if (deliver) b.receive(t, 1, o.datagram);
                    any = true;
                }
                for (auto& o : b.take_datagrams()) {
                    if (deliver) a.receive(t, 2, o.datagram);
                    any = true;
                }
            }
        }
    }
    // a active with `n` SAs (every third without RFC 6311), b synced.
    void load(std::size_t n) {
        ASSERT_TRUE(a.set_role(t, Role::ACTIVE).ok());
        pump(300);
        ASSERT_TRUE(b.synced());
        for (std::size_t i = 0; i < n; ++i) {
            a.on_engine_event(t, ike::Event{ike::IkeSaEstablished{make_sa(i + 1, i % 3 != 0)}});
            if (i % 256 == 255) pump(1);
        }
        pump(300);
        ASSERT_EQ(b.replica().ike_sa_count(), n);
        (void)b.take_actions();
    }
};

TEST(PeerSyncPacing, TenThousandPeersWithinTwoSecondsWithoutABurst) {
    TwoNodes n(PeerSyncMode::ALWAYS);
    const std::size_t kSas = 10'000;
    n.load(kSas);
    ASSERT_TRUE(n.b.set_role(n.t, Role::ACTIVE).ok());
    const Time start = n.t;
    std::set<ike::IkeSpis> synced;
    std::size_t wanted = 0, biggest = 0, batches = 0;
    Time last = start;
    bool took_over = false;
    for (int ms = 0; ms < 3000; ++ms) {
        for (auto& act : n.b.take_actions()) {
            if (auto* t = std::get_if<Takeover>(&act)) {
                took_over = true;
                ASSERT_EQ(t->peer_sync.size(), t->sas.size());
                for (std::size_t i = 0; i < t->sas.size(); ++i) {
                    // Exactly the SAs whose peer announced support.
                    EXPECT_EQ(bool(t->peer_sync[i]), t->sas[i].peer.msgid_sync);
                    wanted += t->peer_sync[i];
                }
            } else if (auto* s = std::get_if<SyncPeers>(&act)) {
                ++batches;
                biggest = std::max(biggest, s->sas.size());
                last = n.t;
                EXPECT_EQ(s->request.replay_delta, std::uint64_t{1} << 20);  // seq_margin
                for (const auto& spis : s->sas)
                    EXPECT_TRUE(synced.insert(spis).second) << "an SA was handed out twice";
            }
        }
        n.pump(1, false);  // a is dead
    }
    ASSERT_TRUE(took_over);
    EXPECT_EQ(synced.size(), wanted);
    EXPECT_GT(wanted, kSas / 2);
    // 8000/s in batches every 5 ms: 40 per batch, done in about 0.85 s.
    EXPECT_LE(biggest, 40u);
    EXPECT_LT(last - start, 2s);
    std::printf("RFC 6311 pacing: %zu syncs in %zu batches (at most %zu) over %lld ms\n",
                synced.size(), batches, biggest,
                static_cast<long long>((last - start).count() / 1000000));
}

TEST(PeerSyncPacing, NeverMeansNoSyncAndSuspectedOnlyRecentSas) {
    {
        TwoNodes n(PeerSyncMode::NEVER);
        n.load(50);
        ASSERT_TRUE(n.b.set_role(n.t, Role::ACTIVE).ok());
        n.pump(200, false);
        for (auto& act : n.b.take_actions()) {
            EXPECT_FALSE(std::holds_alternative<SyncPeers>(act));
            if (auto* t = std::get_if<Takeover>(&act)) {
                for (auto f : t->peer_sync)
                    EXPECT_EQ(f, 0);
            }
        }
    }
    {
        // SUSPECTED: SAs the active changed in the last dead time + 1 s are
        // synced; the others, quiet for a minute, are not.
        TwoNodes n(PeerSyncMode::SUSPECTED);
        n.load(30);
        n.pump(60'000);
        ike::IkeSpis recent = make_sa(8, true).spis;  // its peer announced RFC 6311
        ike::MessageIds ids{5, 6, 5, {Bytes(80, 1)}};
        n.a.on_engine_event(n.t, ike::Event{ike::IkeMessageIdsAdvanced{recent, ids}});
        n.pump(5);
        ASSERT_TRUE(n.b.set_role(n.t, Role::ACTIVE).ok());
        std::set<ike::IkeSpis> synced;
        for (int i = 0; i < 50; ++i) {
            for (auto& act : n.b.take_actions()) {
                if (auto* s = std::get_if<SyncPeers>(&act))
                    synced.insert(s->sas.begin(), s->sas.end());
            }
            n.pump(1, false);
        }
        EXPECT_EQ(synced, std::set<ike::IkeSpis>{recent});
    }
}

}  // namespace
}  // namespace ikecluster::cluster
