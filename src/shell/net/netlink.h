// Routes, addresses and link state through rtnetlink (libmnl). The daemon
// routes the remote traffic selectors of each Child SA into its TUN device
// and removes the routes with the SA; the cluster adds and removes the
// virtual IP. Every call is synchronous: it waits for the kernel's ACK and
// returns its error, so a failure is reported where it happened.
#pragma once

#include <cstdint>
#include <string>

#include "base/net.h"
#include "base/result.h"
#include "net/prefixes.h"

struct mnl_socket;

namespace ikecluster::net {

class Netlink {
  public:
    // Opens and binds a NETLINK_ROUTE socket. Errors: no permission, etc.
    static Result<Netlink> open();
    Netlink(Netlink&&) noexcept;
    Netlink& operator=(Netlink&&) noexcept;
    ~Netlink();

    // Interface index by name. Error when there is no such interface.
    static Result<int> ifindex(const std::string& name);

    Status link_up(int ifindex, std::uint32_t mtu = 0);  // mtu 0: leave as is
    // Adds (replaces if present) or deletes a route to `dst` via `ifindex`,
    // optionally with a preferred source address. Deleting a route that is
    // not there is an error the caller may ignore.
    Status add_route(const Prefix& dst, int ifindex, const IpAddress* src = nullptr,
                     std::uint32_t table = 254 /* main */, std::uint32_t metric = 0);
    Status del_route(const Prefix& dst, int ifindex, std::uint32_t table = 254,
                     std::uint32_t metric = 0);
    // A policy-routing rule (ip rule, RTM_NEWRULE): packets that match are
    // looked up in `table`. Fields left at 0 do not constrain the match.
    // Transport-mode SAs use these to send the local stack's packets to the
    // peer into the TUN device while the daemon's own (marked) sockets keep
    // using the main table.
    struct Rule {
        bool v6 = false;
        std::uint32_t priority = 0;
        std::uint32_t table = 0;
        std::uint32_t fwmark = 0, fwmask = 0;  // match on the socket mark (SO_MARK)
        bool invert = false;                   // "not": match what the rest does not
        std::uint8_t ip_proto = 0;             // FRA_IP_PROTO (Linux 4.17+)
        std::uint16_t sport = 0;               // FRA_SPORT_RANGE, one port
    };
    Status add_rule(const Rule& r);
    // Deletes the rule with these fields; an error (ENOENT) if there is none.
    Status del_rule(const Rule& r);

    // `addr` keeps its host bits here (the interface's own address).
    // `flags` are IFA_F_* (IFA_F_NODAD: an IPv6 address usable at once).
    Status add_address(int ifindex, const Prefix& addr, std::uint32_t flags = 0);
    Status del_address(int ifindex, const Prefix& addr);

    // The errno of the last request that failed (0 when it succeeded), for
    // callers that accept some errors: EEXIST on add, EADDRNOTAVAIL on delete.
    int last_errno() const { return last_errno_; }

  private:
    explicit Netlink(mnl_socket* s);
    Status request(void* nlh);
    mnl_socket* sock_ = nullptr;
    std::uint32_t portid_ = 0;
    std::uint32_t seq_ = 1;
    int last_errno_ = 0;
};

}  // namespace ikecluster::net
