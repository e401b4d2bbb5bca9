#include "net/batch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#ifndef UDP_GRO
#define UDP_GRO 104  // linux/udp.h, Linux 5.0
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h, Linux 4.18
#endif

namespace ikecluster::net {

namespace {

constexpr std::size_t kMaxBatch = 256;
// Room for a pktinfo and a UDP_SEGMENT control message (or both pktinfos on receive).
constexpr std::size_t kCmsgSpace = CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo));
static_assert(kCmsgSpace >= CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(std::uint16_t)));

Error sys_error(const char* what, int err) {
    return Error{0, std::string(what) + ": " + std::strerror(err)};
}

}  // namespace

socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& out) {
    std::memset(&out, 0, sizeof out);
    if (e.addr.is_v6()) {
        auto* s = reinterpret_cast<sockaddr_in6*>(&out);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(e.port);
        std::memcpy(&s->sin6_addr, e.addr.bytes().data(), 16);
        return sizeof(sockaddr_in6);
    }
    auto* s = reinterpret_cast<sockaddr_in*>(&out);
    s->sin_family = AF_INET;
    s->sin_port = htons(e.port);
    std::memcpy(&s->sin_addr, e.addr.bytes().data(), 4);
    return sizeof(sockaddr_in);
}

Endpoint from_sockaddr(const sockaddr_storage& s) {
    if (s.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<const sockaddr_in6*>(&s);
        std::array<std::uint8_t, 16> b{};
        std::memcpy(b.data(), &a->sin6_addr, 16);
        return Endpoint{IpAddress::v6(b), ntohs(a->sin6_port)};
    }
    auto* a = reinterpret_cast<const sockaddr_in*>(&s);
    std::array<std::uint8_t, 4> b{};
    std::memcpy(b.data(), &a->sin_addr, 4);
    return Endpoint{IpAddress::v4(b), ntohs(a->sin_port)};
}

void set_source_address(msghdr& msg, std::uint8_t* control, const IpAddress& source) {
    std::memset(control, 0, kPktinfoSpace);
    msg.msg_control = control;
    cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
    if (source.is_v6()) {
        msg.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
        in6_pktinfo pi{};
        std::memcpy(&pi.ipi6_addr, source.bytes().data(), 16);
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    } else {
        msg.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo pi{};
        std::memcpy(&pi.ipi_spec_dst, source.bytes().data(), 4);
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
}

// ---- PacketRing ---------------------------------------------------------------------

PacketRing::PacketRing(std::size_t count, std::size_t buffer_size, std::size_t headroom)
    : buffer_size_(buffer_size), headroom_(headroom), storage_(count * buffer_size), slots_(count) {
    for (std::size_t i = 0; i < count; ++i)
        reset(i);
}

void PacketRing::reset(std::size_t i) {
    Packet& p = slots_[i];
    p.data = storage_.data() + i * buffer_size_ + headroom_;
    p.len = 0;
    p.headroom = headroom_;
    p.tailroom = buffer_size_ - headroom_;
    p.has_local = false;
}

// ---- BatchSocket --------------------------------------------------------------------

BatchSocket::BatchSocket(int fd, bool v6, bool raw, std::size_t batch)
    : fd_(fd),
      v6_(v6),
      raw_(raw),
      msgs_(batch),
      iovs_(batch),
      addrs_(batch),
      cmsgs_(batch * kCmsgSpace) {}

BatchSocket::BatchSocket(BatchSocket&& o) noexcept
    : fd_(o.fd_),
      v6_(o.v6_),
      raw_(o.raw_),
      gso_(o.gso_),
      msgs_(std::move(o.msgs_)),
      iovs_(std::move(o.iovs_)),
      addrs_(std::move(o.addrs_)),
      cmsgs_(std::move(o.cmsgs_)) {
    o.fd_ = -1;
}

BatchSocket& BatchSocket::operator=(BatchSocket&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        v6_ = o.v6_;
        raw_ = o.raw_;
        gso_ = o.gso_;
        msgs_ = std::move(o.msgs_);
        iovs_ = std::move(o.iovs_);
        addrs_ = std::move(o.addrs_);
        cmsgs_ = std::move(o.cmsgs_);
        o.fd_ = -1;
    }
    return *this;
}

BatchSocket::~BatchSocket() {
    if (fd_ >= 0) ::close(fd_);
}

Status BatchSocket::set_mark(std::uint32_t mark) {
    if (setsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0)
        return Error{0, std::string("SO_MARK: ") + std::strerror(errno)};
    return Ok{};
}

namespace {

// The default socket buffers (~200 KiB) hold about 150 full-sized ESP
// packets: a TSO burst from the peer's TCP stack overflows them while the
// packet thread is busy decrypting, and every drop costs a TCP
// retransmission through the tunnel. Root may go past rmem_max/wmem_max
// (the *FORCE options); otherwise take what the limits allow.
void size_buffers(int fd) {
    int rcv = 8 << 20, snd = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
}

}  // namespace

Result<BatchSocket> BatchSocket::udp(const Endpoint& bind, bool reuse_port, bool freebind) {
    const bool v6 = bind.addr.is_v6();
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return sys_error("UDP socket", errno);
    BatchSocket s(fd, v6, false, kMaxBatch);
    s.gso_ = true;
    size_buffers(fd);
    int one = 1;
    if (v6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0)
            return sys_error("IPV6_RECVPKTINFO", errno);
    } else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) {
        return sys_error("IP_PKTINFO", errno);
    }
    if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    // A cluster standby binds the virtual address before it holds it.
    if (freebind) {
        setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, &one,
                   sizeof one);
    }
    sockaddr_storage sa;
    socklen_t len = to_sockaddr(bind, sa);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) < 0)
        return sys_error(("bind " + bind.to_string()).c_str(), errno);
    return s;
}

Result<BatchSocket> BatchSocket::raw_esp(bool v6) {
    int fd =
        ::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ESP);
    if (fd < 0) return sys_error("raw ESP socket", errno);
    BatchSocket s(fd, v6, true, kMaxBatch);
    size_buffers(fd);
    int one = 1;
    if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0)
        return sys_error("IPV6_RECVPKTINFO", errno);
    if (!v6 && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0)
        return sys_error("IP_PKTINFO", errno);
    return s;
}

Result<std::size_t> BatchSocket::receive(PacketRing& ring, std::size_t max) {
    std::size_t n = std::min({max, ring.size(), msgs_.size()});
    for (std::size_t i = 0; i < n; ++i) {
        ring.reset(i);
        Packet& p = ring[i];
        iovs_[i] = iovec{p.data, p.tailroom};
        msghdr& h = msgs_[i].msg_hdr;
        h = msghdr{};
        h.msg_name = &addrs_[i];
        h.msg_namelen = sizeof(sockaddr_storage);
        h.msg_iov = &iovs_[i];
        h.msg_iovlen = 1;
        h.msg_control = cmsgs_.data() + i * kCmsgSpace;
        h.msg_controllen = kCmsgSpace;
    }
    int got = ::recvmmsg(fd_, msgs_.data(), unsigned(n), MSG_DONTWAIT, nullptr);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t(0);
        return sys_error("recvmmsg", errno);
    }
    for (int i = 0; i < got; ++i) {
        Packet& p = ring[std::size_t(i)];
        msghdr& h = msgs_[std::size_t(i)].msg_hdr;
        p.len = msgs_[std::size_t(i)].msg_len;
        p.peer = from_sockaddr(addrs_[std::size_t(i)]);
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                in_pktinfo pi;
                std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
                std::array<std::uint8_t, 4> b{};
                std::memcpy(b.data(), &pi.ipi_addr, 4);
                p.local = IpAddress::v4(b);
                p.has_local = true;
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo pi;
                std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
                std::array<std::uint8_t, 16> b{};
                std::memcpy(b.data(), &pi.ipi6_addr, 16);
                p.local = IpAddress::v6(b);
                p.has_local = true;
            }
        }
        if (raw_ && !v6_) {
            // IPv4 raw sockets deliver the IP header: strip it.
            std::size_t ihl = p.len >= 1 ? std::size_t(p.data[0] & 0x0f) * 4 : 0;
            if (ihl < 20 || ihl > p.len) {
                p.len = 0;  // malformed: the caller sees an empty packet and skips it
                continue;
            }
            p.data += ihl;
            p.headroom += ihl;
            p.tailroom -= ihl;
            p.len -= ihl;
        }
    }
    return std::size_t(got);
}

Result<std::size_t> BatchSocket::send(PacketRing& ring, std::size_t first, std::size_t n) {
    n = std::min({n, ring.size() - std::min(first, ring.size()), msgs_.size()});
    std::array<std::uint32_t, kMaxBatch> idx;
    for (std::size_t i = 0; i < n; ++i)
        idx[i] = std::uint32_t(first + i);
    return send(ring, std::span<const std::uint32_t>(idx.data(), n));
}

Result<std::size_t> BatchSocket::send(PacketRing& ring, std::span<const std::uint32_t> slots) {
    if (gso_) {
        auto r = send_segmented(ring, slots);
        if (r || gso_) return r;
        // The kernel refused UDP GSO (no checksum offload on the route's
        // device, say): gso_ is now off; send these one by one.
    }
    std::size_t n = std::min(slots.size(), msgs_.size());
    for (std::size_t i = 0; i < n; ++i) {
        if (slots[i] >= ring.size()) return Error{0, "send: slot out of range"};
        Packet& p = ring[slots[i]];
        iovs_[i] = iovec{p.data, p.len};
        msghdr& h = msgs_[i].msg_hdr;
        h = msghdr{};
        h.msg_name = &addrs_[i];
        h.msg_namelen = to_sockaddr(p.peer, addrs_[i]);
        if (raw_) reinterpret_cast<sockaddr_in*>(&addrs_[i])->sin_port = 0;
        h.msg_iov = &iovs_[i];
        h.msg_iovlen = 1;
        if (p.has_local) {
            // Send from the address the peer knows us by (a gateway may have
            // several, the cluster's virtual IP among them).
            set_source_address(h, cmsgs_.data() + i * kCmsgSpace, p.local);
        }
    }
    if (n == 0) return std::size_t(0);
    int sent = ::sendmmsg(fd_, msgs_.data(), unsigned(n), MSG_DONTWAIT);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t(0);
        return sys_error("sendmmsg", errno);
    }
    return std::size_t(sent);
}

Status BatchSocket::enable_gro() {
    int one = 1;
    if (raw_ || setsockopt(fd_, SOL_UDP, UDP_GRO, &one, sizeof one) < 0)
        return Error{0, std::string("UDP_GRO: ") + std::strerror(errno)};
    return Ok{};
}

Result<std::size_t> BatchSocket::receive_large(std::span<LargePacket> out) {
    // Control space per message: a pktinfo and the UDP_GRO segment size.
    std::size_t n = std::min(out.size(), msgs_.size());
    for (std::size_t i = 0; i < n; ++i) {
        iovs_[i] = iovec{out[i].buf.data(), out[i].buf.size()};
        msghdr& h = msgs_[i].msg_hdr;
        h = msghdr{};
        h.msg_name = &addrs_[i];
        h.msg_namelen = sizeof(sockaddr_storage);
        h.msg_iov = &iovs_[i];
        h.msg_iovlen = 1;
        h.msg_control = cmsgs_.data() + i * kCmsgSpace;
        h.msg_controllen = kCmsgSpace;
    }
    int got = ::recvmmsg(fd_, msgs_.data(), unsigned(n), MSG_DONTWAIT, nullptr);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t(0);
        return sys_error("recvmmsg", errno);
    }
    for (int i = 0; i < got; ++i) {
        LargePacket& p = out[std::size_t(i)];
        msghdr& h = msgs_[std::size_t(i)].msg_hdr;
        p.len = msgs_[std::size_t(i)].msg_len;
        p.segment = 0;
        p.has_local = false;
        p.peer = from_sockaddr(addrs_[std::size_t(i)]);
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int seg = 0;
                std::memcpy(&seg, CMSG_DATA(c), sizeof seg);
                if (seg > 0 && std::size_t(seg) < p.len) p.segment = std::size_t(seg);
            } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                in_pktinfo pi;
                std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
                std::array<std::uint8_t, 4> b{};
                std::memcpy(b.data(), &pi.ipi_addr, 4);
                p.local = IpAddress::v4(b);
                p.has_local = true;
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo pi;
                std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
                std::array<std::uint8_t, 16> b{};
                std::memcpy(b.data(), &pi.ipi6_addr, 16);
                p.local = IpAddress::v6(b);
                p.has_local = true;
            }
        }
    }
    return std::size_t(got);
}

// UDP GSO (UDP_SEGMENT, Linux 4.18+): consecutive packets to one peer, all
// as long as the first (the last may be shorter), go down as one message
// with an iovec per packet; the stack handles one buffer and cuts it into
// datagrams as late as it can (on the wire, or at the receiving socket
// across a veth). Same packets on the wire as sendmmsg of each.
Result<std::size_t> BatchSocket::send_segmented(PacketRing& ring,
                                                std::span<const std::uint32_t> slots) {
    constexpr std::size_t kMaxSegments = 64;  // UDP_MAX_SEGMENTS on older kernels
    constexpr std::size_t kMaxBytes = 65000;  // one IP datagram's worth before cutting
    std::size_t n = std::min(slots.size(), msgs_.size());
    std::array<std::uint16_t, kMaxBatch> counts{};
    std::size_t m = 0;
    for (std::size_t i = 0; i < n;) {
        if (slots[i] >= ring.size()) return Error{0, "send: slot out of range"};
        Packet& p0 = ring[slots[i]];
        std::size_t k = 1, total = p0.len;
        while (i + k < n && k < kMaxSegments && p0.len > 0) {
            if (slots[i + k] >= ring.size()) return Error{0, "send: slot out of range"};
            const Packet& q = ring[slots[i + k]];
            if (q.len == 0 || q.len > p0.len || total + q.len > kMaxBytes || !(q.peer == p0.peer) ||
                q.has_local != p0.has_local || (p0.has_local && !(q.local == p0.local)))
                break;
            total += q.len;
            ++k;
            if (q.len < p0.len) break;  // a shorter one can only be the last
        }
        for (std::size_t j = 0; j < k; ++j) {
            Packet& q = ring[slots[i + j]];
            iovs_[i + j] = iovec{q.data, q.len};
        }
        msghdr& h = msgs_[m].msg_hdr;
        h = msghdr{};
        h.msg_name = &addrs_[m];
        h.msg_namelen = to_sockaddr(p0.peer, addrs_[m]);
        h.msg_iov = &iovs_[i];
        h.msg_iovlen = k;
        std::uint8_t* control = cmsgs_.data() + m * kCmsgSpace;
        std::memset(control, 0, kCmsgSpace);
        if (p0.has_local) set_source_address(h, control, p0.local);
        if (k > 1) {
            h.msg_control = control;
            auto* c = reinterpret_cast<cmsghdr*>(control + h.msg_controllen);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
            const std::uint16_t seg = std::uint16_t(p0.len);
            std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
            h.msg_controllen += CMSG_SPACE(sizeof(std::uint16_t));
        }
        counts[m++] = std::uint16_t(k);
        i += k;
    }
    if (m == 0) return std::size_t(0);
    int sent = ::sendmmsg(fd_, msgs_.data(), unsigned(m), MSG_DONTWAIT);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t(0);
        if (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT) gso_ = false;
        return sys_error("sendmmsg (UDP GSO)", errno);
    }
    std::size_t packets = 0;
    for (int j = 0; j < sent; ++j)
        packets += counts[std::size_t(j)];
    return packets;
}

}  // namespace ikecluster::net
