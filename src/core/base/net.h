// IP addresses and UDP endpoints as plain values (no sockets in the core).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace ikecluster {

class IpAddress {
  public:
    IpAddress() = default;  // 0.0.0.0
    static IpAddress v4(std::array<std::uint8_t, 4> b);
    static IpAddress v6(std::array<std::uint8_t, 16> b);
    // Accepts dotted quad or RFC 5952 text; nullopt when neither parses.
    static std::optional<IpAddress> parse(std::string_view text);
    // From 4 or 16 raw bytes; nullopt for any other length.
    static std::optional<IpAddress> from_bytes(BytesView b);

    bool is_v4() const { return !v6_; }
    bool is_v6() const { return v6_; }
    // 0.0.0.0 or :: (a socket bound to it accepts any local address).
    bool is_unspecified() const {
        for (std::uint8_t b : bytes()) {
            if (b) return false;
        }
        return true;
    }
    // 4 or 16 bytes in network order.
    BytesView bytes() const { return BytesView(b_.data(), v6_ ? 16 : 4); }
    std::string to_string() const;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;
    friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

  private:
    bool v6_ = false;
    std::array<std::uint8_t, 16> b_{};
};

struct Endpoint {
    IpAddress addr;
    std::uint16_t port = 0;

    std::string to_string() const;  // "192.0.2.1:500", "[2001:db8::1]:4500"
    friend bool operator==(const Endpoint&, const Endpoint&) = default;
    friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

}  // namespace ikecluster
