// The IKE header (RFC 7296 §3.1):
//
//                        1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                       IKE SA Initiator's SPI                  |
//   |                                                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                       IKE SA Responder's SPI                  |
//   |                                                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                          Message ID                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                            Length                             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags: |X|X|R|V|I|X|X|X| -- R (Response) 0x20, V (Version) 0x10,
// I (Initiator) 0x08; the X bits are sent as zero and ignored on receipt.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/result.h"
#include "wire/constants.h"

namespace ikecluster::wire {

inline constexpr std::size_t kHeaderSize = 28;
inline constexpr std::size_t kGenericHeaderSize = 4;
inline constexpr std::uint8_t kIkeMajorVersion = 2;

// Byte offsets of header fields (error offsets and in-place patching).
inline constexpr std::size_t kOffsetNextPayload = 16;
inline constexpr std::size_t kOffsetVersion = 17;
inline constexpr std::size_t kOffsetLength = 24;

struct Header {
    std::uint64_t spi_i = 0;
    std::uint64_t spi_r = 0;
    std::uint8_t next_payload = 0;  // filled in by encode_message()
    std::uint8_t major_version = kIkeMajorVersion;
    std::uint8_t minor_version = 0;  // carried, not interpreted (§2.5)
    std::uint8_t exchange = std::uint8_t(ExchangeType::IKE_SA_INIT);
    std::uint8_t flags = 0;
    std::uint32_t message_id = 0;
    std::uint32_t length = 0;  // filled in by encode_message()

    bool is_response() const { return flags & kFlagResponse; }
    bool from_initiator() const { return flags & kFlagInitiator; }
    ExchangeType exchange_type() const { return ExchangeType(exchange); }
    friend bool operator==(const Header&, const Header&) = default;
};

// Why a datagram could not be decoded, so the engine knows which answer, if
// any, the RFC asks for.
enum class DecodeFailure : std::uint8_t {
    MALFORMED,            // truncation, bad lengths, bad substructure: INVALID_SYNTAX or drop
    UNSUPPORTED_VERSION,  // major version != 2: INVALID_MAJOR_VERSION (§2.5, §1.5)
};

// Decodes the 28-octet header of a datagram, for lookups (SPIs, exchange,
// message ID) before the full decode. Any major version is returned as is
// (the caller checks `major_version`, or lets decode_message() do it).
// Errors: fewer than 28 octets ("truncated IKE header: need 28 bytes, have
// N", offset 0); the Length field differs from the datagram size (offset 24).
Result<Header> decode_header(BytesView datagram);

// Writes the 28 header octets at `out` exactly as given (next_payload and
// length included; encode_message() computes those itself).
void write_header(const Header& h, std::uint8_t* out);

}  // namespace ikecluster::wire
