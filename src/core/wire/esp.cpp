#include "wire/esp.h"

#include <algorithm>
#include <string>

#include "base/buffer.h"

namespace ikecluster::wire {

namespace {

bool valid_align(std::size_t a) {
    return a >= 1 && a <= 256 && (a & (a - 1)) == 0;
}

constexpr std::uint8_t kKeepaliveDatagram[1] = {kNatKeepalive};

}  // namespace

Error EspFailure::to_error() const {
    auto n = [](std::size_t v) { return std::to_string(v); };
    std::string what;
    switch (code) {
        case EspError::TRUNCATED_HEADER:
            what = "truncated ESP header: need 8 bytes, have " + n(value);
            break;
        case EspError::RESERVED_SPI:
            what = "reserved ESP SPI " + n(value);
            break;
        case EspError::EMPTY_DATAGRAM:
            what = "empty UDP datagram on the NAT-T port";
            break;
        case EspError::SHORT_DATAGRAM:
            what = "UDP datagram of " + n(value) + " bytes is neither a NAT-keepalive, IKE nor ESP";
            break;
        case EspError::TRUNCATED_IKE:
            what = "non-ESP marker followed by " + n(value) + " bytes, too short for an IKE header";
            break;
        case EspError::NO_TRAILER:
            what = "ESP plaintext of " + n(value) + " bytes has no trailer";
            break;
        case EspError::PAD_LENGTH:
            what =
                "ESP pad length " + n(value) + " exceeds the " + n(expected) + " bytes before it";
            break;
        case EspError::BAD_PADDING:
            what = "ESP padding byte " + n(expected - 1) + " is " + n(value) + ", expected " +
                   n(expected);
            break;
        case EspError::BAD_ALIGNMENT:
            what = "ESP alignment " + n(value) + " is not a power of two in 1..256";
            break;
        case EspError::BUFFER_TOO_SMALL:
            what = "ESP trailer needs " + n(expected) + " bytes, buffer has " + n(value);
            break;
    }
    return Error{offset, std::move(what)};
}

EspResult<EspHeader> parse_esp_header(BytesView p) {
    if (p.size() < kEspHeaderSize)
        return EspFailure{EspError::TRUNCATED_HEADER, 0, p.size(), kEspHeaderSize};
    EspHeader h{load_be32(p.data()), load_be32(p.data() + 4)};
    if (h.spi < 256) return EspFailure{EspError::RESERVED_SPI, 0, h.spi, 0};
    return h;
}

void write_esp_header(std::span<std::uint8_t, kEspHeaderSize> out, const EspHeader& h) {
    store_be32(out.data(), h.spi);
    store_be32(out.data() + 4, h.seq);
}

EspResult<UdpEncapPacket> classify_udp_encap(BytesView d) {
    if (d.empty()) return EspFailure{EspError::EMPTY_DATAGRAM, 0, 0, 0};
    if (d.size() == 1 && d[0] == kNatKeepalive)
        return UdpEncapPacket{UdpEncapKind::NAT_KEEPALIVE, d};
    if (d.size() < kNonEspMarkerSize)
        return EspFailure{EspError::SHORT_DATAGRAM, 0, d.size(), kNonEspMarkerSize};
    if (load_be32(d.data()) == 0) {
        // RFC 3948 §2.2: the non-ESP marker; an IKE header must follow.
        const std::size_t rest = d.size() - kNonEspMarkerSize;
        if (rest < 28) return EspFailure{EspError::TRUNCATED_IKE, kNonEspMarkerSize, rest, 28};
        return UdpEncapPacket{UdpEncapKind::IKE, d.subspan(kNonEspMarkerSize)};
    }
    if (d.size() < kEspHeaderSize)
        return EspFailure{EspError::TRUNCATED_HEADER, 0, d.size(), kEspHeaderSize};
    return UdpEncapPacket{UdpEncapKind::ESP, d};
}

Bytes with_non_esp_marker(BytesView ike_message) {
    Bytes out(kNonEspMarkerSize + ike_message.size(), 0);
    std::copy(ike_message.begin(), ike_message.end(), out.begin() + kNonEspMarkerSize);
    return out;
}

BytesView nat_keepalive_datagram() {
    return BytesView(kKeepaliveDatagram, 1);
}

std::size_t esp_trailer_size(std::size_t payload_len, std::size_t align) {
    if (!valid_align(align)) return 0;
    align = std::max<std::size_t>(align, 4);
    const std::size_t pad = (align - (payload_len + 2) % align) % align;
    return pad + 2;
}

EspResult<std::size_t> write_esp_trailer(std::span<std::uint8_t> out, std::size_t payload_len,
                                         std::size_t align, std::uint8_t next_header) {
    const std::size_t n = esp_trailer_size(payload_len, align);
    if (n == 0) return EspFailure{EspError::BAD_ALIGNMENT, 0, align, 0};
    if (out.size() < n) return EspFailure{EspError::BUFFER_TOO_SMALL, 0, out.size(), n};
    const std::size_t pad = n - 2;
    // §2.4: "The first padding byte appended to the plaintext is numbered 1".
    for (std::size_t i = 0; i < pad; ++i)
        out[i] = std::uint8_t(i + 1);
    out[pad] = std::uint8_t(pad);
    out[pad + 1] = next_header;
    return n;
}

EspResult<EspTrailer> parse_esp_trailer(BytesView p) {
    if (p.size() < 2) return EspFailure{EspError::NO_TRAILER, 0, p.size(), 2};
    const std::size_t pad = p[p.size() - 2];
    const std::uint8_t next = p[p.size() - 1];
    if (pad > p.size() - 2)
        return EspFailure{EspError::PAD_LENGTH, p.size() - 2, pad, p.size() - 2};
    const std::size_t start = p.size() - 2 - pad;
    for (std::size_t i = 0; i < pad; ++i) {
        if (p[start + i] != std::uint8_t(i + 1))
            return EspFailure{EspError::BAD_PADDING, start + i, p[start + i], i + 1};
    }
    return EspTrailer{start, std::uint8_t(pad), next};
}

}  // namespace ikecluster::wire
