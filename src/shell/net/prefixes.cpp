#include "net/prefixes.h"

#include <array>

namespace ikecluster::net {

namespace {

// Addresses as 128-bit unsigned numbers (two halves), IPv4 in the low 32.
struct U128 {
    std::uint64_t hi = 0, lo = 0;
    friend auto operator<=>(const U128&, const U128&) = default;
};

U128 to_u128(const IpAddress& a) {
    U128 v;
    BytesView b = a.bytes();
    for (std::uint8_t x : b) {
        v.hi = (v.hi << 8) | (v.lo >> 56);
        v.lo = (v.lo << 8) | x;
    }
    return v;
}

IpAddress from_u128(U128 v, bool v6) {
    if (!v6) {
        std::array<std::uint8_t, 4> b{};
        for (int i = 3; i >= 0; --i, v.lo >>= 8)
            b[std::size_t(i)] = std::uint8_t(v.lo);
        return IpAddress::v4(b);
    }
    std::array<std::uint8_t, 16> b{};
    for (int i = 15; i >= 8; --i, v.lo >>= 8)
        b[std::size_t(i)] = std::uint8_t(v.lo);
    for (int i = 7; i >= 0; --i, v.hi >>= 8)
        b[std::size_t(i)] = std::uint8_t(v.hi);
    return IpAddress::v6(b);
}

// 2^k - 1 as a 128-bit mask of the low k bits.
U128 low_mask(int k) {
    if (k <= 0) return {};
    if (k >= 128) return {~0ull, ~0ull};
    if (k >= 64) return {k == 64 ? 0 : (~0ull >> (128 - k)), ~0ull};
    return {0, ~0ull >> (64 - k)};
}

U128 add_one(U128 v) {
    if (++v.lo == 0) ++v.hi;
    return v;
}

bool aligned(U128 v, int k) {
    U128 m = low_mask(k);
    return (v.hi & m.hi) == 0 && (v.lo & m.lo) == 0;
}

U128 with_low_bits(U128 v, int k) {
    U128 m = low_mask(k);
    return {v.hi | m.hi, v.lo | m.lo};
}

}  // namespace

std::string Prefix::to_string() const {
    return addr.to_string() + "/" + std::to_string(len);
}

std::vector<Prefix> range_to_prefixes(const IpAddress& start, const IpAddress& end) {
    std::vector<Prefix> out;
    if (start.is_v6() != end.is_v6()) return out;
    const int bits = start.is_v6() ? 128 : 32;
    U128 cur = to_u128(start);
    const U128 last = to_u128(end);
    if (cur > last) return out;
    for (;;) {
        // The largest block that starts at `cur` (aligned) and stays within `last`.
        int k = bits;
        while (k > 0 && (!aligned(cur, k) || with_low_bits(cur, k) > last))
            --k;
        out.push_back(Prefix{from_u128(cur, start.is_v6()), std::uint8_t(bits - k)});
        U128 top = with_low_bits(cur, k);
        if (top >= last) break;
        cur = add_one(top);
    }
    return out;
}

}  // namespace ikecluster::net
