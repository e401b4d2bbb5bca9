#include "base/net.h"

#include <arpa/inet.h>

#include <cstring>

// inet_pton/inet_ntop are pure text conversions (no I/O), so the core may use them.

namespace ikecluster {

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> b) {
    IpAddress a;
    std::memcpy(a.b_.data(), b.data(), 4);
    return a;
}

IpAddress IpAddress::v6(std::array<std::uint8_t, 16> b) {
    IpAddress a;
    a.v6_ = true;
    a.b_ = b;
    return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    std::string s(text);
    IpAddress a;
    if (inet_pton(AF_INET, s.c_str(), a.b_.data()) == 1) return a;
    if (inet_pton(AF_INET6, s.c_str(), a.b_.data()) == 1) {
        a.v6_ = true;
        return a;
    }
    return std::nullopt;
}

std::optional<IpAddress> IpAddress::from_bytes(BytesView b) {
    IpAddress a;
    if (b.size() == 4) {
        std::memcpy(a.b_.data(), b.data(), 4);
        return a;
    }
    if (b.size() == 16) {
        std::memcpy(a.b_.data(), b.data(), 16);
        a.v6_ = true;
        return a;
    }
    return std::nullopt;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(v6_ ? AF_INET6 : AF_INET, b_.data(), buf, sizeof buf);
    return buf;
}

std::string Endpoint::to_string() const {
    // Built by appending: GCC 12 at -O3 reports a false -Wrestrict on the
    // equivalent chain of operator+ calls.
    std::string out;
    out.reserve(48);
    if (addr.is_v6()) out.push_back('[');
    out.append(addr.to_string());
    if (addr.is_v6()) out.push_back(']');
    out.push_back(':');
    out.append(std::to_string(port));
    return out;
}

}  // namespace ikecluster
