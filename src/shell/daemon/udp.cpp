#include "daemon/udp.h"

#include "net/batch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace ikecluster::daemon {

struct UdpTransport::Sock {
    explicit Sock(asio::io_context& io) : s(io) {}
    asio::ip::udp::socket s;
    IpAddress addr;  // bound address (unspecified when wildcard)
    bool wildcard = false;
    std::uint16_t port = 0;         // real port
    std::uint16_t engine_port = 0;  // what the engine calls it
};

namespace {
using net::from_sockaddr;
using net::to_sockaddr;

asio::ip::address to_asio(const IpAddress& a) {
    if (a.is_v4()) {
        asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), a.bytes().data(), 4);
        return asio::ip::address_v4(b);
    }
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), a.bytes().data(), 16);
    return asio::ip::address_v6(b);
}
}  // namespace

UdpTransport::UdpTransport(asio::io_context& io, Logger& log, Receiver rx)
    : io_(io), log_(log), rx_(std::move(rx)), alive_(std::make_shared<bool>(true)), buf_(65536) {}

UdpTransport::~UdpTransport() {
    *alive_ = false;
    close();
}

Status UdpTransport::bind_one(const IpAddress& addr, bool wildcard, std::uint16_t port,
                              std::uint16_t engine_port) {
    auto sock = std::make_unique<Sock>(io_);
    sock->addr = addr;
    sock->wildcard = wildcard;
    sock->port = port;
    sock->engine_port = engine_port;
    std::error_code ec;
    auto ep = asio::ip::udp::endpoint(to_asio(addr), port);
    sock->s.open(ep.protocol(), ec);
    if (ec) return Error{0, "socket: " + ec.message()};
    int fd = sock->s.native_handle();
    int one = 1;
    if (addr.is_v6()) {
        // A separate IPv4 socket takes IPv4; mapped addresses would give the
        // engine ::ffff:a.b.c.d endpoints that never match its config.
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
    } else {
        ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
    }
    if (freebind_) {
        // A cluster's virtual address is only on the active member's
        // interface; standbys bind it in advance (ip(7) IP_FREEBIND).
        ::setsockopt(fd, addr.is_v6() ? IPPROTO_IPV6 : IPPROTO_IP,
                     addr.is_v6() ? IPV6_FREEBIND : IP_FREEBIND, &one, sizeof(one));
    }
    sock->s.bind(ep, ec);
    if (ec) return Error{0, "bind " + Endpoint{addr, port}.to_string() + ": " + ec.message()};
    sock->s.non_blocking(true, ec);
    log_.info(Subsystem::NET, "listening on udp {}", Endpoint{addr, port}.to_string());
    socks_.push_back(std::move(sock));
    wait(*socks_.back());
    return Ok{};
}

Status UdpTransport::open(const std::vector<IpAddress>& listen, std::uint16_t ike_port,
                          std::uint16_t natt_port) {
    natt_port_ = natt_port;
    std::vector<std::pair<std::uint16_t, std::uint16_t>> ports = {{ike_port, kEngineIkePort}};
    if (!natt_) ports.emplace_back(natt_port, kEngineNattPort);
    if (listen.empty()) {
        for (auto [port, engine_port] : ports) {
            if (auto st = bind_one(IpAddress{}, true, port, engine_port); !st) return st;
            auto any6 = IpAddress::v6({});
            if (auto st = bind_one(any6, true, port, engine_port); !st)
                log_.warn(Subsystem::NET, "no IPv6: {}", st.error().what);
        }
        return Ok{};
    }
    for (const auto& a : listen) {
        for (auto [port, engine_port] : ports) {
            if (auto st = bind_one(a, a.is_unspecified(), port, engine_port); !st) return st;
        }
    }
    return Ok{};
}

void UdpTransport::close() {
    for (auto& s : socks_) {
        std::error_code ec;
        s->s.close(ec);
    }
    socks_.clear();
}

void UdpTransport::wait(Sock& s) {
    auto alive = alive_;
    s.s.async_wait(asio::ip::udp::socket::wait_read, [this, alive, &s](std::error_code ec) {
        if (!*alive || ec) return;
        drain(s);
        wait(s);
    });
}

void UdpTransport::drain(Sock& s) {
    // Read everything queued now (bounded, so one busy socket cannot starve
    // the timer and the other sockets).
    for (int i = 0; i < 64; ++i) {
        sockaddr_storage from{};
        iovec iov{buf_.data(), buf_.size()};
        alignas(cmsghdr) std::uint8_t control[256];
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof(from);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        ssize_t n = ::recvmsg(s.s.native_handle(), &msg, MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_.warn(Subsystem::NET, "recvmsg: {}", std::strerror(errno));
            return;
        }
        if (msg.msg_flags & MSG_TRUNC) {
            log_.debug(Subsystem::NET, "dropped truncated datagram");
            continue;
        }
        Endpoint local{s.addr, s.engine_port};
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                in_pktinfo pi;
                std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                std::array<std::uint8_t, 4> b{};
                std::memcpy(b.data(), &pi.ipi_addr, 4);
                local.addr = IpAddress::v4(b);
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo pi;
                std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                std::array<std::uint8_t, 16> b{};
                std::memcpy(b.data(), &pi.ipi6_addr, 16);
                local.addr = IpAddress::v6(b);
            }
        }
        Endpoint remote = from_sockaddr(from);
        ++received_;
        log_.log(Subsystem::NET, Level::TRACE, "{} bytes {} -> {}", n, remote.to_string(),
                 local.to_string());
        rx_(local, remote, BytesView(buf_.data(), static_cast<std::size_t>(n)));
        if (!*alive_) return;
    }
}

Status UdpTransport::send(const Endpoint& local, const Endpoint& remote, BytesView data) {
    if (natt_ && local.port == kEngineNattPort) {
        Status st = natt_(Endpoint{local.addr, natt_port_}, remote, data);
        if (st)
            ++sent_;
        else
            ++send_errors_;
        return st;
    }
    Sock* pick = nullptr;
    Sock* any = nullptr;  // same port and family: good enough without a source address
    for (auto& s : socks_) {
        if (s->engine_port != local.port || s->addr.is_v6() != remote.addr.is_v6()) continue;
        if (!any) any = s.get();
        if (!s->wildcard && s->addr == local.addr) {
            pick = s.get();
            break;
        }
        if (s->wildcard && !pick) pick = s.get();
    }
    if (!pick && local.addr.is_unspecified()) pick = any;
    if (!pick) {
        ++send_errors_;
        return Error{0, "no socket for " + local.to_string()};
    }
    sockaddr_storage to{};
    socklen_t tolen = to_sockaddr(remote, to);
    iovec iov{const_cast<std::uint8_t*>(data.data()), data.size()};
    alignas(cmsghdr) std::uint8_t control[net::kPktinfoSpace];
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = tolen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // On a wildcard socket the kernel would pick the source address from the
    // route; the peer expects the address it sent to, so name it.
    if (pick->wildcard && !local.addr.is_unspecified())
        net::set_source_address(msg, control, local.addr);
    ssize_t n = ::sendmsg(pick->s.native_handle(), &msg, 0);
    if (n < 0) {
        ++send_errors_;
        return Error{0, "sendmsg " + local.to_string() + " -> " + remote.to_string() + ": " +
                            std::strerror(errno)};
    }
    ++sent_;
    return Ok{};
}

}  // namespace ikecluster::daemon
