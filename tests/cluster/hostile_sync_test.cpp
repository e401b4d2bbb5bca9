// Garbage, replays and corrupted copies on the sync port, at the level of a
// whole ClusterNode (docs/hostile-input.md). The sync link authenticates
// every datagram (AES-GCM under the cluster key, sync_link.h) and numbers
// them, so none of this may move a role, an epoch or the replica: no
// takeover, no stepdown, and the genuine traffic carries on.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "cluster/node.h"
#include "crypto/random.h"

using namespace ikecluster;
using namespace ikecluster::cluster;
using namespace std::chrono_literals;

namespace {

NodeConfig config(std::uint16_t self, std::uint16_t other) {
    NodeConfig c;
    c.membership.self = self;
    c.membership.priority = std::uint8_t(200 - self);
    c.membership.peers = {other};
    c.keys = {ClusterKey{1, Bytes(32, 0x5a)}};
    c.stripes.shift = 20;
    c.stripes.index = std::uint16_t(self - 1);
    c.stripes.count = 2;
    return c;
}

struct TwoNodes {
    crypto::DeterministicRandom r1{1}, r2{2};
    Time now = Time::from_ms(1000);
    ClusterNode a = std::move(ClusterNode::create(config(1, 2), r1, now).value());
    ClusterNode b = std::move(ClusterNode::create(config(2, 1), r2, now).value());
    std::vector<Bytes> a_to_b;  // everything member 1 ever sent member 2
    std::vector<NodeAction> actions_b;

    // One 10 ms step: timers, then datagrams both ways; `tamper` may add
    // hostile datagrams for member 2 before the genuine ones.
    template <typename F>
    void step(F&& tamper) {
        now = now + 10ms;
        if (a.next_deadline() <= now) a.on_timer(now);
        if (b.next_deadline() <= now) b.on_timer(now);
        for (int round = 0; round < 4; ++round) {
            for (auto& o : a.take_datagrams()) {
                a_to_b.push_back(o.datagram);
                tamper(o.datagram);
                b.receive(now, 1, o.datagram);
            }
            for (auto& o : b.take_datagrams())
                a.receive(now, 2, o.datagram);
        }
        (void)a.take_actions();
        for (auto& x : b.take_actions())
            actions_b.push_back(x);
        (void)a.take_checkpoint_due();
        (void)b.take_checkpoint_due();
    }
    void step() {
        step([](const Bytes&) {});
    }
};

}  // namespace

TEST(HostileSync, GarbageReplaysAndCorruptionMoveNothing) {
    TwoNodes n;
    for (int i = 0; i < 300; ++i)
        n.step();
    ASSERT_EQ(n.a.role(), Role::ACTIVE);
    ASSERT_EQ(n.b.role(), Role::STANDBY);
    ASSERT_TRUE(n.b.link_established(1));
    const std::uint64_t epoch = n.a.epoch();
    const auto stats_before = n.b.stats();
    n.actions_b.clear();

    crypto::DeterministicRandom junk(99);
    std::size_t hostile = 0;
    for (int i = 0; i < 300; ++i) {
        // Every 10 ms: random octets, claiming to come from member 1, from
        // an unknown member and from member 2 itself; and a replay of
        // something member 1 sent earlier.
        for (std::uint16_t from : {1, 9, 2}) {
            n.b.receive(n.now, from, junk.bytes(junk.u32() % 200));
            ++hostile;
        }
        n.b.receive(n.now, 1, n.a_to_b[junk.u32() % n.a_to_b.size()]);
        ++hostile;
        n.step([&](const Bytes& genuine) {
            // Each genuine datagram also arrives with one bit flipped, and
            // truncated.
            Bytes bad = genuine;
            std::size_t bit = junk.u32() % (bad.size() * 8);
            bad[bit / 8] ^= std::uint8_t(1u << (bit % 8));
            n.b.receive(n.now, 1, bad);
            n.b.receive(n.now, 1, BytesView(genuine).first(junk.u32() % genuine.size()));
            hostile += 2;
        });
    }
    EXPECT_GT(hostile, 1000u);
    EXPECT_TRUE(n.actions_b.empty());
    EXPECT_EQ(n.a.role(), Role::ACTIVE);
    EXPECT_EQ(n.b.role(), Role::STANDBY);
    EXPECT_EQ(n.a.epoch(), epoch);
    EXPECT_EQ(n.b.epoch(), epoch);
    EXPECT_TRUE(n.b.link_established(1));
    EXPECT_TRUE(n.b.synced());
    EXPECT_EQ(n.b.stats().takeovers, stats_before.takeovers);
    EXPECT_EQ(n.b.stats().records_malformed, stats_before.records_malformed);
    // And the standby still takes over when the active really dies.
    for (int i = 0; i < 100; ++i) {
        n.now = n.now + 10ms;
        if (n.b.next_deadline() <= n.now) n.b.on_timer(n.now);
        (void)n.b.take_datagrams();
        for (auto& x : n.b.take_actions())
            n.actions_b.push_back(x);
    }
    ASSERT_EQ(n.actions_b.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<Takeover>(n.actions_b[0]));
    EXPECT_EQ(n.b.role(), Role::ACTIVE);
}
