// Routes, addresses and link state through rtnetlink (libmnl). The daemon
// routes the remote traffic selectors of each Child SA into its TUN device
// and removes the routes with the SA; the cluster adds and removes the
// virtual IP. Every call is synchronous: it waits for the kernel's ACK and
// returns its error, so a failure is reported where it happened.
//
// Route changes also come in batches (route_batch): a takeover installs a
// route for each of thousands of Child SAs, and one send plus one ACK read
// per route made the kernel round trips a third of the takeover's time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/net.h"
#include "base/result.h"
#include "net/prefixes.h"

struct mnl_socket;

namespace ikecluster::net {

// One route change of a batch (Netlink::route_batch).
struct RouteRequest {
    bool add = true;  // false: delete
    Prefix dst;
    int ifindex = 0;
    std::optional<IpAddress> src;  // preferred source; adds only
    std::uint32_t table = 254;     // main
    std::uint32_t metric = 0;
};

// What a batch did: err[i] is 0 when request i succeeded, else its errno
// (as the kernel's ACK gave it, or the socket's error when the send failed).
struct BatchResult {
    std::vector<int> err;
    std::size_t failed = 0;
    Status status(std::size_t i) const;  // err[i] as a Status naming the errno
};

// The wire side of route_batch, without a socket (for tests).
namespace nlbatch {

// errs[] slot of a request whose ACK has not been seen.
constexpr int kPending = -1;
// Appends one RTM_NEWROUTE (NLM_F_CREATE | NLM_F_REPLACE) or RTM_DELROUTE
// message for `r` with NLM_F_ACK and sequence number `seq` to `buf`.
void put_route_request(std::vector<std::uint8_t>& buf, const RouteRequest& r, std::uint32_t seq);
// Reads one received datagram: every ACK or error (NLMSG_ERROR) addressed
// to `portid` whose sequence number falls in [first_seq, first_seq +
// errs.size()) sets errs[seq - first_seq] to 0 or the errno, if that slot is
// still kPending. Returns how many slots it set. A malformed message ends
// the walk; nothing in the datagram is trusted beyond its own lengths.
std::size_t match_acks(std::span<const std::uint8_t> datagram, std::uint32_t portid,
                       std::uint32_t first_seq, std::span<int> errs);

}  // namespace nlbatch

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
    // Many route changes with few system calls, in order: up to
    // kBatchMessages messages (or about kBatchBytes) go in one send, each
    // with NLM_F_ACK and a sequence number of its own, and the ACKs are
    // matched back by sequence number. Result i belongs to reqs[i]. Should
    // the receive buffer overflow (ENOBUFS: ACKs lost), the requests whose
    // ACK is missing are sent again one at a time, which is harmless: an add
    // replaces, and a repeated delete that finds nothing counts as done.
    static constexpr std::size_t kBatchMessages = 200;
    static constexpr std::size_t kBatchBytes = 32 * 1024;
    BatchResult route_batch(std::span<const RouteRequest> reqs);
    // The socket's receive buffer (SO_RCVBUF), for tests of the overflow
    // path; open() already makes it large enough for a batch's ACKs.
    Status set_receive_buffer(int bytes);

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
    void send_batch(std::span<const RouteRequest> reqs, std::span<const std::uint8_t> wire,
                    std::uint32_t first_seq, std::span<int> errs);
    mnl_socket* sock_ = nullptr;
    std::uint32_t portid_ = 0;
    std::uint32_t seq_ = 1;
    int last_errno_ = 0;
};

}  // namespace ikecluster::net
