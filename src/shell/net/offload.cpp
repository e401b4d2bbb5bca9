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

}  // namespace ikecluster::net
