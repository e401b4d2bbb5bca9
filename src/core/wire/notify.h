// Typed access to the Notify payloads ikecluster uses. Builders return a
// ready Payload; parsers check the data layout and return Result.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/net.h"
#include "base/result.h"
#include "wire/payloads.h"

namespace ikecluster::wire {

// Any notify; protocol NONE and no SPI unless given. Empty-data status
// notifies (INITIAL_CONTACT, USE_TRANSPORT_MODE, the *_SUPPORTED ones,
// TICKET_REQUEST, ...) need nothing more.
Payload notify(NotifyType type, Bytes data = {}, ProtocolId protocol = ProtocolId::NONE,
               Bytes spi = {});

// INVALID_KE_PAYLOAD (§3.10.1): the accepted DH group, 2 octets.
Payload notify_invalid_ke(std::uint16_t dh_group);
Result<std::uint16_t> parse_invalid_ke(const NotifyPayload& n);

// NAT_DETECTION_SOURCE_IP / _DESTINATION_IP (§2.23): a 20-octet SHA-1 hash.
Result<BytesView> parse_nat_detection(const NotifyPayload& n);

// COOKIE (§2.6): 1..64 octets.
Result<BytesView> parse_cookie(const NotifyPayload& n);

// REKEY_SA (§1.3.3): protocol and SPI of the SA being rekeyed, no data.
Payload notify_rekey_sa(ProtocolId protocol, std::uint32_t spi);
// INVALID_SPI / CHILD_SA_NOT_FOUND carry an ESP/AH SPI the same way.
Payload notify_with_spi(NotifyType type, ProtocolId protocol, std::uint32_t spi);
Result<std::uint32_t> parse_child_spi(const NotifyPayload& n);  // SPI field, 4 octets

// UNSUPPORTED_CRITICAL_PAYLOAD (§3.10.1): the payload type, 1 octet.
Payload notify_unsupported_critical(std::uint8_t payload_type);
Result<std::uint8_t> parse_unsupported_critical(const NotifyPayload& n);

// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4): a list of 2-octet identifiers.
Payload notify_signature_hashes(const std::vector<std::uint16_t>& ids);
Result<std::vector<std::uint16_t>> parse_signature_hashes(const NotifyPayload& n);

// IKEV2_MESSAGE_ID_SYNC (RFC 6311 §4.2), 12 octets:
//   Nonce | EXPECTED_SEND_REQ_MESSAGE_ID | EXPECTED_RECV_REQ_MESSAGE_ID
struct MessageIdSync {
    std::uint32_t nonce = 0;
    std::uint32_t expected_send_req = 0;
    std::uint32_t expected_recv_req = 0;
    friend bool operator==(const MessageIdSync&, const MessageIdSync&) = default;
};
Payload notify_message_id_sync(const MessageIdSync& s);
Result<MessageIdSync> parse_message_id_sync(const NotifyPayload& n);

// IPSEC_REPLAY_COUNTER_SYNC (RFC 6311 §5.2): the "incoming IPsec SA delta
// value". The parser accepts 4 or 8 octets (the width that applies with or
// without ESN is fixed by the engine that sends it, issue "RFC 6311").
Payload notify_replay_counter_sync(std::uint64_t delta, std::size_t width);
Result<std::uint64_t> parse_replay_counter_sync(const NotifyPayload& n);

// REDIRECT / REDIRECTED_FROM (RFC 5685 §8-9):
//   GW Ident Type (1) | GW Ident Len (1) | New Responder GW Identity | [Nonce]
// Type 1 IPv4 (4 octets), 2 IPv6 (16), 3 FQDN. The nonce (the initiator's Ni)
// is present only in an IKE_SA_INIT response; REDIRECTED_FROM has none.
struct Redirect {
    std::uint8_t gw_type = 1;
    Bytes gw_identity;
    Bytes nonce;
    friend bool operator==(const Redirect&, const Redirect&) = default;
};
Payload notify_redirect(NotifyType type, const Redirect& r);
Result<Redirect> parse_redirect(const NotifyPayload& n);

// TICKET_LT_OPAQUE (RFC 5723 §4.3.1): Lifetime (4 octets, seconds) | ticket.
struct TicketLifetime {
    std::uint32_t lifetime = 0;
    Bytes ticket;
    friend bool operator==(const TicketLifetime&, const TicketLifetime&) = default;
};
Payload notify_ticket_lt_opaque(const TicketLifetime& t);
Result<TicketLifetime> parse_ticket_lt_opaque(const NotifyPayload& n);

}  // namespace ikecluster::wire
