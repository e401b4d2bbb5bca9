#include "wire/esp.h"

#include "base/buffer.h"

namespace ikecluster::wire {

Result<EspHeader> parse_esp_header(BytesView packet) {
    if (packet.size() < kEspHeaderSize) {
        return Error{0,
                     "truncated ESP header: need 8 bytes, have " + std::to_string(packet.size())};
    }
    EspHeader h{load_be32(packet.data()), load_be32(packet.data() + 4)};
    if (h.spi < 256) return Error{0, "reserved ESP SPI " + std::to_string(h.spi)};
    return h;
}

void write_esp_header(std::uint8_t* out, const EspHeader& h) {
    store_be32(out, h.spi);
    store_be32(out + 4, h.seq);
}

Result<UdpEncapPacket> classify_udp_encap(BytesView d) {
    if (d.empty()) return Error{0, "empty UDP datagram on the NAT-T port"};
    if (d.size() == 1 && d[0] == kNatKeepalive)
        return UdpEncapPacket{UdpEncapKind::NAT_KEEPALIVE, d};
    if (d.size() < kNonEspMarkerSize) {
        return Error{0, "UDP datagram of " + std::to_string(d.size()) +
                            " bytes is neither keepalive, IKE nor ESP"};
    }
    if (load_be32(d.data()) == 0) {
        if (d.size() < kNonEspMarkerSize + 28) {
            return Error{4, "non-ESP marker followed by " + std::to_string(d.size() - 4) +
                                " bytes, too short for IKE"};
        }
        return UdpEncapPacket{UdpEncapKind::IKE, d.subspan(kNonEspMarkerSize)};
    }
    if (d.size() < kEspHeaderSize)
        return Error{0, "truncated ESP header: need 8 bytes, have " + std::to_string(d.size())};
    return UdpEncapPacket{UdpEncapKind::ESP, d};
}

Bytes with_non_esp_marker(BytesView ike_message) {
    Bytes out(kNonEspMarkerSize + ike_message.size(), 0);
    std::copy(ike_message.begin(), ike_message.end(), out.begin() + kNonEspMarkerSize);
    return out;
}

std::size_t esp_trailer_size(std::size_t payload_len, std::size_t align) {
    if (align < 4) align = 4;  // §2.4: the ciphertext ends on a 4-octet boundary
    std::size_t pad = (align - (payload_len + 2) % align) % align;
    return pad + 2;
}

void write_esp_trailer(std::span<std::uint8_t> out, std::size_t payload_len, std::size_t align,
                       std::uint8_t next_header) {
    std::size_t n = esp_trailer_size(payload_len, align);
    std::size_t pad = n - 2;
    for (std::size_t i = 0; i < pad; ++i)
        out[i] = std::uint8_t(i + 1);
    out[pad] = std::uint8_t(pad);
    out[pad + 1] = next_header;
}

Result<EspTrailer> parse_esp_trailer(BytesView p) {
    if (p.size() < 2)
        return Error{0, "ESP plaintext of " + std::to_string(p.size()) + " bytes has no trailer"};
    std::size_t pad = p[p.size() - 2];
    std::uint8_t next = p[p.size() - 1];
    if (pad + 2 > p.size()) {
        return Error{p.size() - 2, "ESP pad length " + std::to_string(pad) + " exceeds the " +
                                       std::to_string(p.size() - 2) + " bytes before it"};
    }
    std::size_t start = p.size() - 2 - pad;
    for (std::size_t i = 0; i < pad; ++i) {
        if (p[start + i] != std::uint8_t(i + 1)) {
            return Error{start + i, "ESP padding byte " + std::to_string(i) + " is " +
                                        std::to_string(p[start + i]) + ", expected " +
                                        std::to_string(i + 1)};
        }
    }
    return EspTrailer{start, next};
}

}  // namespace ikecluster::wire
