// Address ranges as CIDR prefixes: traffic selectors are ranges (RFC 7296
// §3.13.1), routes are prefixes, so a range becomes the shortest list of
// prefixes that covers exactly it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/net.h"

namespace ikecluster::net {

struct Prefix {
    IpAddress addr;  // host bits zero
    std::uint8_t len = 0;
    std::string to_string() const;  // "192.0.2.0/24"
    friend bool operator==(const Prefix&, const Prefix&) = default;
};

// The prefixes covering [start, end] exactly, in address order. Empty when
// the families differ or start > end. At most 2 x (address bits) entries.
std::vector<Prefix> range_to_prefixes(const IpAddress& start, const IpAddress& end);

}  // namespace ikecluster::net
