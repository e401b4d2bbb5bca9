// Traffic Selector payloads (RFC 7296 §3.13, §3.13.1).
#include "base/buffer.h"
#include "wire/codec_internal.h"

namespace ikecluster::wire::detail {

namespace {

// Selector Length for each type: 8 fixed octets and two addresses.
constexpr std::size_t kTsFixed = 8;

std::size_t address_size(std::uint8_t ts_type) {
    if (ts_type == std::uint8_t(TsType::IPV4_ADDR_RANGE)) return 4;
    if (ts_type == std::uint8_t(TsType::IPV6_ADDR_RANGE)) return 16;
    return 0;
}

}  // namespace

Result<TsPayload> decode_ts(Reader& r, std::string_view name) {
    const std::string_view n = name;
    if (r.remaining() < 4) return r.need(4, std::string(n) + " payload");
    std::uint8_t count = 0;
    r.u8(count);
    r.skip(3);
    TsPayload ts;
    for (unsigned i = 1; i <= count; ++i) {
        const std::size_t start = r.offset();
        auto label = [n, i, count] {
            return std::string(n) + " selector " + num(i) + " of " + num(count);
        };
        if (r.remaining() < 4) return r.need(4, label());
        std::uint8_t type = 0, proto = 0;
        std::uint16_t len = 0;
        r.u8(type);
        r.u8(proto);
        r.u16(len);
        const std::size_t alen = address_size(type);
        if (alen == 0)
            return make_error(start, label() + ": unsupported traffic selector type " + num(type));
        const std::size_t want = kTsFixed + 2 * alen;
        if (len != want) {
            return make_error(start + 2, label() + ": selector length " + num(len) + ", type " +
                                             num(type) + " needs " + num(want));
        }
        if (r.remaining() < want - 4) return truncated(start, label(), want, r.remaining() + 4);
        TsEntry e;
        e.type = TsType(type);
        e.ip_proto = proto;
        BytesView a, b;
        r.u16(e.start_port);
        r.u16(e.end_port);
        r.bytes(alen, a);
        r.bytes(alen, b);
        e.start_addr = to_bytes(a);
        e.end_addr = to_bytes(b);
        ts.selectors.push_back(std::move(e));
    }
    if (!r.empty()) {
        return make_error(r.offset(), std::string(n) + ": " + num(r.remaining()) +
                                          " bytes after its " + num(count) + " selectors");
    }
    return ts;
}

void encode_ts(const TsPayload& ts, Writer& w) {
    w.u8(std::uint8_t(ts.selectors.size()));
    w.u8(0);
    w.u16(0);
    for (const TsEntry& e : ts.selectors) {
        w.u8(std::uint8_t(e.type));
        w.u8(e.ip_proto);
        w.u16(std::uint16_t(kTsFixed + e.start_addr.size() + e.end_addr.size()));
        w.u16(e.start_port);
        w.u16(e.end_port);
        w.bytes(e.start_addr);
        w.bytes(e.end_addr);
    }
}

}  // namespace ikecluster::wire::detail
