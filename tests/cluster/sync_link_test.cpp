#include "cluster/sync_link.h"

#include <gtest/gtest.h>

#include <optional>
#include <queue>
#include <random>
#include <string>

namespace ikecluster::cluster {
namespace {

using namespace std::chrono_literals;

Bytes secret(std::uint8_t fill) {
    return Bytes(32, fill);
}

SyncLinkConfig config(std::uint16_t self, std::uint16_t peer) {
    SyncLinkConfig c;
    c.self = self;
    c.peer = peer;
    c.keys = {ClusterKey{1, secret(0x5a)}};
    return c;
}

SyncLink make(SyncLinkConfig c, crypto::Random& rng, Time now) {
    auto r = SyncLink::create(std::move(c), rng, now);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
    return std::move(r).value();
}

// A record whose content says which one it is, so order and integrity can
// be checked on arrival.
Bytes record(std::uint32_t n, std::size_t size) {
    Bytes b(std::max<std::size_t>(size, 4));
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = static_cast<std::uint8_t>(n * 31 + i);
    b[0] = static_cast<std::uint8_t>(n >> 24);
    b[1] = static_cast<std::uint8_t>(n >> 16);
    b[2] = static_cast<std::uint8_t>(n >> 8);
    b[3] = static_cast<std::uint8_t>(n);
    return b;
}

// The network between two links in virtual time: loss, duplication,
// reordering (extra random delay), corruption; deterministic per seed.
struct LinkModel {
    double loss = 0, dup = 0, reorder = 0, corrupt = 0;
    Duration delay = 5ms;
    Duration reorder_extra = 20ms;
};

class Harness {
  public:
    explicit Harness(std::uint64_t seed, LinkModel model = {}, SyncLinkConfig ca = config(1, 2),
                     SyncLinkConfig cb = config(2, 1))
        : model_(model), prng_(seed), ra_(seed * 2 + 1), rb_(seed * 2 + 2), cb_(cb) {
        a.emplace(make(ca, ra_, now));
        b.emplace(make(cb, rb_, now));
    }

    // Replaces b with a new SyncLink, as if member 2 restarted.
    void restart_b(std::uint64_t seed) {
        restart_rng_.emplace(seed);
        b.emplace(make(cb_, *restart_rng_, now));
        got_b.clear();
    }

    void collect() {
        for (Bytes& d : a->take_datagrams()) {
            if (capture_a) captured_a.push_back(d);
            transmit(std::move(d), 1);
        }
        for (Bytes& d : b->take_datagrams()) {
            if (capture_b) captured_b.push_back(d);
            transmit(std::move(d), 0);
        }
        for (auto& r : a->take_delivered())
            got_a.push_back(std::move(r));
        for (auto& r : b->take_delivered())
            got_b.push_back(std::move(r));
    }

    // Advances virtual time to the next event; false when nothing is left.
    bool step() {
        collect();
        Time t = std::min(a->next_deadline(), b->next_deadline());
        if (!wire_.empty()) t = std::min(t, wire_.top().at);
        if (t == Time::max()) return false;
        if (t > now) now = t;
        while (!wire_.empty() && wire_.top().at <= now) {
            Packet p = wire_.top();
            wire_.pop();
            (p.to == 0 ? *a : *b).receive(now, p.data);
        }
        if (a->next_deadline() <= now) a->on_timer(now);
        if (b->next_deadline() <= now) b->on_timer(now);
        collect();
        return true;
    }

    template <typename Pred>
    bool run_until(Pred done, Duration limit = 600s) {
        const Time end = now + limit;
        while (!done()) {
            if (now > end || !step()) return done();
        }
        return true;
    }

    bool handshake() {
        return run_until([&] { return a->established() && b->established(); }, 60s);
    }

    std::optional<SyncLink> a, b;
    Time now = Time::from_ms(1000);
    std::vector<SyncLink::Delivered> got_a, got_b;
    bool capture_a = false, capture_b = false;
    std::vector<Bytes> captured_a, captured_b;
    LinkModel model_;

  private:
    struct Packet {
        Time at;
        std::uint64_t order;
        int to;
        Bytes data;
        bool operator>(const Packet& o) const { return at != o.at ? at > o.at : order > o.order; }
    };

    double uniform() { return std::uniform_real_distribution<double>(0, 1)(prng_); }

    void transmit(Bytes d, int to) {
        if (uniform() < model_.loss) return;
        const int copies = uniform() < model_.dup ? 2 : 1;
        for (int i = 0; i < copies; ++i) {
            Bytes c = d;
            if (uniform() < model_.corrupt && !c.empty())
                c[std::uniform_int_distribution<std::size_t>(0, c.size() - 1)(prng_)] ^= 0x40;
            Duration delay = model_.delay;
            if (uniform() < model_.reorder)
                delay += std::chrono::duration_cast<Duration>(model_.reorder_extra * uniform());
            wire_.push(Packet{now + delay, order_++, to, std::move(c)});
        }
    }

    std::mt19937_64 prng_;
    crypto::DeterministicRandom ra_, rb_;
    std::optional<crypto::DeterministicRandom> restart_rng_;
    SyncLinkConfig cb_;
    std::priority_queue<Packet, std::vector<Packet>, std::greater<>> wire_;
    std::uint64_t order_ = 0;
};

std::vector<Bytes> reliable(const std::vector<SyncLink::Delivered>& d) {
    std::vector<Bytes> out;
    for (const auto& r : d)
        if (r.reliable) out.push_back(r.record);
    return out;
}

TEST(SyncLink, CreateRejectsBadConfig) {
    crypto::DeterministicRandom rng(1);
    auto c = config(1, 2);
    c.keys.clear();
    EXPECT_FALSE(SyncLink::create(c, rng, Time{}).ok());
    c = config(1, 2);
    c.keys[0].secret.resize(31);
    EXPECT_FALSE(SyncLink::create(c, rng, Time{}).ok());
    c = config(1, 1);
    EXPECT_FALSE(SyncLink::create(c, rng, Time{}).ok());
    c = config(1, 2);
    c.keys.push_back(c.keys[0]);
    EXPECT_FALSE(SyncLink::create(c, rng, Time{}).ok());
    c = config(1, 2);
    c.max_datagram = 100;
    EXPECT_FALSE(SyncLink::create(c, rng, Time{}).ok());
    EXPECT_TRUE(SyncLink::create(config(1, 2), rng, Time{}).ok());
}

TEST(SyncLink, HandshakeThenRecordsBothWays) {
    Harness h(1);
    EXPECT_FALSE(h.a->established());
    EXPECT_NE(h.a->next_deadline(), Time::max());  // HELLO due
    ASSERT_TRUE(h.handshake());
    EXPECT_FALSE(h.a->take_peer_reset());  // a first contact is not a reset
    EXPECT_FALSE(h.b->take_peer_reset());
    for (std::uint32_t i = 0; i < 10; ++i) {
        ASSERT_TRUE(h.a->send(record(i, 100)).ok());
        ASSERT_TRUE(h.b->send(record(1000 + i, 50)).ok());
    }
    h.a->flush(h.now);
    h.b->flush(h.now);
    ASSERT_TRUE(h.run_until([&] { return h.got_a.size() == 10 && h.got_b.size() == 10; }));
    for (std::uint32_t i = 0; i < 10; ++i) {
        EXPECT_EQ(h.got_b[i].record, record(i, 100));
        EXPECT_EQ(h.got_a[i].record, record(1000 + i, 50));
    }
    ASSERT_TRUE(h.run_until([&] { return h.a->queued() == 0 && h.b->queued() == 0; }));
    // Quiet once everything is acknowledged.
    EXPECT_EQ(h.a->next_deadline(), Time::max());
    EXPECT_EQ(h.b->next_deadline(), Time::max());
}

TEST(SyncLink, RecordsQueuedBeforeHandshakeArrive) {
    Harness h(2);
    for (std::uint32_t i = 0; i < 5; ++i)
        ASSERT_TRUE(h.a->send(record(i, 10)).ok());
    h.a->flush(h.now);
    ASSERT_TRUE(h.run_until([&] { return h.got_b.size() == 5; }));
    EXPECT_EQ(reliable(h.got_b)[4], record(4, 10));
}

class LossySeeds : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(LossySeeds, ExactlyOnceInOrderAcrossLossDupReorderCorruption) {
    LinkModel m;
    m.loss = 0.2;
    m.dup = 0.1;
    m.reorder = 0.3;
    m.corrupt = 0.02;
    Harness h(GetParam(), m);
    std::mt19937_64 sizes(GetParam());
    std::vector<Bytes> sent_a, sent_b;
    constexpr std::uint32_t kRecords = 3000;
    std::uint32_t next = 0;
    // Records go in over time, in bursts, some larger than a datagram.
    while (next < kRecords || h.a->queued() != 0 || h.b->queued() != 0) {
        if (next < kRecords) {
            for (int i = 0; i < 50 && next < kRecords; ++i, ++next) {
                const std::size_t size = sizes() % 10 == 0 ? 1500 + sizes() % 9000 : sizes() % 700;
                sent_a.push_back(record(next, size));
                sent_b.push_back(record(next + 1000000, size / 2));
                ASSERT_TRUE(h.a->send(sent_a.back()).ok());
                ASSERT_TRUE(h.b->send(sent_b.back()).ok());
                h.a->send_unreliable(to_bytes("heartbeat"));
            }
            h.a->flush(h.now);
            h.b->flush(h.now);
        }
        const Time until = h.now + 20ms;
        if (!h.run_until([&] { return h.now >= until; })) break;
        ASSERT_LT(h.now, Time::from_ms(3'600'000)) << "no convergence";
    }
    ASSERT_TRUE(h.run_until([&] {
        return h.got_b.size() >= 1 && reliable(h.got_b).size() == kRecords &&
               reliable(h.got_a).size() == kRecords;
    }));
    EXPECT_EQ(reliable(h.got_b), sent_a);
    EXPECT_EQ(reliable(h.got_a), sent_b);
    EXPECT_GT(h.a->stats().retransmits, 0u);
    EXPECT_GT(h.b->stats().auth_failures + h.a->stats().auth_failures, 0u);  // corruption seen
    EXPECT_FALSE(h.a->take_peer_reset());
    EXPECT_FALSE(h.b->take_peer_reset());
}

INSTANTIATE_TEST_SUITE_P(Seeds, LossySeeds, ::testing::Values(11, 12, 13, 14));

TEST(SyncLink, Bulk100kRecordsOverLossyLink) {
    LinkModel m;
    m.loss = 0.05;
    m.reorder = 0.05;
    Harness h(21, m);
    ASSERT_TRUE(h.handshake());
    constexpr std::uint32_t kRecords = 100000;
    for (std::uint32_t i = 0; i < kRecords; ++i)
        ASSERT_TRUE(h.a->send(record(i, 600)).ok());
    h.a->flush(h.now);
    std::uint32_t checked = 0;
    ASSERT_TRUE(h.run_until([&] {
        for (; checked < h.got_b.size(); ++checked)
            if (h.got_b[checked].record != record(checked, 600)) return true;
        return checked == kRecords;
    }));
    ASSERT_EQ(checked, kRecords);
    ASSERT_TRUE(h.run_until([&] { return h.a->queued() == 0; }));
    EXPECT_EQ(h.b->stats().records_delivered, kRecords);
    EXPECT_LT(h.a->stats().datagrams_out, kRecords);  // records are packed
}

TEST(SyncLink, ForgedAndWrongSecretRejected) {
    Harness h(3);
    ASSERT_TRUE(h.handshake());
    // A host with another secret, posing as member 1.
    crypto::DeterministicRandom rng(99);
    auto other = config(1, 2);
    other.keys[0].secret = secret(0x77);
    SyncLink mallory = make(other, rng, h.now);
    mallory.on_timer(h.now);
    ASSERT_TRUE(mallory.send(record(1, 10)).ok());
    auto hello = mallory.take_datagrams();
    ASSERT_FALSE(hello.empty());
    const auto before = h.b->stats().auth_failures;
    for (const Bytes& d : hello)
        h.b->receive(h.now, d);
    EXPECT_EQ(h.b->stats().auth_failures, before + hello.size());

    // A real datagram with its ciphertext altered, and random junk with a
    // valid-looking header.
    h.capture_a = true;
    ASSERT_TRUE(h.a->send(record(2, 100)).ok());
    h.a->flush(h.now);
    Bytes real = h.a->take_datagrams().at(0);
    Bytes forged = real;
    forged[40] ^= 1;
    h.b->receive(h.now, forged);
    EXPECT_EQ(h.b->stats().auth_failures, before + hello.size() + 1);
    Bytes header_forged = real;
    header_forged[31] ^= 1;  // packet number is authenticated too
    h.b->receive(h.now, header_forged);
    EXPECT_EQ(h.b->stats().auth_failures, before + hello.size() + 2);
    EXPECT_TRUE(h.b->take_delivered().empty());
    EXPECT_TRUE(h.b->established());
    h.b->receive(h.now, real);  // the genuine one still works
    auto got = h.b->take_delivered();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].record, record(2, 100));
}

TEST(SyncLink, ReplayedDatagramDropped) {
    Harness h(4);
    ASSERT_TRUE(h.handshake());
    ASSERT_TRUE(h.a->send(record(7, 300)).ok());
    h.a->send_unreliable(to_bytes("hb"));
    h.a->flush(h.now);
    auto ds = h.a->take_datagrams();
    ASSERT_EQ(ds.size(), 1u);
    h.b->receive(h.now, ds[0]);
    EXPECT_EQ(h.b->take_delivered().size(), 2u);
    for (int i = 0; i < 3; ++i)
        h.b->receive(h.now, ds[0]);
    EXPECT_TRUE(h.b->take_delivered().empty());  // neither record nor heartbeat again
    EXPECT_EQ(h.b->stats().replays, 3u);
}

TEST(SyncLink, UnreliableRecordsAreNotRetransmitted) {
    LinkModel m;
    m.loss = 1.0;
    Harness h(5);
    ASSERT_TRUE(h.handshake());
    h.model_.loss = 1.0;
    h.a->send_unreliable(to_bytes("lost"));
    h.a->flush(h.now);
    h.run_until([&] { return false; }, 10s);
    h.model_.loss = 0;
    h.a->send_unreliable(to_bytes("seen"));
    h.a->flush(h.now);
    h.run_until([&] { return false; }, 1s);
    ASSERT_EQ(h.got_b.size(), 1u);
    EXPECT_FALSE(h.got_b[0].reliable);
    EXPECT_EQ(h.got_b[0].record, to_bytes("seen"));
    EXPECT_EQ(h.a->stats().retransmits, 0u);
}

TEST(SyncLink, PeerRestartIsReportedOnceAndDeliveryResumes) {
    LinkModel m;
    m.loss = 0.1;
    Harness h(6, m);
    ASSERT_TRUE(h.handshake());
    for (std::uint32_t i = 0; i < 100; ++i)
        ASSERT_TRUE(h.a->send(record(i, 200)).ok());
    h.a->flush(h.now);
    ASSERT_TRUE(h.run_until([&] { return h.got_b.size() == 100; }));
    // Some records in flight when b dies.
    for (std::uint32_t i = 100; i < 150; ++i)
        ASSERT_TRUE(h.a->send(record(i, 200)).ok());
    h.a->flush(h.now);
    const std::uint64_t old_session = h.b->session();
    h.restart_b(1234);
    ASSERT_NE(h.b->session(), old_session);
    ASSERT_TRUE(h.run_until([&] { return h.a->established() && h.b->established(); }));
    EXPECT_TRUE(h.a->take_peer_reset());
    EXPECT_FALSE(h.a->take_peer_reset());
    EXPECT_FALSE(h.b->take_peer_reset());
    EXPECT_EQ(h.a->queued(), 0u);  // the stale queue is gone
    // The replication layer would now send a snapshot; a fresh stream flows.
    for (std::uint32_t i = 0; i < 20; ++i)
        ASSERT_TRUE(h.a->send(record(5000 + i, 200)).ok());
    ASSERT_TRUE(h.b->send(record(9, 9)).ok());
    h.a->flush(h.now);
    h.b->flush(h.now);
    ASSERT_TRUE(h.run_until([&] { return h.got_b.size() == 20 && h.got_a.size() == 1; }));
    for (std::uint32_t i = 0; i < 20; ++i)
        EXPECT_EQ(h.got_b[i].record, record(5000 + i, 200));
    EXPECT_FALSE(h.a->take_peer_reset());
}

TEST(SyncLink, OldSessionDatagramsAreNotAcceptedAfterRestart) {
    Harness h(7);
    h.capture_a = true;
    h.capture_b = true;
    ASSERT_TRUE(h.handshake());
    for (std::uint32_t i = 0; i < 30; ++i)
        ASSERT_TRUE(h.b->send(record(i, 100)).ok());
    h.b->flush(h.now);
    ASSERT_TRUE(h.run_until([&] { return h.got_a.size() == 30 && h.b->queued() == 0; }));
    const auto old_from_b = h.captured_b;  // HELLOs and DATA of b's first session
    const auto old_from_a = h.captured_a;  // addressed to b's first session
    h.restart_b(555);
    ASSERT_TRUE(h.run_until([&] { return h.a->established() && h.b->established(); }));
    EXPECT_TRUE(h.a->take_peer_reset());
    h.run_until([&] { return false; }, 5s);
    const auto a_stale = h.a->stats().stale_session;
    const auto b_stale = h.b->stats().stale_session;
    // An attacker replays everything the old b sent to a, and everything a
    // sent to the old b.
    for (const Bytes& d : old_from_b)
        h.a->receive(h.now, d);
    for (const Bytes& d : old_from_a)
        h.b->receive(h.now, d);
    h.run_until([&] { return false; }, 10s);
    EXPECT_TRUE(h.a->take_delivered().empty());
    EXPECT_TRUE(h.b->take_delivered().empty());
    EXPECT_EQ(h.got_a.size(), 30u);  // nothing more arrived
    EXPECT_TRUE(h.got_b.empty());
    EXPECT_GT(h.a->stats().stale_session, a_stale);
    EXPECT_GT(h.b->stats().stale_session, b_stale);
    EXPECT_FALSE(h.a->take_peer_reset());  // the old session was not re-adopted
    EXPECT_FALSE(h.b->take_peer_reset());
    EXPECT_TRUE(h.a->established());
    EXPECT_TRUE(h.b->established());
    // And the link still works.
    ASSERT_TRUE(h.b->send(record(77, 10)).ok());
    h.b->flush(h.now);
    ASSERT_TRUE(h.run_until([&] { return h.got_a.size() == 31; }));
    EXPECT_EQ(h.got_a.back().record, record(77, 10));
}

TEST(SyncLink, KeyRotation) {
    auto ca = config(1, 2);
    ca.keys = {ClusterKey{2, secret(0x22)}, ClusterKey{1, secret(0x11)}};
    auto cb = config(2, 1);
    cb.keys = {ClusterKey{1, secret(0x11)}, ClusterKey{2, secret(0x22)}};
    Harness h(8, {}, ca, cb);
    ASSERT_TRUE(h.handshake());
    ASSERT_TRUE(h.a->send(record(1, 1000)).ok());
    ASSERT_TRUE(h.b->send(record(2, 1000)).ok());
    h.a->flush(h.now);
    h.b->flush(h.now);
    ASSERT_TRUE(h.run_until([&] { return h.got_a.size() == 1 && h.got_b.size() == 1; }));
    EXPECT_EQ(h.got_b[0].record, record(1, 1000));
    EXPECT_EQ(h.got_a[0].record, record(2, 1000));
    EXPECT_EQ(h.a->stats().auth_failures + h.b->stats().auth_failures, 0u);

    // A receiver that lacks the sender's key id rejects it.
    auto cc = config(2, 1);
    cc.keys = {ClusterKey{1, secret(0x11)}};
    Harness only_old(9, {}, ca, cc);
    EXPECT_FALSE(only_old.handshake());
    EXPECT_GT(only_old.b->stats().auth_failures, 0u);
}

TEST(SyncLink, QueueOverflowReturnsErrorAndResetsStream) {
    auto ca = config(1, 2);
    ca.max_queued = 10;
    Harness h(10, {}, ca);
    ASSERT_TRUE(h.handshake());
    h.model_.loss = 1.0;  // b is unreachable: nothing gets acknowledged
    for (std::uint32_t i = 0; i < 10; ++i)
        ASSERT_TRUE(h.a->send(record(i, 10)).ok());
    h.a->flush(h.now);
    EXPECT_EQ(h.a->queued(), 10u);
    auto st = h.a->send(record(10, 10));
    EXPECT_FALSE(st.ok());
    EXPECT_TRUE(h.a->take_peer_reset());
    EXPECT_FALSE(h.a->take_peer_reset());
    EXPECT_EQ(h.a->queued(), 0u);
    h.run_until([&] { return false; }, 5s);
    h.model_.loss = 0;
    // The new stream reaches b even though b never saw the old one complete.
    ASSERT_TRUE(h.a->send(record(100, 10)).ok());
    h.a->flush(h.now);
    ASSERT_TRUE(h.run_until([&] { return h.got_b.size() == 1; }));
    EXPECT_EQ(h.got_b[0].record, record(100, 10));
    ASSERT_TRUE(h.run_until([&] { return h.a->queued() == 0; }));
}

TEST(SyncLink, OversizedRecordRejectedWithoutReset) {
    Harness h(11);
    EXPECT_FALSE(h.a->send(Bytes(SyncLink::kMaxRecordSize + 1)).ok());
    EXPECT_FALSE(h.a->take_peer_reset());
    EXPECT_EQ(h.a->queued(), 0u);
}

TEST(SyncLink, EveryTruncationIsDropped) {
    Harness h(12);
    ASSERT_TRUE(h.handshake());
    ASSERT_TRUE(h.a->send(record(3, 500)).ok());
    h.a->flush(h.now);
    auto ds = h.a->take_datagrams();
    ASSERT_EQ(ds.size(), 1u);
    const Bytes& d = ds[0];
    for (std::size_t n = 0; n < d.size(); ++n) {
        h.b->receive(h.now, BytesView(d.data(), n));
        ASSERT_TRUE(h.b->take_delivered().empty()) << n;
    }
    EXPECT_EQ(h.b->stats().malformed + h.b->stats().auth_failures, d.size());
    h.b->receive(h.now, d);
    EXPECT_EQ(h.b->take_delivered().size(), 1u);

    // The same for a HELLO.
    crypto::DeterministicRandom rng(1);
    SyncLink fresh = make(config(1, 2), rng, h.now);
    fresh.on_timer(h.now);
    auto hello = fresh.take_datagrams();
    ASSERT_EQ(hello.size(), 1u);
    for (std::size_t n = 0; n < hello[0].size(); ++n)
        h.b->receive(h.now, BytesView(hello[0].data(), n));
    EXPECT_TRUE(h.b->established());
    EXPECT_TRUE(h.b->take_datagrams().empty());  // nothing answered
}

TEST(SyncLink, HelloBacksOffWhileThePeerIsAway) {
    crypto::DeterministicRandom rng(1);
    Time now = Time::from_ms(0);
    SyncLink a = make(config(1, 2), rng, now);
    std::vector<Time> sent;
    while (now < Time::from_ms(20000)) {
        now = a.next_deadline();
        a.on_timer(now);
        if (!a.take_datagrams().empty()) sent.push_back(now);
    }
    ASSERT_GE(sent.size(), 5u);
    EXPECT_EQ(sent[1] - sent[0], 200ms);
    EXPECT_EQ(sent[2] - sent[1], 400ms);
    EXPECT_EQ(sent.back() - sent[sent.size() - 2], 2s);  // capped at rto_max
}

}  // namespace
}  // namespace ikecluster::cluster
