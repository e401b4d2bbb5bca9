// Sync records: every type round-trips field by field, times travel relative
// to each host's clock, and decode() is strict and safe on hostile input.
#include "cluster/records.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <random>

#include "base/buffer.h"
#include "cluster/records_gen.h"

namespace ikecluster::cluster {
namespace {

using namespace std::chrono_literals;

// Calls f(Time&) on every Time field of a record.
template <typename F>
void for_each_time(Record& r, F f) {
    auto child = [&f](ike::ChildSaState& c) {
        f(c.established);
        f(c.rekey_at);
        f(c.expire_at);
    };
    auto sa = [&](ike::IkeSaState& s) {
        f(s.established);
        f(s.rekey_at);
        f(s.expire_at);
        for (auto& c : s.children)
            child(c);
    };
    if (auto* e = std::get_if<ike::IkeSaEstablished>(&r)) sa(e->sa);
    if (auto* e = std::get_if<ike::IkeSaRekeyed>(&r)) sa(e->sa);
    if (auto* e = std::get_if<ike::ChildSaAdded>(&r)) child(e->child);
    if (auto* e = std::get_if<ike::ChildSaRekeyed>(&r)) child(e->child);
    if (auto* e = std::get_if<CookieSecretsRecord>(&r)) {
        if (e->secrets.current) f(e->secrets.current->created);
        if (e->secrets.previous) f(e->secrets.previous->created);
    }
}

Record decoded(const Bytes& b, Time now) {
    auto r = decode(b, now);
    EXPECT_TRUE(r.ok()) << r.error().what << " at " << r.error().offset;
    return r.ok() ? *r : Record{};
}

// A state with something in every field, two children and a fragmented
// cached response.
ike::IkeSaState full_sa(Time now) {
    ike::IkeSaState s;
    s.spis = {0x1122334455667788, 0x99aabbccddeeff00};
    s.initiator = true;
    s.config_name = "road-warrior";
    s.suite = {
        {EncrId::AES_CBC, 256}, IntegId::HMAC_SHA2_256_128, PrfId::HMAC_SHA2_384, DhId::ECP_256};
    s.keys = {Bytes(32, 1), Bytes(32, 2), Bytes(32, 3), Bytes(32, 4),
              Bytes(32, 5), Bytes(32, 6), Bytes(32, 7)};
    s.local_id = *ike::Identity::parse("gw.example.org");
    s.remote_id = *ike::Identity::parse("user@example.org");
    s.local = {*IpAddress::parse("192.0.2.1"), 4500};
    s.remote = {*IpAddress::parse("2001:db8::7"), 61234};
    s.nat = ike::NatState::REMOTE_BEHIND_NAT;
    s.encap = true;
    s.peer = {true, false, true, true, false};
    s.msgids = {7, 9, 8, {Bytes(100, 0xab), Bytes(40, 0xcd)}};
    s.established = now - 10min;
    s.rekey_at = now + 50min;
    s.expire_at = Time::max();
    for (std::uint32_t i = 0; i < 2; ++i) {
        ike::ChildSaState c;
        c.config_name = "net-" + std::to_string(i);
        c.unique_id = 40 + i;
        c.spi_in = 0xc0000100 + i;
        c.spi_out = 0x0badf00d + i;
        c.protocol = i ? ProtocolId::AH : ProtocolId::ESP;
        c.mode = i ? ike::IpsecMode::TRANSPORT : ike::IpsecMode::TUNNEL;
        c.encr = {EncrId::CHACHA20_POLY1305, 0};
        c.esn = i == 1;
        c.keys = {Bytes(36, 0x10), {}, Bytes(36, 0x20), {}};
        c.ts_local = *ike::parse_ts_list("10.1.0.0/16, 2001:db8:1::/48[tcp/443]");
        c.ts_remote = *ike::parse_ts_list("0.0.0.0/0");
        c.established = now - 1min;
        c.rekey_at = now + 30s;
        c.expire_at = now + 2min;
        s.children.push_back(c);
    }
    return s;
}

std::vector<Record> samples(Time now) {
    ike::IkeSaState s = full_sa(now);
    ike::CookieSecrets cs;
    cs.current = ike::CookieSecret{3, Bytes(32, 0x33), now - 5s};
    cs.previous = ike::CookieSecret{2, Bytes(32, 0x22), now - 65s};
    return {
        ike::IkeSaEstablished{s},
        ike::IkeMessageIdsAdvanced{s.spis, s.msgids},
        ike::ChildSaAdded{s.spis, s.children[0]},
        ike::ChildSaRekeyed{s.spis, 0x1234, s.children[1]},
        ike::ChildSaDeleted{s.spis, 0xc0000100},
        ike::IkeSaRekeyed{{1, 2}, s},
        ike::IkeSaDeleted{s.spis, ike::DeleteReason::PEER_DEAD},
        Checkpoints{{{s.spis, 0xc0000100, 1000, 2000}, {s.spis, 0xc0000101, 1, 0}}},
        CookieSecretsRecord{cs},
        BulkBegin{7, 99},
        BulkEnd{99, 100000},
    };
}

TEST(SyncRecords, EveryTypeRoundTrips) {
    Time now = Time::from_ms(123456);
    for (const Record& r : samples(now)) {
        SCOPED_TRACE(record_name(r));
        Bytes b = encode(r, now);
        EXPECT_EQ(b[0], kRecordVersion);
        EXPECT_EQ(b[1], r.index() + 1);
        EXPECT_TRUE(same_record(decoded(b, now), r));
    }
}

TEST(SyncRecords, DefaultStatesRoundTrip) {
    // Default states carry Time{} and Time::max(), empty keys and lists.
    for (std::size_t i = 0; i < std::variant_size_v<Record>; ++i) {
        Record r = samples(Time{})[i];
        std::visit([](auto& x) { x = std::decay_t<decltype(x)>{}; }, r);
        SCOPED_TRACE(record_name(r));
        EXPECT_TRUE(same_record(decoded(encode(r, Time::from_ms(5)), Time::from_ms(9)), r));
    }
}

TEST(SyncRecords, NamesForLogs) {
    std::vector<Record> all = samples(Time{});
    EXPECT_STREQ(record_name(all[0]), "IkeSaEstablished");
    EXPECT_STREQ(record_name(all[7]), "Checkpoints");
    EXPECT_STREQ(record_name(all[10]), "BulkEnd");
    ike::Event ev = ike::ChildSaDeleted{{1, 2}, 3};
    Record r = to_record(ev);
    EXPECT_STREQ(record_name(r), "ChildSaDeleted");
    EXPECT_EQ(std::get<ike::ChildSaDeleted>(r).spi_in, 3u);
}

TEST(SyncRecords, TimesAreRelativeToEachHostsClock) {
    // The sender's clock reads 1000 s, the receiver's 5 s: a rekey due in
    // 30 s is due in 30 s on both.
    Time a = Time::from_ms(1'000'000), b = Time::from_ms(5'000);
    ike::IkeSaState s = full_sa(a);
    Record r = ike::IkeSaEstablished{s};
    auto out = std::get<ike::IkeSaEstablished>(decoded(encode(r, a), b)).sa;
    EXPECT_EQ(out.rekey_at - b, 50min);
    EXPECT_EQ(out.established - b, -10min);  // negative relative times too
    EXPECT_EQ(out.expire_at, Time::max());
    EXPECT_EQ(out.children[0].rekey_at - b, 30s);
    EXPECT_EQ(out.children[0].established, b - 1min);
}

TEST(SyncRecords, SpecialTimesStaySpecial) {
    ike::ChildSaState c;
    c.spi_in = 300;
    c.established = Time{};
    c.rekey_at = Time::max();
    c.expire_at = Time{Duration(-5)};
    Record r = ike::ChildSaAdded{{1, 2}, c};
    auto out = std::get<ike::ChildSaAdded>(decoded(encode(r, Time::from_ms(7)), Time::from_ms(10)));
    EXPECT_EQ(out.child.established, Time{});
    EXPECT_EQ(out.child.rekey_at, Time::max());
    EXPECT_EQ(out.child.expire_at, Time{Duration(-5) + 3ms});
}

TEST(SyncRecords, TimesBeyondTheClockSaturate) {
    // Only reachable with clocks far apart; the result is "never" or as far
    // back as the clock goes, never a wrapped value.
    ike::ChildSaState c;
    c.rekey_at = Time{Duration(std::numeric_limits<std::int64_t>::max() - 10)};
    c.expire_at = Time{Duration(std::numeric_limits<std::int64_t>::min() + 10)};
    Record r = ike::ChildSaAdded{{1, 2}, c};
    Time sender{Duration(-1'000'000)};
    auto out = std::get<ike::ChildSaAdded>(decoded(encode(r, sender), Time{Duration(1'000'000)}));
    EXPECT_EQ(out.child.rekey_at, Time::max());
    EXPECT_EQ(out.child.expire_at.since_epoch,
              Duration(std::numeric_limits<std::int64_t>::min() + 10 + 2'000'000));
    Time receiver{Duration(-1'000'000'000)};
    out = std::get<ike::ChildSaAdded>(decoded(encode(r, Time{}), receiver));
    EXPECT_EQ(out.child.expire_at.since_epoch, Duration::min());
}

TEST(SyncRecords, TruncationAtEveryByteIsAnError) {
    Time now = Time::from_ms(1);
    for (const Record& r : samples(now)) {
        SCOPED_TRACE(record_name(r));
        Bytes b = encode(r, now);
        for (std::size_t n = 0; n < b.size(); ++n) {
            auto d = decode(BytesView(b.data(), n), now);
            ASSERT_FALSE(d.ok()) << "prefix of " << n << " of " << b.size() << " decoded";
            EXPECT_LE(d.error().offset, n);
            EXPECT_NE(d.error().what.find("truncated"), std::string::npos) << d.error().what;
        }
        Bytes longer = b;
        longer.push_back(0);
        auto d = decode(longer, now);
        ASSERT_FALSE(d.ok());
        EXPECT_EQ(d.error().offset, b.size());
        EXPECT_NE(d.error().what.find("trailing"), std::string::npos);
    }
}

// The error for `b`, which must not decode.
Error error_of(const Bytes& b) {
    auto d = decode(b, Time{});
    EXPECT_FALSE(d.ok());
    return d.ok() ? Error{} : d.error();
}

TEST(SyncRecords, ErrorsNameTheFieldAndOffset) {
    Bytes b = encode(BulkBegin{1, 2}, Time{});
    b[0] = 2;
    EXPECT_NE(error_of(b).what.find("version 2"), std::string::npos);
    b[0] = kRecordVersion;
    b[1] = 0;
    EXPECT_EQ(error_of(b).offset, 1u);
    b[1] = 12;
    EXPECT_NE(error_of(b).what.find("unknown record type 12"), std::string::npos);
    EXPECT_NE(error_of({}).what.find("version"), std::string::npos);

    // Enumerations and booleans out of range.
    Bytes del = encode(ike::IkeSaDeleted{{1, 2}, ike::DeleteReason::REPLACED}, Time{});
    del.back() = 6;
    Error e = error_of(del);
    EXPECT_EQ(e.offset, del.size() - 1);
    EXPECT_EQ(e.what, "IkeSaDeleted: reason: unknown value 6");

    ike::IkeSaState s;
    Bytes sa = encode(ike::IkeSaEstablished{s}, Time{});
    sa[2 + 16] = 2;  // initiator
    e = error_of(sa);
    EXPECT_EQ(e.offset, 18u);
    EXPECT_EQ(e.what, "IkeSaEstablished: sa.initiator: not a boolean: 2");
    sa[18] = 0;
    sa[19 + 2] = 0;  // empty config name, then the suite: encr id 0x00xx
    sa[19 + 3] = 13;
    e = error_of(sa);
    EXPECT_EQ(e.offset, 21u);
    EXPECT_EQ(e.what, "IkeSaEstablished: sa.suite.encr: unknown value 13");

    Bytes cp = encode(Checkpoints{{{{1, 2}, 300, 5, 6}, {{1, 2}, 301, 5, 6}}}, Time{});
    store_be64(cp.data() + 3 + 36 + 20, 0);  // the second item's out_next_seq
    e = error_of(cp);
    EXPECT_EQ(e.offset, 3u + 36 + 20);
    EXPECT_EQ(e.what, "Checkpoints: items[1].out_next_seq: 0 is impossible");
}

TEST(SyncRecords, OverLimitStatesEncodeToRejectedRecords) {
    ike::IkeSaState s;
    s.children.resize(kMaxChildren + 1);
    Error e = error_of(encode(ike::IkeSaEstablished{s}, Time{}));
    EXPECT_NE(e.what.find("sa.children: count 255 exceeds 64"), std::string::npos) << e.what;

    s.children.resize(1);
    s.children[0].keys.encr_in = Bytes(kMaxKey + 1, 1);
    e = error_of(encode(ike::IkeSaEstablished{s}, Time{}));
    EXPECT_NE(e.what.find("sa.children[0].keys.encr_in: length 65535 exceeds 16384"),
              std::string::npos)
        << e.what;

    s.children[0].keys.encr_in = Bytes(kMaxKey, 1);  // at the limit is fine
    Record r = ike::IkeSaEstablished{s};
    EXPECT_TRUE(same_record(decoded(encode(r, Time{}), Time{}), r));

    Checkpoints many;
    many.items.resize(kMaxCheckpoints + 1);
    EXPECT_NE(error_of(encode(many, Time{})).what.find("items: count"), std::string::npos);
}

TEST(SyncRecords, HostileLengthsAllocateNothingLarge) {
    // A child count and key length that promise more than the record holds.
    Bytes b = encode(ike::ChildSaAdded{}, Time{});
    std::size_t key_at = 2 + 16 + 2 + 4 + 4 + 4 + 1 + 1 + 2 + 2 + 2 + 1;
    store_be16(b.data() + key_at, 16000);
    Error e = error_of(b);
    EXPECT_EQ(e.offset, key_at + 2);
    EXPECT_EQ(e.what, "ChildSaAdded: child.keys.encr_in: truncated: need 16000 bytes, have " +
                          std::to_string(b.size() - key_at - 2));
}

TEST(SyncRecords, BatchesCheckpoints) {
    std::vector<CounterCheckpoint> all(130);
    for (std::size_t i = 0; i < all.size(); ++i)
        all[i].spi_in = std::uint32_t(i);
    auto batches = batch_checkpoints(all);
    ASSERT_EQ(batches.size(), 3u);
    EXPECT_EQ(batches[0].items.size(), 64u);
    EXPECT_EQ(batches[2].items.size(), 2u);
    EXPECT_EQ(batches[2].items[1].spi_in, 129u);
    EXPECT_TRUE(batch_checkpoints({}).empty());
}

RC_GTEST_PROP(SyncRecordsProperty, EveryRecordRoundTrips, ()) {
    Record r = *gen::record();
    Time now = *gen::finite_time();
    Bytes b = encode(r, now);
    auto d = decode(b, now);
    RC_ASSERT(d.ok());
    RC_ASSERT(same_record(*d, r));
    RC_ASSERT(encode(*d, now) == b);
}

RC_GTEST_PROP(SyncRecordsProperty, FiniteTimesShiftByTheClockDifference, ()) {
    Record r = *gen::record();
    Time a = *gen::finite_time(), b = *gen::finite_time();
    auto d = decode(encode(r, a), b);
    RC_ASSERT(d.ok());
    Record expected = r;
    for_each_time(expected, [&](Time& t) {
        if (t != Time{} && t != Time::max()) t = t + (b - a);
    });
    RC_ASSERT(same_record(*d, expected));
}

RC_GTEST_PROP(SyncRecordsProperty, GarbageNeverCrashes, ()) {
    auto junk = *gen::bytes(0, 200);
    if (junk.size() >= 2 && *rc::gen::arbitrary<bool>()) {
        junk[0] = kRecordVersion;  // get past the header more often
        junk[1] = std::uint8_t(1 + junk[1] % std::variant_size_v<Record>);
    }
    auto d = decode(junk, Time{});
    if (d.ok()) {
        // Not necessarily the same bytes (a relative time of 0 from a clock
        // at 0 comes back as Time{}), but the same record.
        auto again = decode(encode(*d, Time{}), Time{});
        RC_ASSERT(again.ok());
        RC_ASSERT(same_record(*again, *d));
    }
}

RC_GTEST_PROP(SyncRecordsProperty, MutatedRecordsDecodeOrFailCleanly, ()) {
    Record r = *gen::record();
    Bytes b = encode(r, Time{});
    std::size_t at = *rc::gen::inRange<std::size_t>(0, b.size());
    b[at] ^= *rc::gen::inRange<std::uint8_t>(1, 255);
    if (*rc::gen::arbitrary<bool>()) b.resize(*rc::gen::inRange<std::size_t>(0, b.size() + 1));
    Time now = *gen::finite_time();
    auto d = decode(b, now);
    if (d.ok()) {
        auto again = decode(encode(*d, now), now);
        RC_ASSERT(again.ok());
        RC_ASSERT(same_record(*again, *d));
    } else {
        RC_ASSERT(d.error().offset <= b.size());
    }
}

}  // namespace
}  // namespace ikecluster::cluster
