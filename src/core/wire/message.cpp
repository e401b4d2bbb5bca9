// The payload chain (RFC 7296 §3.2) and whole messages (§3.1).
#include "wire/message.h"

#include "base/buffer.h"
#include "wire/codec_internal.h"

namespace ikecluster::wire {

using detail::num;
using detail::payload_label;

namespace {

bool is_encrypted(std::uint8_t type) {
    return type == std::uint8_t(PayloadType::SK) || type == std::uint8_t(PayloadType::SKF);
}

// Walks the chain starting with `first` over all of `r`. `outer` is true for
// a message (SK/SKF allowed, and they end the chain), false for the
// decrypted inside of SK. `container` names `r` in errors.
Result<std::vector<Payload>> decode_chain(std::uint8_t first, Reader& r, bool outer,
                                          const char* container) {
    std::vector<Payload> out;
    std::uint8_t type = first;
    while (type != 0) {
        const std::size_t start = r.offset();
        // Built only on the error paths (no allocation per payload).
        auto label = [type] { return payload_label(type); };
        if (r.remaining() < kGenericHeaderSize)
            return r.need(kGenericHeaderSize, label() + " payload header");
        std::uint8_t next = 0, flags = 0;
        std::uint16_t len = 0;
        r.u8(next);
        r.u8(flags);
        r.u16(len);
        if (len < kGenericHeaderSize)
            return make_error(start + 2, label() + " payload length " + num(len) + " < 4");
        BytesView body;
        if (!r.bytes(len - kGenericHeaderSize, body)) {
            return make_error(
                start + 2, label() + " payload length " + num(len) + " exceeds the " + container +
                               " (" + num(r.remaining() + kGenericHeaderSize) + " bytes left)");
        }
        if (is_encrypted(type) && !outer)
            return make_error(start, label() + " payload inside an encrypted payload");
        auto b = detail::decode_body(type, next, body, start + kGenericHeaderSize);
        if (!b) return b.error();
        out.push_back(Payload{PayloadType(type), (flags & kCriticalBit) != 0, std::move(*b)});
        if (is_encrypted(type)) {
            // §3.14: the Encrypted payload is the last one; its Next Payload
            // names the first inner payload, not a following one.
            if (!r.empty()) {
                return make_error(r.offset(), label() + " payload is not the last payload (" +
                                                  num(r.remaining()) + " bytes follow)");
            }
            return out;
        }
        type = next;
    }
    if (!r.empty())
        return make_error(r.offset(), num(r.remaining()) + " bytes after the last payload");
    return out;
}

}  // namespace

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

Result<Message> decode_message(BytesView datagram, DecodeFailure* failure) {
    if (failure) *failure = DecodeFailure::MALFORMED;
    if (datagram.size() < kHeaderSize) return Reader(datagram).need(kHeaderSize, "IKE header");
    // §2.5: a major version we do not speak is answered (or dropped) before
    // anything else about the message is believed.
    const std::uint8_t major = datagram[kOffsetVersion] >> 4;
    if (major != kIkeMajorVersion) {
        if (failure) *failure = DecodeFailure::UNSUPPORTED_VERSION;
        return make_error(kOffsetVersion,
                          "IKE major version " + num(major) + " (only 2 is supported)");
    }
    auto h = decode_header(datagram);
    if (!h) return h.error();
    Reader r(datagram.subspan(kHeaderSize), kHeaderSize);
    auto payloads = decode_chain(h->next_payload, r, true, "message");
    if (!payloads) return payloads.error();
    return Message{*h, std::move(*payloads)};
}

std::uint8_t encode_payloads(const std::vector<Payload>& payloads, Bytes& out) {
    Writer w(out);
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        const Payload& p = payloads[i];
        const std::size_t start = w.size();
        std::uint8_t next = i + 1 < payloads.size() ? std::uint8_t(payloads[i + 1].type) : 0;
        // The Encrypted payloads' Next Payload names the first inner payload.
        if (auto* sk = p.as<SkPayload>()) next = sk->first_inner;
        if (auto* skf = p.as<SkfPayload>()) next = skf->first_inner;
        w.u8(next);
        w.u8(p.critical ? kCriticalBit : 0);
        w.u16(0);  // length, patched below
        encode_body(p, out);
        w.put_u16_at(start + 2, std::uint16_t(w.size() - start));
    }
    return payloads.empty() ? 0 : std::uint8_t(payloads.front().type);
}

EncodedChain encode_payloads(const std::vector<Payload>& payloads) {
    EncodedChain c;
    c.first = encode_payloads(payloads, c.bytes);
    return c;
}

Bytes encode_message(const Message& m) {
    Bytes out(kHeaderSize, 0);
    out.reserve(512);
    Header h = m.header;
    h.next_payload = encode_payloads(m.payloads, out);
    h.length = std::uint32_t(out.size());
    write_header(h, out.data());
    return out;
}

Result<std::vector<Payload>> decode_payloads(std::uint8_t first, BytesView data,
                                             std::size_t base_offset) {
    Reader r(data, base_offset);
    return decode_chain(first, r, false, "decrypted data");
}

std::optional<std::size_t> encrypted_body_offset(BytesView m) {
    if (m.size() < kHeaderSize) return std::nullopt;
    std::uint8_t type = m[kOffsetNextPayload];
    std::size_t pos = kHeaderSize;
    while (type != 0) {
        if (m.size() - pos < kGenericHeaderSize) return std::nullopt;
        const std::size_t len = load_be16(m.data() + pos + 2);
        if (len < kGenericHeaderSize || len > m.size() - pos) return std::nullopt;
        if (type == std::uint8_t(PayloadType::SK)) return pos + kGenericHeaderSize;
        if (type == std::uint8_t(PayloadType::SKF)) {
            if (len < kGenericHeaderSize + 4) return std::nullopt;
            return pos + kGenericHeaderSize + 4;
        }
        type = m[pos];
        pos += len;
    }
    return std::nullopt;
}

}  // namespace ikecluster::wire
