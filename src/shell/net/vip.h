// The cluster's virtual IP addresses: the active member adds them to its LAN
// interface and announces them so that neighbours and switches send the
// traffic to it at once; a member that steps down removes them.
//
// Announcements: for IPv4 a gratuitous ARP request (RFC 5227 §3, "ARP
// Announcement") and a gratuitous ARP reply (RFC 5944 §4.6: some neighbours
// only update their caches from replies), both broadcast; for IPv6 an
// unsolicited Neighbor Advertisement with the Override flag to all-nodes
// (RFC 4861 §7.2.6). One announce() sends one round; sending a few rounds a
// little apart (the RFCs suggest up to MAX_NEIGHBOR_ADVERTISEMENT = 3) is the
// caller's job, so no timer lives here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/net.h"
#include "base/result.h"
#include "net/netlink.h"
#include "net/prefixes.h"

namespace ikecluster::net {

using MacAddress = std::array<std::uint8_t, 6>;

class VirtualIp {
  public:
    // `addrs` are interface addresses: `addr` keeps its host bits
    // ("192.0.2.1/24"). The interface need not exist yet; every call looks
    // it up again, so a re-created interface is found.
    static Result<VirtualIp> open(std::string interface, std::vector<Prefix> addrs);

    // Adds every address (IPv6 ones with IFA_F_NODAD, usable without
    // duplicate address detection: the other member deliberately holds the
    // same address until it is told to let go). Already present is fine.
    Status add();
    // Removes every address. Absent addresses, and an interface that is
    // gone (with it its addresses), are fine.
    Status remove();
    // One round of announcements for every address. Links without Ethernet
    // addresses (TUN, loopback) have no neighbour caches to update: nothing
    // is sent and the result is Ok.
    Status announce();

    const std::string& interface() const { return interface_; }
    const std::vector<Prefix>& addresses() const { return addrs_; }

  private:
    VirtualIp(std::string interface, std::vector<Prefix> addrs, Netlink nl);
    Result<int> ifindex() const;
    std::string where(const Prefix& a) const;  // "192.0.2.1/24 on eth0"

    std::string interface_;
    std::vector<Prefix> addrs_;
    Netlink nl_;
};

// The announcement frames, without the Ethernet header (an AF_PACKET
// SOCK_DGRAM socket adds it). Pure, so the bytes can be tested.
// ARP for IPv4: sender = target = `ip`; a request has a zero target hardware
// address, a reply repeats the sender's. `ip` must be IPv4.
Bytes gratuitous_arp(const MacAddress& mac, const IpAddress& ip, bool reply);
// An IPv6 packet from `ip` to ff02::1, hop limit 255, carrying a Neighbor
// Advertisement for target `ip` with Override set, Solicited clear, Router as
// given, and the Target Link-Layer Address option. `ip` must be IPv6.
Bytes unsolicited_na(const MacAddress& mac, const IpAddress& ip, bool router);

// Lets a socket bind an address the host does not hold (IP_FREEBIND,
// IPV6_FREEBIND), so a standby can bind the virtual IP before it takes over.
Status enable_freebind(int fd);

}  // namespace ikecluster::net
