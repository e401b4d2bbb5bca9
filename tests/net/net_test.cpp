// Prefix arithmetic, announcement frames, and TUN, rtnetlink and virtual IPs
// against the real kernel inside a private network namespace of this test
// process (root only; skipped otherwise). The namespace disappears with the process: nothing to
// clean up.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <sys/socket.h>
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
#include "net/vip.h"

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

namespace {

const MacAddress kMac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};

// The ones' complement sum of an ICMPv6 message with its pseudo-header:
// 0xffff when the checksum inside is right.
std::uint16_t icmpv6_sum(BytesView ip6) {
    std::uint32_t sum = 0;
    auto add = [&sum](BytesView v) {
        for (std::size_t i = 0; i + 1 < v.size(); i += 2)
            sum += std::uint32_t(v[i] << 8 | v[i + 1]);
    };
    add(ip6.subspan(8, 32));  // source and destination
    sum += std::uint32_t(ip6.size() - 40) + 58;
    add(ip6.subspan(40));
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(sum);
}

}  // namespace

TEST(VirtualIpFrames, GratuitousArpRequestAndReply) {
    Bytes req = gratuitous_arp(kMac, ip("192.0.2.1"), false);
    EXPECT_EQ(to_hex(req),
              "0001"          // Ethernet
              "0800"          // IPv4
              "0604"          // address lengths
              "0001"          // request
              "021122334455"  // sender MAC
              "c0000201"      // sender IP
              "000000000000"  // target MAC: zero (RFC 5227)
              "c0000201");    // target IP = sender IP
    Bytes rep = gratuitous_arp(kMac, ip("192.0.2.1"), true);
    // A reply: opcode 2, the target MAC repeats the sender's (RFC 5944 4.6).
    EXPECT_EQ(to_hex(rep), "0001080006040002021122334455c0000201021122334455c0000201");
}

TEST(VirtualIpFrames, UnsolicitedNeighborAdvertisement) {
    Bytes na = unsolicited_na(kMac, ip("2001:db8::1"), false);
    ASSERT_EQ(na.size(), 40u + 32u);
    EXPECT_EQ(to_hex(BytesView(na).first(8)), "6000000000203aff");  // len 32, ICMPv6, hop 255
    EXPECT_EQ(to_hex(BytesView(na).subspan(8, 16)), to_hex(ip("2001:db8::1").bytes()));
    EXPECT_EQ(to_hex(BytesView(na).subspan(24, 16)), "ff020000000000000000000000000001");
    EXPECT_EQ(na[40], 136);  // Neighbor Advertisement
    EXPECT_EQ(na[41], 0);
    EXPECT_EQ(na[44], 0x20);  // Override only
    EXPECT_EQ(to_hex(BytesView(na).subspan(48, 16)), to_hex(ip("2001:db8::1").bytes()));
    EXPECT_EQ(to_hex(BytesView(na).subspan(64)), "0201021122334455");  // target link-layer
    EXPECT_EQ(icmpv6_sum(na), 0xffff);
    Bytes r = unsolicited_na(kMac, ip("2001:db8::1"), true);
    EXPECT_EQ(r[44], 0xa0);  // Router + Override
    EXPECT_EQ(icmpv6_sum(r), 0xffff);
}

TEST(VirtualIpFrames, FreebindLetsASocketBindAnAbsentAddress) {
    int v4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(v4, 0);
    ASSERT_TRUE(enable_freebind(v4).ok());
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.77", &a.sin_addr);
    EXPECT_EQ(bind(v4, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
    close(v4);
    int v6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (v6 < 0) GTEST_SKIP() << "no IPv6";
    ASSERT_TRUE(enable_freebind(v6).ok());
    sockaddr_in6 b{};
    b.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::77", &b.sin6_addr);
    EXPECT_EQ(bind(v6, reinterpret_cast<sockaddr*>(&b), sizeof(b)), 0) << std::strerror(errno);
    close(v6);
    auto bad = enable_freebind(-1);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().what.find("freebind"), std::string::npos);
}

// A veth pair in the test's own namespace: the virtual IPs go on ikectest0,
// and a packet socket on the other end sees the announcements.
TEST_F(Kernel, VirtualIpAddRemoveAndAnnounce) {
    run("ip link add ikectest0 type veth peer name ikectest1 && ip link set ikectest0 up && "
        "ip link set ikectest1 up");
    unsigned peer = if_nametoindex("ikectest1");
    ASSERT_NE(peer, 0u) << "veth not available";
    int cap = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    ASSERT_GE(cap, 0);
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = int(peer);
    ASSERT_EQ(bind(cap, reinterpret_cast<sockaddr*>(&ll), sizeof(ll)), 0);

    auto vip = VirtualIp::open("ikectest0", {{ip("192.0.2.1"), 24}, {ip("2001:db8::1"), 64}});
    ASSERT_TRUE(vip.ok()) << vip.error().what;
    auto st = vip->add();
    ASSERT_TRUE(st.ok()) << st.error().what;
    st = vip->add();  // idempotent
    ASSERT_TRUE(st.ok()) << st.error().what;
    std::string addrs = run("ip -j addr show dev ikectest0");
    EXPECT_NE(addrs.find("\"192.0.2.1\""), std::string::npos) << addrs;
    EXPECT_NE(addrs.find("\"2001:db8::1\""), std::string::npos) << addrs;
    // No duplicate address detection: usable at once, never tentative.
    auto v6 = addrs.find("\"local\":\"2001:db8::1\"");
    ASSERT_NE(v6, std::string::npos);
    std::string entry = addrs.substr(v6, addrs.find('}', v6) - v6);
    EXPECT_NE(entry.find("\"nodad\":true"), std::string::npos) << entry;
    EXPECT_EQ(entry.find("tentative"), std::string::npos) << entry;

    st = vip->announce();
    ASSERT_TRUE(st.ok()) << st.error().what;
    bool arp_request = false, arp_reply = false, na = false;
    std::array<std::uint8_t, 2048> buf{};
    for (int i = 0; i < 200 && !(arp_request && arp_reply && na); ++i) {
        ssize_t n = recv(cap, buf.data(), buf.size(), 0);
        if (n < 0) {
            usleep(5000);
            continue;
        }
        BytesView f(buf.data(), std::size_t(n));
        if (f.size() < 14) continue;
        std::uint16_t type = std::uint16_t(f[12] << 8 | f[13]);
        BytesView body = f.subspan(14);
        if (type == ETH_P_ARP && body.size() >= 28 && to_hex(body.subspan(14, 4)) == "c0000201" &&
            to_hex(body.subspan(24, 4)) == "c0000201") {
            EXPECT_EQ(to_hex(f.first(6)), "ffffffffffff");
            (body[7] == 1 ? arp_request : arp_reply) = true;
        }
        if (type == ETH_P_IPV6 && body.size() >= 72 && body[6] == 58 && body[40] == 136 &&
            to_hex(body.subspan(48, 16)) == to_hex(ip("2001:db8::1").bytes())) {
            EXPECT_EQ(to_hex(f.first(6)), "333300000001");
            EXPECT_EQ(body[7], 255);
            EXPECT_EQ(icmpv6_sum(body.first(72)), 0xffff);
            na = true;
        }
    }
    close(cap);
    EXPECT_TRUE(arp_request);
    EXPECT_TRUE(arp_reply);
    EXPECT_TRUE(na);

    st = vip->remove();
    ASSERT_TRUE(st.ok()) << st.error().what;
    st = vip->remove();  // idempotent
    ASSERT_TRUE(st.ok()) << st.error().what;
    addrs = run("ip -j addr show dev ikectest0");
    EXPECT_EQ(addrs.find("192.0.2.1"), std::string::npos) << addrs;
    EXPECT_EQ(addrs.find("2001:db8::1"), std::string::npos) << addrs;
}

TEST_F(Kernel, VirtualIpErrorsNameInterfaceAndAddress) {
    auto gone = VirtualIp::open("ikectest9", {{ip("192.0.2.1"), 24}});
    ASSERT_TRUE(gone.ok());
    auto st = gone->add();
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("ikectest9"), std::string::npos) << st.error().what;
    EXPECT_TRUE(gone->remove().ok());  // no interface: nothing to remove
    EXPECT_FALSE(gone->announce().ok());
    EXPECT_FALSE(VirtualIp::open("", {}).ok());
    EXPECT_FALSE(VirtualIp::open("a-name-that-is-far-too-long", {}).ok());

    // A kernel refusal names the address and the interface: IPv6 is
    // switched off on this link.
    run("ip link add ikectest0 type veth peer name ikectest1 && "
        "echo 1 > /proc/sys/net/ipv6/conf/ikectest0/disable_ipv6");
    auto off = VirtualIp::open("ikectest0", {{ip("192.0.2.1"), 24}, {ip("2001:db8::1"), 64}});
    ASSERT_TRUE(off.ok());
    st = off->add();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().what.rfind("virtual IP 2001:db8::1/64 on ikectest0: netlink: ", 0), 0u)
        << st.error().what;
    EXPECT_TRUE(off->remove().ok());
    // Announcing on a link without Ethernet addresses sends nothing.
    run("ip link set lo up");
    auto lo = VirtualIp::open("lo", {{ip("127.0.0.9"), 8}});
    ASSERT_TRUE(lo.ok());
    EXPECT_TRUE(lo->announce().ok());
}
