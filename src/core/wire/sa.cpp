// Security Association payload (RFC 7296 §3.3): proposals, transforms and
// transform attributes, with the "last substructure" markers checked against
// the counts and every length checked against its container.
#include "base/buffer.h"
#include "wire/codec_internal.h"

namespace ikecluster::wire {

using detail::num;

namespace {

// Last Substruc values (§3.3.1, §3.3.2).
constexpr std::uint8_t kLast = 0;
constexpr std::uint8_t kMoreProposals = 2;
constexpr std::uint8_t kMoreTransforms = 3;
constexpr std::size_t kSubstructHeader = 8;
constexpr std::uint16_t kAttrFormatTv = 0x8000;

// §3.3.5
Result<Attribute> decode_attribute(Reader& r) {
    const std::size_t start = r.offset();
    if (r.remaining() < 4) return r.need(4, "Transform attribute");
    std::uint16_t af_type = 0, len_or_value = 0;
    r.u16(af_type);
    r.u16(len_or_value);
    Attribute a;
    a.type = af_type & 0x7fff;
    a.tv = (af_type & kAttrFormatTv) != 0;
    if (a.tv) {
        a.tv_value = len_or_value;
        return a;
    }
    BytesView v;
    if (!r.bytes(len_or_value, v)) {
        return make_error(start + 2, "Transform attribute " + num(a.type) + " length " +
                                         num(len_or_value) + " exceeds its transform (" +
                                         num(r.remaining()) + " bytes left)");
    }
    a.value = to_bytes(v);
    return a;
}

// §3.3.2; `last` reports the marker.
Result<Transform> decode_transform(Reader& r, bool& last) {
    const std::size_t start = r.offset();
    if (r.remaining() < kSubstructHeader) return r.need(kSubstructHeader, "Transform substructure");
    std::uint8_t marker = 0, type = 0;
    std::uint16_t len = 0, id = 0;
    r.u8(marker);
    r.skip(1);
    r.u16(len);
    r.u8(type);
    r.skip(1);
    r.u16(id);
    if (marker != kLast && marker != kMoreTransforms) {
        return make_error(
            start, "Transform: last-substructure value " + num(marker) + ", expected 0 or 3");
    }
    last = marker == kLast;
    if (len < kSubstructHeader)
        return make_error(start + 2, "Transform length " + num(len) + " < 8");
    BytesView attrs;
    if (!r.bytes(len - kSubstructHeader, attrs)) {
        return make_error(start + 2, "Transform length " + num(len) + " exceeds its proposal (" +
                                         num(r.remaining() + kSubstructHeader) + " bytes left)");
    }
    Transform t;
    t.type = TransformType(type);
    t.id = id;
    Reader ar(attrs, start + kSubstructHeader);
    while (!ar.empty()) {
        auto a = decode_attribute(ar);
        if (!a) return a.error();
        t.attributes.push_back(std::move(*a));
    }
    return t;
}

// §3.3.1; `last` reports the marker.
Result<Proposal> decode_proposal(Reader& r, bool& last) {
    const std::size_t start = r.offset();
    if (r.remaining() < kSubstructHeader) return r.need(kSubstructHeader, "Proposal substructure");
    std::uint8_t marker = 0, number = 0, proto = 0, spi_size = 0, count = 0;
    std::uint16_t len = 0;
    r.u8(marker);
    r.skip(1);
    r.u16(len);
    r.u8(number);
    r.u8(proto);
    r.u8(spi_size);
    r.u8(count);
    if (marker != kLast && marker != kMoreProposals) {
        return make_error(start,
                          "Proposal: last-substructure value " + num(marker) + ", expected 0 or 2");
    }
    last = marker == kLast;
    if (len < kSubstructHeader)
        return make_error(start + 2, "Proposal length " + num(len) + " < 8");
    BytesView body;
    if (!r.bytes(len - kSubstructHeader, body)) {
        return make_error(start + 2, "Proposal length " + num(len) + " exceeds the SA payload (" +
                                         num(r.remaining() + kSubstructHeader) + " bytes left)");
    }
    auto label = [number] { return "Proposal " + num(number); };
    // §3.3.1: 0 in IKE_SA_INIT, otherwise 8 for IKE and 4 for ESP/AH.
    if (spi_size != 0 && spi_size != 4 && spi_size != 8) {
        return make_error(start + 6, label() + ": SPI size " + num(spi_size) + " is not 0, 4 or 8");
    }
    Proposal p;
    p.number = number;
    p.protocol = ProtocolId(proto);
    Reader pr(body, start + kSubstructHeader);
    BytesView spi;
    if (!pr.bytes(spi_size, spi)) return pr.need(spi_size, label() + " SPI");
    p.spi = to_bytes(spi);
    for (unsigned i = 1; i <= count; ++i) {
        if (pr.empty()) {
            return make_error(pr.offset(), label() + " announces " + num(count) +
                                               " transforms but holds " + num(i - 1));
        }
        const std::size_t tstart = pr.offset();
        bool tlast = false;
        auto t = decode_transform(pr, tlast);
        if (!t) return t.error();
        if (tlast && i < count) {
            return make_error(tstart, label() + ": transform " + num(i) + " of " + num(count) +
                                          " is marked last");
        }
        if (!tlast && i == count) {
            return make_error(tstart, label() + ": transform " + num(i) + " of " + num(count) +
                                          " is not marked last");
        }
        p.transforms.push_back(std::move(*t));
    }
    if (!pr.empty()) {
        return make_error(pr.offset(), label() + ": " + num(pr.remaining()) + " bytes after its " +
                                           num(count) + " transforms");
    }
    return p;
}

}  // namespace

std::optional<std::uint16_t> Transform::key_length() const {
    for (const Attribute& a : attributes) {
        if (a.type == kAttrKeyLength && a.tv) return a.tv_value;
    }
    return std::nullopt;
}

namespace detail {

Result<SaPayload> decode_sa(Reader& r) {
    SaPayload sa;
    bool last = false;
    while (!r.empty()) {
        if (last) {
            return make_error(r.offset(), "SA payload: " + num(r.remaining()) +
                                              " bytes after the proposal marked last");
        }
        auto p = decode_proposal(r, last);
        if (!p) return p.error();
        sa.proposals.push_back(std::move(*p));
    }
    if (sa.proposals.empty()) return make_error(r.offset(), "SA payload without proposals");
    if (!last) return make_error(r.offset(), "SA payload: the last proposal is not marked last");
    return sa;
}

void encode_sa(const SaPayload& sa, Writer& w) {
    for (std::size_t i = 0; i < sa.proposals.size(); ++i) {
        const Proposal& p = sa.proposals[i];
        const std::size_t pstart = w.size();
        w.u8(i + 1 == sa.proposals.size() ? kLast : kMoreProposals);
        w.u8(0);
        w.u16(0);  // length, patched below
        w.u8(p.number);
        w.u8(std::uint8_t(p.protocol));
        w.u8(std::uint8_t(p.spi.size()));
        w.u8(std::uint8_t(p.transforms.size()));
        w.bytes(p.spi);
        for (std::size_t j = 0; j < p.transforms.size(); ++j) {
            const Transform& t = p.transforms[j];
            const std::size_t tstart = w.size();
            w.u8(j + 1 == p.transforms.size() ? kLast : kMoreTransforms);
            w.u8(0);
            w.u16(0);  // length, patched below
            w.u8(std::uint8_t(t.type));
            w.u8(0);
            w.u16(t.id);
            for (const Attribute& a : t.attributes) {
                w.u16(std::uint16_t((a.tv ? kAttrFormatTv : 0) | (a.type & 0x7fff)));
                if (a.tv) {
                    w.u16(a.tv_value);
                } else {
                    w.u16(std::uint16_t(a.value.size()));
                    w.bytes(a.value);
                }
            }
            w.put_u16_at(tstart + 2, std::uint16_t(w.size() - tstart));
        }
        w.put_u16_at(pstart + 2, std::uint16_t(w.size() - pstart));
    }
}

}  // namespace detail
}  // namespace ikecluster::wire
