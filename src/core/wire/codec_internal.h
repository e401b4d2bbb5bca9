// Private to ikec_wire: the per-family body codecs that message.cpp and
// payloads.cpp stitch together. Not installed, not included by users.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/buffer.h"
#include "base/result.h"
#include "wire/payloads.h"

namespace ikecluster::wire::detail {

inline std::string num(std::size_t n) {
    return std::to_string(n);
}

// "truncated <what>: need <n> bytes, have <m>" at `offset` (the same wording
// as Reader::need, for errors about a structure that started earlier).
inline Error truncated(std::size_t offset, std::string_view what, std::size_t need,
                       std::size_t have) {
    return make_error(offset, "truncated " + std::string(what) + ": need " + num(need) +
                                  " bytes, have " + num(have));
}

// "SA", "Notify", ... or "payload type 99".
std::string payload_label(std::uint8_t type);

// §3.3: `r` spans exactly the SA payload body.
Result<SaPayload> decode_sa(Reader& r);
void encode_sa(const SaPayload& sa, Writer& w);

// §3.13: `r` spans exactly the TSi/TSr body; `name` is "TSi" or "TSr".
Result<TsPayload> decode_ts(Reader& r, std::string_view name);
void encode_ts(const TsPayload& ts, Writer& w);

// Decodes the body of one payload of type `type` found at absolute offset
// `offset`; `next` is the generic header's Next Payload (kept as
// `first_inner` for SK/SKF). Unknown types come back as UnknownPayload.
Result<PayloadBody> decode_body(std::uint8_t type, std::uint8_t next, BytesView body,
                                std::size_t offset);

}  // namespace ikecluster::wire::detail
