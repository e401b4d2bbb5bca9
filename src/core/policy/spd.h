// The security policy lookup of the data plane (RFC 4301 §4.4.1): which
// Child SA carries an outbound packet, and whether a decrypted inbound
// packet is one its SA may carry (§5.2: the receiver MUST check the inner
// header against the SA's selectors).
//
// An Spd is immutable once built: the IKE side builds a new one when Child
// SAs come and go and hands it to the packet threads (which swap a
// shared_ptr), so a lookup never takes a lock. Building is O(n log n) in the
// number of selectors; a lookup is a binary search on the destination
// address plus a check of the few entries whose destination range covers it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/net.h"
#include "ike/traffic_selector.h"

namespace ikecluster::policy {

// The fields of an IP packet the selectors look at.
struct PacketKey {
    IpAddress src, dst;
    std::uint8_t proto = 0;
    std::uint16_t sport = 0,
                  dport = 0;  // 0 when the protocol has no ports or for non-first fragments
};

// Extracts the key from an IPv4 or IPv6 packet (the IPv6 extension-header
// chain is walked for the upper-layer protocol). nullopt for anything too
// short or not IP.
std::optional<PacketKey> packet_key(std::span<const std::uint8_t> packet);

// Whether `k` is within the selector (address range, protocol 0 = any,
// port range; ICMP type/code live in the port fields per RFC 4301 §4.4.1.3,
// which we do not decode: ICMP matches on address and protocol only).
bool matches(const ike::TrafficSelector& ts, const IpAddress& addr, std::uint8_t proto,
             std::uint16_t port);
// Whether a packet from `local`-side source to `remote`-side destination
// fits a Child SA with these selectors.
bool within(const ike::TsList& local, const ike::TsList& remote, const PacketKey& k);

struct SpdEntry {
    ike::TsList local;           // our side: outbound source / inbound destination
    ike::TsList remote;          // the peer's side
    std::uint64_t id = 0;        // the caller's handle (e.g. the Child SA's unique id)
    std::uint32_t priority = 0;  // lower wins when several match; then the narrower
};

class Spd {
  public:
    Spd() = default;
    explicit Spd(std::vector<SpdEntry> entries);

    // The entry for an outbound packet, or nullptr (no tunnel: drop it).
    const SpdEntry* lookup_outbound(const PacketKey& k) const;
    std::size_t size() const { return entries_.size(); }

  private:
    struct Interval {
        IpAddress start;                   // covers [start, next interval's start)
        std::vector<std::uint32_t> cover;  // entries whose remote range covers it, best first
    };
    std::vector<SpdEntry> entries_;
    std::vector<Interval> v4_, v6_;
};

}  // namespace ikecluster::policy
