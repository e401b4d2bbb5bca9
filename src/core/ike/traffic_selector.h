// Traffic selectors (RFC 7296 §3.13.1) and the narrowing of §2.9.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/net.h"
#include "base/result.h"

namespace ikecluster::ike {

// One address range with a protocol and a port range, all inclusive.
// ip_proto 0 means any protocol; ports 0..65535 mean any port.
struct TrafficSelector {
    std::uint8_t ip_proto = 0;
    std::uint16_t start_port = 0;
    std::uint16_t end_port = 65535;
    IpAddress start;
    IpAddress end;

    bool is_v6() const { return start.is_v6(); }
    // "192.0.2.0/24", "2001:db8::/32", "192.0.2.1" (host), "0.0.0.0/0",
    // optionally followed by "[proto/port]" as in strongSwan: "10.0.0.0/8[tcp/443]",
    // "[udp]", "[17/500-510]".
    static Result<TrafficSelector> parse(std::string_view text);
    // The narrowest selector covering exactly one address.
    static TrafficSelector host(const IpAddress& a);
    std::string to_string() const;

    bool contains(const TrafficSelector& other) const;
    friend bool operator==(const TrafficSelector&, const TrafficSelector&) = default;
};

using TsList = std::vector<TrafficSelector>;

// The intersection of two selectors, or nullopt when they share nothing
// (different families, protocols or disjoint ranges).
std::optional<TrafficSelector> intersect(const TrafficSelector& a, const TrafficSelector& b);

// §2.9 narrowing by a responder: every non-empty intersection of a proposed
// selector with a configured one, in the proposer's order, without duplicates.
// An empty result means TS_UNACCEPTABLE.
TsList narrow(const TsList& proposed, const TsList& configured);

// Parses a comma-separated list ("10.1.0.0/16, 2001:db8::/32").
Result<TsList> parse_ts_list(std::string_view text);

}  // namespace ikecluster::ike
