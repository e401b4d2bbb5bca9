#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "policy/spd.h"

using namespace ikecluster;
using namespace ikecluster::policy;

namespace {

ike::TsList ts(const char* s) {
    return *ike::parse_ts_list(s);
}

IpAddress ip(const char* s) {
    return *IpAddress::parse(s);
}

PacketKey key(const char* src, const char* dst, std::uint8_t proto = 6, std::uint16_t sport = 40000,
              std::uint16_t dport = 443) {
    return PacketKey{ip(src), ip(dst), proto, sport, dport};
}

Bytes ipv4_tcp(std::array<std::uint8_t, 4> s, std::array<std::uint8_t, 4> d, std::uint16_t sp,
               std::uint16_t dp, std::uint16_t frag = 0) {
    Bytes p(40, 0);
    p[0] = 0x45;
    p[6] = std::uint8_t(frag >> 8);
    p[7] = std::uint8_t(frag);
    p[9] = 6;
    std::copy(s.begin(), s.end(), p.begin() + 12);
    std::copy(d.begin(), d.end(), p.begin() + 16);
    p[20] = std::uint8_t(sp >> 8);
    p[21] = std::uint8_t(sp);
    p[22] = std::uint8_t(dp >> 8);
    p[23] = std::uint8_t(dp);
    return p;
}

}  // namespace

TEST(PacketKey, Ipv4AndIpv6WithExtensionHeaders) {
    auto k = packet_key(ipv4_tcp({192, 0, 2, 1}, {203, 0, 113, 5}, 1234, 443));
    ASSERT_TRUE(k);
    EXPECT_EQ(k->src, ip("192.0.2.1"));
    EXPECT_EQ(k->dst, ip("203.0.113.5"));
    EXPECT_EQ(k->proto, 6);
    EXPECT_EQ(k->sport, 1234);
    EXPECT_EQ(k->dport, 443);
    // A non-first fragment carries no ports.
    auto f = packet_key(ipv4_tcp({192, 0, 2, 1}, {203, 0, 113, 5}, 1234, 443, 0x0010));
    ASSERT_TRUE(f);
    EXPECT_EQ(f->dport, 0);
    // IPv6: hop-by-hop (8 octets) then UDP.
    Bytes v6(40 + 8 + 8, 0);
    v6[0] = 0x60;
    v6[6] = 0;  // hop-by-hop
    v6[8 + 15] = 1;
    v6[24 + 0] = 0x20;
    v6[24 + 1] = 0x01;
    v6[24 + 2] = 0x0d;
    v6[24 + 3] = 0xb8;
    v6[24 + 15] = 7;
    v6[40] = 17;  // next: UDP
    v6[41] = 0;   // 8 octets
    v6[48] = 0x01;
    v6[49] = 0xf4;  // sport 500
    v6[50] = 0x11;
    v6[51] = 0x94;  // dport 4500
    auto k6 = packet_key(v6);
    ASSERT_TRUE(k6);
    EXPECT_EQ(k6->dst, ip("2001:db8::7"));
    EXPECT_EQ(k6->proto, 17);
    EXPECT_EQ(k6->sport, 500);
    EXPECT_EQ(k6->dport, 4500);
    // Garbage and truncation: no key, never a read past the end.
    EXPECT_FALSE(packet_key(Bytes{}));
    EXPECT_FALSE(packet_key(Bytes{0x45, 0, 0}));
    EXPECT_FALSE(packet_key(Bytes(39, 0x60)));
    Bytes ip4 = ipv4_tcp({1, 2, 3, 4}, {5, 6, 7, 8}, 1, 2);
    for (std::size_t n = 0; n < ip4.size(); ++n)
        (void)packet_key(std::span<const std::uint8_t>(ip4.data(), n));
}

TEST(Spd, PicksTheSaWhoseSelectorsFit) {
    std::vector<SpdEntry> es;
    es.push_back({ts("10.0.0.0/16"), ts("203.0.113.0/24"), 1, 0});
    es.push_back({ts("10.0.0.0/16"), ts("203.0.113.128/25"), 2, 0});  // narrower: wins inside it
    es.push_back({ts("10.0.0.0/16"), ts("0.0.0.0/0[tcp/443]"), 3, 0});
    es.push_back({ts("2001:db8:a::/48"), ts("2001:db8:b::/48"), 4, 0});
    es.push_back({ts("10.0.0.0/16"), ts("198.51.100.0/24"), 5, 9});
    es.push_back({ts("10.0.0.0/16"), ts("198.51.100.7"), 6, 10});  // narrower but worse priority
    Spd spd(es);
    auto id = [&](const PacketKey& k) {
        const SpdEntry* e = spd.lookup_outbound(k);
        return e ? e->id : 0;
    };
    EXPECT_EQ(id(key("10.0.1.1", "203.0.113.5")), 1u);
    EXPECT_EQ(id(key("10.0.1.1", "203.0.113.200")), 2u);
    EXPECT_EQ(id(key("10.0.1.1", "8.8.8.8", 6, 1, 443)), 3u);
    EXPECT_EQ(id(key("10.0.1.1", "8.8.8.8", 17, 1, 443)), 0u);  // not tcp
    EXPECT_EQ(id(key("10.0.1.1", "8.8.8.8", 6, 1, 80)), 0u);
    // The source is outside every entry's local side.
    EXPECT_EQ(id(key("10.9.1.1", "203.0.113.5")), 0u);
    EXPECT_EQ(id(key("2001:db8:a::1", "2001:db8:b::2")), 4u);
    EXPECT_EQ(id(key("2001:db8:a::1", "2001:db8:c::2")), 0u);
    EXPECT_EQ(id(key("10.0.1.1", "198.51.100.7")), 3u);             // tcp/443: priority 0 beats 9
    EXPECT_EQ(id(key("10.0.1.1", "198.51.100.7", 17, 1, 53)), 5u);  // priority before width
    EXPECT_EQ(Spd().lookup_outbound(key("10.0.1.1", "203.0.113.5")), nullptr);
}

TEST(Spd, EdgesOfTheAddressSpace) {
    Spd spd({{ts("0.0.0.0/0"), ts("255.255.255.0/24"), 1, 0},
             {ts("0.0.0.0/0"), ts("0.0.0.0/8"), 2, 0},
             {ts("::/0"), ts("ffff::/16"), 3, 0}});
    EXPECT_EQ(spd.lookup_outbound(key("1.1.1.1", "255.255.255.255"))->id, 1u);
    EXPECT_EQ(spd.lookup_outbound(key("1.1.1.1", "0.0.0.0"))->id, 2u);
    EXPECT_EQ(spd.lookup_outbound(key("1.1.1.1", "1.0.0.0")), nullptr);
    EXPECT_EQ(spd.lookup_outbound(key("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))->id, 3u);
}

// The index answers exactly what a linear scan over the entries in
// priority/width order would: random /8../32 subnets, random packets.
RC_GTEST_PROP(SpdProperty, AgreesWithALinearScan, ()) {
    const int n = *rc::gen::inRange(1, 40);
    std::vector<SpdEntry> es;
    for (int i = 0; i < n; ++i) {
        auto a = *rc::gen::inRange<std::uint32_t>(0, 256);
        auto b = *rc::gen::inRange<std::uint32_t>(0, 4);
        auto len = *rc::gen::inRange(8, 33);
        std::string pfx = "10." + std::to_string(b) + "." + std::to_string(a % 4) + ".0/" +
                          std::to_string(len < 16 ? 16 : len);
        es.push_back({ts("192.168.0.0/16"), ts(pfx.c_str()), std::uint64_t(i + 1),
                      *rc::gen::inRange<std::uint32_t>(0, 3)});
    }
    Spd spd(es);
    for (int q = 0; q < 50; ++q) {
        std::string dst = "10." + std::to_string(*rc::gen::inRange(0, 5)) + "." +
                          std::to_string(*rc::gen::inRange(0, 5)) + "." +
                          std::to_string(*rc::gen::inRange(0, 256));
        PacketKey k = key("192.168.1.1", dst.c_str());
        // Linear: every fitting entry; the best by (priority, width).
        const SpdEntry* best = nullptr;
        auto width = [](const SpdEntry& e) {
            auto s = e.remote[0].start.bytes(), t = e.remote[0].end.bytes();
            std::uint32_t x = 0, y = 0;
            for (int i = 0; i < 4; ++i) {
                x = x << 8 | s[std::size_t(i)];
                y = y << 8 | t[std::size_t(i)];
            }
            return y - x;
        };
        for (const SpdEntry& e : es) {
            if (!within(e.local, e.remote, k)) continue;
            if (!best || e.priority < best->priority ||
                (e.priority == best->priority && width(e) < width(*best)))
                best = &e;
        }
        const SpdEntry* got = spd.lookup_outbound(k);
        RC_ASSERT((got == nullptr) == (best == nullptr));
        if (got) {
            RC_ASSERT(got->priority == best->priority);
            RC_ASSERT(width(*got) == width(*best));
        }
    }
}
