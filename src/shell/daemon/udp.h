// UDP sockets for IKE (500) and NAT-T (4500), IPv4 and IPv6.
//
// The engine must know the exact local address a datagram arrived on (it is
// part of NAT detection, §2.23, and the address we must answer from), so
// sockets bound to a wildcard ask the kernel for it with IP_PKTINFO /
// IPV6_RECVPKTINFO, and sends name the source address the same way. With
// `listen` addresses configured there is one socket per address instead.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>

#include "base/bytes.h"
#include "base/net.h"
#include "base/result.h"
#include "daemon/log.h"

namespace ikecluster::daemon {

// The engine speaks of ports 500 and 4500 (it marks port-4500 messages with
// the non-ESP marker, RFC 3948 §2.2); the sockets may listen elsewhere
// ([daemon] ike_port / natt_port), and translate.
inline constexpr std::uint16_t kEngineIkePort = 500;
inline constexpr std::uint16_t kEngineNattPort = 4500;

// Sending datagrams, as output dispatch needs it; tests substitute a fake.
class DatagramSender {
  public:
    virtual ~DatagramSender() = default;
    // `local.port` is the engine's port (500 or 4500) and picks the socket;
    // `local.addr` is the source address (unspecified: the kernel picks).
    virtual Status send(const Endpoint& local, const Endpoint& remote, BytesView data) = 0;
};

class UdpTransport final : public DatagramSender {
  public:
    // `local.port` is already translated to the engine's port.
    using Receiver =
        std::function<void(const Endpoint& local, const Endpoint& remote, BytesView datagram)>;

    UdpTransport(asio::io_context& io, Logger& log, Receiver rx);
    ~UdpTransport() override;

    // Binds ports `ike_port` and `natt_port` on each address in `listen`, or
    // on the IPv4 and IPv6 wildcards when it is empty (IPv6 failing there is
    // only a warning: hosts without IPv6 exist).
    Status open(const std::vector<IpAddress>& listen, std::uint16_t ike_port,
                std::uint16_t natt_port);
    void close();

    Status send(const Endpoint& local, const Endpoint& remote, BytesView data) override;

    // When the ESP data plane owns the NAT-T sockets (so ESP never passes
    // through this thread), open() binds only the IKE port and sends from the
    // engine's port 4500 go through `natt` instead.
    using NattSender =
        std::function<Status(const Endpoint& local, const Endpoint& remote, BytesView data)>;
    void set_natt_sender(NattSender natt) { natt_ = std::move(natt); }
    // Before open(): bind addresses the host does not have (yet).
    void set_freebind(bool on) { freebind_ = on; }

    std::uint64_t received() const { return received_; }
    std::uint64_t sent() const { return sent_; }
    std::uint64_t send_errors() const { return send_errors_; }

  private:
    struct Sock;
    Status bind_one(const IpAddress& addr, bool wildcard, std::uint16_t port,
                    std::uint16_t engine_port);
    void wait(Sock& s);
    void drain(Sock& s);

    asio::io_context& io_;
    Logger& log_;
    Receiver rx_;
    std::vector<std::unique_ptr<Sock>> socks_;
    NattSender natt_;
    bool freebind_ = false;
    std::uint16_t natt_port_ = kEngineNattPort;
    std::shared_ptr<bool> alive_;
    std::vector<std::uint8_t> buf_;
    std::uint64_t received_ = 0, sent_ = 0, send_errors_ = 0;
};

}  // namespace ikecluster::daemon
