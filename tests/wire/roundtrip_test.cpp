// decode(encode(x)) == x for the header, every payload type, whole messages
// and the decrypted inside of SK.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "generators.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {

// What decode reports for an encoded message: the computed header fields.
Message normalized(Message m, const Bytes& encoded) {
    m.header.length = std::uint32_t(encoded.size());
    m.header.next_payload = m.payloads.empty() ? 0 : std::uint8_t(m.payloads.front().type);
    return m;
}

// One payload through encode_payloads/decode_payloads, and back to bytes.
void check_inner(const Payload& p) {
    EncodedChain enc = encode_payloads({p});
    RC_ASSERT(enc.first == std::uint8_t(p.type));
    auto back = decode_payloads(enc.first, enc.bytes, 28);
    if (!back) RC_FAIL(back.error().what);
    RC_ASSERT(back->size() == 1u);
    RC_ASSERT((*back)[0] == p);
    RC_ASSERT(encode_payloads(*back).bytes == enc.bytes);
}

// One payload alone in a message (the only way for SK/SKF).
void check_in_message(const Payload& p) {
    Message m;
    m.header = *gen::header();
    m.payloads = {p};
    Bytes enc = encode_message(m);
    auto back = decode_message(enc);
    if (!back) RC_FAIL(back.error().what);
    RC_ASSERT(*back == normalized(m, enc));
    RC_ASSERT(encode_message(*back) == enc);
}

}  // namespace

RC_GTEST_PROP(WireHeader, RoundTrip, ()) {
    Header h = *gen::header();
    h.length = kHeaderSize + *rc::gen::inRange<std::uint32_t>(0, 64);
    h.next_payload = *rc::gen::arbitrary<std::uint8_t>();
    Bytes b(h.length, 0);
    write_header(h, b.data());
    auto back = decode_header(b);
    RC_ASSERT(back.ok());
    RC_ASSERT(*back == h);
}

RC_GTEST_PROP(PayloadRoundTrip, Sa, ()) {
    check_inner(*gen::sa());
}
RC_GTEST_PROP(PayloadRoundTrip, Ke, ()) {
    check_inner(*gen::ke());
}
RC_GTEST_PROP(PayloadRoundTrip, IdiIdr, ()) {
    check_inner(*gen::id());
}
RC_GTEST_PROP(PayloadRoundTrip, CertCertreq, ()) {
    check_inner(*gen::cert());
}
RC_GTEST_PROP(PayloadRoundTrip, Auth, ()) {
    check_inner(*gen::auth());
}
RC_GTEST_PROP(PayloadRoundTrip, Nonce, ()) {
    check_inner(*gen::nonce());
}
RC_GTEST_PROP(PayloadRoundTrip, Notify, ()) {
    check_inner(*gen::notify());
}
RC_GTEST_PROP(PayloadRoundTrip, Delete, ()) {
    check_inner(*gen::del());
}
RC_GTEST_PROP(PayloadRoundTrip, VendorId, ()) {
    check_inner(*gen::vendor());
}
RC_GTEST_PROP(PayloadRoundTrip, TsiTsr, ()) {
    check_inner(*gen::ts());
}
RC_GTEST_PROP(PayloadRoundTrip, Cp, ()) {
    check_inner(*gen::cp());
}
RC_GTEST_PROP(PayloadRoundTrip, Eap, ()) {
    check_inner(*gen::eap());
}
RC_GTEST_PROP(PayloadRoundTrip, UnknownCriticalOrNot, ()) {
    check_inner(*gen::unknown());
}
RC_GTEST_PROP(PayloadRoundTrip, Sk, ()) {
    check_in_message(*gen::maybe_critical(gen::sk()));
}
RC_GTEST_PROP(PayloadRoundTrip, Skf, ()) {
    check_in_message(*gen::maybe_critical(gen::skf()));
}
RC_GTEST_PROP(PayloadRoundTrip, CriticalBitOnKnownPayloads, ()) {
    check_inner(*gen::plain_payload());
}

RC_GTEST_PROP(MessageRoundTrip, RandomPayloadChains, ()) {
    Message m;
    m.header = *gen::header();
    m.payloads = *gen::vec<Payload>(0, 8, gen::plain_payload());
    if (*rc::gen::arbitrary<bool>()) m.payloads.push_back(*gen::encrypted_payload());
    Bytes enc = encode_message(m);
    auto back = decode_message(enc);
    if (!back) RC_FAIL(back.error().what);
    RC_ASSERT(*back == normalized(m, enc));
    RC_ASSERT(encode_message(*back) == enc);
    // The header alone agrees with the full decode.
    auto h = decode_header(enc);
    RC_ASSERT(h.ok());
    RC_ASSERT(*h == back->header);
}

RC_GTEST_PROP(MessageRoundTrip, PayloadChainsInsideSk, ()) {
    auto ps = *gen::vec<Payload>(0, 8, gen::plain_payload());
    Bytes out{0xee};  // encode_payloads appends
    std::uint8_t first = encode_payloads(ps, out);
    auto back = decode_payloads(first, BytesView(out).subspan(1), 100);
    if (!back) RC_FAIL(back.error().what);
    RC_ASSERT(*back == ps);
}

RC_GTEST_PROP(MessageRoundTrip, EncryptedBodyOffsetPointsAtTheBody, ()) {
    Message m;
    m.header = *gen::header();
    m.payloads = *gen::vec<Payload>(0, 4, gen::plain_payload());
    Payload enc = *gen::encrypted_payload();
    m.payloads.push_back(enc);
    Bytes bytes = encode_message(m);
    auto off = encrypted_body_offset(bytes);
    RC_ASSERT(off.has_value());
    const Bytes& body =
        enc.as<SkPayload>() ? enc.as<SkPayload>()->body : enc.as<SkfPayload>()->body;
    RC_ASSERT(*off + body.size() == bytes.size());
    RC_ASSERT(std::equal(body.begin(), body.end(), bytes.begin() + std::ptrdiff_t(*off)));
    // Without SK/SKF there is no body.
    m.payloads.pop_back();
    RC_ASSERT(!encrypted_body_offset(encode_message(m)).has_value());
}

RC_GTEST_PROP(MessageRoundTrip, UnsupportedCriticalIsTheFirstCriticalUnknown, ()) {
    Message m;
    m.payloads = *gen::vec<Payload>(0, 8, gen::plain_payload());
    std::optional<std::uint8_t> want;
    for (const Payload& p : m.payloads) {
        if (p.critical && !is_known_payload(std::uint8_t(p.type))) {
            want = std::uint8_t(p.type);
            break;
        }
    }
    auto back = decode_message(encode_message(m));
    RC_ASSERT(back.ok());
    RC_ASSERT(back->unsupported_critical() == want);
}

TEST(WireHeader, FieldsAtTheirOffsets) {
    Header h;
    h.spi_i = 0x0102030405060708ull;
    h.spi_r = 0x090a0b0c0d0e0f10ull;
    h.next_payload = 33;
    h.minor_version = 1;
    h.exchange = 35;
    h.flags = kFlagInitiator | kFlagResponse;
    h.message_id = 0x11223344;
    h.length = 28;
    Bytes b(28);
    write_header(h, b.data());
    EXPECT_EQ(to_hex(b),
              "0102030405060708090a0b0c0d0e0f10"
              "21212328"
              "11223344"
              "0000001c");
    EXPECT_TRUE(h.is_response());
    EXPECT_TRUE(h.from_initiator());
    EXPECT_EQ(h.exchange_type(), ExchangeType::IKE_AUTH);
}
