// decode(encode(x)) == x for every payload type and for whole messages.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "generators.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {

// Encoded message with fixed length/next-payload fields filled in, as decode
// will report them.
Message normalized(Message m, const Bytes& encoded) {
    m.header.length = std::uint32_t(encoded.size());
    m.header.next_payload = m.payloads.empty() ? 0 : std::uint8_t(m.payloads.front().type);
    return m;
}

}  // namespace

RC_GTEST_PROP(WireRoundTrip, EveryPlainPayload, ()) {
    Payload p = *gen::plain_payload();
    Bytes out;
    std::uint8_t first = encode_payloads({p}, out);
    auto back = decode_payloads(first, out);
    RC_ASSERT(back.ok());
    RC_ASSERT(back->size() == 1u);
    RC_ASSERT((*back)[0] == p);
}

RC_GTEST_PROP(WireRoundTrip, WholeMessages, ()) {
    Message m;
    m.header = *gen::header();
    m.payloads = *rc::gen::container<std::vector<Payload>>(*rc::gen::inRange<std::size_t>(0, 6),
                                                           gen::plain_payload());
    if (*rc::gen::arbitrary<bool>()) m.payloads.push_back(*gen::encrypted_payload());
    Bytes enc = encode_message(m);
    auto back = decode_message(enc);
    RC_ASSERT(back.ok());
    RC_ASSERT(*back == normalized(m, enc));
    RC_ASSERT(encode_message(*back) == enc);
}

RC_GTEST_PROP(WireRoundTrip, PayloadChainsInsideSk, ()) {
    auto ps = *rc::gen::container<std::vector<Payload>>(*rc::gen::inRange<std::size_t>(1, 6),
                                                        gen::plain_payload());
    Bytes out;
    std::uint8_t first = encode_payloads(ps, out);
    auto back = decode_payloads(first, out, 100);
    RC_ASSERT(back.ok());
    RC_ASSERT(*back == ps);
}

RC_GTEST_PROP(WireRoundTrip, EncryptedBodyOffsetPointsAfterTheSkHeader, ()) {
    Message m;
    m.header = *gen::header();
    m.payloads = *rc::gen::container<std::vector<Payload>>(*rc::gen::inRange<std::size_t>(0, 3),
                                                           gen::plain_payload());
    Payload enc = *gen::encrypted_payload();
    m.payloads.push_back(enc);
    Bytes bytes = encode_message(m);
    auto off = encrypted_body_offset(bytes);
    RC_ASSERT(off.has_value());
    const Bytes& body =
        enc.as<SkPayload>() ? enc.as<SkPayload>()->body : enc.as<SkfPayload>()->body;
    RC_ASSERT(*off + body.size() == bytes.size());
    RC_ASSERT(std::equal(body.begin(), body.end(), bytes.begin() + std::ptrdiff_t(*off)));
}
