#include "net/vip.h"

#include <linux/if_addr.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

// Older libc headers lack it; the kernel has had it since 4.15.
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

namespace ikecluster::net {

namespace {

Error sys_error(const std::string& what, int err) {
    return Error{0, what + ": " + std::strerror(err)};
}

void put16(Bytes& b, std::uint16_t v) {
    b.push_back(std::uint8_t(v >> 8));
    b.push_back(std::uint8_t(v));
}

void put(Bytes& b, BytesView v) {
    b.insert(b.end(), v.begin(), v.end());
}

// The Internet checksum (RFC 1071) over the IPv6 pseudo-header (RFC 8200
// §8.1) and the ICMPv6 message (RFC 4443 §2.3).
std::uint16_t icmpv6_checksum(const IpAddress& src, const IpAddress& dst, BytesView msg) {
    std::uint32_t sum = 0;
    auto add = [&sum](BytesView v) {
        for (std::size_t i = 0; i < v.size(); i += 2) {
            std::uint32_t hi = v[i];
            std::uint32_t lo = i + 1 < v.size() ? v[i + 1] : 0;
            sum += (hi << 8) | lo;
        }
    };
    add(src.bytes());
    add(dst.bytes());
    sum += std::uint32_t(msg.size() >> 16) + std::uint32_t(msg.size() & 0xffff);
    sum += 58;  // next header: ICMPv6
    add(msg);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(~sum);
}

// Closes the fd on every path out of announce().
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Whether the kernel forwards IPv6 on this interface: then it is a router
// on the link and its advertisements say so (RFC 4861 §7.2.6: an unsolicited
// advertisement carries the same flags as a solicited one would), so that
// neighbours do not drop it from their router lists.
bool ipv6_forwarding(const std::string& interface) {
    std::ifstream f("/proc/sys/net/ipv6/conf/" + interface + "/forwarding");
    int v = 0;
    return f >> v && v != 0;
}

}  // namespace

Bytes gratuitous_arp(const MacAddress& mac, const IpAddress& ip, bool reply) {
    Bytes b;
    b.reserve(28);
    put16(b, ARPHRD_ETHER);
    put16(b, ETHERTYPE_IP);
    b.push_back(6);  // hardware address length
    b.push_back(4);  // protocol address length
    put16(b, reply ? ARPOP_REPLY : ARPOP_REQUEST);
    put(b, mac);
    put(b, ip.bytes());
    // RFC 5227 §3: a request's target hardware address is ignored and
    // SHOULD be zero; RFC 5944 §4.6: a reply's repeats the sender's.
    if (reply) {
        put(b, mac);
    } else {
        b.insert(b.end(), 6, 0);
    }
    put(b, ip.bytes());
    return b;
}

Bytes unsolicited_na(const MacAddress& mac, const IpAddress& ip, bool router) {
    const IpAddress all_nodes = *IpAddress::parse("ff02::1");
    Bytes icmp;
    icmp.reserve(32);
    icmp.push_back(136);  // Neighbor Advertisement
    icmp.push_back(0);    // code
    put16(icmp, 0);       // checksum, filled in below
    // R (router), S (solicited) = 0: nobody asked, O (override) = 1: replace
    // the cached link-layer address (RFC 4861 §7.2.6).
    icmp.push_back(std::uint8_t((router ? 0x80 : 0) | 0x20));
    icmp.insert(icmp.end(), 3, 0);
    put(icmp, ip.bytes());
    // Target Link-Layer Address option (RFC 4861 §4.6.1), length in 8 octets.
    icmp.push_back(2);
    icmp.push_back(1);
    put(icmp, mac);
    std::uint16_t sum = icmpv6_checksum(ip, all_nodes, icmp);
    icmp[2] = std::uint8_t(sum >> 8);
    icmp[3] = std::uint8_t(sum);

    Bytes pkt;
    pkt.reserve(40 + icmp.size());
    pkt.push_back(0x60);  // version 6, traffic class and flow label 0
    pkt.insert(pkt.end(), 3, 0);
    put16(pkt, std::uint16_t(icmp.size()));
    pkt.push_back(58);   // next header: ICMPv6
    pkt.push_back(255);  // hop limit: receivers drop ND with any other (§7.1.2)
    put(pkt, ip.bytes());
    put(pkt, all_nodes.bytes());
    put(pkt, icmp);
    return pkt;
}

VirtualIp::VirtualIp(std::string interface, std::vector<Prefix> addrs, Netlink nl)
    : interface_(std::move(interface)), addrs_(std::move(addrs)), nl_(std::move(nl)) {}

Result<VirtualIp> VirtualIp::open(std::string interface, std::vector<Prefix> addrs) {
    if (interface.empty() || interface.size() >= IFNAMSIZ) {
        return Error{0, "interface name '" + interface + "' must be 1.." +
                            std::to_string(IFNAMSIZ - 1) + " characters"};
    }
    for (const auto& a : addrs) {
        if (a.len > (a.addr.is_v6() ? 128 : 32))
            return Error{0, "virtual IP " + a.to_string() + ": bad prefix length"};
    }
    auto nl = Netlink::open();
    if (!nl) return Error{0, "virtual IPs on " + interface + ": " + nl.error().what};
    return VirtualIp(std::move(interface), std::move(addrs), std::move(*nl));
}

Result<int> VirtualIp::ifindex() const {
    unsigned idx = if_nametoindex(interface_.c_str());
    if (idx == 0) return sys_error("interface " + interface_, errno);
    return int(idx);
}

std::string VirtualIp::where(const Prefix& a) const {
    return "virtual IP " + a.to_string() + " on " + interface_;
}

Status VirtualIp::add() {
    auto idx = ifindex();
    if (!idx) return idx.error();
    for (const auto& a : addrs_) {
        std::uint32_t flags = a.addr.is_v6() ? IFA_F_NODAD : 0;
        auto st = nl_.add_address(*idx, a, flags);
        if (!st && nl_.last_errno() != EEXIST) return Error{0, where(a) + ": " + st.error().what};
    }
    return Ok{};
}

Status VirtualIp::remove() {
    unsigned idx = if_nametoindex(interface_.c_str());
    if (idx == 0) {
        int e = errno;
        // No interface, no addresses on it.
        if (e == ENODEV || e == ENXIO) return Ok{};
        return sys_error("interface " + interface_, e);
    }
    for (const auto& a : addrs_) {
        auto st = nl_.del_address(int(idx), a);
        int e = nl_.last_errno();
        if (!st && e != EADDRNOTAVAIL && e != ENOENT && e != ENODEV)
            return Error{0, where(a) + ": " + st.error().what};
    }
    return Ok{};
}

Status VirtualIp::announce() {
    auto idx = ifindex();
    if (!idx) return idx.error();
    // Protocol 0: this socket only sends, it never receives a frame.
    Fd s{::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) return sys_error("announce on " + interface_ + ": packet socket", errno);
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, interface_.data(), interface_.size());
    if (ioctl(s.fd, SIOCGIFHWADDR, &ifr) < 0)
        return sys_error("announce on " + interface_ + ": SIOCGIFHWADDR", errno);
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) return Ok{};
    MacAddress mac;
    std::memcpy(mac.data(), ifr.ifr_hwaddr.sa_data, mac.size());
    bool router = ipv6_forwarding(interface_);

    auto send = [&](const Prefix& a, const Bytes& frame, std::uint16_t ethertype,
                    const MacAddress& dst) -> Status {
        sockaddr_ll ll{};
        ll.sll_family = AF_PACKET;
        ll.sll_protocol = htons(ethertype);
        ll.sll_ifindex = *idx;
        ll.sll_halen = 6;
        std::memcpy(ll.sll_addr, dst.data(), dst.size());
        ssize_t n = ::sendto(s.fd, frame.data(), frame.size(), 0,
                             reinterpret_cast<const sockaddr*>(&ll), sizeof(ll));
        if (n < 0) return sys_error("announce " + where(a), errno);
        return Ok{};
    };
    const MacAddress broadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const MacAddress all_nodes{0x33, 0x33, 0, 0, 0, 1};  // RFC 2464 §7: ff02::1
    for (const auto& a : addrs_) {
        if (a.addr.is_v4()) {
            for (bool reply : {false, true}) {
                auto st = send(a, gratuitous_arp(mac, a.addr, reply), ETH_P_ARP, broadcast);
                if (!st) return st;
            }
        } else {
            auto st = send(a, unsolicited_na(mac, a.addr, router), ETH_P_IPV6, all_nodes);
            if (!st) return st;
        }
    }
    return Ok{};
}

Status enable_freebind(int fd) {
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
        return sys_error("freebind: SO_DOMAIN", errno);
    int one = 1;
    if (domain == AF_INET6) {
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)) == 0) return Ok{};
        // Before Linux 4.15 IP_FREEBIND set the same flag for IPv6 sockets.
        if (errno != ENOPROTOOPT) return sys_error("freebind: IPV6_FREEBIND", errno);
    }
    if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) != 0)
        return sys_error("freebind: IP_FREEBIND", errno);
    return Ok{};
}

}  // namespace ikecluster::net
