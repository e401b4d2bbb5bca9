// Batched datagram I/O for the packet path: recvmmsg/sendmmsg over buffers
// allocated once, so moving a packet costs no heap allocation and one
// system call moves up to a whole batch. Used for ESP-in-UDP on port 4500
// (RFC 3948) and raw ESP (IP protocol 50), IPv4 and IPv6.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <vector>

#include "base/net.h"
#include "base/result.h"

namespace ikecluster::net {

// One packet slot: `data` points `headroom` octets into its buffer so a
// header can be prepended in place (ESP, UDP encapsulation).
struct Packet {
    std::uint8_t* data = nullptr;
    std::size_t len = 0;
    std::size_t headroom = 0;  // octets available before `data`
    std::size_t tailroom = 0;  // octets available after data + len
    Endpoint peer;             // rx: the sender; tx: the destination
    IpAddress local;           // rx: the address it was sent to (from pktinfo or the IP header)
    bool has_local = false;    // tx: send from `local` (IP_PKTINFO) when set
};

class PacketRing {
  public:
    PacketRing(std::size_t count, std::size_t buffer_size, std::size_t headroom);
    std::size_t size() const { return slots_.size(); }
    Packet& operator[](std::size_t i) { return slots_[i]; }
    // Puts slot i back to empty with the full headroom.
    void reset(std::size_t i);
    std::size_t buffer_size() const { return buffer_size_; }
    std::size_t headroom() const { return headroom_; }

  private:
    std::size_t buffer_size_, headroom_;
    std::vector<std::uint8_t> storage_;
    std::vector<Packet> slots_;
};

// A receive buffer for a coalesced UDP datagram (UDP GRO): up to 64 KiB of
// datagrams from one sender, all `segment` octets long but the last.
struct LargePacket {
    std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(65536);
    std::size_t len = 0;
    std::size_t segment = 0;  // 0: one datagram of `len` octets
    Endpoint peer;
    IpAddress local;
    bool has_local = false;
};

class BatchSocket {
  public:
    // A non-blocking UDP socket bound to `bind` (port 0: any), reporting the
    // local address of each datagram. IPv6 sockets are IPv6-only.
    static Result<BatchSocket> udp(const Endpoint& bind, bool reuse_port = false,
                                   bool freebind = false);
    // A non-blocking raw socket for IP protocol 50. On IPv4 the kernel hands
    // us the IP header, which receive() strips (taking the local address
    // from it); on IPv6 it does not, and pktinfo gives the local address.
    static Result<BatchSocket> raw_esp(bool v6);
    BatchSocket(BatchSocket&&) noexcept;
    BatchSocket& operator=(BatchSocket&&) noexcept;
    ~BatchSocket();

    int fd() const { return fd_; }
    bool v6() const { return v6_; }
    // Marks everything this socket sends (SO_MARK, needs CAP_NET_ADMIN), so
    // policy routing can tell the daemon's own ESP from the traffic it
    // protects (transport mode routes the peer's address into the TUN).
    Status set_mark(std::uint32_t mark);
    // UDP GRO (Linux 5.0+): the kernel may hand over several datagrams of
    // one flow in one buffer; read them with receive_large() only.
    Status enable_gro();
    Result<std::size_t> receive_large(std::span<LargePacket> out);

    // Receives into ring slots [0, max) (max <= ring.size()); returns how
    // many arrived, 0 when none is waiting.
    Result<std::size_t> receive(PacketRing& ring, std::size_t max);
    // Sends ring slots [first, first + n); returns how many the kernel took
    // (the rest may be retried or dropped by the caller).
    Result<std::size_t> send(PacketRing& ring, std::size_t first, std::size_t n);
    // Sends the ring slots named by `slots` (in that order, at most 256).
    // UDP sockets group runs of equal-sized packets to one peer into UDP GSO
    // messages (UDP_SEGMENT) and fall back to one datagram per message if
    // the kernel refuses. Returns how many packets the kernel took.
    Result<std::size_t> send(PacketRing& ring, std::span<const std::uint32_t> slots);

  private:
    BatchSocket(int fd, bool v6, bool raw, std::size_t batch);
    int fd_ = -1;
    bool v6_ = false;
    bool raw_ = false;
    bool gso_ = false;  // UDP GSO still believed to work
    Result<std::size_t> send_segmented(PacketRing& ring, std::span<const std::uint32_t> slots);
    // Scratch for the system calls, sized once for the largest batch.
    std::vector<mmsghdr> msgs_;
    std::vector<iovec> iovs_;
    std::vector<sockaddr_storage> addrs_;
    std::vector<std::uint8_t> cmsgs_;
};

// Space for one IP_PKTINFO or IPV6_PKTINFO control message.
inline constexpr std::size_t kPktinfoSpace = CMSG_SPACE(sizeof(in6_pktinfo));
// Names the source address of a datagram sent with sendmsg on a socket bound
// to a wildcard address (IP_PKTINFO / IPV6_PKTINFO): a peer expects the answer
// from the address it sent to. `control` must hold kPktinfoSpace octets and
// live until sendmsg; msg.msg_control/msg_controllen are set.
void set_source_address(msghdr& msg, std::uint8_t* control, const IpAddress& source);

// Conversions between Endpoint and sockaddr.
socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& out);
Endpoint from_sockaddr(const sockaddr_storage& s);

}  // namespace ikecluster::net
