// IKEv2 messages: the header (wire/header.h) and the payload chain (RFC 7296
// §2.5, §3.2), plus the decrypted inside of an SK payload (§3.14).
//
// Decoding rules, each reported as an Error with the absolute byte offset:
//  - the header's Length equals the datagram size; the major version is 2;
//  - every generic payload header has Payload Length >= 4 and fits in what
//    is left of the message; every payload body is well formed (see the
//    structs in wire/payloads.h for each one's rules);
//  - the chain ends (Next Payload 0) exactly at the end of the message;
//  - SK and SKF end the chain: their Next Payload names the first inner
//    payload, and nothing may follow them (§3.14: SK is the last payload).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/result.h"
#include "wire/header.h"
#include "wire/payloads.h"

namespace ikecluster::wire {

struct Message {
    Header header;
    std::vector<Payload> payloads;

    // The first payload of `type`, or nullptr.
    const Payload* find(PayloadType type) const;
    // The first Notify of `type`, or nullptr.
    const NotifyPayload* find_notify(NotifyType type) const;
    // RFC 7296 §2.5: the type of the first payload this codec does not
    // understand that has the critical bit set. The engine must reject the
    // message with N(UNSUPPORTED_CRITICAL_PAYLOAD) carrying that type.
    std::optional<std::uint8_t> unsupported_critical() const;
    friend bool operator==(const Message&, const Message&) = default;
};

// Decodes a whole datagram (already stripped of any non-ESP marker).
// On failure, `failure` (when given) says whether the RFC asks for
// INVALID_MAJOR_VERSION (the version is checked before anything but the
// header's 28 octets) or the message is just malformed.
Result<Message> decode_message(BytesView datagram, DecodeFailure* failure = nullptr);

// Encodes a message, computing the header's Next Payload and Length and every
// payload's Next Payload and Payload Length (SK/SKF: Next Payload is their
// `first_inner`). `m.header.next_payload` and `m.header.length` are ignored.
Bytes encode_message(const Message& m);

// The payload chain inside a decrypted SK/SKF body: `first` is the SK
// payload's Next Payload field; `base_offset` is where `data` sits (for error
// offsets, e.g. the plaintext's offset in the message). SK/SKF inside are
// rejected. An empty chain needs `first` == 0 and empty data.
Result<std::vector<Payload>> decode_payloads(std::uint8_t first, BytesView data,
                                             std::size_t base_offset = 0);

// Encodes a chain, appending to `out`; returns the type of the first payload
// (0 for an empty chain), i.e. the value for the enclosing Next Payload field.
std::uint8_t encode_payloads(const std::vector<Payload>& payloads, Bytes& out);

struct EncodedChain {
    std::uint8_t first = 0;
    Bytes bytes;
    friend bool operator==(const EncodedChain&, const EncodedChain&) = default;
};
EncodedChain encode_payloads(const std::vector<Payload>& payloads);

// Where the SK/SKF body (IV | ciphertext | ICV) starts in an encoded
// message: after the SK generic header, and for SKF after the 4 fragment
// number octets too (RFC 7383 §2.5). Every octet before it (IKE header,
// unencrypted payloads, SK header) is the AAD / integrity-protected prefix.
// nullopt if the walk finds no SK/SKF or a length that does not fit.
std::optional<std::size_t> encrypted_body_offset(BytesView encoded_message);

}  // namespace ikecluster::wire
