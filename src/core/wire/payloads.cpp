// Payload bodies other than SA and TS (RFC 7296 §3.4-§3.16, RFC 7383 §2.5),
// and the dispatch from a payload type to its body codec.
#include <type_traits>

#include "base/buffer.h"
#include "wire/codec_internal.h"

namespace ikecluster::wire {

using detail::num;
using detail::truncated;

namespace {

// "ID_IPV4_ADDR" needs 4 octets, "ID_IPV6_ADDR" 16 (§3.5); 0 = any length.
std::size_t fixed_id_size(std::uint8_t id_type) {
    if (id_type == std::uint8_t(IdType::IPV4_ADDR)) return 4;
    if (id_type == std::uint8_t(IdType::IPV6_ADDR)) return 16;
    return 0;
}

// EAP codes (RFC 3748 §4, RFC 6696 §5.3) and whether they carry a Type.
bool eap_code_has_type(std::uint8_t code) {
    return code == 1 || code == 2 || code == 5 || code == 6;
}

Result<PayloadBody> decode_ke(Reader& r) {
    if (r.remaining() < 4) return r.need(4, "KE payload");
    KePayload ke;
    r.u16(ke.dh_group);
    r.skip(2);
    ke.data = to_bytes(r.rest());
    return PayloadBody(std::move(ke));
}

Result<PayloadBody> decode_id(Reader& r, const std::string& name) {
    if (r.remaining() < 4) return r.need(4, name + " payload");
    IdPayload id;
    r.u8(id.id_type);
    r.skip(3);
    const std::size_t data_at = r.offset();
    id.data = to_bytes(r.rest());
    if (std::size_t n = fixed_id_size(id.id_type); n != 0 && id.data.size() != n) {
        return make_error(data_at, name + " payload: ID type " + num(id.id_type) + " needs " +
                                       num(n) + " bytes, has " + num(id.data.size()));
    }
    return PayloadBody(std::move(id));
}

Result<PayloadBody> decode_cert(Reader& r, const std::string& name) {
    if (r.remaining() < 1) return r.need(1, name + " payload");
    CertPayload c;
    r.u8(c.encoding);
    c.data = to_bytes(r.rest());
    return PayloadBody(std::move(c));
}

Result<PayloadBody> decode_auth(Reader& r) {
    if (r.remaining() < 4) return r.need(4, "AUTH payload");
    AuthPayload a;
    r.u8(a.method);
    r.skip(3);
    a.data = to_bytes(r.rest());
    return PayloadBody(std::move(a));
}

Result<PayloadBody> decode_nonce(Reader& r) {
    const std::size_t start = r.offset();
    NoncePayload n;
    n.nonce = to_bytes(r.rest());
    // §3.9: "between 16 and 256 octets, inclusive".
    if (n.nonce.size() < kMinNonceSize || n.nonce.size() > kMaxNonceSize)
        return make_error(start, "Nonce length " + num(n.nonce.size()) + " outside 16..256");
    return PayloadBody(std::move(n));
}

Result<PayloadBody> decode_notify(Reader& r) {
    if (r.remaining() < 4) return r.need(4, "Notify payload");
    NotifyPayload n;
    std::uint8_t proto = 0, spi_size = 0;
    r.u8(proto);
    r.u8(spi_size);
    r.u16(n.type);
    n.protocol = ProtocolId(proto);
    BytesView spi;
    if (!r.bytes(spi_size, spi)) return r.need(spi_size, "Notify SPI");
    n.spi = to_bytes(spi);
    n.data = to_bytes(r.rest());
    return PayloadBody(std::move(n));
}

Result<PayloadBody> decode_delete(Reader& r) {
    const std::size_t start = r.offset();
    if (r.remaining() < 4) return r.need(4, "Delete payload");
    DeletePayload d;
    std::uint8_t proto = 0;
    std::uint16_t count = 0;
    r.u8(proto);
    r.u8(d.spi_size);
    r.u16(count);
    d.protocol = ProtocolId(proto);
    // §3.11: with SPI Size 0 (the IKE SA) the count is 0 too.
    if (d.spi_size == 0 && count != 0)
        return make_error(start + 2, "Delete: " + num(count) + " SPIs of size 0");
    if (std::size_t(count) * d.spi_size != r.remaining()) {
        return make_error(start + 2, "Delete: " + num(count) + " SPIs of " + num(d.spi_size) +
                                         " bytes do not fit the " + num(r.remaining()) +
                                         " bytes that follow");
    }
    d.spis.reserve(count);
    for (unsigned i = 0; i < count; ++i) {
        BytesView s;
        r.bytes(d.spi_size, s);
        d.spis.push_back(to_bytes(s));
    }
    return PayloadBody(std::move(d));
}

Result<PayloadBody> decode_cp(Reader& r) {
    if (r.remaining() < 4) return r.need(4, "CP payload");
    CpPayload cp;
    r.u8(cp.cfg_type);
    r.skip(3);
    while (!r.empty()) {
        const std::size_t start = r.offset();
        if (r.remaining() < 4) return r.need(4, "CP attribute");
        std::uint16_t type = 0, len = 0;
        r.u16(type);
        r.u16(len);
        BytesView v;
        if (!r.bytes(len, v)) {
            return make_error(start + 2, "CP attribute " + num(type & 0x7fff) + " length " +
                                             num(len) + " exceeds the payload (" +
                                             num(r.remaining()) + " bytes left)");
        }
        cp.attributes.push_back(CpAttribute{std::uint16_t(type & 0x7fff), to_bytes(v)});
    }
    return PayloadBody(std::move(cp));
}

Result<PayloadBody> decode_eap(Reader& r) {
    const std::size_t start = r.offset();
    const std::size_t total = r.remaining();
    if (total < 4) return r.need(4, "EAP message");
    EapPayload e;
    std::uint16_t len = 0;
    r.u8(e.code);
    r.u8(e.identifier);
    r.u16(len);
    if (e.code < 1 || e.code > 6)
        return make_error(start, "EAP code " + num(e.code) + " is not 1..6");
    // §3.16 / RFC 3748 §4: the EAP Length covers the whole EAP message, which
    // is the whole payload body.
    if (len != total) {
        return make_error(start + 2,
                          "EAP length " + num(len) + " differs from the payload's " + num(total));
    }
    if (eap_code_has_type(e.code)) {
        std::uint8_t type = 0;
        if (!r.u8(type)) return r.need(1, "EAP Type");
        e.type = type;
    }
    e.data = to_bytes(r.rest());
    return PayloadBody(std::move(e));
}

Result<PayloadBody> decode_skf(Reader& r, std::uint8_t next) {
    const std::size_t start = r.offset();
    if (r.remaining() < 4) return r.need(4, "SKF payload");
    SkfPayload f;
    f.first_inner = next;
    r.u16(f.fragment_number);
    r.u16(f.total_fragments);
    // RFC 7383 §2.5: numbering starts at 1 and never exceeds the total.
    if (f.fragment_number == 0 || f.fragment_number > f.total_fragments) {
        return make_error(
            start, "SKF fragment " + num(f.fragment_number) + " of " + num(f.total_fragments));
    }
    f.body = to_bytes(r.rest());
    return PayloadBody(std::move(f));
}

}  // namespace

namespace detail {

std::string payload_label(std::uint8_t type) {
    if (is_known_payload(type)) return payload_name(type);
    return "payload type " + num(type);
}

Result<PayloadBody> decode_body(std::uint8_t type, std::uint8_t next, BytesView body,
                                std::size_t offset) {
    Reader r(body, offset);
    switch (PayloadType(type)) {
        case PayloadType::SA: {
            auto sa = decode_sa(r);
            if (!sa) return sa.error();
            return PayloadBody(std::move(*sa));
        }
        case PayloadType::KE:
            return decode_ke(r);
        case PayloadType::IDi:
        case PayloadType::IDr:
            return decode_id(r, payload_name(type));
        case PayloadType::CERT:
        case PayloadType::CERTREQ:
            return decode_cert(r, payload_name(type));
        case PayloadType::AUTH:
            return decode_auth(r);
        case PayloadType::NONCE:
            return decode_nonce(r);
        case PayloadType::NOTIFY:
            return decode_notify(r);
        case PayloadType::DELETE:
            return decode_delete(r);
        case PayloadType::VENDOR:
            return PayloadBody(VendorPayload{to_bytes(body)});
        case PayloadType::TSi:
        case PayloadType::TSr: {
            auto ts = decode_ts(r, payload_name(type));
            if (!ts) return ts.error();
            return PayloadBody(std::move(*ts));
        }
        case PayloadType::SK:
            return PayloadBody(SkPayload{next, to_bytes(body)});
        case PayloadType::CP:
            return decode_cp(r);
        case PayloadType::EAP:
            return decode_eap(r);
        case PayloadType::SKF:
            return decode_skf(r, next);
        case PayloadType::NONE:
            break;
    }
    return PayloadBody(UnknownPayload{to_bytes(body)});
}

}  // namespace detail

Payload make_payload(PayloadType type, PayloadBody body) {
    return Payload{type, false, std::move(body)};
}

void encode_body(const Payload& p, Bytes& out) {
    Writer w(out);
    auto type_and_reserved = [&w](std::uint8_t t) {
        w.u8(t);
        w.u8(0);
        w.u16(0);
    };
    std::visit(
        [&](const auto& b) {
            using T = std::decay_t<decltype(b)>;
            if constexpr (std::is_same_v<T, SaPayload>) {
                detail::encode_sa(b, w);
            } else if constexpr (std::is_same_v<T, KePayload>) {
                w.u16(b.dh_group);
                w.u16(0);
                w.bytes(b.data);
            } else if constexpr (std::is_same_v<T, IdPayload>) {
                type_and_reserved(b.id_type);
                w.bytes(b.data);
            } else if constexpr (std::is_same_v<T, CertPayload>) {
                w.u8(b.encoding);
                w.bytes(b.data);
            } else if constexpr (std::is_same_v<T, AuthPayload>) {
                type_and_reserved(b.method);
                w.bytes(b.data);
            } else if constexpr (std::is_same_v<T, NoncePayload>) {
                w.bytes(b.nonce);
            } else if constexpr (std::is_same_v<T, NotifyPayload>) {
                w.u8(std::uint8_t(b.protocol));
                w.u8(std::uint8_t(b.spi.size()));
                w.u16(b.type);
                w.bytes(b.spi);
                w.bytes(b.data);
            } else if constexpr (std::is_same_v<T, DeletePayload>) {
                w.u8(std::uint8_t(b.protocol));
                w.u8(b.spi_size);
                w.u16(std::uint16_t(b.spis.size()));
                for (const Bytes& s : b.spis)
                    w.bytes(s);
            } else if constexpr (std::is_same_v<T, VendorPayload>) {
                w.bytes(b.id);
            } else if constexpr (std::is_same_v<T, TsPayload>) {
                detail::encode_ts(b, w);
            } else if constexpr (std::is_same_v<T, SkPayload>) {
                w.bytes(b.body);
            } else if constexpr (std::is_same_v<T, SkfPayload>) {
                w.u16(b.fragment_number);
                w.u16(b.total_fragments);
                w.bytes(b.body);
            } else if constexpr (std::is_same_v<T, CpPayload>) {
                type_and_reserved(b.cfg_type);
                for (const CpAttribute& a : b.attributes) {
                    w.u16(a.type & 0x7fff);
                    w.u16(std::uint16_t(a.value.size()));
                    w.bytes(a.value);
                }
            } else if constexpr (std::is_same_v<T, EapPayload>) {
                w.u8(b.code);
                w.u8(b.identifier);
                w.u16(std::uint16_t(4 + (b.type ? 1 : 0) + b.data.size()));
                if (b.type) w.u8(*b.type);
                w.bytes(b.data);
            } else {
                static_assert(std::is_same_v<T, UnknownPayload>);
                w.bytes(b.body);
            }
        },
        p.body);
}

}  // namespace ikecluster::wire
