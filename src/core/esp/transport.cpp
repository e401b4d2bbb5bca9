#include "esp/transport.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "base/buffer.h"

namespace ikecluster::esp {

namespace {

constexpr std::size_t kV4Header = 20;
constexpr std::size_t kV6Header = 40;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoIcmpv6 = 58;

TransportStripResult strip_fail(TransportError e) {
    return TransportStripResult{false, e, {}};
}

// RFC 8200 §4 extension headers that would sit between the IPv6 header and
// the upper layer (44, the fragment header, reported apart).
bool is_v6_extension(std::uint8_t nh) {
    switch (nh) {
        case 0:    // Hop-by-Hop Options
        case 43:   // Routing
        case 50:   // ESP
        case 51:   // AH
        case 60:   // Destination Options
        case 135:  // Mobility
        case 139:  // HIP
        case 140:  // Shim6
            return true;
        default:
            return false;
    }
}

// One's-complement sum of 16-bit big-endian words (RFC 1071), unfolded.
std::uint64_t sum16(const std::uint8_t* p, std::size_t n, std::uint64_t acc = 0) {
    for (; n >= 2; p += 2, n -= 2)
        acc += load_be16(p);
    if (n) acc += std::uint64_t(*p) << 8;
    return acc;
}

std::uint16_t fold(std::uint64_t acc) {
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return std::uint16_t(~acc & 0xffff);
}

}  // namespace

const char* to_string(TransportError e) {
    switch (e) {
        case TransportError::TRUNCATED:
            return "truncated IP packet";
        case TransportError::NOT_IP:
            return "not an IPv4 or IPv6 packet";
        case TransportError::BAD_HEADER:
            return "bad IPv4 header length";
        case TransportError::FRAGMENT:
            return "IP fragment (transport mode carries whole packets)";
        case TransportError::EXTENSION:
            return "IPv6 extension header (not supported in transport mode)";
        case TransportError::TOO_LARGE:
            return "packet too large for the IP length field";
        case TransportError::NO_ROOM:
            return "no room for the IP header";
        case TransportError::FAMILY_MISMATCH:
            return "source and destination of different families";
    }
    return "?";
}

TransportStripResult transport_strip(BytesView pkt) {
    if (pkt.empty()) return strip_fail(TransportError::TRUNCATED);
    const std::uint8_t version = pkt[0] >> 4;
    if (version == 4) {
        if (pkt.size() < kV4Header) return strip_fail(TransportError::TRUNCATED);
        const std::size_t ihl = std::size_t(pkt[0] & 0x0f) * 4;
        if (ihl < kV4Header) return strip_fail(TransportError::BAD_HEADER);
        const std::size_t total = load_be16(&pkt[2]);
        if (total < ihl || total > pkt.size() || ihl > pkt.size())
            return strip_fail(TransportError::TRUNCATED);
        // MF (0x2000) or a nonzero offset: a fragment; DF (0x4000) is fine.
        if ((load_be16(&pkt[6]) & 0x3fff) != 0) return strip_fail(TransportError::FRAGMENT);
        TransportStrip s;
        s.header_len = ihl;
        s.payload_len = total - ihl;
        s.next_header = pkt[9];
        s.src = IpAddress::v4({pkt[12], pkt[13], pkt[14], pkt[15]});
        s.dst = IpAddress::v4({pkt[16], pkt[17], pkt[18], pkt[19]});
        return TransportStripResult{true, TransportError::TRUNCATED, s};
    }
    if (version == 6) {
        if (pkt.size() < kV6Header) return strip_fail(TransportError::TRUNCATED);
        const std::size_t plen = load_be16(&pkt[4]);
        // Payload length 0 with a Jumbo option (RFC 2675) needs Hop-by-Hop,
        // which is refused below anyway.
        if (kV6Header + plen > pkt.size()) return strip_fail(TransportError::TRUNCATED);
        const std::uint8_t nh = pkt[6];
        if (nh == 44) return strip_fail(TransportError::FRAGMENT);
        if (is_v6_extension(nh)) return strip_fail(TransportError::EXTENSION);
        TransportStrip s;
        s.header_len = kV6Header;
        s.payload_len = plen;
        s.next_header = nh;
        std::array<std::uint8_t, 16> a{}, b{};
        std::memcpy(a.data(), &pkt[8], 16);
        std::memcpy(b.data(), &pkt[24], 16);
        s.src = IpAddress::v6(a);
        s.dst = IpAddress::v6(b);
        return TransportStripResult{true, TransportError::TRUNCATED, s};
    }
    return strip_fail(TransportError::NOT_IP);
}

TransportRebuildResult transport_rebuild(std::span<std::uint8_t> region, std::size_t payload_offset,
                                         std::size_t payload_len, const IpAddress& src,
                                         const IpAddress& dst, std::uint8_t next_header) {
    if (src.is_v6() != dst.is_v6()) return {false, TransportError::FAMILY_MISMATCH, {}};
    const std::size_t hl = src.is_v6() ? kV6Header : kV4Header;
    if (payload_offset > region.size() || payload_len > region.size() - payload_offset)
        return {false, TransportError::NO_ROOM, {}};
    if (payload_offset < hl) return {false, TransportError::NO_ROOM, {}};
    const std::size_t max = src.is_v6() ? 0xffff : 0xffff - kV4Header;
    if (payload_len > max) return {false, TransportError::TOO_LARGE, {}};
    std::uint8_t* h = region.data() + payload_offset - hl;
    if (src.is_v6()) {
        store_be32(h, 0x60000000u);  // version 6, traffic class 0, flow label 0
        store_be16(h + 4, std::uint16_t(payload_len));
        h[6] = next_header;
        h[7] = 64;
        std::memcpy(h + 8, src.bytes().data(), 16);
        std::memcpy(h + 24, dst.bytes().data(), 16);
    } else {
        h[0] = 0x45;
        h[1] = 0;
        store_be16(h + 2, std::uint16_t(payload_len + kV4Header));
        store_be16(h + 4, 0);
        store_be16(h + 6, 0x4000);  // DF
        h[8] = 64;
        h[9] = next_header;
        store_be16(h + 10, 0);
        std::memcpy(h + 12, src.bytes().data(), 4);
        std::memcpy(h + 16, dst.bytes().data(), 4);
        store_be16(h + 10, fold(sum16(h, kV4Header)));
    }
    return {true, TransportError::NO_ROOM, region.subspan(payload_offset - hl, hl + payload_len)};
}

bool transport_fix_checksum(std::span<std::uint8_t> p) {
    if (p.empty()) return false;
    std::size_t hl = 0, addr_off = 0, addr_len = 0, l4_len = 0;
    std::uint8_t proto = 0;
    if (p[0] >> 4 == 4 && p.size() >= kV4Header) {
        hl = std::size_t(p[0] & 0x0f) * 4;
        const std::size_t total = load_be16(&p[2]);
        if (hl < kV4Header || total < hl || total > p.size()) return false;
        proto = p[9];
        addr_off = 12;
        addr_len = 8;
        l4_len = total - hl;
    } else if (p[0] >> 4 == 6 && p.size() >= kV6Header) {
        hl = kV6Header;
        l4_len = load_be16(&p[4]);
        if (hl + l4_len > p.size()) return false;
        proto = p[6];
        addr_off = 8;
        addr_len = 32;
    } else {
        return false;
    }
    std::size_t csum_at = 0;
    if (proto == kProtoTcp && l4_len >= 20) {
        csum_at = 16;
    } else if (proto == kProtoUdp && l4_len >= 8) {
        csum_at = 6;
        // RFC 768: 0 means no checksum over IPv4; keep it that way.
        if (hl != kV6Header && load_be16(&p[hl + 6]) == 0) return false;
    } else if (proto == kProtoIcmpv6 && hl == kV6Header && l4_len >= 4) {
        csum_at = 2;
    } else {
        return false;
    }
    std::uint8_t* l4 = p.data() + hl;
    store_be16(l4 + csum_at, 0);
    // Pseudo-header: addresses, upper-layer length, protocol (RFC 793 /
    // RFC 768 for IPv4, RFC 8200 §8.1 for IPv6); the sums are the same
    // because the order of 16-bit words does not matter.
    std::uint64_t acc = sum16(p.data() + addr_off, addr_len);
    acc += l4_len + proto;
    acc = sum16(l4, l4_len, acc);
    std::uint16_t c = fold(acc);
    // A computed 0 is sent as 0xffff for UDP (RFC 768, RFC 8200 §8.1).
    if (c == 0 && proto == kProtoUdp) c = 0xffff;
    store_be16(l4 + csum_at, c);
    return true;
}

}  // namespace ikecluster::esp
