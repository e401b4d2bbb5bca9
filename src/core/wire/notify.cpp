#include "wire/notify.h"

#include "base/buffer.h"

namespace ikecluster::wire {
namespace {

Error bad(const NotifyPayload& n, const std::string& what) {
    const char* name = notify_name(n.type);
    return Error{0, std::string(name ? name : "notify " + std::to_string(n.type)) + ": " + what};
}

Bytes be32(std::uint32_t v) {
    Bytes b(4);
    store_be32(b.data(), v);
    return b;
}

}  // namespace

Payload notify(NotifyType type, Bytes data, ProtocolId protocol, Bytes spi) {
    return make_payload(PayloadType::NOTIFY, NotifyPayload{protocol, std::uint16_t(type),
                                                           std::move(spi), std::move(data)});
}

Payload notify_invalid_ke(std::uint16_t dh_group) {
    Bytes d(2);
    store_be16(d.data(), dh_group);
    return notify(NotifyType::INVALID_KE_PAYLOAD, std::move(d));
}

Result<std::uint16_t> parse_invalid_ke(const NotifyPayload& n) {
    if (n.data.size() != 2)
        return bad(n, "data must be 2 octets, got " + std::to_string(n.data.size()));
    return load_be16(n.data.data());
}

Result<BytesView> parse_nat_detection(const NotifyPayload& n) {
    if (n.data.size() != 20)
        return bad(n, "SHA-1 hash must be 20 octets, got " + std::to_string(n.data.size()));
    return BytesView(n.data);
}

Result<BytesView> parse_cookie(const NotifyPayload& n) {
    if (n.data.empty() || n.data.size() > 64)
        return bad(n, "must be 1..64 octets, got " + std::to_string(n.data.size()));
    return BytesView(n.data);
}

Payload notify_rekey_sa(ProtocolId protocol, std::uint32_t spi) {
    return notify(NotifyType::REKEY_SA, {}, protocol, be32(spi));
}

Payload notify_with_spi(NotifyType type, ProtocolId protocol, std::uint32_t spi) {
    return notify(type, {}, protocol, be32(spi));
}

Result<std::uint32_t> parse_child_spi(const NotifyPayload& n) {
    if (n.spi.size() != 4)
        return bad(n, "SPI must be 4 octets, got " + std::to_string(n.spi.size()));
    return load_be32(n.spi.data());
}

Payload notify_unsupported_critical(std::uint8_t payload_type) {
    return notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, Bytes{payload_type});
}

Result<std::uint8_t> parse_unsupported_critical(const NotifyPayload& n) {
    if (n.data.size() != 1)
        return bad(n, "data must be 1 octet, got " + std::to_string(n.data.size()));
    return n.data[0];
}

Payload notify_signature_hashes(const std::vector<std::uint16_t>& ids) {
    Bytes d;
    Writer w(d);
    for (auto id : ids)
        w.u16(id);
    return notify(NotifyType::SIGNATURE_HASH_ALGORITHMS, std::move(d));
}

Result<std::vector<std::uint16_t>> parse_signature_hashes(const NotifyPayload& n) {
    if (n.data.size() % 2) return bad(n, "odd data length " + std::to_string(n.data.size()));
    std::vector<std::uint16_t> out;
    for (std::size_t i = 0; i < n.data.size(); i += 2)
        out.push_back(load_be16(n.data.data() + i));
    return out;
}

Payload notify_message_id_sync(const MessageIdSync& s) {
    Bytes d;
    Writer w(d);
    w.u32(s.nonce);
    w.u32(s.expected_send_req);
    w.u32(s.expected_recv_req);
    return notify(NotifyType::IKEV2_MESSAGE_ID_SYNC, std::move(d));
}

Result<MessageIdSync> parse_message_id_sync(const NotifyPayload& n) {
    if (n.data.size() != 12)
        return bad(n, "data must be 12 octets, got " + std::to_string(n.data.size()));
    return MessageIdSync{load_be32(n.data.data()), load_be32(n.data.data() + 4),
                         load_be32(n.data.data() + 8)};
}

Payload notify_replay_counter_sync(std::uint64_t delta, std::size_t width) {
    Bytes d(width == 4 ? 4 : 8);
    if (width == 4) {
        store_be32(d.data(), std::uint32_t(delta));
    } else {
        store_be64(d.data(), delta);
    }
    return notify(NotifyType::IPSEC_REPLAY_COUNTER_SYNC, std::move(d));
}

Result<std::uint64_t> parse_replay_counter_sync(const NotifyPayload& n) {
    if (n.data.size() == 4) return std::uint64_t(load_be32(n.data.data()));
    if (n.data.size() == 8) return load_be64(n.data.data());
    return bad(n, "delta must be 4 or 8 octets, got " + std::to_string(n.data.size()));
}

Payload notify_redirect(NotifyType type, const Redirect& r) {
    Bytes d;
    Writer w(d);
    w.u8(r.gw_type);
    w.u8(std::uint8_t(r.gw_identity.size()));
    w.bytes(r.gw_identity);
    w.bytes(r.nonce);
    return notify(type, std::move(d));
}

Result<Redirect> parse_redirect(const NotifyPayload& n) {
    Reader rd(n.data);
    Redirect r;
    std::uint8_t len;
    if (!rd.u8(r.gw_type) || !rd.u8(len)) return bad(n, "shorter than 2 octets");
    BytesView id;
    if (!rd.bytes(len, id))
        return bad(n, "identity length " + std::to_string(len) + " exceeds the data");
    if (r.gw_type == 1 && len != 4) return bad(n, "IPv4 gateway identity must be 4 octets");
    if (r.gw_type == 2 && len != 16) return bad(n, "IPv6 gateway identity must be 16 octets");
    if (r.gw_type < 1 || r.gw_type > 3)
        return bad(n, "unknown gateway identity type " + std::to_string(r.gw_type));
    if (r.gw_type == 3 && len == 0) return bad(n, "empty FQDN");
    r.gw_identity = to_bytes(id);
    r.nonce = to_bytes(rd.rest());
    return r;
}

Payload notify_ticket_lt_opaque(const TicketLifetime& t) {
    Bytes d = be32(t.lifetime);
    d.insert(d.end(), t.ticket.begin(), t.ticket.end());
    return notify(NotifyType::TICKET_LT_OPAQUE, std::move(d));
}

Result<TicketLifetime> parse_ticket_lt_opaque(const NotifyPayload& n) {
    if (n.data.size() < 5) return bad(n, "needs a 4-octet lifetime and a ticket");
    return TicketLifetime{load_be32(n.data.data()), Bytes(n.data.begin() + 4, n.data.end())};
}

const char* notify_name(std::uint16_t type) {
    struct Name {
        NotifyType type;
        const char* name;
    };
    static constexpr Name kNames[] = {
        {NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, "UNSUPPORTED_CRITICAL_PAYLOAD"},
        {NotifyType::INVALID_IKE_SPI, "INVALID_IKE_SPI"},
        {NotifyType::INVALID_MAJOR_VERSION, "INVALID_MAJOR_VERSION"},
        {NotifyType::INVALID_SYNTAX, "INVALID_SYNTAX"},
        {NotifyType::INVALID_SPI, "INVALID_SPI"},
        {NotifyType::NO_PROPOSAL_CHOSEN, "NO_PROPOSAL_CHOSEN"},
        {NotifyType::INVALID_KE_PAYLOAD, "INVALID_KE_PAYLOAD"},
        {NotifyType::AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED"},
        {NotifyType::NO_ADDITIONAL_SAS, "NO_ADDITIONAL_SAS"},
        {NotifyType::INTERNAL_ADDRESS_FAILURE, "INTERNAL_ADDRESS_FAILURE"},
        {NotifyType::FAILED_CP_REQUIRED, "FAILED_CP_REQUIRED"},
        {NotifyType::TS_UNACCEPTABLE, "TS_UNACCEPTABLE"},
        {NotifyType::INVALID_SELECTORS, "INVALID_SELECTORS"},
        {NotifyType::CHILD_SA_NOT_FOUND, "CHILD_SA_NOT_FOUND"},
        {NotifyType::INITIAL_CONTACT, "INITIAL_CONTACT"},
        {NotifyType::SET_WINDOW_SIZE, "SET_WINDOW_SIZE"},
        {NotifyType::ADDITIONAL_TS_POSSIBLE, "ADDITIONAL_TS_POSSIBLE"},
        {NotifyType::IPCOMP_SUPPORTED, "IPCOMP_SUPPORTED"},
        {NotifyType::NAT_DETECTION_SOURCE_IP, "NAT_DETECTION_SOURCE_IP"},
        {NotifyType::NAT_DETECTION_DESTINATION_IP, "NAT_DETECTION_DESTINATION_IP"},
        {NotifyType::USE_TRANSPORT_MODE, "USE_TRANSPORT_MODE"},
        {NotifyType::HTTP_CERT_LOOKUP_SUPPORTED, "HTTP_CERT_LOOKUP_SUPPORTED"},
        {NotifyType::REKEY_SA, "REKEY_SA"},
        {NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED, "ESP_TFC_PADDING_NOT_SUPPORTED"},
        {NotifyType::MOBIKE_SUPPORTED, "MOBIKE_SUPPORTED"},
        {NotifyType::ADDITIONAL_IP4_ADDRESS, "ADDITIONAL_IP4_ADDRESS"},
        {NotifyType::NO_ADDITIONAL_ADDRESSES, "NO_ADDITIONAL_ADDRESSES"},
        {NotifyType::UPDATE_SA_ADDRESSES, "UPDATE_SA_ADDRESSES"},
        {NotifyType::COOKIE2, "COOKIE2"},
        {NotifyType::AUTH_LIFETIME, "AUTH_LIFETIME"},
        {NotifyType::MULTIPLE_AUTH_SUPPORTED, "MULTIPLE_AUTH_SUPPORTED"},
        {NotifyType::REDIRECT_SUPPORTED, "REDIRECT_SUPPORTED"},
        {NotifyType::REDIRECT, "REDIRECT"},
        {NotifyType::REDIRECTED_FROM, "REDIRECTED_FROM"},
        {NotifyType::TICKET_REQUEST, "TICKET_REQUEST"},
        {NotifyType::TICKET_ACK, "TICKET_ACK"},
        {NotifyType::TICKET_NACK, "TICKET_NACK"},
        {NotifyType::EAP_ONLY_AUTHENTICATION, "EAP_ONLY_AUTHENTICATION"},
        {NotifyType::CHILDLESS_IKEV2_SUPPORTED, "CHILDLESS_IKEV2_SUPPORTED"},
        {NotifyType::IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED, "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED"},
        {NotifyType::IKEV2_MESSAGE_ID_SYNC, "IKEV2_MESSAGE_ID_SYNC"},
        {NotifyType::SECURE_PASSWORD_METHODS, "SECURE_PASSWORD_METHODS"},
    };
    for (const Name& n : kNames) {
        if (std::uint16_t(n.type) == type) return n.name;
    }
    return nullptr;
}

}  // namespace ikecluster::wire
