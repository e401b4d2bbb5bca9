#include "net/tun.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ikecluster::net {

namespace {
Error sys_error(const std::string& what, int err) {
    return Error{0, what + ": " + std::strerror(err)};
}
}  // namespace

Result<Tun> Tun::open(const Options& o) {
    if (o.name.empty() || o.name.size() >= IFNAMSIZ)
        return Error{0, "TUN name must be 1.." + std::to_string(IFNAMSIZ - 1) + " characters"};
    if (o.queues < 1 || o.queues > 64) return Error{0, "TUN queues must be 1..64"};
    Tun t;
    for (int q = 0; q < o.queues; ++q) {
        int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | (o.nonblocking ? O_NONBLOCK : 0));
        if (fd < 0) return sys_error("/dev/net/tun", errno);
        t.fds_.push_back(fd);  // closed by ~Tun on any error below
        ifreq ifr{};
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
        if (o.queues > 1) ifr.ifr_flags |= IFF_MULTI_QUEUE;
        if (o.vnet_hdr) ifr.ifr_flags |= IFF_VNET_HDR;
        // Every queue attaches to the name the first one got.
        const std::string& want = q == 0 ? o.name : t.name_;
        std::memcpy(ifr.ifr_name, want.data(), want.size());
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) return sys_error("TUNSETIFF " + want, errno);
        if (q == 0) t.name_ = ifr.ifr_name;
        if (o.vnet_hdr) {
            // Checksum offload and TSO: the stack may hand us large TCP
            // segments with partial checksums (net/offload.h splits them).
            unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
            if (ioctl(fd, TUNSETOFFLOAD, off) < 0) return sys_error("TUNSETOFFLOAD " + want, errno);
        }
    }
    t.vnet_hdr_ = o.vnet_hdr;
    t.ifindex_ = int(if_nametoindex(t.name_.c_str()));
    if (t.ifindex_ == 0) return sys_error("if_nametoindex " + t.name_, errno);
    return t;
}

Tun::Tun(Tun&& o) noexcept
    : name_(std::move(o.name_)),
      ifindex_(o.ifindex_),
      vnet_hdr_(o.vnet_hdr_),
      fds_(std::move(o.fds_)) {
    o.fds_.clear();
}

Tun& Tun::operator=(Tun&& o) noexcept {
    if (this != &o) {
        for (int fd : fds_)
            ::close(fd);
        name_ = std::move(o.name_);
        ifindex_ = o.ifindex_;
        vnet_hdr_ = o.vnet_hdr_;
        fds_ = std::move(o.fds_);
        o.fds_.clear();
    }
    return *this;
}

Tun::~Tun() {
    for (int fd : fds_)
        ::close(fd);
}

Result<std::size_t> Tun::read(std::span<std::uint8_t> buf, int queue) {
    ssize_t n = ::read(fd(queue), buf.data(), buf.size());
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t(0);
        return sys_error("TUN read", errno);
    }
    return std::size_t(n);
}

Status Tun::write(std::span<const std::uint8_t> packet, int queue) {
    ssize_t n = ::write(fd(queue), packet.data(), packet.size());
    if (n < 0) return sys_error("TUN write", errno);
    if (std::size_t(n) != packet.size()) return Error{0, "TUN write: short write"};
    return Ok{};
}

}  // namespace ikecluster::net
