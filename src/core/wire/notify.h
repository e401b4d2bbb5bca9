// Typed access to the Notify payloads ikecluster uses (RFC 7296 §3.10.1 and
// the HA, redirect and resumption RFCs). Builders return a ready Payload
// (Result<Payload> where the input can be out of range); parsers check the
// notify type and the data layout and return Result. Parser errors carry
// offset 0 and name the notify: "INVALID_KE_PAYLOAD: data must be 2 octets,
// got 1". What to do with a malformed notify is the engine's call (usually
// ignore a bad status notify, treat a bad error notify as INVALID_SYNTAX).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "wire/payloads.h"

namespace ikecluster::wire {

// Any notify: protocol NONE and no SPI unless given. This is all the
// empty-data status notifies need (INITIAL_CONTACT, USE_TRANSPORT_MODE,
// ESP_TFC_PADDING_NOT_SUPPORTED, NON_FIRST_FRAGMENTS_ALSO, the *_SUPPORTED
// ones, TICKET_REQUEST, TICKET_ACK, TICKET_NACK, ...).
Payload notify(NotifyType type, Bytes data = {}, ProtocolId protocol = ProtocolId::NONE,
               Bytes spi = {});

// INVALID_KE_PAYLOAD (§1.2, §3.10.1): the accepted DH group, 2 octets.
Payload notify_invalid_ke(std::uint16_t dh_group);
Result<std::uint16_t> parse_invalid_ke(const NotifyPayload& n);

// NAT_DETECTION_SOURCE_IP / _DESTINATION_IP (§2.23): a 20-octet SHA-1 hash
// (computed by crypto). Errors: a hash of any other size; another type.
inline constexpr std::size_t kNatDetectionHashSize = 20;
Result<Payload> notify_nat_detection(NotifyType which, BytesView sha1_hash);
Result<BytesView> parse_nat_detection(const NotifyPayload& n);

// COOKIE (§2.6): 1..64 octets.
inline constexpr std::size_t kMaxCookieSize = 64;
Result<Payload> notify_cookie(BytesView cookie);
Result<BytesView> parse_cookie(const NotifyPayload& n);

// A Child SA named by protocol (AH/ESP) and 4-octet SPI.
struct ChildSpi {
    ProtocolId protocol = ProtocolId::ESP;
    std::uint32_t spi = 0;
    friend bool operator==(const ChildSpi&, const ChildSpi&) = default;
};

// REKEY_SA (§1.3.3), CHILD_SA_NOT_FOUND (§2.25) and INVALID_SELECTORS carry
// the SA in the Protocol ID and SPI fields (§3.10: "the SPI is included only
// with INVALID_SELECTORS, REKEY_SA, and CHILD_SA_NOT_FOUND").
Payload notify_with_spi(NotifyType type, ProtocolId protocol, std::uint32_t spi);
Payload notify_rekey_sa(ProtocolId protocol, std::uint32_t spi);
Payload notify_child_sa_not_found(ProtocolId protocol, std::uint32_t spi);
// Errors: SPI field not 4 octets; protocol not AH or ESP.
Result<ChildSpi> parse_child_sa_ref(const NotifyPayload& n);
// The SPI field alone (4 octets), any type.
Result<std::uint32_t> parse_child_spi(const NotifyPayload& n);

// INVALID_SPI (§3.10.1): the SPI of the ESP/AH packet that had no SA, in the
// Notification Data (not in the SPI field, per §3.10). The parser also
// accepts it in the SPI field, where some peers put it.
Payload notify_invalid_spi(std::uint32_t spi);
Result<std::uint32_t> parse_invalid_spi(const NotifyPayload& n);

// UNSUPPORTED_CRITICAL_PAYLOAD (§3.10.1): the payload type, 1 octet.
Payload notify_unsupported_critical(std::uint8_t payload_type);
Result<std::uint8_t> parse_unsupported_critical(const NotifyPayload& n);

// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4): a list of 2-octet identifiers.
Payload notify_signature_hashes(const std::vector<std::uint16_t>& ids);
Result<std::vector<std::uint16_t>> parse_signature_hashes(const NotifyPayload& n);

// IKEV2_MESSAGE_ID_SYNC (RFC 6311 §5.1), exactly 12 octets:
//   Nonce Data (4) | EXPECTED_SEND_REQ_MESSAGE_ID (4) |
//   EXPECTED_RECV_REQ_MESSAGE_ID (4)
struct MessageIdSync {
    std::uint32_t nonce = 0;
    std::uint32_t expected_send_req = 0;
    std::uint32_t expected_recv_req = 0;
    friend bool operator==(const MessageIdSync&, const MessageIdSync&) = default;
};
Payload notify_message_id_sync(const MessageIdSync& s);
Result<MessageIdSync> parse_message_id_sync(const NotifyPayload& n);

// IPSEC_REPLAY_COUNTER_SYNC (RFC 6311 §5.2): the "Incoming IPsec SA delta
// value" the peer adds to the outbound counters of all its Child SAs towards
// the sender. Its width follows the sequence-number size: 4 octets when the
// Child SAs use 32-bit sequence numbers, 8 octets with ESN. RFC 6311 requires
// that either all Child SAs use ESN or none does, so one width fits all; the
// engine must check `esn` against its SAs.
struct ReplayCounterSync {
    std::uint64_t delta = 0;
    bool esn = false;  // 8-octet field
    friend bool operator==(const ReplayCounterSync&, const ReplayCounterSync&) = default;
};
// Errors: !esn with a delta above 2^32-1.
Result<Payload> notify_replay_counter_sync(const ReplayCounterSync& s);
Result<ReplayCounterSync> parse_replay_counter_sync(const NotifyPayload& n);

// REDIRECT / REDIRECTED_FROM (RFC 5685 §8-9):
//   GW Ident Type (1) | GW Ident Len (1) | New Responder GW Identity | [Nonce]
// Type 1 IPv4 (4 octets), 2 IPv6 (16), 3 FQDN (1..255). The nonce (the
// initiator's Ni, 16..256 octets) rides only in a REDIRECT answering
// IKE_SA_INIT; REDIRECTED_FROM never has one.
enum class GatewayIdType : std::uint8_t { IPV4 = 1, IPV6 = 2, FQDN = 3 };
struct Redirect {
    std::uint8_t gw_type = std::uint8_t(GatewayIdType::IPV4);
    Bytes gw_identity;
    Bytes nonce;  // empty when absent
    friend bool operator==(const Redirect&, const Redirect&) = default;
};
// Errors: type not REDIRECT/REDIRECTED_FROM, bad identity type or length,
// nonce out of range or present in REDIRECTED_FROM.
Result<Payload> notify_redirect(NotifyType type, const Redirect& r);
Result<Redirect> parse_redirect(const NotifyPayload& n);

// TICKET_LT_OPAQUE (RFC 5723 §4.3.1): Lifetime (4 octets, seconds) | ticket
// (at least one octet).
struct TicketLifetime {
    std::uint32_t lifetime = 0;
    Bytes ticket;
    friend bool operator==(const TicketLifetime&, const TicketLifetime&) = default;
};
Payload notify_ticket_lt_opaque(const TicketLifetime& t);
Result<TicketLifetime> parse_ticket_lt_opaque(const NotifyPayload& n);

// TICKET_OPAQUE (RFC 5723 §4.3.2 / §5): the ticket alone, at least one octet.
Payload notify_ticket_opaque(Bytes ticket);
Result<BytesView> parse_ticket_opaque(const NotifyPayload& n);

}  // namespace ikecluster::wire
