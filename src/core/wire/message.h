// IKEv2 messages: the header (RFC 7296 §3.1) and the payload chain.
//
//   |                       IKE SA Initiator's SPI                  |
//   |                       IKE SA Responder's SPI                  |
//   |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//   |                          Message ID                           |
//   |                            Length                             |
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/result.h"
#include "wire/payloads.h"

namespace ikecluster::wire {

inline constexpr std::size_t kHeaderSize = 28;
inline constexpr std::size_t kGenericHeaderSize = 4;

struct Header {
    std::uint64_t spi_i = 0;
    std::uint64_t spi_r = 0;
    std::uint8_t next_payload = 0;  // filled in by encode_message()
    std::uint8_t major_version = 2;
    std::uint8_t minor_version = 0;
    std::uint8_t exchange = std::uint8_t(ExchangeType::IKE_SA_INIT);
    std::uint8_t flags = 0;
    std::uint32_t message_id = 0;
    std::uint32_t length = 0;  // filled in by encode_message()

    bool is_response() const { return flags & kFlagResponse; }
    bool from_initiator() const { return flags & kFlagInitiator; }
    ExchangeType exchange_type() const { return ExchangeType(exchange); }
    friend bool operator==(const Header&, const Header&) = default;
};

struct Message {
    Header header;
    std::vector<Payload> payloads;

    // The first payload of `type`, or nullptr.
    const Payload* find(PayloadType type) const;
    // The first Notify of `type`, or nullptr.
    const NotifyPayload* find_notify(NotifyType type) const;
    // RFC 7296 §2.5: the type of the first payload we do not understand that
    // has the critical bit set (the answer is UNSUPPORTED_CRITICAL_PAYLOAD).
    std::optional<std::uint8_t> unsupported_critical() const;
    friend bool operator==(const Message&, const Message&) = default;
};

// Why a datagram could not be decoded.
enum class DecodeFailure : std::uint8_t {
    MALFORMED,            // bad lengths, truncation, bad substructure: INVALID_SYNTAX or drop
    UNSUPPORTED_VERSION,  // major version != 2: INVALID_MAJOR_VERSION (§2.5)
};

// Decodes just the 28-octet header (lookups before the full decode). The
// length field is checked against `datagram.size()`.
Result<Header> decode_header(BytesView datagram);

// Decodes a whole message: header, then the payload chain, which must end
// exactly at the header's length. An SK or SKF payload ends the chain
// (§3.14: the Encrypted payload is the last one). On failure, `failure`
// (when given) tells the caller which notify, if any, the RFC asks for.
Result<Message> decode_message(BytesView datagram, DecodeFailure* failure = nullptr);

// Encodes a message, computing every length and Next Payload field.
Bytes encode_message(const Message& m);

// The payload chain inside a decrypted SK/SKF body: `first` is the SK
// payload's Next Payload field; `base_offset` is where `data` sits in the
// plaintext (for error offsets).
Result<std::vector<Payload>> decode_payloads(std::uint8_t first, BytesView data,
                                             std::size_t base_offset = 0);

// Encodes a chain; returns the type of the first payload (0 for an empty chain).
std::uint8_t encode_payloads(const std::vector<Payload>& payloads, Bytes& out);

// Encodes one payload's body (no generic header).
void encode_body(const Payload& p, Bytes& out);

// Where the SK/SKF body starts in an encoded message (after the SK generic
// header, and after the 4 fragment-number octets for SKF): every octet before
// it is the AAD / integrity-protected prefix. nullopt if there is no SK/SKF.
std::optional<std::size_t> encrypted_body_offset(BytesView encoded_message);

}  // namespace ikecluster::wire
