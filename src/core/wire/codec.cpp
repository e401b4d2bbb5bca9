// Payload and message encoding/decoding. Every length is checked before it is
// used (all reads go through base::Reader); errors carry the absolute offset.
#include <algorithm>
#include <string>

#include "base/buffer.h"
#include "wire/message.h"

namespace ikecluster::wire {
namespace {

std::string n2s(std::size_t n) {
    return std::to_string(n);
}

Error at(std::size_t offset, std::string what) {
    return Error{offset, std::move(what)};
}

bool known_payload(std::uint8_t t) {
    return (t >= 33 && t <= 48) || t == 53;
}

// ---- SA ----------------------------------------------------------------------

Result<Attribute> decode_attribute(Reader& r) {
    std::size_t start = r.offset();
    std::uint16_t type_af, len_or_value;
    if (r.remaining() < 4) return r.need(4, "transform attribute");
    r.u16(type_af), r.u16(len_or_value);
    Attribute a;
    a.type = type_af & 0x7fff;
    a.tv = type_af & 0x8000;
    if (a.tv) {
        a.tv_value = len_or_value;
        return a;
    }
    BytesView v;
    if (!r.bytes(len_or_value, v)) {
        return at(start, "transform attribute length " + n2s(len_or_value) +
                             " exceeds the transform (" + n2s(r.remaining()) + " bytes left)");
    }
    a.value = to_bytes(v);
    return a;
}

Result<Transform> decode_transform(Reader& r, bool& last) {
    std::size_t start = r.offset();
    std::uint8_t marker, reserved, type, reserved2;
    std::uint16_t len, id;
    if (r.remaining() < 8) return r.need(8, "Transform substructure");
    if (!r.u8(marker) || !r.u8(reserved) || !r.u16(len) || !r.u8(type) || !r.u8(reserved2) ||
        !r.u16(id)) {
        return Reader(BytesView{}, start).need(8, "Transform substructure");
    }
    if (marker != 0 && marker != 3)
        return at(start, "Transform: last-substructure value " + n2s(marker) + ", expected 0 or 3");
    last = marker == 0;
    if (len < 8) return at(start + 2, "Transform length " + n2s(len) + " < 8");
    BytesView attrs;
    if (!r.bytes(len - 8, attrs)) {
        return at(start + 2, "Transform length " + n2s(len) + " exceeds the proposal (" +
                                 n2s(r.remaining() + 8) + " bytes left)");
    }
    Transform t;
    t.type = TransformType(type);
    t.id = id;
    Reader ar(attrs, start + 8);
    while (!ar.empty()) {
        auto a = decode_attribute(ar);
        if (!a) return a.error();
        t.attributes.push_back(std::move(*a));
    }
    return t;
}

Result<Proposal> decode_proposal(Reader& r, bool& last) {
    std::size_t start = r.offset();
    std::uint8_t marker, reserved, num, proto, spi_size, n_transforms;
    std::uint16_t len;
    if (r.remaining() < 8) return r.need(8, "Proposal substructure");
    if (!r.u8(marker) || !r.u8(reserved) || !r.u16(len) || !r.u8(num) || !r.u8(proto) ||
        !r.u8(spi_size) || !r.u8(n_transforms)) {
        return Reader(BytesView{}, start).need(8, "Proposal substructure");
    }
    if (marker != 0 && marker != 2)
        return at(start, "Proposal: last-substructure value " + n2s(marker) + ", expected 0 or 2");
    last = marker == 0;
    if (len < 8) return at(start + 2, "Proposal length " + n2s(len) + " < 8");
    BytesView body;
    if (!r.bytes(len - 8, body)) {
        return at(start + 2, "Proposal length " + n2s(len) + " exceeds the SA payload (" +
                                 n2s(r.remaining() + 8) + " bytes left)");
    }
    Proposal p;
    p.number = num;
    p.protocol = ProtocolId(proto);
    Reader pr(body, start + 8);
    BytesView spi;
    if (!pr.bytes(spi_size, spi)) return pr.need(spi_size, "Proposal SPI");
    p.spi = to_bytes(spi);
    bool tlast = false;
    for (unsigned i = 0; i < n_transforms; ++i) {
        if (pr.empty()) {
            return at(pr.offset(), "Proposal " + n2s(num) + " announces " + n2s(n_transforms) +
                                       " transforms but holds " + n2s(i));
        }
        auto t = decode_transform(pr, tlast);
        if (!t) return t.error();
        p.transforms.push_back(std::move(*t));
        if (tlast != (i + 1 == n_transforms)) {
            return at(pr.offset(),
                      "Proposal " + n2s(num) +
                          ": last-substructure marker disagrees with the transform count");
        }
    }
    if (!pr.empty()) {
        return at(pr.offset(), "Proposal " + n2s(num) + ": " + n2s(pr.remaining()) +
                                   " bytes after its " + n2s(n_transforms) + " transforms");
    }
    return p;
}

Result<SaPayload> decode_sa(Reader& r) {
    SaPayload sa;
    bool last = false;
    while (!r.empty()) {
        if (last) return at(r.offset(), "SA payload: data after the last proposal");
        auto p = decode_proposal(r, last);
        if (!p) return p.error();
        sa.proposals.push_back(std::move(*p));
    }
    if (sa.proposals.empty()) return at(r.offset(), "SA payload without proposals");
    if (!last) return at(r.offset(), "SA payload: the last proposal is not marked last");
    return sa;
}

void encode_sa(const SaPayload& sa, Writer& w) {
    for (std::size_t i = 0; i < sa.proposals.size(); ++i) {
        const Proposal& p = sa.proposals[i];
        std::size_t start = w.size();
        w.u8(i + 1 == sa.proposals.size() ? 0 : 2);
        w.u8(0);
        w.u16(0);
        w.u8(p.number);
        w.u8(std::uint8_t(p.protocol));
        w.u8(std::uint8_t(p.spi.size()));
        w.u8(std::uint8_t(p.transforms.size()));
        w.bytes(p.spi);
        for (std::size_t j = 0; j < p.transforms.size(); ++j) {
            const Transform& t = p.transforms[j];
            std::size_t ts = w.size();
            w.u8(j + 1 == p.transforms.size() ? 0 : 3);
            w.u8(0);
            w.u16(0);
            w.u8(std::uint8_t(t.type));
            w.u8(0);
            w.u16(t.id);
            for (const Attribute& a : t.attributes) {
                w.u16(std::uint16_t((a.tv ? 0x8000 : 0) | (a.type & 0x7fff)));
                if (a.tv) {
                    w.u16(a.tv_value);
                } else {
                    w.u16(std::uint16_t(a.value.size()));
                    w.bytes(a.value);
                }
            }
            w.put_u16_at(ts + 2, std::uint16_t(w.size() - ts));
        }
        w.put_u16_at(start + 2, std::uint16_t(w.size() - start));
    }
}

// ---- simple bodies --------------------------------------------------------------

// type byte + 3 reserved, then data (ID, AUTH, CP header share this shape).
bool read_type_and_reserved(Reader& r, std::uint8_t& type) {
    return r.u8(type) && r.skip(3);
}

std::size_t id_size(std::uint8_t id_type) {
    if (id_type == 1) return 4;   // ID_IPV4_ADDR
    if (id_type == 5) return 16;  // ID_IPV6_ADDR
    return 0;
}

Result<TsPayload> decode_ts(Reader& r, const char* name) {
    std::uint8_t count;
    if (!r.u8(count) || !r.skip(3)) return r.need(4, std::string(name) + " payload header");
    TsPayload ts;
    for (unsigned i = 0; i < count; ++i) {
        std::size_t start = r.offset();
        std::uint8_t type, proto;
        std::uint16_t len;
        if (r.remaining() < 4) return r.need(4, "traffic selector");
        if (!r.u8(type) || !r.u8(proto) || !r.u16(len))
            return Reader(BytesView{}, start).need(4, "traffic selector");
        TsEntry e;
        e.ip_proto = proto;
        std::size_t alen;
        if (type == 7) {
            alen = 4;
        } else if (type == 8) {
            alen = 16;
        } else {
            return at(start,
                      std::string(name) + ": unsupported traffic selector type " + n2s(type));
        }
        e.type = TsType(type);
        if (len != 8 + 2 * alen) {
            return at(start + 2, std::string(name) + ": selector length " + n2s(len) + ", type " +
                                     n2s(type) + " needs " + n2s(8 + 2 * alen));
        }
        BytesView a, b;
        if (!r.u16(e.start_port) || !r.u16(e.end_port) || !r.bytes(alen, a) || !r.bytes(alen, b)) {
            return at(start, "truncated traffic selector: need " + n2s(len) + " bytes");
        }
        e.start_addr = to_bytes(a);
        e.end_addr = to_bytes(b);
        ts.selectors.push_back(std::move(e));
    }
    if (!r.empty())
        return at(r.offset(), std::string(name) + ": " + n2s(r.remaining()) + " bytes after " +
                                  n2s(count) + " selectors");
    return ts;
}

Result<EapPayload> decode_eap(Reader& r) {
    std::size_t start = r.offset();
    std::size_t total = r.remaining();
    EapPayload e;
    std::uint16_t len;
    if (!r.u8(e.code) || !r.u8(e.identifier) || !r.u16(len)) return r.need(4, "EAP message");
    if (len != total)
        return at(start + 2,
                  "EAP length " + n2s(len) + " differs from the payload's " + n2s(total));
    if (e.code == 1 || e.code == 2) {
        std::uint8_t type;
        if (!r.u8(type)) return r.need(1, "EAP type");
        e.type = type;
    } else if (e.code != 3 && e.code != 4) {
        return at(start, "EAP code " + n2s(e.code) + " is not 1..4");
    }
    e.data = to_bytes(r.rest());
    return e;
}

Result<PayloadBody> decode_body(std::uint8_t type, Reader& r) {
    std::size_t start = r.offset();
    switch (PayloadType(type)) {
        case PayloadType::SA: {
            auto sa = decode_sa(r);
            if (!sa) return sa.error();
            return PayloadBody(std::move(*sa));
        }
        case PayloadType::KE: {
            KePayload ke;
            if (!r.u16(ke.dh_group) || !r.skip(2)) return r.need(4, "KE payload");
            ke.data = to_bytes(r.rest());
            return PayloadBody(std::move(ke));
        }
        case PayloadType::IDi:
        case PayloadType::IDr: {
            IdPayload id;
            if (!read_type_and_reserved(r, id.id_type)) return r.need(4, "ID payload");
            id.data = to_bytes(r.rest());
            if (std::size_t n = id_size(id.id_type); n && id.data.size() != n) {
                return at(start + 4, "ID type " + n2s(id.id_type) + " needs " + n2s(n) +
                                         " bytes, has " + n2s(id.data.size()));
            }
            return PayloadBody(std::move(id));
        }
        case PayloadType::CERT:
        case PayloadType::CERTREQ: {
            CertPayload c;
            if (!r.u8(c.encoding)) return r.need(1, "certificate payload");
            c.data = to_bytes(r.rest());
            return PayloadBody(std::move(c));
        }
        case PayloadType::AUTH: {
            AuthPayload a;
            if (!read_type_and_reserved(r, a.method)) return r.need(4, "AUTH payload");
            a.data = to_bytes(r.rest());
            return PayloadBody(std::move(a));
        }
        case PayloadType::NONCE: {
            NoncePayload n;
            n.nonce = to_bytes(r.rest());
            // §3.9: "between 16 and 256 octets, inclusive"
            if (n.nonce.size() < 16 || n.nonce.size() > 256) {
                return at(start, "Nonce length " + n2s(n.nonce.size()) + " outside 16..256");
            }
            return PayloadBody(std::move(n));
        }
        case PayloadType::NOTIFY: {
            NotifyPayload n;
            std::uint8_t proto, spi_size;
            if (!r.u8(proto) || !r.u8(spi_size) || !r.u16(n.type))
                return r.need(4, "Notify payload");
            n.protocol = ProtocolId(proto);
            BytesView spi;
            if (!r.bytes(spi_size, spi)) return r.need(spi_size, "Notify SPI");
            n.spi = to_bytes(spi);
            n.data = to_bytes(r.rest());
            return PayloadBody(std::move(n));
        }
        case PayloadType::DELETE: {
            DeletePayload d;
            std::uint8_t proto;
            std::uint16_t count;
            if (!r.u8(proto) || !r.u8(d.spi_size) || !r.u16(count))
                return r.need(4, "Delete payload");
            d.protocol = ProtocolId(proto);
            if (std::size_t(count) * d.spi_size != r.remaining()) {
                return at(start + 2, "Delete: " + n2s(count) + " SPIs of " + n2s(d.spi_size) +
                                         " bytes do not fit the " + n2s(r.remaining()) +
                                         " bytes that follow");
            }
            for (unsigned i = 0; i < count; ++i) {
                BytesView s;
                r.bytes(d.spi_size, s);
                d.spis.push_back(to_bytes(s));
            }
            return PayloadBody(std::move(d));
        }
        case PayloadType::VENDOR:
            return PayloadBody(VendorPayload{to_bytes(r.rest())});
        case PayloadType::TSi:
        case PayloadType::TSr: {
            auto ts = decode_ts(r, type == 44 ? "TSi" : "TSr");
            if (!ts) return ts.error();
            return PayloadBody(std::move(*ts));
        }
        case PayloadType::CP: {
            CpPayload cp;
            if (!read_type_and_reserved(r, cp.cfg_type)) return r.need(4, "CP payload");
            while (!r.empty()) {
                std::size_t as = r.offset();
                std::uint16_t t, len;
                if (r.remaining() < 4) return r.need(4, "CP attribute");
                if (!r.u16(t) || !r.u16(len))
                    return Reader(BytesView{}, as).need(4, "CP attribute");
                BytesView v;
                if (!r.bytes(len, v))
                    return at(as + 2, "CP attribute length " + n2s(len) + " exceeds the payload");
                cp.attributes.push_back(CpAttribute{std::uint16_t(t & 0x7fff), to_bytes(v)});
            }
            return PayloadBody(std::move(cp));
        }
        case PayloadType::EAP: {
            auto e = decode_eap(r);
            if (!e) return e.error();
            return PayloadBody(std::move(*e));
        }
        case PayloadType::SKF: {
            SkfPayload f;
            if (!r.u16(f.fragment_number) || !r.u16(f.total_fragments))
                return r.need(4, "SKF payload");
            // RFC 7383 §2.5: numbering starts at 1 and never exceeds the total.
            if (f.fragment_number == 0 || f.fragment_number > f.total_fragments) {
                return at(start, "SKF fragment " + n2s(f.fragment_number) + " of " +
                                     n2s(f.total_fragments));
            }
            f.body = to_bytes(r.rest());
            return PayloadBody(std::move(f));
        }
        default:
            return PayloadBody(UnknownPayload{to_bytes(r.rest())});
    }
}

void write_type_and_reserved(Writer& w, std::uint8_t t) {
    w.u8(t);
    w.u8(0);
    w.u16(0);
}

// Walks a payload chain starting with `first`; stops after SK/SKF.
Result<std::vector<Payload>> decode_chain(std::uint8_t first, Reader& r, bool allow_sk) {
    std::vector<Payload> out;
    std::uint8_t next = first;
    while (next != 0) {
        std::size_t start = r.offset();
        std::uint8_t np, flags;
        std::uint16_t len;
        if (r.remaining() < kGenericHeaderSize) {
            return r.need(kGenericHeaderSize, std::string(payload_name(next)) + " payload header");
        }
        if (!r.u8(np) || !r.u8(flags) || !r.u16(len)) {
            return Reader(BytesView{}, start)
                .need(4, std::string(payload_name(next)) + " payload header");
        }
        if (len < kGenericHeaderSize) {
            return at(start + 2,
                      std::string(payload_name(next)) + " payload length " + n2s(len) + " < 4");
        }
        BytesView body;
        if (!r.bytes(len - kGenericHeaderSize, body)) {
            return at(start + 2, std::string(payload_name(next)) + " payload length " + n2s(len) +
                                     " exceeds the message (" +
                                     n2s(r.remaining() + kGenericHeaderSize) + " bytes left)");
        }
        Payload p;
        p.type = PayloadType(next);
        p.critical = flags & 0x80;
        bool encrypted =
            next == std::uint8_t(PayloadType::SK) || next == std::uint8_t(PayloadType::SKF);
        if (encrypted) {
            if (!allow_sk)
                return at(start,
                          std::string(payload_name(next)) + " payload inside an encrypted payload");
            Reader br(body, start + kGenericHeaderSize);
            if (next == std::uint8_t(PayloadType::SK)) {
                p.body = SkPayload{np, to_bytes(body)};
            } else {
                auto b = decode_body(next, br);
                if (!b) return b.error();
                std::get<SkfPayload>(*b).first_inner = np;
                p.body = std::move(*b);
            }
            out.push_back(std::move(p));
            // §3.14: the Encrypted payload is the last one; its Next Payload
            // field names the first inner payload, not a following one.
            if (!r.empty()) {
                return at(r.offset(), std::string(payload_name(next)) +
                                          " payload is not the last payload (" +
                                          n2s(r.remaining()) + " bytes follow)");
            }
            return out;
        }
        Reader br(body, start + kGenericHeaderSize);
        auto b = known_payload(next)
                     ? decode_body(next, br)
                     : Result<PayloadBody>(PayloadBody(UnknownPayload{to_bytes(body)}));
        if (!b) return b.error();
        p.body = std::move(*b);
        out.push_back(std::move(p));
        next = np;
    }
    if (!r.empty()) return at(r.offset(), n2s(r.remaining()) + " bytes after the last payload");
    return out;
}

}  // namespace

std::optional<std::uint16_t> Transform::key_length() const {
    for (const Attribute& a : attributes) {
        if (a.type == kAttrKeyLength && a.tv) return a.tv_value;
    }
    return std::nullopt;
}

Payload make_payload(PayloadType type, PayloadBody body) {
    return Payload{type, false, std::move(body)};
}

const Payload* Message::find(PayloadType type) const {
    for (const Payload& p : payloads) {
        if (p.type == type) return &p;
    }
    return nullptr;
}

const NotifyPayload* Message::find_notify(NotifyType type) const {
    for (const Payload& p : payloads) {
        if (auto* n = p.as<NotifyPayload>(); n && n->type == std::uint16_t(type)) return n;
    }
    return nullptr;
}

std::optional<std::uint8_t> Message::unsupported_critical() const {
    for (const Payload& p : payloads) {
        if (p.critical && p.as<UnknownPayload>()) return std::uint8_t(p.type);
    }
    return std::nullopt;
}

void encode_body(const Payload& p, Bytes& out) {
    Writer w(out);
    std::visit(
        [&](const auto& b) {
            using T = std::decay_t<decltype(b)>;
            if constexpr (std::is_same_v<T, SaPayload>) {
                encode_sa(b, w);
            } else if constexpr (std::is_same_v<T, KePayload>) {
                w.u16(b.dh_group);
                w.u16(0);
                w.bytes(b.data);
            } else if constexpr (std::is_same_v<T, IdPayload>) {
                write_type_and_reserved(w, b.id_type);
                w.bytes(b.data);
            } else if constexpr (std::is_same_v<T, CertPayload>) {
                w.u8(b.encoding);
                w.bytes(b.data);
            } else if constexpr (std::is_same_v<T, AuthPayload>) {
                write_type_and_reserved(w, b.method);
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
                w.u8(std::uint8_t(b.selectors.size()));
                w.u8(0);
                w.u16(0);
                for (const TsEntry& e : b.selectors) {
                    w.u8(std::uint8_t(e.type));
                    w.u8(e.ip_proto);
                    w.u16(std::uint16_t(8 + e.start_addr.size() + e.end_addr.size()));
                    w.u16(e.start_port);
                    w.u16(e.end_port);
                    w.bytes(e.start_addr);
                    w.bytes(e.end_addr);
                }
            } else if constexpr (std::is_same_v<T, SkPayload>) {
                w.bytes(b.body);
            } else if constexpr (std::is_same_v<T, SkfPayload>) {
                w.u16(b.fragment_number);
                w.u16(b.total_fragments);
                w.bytes(b.body);
            } else if constexpr (std::is_same_v<T, CpPayload>) {
                write_type_and_reserved(w, b.cfg_type);
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
            } else if constexpr (std::is_same_v<T, UnknownPayload>) {
                w.bytes(b.body);
            }
        },
        p.body);
}

std::uint8_t encode_payloads(const std::vector<Payload>& payloads, Bytes& out) {
    Writer w(out);
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        const Payload& p = payloads[i];
        std::size_t start = w.size();
        std::uint8_t next = i + 1 < payloads.size() ? std::uint8_t(payloads[i + 1].type) : 0;
        // The Encrypted payloads' Next Payload field names the first inner payload.
        if (auto* sk = p.as<SkPayload>()) next = sk->first_inner;
        if (auto* skf = p.as<SkfPayload>()) next = skf->first_inner;
        w.u8(next);
        w.u8(p.critical ? 0x80 : 0);
        w.u16(0);
        encode_body(p, out);
        w.put_u16_at(start + 2, std::uint16_t(w.size() - start));
    }
    return payloads.empty() ? 0 : std::uint8_t(payloads.front().type);
}

Result<Header> decode_header(BytesView datagram) {
    Reader r(datagram);
    Header h;
    std::uint8_t version;
    if (!r.u64(h.spi_i) || !r.u64(h.spi_r) || !r.u8(h.next_payload) || !r.u8(version) ||
        !r.u8(h.exchange) || !r.u8(h.flags) || !r.u32(h.message_id) || !r.u32(h.length)) {
        return Reader(datagram).need(kHeaderSize, "IKE header");
    }
    h.major_version = version >> 4;
    h.minor_version = version & 0x0f;
    if (h.length != datagram.size()) {
        return at(24, "IKE header length " + n2s(h.length) + " differs from the datagram's " +
                          n2s(datagram.size()));
    }
    return h;
}

Result<Message> decode_message(BytesView datagram, DecodeFailure* failure) {
    if (failure) *failure = DecodeFailure::MALFORMED;
    auto h = decode_header(datagram);
    if (!h) return h.error();
    if (h->major_version != 2) {
        if (failure) *failure = DecodeFailure::UNSUPPORTED_VERSION;
        return at(17, "IKE major version " + n2s(h->major_version) + " (only 2 is supported)");
    }
    Reader r(datagram.subspan(kHeaderSize), kHeaderSize);
    auto payloads = decode_chain(h->next_payload, r, true);
    if (!payloads) return payloads.error();
    return Message{*h, std::move(*payloads)};
}

Bytes encode_message(const Message& m) {
    Bytes out;
    out.reserve(256);
    Writer w(out);
    const Header& h = m.header;
    w.u64(h.spi_i);
    w.u64(h.spi_r);
    w.u8(m.payloads.empty() ? 0 : std::uint8_t(m.payloads.front().type));
    w.u8(std::uint8_t(h.major_version << 4 | (h.minor_version & 0x0f)));
    w.u8(h.exchange);
    w.u8(h.flags);
    w.u32(h.message_id);
    w.u32(0);
    encode_payloads(m.payloads, out);
    w.put_u32_at(24, std::uint32_t(out.size()));
    return out;
}

Result<std::vector<Payload>> decode_payloads(std::uint8_t first, BytesView data,
                                             std::size_t base_offset) {
    Reader r(data, base_offset);
    return decode_chain(first, r, false);
}

std::optional<std::size_t> encrypted_body_offset(BytesView m) {
    if (m.size() < kHeaderSize) return std::nullopt;
    std::uint8_t next = m[16];
    std::size_t pos = kHeaderSize;
    while (next != 0 && pos + kGenericHeaderSize <= m.size()) {
        std::uint16_t len = load_be16(m.data() + pos + 2);
        if (next == std::uint8_t(PayloadType::SK)) return pos + kGenericHeaderSize;
        if (next == std::uint8_t(PayloadType::SKF)) return pos + kGenericHeaderSize + 4;
        if (len < kGenericHeaderSize) return std::nullopt;
        next = m[pos];
        pos += len;
    }
    return std::nullopt;
}

const char* payload_name(std::uint8_t type) {
    switch (PayloadType(type)) {
        case PayloadType::NONE:
            return "no next";
        case PayloadType::SA:
            return "SA";
        case PayloadType::KE:
            return "KE";
        case PayloadType::IDi:
            return "IDi";
        case PayloadType::IDr:
            return "IDr";
        case PayloadType::CERT:
            return "CERT";
        case PayloadType::CERTREQ:
            return "CERTREQ";
        case PayloadType::AUTH:
            return "AUTH";
        case PayloadType::NONCE:
            return "Nonce";
        case PayloadType::NOTIFY:
            return "Notify";
        case PayloadType::DELETE:
            return "Delete";
        case PayloadType::VENDOR:
            return "Vendor ID";
        case PayloadType::TSi:
            return "TSi";
        case PayloadType::TSr:
            return "TSr";
        case PayloadType::SK:
            return "SK";
        case PayloadType::CP:
            return "CP";
        case PayloadType::EAP:
            return "EAP";
        case PayloadType::SKF:
            return "SKF";
    }
    return "unknown";
}

}  // namespace ikecluster::wire
