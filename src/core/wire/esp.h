// ESP framing (RFC 4303) and UDP encapsulation on port 4500 (RFC 3948).
// This sits on the packet path: no allocation, spans in and out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/result.h"

namespace ikecluster::wire {

// RFC 4303 §2:  SPI (4) | Sequence Number (4) | payload ...
inline constexpr std::size_t kEspHeaderSize = 8;
struct EspHeader {
    std::uint32_t spi = 0;
    std::uint32_t seq = 0;  // low 32 bits; the high half of an ESN is never sent
};
// Errors: shorter than 8 octets; SPI 0 (reserved, §2.1); SPIs 1..255 are
// reserved by IANA for future use and rejected too.
Result<EspHeader> parse_esp_header(BytesView packet);
void write_esp_header(std::uint8_t* out, const EspHeader& h);

// What arrived on UDP port 4500 (RFC 3948 §2.2, §2.3).
enum class UdpEncapKind : std::uint8_t {
    NAT_KEEPALIVE,  // a single 0xFF octet: ignore
    IKE,            // non-ESP marker (4 zero octets) + IKE message
    ESP,            // non-zero SPI: an ESP packet
};
struct UdpEncapPacket {
    UdpEncapKind kind;
    BytesView payload;  // IKE: the message without the marker; ESP: the whole packet
};
// Errors: empty datagram, fewer than 8 octets for ESP, or a marker with too
// little behind it for an IKE header.
Result<UdpEncapPacket> classify_udp_encap(BytesView datagram);

inline constexpr std::size_t kNonEspMarkerSize = 4;
// The datagram to send an IKE message on port 4500: marker + message.
Bytes with_non_esp_marker(BytesView ike_message);
// The NAT-keepalive datagram (RFC 3948 §2.3).
inline constexpr std::uint8_t kNatKeepalive = 0xff;

// ESP trailer (RFC 4303 §2.4-2.6): payload | padding | pad length | next header.
// Padding is 1, 2, 3, ... (the default the RFC specifies) so that
// payload + padding + 2 is a multiple of `align` (4 at least, the cipher's
// block size for CBC).
std::size_t esp_trailer_size(std::size_t payload_len, std::size_t align);
// Writes the trailer for a payload of `payload_len` octets into `out`
// (esp_trailer_size() octets).
void write_esp_trailer(std::span<std::uint8_t> out, std::size_t payload_len, std::size_t align,
                       std::uint8_t next_header);

struct EspTrailer {
    std::size_t payload_len = 0;
    std::uint8_t next_header = 0;
};
// Parses the trailer at the end of decrypted ESP data. Errors: fewer than 2
// octets; pad length larger than the data; padding not 1, 2, 3, ... (§2.4:
// the receiver SHOULD check when the default padding was used).
Result<EspTrailer> parse_esp_trailer(BytesView plaintext);

}  // namespace ikecluster::wire
