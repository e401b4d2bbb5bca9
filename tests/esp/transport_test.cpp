// Transport-mode framing (RFC 4303 §3.1.1): strip the IP header on the way
// out, rebuild it on the way in, checksum fix-up after NAT (RFC 3948
// §3.1.2), and whole round trips through an OutboundSa/InboundSa pair for
// IPv4 and IPv6.
#include "esp/transport.h"

#include <gtest/gtest.h>

#include <random>

#include "base/buffer.h"
#include "esp/esp_sa.h"
#include "esp/esp_util.h"

using namespace ikecluster;
using namespace ikecluster::esp;
using namespace ikecluster::esp::test_util;

namespace {

const IpAddress kA4 = *IpAddress::parse("198.51.100.1");
const IpAddress kB4 = *IpAddress::parse("198.51.100.2");
const IpAddress kA6 = *IpAddress::parse("2001:db8:1::1");
const IpAddress kB6 = *IpAddress::parse("2001:db8:2::2");

// Independent checksum check: the one's-complement sum over pseudo-header
// and upper layer (checksum included) must be 0xffff.
bool checksum_ok(BytesView p) {
    const bool v6 = p[0] >> 4 == 6;
    const std::size_t hl = v6 ? 40 : std::size_t(p[0] & 0xf) * 4;
    const std::size_t l4 = v6 ? load_be16(&p[4]) : load_be16(&p[2]) - hl;
    const std::uint8_t proto = v6 ? p[6] : p[9];
    std::uint64_t s = 0;
    const std::size_t ao = v6 ? 8 : 12, al = v6 ? 32 : 8;
    for (std::size_t i = 0; i < al; i += 2)
        s += load_be16(&p[ao + i]);
    s += l4 + proto;
    for (std::size_t i = 0; i + 1 < l4; i += 2)
        s += load_be16(&p[hl + i]);
    if (l4 & 1) s += std::uint64_t(p[hl + l4 - 1]) << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return s == 0xffff;
}

// A TCP segment (20-octet header + `n` octets of data) from src to dst with
// a valid checksum, in the header layout transport_rebuild writes.
Bytes tcp_packet(const IpAddress& src, const IpAddress& dst, std::size_t n) {
    Bytes payload(20 + n);
    store_be16(&payload[0], 40000);
    store_be16(&payload[2], 5001);
    store_be32(&payload[4], 0x01020304);
    payload[12] = 5 << 4;
    payload[13] = 0x18;  // PSH ACK
    store_be16(&payload[14], 65535);
    Bytes d = pattern(n, 3);
    std::copy(d.begin(), d.end(), payload.begin() + 20);
    const std::size_t hl = src.is_v6() ? 40 : 20;
    Bytes region(hl + payload.size());
    std::copy(payload.begin(), payload.end(), region.begin() + std::ptrdiff_t(hl));
    auto r = transport_rebuild(region, hl, payload.size(), src, dst, 6);
    EXPECT_TRUE(r.ok);
    EXPECT_TRUE(transport_fix_checksum(region));
    return region;
}

TEST(TransportStrip, Ipv4) {
    Bytes p = tcp_packet(kA4, kB4, 100);
    p.push_back(0xee);  // link padding past the length field is ignored
    auto s = transport_strip(p);
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.value.header_len, 20u);
    EXPECT_EQ(s.value.payload_len, 120u);
    EXPECT_EQ(s.value.next_header, 6);
    EXPECT_EQ(s.value.src, kA4);
    EXPECT_EQ(s.value.dst, kB4);
}

TEST(TransportStrip, Ipv4OptionsAreDropped) {
    Bytes p = tcp_packet(kA4, kB4, 10);
    // Insert 4 octets of options (NOP x4): IHL 6.
    p.insert(p.begin() + 20, {1, 1, 1, 1});
    p[0] = 0x46;
    store_be16(&p[2], std::uint16_t(p.size()));
    auto s = transport_strip(p);
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.value.header_len, 24u);
    EXPECT_EQ(s.value.payload_len, 30u);
}

TEST(TransportStrip, Ipv6) {
    Bytes p = tcp_packet(kA6, kB6, 7);
    auto s = transport_strip(p);
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.value.header_len, 40u);
    EXPECT_EQ(s.value.payload_len, 27u);
    EXPECT_EQ(s.value.next_header, 6);
    EXPECT_EQ(s.value.src, kA6);
    EXPECT_EQ(s.value.dst, kB6);
}

TEST(TransportStrip, RefusesFragmentsAndExtensions) {
    Bytes p = tcp_packet(kA4, kB4, 10);
    store_be16(&p[6], 0x2000);  // MF
    EXPECT_EQ(transport_strip(p).error, TransportError::FRAGMENT);
    store_be16(&p[6], 0x0010);  // offset 16
    EXPECT_EQ(transport_strip(p).error, TransportError::FRAGMENT);
    store_be16(&p[6], 0x4000);  // DF alone is fine
    EXPECT_TRUE(transport_strip(p).ok);

    Bytes q = tcp_packet(kA6, kB6, 10);
    q[6] = 44;
    EXPECT_EQ(transport_strip(q).error, TransportError::FRAGMENT);
    for (std::uint8_t nh : {0, 43, 60}) {
        q[6] = nh;
        EXPECT_EQ(transport_strip(q).error, TransportError::EXTENSION) << int(nh);
    }
}

TEST(TransportStrip, RefusesMalformed) {
    EXPECT_EQ(transport_strip({}).error, TransportError::TRUNCATED);
    Bytes p = tcp_packet(kA4, kB4, 10);
    EXPECT_EQ(transport_strip(BytesView(p.data(), 19)).error, TransportError::TRUNCATED);
    Bytes bad = p;
    bad[0] = 0x44;
    EXPECT_EQ(transport_strip(bad).error, TransportError::BAD_HEADER);
    bad = p;
    store_be16(&bad[2], std::uint16_t(p.size() + 1));
    EXPECT_EQ(transport_strip(bad).error, TransportError::TRUNCATED);
    bad = p;
    store_be16(&bad[2], 10);  // total < IHL
    EXPECT_EQ(transport_strip(bad).error, TransportError::TRUNCATED);
    bad = p;
    bad[0] = 0x25;
    EXPECT_EQ(transport_strip(bad).error, TransportError::NOT_IP);
    Bytes q = tcp_packet(kA6, kB6, 10);
    store_be16(&q[4], std::uint16_t(q.size()));  // claims more than is there
    EXPECT_EQ(transport_strip(q).error, TransportError::TRUNCATED);
}

TEST(TransportStrip, RandomInputNeverReadsOutOfBounds) {
    std::mt19937 rng(7);
    for (int i = 0; i < 20000; ++i) {
        Bytes b(rng() % 80);
        for (auto& x : b)
            x = std::uint8_t(rng());
        if (!b.empty() && (i & 1)) b[0] = std::uint8_t((i & 2 ? 0x40 : 0x60) | (b[0] & 0xf));
        auto s = transport_strip(b);
        if (s.ok) {
            EXPECT_LE(s.value.header_len + s.value.payload_len, b.size());
        }
        (void)transport_fix_checksum(b);
    }
}

TEST(TransportRebuild, Errors) {
    Bytes region(100);
    EXPECT_EQ(transport_rebuild(region, 19, 10, kA4, kB4, 6).error, TransportError::NO_ROOM);
    EXPECT_EQ(transport_rebuild(region, 39, 10, kA6, kB6, 6).error, TransportError::NO_ROOM);
    EXPECT_EQ(transport_rebuild(region, 20, 81, kA4, kB4, 6).error, TransportError::NO_ROOM);
    EXPECT_EQ(transport_rebuild(region, 101, 0, kA4, kB4, 6).error, TransportError::NO_ROOM);
    EXPECT_EQ(transport_rebuild(region, 40, 10, kA4, kB6, 6).error,
              TransportError::FAMILY_MISMATCH);
    Bytes big(70000);
    EXPECT_EQ(transport_rebuild(big, 20, 65516, kA4, kB4, 6).error, TransportError::TOO_LARGE);
    EXPECT_TRUE(transport_rebuild(big, 20, 65515, kA4, kB4, 6).ok);
}

TEST(TransportRebuild, Ipv4HeaderChecksumIsValid) {
    Bytes region(60);
    auto r = transport_rebuild(region, 30, 30, kA4, kB4, 17);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.packet.data(), region.data() + 10);
    EXPECT_EQ(r.packet.size(), 50u);
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < 20; i += 2)
        s += load_be16(&r.packet[i]);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    EXPECT_EQ(s, 0xffffu);
    EXPECT_EQ(r.packet[9], 17);
    EXPECT_EQ(load_be16(&r.packet[2]), 50);
}

TEST(TransportChecksum, FixesAfterAddressChange) {
    for (auto [a, b, c] : {std::tuple{kA4, kB4, *IpAddress::parse("192.0.2.7")},
                           std::tuple{kA6, kB6, *IpAddress::parse("2001:db8:9::9")}}) {
        for (std::size_t n : {0u, 1u, 99u, 1400u}) {
            Bytes p = tcp_packet(a, b, n);
            EXPECT_TRUE(checksum_ok(p));
            // A NAT rewrote the source: the checksum no longer fits...
            const std::size_t off = a.is_v6() ? 8 : 12;
            std::copy(c.bytes().begin(), c.bytes().end(), p.begin() + std::ptrdiff_t(off));
            EXPECT_FALSE(checksum_ok(p));
            // ...until it is recomputed.
            EXPECT_TRUE(transport_fix_checksum(p));
            EXPECT_TRUE(checksum_ok(p)) << n;
        }
    }
}

TEST(TransportChecksum, Ipv4UdpWithoutChecksumStaysZero) {
    Bytes region(20 + 8 + 4);
    store_be16(&region[20 + 4], 12);
    ASSERT_TRUE(transport_rebuild(region, 20, 12, kA4, kB4, 17).ok);
    EXPECT_FALSE(transport_fix_checksum(region));
    EXPECT_EQ(load_be16(&region[26]), 0);
    // ICMP (v4) has no pseudo-header: left alone.
    ASSERT_TRUE(transport_rebuild(region, 20, 12, kA4, kB4, 1).ok);
    EXPECT_FALSE(transport_fix_checksum(region));
}

// The data plane's whole path: strip, seal with Next Header = protocol, open,
// rebuild from the SA's addresses; the receiver gets the sender's packet.
class TransportRoundTrip : public ::testing::TestWithParam<Suite> {};

TEST_P(TransportRoundTrip, BothFamilies) {
    ike::ChildSaState c = make_child(GetParam(), false, ike::IpsecMode::TRANSPORT);
    auto out = OutboundSa::create(c);
    auto in = InboundSa::create(c);
    ASSERT_TRUE(out.ok() && in.ok());
    for (bool v6 : {false, true}) {
        const IpAddress& src = v6 ? kA6 : kA4;
        const IpAddress& dst = v6 ? kB6 : kB4;
        for (std::size_t n : {0u, 1u, 1300u}) {
            const Bytes original = tcp_packet(src, dst, n);
            // As the data plane lays it out: the packet kHeadroom into a buffer.
            Bytes buf(kHeadroom + original.size() + kTailroom);
            std::copy(original.begin(), original.end(), buf.begin() + kHeadroom);
            auto s = transport_strip(BytesView(buf.data() + kHeadroom, original.size()));
            ASSERT_TRUE(s.ok);
            std::span<std::uint8_t> sbuf(buf.data() + s.value.header_len,
                                         buf.size() - s.value.header_len);
            auto sealed = out->seal(sbuf, s.value.payload_len, s.value.next_header);
            ASSERT_TRUE(sealed.ok());
            EXPECT_EQ(sealed->size(), out->sealed_size(s.value.payload_len));
            // The receiver's buffer: some headroom in front of the ESP packet.
            Bytes rx(64 + sealed->size());
            std::copy(sealed->begin(), sealed->end(), rx.begin() + 64);
            auto opened = in->open(std::span<std::uint8_t>(rx.data() + 64, sealed->size()));
            ASSERT_TRUE(opened.ok());
            EXPECT_EQ(opened->next_header, 6);
            const std::size_t at = std::size_t(opened->payload.data() - rx.data());
            auto r =
                transport_rebuild(rx, at, opened->payload.size(), src, dst, opened->next_header);
            ASSERT_TRUE(r.ok);
            EXPECT_EQ(Bytes(r.packet.begin(), r.packet.end()), original);
            EXPECT_TRUE(checksum_ok(r.packet));
        }
    }
}

TEST_P(TransportRoundTrip, TwoArgumentSealIsRefused) {
    ike::ChildSaState c = make_child(GetParam(), false, ike::IpsecMode::TRANSPORT);
    auto out = OutboundSa::create(c);
    ASSERT_TRUE(out.ok());
    Bytes buf(kHeadroom + 40 + kTailroom);
    auto r = out->seal(buf, 40);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, SaError::NEXT_HEADER_REQUIRED);
}

INSTANTIATE_TEST_SUITE_P(Suites, TransportRoundTrip, ::testing::ValuesIn(all_suites()),
                         [](const auto& i) { return std::string(i.param.name); });

}  // namespace
