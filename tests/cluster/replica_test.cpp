// The standby's store: what each record does to it, what it refuses, and
// that a snapshot rebuilds an equal store, also at 100,000 IKE SAs.
#include "cluster/replica.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>

#include "cluster/records_gen.h"

namespace ikecluster::cluster {
namespace {

using namespace std::chrono_literals;

ike::ChildSaState make_child(std::uint32_t spi_in) {
    ike::ChildSaState c;
    c.config_name = "net";
    c.unique_id = spi_in & 0xffff;
    c.spi_in = spi_in;
    c.spi_out = spi_in ^ 0x5a5a5a5a;
    c.keys = {Bytes(36, std::uint8_t(spi_in)), {}, Bytes(36, std::uint8_t(spi_in >> 8)), {}};
    c.ts_local = {ike::TrafficSelector::host(*IpAddress::parse("10.0.0.1"))};
    c.ts_remote = {ike::TrafficSelector::host(*IpAddress::parse("10.9.0.1"))};
    c.established = Time::from_ms(1000);
    c.rekey_at = Time::from_ms(3'600'000);
    return c;
}

ike::IkeSaState make_sa(std::uint64_t n, std::vector<std::uint32_t> child_spis) {
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
    for (std::uint32_t spi : child_spis)
        s.children.push_back(make_child(spi));
    return s;
}

// Applies `r`, expecting success.
void ok(Replica& rep, const Record& r) {
    Status s = rep.apply(r);
    ASSERT_TRUE(s.ok()) << record_name(r) << ": " << s.error().what;
}

// Applies `r`, expecting a rejection that leaves the state as it was.
void refused(Replica& rep, const Record& r, const std::string& why) {
    Replica before = rep;
    auto rejected = rep.stats().rejected;
    Status s = rep.apply(r);
    ASSERT_FALSE(s.ok()) << record_name(r);
    EXPECT_NE(s.error().what.find(why), std::string::npos) << s.error().what;
    EXPECT_TRUE(rep == before) << record_name(r) << " changed the state";
    EXPECT_EQ(rep.stats().rejected, rejected + 1);
}

TEST(Replica, EstablishedInsertsAndReplaces) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300, 301});
    ok(rep, ike::IkeSaEstablished{s});
    ASSERT_NE(rep.find(s.spis), nullptr);
    EXPECT_EQ(*rep.find(s.spis), s);
    EXPECT_EQ(rep.ike_sa_count(), 1u);
    EXPECT_EQ(rep.child_sa_count(), 2u);
    EXPECT_EQ(rep.counters(300), (ChildCounters{1, 0}));
    EXPECT_FALSE(rep.counters(302));
    EXPECT_EQ(rep.find({9, 9}), nullptr);

    // A replacement keeps the counters of children that stay.
    ok(rep, Checkpoints{{{s.spis, 300, 50, 60}, {s.spis, 301, 70, 80}}});
    s.config_name = "renamed";
    s.children.pop_back();
    s.children.push_back(make_child(302));
    ok(rep, ike::IkeSaEstablished{s});
    EXPECT_EQ(rep.find(s.spis)->config_name, "renamed");
    EXPECT_EQ(rep.counters(300), (ChildCounters{50, 60}));
    EXPECT_FALSE(rep.counters(301));
    EXPECT_EQ(rep.counters(302), (ChildCounters{1, 0}));
    EXPECT_EQ(rep.child_sa_count(), 2u);
    EXPECT_EQ(rep.stats().applied, 3u);
}

TEST(Replica, ChildSpisBelongToOneSa) {
    Replica rep;
    ok(rep, ike::IkeSaEstablished{make_sa(1, {300})});
    refused(rep, ike::IkeSaEstablished{make_sa(2, {301, 300})}, "belongs to IKE SA");
    refused(rep, ike::IkeSaEstablished{make_sa(2, {302, 302})}, "two children");
    refused(rep, ike::ChildSaAdded{make_sa(2, {}).spis, make_child(300)}, "unknown IKE SA");
    ok(rep, ike::IkeSaEstablished{make_sa(2, {})});
    refused(rep, ike::ChildSaAdded{make_sa(2, {}).spis, make_child(300)}, "already belongs");
}

TEST(Replica, MessageIdsNeedTheSa) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300});
    ike::MessageIds m{10, 11, 10, {Bytes(5, 1), Bytes(6, 2)}};
    refused(rep, ike::IkeMessageIdsAdvanced{s.spis, m}, "unknown IKE SA");
    ok(rep, ike::IkeSaEstablished{s});
    ok(rep, ike::IkeMessageIdsAdvanced{s.spis, m});
    EXPECT_EQ(rep.find(s.spis)->msgids, m);
    EXPECT_EQ(rep.stats().rejected, 1u);
}

TEST(Replica, ChildAddedAppendsOrReplaces) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300});
    ok(rep, ike::IkeSaEstablished{s});
    ok(rep, ike::ChildSaAdded{s.spis, make_child(301)});
    EXPECT_EQ(rep.find(s.spis)->children.size(), 2u);
    EXPECT_EQ(rep.find(s.spis)->children[1].spi_in, 301u);
    EXPECT_EQ(rep.counters(301), (ChildCounters{1, 0}));

    ok(rep, Checkpoints{{{s.spis, 301, 9, 9}}});
    ike::ChildSaState updated = make_child(301);
    updated.rekey_at = Time::from_ms(42);
    ok(rep, ike::ChildSaAdded{s.spis, updated});
    EXPECT_EQ(rep.find(s.spis)->children.size(), 2u);
    EXPECT_EQ(rep.find(s.spis)->children[1], updated);
    EXPECT_EQ(rep.counters(301), (ChildCounters{9, 9}));

    for (std::uint32_t spi = 302; rep.find(s.spis)->children.size() < kMaxChildren; ++spi) {
        ok(rep, ike::ChildSaAdded{s.spis, make_child(spi)});
    }
    refused(rep, ike::ChildSaAdded{s.spis, make_child(9999)}, "already has 64 children");
}

TEST(Replica, ChildRekeyedReplacesTheOldChild) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300, 301, 302});
    ok(rep, ike::IkeSaEstablished{s});
    ok(rep, Checkpoints{{{s.spis, 301, 1000, 2000}}});
    refused(rep, ike::ChildSaRekeyed{s.spis, 999, make_child(400)}, "unknown child");
    refused(rep, ike::ChildSaRekeyed{{7, 7}, 301, make_child(400)}, "unknown IKE SA");
    refused(rep, ike::ChildSaRekeyed{s.spis, 301, make_child(301)}, "keeps spi_in");
    refused(rep, ike::ChildSaRekeyed{s.spis, 301, make_child(302)}, "already belongs");

    ok(rep, ike::ChildSaRekeyed{s.spis, 301, make_child(400)});
    const auto& kids = rep.find(s.spis)->children;
    ASSERT_EQ(kids.size(), 3u);
    EXPECT_EQ(kids[1].spi_in, 400u);  // in the old one's place
    EXPECT_FALSE(rep.counters(301));
    EXPECT_EQ(rep.counters(400), (ChildCounters{1, 0}));
    EXPECT_EQ(rep.child_sa_count(), 3u);
}

TEST(Replica, ChildDeletedRemovesItsCounters) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300, 301});
    ok(rep, ike::IkeSaEstablished{s});
    refused(rep, ike::ChildSaDeleted{s.spis, 302}, "unknown child");
    refused(rep, ike::ChildSaDeleted{{5, 5}, 300}, "unknown IKE SA");
    ok(rep, ike::ChildSaDeleted{s.spis, 300});
    EXPECT_FALSE(rep.counters(300));
    ASSERT_EQ(rep.find(s.spis)->children.size(), 1u);
    EXPECT_EQ(rep.find(s.spis)->children[0].spi_in, 301u);
    EXPECT_EQ(rep.child_sa_count(), 1u);
}

TEST(Replica, IkeRekeyedMovesTheChildrenWithTheirCounters) {
    Replica rep;
    ike::IkeSaState old = make_sa(1, {300, 301});
    ok(rep, ike::IkeSaEstablished{old});
    ok(rep, ike::IkeSaEstablished{make_sa(2, {500})});
    ok(rep, Checkpoints{{{old.spis, 300, 77, 88}}});

    ike::IkeSaState fresh = old;
    fresh.spis = {0xaaaa, 0xbbbb};
    fresh.msgids = {};
    refused(rep, ike::IkeSaRekeyed{{3, 3}, fresh}, "unknown IKE SA");
    ike::IkeSaState thief = fresh;
    thief.children.push_back(make_child(500));
    refused(rep, ike::IkeSaRekeyed{old.spis, thief}, "belongs to IKE SA");

    ok(rep, ike::IkeSaRekeyed{old.spis, fresh});
    // The old SA stays, without children, until its own Delete completes (a
    // new active must still answer the peer's Delete for it).
    ASSERT_NE(rep.find(old.spis), nullptr);
    EXPECT_TRUE(rep.find(old.spis)->children.empty());
    ASSERT_NE(rep.find(fresh.spis), nullptr);
    EXPECT_EQ(*rep.find(fresh.spis), fresh);
    EXPECT_EQ(rep.counters(300), (ChildCounters{77, 88}));
    EXPECT_EQ(rep.counters(301), (ChildCounters{1, 0}));
    EXPECT_EQ(rep.ike_sa_count(), 3u);
    EXPECT_EQ(rep.child_sa_count(), 3u);
    ok(rep, ike::IkeSaDeleted{old.spis, ike::DeleteReason::REPLACED});
    EXPECT_EQ(rep.find(old.spis), nullptr);
    EXPECT_EQ(rep.ike_sa_count(), 2u);
    EXPECT_EQ(rep.counters(300), (ChildCounters{77, 88}));
    // The children now belong to the new SA: its delete takes them along.
    ok(rep, ike::IkeSaDeleted{fresh.spis, ike::DeleteReason::DELETED_BY_PEER});
    EXPECT_FALSE(rep.counters(300));
    EXPECT_EQ(rep.child_sa_count(), 1u);
}

TEST(Replica, IkeDeletedRemovesItsChildren) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300, 301});
    ok(rep, ike::IkeSaEstablished{s});
    ok(rep, ike::IkeSaEstablished{make_sa(2, {302})});
    refused(rep, ike::IkeSaDeleted{{4, 4}, ike::DeleteReason::EXPIRED}, "unknown IKE SA");
    ok(rep, ike::IkeSaDeleted{s.spis, ike::DeleteReason::EXPIRED});
    EXPECT_EQ(rep.find(s.spis), nullptr);
    EXPECT_FALSE(rep.counters(300));
    EXPECT_FALSE(rep.counters(301));
    EXPECT_TRUE(rep.counters(302));
    EXPECT_EQ(rep.ike_sa_count(), 1u);
    EXPECT_EQ(rep.child_sa_count(), 1u);
}

TEST(Replica, CheckpointsOnlyMoveForward) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300});
    ok(rep, ike::IkeSaEstablished{s});
    ok(rep, Checkpoints{{{s.spis, 300, 100, 50}}});
    EXPECT_EQ(rep.counters(300), (ChildCounters{100, 50}));
    // Arrives after a newer one: neither field goes back, each moves on
    // on its own.
    ok(rep, Checkpoints{{{s.spis, 300, 90, 70}}});
    EXPECT_EQ(rep.counters(300), (ChildCounters{100, 70}));
    ok(rep, Checkpoints{{{s.spis, 300, 1, 0}}});
    EXPECT_EQ(rep.counters(300), (ChildCounters{100, 70}));
    ok(rep, Checkpoints{{{s.spis, 300, UINT64_MAX, UINT64_MAX}}});
    EXPECT_EQ(rep.counters(300), (ChildCounters{UINT64_MAX, UINT64_MAX}));
}

TEST(Replica, CheckpointsForUnknownChildrenAreCountedNotApplied) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300});
    ok(rep, ike::IkeSaEstablished{s});
    // 301 was deleted before its last checkpoint arrived; the IKE SPIs of
    // 300's entry are stale (a rekey moved it): found by spi_in anyway.
    ok(rep, Checkpoints{{{s.spis, 301, 5, 5}, {{8, 8}, 300, 6, 6}}});
    EXPECT_FALSE(rep.counters(301));
    EXPECT_EQ(rep.counters(300), (ChildCounters{6, 6}));
    EXPECT_EQ(rep.stats().checkpoints_ignored, 1u);
    EXPECT_EQ(rep.child_sa_count(), 1u);
}

RC_GTEST_PROP(ReplicaProperty, CountersAreTheMaximumInAnyOrder, ()) {
    Replica rep;
    ike::IkeSaState s = make_sa(1, {300});
    RC_ASSERT(rep.apply(ike::IkeSaEstablished{s}).ok());
    auto seqs = *rc::gen::container<std::vector<std::pair<std::uint64_t, std::uint64_t>>>(
        rc::gen::pair(rc::gen::inRange<std::uint64_t>(1, 1'000'000),
                      rc::gen::inRange<std::uint64_t>(0, 1'000'000)));
    ChildCounters expect;
    for (auto [out, in] : seqs) {
        RC_ASSERT(rep.apply(Checkpoints{{{s.spis, 300, out, in}}}).ok());
        expect.out_next_seq = std::max(expect.out_next_seq, out);
        expect.in_highest = std::max(expect.in_highest, in);
    }
    RC_ASSERT(rep.counters(300) == expect);
}

TEST(Replica, CookieSecretsAreReplaced) {
    Replica rep;
    EXPECT_FALSE(rep.cookie_secrets());
    ike::CookieSecrets a;
    a.current = ike::CookieSecret{1, Bytes(32, 1), Time::from_ms(5)};
    ok(rep, CookieSecretsRecord{a});
    EXPECT_EQ(rep.cookie_secrets(), a);
    ike::CookieSecrets b = a;
    b.previous = a.current;
    b.current = ike::CookieSecret{2, Bytes(32, 2), Time::from_ms(9)};
    ok(rep, CookieSecretsRecord{b});
    EXPECT_EQ(rep.cookie_secrets(), b);
}

TEST(Replica, BulkStartsFromNothing) {
    Replica rep;
    ok(rep, ike::IkeSaEstablished{make_sa(1, {300})});
    ok(rep, CookieSecretsRecord{{ike::CookieSecret{1, Bytes(32, 1), Time{}}, std::nullopt}});
    refused(rep, BulkEnd{5, 1}, "without a begin");

    ok(rep, BulkBegin{3, 5});
    EXPECT_TRUE(rep.in_bulk());
    EXPECT_EQ(rep.ike_sa_count(), 0u);
    EXPECT_EQ(rep.child_sa_count(), 0u);
    EXPECT_FALSE(rep.cookie_secrets());
    ok(rep, ike::IkeSaEstablished{make_sa(2, {301})});
    refused(rep, BulkEnd{6, 1}, "during bulk 5");
    EXPECT_TRUE(rep.in_bulk());
    ok(rep, BulkEnd{5, 1});
    EXPECT_FALSE(rep.in_bulk());
    EXPECT_TRUE(rep.counters(301));

    // A count that does not match ends the bulk and keeps what arrived.
    ok(rep, BulkBegin{3, 6});
    ok(rep, ike::IkeSaEstablished{make_sa(3, {302})});
    Status s = rep.apply(BulkEnd{6, 2});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().what.find("announced 2 IKE SAs, have 1"), std::string::npos);
    EXPECT_FALSE(rep.in_bulk());
    EXPECT_EQ(rep.ike_sa_count(), 1u);
}

TEST(Replica, ClearForgetsEverything) {
    Replica rep;
    ok(rep, ike::IkeSaEstablished{make_sa(1, {300})});
    ok(rep, BulkBegin{1, 1});
    ok(rep, ike::IkeSaEstablished{make_sa(1, {300})});
    rep.clear();
    EXPECT_TRUE(rep == Replica{});
    EXPECT_FALSE(rep.in_bulk());
    EXPECT_EQ(rep.stats().applied, 3u);
}

TEST(Replica, SnapshotLayout) {
    Replica rep;
    for (std::uint64_t i = 1; i <= 100; ++i) {
        ok(rep, ike::IkeSaEstablished{make_sa(i, {std::uint32_t(1000 + i)})});
        if (i % 2) ok(rep, Checkpoints{{{{}, std::uint32_t(1000 + i), i + 1, i}}});
    }
    auto snap = rep.snapshot(4, 8);
    ASSERT_EQ(snap.size(), 1u + 100 + 1 + 1);  // 50 moved counters fit one record
    EXPECT_TRUE(same_record(snap.front(), BulkBegin{4, 8}));
    EXPECT_TRUE(same_record(snap.back(), BulkEnd{8, 100}));
    EXPECT_EQ(std::get<Checkpoints>(snap[101]).items.size(), 50u);

    ok(rep, CookieSecretsRecord{{ike::CookieSecret{1, Bytes(32, 1), Time{}}, std::nullopt}});
    for (std::uint64_t i = 1; i <= 100; ++i) {
        ok(rep, Checkpoints{{{{}, std::uint32_t(1000 + i), i + 5, i}}});
    }
    snap = rep.snapshot(4, 9);
    ASSERT_EQ(snap.size(), 1u + 100 + 2 + 1 + 1);
    EXPECT_EQ(std::get<Checkpoints>(snap[101]).items.size(), 64u);
    EXPECT_EQ(std::get<Checkpoints>(snap[102]).items.size(), 36u);
    EXPECT_TRUE(std::holds_alternative<CookieSecretsRecord>(snap[103]));
}

// Random SAs with distinct SPIs, random counters and maybe cookie secrets.
Replica random_replica() {
    Replica rep;
    std::set<std::uint32_t> used;
    std::uint32_t next_spi = 256;
    auto sas = *gen::vec<ike::IkeSaState>(0, 20, gen::sa(4));
    for (auto& s : sas) {
        for (auto& c : s.children) {
            if (!used.insert(c.spi_in).second) {
                while (used.count(next_spi))
                    ++next_spi;
                c.spi_in = next_spi;
                used.insert(next_spi);
            }
        }
        RC_ASSERT(rep.apply(ike::IkeSaEstablished{s}).ok());
    }
    for (auto& s : sas) {
        for (auto& c : s.children) {
            if (*rc::gen::arbitrary<bool>()) continue;
            auto out = *rc::gen::inRange<std::uint64_t>(1, UINT64_MAX);
            auto in = *rc::gen::arbitrary<std::uint64_t>();
            RC_ASSERT(rep.apply(Checkpoints{{{s.spis, c.spi_in, out, in}}}).ok());
        }
    }
    if (*rc::gen::arbitrary<bool>()) {
        RC_ASSERT(rep.apply(CookieSecretsRecord{*gen::cookie_secrets()}).ok());
    }
    return rep;
}

RC_GTEST_PROP(ReplicaProperty, SnapshotRebuildsAnEqualReplica, ()) {
    Replica original = random_replica();
    Time now = *gen::finite_time();
    // Onto an empty replica, or one with stale state the bulk must replace.
    Replica copy = *rc::gen::arbitrary<bool>() ? Replica{} : random_replica();
    for (const Record& r : original.snapshot(1, 2)) {
        auto d = decode(encode(r, now), now);
        RC_ASSERT(d.ok());
        Status s = copy.apply(*d);
        RC_ASSERT(s.ok());
    }
    RC_ASSERT(copy == original);
    RC_ASSERT(!copy.in_bulk());
    RC_ASSERT(copy.ike_sa_count() == original.ike_sa_count());
    RC_ASSERT(copy.child_sa_count() == original.child_sa_count());
}

TEST(Replica, SnapshotOf100kSasRoundTrips) {
    using Clock = std::chrono::steady_clock;
    constexpr std::uint64_t kSas = 100'000;
    Replica rep;
    std::uint32_t spi = 256;
    auto t0 = Clock::now();
    for (std::uint64_t i = 1; i <= kSas; ++i) {
        std::vector<std::uint32_t> kids{spi++};
        if (i % 4 == 0) kids.push_back(spi++);
        ike::IkeSaState s = make_sa(i, kids);
        ASSERT_TRUE(rep.apply(ike::IkeSaEstablished{std::move(s)}).ok());
        if (i % 2 == 0) {
            ASSERT_TRUE(rep.apply(Checkpoints{{{{}, kids[0], i * 3, i * 7}}}).ok());
        }
    }
    ASSERT_EQ(rep.ike_sa_count(), kSas);
    ASSERT_EQ(rep.child_sa_count(), kSas + kSas / 4);
    ike::CookieSecrets cs;
    cs.current = ike::CookieSecret{1, Bytes(32, 1), Time::from_ms(100)};
    ASSERT_TRUE(rep.apply(CookieSecretsRecord{cs}).ok());

    Time sender = Time::from_ms(5'000'000), receiver = sender;
    auto t1 = Clock::now();
    std::vector<Record> snap = rep.snapshot(1, 1);
    auto t2 = Clock::now();
    std::vector<Bytes> wire;
    wire.reserve(snap.size());
    std::size_t total = 0;
    for (const Record& r : snap) {
        wire.push_back(encode(r, sender));
        total += wire.back().size();
    }
    snap.clear();
    auto t3 = Clock::now();
    Replica copy;
    for (const Bytes& b : wire) {
        auto d = decode(b, receiver);
        ASSERT_TRUE(d.ok()) << d.error().what;
        ASSERT_TRUE(copy.apply(*d).ok());
    }
    auto t4 = Clock::now();
    EXPECT_TRUE(copy == rep);
    EXPECT_EQ(copy.counters(256 + 1 * 1), (ChildCounters{6, 14}));  // SA 2's first child

    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::printf(
        "[ bench    ] 100k IKE SAs (125k children): build %.0f ms, snapshot %.0f ms (%zu "
        "records), encode %.0f ms (%.1f MB), decode+apply %.0f ms\n",
        ms(t1 - t0), ms(t2 - t1), wire.size(), ms(t3 - t2), double(total) / 1e6, ms(t4 - t3));
}

}  // namespace
}  // namespace ikecluster::cluster
