#include "wire/notify.h"

#include <string>

#include "base/buffer.h"
#include "wire/codec_internal.h"

namespace ikecluster::wire {

using detail::num;

namespace {

std::string label(std::uint16_t type) {
    const char* name = notify_name(type);
    return name ? std::string(name) : "notify type " + num(type);
}

Error bad(const NotifyPayload& n, const std::string& what) {
    return make_error(0, label(n.type) + ": " + what);
}

// Fails unless `n` is of one of the expected types.
std::optional<Error> expect_type(const NotifyPayload& n, NotifyType a, NotifyType b) {
    if (n.type == std::uint16_t(a) || n.type == std::uint16_t(b)) return std::nullopt;
    return make_error(0, "expected a " + label(std::uint16_t(a)) + " notify, got " + label(n.type));
}
std::optional<Error> expect_type(const NotifyPayload& n, NotifyType a) {
    return expect_type(n, a, a);
}

Bytes be32(std::uint32_t v) {
    Bytes b(4);
    store_be32(b.data(), v);
    return b;
}

bool is_child_protocol(ProtocolId p) {
    return p == ProtocolId::AH || p == ProtocolId::ESP;
}

}  // namespace

Payload notify(NotifyType type, Bytes data, ProtocolId protocol, Bytes spi) {
    return make_payload(PayloadType::NOTIFY, NotifyPayload{protocol, std::uint16_t(type),
                                                           std::move(spi), std::move(data)});
}

// ---- INVALID_KE_PAYLOAD -------------------------------------------------------

Payload notify_invalid_ke(std::uint16_t dh_group) {
    Bytes d(2);
    store_be16(d.data(), dh_group);
    return notify(NotifyType::INVALID_KE_PAYLOAD, std::move(d));
}

Result<std::uint16_t> parse_invalid_ke(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::INVALID_KE_PAYLOAD)) return *e;
    if (n.data.size() != 2) return bad(n, "data must be 2 octets, got " + num(n.data.size()));
    return load_be16(n.data.data());
}

// ---- NAT_DETECTION_* ------------------------------------------------------------

Result<Payload> notify_nat_detection(NotifyType which, BytesView sha1_hash) {
    if (which != NotifyType::NAT_DETECTION_SOURCE_IP &&
        which != NotifyType::NAT_DETECTION_DESTINATION_IP) {
        return make_error(0, label(std::uint16_t(which)) + " is not a NAT detection notify");
    }
    if (sha1_hash.size() != kNatDetectionHashSize) {
        return make_error(0, label(std::uint16_t(which)) + ": SHA-1 hash must be 20 octets, got " +
                                 num(sha1_hash.size()));
    }
    return notify(which, to_bytes(sha1_hash));
}

Result<BytesView> parse_nat_detection(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::NAT_DETECTION_SOURCE_IP,
                             NotifyType::NAT_DETECTION_DESTINATION_IP))
        return *e;
    if (n.data.size() != kNatDetectionHashSize)
        return bad(n, "SHA-1 hash must be 20 octets, got " + num(n.data.size()));
    return BytesView(n.data);
}

// ---- COOKIE ---------------------------------------------------------------------

Result<Payload> notify_cookie(BytesView cookie) {
    if (cookie.empty() || cookie.size() > kMaxCookieSize)
        return make_error(0, "COOKIE: must be 1..64 octets, got " + num(cookie.size()));
    return notify(NotifyType::COOKIE, to_bytes(cookie));
}

Result<BytesView> parse_cookie(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::COOKIE)) return *e;
    if (n.data.empty() || n.data.size() > kMaxCookieSize)
        return bad(n, "must be 1..64 octets, got " + num(n.data.size()));
    return BytesView(n.data);
}

// ---- SPI-carrying notifies ------------------------------------------------------

Payload notify_with_spi(NotifyType type, ProtocolId protocol, std::uint32_t spi) {
    return notify(type, {}, protocol, be32(spi));
}

Payload notify_rekey_sa(ProtocolId protocol, std::uint32_t spi) {
    return notify_with_spi(NotifyType::REKEY_SA, protocol, spi);
}

Payload notify_child_sa_not_found(ProtocolId protocol, std::uint32_t spi) {
    return notify_with_spi(NotifyType::CHILD_SA_NOT_FOUND, protocol, spi);
}

Result<std::uint32_t> parse_child_spi(const NotifyPayload& n) {
    if (n.spi.size() != 4) return bad(n, "SPI must be 4 octets, got " + num(n.spi.size()));
    return load_be32(n.spi.data());
}

Result<ChildSpi> parse_child_sa_ref(const NotifyPayload& n) {
    auto spi = parse_child_spi(n);
    if (!spi) return spi.error();
    if (!is_child_protocol(n.protocol))
        return bad(n, "protocol " + num(std::uint8_t(n.protocol)) + " is not AH (2) or ESP (3)");
    return ChildSpi{n.protocol, *spi};
}

Payload notify_invalid_spi(std::uint32_t spi) {
    return notify(NotifyType::INVALID_SPI, be32(spi));
}

Result<std::uint32_t> parse_invalid_spi(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::INVALID_SPI)) return *e;
    if (n.data.size() == 4) return load_be32(n.data.data());
    if (n.data.empty() && n.spi.size() == 4) return load_be32(n.spi.data());
    return bad(n, "needs a 4-octet SPI in the data, got " + num(n.data.size()) + " octets");
}

// ---- UNSUPPORTED_CRITICAL_PAYLOAD ------------------------------------------------

Payload notify_unsupported_critical(std::uint8_t payload_type) {
    return notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, Bytes{payload_type});
}

Result<std::uint8_t> parse_unsupported_critical(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD)) return *e;
    if (n.data.size() != 1) return bad(n, "data must be 1 octet, got " + num(n.data.size()));
    return n.data[0];
}

// ---- SIGNATURE_HASH_ALGORITHMS ----------------------------------------------------

Payload notify_signature_hashes(const std::vector<std::uint16_t>& ids) {
    Bytes d;
    Writer w(d);
    for (std::uint16_t id : ids)
        w.u16(id);
    return notify(NotifyType::SIGNATURE_HASH_ALGORITHMS, std::move(d));
}

Result<std::vector<std::uint16_t>> parse_signature_hashes(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::SIGNATURE_HASH_ALGORITHMS)) return *e;
    if (n.data.size() % 2 != 0)
        return bad(n, "data length " + num(n.data.size()) + " is not a multiple of 2");
    std::vector<std::uint16_t> out;
    out.reserve(n.data.size() / 2);
    for (std::size_t i = 0; i < n.data.size(); i += 2)
        out.push_back(load_be16(n.data.data() + i));
    return out;
}

// ---- RFC 6311 -------------------------------------------------------------------

Payload notify_message_id_sync(const MessageIdSync& s) {
    Bytes d;
    Writer w(d);
    w.u32(s.nonce);
    w.u32(s.expected_send_req);
    w.u32(s.expected_recv_req);
    return notify(NotifyType::IKEV2_MESSAGE_ID_SYNC, std::move(d));
}

Result<MessageIdSync> parse_message_id_sync(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::IKEV2_MESSAGE_ID_SYNC)) return *e;
    if (n.data.size() != 12) return bad(n, "data must be 12 octets, got " + num(n.data.size()));
    return MessageIdSync{load_be32(n.data.data()), load_be32(n.data.data() + 4),
                         load_be32(n.data.data() + 8)};
}

Result<Payload> notify_replay_counter_sync(const ReplayCounterSync& s) {
    if (s.esn) {
        Bytes d(8);
        store_be64(d.data(), s.delta);
        return notify(NotifyType::IPSEC_REPLAY_COUNTER_SYNC, std::move(d));
    }
    if (s.delta > 0xffffffffu) {
        return make_error(0, "IPSEC_REPLAY_COUNTER_SYNC: delta " + num(s.delta) +
                                 " does not fit 32-bit sequence numbers");
    }
    return notify(NotifyType::IPSEC_REPLAY_COUNTER_SYNC, be32(std::uint32_t(s.delta)));
}

Result<ReplayCounterSync> parse_replay_counter_sync(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::IPSEC_REPLAY_COUNTER_SYNC)) return *e;
    if (n.data.size() == 4) return ReplayCounterSync{load_be32(n.data.data()), false};
    if (n.data.size() == 8) return ReplayCounterSync{load_be64(n.data.data()), true};
    return bad(n, "delta must be 4 (32-bit SN) or 8 (ESN) octets, got " + num(n.data.size()));
}

// ---- RFC 5685 -------------------------------------------------------------------

namespace {

// Checks a gateway identity and nonce; `what` prefixes the message.
std::optional<std::string> check_redirect(NotifyType type, const Redirect& r) {
    switch (GatewayIdType(r.gw_type)) {
        case GatewayIdType::IPV4:
            if (r.gw_identity.size() != 4)
                return "IPv4 gateway identity must be 4 octets, got " + num(r.gw_identity.size());
            break;
        case GatewayIdType::IPV6:
            if (r.gw_identity.size() != 16)
                return "IPv6 gateway identity must be 16 octets, got " + num(r.gw_identity.size());
            break;
        case GatewayIdType::FQDN:
            if (r.gw_identity.empty() || r.gw_identity.size() > 255)
                return "FQDN gateway identity must be 1..255 octets, got " +
                       num(r.gw_identity.size());
            break;
        default:
            return "unknown gateway identity type " + num(r.gw_type);
    }
    if (type == NotifyType::REDIRECTED_FROM && !r.nonce.empty())
        return num(r.nonce.size()) + " octets after the gateway identity (no nonce allowed)";
    if (!r.nonce.empty() && (r.nonce.size() < kMinNonceSize || r.nonce.size() > kMaxNonceSize))
        return "nonce length " + num(r.nonce.size()) + " outside 16..256";
    return std::nullopt;
}

}  // namespace

Result<Payload> notify_redirect(NotifyType type, const Redirect& r) {
    if (type != NotifyType::REDIRECT && type != NotifyType::REDIRECTED_FROM)
        return make_error(0, label(std::uint16_t(type)) + " is not REDIRECT or REDIRECTED_FROM");
    if (auto why = check_redirect(type, r))
        return make_error(0, label(std::uint16_t(type)) + ": " + *why);
    Bytes d;
    Writer w(d);
    w.u8(r.gw_type);
    w.u8(std::uint8_t(r.gw_identity.size()));
    w.bytes(r.gw_identity);
    w.bytes(r.nonce);
    return notify(type, std::move(d));
}

Result<Redirect> parse_redirect(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::REDIRECT, NotifyType::REDIRECTED_FROM)) return *e;
    Reader rd(n.data);
    Redirect r;
    std::uint8_t len = 0;
    if (!rd.u8(r.gw_type) || !rd.u8(len))
        return bad(n, "data of " + num(n.data.size()) + " octets, need at least 2");
    BytesView id;
    if (!rd.bytes(len, id)) {
        return bad(n, "gateway identity length " + num(len) + " exceeds the " +
                          num(n.data.size() - 2) + " octets that follow");
    }
    r.gw_identity = to_bytes(id);
    r.nonce = to_bytes(rd.rest());
    if (auto why = check_redirect(n.notify_type(), r)) return bad(n, *why);
    return r;
}

// ---- RFC 5723 -------------------------------------------------------------------

Payload notify_ticket_lt_opaque(const TicketLifetime& t) {
    Bytes d = be32(t.lifetime);
    d.insert(d.end(), t.ticket.begin(), t.ticket.end());
    return notify(NotifyType::TICKET_LT_OPAQUE, std::move(d));
}

Result<TicketLifetime> parse_ticket_lt_opaque(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::TICKET_LT_OPAQUE)) return *e;
    if (n.data.size() < 5) {
        return bad(n,
                   "needs a 4-octet lifetime and a ticket, got " + num(n.data.size()) + " octets");
    }
    return TicketLifetime{load_be32(n.data.data()), Bytes(n.data.begin() + 4, n.data.end())};
}

Payload notify_ticket_opaque(Bytes ticket) {
    return notify(NotifyType::TICKET_OPAQUE, std::move(ticket));
}

Result<BytesView> parse_ticket_opaque(const NotifyPayload& n) {
    if (auto e = expect_type(n, NotifyType::TICKET_OPAQUE)) return *e;
    if (n.data.empty()) return bad(n, "empty ticket");
    return BytesView(n.data);
}

}  // namespace ikecluster::wire
