// Output dispatch with a fake socket and a fake data plane: every output goes
// where it belongs, in order, and two engines talking through dispatchers
// establish an SA and log it.
#include <algorithm>
#include <deque>

#include <gtest/gtest.h>

#include "daemon/dispatch.h"

namespace ikecluster::daemon {
namespace {

struct Sent {
    Endpoint local, remote;
    Bytes data;
};

class FakeSocket final : public DatagramSender {
  public:
    Status send(const Endpoint& local, const Endpoint& remote, BytesView data) override {
        if (fail) return Error{0, "sendmsg: network is unreachable"};
        sent.push_back({local, remote, Bytes(data.begin(), data.end())});
        return Ok{};
    }
    bool fail = false;
    std::deque<Sent> sent;
};

class FakeDataPlane final : public DataPlane {
  public:
    void install(const ike::InstallChildSa& sa) override {
        log.push_back("+" + std::to_string(sa.child.spi_in));
    }
    void remove(const ike::RemoveChildSa& sa) override {
        log.push_back("-" + std::to_string(sa.spi_in));
    }
    void esp_in_udp(const Endpoint&, const Endpoint&, BytesView) override {}
    std::size_t installed() const override { return 0; }
    DataPlaneStats stats() const override { return {}; }
    std::vector<std::string> log;
};

Endpoint ep(const char* a, std::uint16_t port) {
    return Endpoint{*IpAddress::parse(a), port};
}

TEST(Dispatch, EachOutputGoesToItsConsumerInOrder) {
    FakeSocket sock;
    FakeDataPlane dp;
    MemoryLogger log;
    OutputDispatcher d(sock, dp, log);
    std::vector<ike::Event> seen;
    d.set_observer([&](const ike::Event& e) { seen.push_back(e); });

    ike::InstallChildSa in;
    in.child.spi_in = 7;
    in.child.config_name = "net";
    ike::RemoveChildSa rm;
    rm.spi_in = 7;
    std::vector<ike::Output> outs;
    outs.emplace_back(in);
    outs.emplace_back(
        ike::SendDatagram{ep("198.51.100.1", 4500), ep("198.51.100.2", 4500), Bytes{1, 2, 3}});
    outs.emplace_back(rm);
    outs.emplace_back(ike::Event{ike::IkeSaDeleted{{1, 2}, ike::DeleteReason::EXPIRED}});
    outs.emplace_back(ike::Event{ike::IkeMessageIdsAdvanced{}});
    d.dispatch(std::move(outs));

    ASSERT_EQ(sock.sent.size(), 1u);
    EXPECT_EQ(sock.sent[0].local, ep("198.51.100.1", 4500));
    EXPECT_EQ(sock.sent[0].remote, ep("198.51.100.2", 4500));
    EXPECT_EQ(sock.sent[0].data, (Bytes{1, 2, 3}));
    EXPECT_EQ(dp.log, (std::vector<std::string>{"+7", "-7"}));
    EXPECT_EQ(seen.size(), 2u);
    EXPECT_EQ(d.stats().datagrams, 1u);
    EXPECT_EQ(d.stats().installs, 1u);
    EXPECT_EQ(d.stats().removals, 1u);
    EXPECT_EQ(d.stats().events, 2u);
    bool deleted_line = false;
    for (const auto& l : log.lines) {
        deleted_line |=
            l == "ike: IKE SA deleted spis=0000000000000001_0000000000000002 reason=expired";
    }
    EXPECT_TRUE(deleted_line);
}

TEST(Dispatch, SendFailureIsCountedAndLoggedNotFatal) {
    FakeSocket sock;
    sock.fail = true;
    FakeDataPlane dp;
    MemoryLogger log;
    OutputDispatcher d(sock, dp, log);
    std::vector<ike::Output> outs;
    outs.emplace_back(ike::SendDatagram{ep("192.0.2.1", 500), ep("192.0.2.2", 500), Bytes{0}});
    outs.emplace_back(ike::SendDatagram{ep("192.0.2.1", 500), ep("192.0.2.2", 500), Bytes{0}});
    d.dispatch(std::move(outs));
    EXPECT_EQ(d.stats().send_errors, 2u);
    ASSERT_EQ(log.lines.size(), 2u);
    EXPECT_EQ(log.lines[0], "net: sendmsg: network is unreachable");
}

// One trace for the socket and the data plane, to see what came first.
struct Trace {
    std::vector<std::string> events;
};

class TracingSocket final : public DatagramSender {
  public:
    explicit TracingSocket(Trace& t) : t_(t) {}
    Status send(const Endpoint&, const Endpoint&, BytesView) override {
        t_.events.push_back("send");
        return Ok{};
    }

  private:
    Trace& t_;
};

class TracingDataPlane final : public DataPlane {
  public:
    explicit TracingDataPlane(Trace& t) : t_(t) {}
    void install(const ike::InstallChildSa& sa) override {
        t_.events.push_back("+" + std::to_string(sa.child.spi_in));
    }
    void remove(const ike::RemoveChildSa& sa) override {
        t_.events.push_back("-" + std::to_string(sa.spi_in));
    }
    void flush() override { t_.events.push_back("flush"); }
    void esp_in_udp(const Endpoint&, const Endpoint&, BytesView) override {}
    std::size_t installed() const override { return 0; }
    DataPlaneStats stats() const override { return {}; }

  private:
    Trace& t_;
};

// Batched route changes: flushed once after a run of installs and removals,
// before the datagram that follows them (the IKE_AUTH response must not
// leave before the SA's route exists) and at the end; never without a
// change to flush.
TEST(Dispatch, DataPlaneFlushedBeforeDatagramsAndAtTheEnd) {
    Trace t;
    TracingSocket sock(t);
    TracingDataPlane dp(t);
    MemoryLogger log;
    OutputDispatcher d(sock, dp, log);
    auto install = [](std::uint32_t spi) {
        ike::InstallChildSa in;
        in.child.spi_in = spi;
        return ike::Output{in};
    };
    auto remove = [](std::uint32_t spi) {
        ike::RemoveChildSa rm;
        rm.spi_in = spi;
        return ike::Output{rm};
    };
    auto send = [] {
        return ike::Output{
            ike::SendDatagram{ep("198.51.100.1", 4500), ep("198.51.100.2", 4500), Bytes{1}}};
    };

    std::vector<ike::Output> outs;
    outs.push_back(send());
    outs.push_back(install(1));
    outs.push_back(install(2));
    outs.push_back(send());
    outs.push_back(send());
    outs.push_back(remove(1));
    d.dispatch(std::move(outs));
    EXPECT_EQ(t.events, (std::vector<std::string>{"send", "+1", "+2", "flush", "send", "send", "-1",
                                                  "flush"}));

    // Only datagrams and events: no flush.
    t.events.clear();
    outs.clear();
    outs.push_back(send());
    outs.push_back(ike::Output{ike::Event{ike::IkeMessageIdsAdvanced{}}});
    d.dispatch(std::move(outs));
    EXPECT_EQ(t.events, (std::vector<std::string>{"send"}));

    // A takeover's burst of installs: one flush for all of them.
    t.events.clear();
    outs.clear();
    for (std::uint32_t i = 0; i < 1000; ++i)
        outs.push_back(install(i));
    d.dispatch(std::move(outs));
    ASSERT_EQ(t.events.size(), 1001u);
    EXPECT_EQ(t.events.back(), "flush");
    EXPECT_EQ(std::count(t.events.begin(), t.events.end(), "flush"), 1);
}

ike::ConnectionConfig conn(const char* name, const char* local, const char* remote, const char* lid,
                           const char* rid, const char* lts, const char* rts) {
    ike::ConnectionConfig c;
    c.name = name;
    c.local_addrs = {*IpAddress::parse(local)};
    c.remote_addrs = {*IpAddress::parse(remote)};
    c.local_id = *ike::Identity::parse(lid);
    c.remote_id = *ike::Identity::parse(rid);
    std::string psk = "a shared secret for the test";
    c.psk = Bytes(psk.begin(), psk.end());
    c.ike_proposals = *ike::parse_proposals("aes256gcm16-prfsha256-x25519", ike::ProposalKind::IKE);
    ike::ChildConfig ch;
    ch.name = "net";
    ch.local_ts = *ike::parse_ts_list(lts);
    ch.remote_ts = *ike::parse_ts_list(rts);
    ch.esp_proposals = *ike::parse_proposals("aes256gcm16", ike::ProposalKind::ESP);
    c.children = {ch};
    return c;
}

// Two engines whose outputs pass through dispatchers and fake sockets; the
// test moves the datagrams across, as the daemon's sockets would.
TEST(Dispatch, TwoEnginesEstablishThroughFakeSockets) {
    crypto::DeterministicRandom ra(1), rb(2);
    ike::EngineConfig ca, cb;
    ca.connections = {conn("a", "198.51.100.1", "198.51.100.2", "a.example", "b.example",
                           "203.0.113.0/24", "192.0.2.0/24")};
    cb.connections = {conn("b", "198.51.100.2", "198.51.100.1", "b.example", "a.example",
                           "192.0.2.0/24", "203.0.113.0/24")};
    ike::Engine a(ca, ra), b(cb, rb);
    FakeSocket sa, sb;
    FakeDataPlane da, db;
    MemoryLogger la, lb;
    OutputDispatcher A(sa, da, la), B(sb, db, lb);

    Time now = Time::from_ms(1000);
    ASSERT_TRUE(a.initiate(now, "a").ok());
    A.dispatch(a.take_outputs());
    for (int i = 0; i < 20 && (!sa.sent.empty() || !sb.sent.empty()); ++i) {
        while (!sa.sent.empty()) {
            auto s = sa.sent.front();
            sa.sent.pop_front();
            // What b's socket would report: it received on s.remote, from s.local.
            b.receive(now, s.remote, s.local, s.data);
            B.dispatch(b.take_outputs());
        }
        while (!sb.sent.empty()) {
            auto s = sb.sent.front();
            sb.sent.pop_front();
            a.receive(now, s.remote, s.local, s.data);
            A.dispatch(a.take_outputs());
        }
    }
    ASSERT_EQ(a.established().size(), 1u);
    ASSERT_EQ(b.established().size(), 1u);
    EXPECT_EQ(da.log.size(), 1u);
    EXPECT_EQ(db.log.size(), 1u);
    auto has_established = [](const MemoryLogger& l) {
        for (const auto& line : l.lines) {
            if (line.rfind("ike: IKE SA established conn=", 0) == 0 &&
                line.find("Child SA added child=net") != std::string::npos)
                return true;
        }
        return false;
    };
    EXPECT_TRUE(has_established(la));
    EXPECT_TRUE(has_established(lb));
}

}  // namespace
}  // namespace ikecluster::daemon
