// Two data planes in one process, each in a network namespace of its own
// (created here with ip(8), joined by a veth pair, removed at the end), with
// a mirrored Child SA: UDP datagrams between addresses behind them cross as
// ESP, over UDP 4500 and over raw ESP, in tunnel mode and in transport mode
// (host to host, IPv4 and IPv6). Root only; skipped otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "dataplane/dataplane.h"
#include "net/batch.h"

using namespace ikecluster;
using namespace ikecluster::dp;

namespace {

IpAddress ip(const char* s) {
    return *IpAddress::parse(s);
}

int sh(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str());
}

class NsLab : public ::testing::Test {
  public:
    std::string a, b;
    int home = -1;

    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root";
        std::string tag = std::to_string(getpid());
        a = "ikdpA-" + tag;
        b = "ikdpB-" + tag;
        home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        ASSERT_EQ(sh("ip netns add " + a), 0);
        ASSERT_EQ(sh("ip netns add " + b), 0);
        ASSERT_EQ(sh("ip link add dpa netns " + a + " type veth peer name dpb netns " + b), 0);
        sh("ip -n " + a + " link set lo up");
        sh("ip -n " + b + " link set lo up");
        sh("ip -n " + a + " addr add 198.51.100.1/24 dev dpa");
        sh("ip -n " + b + " addr add 198.51.100.2/24 dev dpb");
        sh("ip -n " + a + " addr add 2001:db8:64::1/64 dev dpa nodad");
        sh("ip -n " + b + " addr add 2001:db8:64::2/64 dev dpb nodad");
        sh("ip -n " + a + " link set dpa up");
        sh("ip -n " + b + " link set dpb up");
        // The protected networks, as local addresses behind each gateway.
        sh("ip -n " + a + " addr add 10.1.0.1/32 dev lo");
        sh("ip -n " + b + " addr add 10.2.0.5/32 dev lo");
    }
    void TearDown() override {
        if (home >= 0) {
            setns(home, CLONE_NEWNET);
            ::close(home);
        }
        if (!a.empty()) sh("ip netns del " + a);
        if (!b.empty()) sh("ip netns del " + b);
    }
    void enter(const std::string& ns) {
        int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(setns(fd, CLONE_NEWNET), 0);
        ::close(fd);
    }
};

ike::ChildSaState child(std::uint32_t in, std::uint32_t out, const char* lts, const char* rts,
                        std::uint8_t key_in, std::uint8_t key_out) {
    ike::ChildSaState c;
    c.config_name = "net";
    c.spi_in = in;
    c.spi_out = out;
    c.unique_id = in;
    c.encr = {EncrId::AES_GCM_16, 256};
    c.keys.encr_in = Bytes(36, key_in);
    c.keys.encr_out = Bytes(36, key_out);
    c.ts_local = *ike::parse_ts_list(lts);
    c.ts_remote = *ike::parse_ts_list(rts);
    return c;
}

// A UDP socket bound to `addr:port` in the current namespace.
int udp_socket(const char* addr, std::uint16_t port) {
    int fd = ::socket(ip(addr).is_v6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss;
    socklen_t len = net::to_sockaddr({ip(addr), port}, ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// `takeover`: both data planes are cluster members with sequence-number
// stripes (A member 1, B member 0 of 2, stripes of 16) that install their
// Child SA as taken over, from replicated counters.
void run_pair(NsLab& lab, bool encap, std::uint64_t rekey_margin = 0, bool takeover = false) {
    std::vector<Bytes> ike_seen;
    DataPlaneConfig ca;
    ca.rekey_margin = rekey_margin;
    if (takeover) ca.stripes = esp::SeqStripes{4, 1, 2};
    ca.tun_name = "ikecA";
    ca.listen = {ip("198.51.100.1")};
    lab.enter(lab.a);
    auto dpa = DataPlane::start(
        ca, [&](const Endpoint&, const Endpoint&, Bytes d) { ike_seen.push_back(std::move(d)); });
    ASSERT_TRUE(dpa.ok()) << dpa.error().what;
    int sa_sock = udp_socket("10.1.0.1", 7001);
    ASSERT_GE(sa_sock, 0);

    DataPlaneConfig cb = ca;
    if (takeover) cb.stripes = esp::SeqStripes{4, 0, 2};
    cb.tun_name = "ikecB";
    cb.listen = {ip("198.51.100.2")};
    lab.enter(lab.b);
    auto dpb = DataPlane::start(cb, [](const Endpoint&, const Endpoint&, Bytes) {});
    ASSERT_TRUE(dpb.ok()) << dpb.error().what;
    int sb_sock = udp_socket("10.2.0.5", 7002);
    ASSERT_GE(sb_sock, 0);

    std::uint16_t port = encap ? 4500 : 0;
    ike::IkeSpis spis{1, 2};
    ike::InstallChildSa ia{spis,
                           child(0x1001, 0x2002, "10.1.0.0/24", "10.2.0.0/24", 1, 2),
                           {ip("198.51.100.1"), port},
                           {ip("198.51.100.2"), port},
                           encap};
    ike::InstallChildSa ib{spis,
                           child(0x2002, 0x1001, "10.2.0.0/24", "10.1.0.0/24", 2, 1),
                           {ip("198.51.100.2"), port},
                           {ip("198.51.100.1"), port},
                           encap};
    if (takeover) {
        ia.out_next_seq = 1000;  // in member 0's stripe [992, 1008): A moves on to 1008
        ia.in_highest = 500;
        ib.out_next_seq = 600;  // in member 1's stripe [592, 608): B moves on to 608
    }
    ASSERT_TRUE((*dpa)->install(ia).ok());
    ASSERT_TRUE((*dpb)->install(ib).ok());
    // The routes to the remote selectors wait for the flush.
    EXPECT_TRUE((*dpa)->flush_routes().empty());
    EXPECT_TRUE((*dpb)->flush_routes().empty());
    if (takeover) {
        auto ca0 = (*dpa)->counters(0x1001);
        ASSERT_TRUE(ca0);
        EXPECT_EQ(ca0->out_next_seq, 1008u);
        EXPECT_EQ(ca0->in_highest, 500u);
        auto cb0 = (*dpb)->counters(0x2002);
        ASSERT_TRUE(cb0);
        EXPECT_EQ(cb0->out_next_seq, 608u);
        EXPECT_EQ(cb0->in_highest, 0u);
    }

    // A -> B and the answer B -> A, through both data planes.
    sockaddr_storage to;
    socklen_t tl = net::to_sockaddr({ip("10.2.0.5"), 7002}, to);
    const char msg[] = "through the tunnel";
    std::array<char, 256> buf{};
    ssize_t got = -1;
    for (int attempt = 0; attempt < 5 && got < 0; ++attempt) {
        ::sendto(sa_sock, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), tl);
        got = ::recv(sb_sock, buf.data(), buf.size(), 0);
    }
    ASSERT_EQ(got, ssize_t(sizeof msg));
    EXPECT_STREQ(buf.data(), msg);
    sockaddr_storage back;
    socklen_t bl = net::to_sockaddr({ip("10.1.0.1"), 7001}, back);
    ::sendto(sb_sock, "reply", 6, 0, reinterpret_cast<sockaddr*>(&back), bl);
    got = ::recv(sa_sock, buf.data(), buf.size(), 0);
    ASSERT_EQ(got, 6);
    EXPECT_STREQ(buf.data(), "reply");

    auto sta = (*dpa)->stats(), stb = (*dpb)->stats();
    EXPECT_GE(sta.esp_sent, 1u);
    EXPECT_GE(stb.delivered, 1u);
    EXPECT_GE(stb.esp_sent, 1u);
    EXPECT_GE(sta.delivered, 1u);
    EXPECT_EQ(sta.rejected + stb.rejected, 0u);
    auto act = (*dpb)->take_activity();
    ASSERT_EQ(act.size(), 1u);
    EXPECT_EQ(act[0].ike, spis);
    // Without a small margin no SA is near the end of its sequence numbers;
    // with one, the first packet asks for a rekey, once.
    auto rk = (*dpa)->take_rekey_requests();
    if (rekey_margin == 0) {
        EXPECT_TRUE(rk.empty());
    } else {
        ASSERT_EQ(rk.size(), 1u);
        EXPECT_EQ(rk[0].ike, spis);
        EXPECT_EQ(rk[0].spi_in, 0x1001u);
        EXPECT_TRUE((*dpa)->take_rekey_requests().empty());
    }
    auto ctr = (*dpa)->counters(0x1001);
    ASSERT_TRUE(ctr);
    EXPECT_GE(ctr->out_next_seq, 2u);
    EXPECT_GE(ctr->in_highest, 1u);
    if (takeover) {
        // Both resumed above the replicated counters and stayed in their stripes.
        EXPECT_GT(ctr->out_next_seq, 1008u);
        EXPECT_EQ(((ctr->out_next_seq - 1) >> 4) % 2, 1u);
        EXPECT_GE(ctr->in_highest, 608u);
        EXPECT_EQ((ctr->in_highest >> 4) % 2, 0u);
    }

    // Removed: nothing crosses any more, and the route is gone.
    (*dpa)->remove({spis, 0x1001, 0x2002});
    EXPECT_TRUE((*dpa)->flush_routes().empty());
    lab.enter(lab.a);
    EXPECT_NE(sh("ip route show dev ikecA | grep -q 10.2.0.0/24"), 0);
    int fresh = udp_socket("10.1.0.1", 7003);
    ::sendto(fresh, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), tl);
    timeval tv{0, 300000};
    setsockopt(sb_sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_LT(::recv(sb_sock, buf.data(), buf.size(), 0), 0);
    ::close(fresh);
    ::close(sa_sock);
    ::close(sb_sock);
    if (encap) {
        EXPECT_TRUE(ike_seen.empty());
    }
}

// Transport mode between the two hosts' own addresses: the local stack's
// datagrams to the peer go through the TUN device (policy routing), cross as
// ESP carrying UDP directly (Next Header 17), and arrive from the peer's
// address; IKE from port 500 still goes in the clear.
void run_transport(NsLab& lab, bool encap, bool v6) {
    const char* ha = v6 ? "2001:db8:64::1" : "198.51.100.1";
    const char* hb = v6 ? "2001:db8:64::2" : "198.51.100.2";
    const std::string sel_a = std::string(ha) + (v6 ? "/128" : "/32");
    const std::string sel_b = std::string(hb) + (v6 ? "/128" : "/32");
    DataPlaneConfig ca;
    ca.tun_name = "ikecA";
    ca.listen = {ip(ha)};
    lab.enter(lab.a);
    auto dpa = DataPlane::start(ca, [](const Endpoint&, const Endpoint&, Bytes) {});
    ASSERT_TRUE(dpa.ok()) << dpa.error().what;
    int sa_sock = udp_socket(ha, 7001);
    ASSERT_GE(sa_sock, 0);
    int ike_a = udp_socket(ha, 500);
    ASSERT_GE(ike_a, 0);

    DataPlaneConfig cb = ca;
    cb.tun_name = "ikecB";
    cb.listen = {ip(hb)};
    lab.enter(lab.b);
    auto dpb = DataPlane::start(cb, [](const Endpoint&, const Endpoint&, Bytes) {});
    ASSERT_TRUE(dpb.ok()) << dpb.error().what;
    int sb_sock = udp_socket(hb, 7002);
    ASSERT_GE(sb_sock, 0);
    int ike_b = udp_socket(hb, 500);
    ASSERT_GE(ike_b, 0);

    std::uint16_t port = encap ? 4500 : 0;
    ike::IkeSpis spis{1, 2};
    auto ca_child = child(0x1001, 0x2002, sel_a.c_str(), sel_b.c_str(), 1, 2);
    auto cb_child = child(0x2002, 0x1001, sel_b.c_str(), sel_a.c_str(), 2, 1);
    ca_child.mode = cb_child.mode = ike::IpsecMode::TRANSPORT;
    ike::InstallChildSa ia{spis, ca_child, {ip(ha), port}, {ip(hb), port}, encap};
    ike::InstallChildSa ib{spis, cb_child, {ip(hb), port}, {ip(ha), port}, encap};
    ASSERT_TRUE((*dpa)->install(ia).ok());
    ASSERT_TRUE((*dpb)->install(ib).ok());

    lab.enter(lab.a);
    sockaddr_storage to, from;
    socklen_t tl = net::to_sockaddr({ip(hb), 7002}, to);
    const char msg[] = "host to host";
    std::array<char, 256> buf{};
    ssize_t got = -1;
    socklen_t fl = sizeof from;
    for (int attempt = 0; attempt < 5 && got < 0; ++attempt) {
        ::sendto(sa_sock, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), tl);
        fl = sizeof from;
        got =
            ::recvfrom(sb_sock, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    }
    ASSERT_EQ(got, ssize_t(sizeof msg));
    EXPECT_STREQ(buf.data(), msg);
    EXPECT_EQ(net::from_sockaddr(from), (Endpoint{ip(ha), 7001}));
    lab.enter(lab.b);
    sockaddr_storage back;
    socklen_t bl = net::to_sockaddr({ip(ha), 7001}, back);
    ::sendto(sb_sock, "reply", 6, 0, reinterpret_cast<sockaddr*>(&back), bl);
    got = ::recv(sa_sock, buf.data(), buf.size(), 0);
    ASSERT_EQ(got, 6);
    EXPECT_STREQ(buf.data(), "reply");

    auto sta = (*dpa)->stats(), stb = (*dpb)->stats();
    EXPECT_GE(sta.esp_sent, 1u);
    EXPECT_GE(stb.delivered, 1u);
    EXPECT_GE(stb.esp_sent, 1u);
    EXPECT_GE(sta.delivered, 1u);
    EXPECT_EQ(sta.rejected + stb.rejected + sta.selector_mismatch + stb.selector_mismatch, 0u);
    // Our own ESP never came back into the TUN device: a loop would seal it
    // again and again (the SA covers every protocol between the hosts).
    EXPECT_LE(sta.esp_sent, 8u);
    EXPECT_LE(stb.esp_sent, 8u);

    // IKE (from port 500) bypasses the SA: sent in the clear, not via TUN.
    const std::uint64_t tun_before = (*dpa)->stats().tun_packets;
    lab.enter(lab.a);
    sockaddr_storage ike_to;
    socklen_t il = net::to_sockaddr({ip(hb), 500}, ike_to);
    ::sendto(ike_a, "ike", 4, 0, reinterpret_cast<sockaddr*>(&ike_to), il);
    EXPECT_EQ(::recv(ike_b, buf.data(), buf.size(), 0), 4);
    EXPECT_EQ((*dpa)->stats().tun_packets, tun_before);

    // Removed: the host route goes, traffic takes the main table again.
    (*dpa)->remove({spis, 0x1001, 0x2002});
    EXPECT_NE(sh(std::string("ip ") + (v6 ? "-6" : "-4") + " -n " + lab.a +
                 " route show table 4500 | grep -q " + hb),
              0);
    ::close(ike_a);
    ::close(ike_b);
    ::close(sa_sock);
    ::close(sb_sock);
}

}  // namespace

TEST_F(NsLab, TransportModeRawEspIpv4) {
    run_transport(*this, false, false);
}

TEST_F(NsLab, TransportModeUdpEncapIpv4) {
    run_transport(*this, true, false);
}

TEST_F(NsLab, TransportModeRawEspIpv6) {
    run_transport(*this, false, true);
}

TEST_F(NsLab, TransportModeUdpEncapIpv6) {
    run_transport(*this, true, true);
}

TEST_F(NsLab, UdpEncapsulatedEspBothWays) {
    run_pair(*this, true);
}

TEST_F(NsLab, RawEspBothWays) {
    run_pair(*this, false);
}

TEST_F(NsLab, IkeOnTheNattPortGoesToTheIkeSide) {
    enter(a);
    std::mutex mu;
    std::vector<std::pair<Endpoint, Bytes>> seen;
    DataPlaneConfig c;
    c.tun_name = "ikecA";
    c.listen = {ip("198.51.100.1")};
    auto dp = DataPlane::start(c, [&](const Endpoint& local, const Endpoint&, Bytes d) {
        std::lock_guard lock(mu);
        seen.emplace_back(local, std::move(d));
    });
    ASSERT_TRUE(dp.ok()) << dp.error().what;
    enter(b);
    int s = udp_socket("198.51.100.2", 4500);
    ASSERT_GE(s, 0);
    sockaddr_storage to;
    socklen_t tl = net::to_sockaddr({ip("198.51.100.1"), 4500}, to);
    // Non-ESP marker + 28 octets (an IKE header's worth, RFC 3948 §2.2).
    std::uint8_t ike[4 + 28] = {0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    const std::uint8_t keepalive[] = {0xff};
    const std::uint8_t unknown_esp[] = {0, 0, 1, 0, 0, 0, 0, 1, 9, 9, 9, 9};
    ::sendto(s, keepalive, sizeof keepalive, 0, reinterpret_cast<sockaddr*>(&to), tl);
    ::sendto(s, unknown_esp, sizeof unknown_esp, 0, reinterpret_cast<sockaddr*>(&to), tl);
    ::sendto(s, ike, sizeof ike, 0, reinterpret_cast<sockaddr*>(&to), tl);
    for (int i = 0; i < 100; ++i) {
        {
            std::lock_guard lock(mu);
            if (!seen.empty()) break;
        }
        usleep(10000);
    }
    std::lock_guard lock(mu);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].first, (Endpoint{ip("198.51.100.1"), 4500}));
    EXPECT_EQ(seen[0].second, Bytes(std::begin(ike), std::end(ike)));
    EXPECT_EQ((*dp)->stats().unknown_spi, 1u);
    auto unknown = (*dp)->take_unknown_spis();
    ASSERT_EQ(unknown.size(), 1u);
    EXPECT_EQ(unknown[0].from, ip("198.51.100.2"));
    EXPECT_EQ(unknown[0].spi, 0x100u);
    EXPECT_TRUE((*dp)->take_unknown_spis().empty());
    // The IKE side answers through the data plane's socket.
    ASSERT_TRUE((*dp)
                    ->send_udp({ip("198.51.100.1"), 4500}, {ip("198.51.100.2"), 4500},
                               BytesView(ike, sizeof ike))
                    .ok());
    std::array<std::uint8_t, 64> buf{};
    EXPECT_EQ(::recv(s, buf.data(), buf.size(), 0), ssize_t(sizeof ike));
    ::close(s);
}

TEST_F(NsLab, TakenOverSaResumesReplicatedCountersInItsStripes) {
    run_pair(*this, true, 0, true);
}

TEST_F(NsLab, RekeyRequestedBeforeSequenceNumbersRunOut) {
    run_pair(*this, true, ~0ull);  // every SA is "near the end"
}

// Tunnel-mode routes: queued by install()/remove(), sent by flush_routes();
// counted per prefix (two SAs share one route, the last one out removes
// it); within one flush, the last change of a prefix wins.
TEST_F(NsLab, RoutesAreSharedCountedAndFlushedInBatches) {
    enter(a);
    DataPlaneConfig c;
    c.tun_name = "ikecA";
    c.listen = {ip("198.51.100.1")};
    c.raw_esp = false;
    auto dp = DataPlane::start(c, [](const Endpoint&, const Endpoint&, Bytes) {});
    ASSERT_TRUE(dp.ok()) << dp.error().what;
    auto has = [](const char* prefix) {
        return sh(std::string("ip route show dev ikecA | grep -q '^") + prefix + " '") == 0;
    };
    ike::IkeSpis spis{1, 2};
    auto sa = [&](std::uint32_t spi, const char* remote) {
        return ike::InstallChildSa{spis,
                                   child(spi, spi + 1, "10.1.0.0/24", remote, 1, 2),
                                   {ip("198.51.100.1"), 4500},
                                   {ip("198.51.100.2"), 4500},
                                   true};
    };
    auto rm = [&](std::uint32_t spi) { (*dp)->remove({spis, spi, spi + 1}); };

    // Two SAs on one prefix, one on a range of several prefixes.
    {
        auto st = (*dp)->install(sa(0x1000, "10.9.0.0/24"));
        ASSERT_TRUE(st.ok()) << st.error().what;
    }
    ASSERT_TRUE((*dp)->install(sa(0x2000, "10.9.0.0/24")).ok());
    auto range = sa(0x3000, "10.7.0.1/32");
    range.child.ts_remote[0].end = ip("10.7.0.6");  // a range, not a prefix: four routes
    ASSERT_TRUE((*dp)->install(range).ok());
    EXPECT_FALSE(has("10.9.0.0/24"));  // not before the flush
    EXPECT_TRUE((*dp)->flush_routes().empty());
    EXPECT_TRUE(has("10.9.0.0/24"));
    for (const char* p : {"10.7.0.1", "10.7.0.2/31", "10.7.0.4/31", "10.7.0.6"})
        EXPECT_TRUE(has(p)) << p;
    EXPECT_TRUE((*dp)->flush_routes().empty());  // nothing queued: nothing sent

    rm(0x1000);
    EXPECT_TRUE((*dp)->flush_routes().empty());
    EXPECT_TRUE(has("10.9.0.0/24"));  // 0x2000 still uses it
    rm(0x2000);
    rm(0x3000);
    EXPECT_TRUE(has("10.9.0.0/24"));
    EXPECT_TRUE((*dp)->flush_routes().empty());
    EXPECT_FALSE(has("10.9.0.0/24"));
    EXPECT_FALSE(has("10.7.0.1"));
    EXPECT_FALSE(has("10.7.0.2/31"));

    // Added and removed before a flush: ends absent, and the kernel is not
    // asked to delete what it never had (that would be a failure).
    ASSERT_TRUE((*dp)->install(sa(0x4000, "10.8.0.0/24")).ok());
    rm(0x4000);
    EXPECT_TRUE((*dp)->flush_routes().empty());
    EXPECT_FALSE(has("10.8.0.0/24"));

    // Removed and added again before a flush (make-before-break turned
    // around): ends present.
    ASSERT_TRUE((*dp)->install(sa(0x5000, "10.6.0.0/24")).ok());
    EXPECT_TRUE((*dp)->flush_routes().empty());
    rm(0x5000);
    ASSERT_TRUE((*dp)->install(sa(0x6000, "10.6.0.0/24")).ok());
    EXPECT_TRUE((*dp)->flush_routes().empty());
    EXPECT_TRUE(has("10.6.0.0/24"));
    // ... and a route someone else deleted meanwhile comes back.
    ASSERT_EQ(sh("ip route del 10.6.0.0/24 dev ikecA"), 0);
    rm(0x6000);
    ASSERT_TRUE((*dp)->install(sa(0x7000, "10.6.0.0/24")).ok());
    EXPECT_TRUE((*dp)->flush_routes().empty());
    EXPECT_TRUE(has("10.6.0.0/24"));
    // A delete the kernel refuses is reported with its prefix.
    ASSERT_EQ(sh("ip route del 10.6.0.0/24 dev ikecA"), 0);
    rm(0x7000);
    auto failed = (*dp)->flush_routes();
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].prefix.to_string(), "10.6.0.0/24");
    EXPECT_FALSE(failed[0].add);
    EXPECT_EQ(failed[0].err, ESRCH);

    // Many at once: 1,000 SAs with a /32 each, one flush.
    for (std::uint32_t i = 0; i < 1000; ++i) {
        std::string r = "10.5." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
        ASSERT_TRUE((*dp)->install(sa(0x10000 + 2 * i, r.c_str())).ok());
    }
    EXPECT_TRUE((*dp)->flush_routes().empty());
    EXPECT_EQ(sh("test $(ip route show dev ikecA | grep -c '^10\\.5\\.') = 1000"), 0);
    for (std::uint32_t i = 0; i < 1000; ++i)
        rm(0x10000 + 2 * i);
    EXPECT_TRUE((*dp)->flush_routes().empty());
    EXPECT_EQ(sh("test $(ip route show dev ikecA | grep -c '^10\\.5\\.') = 0"), 0);
}
