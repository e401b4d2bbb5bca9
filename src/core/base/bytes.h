// Byte containers and hex helpers shared by every layer of the core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ikecluster {

using Bytes = std::vector<std::uint8_t>;
using BytesView = std::span<const std::uint8_t>;

inline BytesView as_view(const Bytes& b) {
    return BytesView(b.data(), b.size());
}
inline BytesView as_view(std::string_view s) {
    return BytesView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}
inline Bytes to_bytes(BytesView v) {
    return Bytes(v.begin(), v.end());
}
inline Bytes to_bytes(std::string_view s) {
    return Bytes(s.begin(), s.end());
}

// Concatenates any number of byte ranges (used for PRF inputs like Ni | Nr).
template <typename... Views>
Bytes concat(const Views&... parts) {
    Bytes out;
    out.reserve((std::size(parts) + ... + 0));
    (out.insert(out.end(), std::begin(parts), std::end(parts)), ...);
    return out;
}

// Lower-case hex without separators.
std::string to_hex(BytesView v);
// Accepts upper/lower case and ignores whitespace and ':' separators; returns
// nullopt on an odd number of digits or a non-hex character.
std::optional<Bytes> from_hex(std::string_view s);

// Constant-time comparison for MACs and secrets (length is not secret).
bool equal_ct(BytesView a, BytesView b);

}  // namespace ikecluster
