// ESP framing (RFC 4303) and UDP encapsulation on port 4500 (RFC 3948).
//
// This sits on the data-plane fast path: nothing here allocates, on success
// or on failure. Functions return EspResult<T>, whose error is a code plus
// the numbers that explain it (EspFailure); EspFailure::to_error() renders
// the usual Error{offset, message} for logs, off the fast path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <variant>

#include "base/bytes.h"
#include "base/result.h"

namespace ikecluster::wire {

enum class EspError : std::uint8_t {
    TRUNCATED_HEADER,  // fewer than 8 octets for SPI | Sequence Number
    RESERVED_SPI,      // SPI 0..255 (RFC 4303 §2.1: 0 is local-only, 1..255 IANA reserved)
    EMPTY_DATAGRAM,    // nothing on UDP/4500
    SHORT_DATAGRAM,    // 1..3 octets that are not a NAT-keepalive
    TRUNCATED_IKE,     // non-ESP marker followed by less than an IKE header
    NO_TRAILER,        // decrypted ESP shorter than Pad Length | Next Header
    PAD_LENGTH,        // Pad Length larger than the data before it
    BAD_PADDING,       // padding is not 1, 2, 3, ... (RFC 4303 §2.4)
    BAD_ALIGNMENT,     // alignment not a power of two in 1..256
    BUFFER_TOO_SMALL,  // caller's output buffer too short
};

struct EspFailure {
    EspError code = EspError::TRUNCATED_HEADER;
    std::size_t offset = 0;    // in the input (or output) buffer
    std::size_t value = 0;     // the offending number (size, SPI, pad length, byte)
    std::size_t expected = 0;  // what was needed, where that is a number
    friend bool operator==(const EspFailure&, const EspFailure&) = default;

    // "truncated ESP header: need 8 bytes, have 5" (allocates).
    Error to_error() const;
};

template <typename T>
class [[nodiscard]] EspResult {
  public:
    EspResult(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    EspResult(EspFailure f) : v_(f) {}            // NOLINT: implicit by design

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const EspFailure& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, EspFailure> v_;
};

// ---- ESP header (RFC 4303 §2) ------------------------------------------------
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |               Security Parameters Index (SPI)                 |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                      Sequence Number                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Payload Data* (variable)                   |
//   ~                                                               ~
//   +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |               |     Padding (0-255 bytes)                     |
//   +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                               |  Pad Length   | Next Header   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Integrity Check Value-ICV   (variable)                |
//   ~                                                               ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
inline constexpr std::size_t kEspHeaderSize = 8;
struct EspHeader {
    std::uint32_t spi = 0;
    std::uint32_t seq = 0;  // low 32 bits; the high half of an ESN is never sent
    friend bool operator==(const EspHeader&, const EspHeader&) = default;
};
// Errors: TRUNCATED_HEADER (value = size), RESERVED_SPI (value = SPI).
EspResult<EspHeader> parse_esp_header(BytesView packet);
void write_esp_header(std::span<std::uint8_t, kEspHeaderSize> out, const EspHeader& h);

// ---- UDP encapsulation on port 4500 (RFC 3948 §2.2, §2.3) ----------------------
enum class UdpEncapKind : std::uint8_t {
    NAT_KEEPALIVE,  // a single 0xFF octet: ignore
    IKE,            // non-ESP marker (4 zero octets) + IKE message
    ESP,            // non-zero SPI: an ESP packet
};
struct UdpEncapPacket {
    UdpEncapKind kind = UdpEncapKind::ESP;
    BytesView payload;  // IKE: the message without the marker; ESP: the whole packet;
                        // keepalive: the one octet
};
// Errors: EMPTY_DATAGRAM; SHORT_DATAGRAM (1..3 octets, not a keepalive);
// TRUNCATED_IKE (marker + fewer than 28 octets); TRUNCATED_HEADER (ESP
// shorter than 8 octets).
EspResult<UdpEncapPacket> classify_udp_encap(BytesView datagram);

inline constexpr std::size_t kNonEspMarkerSize = 4;
// The datagram to send an IKE message on port 4500: marker + message (this
// allocates; IKE is not the fast path).
Bytes with_non_esp_marker(BytesView ike_message);
// The NAT-keepalive datagram: one 0xFF octet (RFC 3948 §2.3).
inline constexpr std::uint8_t kNatKeepalive = 0xff;
BytesView nat_keepalive_datagram();

// ---- ESP trailer (RFC 4303 §2.4-§2.6) ------------------------------------------
//
// payload | padding 1, 2, 3, ... | Pad Length | Next Header, with
// payload + padding + 2 a multiple of `align` and of 4 (§2.4: the ciphertext
// ends on a 4-octet boundary; CBC needs the cipher block size). `align` is a
// power of two in 1..256: 4 (or 1) for AEAD/stream ciphers, 16 for AES-CBC.

// Trailer size (padding + 2) for `payload_len`, or 0 if `align` is invalid.
std::size_t esp_trailer_size(std::size_t payload_len, std::size_t align);
// Writes the trailer into out[0, n) and returns n = esp_trailer_size().
// Errors: BAD_ALIGNMENT (value = align); BUFFER_TOO_SMALL (value = out.size(),
// expected = n).
EspResult<std::size_t> write_esp_trailer(std::span<std::uint8_t> out, std::size_t payload_len,
                                         std::size_t align, std::uint8_t next_header);

struct EspTrailer {
    std::size_t payload_len = 0;  // the payload is plaintext[0, payload_len)
    std::uint8_t pad_length = 0;
    std::uint8_t next_header = 0;  // 59 = dummy packet (§2.6), 4 = IPv4, 41 = IPv6
    friend bool operator==(const EspTrailer&, const EspTrailer&) = default;
};
// Parses the trailer at the end of decrypted ESP data (after IV removal,
// before the ICV). Errors: NO_TRAILER (fewer than 2 octets); PAD_LENGTH
// (value = pad length, expected = octets available); BAD_PADDING (offset of
// the first wrong octet, value = octet, expected = what §2.4's default
// padding has there). Our peers use the default padding; a packet failing
// the check must be dropped (the RFC's SHOULD-inspect).
EspResult<EspTrailer> parse_esp_trailer(BytesView plaintext);

}  // namespace ikecluster::wire
