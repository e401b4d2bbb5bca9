#include "net/offload.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace ikecluster::net {

namespace {

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kFin = 0x01, kPsh = 0x08, kCwr = 0x80;

// One's-complement sum (RFC 1071) in the host's byte order: summing native
// words and storing the folded result natively gives the network-order
// checksum, whatever the endianness. 32-bit words into 64 bits cannot
// overflow for IP-sized buffers.
std::uint64_t sum(const std::uint8_t* p, std::size_t n, std::uint64_t acc = 0) {
    for (; n >= 4; p += 4, n -= 4) {
        std::uint32_t w;
        std::memcpy(&w, p, 4);
        acc += w;
    }
    if (n >= 2) {
        std::uint16_t w;
        std::memcpy(&w, p, 2);
        acc += w;
        p += 2;
        n -= 2;
    }
    if (n) {
        std::uint8_t last[2] = {*p, 0};
        std::uint16_t w;
        std::memcpy(&w, last, 2);
        acc += w;
    }
    return acc;
}

std::uint16_t fold(std::uint64_t acc) {
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return std::uint16_t(acc);
}

void put_csum(std::uint8_t* at, std::uint64_t acc) {
    std::uint16_t c = std::uint16_t(~fold(acc));
    std::memcpy(at, &c, 2);
}

std::uint16_t be16(const std::uint8_t* p) {
    return std::uint16_t(p[0] << 8 | p[1]);
}
void put_be16(std::uint8_t* p, std::size_t v) {
    p[0] = std::uint8_t(v >> 8);
    p[1] = std::uint8_t(v);
}

}  // namespace

VnetHdr VnetHdr::load(const std::uint8_t* p) {
    VnetHdr h;
    h.flags = p[0];
    h.gso_type = p[1];
    std::memcpy(&h.hdr_len, p + 2, 2);
    std::memcpy(&h.gso_size, p + 4, 2);
    std::memcpy(&h.csum_start, p + 6, 2);
    std::memcpy(&h.csum_offset, p + 8, 2);
    return h;
}

void VnetHdr::store(std::uint8_t* p) const {
    p[0] = flags;
    p[1] = gso_type;
    std::memcpy(p + 2, &hdr_len, 2);
    std::memcpy(p + 4, &gso_size, 2);
    std::memcpy(p + 6, &csum_start, 2);
    std::memcpy(p + 8, &csum_offset, 2);
}

Result<GsoPlan> gso_plan(const VnetHdr& h, BytesView p) {
    GsoPlan plan;
    const std::uint8_t type = h.gso_type & std::uint8_t(~VnetHdr::kGsoEcn);
    if (type == VnetHdr::kGsoNone) {
        plan.hdr_len = 0;
        plan.mss = p.size();
        plan.payload = p.size();
        plan.segments = 1;
        return plan;
    }
    if (type != VnetHdr::kGsoTcpv4 && type != VnetHdr::kGsoTcpv6)
        return Error{0, "TUN: unsupported GSO type " + std::to_string(type)};
    if (p.empty()) return Error{0, "TUN: empty GSO packet"};
    plan.v6 = type == VnetHdr::kGsoTcpv6;
    if (plan.v6) {
        // The header's length field is not trusted: the kernel fills it with
        // its linear head, which can include payload. We parse the headers.
        if (p.size() < 40 || p[0] >> 4 != 6 || p[6] != kTcp)
            return Error{0, "TUN: GSO TCPv6 packet without a plain IPv6/TCP header"};
        plan.ip_len = 40;
    } else {
        if (p.size() < 20 || p[0] >> 4 != 4 || p[9] != kTcp)
            return Error{0, "TUN: GSO TCPv4 packet without an IPv4/TCP header"};
        plan.ip_len = std::size_t(p[0] & 0x0f) * 4;
        if (plan.ip_len < 20) return Error{0, "TUN: GSO TCPv4 packet with a bad IHL"};
    }
    if (p.size() < plan.ip_len + 20) return Error{0, "TUN: GSO packet shorter than its TCP header"};
    const std::size_t doff = std::size_t(p[plan.ip_len + 12] >> 4) * 4;
    plan.hdr_len = plan.ip_len + doff;
    if (doff < 20 || p.size() < plan.hdr_len)
        return Error{0, "TUN: GSO packet with a bad TCP header"};
    if (h.gso_size == 0) return Error{0, "TUN: GSO packet with gso_size 0"};
    plan.mss = h.gso_size;
    plan.payload = p.size() - plan.hdr_len;
    plan.segments = std::max<std::size_t>(1, (plan.payload + plan.mss - 1) / plan.mss);
    return plan;
}

std::size_t gso_segment(const GsoPlan& plan, BytesView p, std::size_t i,
                        std::span<std::uint8_t> out) {
    const std::size_t off = i * plan.mss;
    const std::size_t n = std::min(plan.mss, plan.payload - std::min(off, plan.payload));
    const std::size_t len = plan.hdr_len + n;
    std::uint8_t* o = out.data();
    std::memcpy(o, p.data(), plan.hdr_len);
    std::memcpy(o + plan.hdr_len, p.data() + plan.hdr_len + off, n);
    const bool last = i + 1 == plan.segments;
    std::uint64_t pseudo = 0;
    if (plan.v6) {
        put_be16(o + 4, len - 40);
        pseudo = sum(o + 8, 32);
    } else {
        put_be16(o + 2, len);
        put_be16(o + 4, std::uint16_t(be16(o + 4) + i));  // IP ID per segment, as GSO does
        o[10] = o[11] = 0;
        put_csum(o + 10, sum(o, plan.ip_len));
        pseudo = sum(o + 12, 8);
    }
    std::uint8_t* tcp = o + plan.ip_len;
    std::uint32_t seq;
    std::memcpy(&seq, tcp + 4, 4);
    seq = htonl(ntohl(seq) + std::uint32_t(off));
    std::memcpy(tcp + 4, &seq, 4);
    if (!last) tcp[13] &= std::uint8_t(~(kFin | kPsh));
    if (i != 0) tcp[13] &= std::uint8_t(~kCwr);
    tcp[16] = tcp[17] = 0;
    const std::size_t tcp_len = len - plan.ip_len;
    pseudo += htons(std::uint16_t(tcp_len)) + htons(kTcp);
    put_csum(tcp + 16, sum(tcp, tcp_len, pseudo));
    return len;
}

bool complete_checksum(std::span<std::uint8_t> p, std::size_t start, std::size_t offset) {
    if (start > p.size() || offset + 2 > p.size() - start) return false;
    // The field holds the pseudo-header sum: summing it in with the rest is
    // exactly what a NIC does.
    std::uint8_t* field = p.data() + start + offset;
    std::uint64_t acc = sum(p.data() + start, p.size() - start);
    std::uint16_t c = std::uint16_t(~fold(acc));
    std::memcpy(field, &c, 2);
    return true;
}

namespace {

constexpr std::uint8_t kAck = 0x10;

std::uint64_t pseudo_sum(BytesView p, const TcpSegment& s, std::size_t tcp_len) {
    std::uint64_t acc = s.v6 ? sum(p.data() + 8, 32) : sum(p.data() + 12, 8);
    return acc + htons(std::uint16_t(tcp_len)) + htons(kTcp);
}

}  // namespace

std::optional<TcpSegment> gro_candidate(BytesView p) {
    TcpSegment s;
    if (p.size() < 40) return std::nullopt;
    if (p[0] == 0x45) {
        // No options, not a fragment (DF alone allowed), TCP.
        if (p[9] != kTcp || (be16(&p[6]) & 0xbfff) != 0) return std::nullopt;
        if (be16(&p[2]) != p.size()) return std::nullopt;
        s.ip_len = 20;
    } else if (p[0] >> 4 == 6) {
        if (p[6] != kTcp || p.size() < 60 || std::size_t(be16(&p[4])) + 40 != p.size())
            return std::nullopt;
        s.v6 = true;
        s.ip_len = 40;
    } else {
        return std::nullopt;
    }
    const std::uint8_t* t = p.data() + s.ip_len;
    const std::size_t doff = std::size_t(t[12] >> 4) * 4;
    if (doff < 20 || s.ip_len + doff > p.size()) return std::nullopt;
    // ACK, optionally PSH: nothing that changes the connection's state.
    if ((t[12] & 0x0f) != 0 || (t[13] & ~0x08) != kAck) return std::nullopt;
    s.hdr_len = s.ip_len + doff;
    s.payload = p.size() - s.hdr_len;
    if (s.payload == 0) return std::nullopt;
    s.psh = (t[13] & 0x08) != 0;
    std::uint32_t seq;
    std::memcpy(&seq, t + 4, 4);
    s.seq = ntohl(seq);
    // The stack trusts a merged packet's checksum (NEEDS_CSUM): verify this
    // segment's now, as a NIC's GRO does.
    const std::size_t tcp_len = p.size() - s.ip_len;
    if (fold(sum(t, tcp_len, pseudo_sum(p, s, tcp_len))) != 0xffff) return std::nullopt;
    return s;
}

bool gro_continues(BytesView first, const TcpSegment& f, const TcpSegment& last, BytesView next,
                   const TcpSegment& n, std::size_t run_payload) {
    if (n.v6 != f.v6 || n.hdr_len != f.hdr_len || next.size() < n.hdr_len) return false;
    // Every segment but the last exactly as long as the first, and PSH only
    // on the last: a short or pushed segment ends the run.
    if (last.psh || last.payload != f.payload || n.payload > f.payload) return false;
    if (n.seq != last.seq + std::uint32_t(last.payload)) return false;
    // The merged packet must fit the IP length field.
    if (f.hdr_len + run_payload + n.payload > 65535) return false;
    const std::uint8_t* a = first.data();
    const std::uint8_t* b = next.data();
    if (f.v6) {
        // Version/class/flow label, next header, hop limit, addresses.
        if (std::memcmp(a, b, 4) != 0 || std::memcmp(a + 6, b + 6, 34) != 0) return false;
    } else {
        // TOS, flags/offset, TTL, protocol, addresses (not length, ID, checksum).
        if (a[1] != b[1] || std::memcmp(a + 6, b + 6, 4) != 0 ||
            std::memcmp(a + 12, b + 12, 8) != 0)
            return false;
    }
    const std::uint8_t* ta = a + f.ip_len;
    const std::uint8_t* tb = b + f.ip_len;
    // Ports, ack number, data offset, window, urgent pointer and options the
    // same (sequence number, flags and checksum checked apart).
    return std::memcmp(ta, tb, 4) == 0 && std::memcmp(ta + 8, tb + 8, 5) == 0 &&
           std::memcmp(ta + 14, tb + 14, 2) == 0 &&
           std::memcmp(ta + 18, tb + 18, f.hdr_len - f.ip_len - 18) == 0;
}

std::size_t gro_merge(std::span<const BytesView> segs, const TcpSegment& f,
                      std::span<std::uint8_t> out) {
    std::uint8_t* o = out.data();
    if (segs.size() == 1) {
        std::memset(o, 0, VnetHdr::kSize);
        std::memcpy(o + VnetHdr::kSize, segs[0].data(), segs[0].size());
        return VnetHdr::kSize + segs[0].size();
    }
    std::uint8_t* pkt = o + VnetHdr::kSize;
    std::memcpy(pkt, segs[0].data(), f.hdr_len);
    std::size_t len = f.hdr_len;
    std::uint8_t psh = 0;
    for (const BytesView& s : segs) {
        std::memcpy(pkt + len, s.data() + f.hdr_len, s.size() - f.hdr_len);
        len += s.size() - f.hdr_len;
        psh |= s[f.ip_len + 13] & 0x08;
    }
    pkt[f.ip_len + 13] = std::uint8_t(kAck | psh);
    if (f.v6) {
        put_be16(pkt + 4, len - 40);
    } else {
        put_be16(pkt + 2, len);
        pkt[10] = pkt[11] = 0;
        put_csum(pkt + 10, sum(pkt, 20));
    }
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, not inverted;
    // the stack takes the segments' verified checksums as given.
    const std::size_t tcp_len = len - f.ip_len;
    const std::uint16_t ps = fold(pseudo_sum(BytesView(pkt, len), f, tcp_len));
    std::memcpy(pkt + f.ip_len + 16, &ps, 2);
    VnetHdr h;
    h.flags = VnetHdr::kNeedsCsum;
    h.gso_type = f.v6 ? VnetHdr::kGsoTcpv6 : VnetHdr::kGsoTcpv4;
    h.hdr_len = std::uint16_t(f.hdr_len);
    h.gso_size = std::uint16_t(f.payload);
    h.csum_start = std::uint16_t(f.ip_len);
    h.csum_offset = 16;
    h.store(o);
    return VnetHdr::kSize + len;
}

}  // namespace ikecluster::net
