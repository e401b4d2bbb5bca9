#include "wire/header.h"

#include "base/buffer.h"
#include "wire/codec_internal.h"

namespace ikecluster::wire {

using detail::num;

Result<Header> decode_header(BytesView datagram) {
    Reader r(datagram);
    if (r.remaining() < kHeaderSize) return r.need(kHeaderSize, "IKE header");
    Header h;
    std::uint8_t version = 0;
    r.u64(h.spi_i);
    r.u64(h.spi_r);
    r.u8(h.next_payload);
    r.u8(version);
    r.u8(h.exchange);
    r.u8(h.flags);
    r.u32(h.message_id);
    r.u32(h.length);
    h.major_version = version >> 4;
    h.minor_version = version & 0x0f;
    if (h.length != datagram.size()) {
        return make_error(kOffsetLength, "IKE header length " + num(h.length) +
                                             " differs from the datagram's " +
                                             num(datagram.size()));
    }
    return h;
}

void write_header(const Header& h, std::uint8_t* out) {
    store_be64(out, h.spi_i);
    store_be64(out + 8, h.spi_r);
    out[kOffsetNextPayload] = h.next_payload;
    out[kOffsetVersion] = std::uint8_t(h.major_version << 4 | (h.minor_version & 0x0f));
    out[18] = h.exchange;
    out[19] = h.flags;
    store_be32(out + 20, h.message_id);
    store_be32(out + kOffsetLength, h.length);
}

}  // namespace ikecluster::wire
