// Prefix arithmetic, announcement frames, and TUN, rtnetlink and virtual IPs
// against the real kernel inside a private network namespace of this test
// process (root only; skipped otherwise). The namespace disappears with the process: nothing to
// clean up.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
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

// ---- batched route changes -----------------------------------------------------------

namespace {

// The messages of an encoded batch, as (header, payload offset) pairs.
std::vector<nlmsghdr> walk(const std::vector<std::uint8_t>& wire) {
    std::vector<nlmsghdr> out;
    std::size_t off = 0;
    while (off + sizeof(nlmsghdr) <= wire.size()) {
        nlmsghdr h;
        std::memcpy(&h, wire.data() + off, sizeof h);
        if (h.nlmsg_len < sizeof h) break;
        out.push_back(h);
        off += NLMSG_ALIGN(h.nlmsg_len);
    }
    EXPECT_EQ(off, wire.size());
    return out;
}

// An ACK (error 0) or error datagram as the kernel sends it with
// NETLINK_CAP_ACK: the header, the errno and the request's header.
std::vector<std::uint8_t> ack(std::uint32_t seq, std::uint32_t pid, int err) {
    std::vector<std::uint8_t> d(sizeof(nlmsghdr) + sizeof(nlmsgerr));
    nlmsghdr h{};
    h.nlmsg_len = std::uint32_t(d.size());
    h.nlmsg_type = NLMSG_ERROR;
    h.nlmsg_seq = seq;
    h.nlmsg_pid = pid;
    nlmsgerr e{};
    e.error = -err;
    e.msg.nlmsg_seq = seq;
    std::memcpy(d.data(), &h, sizeof h);
    std::memcpy(d.data() + sizeof h, &e, sizeof e);
    return d;
}

std::vector<std::uint8_t> cat(std::initializer_list<std::vector<std::uint8_t>> parts) {
    std::vector<std::uint8_t> d;
    for (const auto& p : parts)
        d.insert(d.end(), p.begin(), p.end());
    return d;
}

}  // namespace

TEST(NetlinkBatch, RequestsGoBackToBackEachWithAckAndItsSequence) {
    std::vector<std::uint8_t> wire;
    RouteRequest add{true, {ip("10.0.0.1"), 32}, 7, ip("192.0.2.1"), 254, 0};
    RouteRequest del6{false, {ip("2001:db8::"), 64}, 7, std::nullopt, 4500, 10};
    nlbatch::put_route_request(wire, add, 100);
    nlbatch::put_route_request(wire, del6, 101);
    nlbatch::put_route_request(wire, add, 102);
    auto msgs = walk(wire);
    ASSERT_EQ(msgs.size(), 3u);
    for (std::uint32_t i = 0; i < 3; ++i) {
        EXPECT_EQ(msgs[i].nlmsg_seq, 100 + i);
        EXPECT_TRUE(msgs[i].nlmsg_flags & NLM_F_ACK);
        EXPECT_TRUE(msgs[i].nlmsg_flags & NLM_F_REQUEST);
    }
    EXPECT_EQ(msgs[0].nlmsg_type, RTM_NEWROUTE);
    EXPECT_TRUE(msgs[0].nlmsg_flags & NLM_F_REPLACE);
    EXPECT_EQ(msgs[1].nlmsg_type, RTM_DELROUTE);
    EXPECT_FALSE(msgs[1].nlmsg_flags & NLM_F_CREATE);
    // The IPv6 delete in table 4500 with a metric carries more attributes
    // than the IPv4 add with a source; each message's length is its own.
    EXPECT_EQ(msgs[0].nlmsg_len, msgs[2].nlmsg_len);
    EXPECT_NE(msgs[0].nlmsg_len, msgs[1].nlmsg_len);
    rtmsg rtm;
    std::memcpy(&rtm, wire.data() + NLMSG_ALIGN(msgs[0].nlmsg_len) + sizeof(nlmsghdr), sizeof rtm);
    EXPECT_EQ(rtm.rtm_family, AF_INET6);
    EXPECT_EQ(rtm.rtm_dst_len, 64);
}

TEST(NetlinkBatch, AcksMatchTheirRequestsBySequenceNumber) {
    const std::uint32_t pid = 4242, first = 0xfffffffe;  // the numbers wrap inside the batch
    std::vector<int> errs(4, nlbatch::kPending);
    // Out of order, in two datagrams, with strays that must not count: another
    // socket's ACK, a number outside the batch, a repeat, a non-error message.
    nlmsghdr other{};
    other.nlmsg_len = sizeof other;
    other.nlmsg_type = RTM_NEWROUTE;
    other.nlmsg_seq = first;
    other.nlmsg_pid = pid;
    std::vector<std::uint8_t> o(sizeof other);
    std::memcpy(o.data(), &other, sizeof other);
    auto d1 = cat({ack(first + 2, pid, ESRCH), ack(first, 999, EEXIST), o, ack(first, pid, 0),
                   ack(first + 7, pid, EINVAL)});
    EXPECT_EQ(nlbatch::match_acks(d1, pid, first, errs), 2u);
    EXPECT_EQ(errs, (std::vector<int>{0, nlbatch::kPending, ESRCH, nlbatch::kPending}));
    auto d2 = cat({ack(first + 3, pid, 0), ack(first + 2, pid, 0), ack(first + 1, pid, ENODEV)});
    EXPECT_EQ(nlbatch::match_acks(d2, pid, first, errs), 2u);
    EXPECT_EQ(errs, (std::vector<int>{0, ENODEV, ESRCH, 0}));  // the repeat changed nothing

    BatchResult r{errs, 2};
    EXPECT_TRUE(r.status(0).ok());
    ASSERT_FALSE(r.status(1).ok());
    EXPECT_NE(r.status(1).error().what.find(std::strerror(ENODEV)), std::string::npos);
    EXPECT_FALSE(r.status(9).ok());
}

TEST(NetlinkBatch, MalformedAnswersAreIgnoredNotTrusted) {
    std::vector<int> errs(2, nlbatch::kPending);
    auto good = ack(1, 5, 0);
    // Truncated: a length beyond the datagram.
    auto d = good;
    d.resize(d.size() - 4);
    EXPECT_EQ(nlbatch::match_acks(d, 5, 1, errs), 0u);
    // A length below the header's.
    d = good;
    d[0] = 3;
    d[1] = d[2] = d[3] = 0;
    EXPECT_EQ(nlbatch::match_acks(d, 5, 1, errs), 0u);
    // An NLMSG_ERROR too short to hold the errno.
    d = good;
    std::uint32_t len = sizeof(nlmsghdr) + 2;
    std::memcpy(d.data(), &len, sizeof len);
    d.resize(len);
    EXPECT_EQ(nlbatch::match_acks(d, 5, 1, errs), 0u);
    // Random bytes.
    std::vector<std::uint8_t> junk(333);
    for (std::size_t i = 0; i < junk.size(); ++i)
        junk[i] = std::uint8_t(i * 37 + 11);
    (void)nlbatch::match_acks(junk, 5, 1, errs);
    EXPECT_EQ(nlbatch::match_acks({}, 5, 1, errs), 0u);
    // A good ACK after all that still counts.
    EXPECT_EQ(nlbatch::match_acks(good, 5, 1, errs), 1u);
    EXPECT_EQ(errs[0], 0);
}

namespace {

std::size_t count_lines(const std::string& s, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1))
        ++n;
    return n;
}

std::vector<RouteRequest> hosts(int ifindex, bool add, int n, int base = 0) {
    std::vector<RouteRequest> v;
    for (int i = base; i < base + n; ++i) {
        RouteRequest r;
        r.add = add;
        r.dst = {IpAddress::v4({10, 77, std::uint8_t(i >> 8), std::uint8_t(i)}), 32};
        r.ifindex = ifindex;
        v.push_back(r);
    }
    return v;
}

}  // namespace

TEST_F(Kernel, RouteBatchAppliesInOrderAndNamesEachFailure) {
    auto tun = Tun::open({"ikectest2", 1, false, true});
    ASSERT_TRUE(tun.ok()) << tun.error().what;
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    ASSERT_TRUE(nl->link_up(tun->ifindex()).ok());
    // 1,000 adds: five sends of 200. One to a device that does not exist,
    // in the middle.
    auto reqs = hosts(tun->ifindex(), true, 1000);
    reqs[333].ifindex = 99999;
    auto r = nl->route_batch(reqs);
    ASSERT_EQ(r.err.size(), 1000u);
    EXPECT_EQ(r.failed, 1u);
    EXPECT_EQ(r.err[333], ENODEV);
    EXPECT_FALSE(r.status(333).ok());
    EXPECT_TRUE(r.status(334).ok());
    EXPECT_EQ(count_lines(run("ip route show dev ikectest2"), "10.77."), 999u);
    // The single requests still work on the same socket afterwards.
    EXPECT_TRUE(nl->add_route({ip("10.78.0.0"), 16}, tun->ifindex()).ok());
    // In order within one batch: delete then add ends present, add then
    // delete ends absent; a delete of a route that is not there fails alone.
    std::vector<RouteRequest> mixed = hosts(tun->ifindex(), false, 2, 0);  // 10.77.0.0, .1
    mixed.push_back(hosts(tun->ifindex(), true, 1, 0)[0]);                 // 10.77.0.0 again
    mixed.push_back(hosts(tun->ifindex(), true, 1, 2000)[0]);              // 10.77.7.208
    mixed.push_back(hosts(tun->ifindex(), false, 1, 2000)[0]);
    mixed.push_back(hosts(tun->ifindex(), false, 1, 333)[0]);  // never added
    r = nl->route_batch(mixed);
    EXPECT_EQ(r.err, (std::vector<int>{0, 0, 0, 0, 0, ESRCH}));
    std::string routes = run("ip route show dev ikectest2");
    EXPECT_NE(routes.find("10.77.0.0 "), std::string::npos) << routes;
    EXPECT_EQ(routes.find("10.77.0.1 "), std::string::npos);
    EXPECT_EQ(routes.find("10.77.7.208"), std::string::npos);
    // All deleted in one call.
    r = nl->route_batch(hosts(tun->ifindex(), false, 1000));
    EXPECT_EQ(r.failed, 2u);  // .1 and 333: not there
    EXPECT_EQ(count_lines(run("ip route show dev ikectest2"), "10.77."), 0u);
    EXPECT_TRUE(nl->route_batch({}).err.empty());
}

// With a receive buffer far too small for a batch's ACKs the kernel drops
// most of them (ENOBUFS); the requests whose ACK went missing are sent again
// one by one, and every outcome is still right.
TEST_F(Kernel, RouteBatchSurvivesLostAcks) {
    auto tun = Tun::open({"ikectest3", 1, false, true});
    ASSERT_TRUE(tun.ok()) << tun.error().what;
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    ASSERT_TRUE(nl->link_up(tun->ifindex()).ok());
    ASSERT_TRUE(nl->set_receive_buffer(1).ok());  // the kernel's minimum
    auto reqs = hosts(tun->ifindex(), true, 400);
    reqs[250].ifindex = 99999;
    auto r = nl->route_batch(reqs);
    EXPECT_EQ(r.failed, 1u);
    EXPECT_EQ(r.err[250], ENODEV);
    EXPECT_EQ(count_lines(run("ip route show dev ikectest3"), "10.77."), 399u);
    // A delete whose ACK was lost has happened; its retry finding nothing
    // counts as done. The route that never was is gone too, so the same.
    r = nl->route_batch(hosts(tun->ifindex(), false, 400));
    EXPECT_LE(r.failed, 1u);
    EXPECT_EQ(count_lines(run("ip route show dev ikectest3"), "10.77."), 0u);
    EXPECT_TRUE(nl->add_route({ip("10.78.0.0"), 16}, tun->ifindex()).ok());
}
