// Prefix arithmetic, and TUN + rtnetlink against the real kernel inside a
// private network namespace of this test process (root only; skipped
// otherwise). The namespace disappears with the process: nothing to clean up.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "net/batch.h"
#include "net/netlink.h"
#include "net/prefixes.h"
#include "net/tun.h"

using namespace ikecluster;
using namespace ikecluster::net;

namespace {

IpAddress ip(const char* s) {
    return *IpAddress::parse(s);
}

std::string joined(const std::vector<Prefix>& ps) {
    std::string s;
    for (auto& p : ps)
        s += (s.empty() ? "" : " ") + p.to_string();
    return s;
}

std::string run(const std::string& cmd) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> f(popen(cmd.c_str(), "r"), pclose);
    if (!f) return out;
    std::array<char, 512> buf;
    while (fgets(buf.data(), int(buf.size()), f.get()))
        out += buf.data();
    return out;
}

}  // namespace

TEST(Prefixes, RangesBecomeExactCidrLists) {
    EXPECT_EQ(joined(range_to_prefixes(ip("192.0.2.0"), ip("192.0.2.255"))), "192.0.2.0/24");
    EXPECT_EQ(joined(range_to_prefixes(ip("0.0.0.0"), ip("255.255.255.255"))), "0.0.0.0/0");
    EXPECT_EQ(joined(range_to_prefixes(ip("10.0.0.1"), ip("10.0.0.1"))), "10.0.0.1/32");
    EXPECT_EQ(joined(range_to_prefixes(ip("10.0.0.1"), ip("10.0.0.6"))),
              "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32");
    EXPECT_EQ(joined(range_to_prefixes(ip("::"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))),
              "::/0");
    EXPECT_EQ(joined(range_to_prefixes(ip("2001:db8::"), ip("2001:db8::ffff:ffff:ffff:ffff"))),
              "2001:db8::/64");
    EXPECT_EQ(joined(range_to_prefixes(ip("2001:db8::"), ip("2001:db8:0:1::"))),
              "2001:db8::/64 2001:db8:0:1::/128");
    EXPECT_TRUE(range_to_prefixes(ip("10.0.0.2"), ip("10.0.0.1")).empty());
    EXPECT_TRUE(range_to_prefixes(ip("10.0.0.2"), ip("::1")).empty());
}

class Kernel : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root";
        if (unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "cannot create a network namespace";
    }
};

TEST_F(Kernel, TunRoutesAndAddresses) {
    auto tun = Tun::open({"ikectest0", 1, false, true});
    ASSERT_TRUE(tun.ok()) << tun.error().what;
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok()) << nl.error().what;
    ASSERT_TRUE(nl->link_up(tun->ifindex(), 1400).ok());
    ASSERT_TRUE(nl->add_address(tun->ifindex(), {ip("198.51.100.1"), 32}).ok());
    auto v4 = nl->add_route({ip("203.0.113.0"), 24}, tun->ifindex());
    ASSERT_TRUE(v4.ok()) << v4.error().what;
    auto v6 = nl->add_route({ip("2001:db8:1::"), 48}, tun->ifindex());
    ASSERT_TRUE(v6.ok()) << v6.error().what;
    // Replacing an existing route is not an error (a rekey reinstalls it).
    EXPECT_TRUE(nl->add_route({ip("203.0.113.0"), 24}, tun->ifindex()).ok());
    std::string routes = run("ip route show dev ikectest0; ip -6 route show dev ikectest0");
    EXPECT_NE(routes.find("203.0.113.0/24"), std::string::npos) << routes;
    EXPECT_NE(routes.find("2001:db8:1::/48"), std::string::npos) << routes;
    EXPECT_NE(run("ip link show ikectest0").find("mtu 1400"), std::string::npos);

    // A packet routed to the device comes out of the TUN fd.
    run("ping -c1 -W1 203.0.113.9 >/dev/null 2>&1 &");
    std::array<std::uint8_t, 2048> buf{};
    std::size_t got = 0;
    for (int i = 0; i < 200 && got == 0; ++i) {
        auto n = tun->read(buf);
        ASSERT_TRUE(n.ok());
        got = *n;
        if (got && buf[0] >> 4 != 4) got = 0;  // IPv6 router solicitations and MLD on link-up
        if (got == 0) usleep(10000);
    }
    ASSERT_GE(got, 20u);
    EXPECT_EQ(buf[0] >> 4, 4);  // IPv4
    EXPECT_EQ(buf[9], 1);       // ICMP
    EXPECT_EQ((std::array<std::uint8_t, 4>{buf[16], buf[17], buf[18], buf[19]}),
              (std::array<std::uint8_t, 4>{203, 0, 113, 9}));

    ASSERT_TRUE(nl->del_route({ip("203.0.113.0"), 24}, tun->ifindex()).ok());
    EXPECT_EQ(run("ip route show dev ikectest0").find("203.0.113.0/24"), std::string::npos);
    EXPECT_FALSE(nl->del_route({ip("203.0.113.0"), 24}, tun->ifindex()).ok());  // not there
    ASSERT_TRUE(nl->del_address(tun->ifindex(), {ip("198.51.100.1"), 32}).ok());
}

TEST_F(Kernel, ErrorsNameTheProblem) {
    EXPECT_FALSE(Tun::open({"", 1, false, true}).ok());
    EXPECT_FALSE(Tun::open({"a-name-that-is-far-too-long", 1, false, true}).ok());
    auto idx = Netlink::ifindex("no-such-if");
    ASSERT_FALSE(idx.ok());
    EXPECT_NE(idx.error().what.find("no-such-if"), std::string::npos);
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    auto r = nl->add_route({ip("203.0.113.0"), 24}, 9999);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("netlink"), std::string::npos);
}

TEST_F(Kernel, MultiQueueTun) {
    auto tun = Tun::open({"ikectest1", 4, false, true});
    ASSERT_TRUE(tun.ok()) << tun.error().what;
    EXPECT_EQ(tun->queues(), 4);
    for (int q = 1; q < 4; ++q)
        EXPECT_NE(tun->fd(q), tun->fd(0));
}

TEST(Batch, UdpLoopbackBatchesWithLocalAddresses) {
    auto a = BatchSocket::udp({ip("127.0.0.1"), 0});
    ASSERT_TRUE(a.ok()) << a.error().what;
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ASSERT_EQ(getsockname(a->fd(), reinterpret_cast<sockaddr*>(&ss), &len), 0);
    Endpoint where = from_sockaddr(ss);
    auto b = BatchSocket::udp({ip("127.0.0.1"), 0});
    ASSERT_TRUE(b.ok());
    PacketRing tx(64, 2048, 64), rx(64, 2048, 64);
    for (std::size_t i = 0; i < 40; ++i) {
        Packet& p = tx[i];
        p.len = 100 + i;
        std::memset(p.data, int(i), p.len);
        p.peer = where;
        p.local = ip("127.0.0.1");
        p.has_local = true;
    }
    auto sent = b->send(tx, 0, 40);
    ASSERT_TRUE(sent.ok()) << sent.error().what;
    EXPECT_EQ(*sent, 40u);
    std::size_t got = 0;
    for (int tries = 0; tries < 100 && got < 40; ++tries) {
        auto n = a->receive(rx, 64);
        ASSERT_TRUE(n.ok());
        for (std::size_t i = 0; i < *n; ++i) {
            EXPECT_EQ(rx[i].len, 100 + got);
            EXPECT_EQ(rx[i].data[0], std::uint8_t(got));
            EXPECT_TRUE(rx[i].has_local);
            EXPECT_EQ(rx[i].local, ip("127.0.0.1"));
            EXPECT_EQ(rx[i].headroom, 64u);
            ++got;
        }
        if (*n == 0) usleep(1000);
    }
    EXPECT_EQ(got, 40u);
    auto none = a->receive(rx, 64);
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(*none, 0u);
}

TEST_F(Kernel, RawEspOverLoopback) {
    run("ip link set lo up");
    auto tx = BatchSocket::raw_esp(false);
    ASSERT_TRUE(tx.ok()) << tx.error().what;
    auto rxs = BatchSocket::raw_esp(false);
    ASSERT_TRUE(rxs.ok());
    PacketRing out(4, 2048, 64), in(4, 2048, 64);
    out[0].len = 64;
    std::memset(out[0].data, 0xab, 64);
    out[0].data[0] = 0x00;
    out[0].data[3] = 0x42;  // SPI 0x42
    out[0].peer = {ip("127.0.0.1"), 0};
    ASSERT_EQ(*tx->send(out, 0, 1), 1u);
    std::size_t got = 0;
    for (int tries = 0; tries < 100 && got == 0; ++tries) {
        auto n = rxs->receive(in, 4);
        ASSERT_TRUE(n.ok());
        got = *n;
        if (got == 0) usleep(1000);
    }
    ASSERT_GE(got, 1u);
    // The IPv4 header is gone: the payload starts with the SPI.
    EXPECT_EQ(in[0].len, 64u);
    EXPECT_EQ(in[0].data[3], 0x42);
    EXPECT_EQ(in[0].local, ip("127.0.0.1"));
    EXPECT_EQ(in[0].peer.addr, ip("127.0.0.1"));
}
