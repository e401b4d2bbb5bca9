// The daemon's TUN device: plain IP packets in and out (IFF_TUN |
// IFF_NO_PI), one file descriptor per queue. Multiple queues
// (IFF_MULTI_QUEUE) let several packet threads each own one; the vnet header
// (IFF_VNET_HDR, for GSO/GRO offloads) is a constructor option so the packet
// path can grow into it without changing how the device is made.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace ikecluster::net {

class Tun {
  public:
    struct Options {
        std::string name = "ikec0";  // "ikec%d" lets the kernel number it
        int queues = 1;
        // IFF_VNET_HDR with checksum offload and TSO (TUNSETOFFLOAD): every
        // read and write starts with a 10-octet virtio_net_hdr (net/offload.h).
        bool vnet_hdr = false;
        bool nonblocking = true;
    };
    // Creates (or attaches to) the device. Errors: no /dev/net/tun, no
    // permission (CAP_NET_ADMIN), a name in use by a device of another kind.
    static Result<Tun> open(const Options& o);
    Tun(Tun&&) noexcept;
    Tun& operator=(Tun&&) noexcept;
    ~Tun();

    const std::string& name() const { return name_; }
    int ifindex() const { return ifindex_; }
    int fd(int queue = 0) const { return fds_.at(std::size_t(queue)); }
    int queues() const { return int(fds_.size()); }
    bool vnet_hdr() const { return vnet_hdr_; }

    // One packet. read: its length, 0 when nothing is waiting (non-blocking),
    // or an error. write: an error unless the whole packet was taken.
    Result<std::size_t> read(std::span<std::uint8_t> buf, int queue = 0);
    Status write(std::span<const std::uint8_t> packet, int queue = 0);

  private:
    Tun() = default;
    std::string name_;
    int ifindex_ = 0;
    bool vnet_hdr_ = false;
    std::vector<int> fds_;
};

}  // namespace ikecluster::net
