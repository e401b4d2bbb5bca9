// TUN offloads: splitting a TSO segment into MSS-sized TCP segments (IPv4
// and IPv6) with lengths, sequence numbers, flags and checksums as the
// kernel's GSO would write them, completing partial checksums, and refusing
// headers that do not fit.
#include "net/offload.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace ikecluster;
using namespace ikecluster::net;

namespace {

std::uint16_t be16(const std::uint8_t* p) {
    return std::uint16_t(p[0] << 8 | p[1]);
}
std::uint32_t be32(const std::uint8_t* p) {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

// Independent RFC 1071 sum, big-endian words.
std::uint32_t sum_be(const std::uint8_t* p, std::size_t n, std::uint32_t acc = 0) {
    for (std::size_t i = 0; i + 1 < n; i += 2)
        acc += be16(p + i);
    if (n & 1) acc += std::uint32_t(p[n - 1]) << 8;
    return acc;
}
std::uint16_t fold(std::uint32_t acc) {
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return std::uint16_t(acc);
}

bool tcp_checksum_ok(const Bytes& p) {
    const bool v6 = p[0] >> 4 == 6;
    const std::size_t ihl = v6 ? 40 : std::size_t(p[0] & 0xf) * 4;
    const std::size_t tcp_len = p.size() - ihl;
    std::uint32_t acc = v6 ? sum_be(&p[8], 32) : sum_be(&p[12], 8);
    acc += std::uint32_t(tcp_len) + 6;
    acc = sum_be(&p[ihl], tcp_len, acc);
    return fold(acc) == 0xffff;
}

// A large TCP segment as TSO hands it over: headers + `payload` octets,
// flags FIN|PSH|ACK|CWR, sequence number 0xfffff000 (wraps while splitting).
Bytes big_segment(bool v6, std::size_t payload) {
    const std::size_t ihl = v6 ? 40 : 20;
    Bytes p(ihl + 20 + payload);
    if (v6) {
        p[0] = 0x60;
        p[4] = std::uint8_t((20 + payload) >> 8);
        p[5] = std::uint8_t(20 + payload);
        p[6] = 6;
        p[7] = 64;
        p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 1;
        p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 2;
    } else {
        p[0] = 0x45;
        p[2] = std::uint8_t(p.size() >> 8);
        p[3] = std::uint8_t(p.size());
        p[4] = 0x12, p[5] = 0x34;
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 6;
        p[12] = 198, p[13] = 51, p[14] = 100, p[15] = 1;
        p[16] = 198, p[17] = 51, p[18] = 100, p[19] = 2;
    }
    std::uint8_t* t = &p[ihl];
    t[0] = 0x9c, t[1] = 0x40, t[2] = 0x13, t[3] = 0x89;
    t[4] = 0xff, t[5] = 0xff, t[6] = 0xf0, t[7] = 0x00;
    t[12] = 5 << 4;
    t[13] = 0x80 | 0x10 | 0x08 | 0x01;  // CWR ACK PSH FIN
    for (std::size_t i = 0; i < payload; ++i)
        p[ihl + 20 + i] = std::uint8_t(i * 13 + (i >> 8));
    return p;
}

void check_split(bool v6, std::size_t payload, std::uint16_t mss) {
    Bytes big = big_segment(v6, payload);
    VnetHdr h;
    h.flags = VnetHdr::kNeedsCsum;
    h.gso_type = v6 ? VnetHdr::kGsoTcpv6 : VnetHdr::kGsoTcpv4;
    h.gso_size = mss;
    h.hdr_len = std::uint16_t(big.size());  // the kernel's value may include payload: ignored
    auto plan = gso_plan(h, big);
    ASSERT_TRUE(plan.ok()) << plan.error().what;
    const std::size_t ihl = v6 ? 40 : 20;
    EXPECT_EQ(plan->hdr_len, ihl + 20);
    EXPECT_EQ(plan->segments, (payload + mss - 1) / mss);
    Bytes joined;
    for (std::size_t i = 0; i < plan->segments; ++i) {
        Bytes out(plan->max_segment());
        const std::size_t n = gso_segment(*plan, big, i, out);
        out.resize(n);
        const bool last = i + 1 == plan->segments;
        EXPECT_EQ(n, ihl + 20 + (last ? payload - i * mss : mss));
        if (v6) {
            EXPECT_EQ(be16(&out[4]), n - 40);
        } else {
            EXPECT_EQ(be16(&out[2]), n);
            EXPECT_EQ(be16(&out[4]), std::uint16_t(0x1234 + i));
            EXPECT_EQ(fold(sum_be(out.data(), 20)), 0xffff);
        }
        EXPECT_EQ(be32(&out[ihl + 4]), std::uint32_t(0xfffff000u + i * mss));
        const std::uint8_t flags = out[ihl + 13];
        EXPECT_EQ(bool(flags & 0x01), last);
        EXPECT_EQ(bool(flags & 0x08), last);
        EXPECT_EQ(bool(flags & 0x80), i == 0);
        EXPECT_TRUE(flags & 0x10);
        EXPECT_TRUE(tcp_checksum_ok(out)) << "segment " << i;
        joined.insert(joined.end(), out.begin() + std::ptrdiff_t(ihl + 20), out.end());
    }
    EXPECT_EQ(joined, Bytes(big.begin() + std::ptrdiff_t(ihl + 20), big.end()));
}

TEST(Offload, SplitsTcpv4) {
    check_split(false, 64000, 1360);
    check_split(false, 1360, 1360);
    check_split(false, 1361, 1360);
    check_split(false, 999, 100);
}

TEST(Offload, SplitsTcpv6) {
    check_split(true, 65000, 1340);
    check_split(true, 1, 1340);
    check_split(true, 4097, 512);
}

TEST(Offload, NoGsoIsOneSegment) {
    Bytes p = big_segment(false, 100);
    auto plan = gso_plan(VnetHdr{}, p);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->segments, 1u);
    EXPECT_EQ(plan->hdr_len, 0u);
}

TEST(Offload, CompletesPartialChecksum) {
    for (bool v6 : {false, true}) {
        for (std::size_t n : {0u, 1u, 2u, 3u, 1001u}) {
            Bytes p = big_segment(v6, n);
            const std::size_t ihl = v6 ? 40 : 20;
            // What the stack leaves with CHECKSUM_PARTIAL: the pseudo-header
            // sum, not inverted, in the checksum field.
            std::uint32_t acc = v6 ? sum_be(&p[8], 32) : sum_be(&p[12], 8);
            acc += std::uint32_t(p.size() - ihl) + 6;
            std::uint16_t ps = fold(acc);
            p[ihl + 16] = std::uint8_t(ps >> 8);
            p[ihl + 17] = std::uint8_t(ps);
            ASSERT_TRUE(complete_checksum(p, ihl, 16));
            EXPECT_TRUE(tcp_checksum_ok(p)) << v6 << " " << n;
        }
    }
    Bytes small(30);
    EXPECT_FALSE(complete_checksum(small, 20, 9));
    EXPECT_FALSE(complete_checksum(small, 31, 0));
}

TEST(Offload, VnetHdrRoundTrip) {
    VnetHdr h{1, 4, 54, 1400, 40, 16};
    std::uint8_t buf[VnetHdr::kSize];
    h.store(buf);
    VnetHdr g = VnetHdr::load(buf);
    EXPECT_EQ(g.flags, 1);
    EXPECT_EQ(g.gso_type, 4);
    EXPECT_EQ(g.hdr_len, 54);
    EXPECT_EQ(g.gso_size, 1400);
    EXPECT_EQ(g.csum_start, 40);
    EXPECT_EQ(g.csum_offset, 16);
}

TEST(Offload, RefusesBadHeaders) {
    VnetHdr h;
    h.gso_type = VnetHdr::kGsoTcpv4;
    h.gso_size = 1000;
    Bytes p = big_segment(false, 3000);
    EXPECT_FALSE(gso_plan(h, BytesView(p.data(), 30)).ok());  // TCP header cut off
    Bytes q = p;
    q[9] = 17;
    EXPECT_FALSE(gso_plan(h, q).ok());  // not TCP
    q = p;
    q[0] = 0x44;
    EXPECT_FALSE(gso_plan(h, q).ok());  // IHL 4
    q = p;
    q[20 + 12] = 4 << 4;
    EXPECT_FALSE(gso_plan(h, q).ok());  // data offset 4
    h.gso_size = 0;
    EXPECT_FALSE(gso_plan(h, p).ok());
    h.gso_size = 1000;
    h.gso_type = 3;  // UDP (UFO): never offered
    EXPECT_FALSE(gso_plan(h, p).ok());
    h.gso_type = VnetHdr::kGsoTcpv6;
    EXPECT_FALSE(gso_plan(h, p).ok());  // IPv4 packet under a v6 type
    EXPECT_FALSE(gso_plan(h, {}).ok());
    std::mt19937 rng(1);
    for (int i = 0; i < 5000; ++i) {
        Bytes r(rng() % 120);
        for (auto& b : r)
            b = std::uint8_t(rng());
        h.gso_type = (i & 1) ? VnetHdr::kGsoTcpv4 : VnetHdr::kGsoTcpv6;
        h.gso_size = std::uint16_t(1 + rng() % 64);
        auto plan = gso_plan(h, r);
        if (!plan.ok()) continue;
        Bytes out(plan->max_segment());
        for (std::size_t s = 0; s < plan->segments; ++s)
            EXPECT_LE(gso_segment(*plan, r, s, out), out.size());
    }
}

}  // namespace

namespace {

// Splits a large segment and merges the pieces again: the same stream.
void check_merge(bool v6, std::size_t payload, std::uint16_t mss) {
    Bytes big = big_segment(v6, payload);
    const std::size_t ihl = v6 ? 40 : 20;
    big[ihl + 13] = 0x18;  // ACK PSH: a merge candidate (no FIN/CWR)
    VnetHdr h;
    h.gso_type = v6 ? VnetHdr::kGsoTcpv6 : VnetHdr::kGsoTcpv4;
    h.gso_size = mss;
    auto plan = gso_plan(h, big);
    ASSERT_TRUE(plan.ok());
    std::vector<Bytes> segs;
    for (std::size_t i = 0; i < plan->segments; ++i) {
        Bytes out(plan->max_segment());
        out.resize(gso_segment(*plan, big, i, out));
        segs.push_back(out);
    }
    std::vector<BytesView> run;
    std::optional<TcpSegment> first, last;
    std::size_t run_payload = 0;
    for (const Bytes& s : segs) {
        auto c = gro_candidate(s);
        ASSERT_TRUE(c.has_value());
        if (first) {
            ASSERT_TRUE(gro_continues(run[0], *first, *last, s, *c, run_payload));
        }
        if (!first) first = c;
        last = c;
        run.push_back(s);
        run_payload += c->payload;
    }
    Bytes out(VnetHdr::kSize + 65535);
    out.resize(gro_merge(run, *first, out));
    VnetHdr m = VnetHdr::load(out.data());
    Bytes merged(out.begin() + VnetHdr::kSize, out.end());
    ASSERT_EQ(merged.size(), big.size());
    if (segs.size() > 1) {
        EXPECT_EQ(m.flags, VnetHdr::kNeedsCsum);
        EXPECT_EQ(m.gso_type, h.gso_type);
        EXPECT_EQ(m.gso_size, mss);
        EXPECT_EQ(m.hdr_len, ihl + 20);
        EXPECT_EQ(m.csum_start, ihl);
        EXPECT_EQ(m.csum_offset, 16);
        ASSERT_TRUE(complete_checksum(merged, m.csum_start, m.csum_offset));
    } else {
        EXPECT_EQ(m.gso_type, VnetHdr::kGsoNone);
    }
    EXPECT_TRUE(tcp_checksum_ok(merged));
    if (!v6) {
        EXPECT_EQ(fold(sum_be(merged.data(), 20)), 0xffff);
    }
    // Same stream: payload, sequence number, flags (PSH from the last).
    EXPECT_TRUE(std::equal(merged.begin() + std::ptrdiff_t(ihl + 20), merged.end(),
                           big.begin() + std::ptrdiff_t(ihl + 20)));
    EXPECT_EQ(be32(&merged[ihl + 4]), be32(&big[ihl + 4]));
    EXPECT_EQ(merged[ihl + 13], 0x18);
}

TEST(Gro, MergesWhatGsoSplit) {
    check_merge(false, 64000, 1360);
    check_merge(false, 5000, 1000);
    check_merge(true, 65000, 1340);
    check_merge(true, 100, 1340);
}

TEST(Gro, KeepsApartWhatMustNotMerge) {
    Bytes big = big_segment(false, 3000);
    big[20 + 13] = 0x10;
    VnetHdr h;
    h.gso_type = VnetHdr::kGsoTcpv4;
    h.gso_size = 1000;
    auto plan = gso_plan(h, big);
    ASSERT_TRUE(plan.ok());
    Bytes a(plan->max_segment()), b(plan->max_segment());
    a.resize(gso_segment(*plan, big, 0, a));
    b.resize(gso_segment(*plan, big, 1, b));
    auto ca = gro_candidate(a), cb = gro_candidate(b);
    ASSERT_TRUE(ca && cb);
    EXPECT_TRUE(gro_continues(a, *ca, *ca, b, *cb, ca->payload));
    EXPECT_FALSE(gro_continues(a, *ca, *ca, a, *ca, ca->payload));  // not the next sequence
    Bytes c = b;
    c[20 + 9] ^= 1;  // another ack number (checksum fixed below)
    c[36] = c[37] = 0;
    {
        std::uint32_t acc = sum_be(&c[12], 8) + std::uint32_t(c.size() - 20) + 6;
        acc = sum_be(&c[20], c.size() - 20, acc);
        std::uint16_t k = std::uint16_t(~fold(acc));
        c[36] = std::uint8_t(k >> 8);
        c[37] = std::uint8_t(k);
    }
    auto cc = gro_candidate(c);
    ASSERT_TRUE(cc);
    EXPECT_FALSE(gro_continues(a, *ca, *ca, c, *cc, ca->payload));
    Bytes bad = b;
    bad[50] ^= 0xff;  // payload corrupted: checksum fails, never merged
    EXPECT_FALSE(gro_candidate(bad).has_value());
    Bytes syn = a;
    syn[20 + 13] = 0x12;
    EXPECT_FALSE(gro_candidate(syn).has_value());
    Bytes frag = a;
    frag[6] = 0x20;  // MF
    EXPECT_FALSE(gro_candidate(frag).has_value());
    EXPECT_FALSE(gro_candidate({}).has_value());
}

}  // namespace
