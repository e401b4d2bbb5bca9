// Specific malformed inputs with the exact error and offset the decoder must
// report.
#include <gtest/gtest.h>

#include "base/buffer.h"
#include "samples.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {

Bytes init_bytes() {
    return encode_message(samples::ike_sa_init());
}

// A chain of one payload of type `t` with the given body.
Result<std::vector<Payload>> one(PayloadType t, Bytes body, std::uint8_t flags = 0) {
    Bytes out{0, flags, 0, 0};
    out.insert(out.end(), body.begin(), body.end());
    store_be16(out.data() + 2, std::uint16_t(out.size()));
    return decode_payloads(std::uint8_t(t), out);
}

std::string err(const Result<std::vector<Payload>>& r) {
    return r.ok() ? "(decoded)" : r.error().what;
}
std::size_t at(const Result<std::vector<Payload>>& r) {
    return r.ok() ? 9999 : r.error().offset;
}

}  // namespace

TEST(WireMalformed, HeaderLengthMismatch) {
    Bytes b = init_bytes();
    Bytes longer = b;
    longer.push_back(0);
    auto r = decode_message(longer);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().offset, 24u);
    EXPECT_EQ(r.error().what, "IKE header length " + std::to_string(b.size()) +
                                  " differs from the datagram's " + std::to_string(b.size() + 1));
    EXPECT_FALSE(decode_header(longer).ok());
    EXPECT_TRUE(decode_header(b).ok());
}

TEST(WireMalformed, MajorVersion3) {
    Bytes b = init_bytes();
    b[17] = 0x30;
    DecodeFailure why = DecodeFailure::MALFORMED;
    auto r = decode_message(b, &why);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(why, DecodeFailure::UNSUPPORTED_VERSION);
    EXPECT_EQ(r.error().offset, 17u);
    EXPECT_EQ(r.error().what, "IKE major version 3 (only 2 is supported)");
    // The version is judged before the length: a v3 message of another
    // layout is still "unsupported version", not "malformed".
    b.push_back(1);
    r = decode_message(b, &why);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(why, DecodeFailure::UNSUPPORTED_VERSION);
    // decode_header() carries any version for the engine's lookup.
    b.pop_back();
    auto h = decode_header(b);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->major_version, 3);
    // Minor versions are carried, not judged.
    Bytes minor = init_bytes();
    minor[17] = 0x27;
    auto m = decode_message(minor);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->header.minor_version, 7);
    EXPECT_EQ(encode_message(*m), minor);
}

TEST(WireMalformed, PayloadLengthBelowFour) {
    Bytes b = init_bytes();
    store_be16(b.data() + 30, 3);  // the SA payload's length field
    auto r = decode_message(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "SA payload length 3 < 4");
    EXPECT_EQ(r.error().offset, 30u);
}

TEST(WireMalformed, PayloadLengthPastTheEnd) {
    Bytes b = init_bytes();
    store_be16(b.data() + 30, 0xffff);
    auto r = decode_message(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "SA payload length 65535 exceeds the message (" +
                                  std::to_string(b.size() - 28) + " bytes left)");
    EXPECT_EQ(r.error().offset, 30u);
}

TEST(WireMalformed, TrailingBytesAfterTheChain) {
    Bytes b = init_bytes();
    b.insert(b.end(), {1, 2, 3});
    store_be32(b.data() + 24, std::uint32_t(b.size()));
    auto r = decode_message(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "3 bytes after the last payload");
    EXPECT_EQ(r.error().offset, b.size() - 3);
}

TEST(WireMalformed, BadLastSubstructureMarkers) {
    Bytes b = init_bytes();
    // Proposal 1 at 32 (marker 2, more follow): a bogus marker.
    ASSERT_EQ(b[32], 2);
    Bytes bad = b;
    bad[32] = 1;
    auto r = decode_message(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "Proposal: last-substructure value 1, expected 0 or 2");
    EXPECT_EQ(r.error().offset, 32u);
    // Transform 1 at 40 (marker 3): a proposal marker in its place.
    ASSERT_EQ(b[40], 3);
    bad = b;
    bad[40] = 2;
    r = decode_message(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "Transform: last-substructure value 2, expected 0 or 3");
    EXPECT_EQ(r.error().offset, 40u);
    // Proposal 1 marked last while two more follow.
    bad = b;
    bad[32] = 0;
    r = decode_message(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(
        r.error().what,
        "SA payload: " + std::to_string(load_be16(b.data() + 30) - 4 - load_be16(b.data() + 34)) +
            " bytes after the proposal marked last");
    // The last proposal not marked last.
    auto sa = one(PayloadType::SA, {2, 0, 0, 8, 1, 1, 0, 0});
    EXPECT_EQ(err(sa), "SA payload: the last proposal is not marked last");
    EXPECT_EQ(err(one(PayloadType::SA, {})), "SA payload without proposals");
}

TEST(WireMalformed, ProposalWithWrongTransformCount) {
    Bytes b = init_bytes();
    // Proposal 1 holds 4 transforms (count at 39).
    ASSERT_EQ(b[39], 4);
    Bytes more = b;
    more[39] = 5;
    auto r = decode_message(more);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "Proposal 1: transform 4 of 5 is marked last");
    Bytes fewer = b;
    fewer[39] = 3;
    r = decode_message(fewer);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "Proposal 1: transform 3 of 3 is not marked last");
    // A count beyond the transforms present at all.
    auto sa = one(PayloadType::SA, {0, 0, 0, 16, 1, 1, 0, 2, 0, 0, 0, 8, 1, 0, 0, 20});
    EXPECT_EQ(err(sa), "Proposal 1: transform 1 of 2 is marked last");
    sa = one(PayloadType::SA, {0, 0, 0, 8, 7, 1, 0, 1});
    EXPECT_EQ(err(sa), "Proposal 7 announces 1 transforms but holds 0");
    sa = one(PayloadType::SA, {0, 0, 0, 10, 1, 1, 0, 0, 9, 9});
    EXPECT_EQ(err(sa), "Proposal 1: 2 bytes after its 0 transforms");
    EXPECT_EQ(at(sa), 12u);
}

TEST(WireMalformed, SubstructureLengths) {
    Bytes b = init_bytes();
    Bytes tlen = b;
    store_be16(tlen.data() + 42, 200);  // transform 1's length
    auto r = decode_message(tlen);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().offset, 42u);
    EXPECT_EQ(r.error().what.rfind("Transform length 200 exceeds its proposal (", 0), 0u)
        << r.error().what;
    Bytes small = b;
    store_be16(small.data() + 42, 7);
    r = decode_message(small);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "Transform length 7 < 8");
    Bytes plen = b;
    store_be16(plen.data() + 34, 4);
    r = decode_message(plen);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "Proposal length 4 < 8");
    // SPI size 3 (§3.3.1 allows 0, 4, 8).
    EXPECT_EQ(err(one(PayloadType::SA, {0, 0, 0, 11, 1, 3, 3, 0, 1, 2, 3})),
              "Proposal 1: SPI size 3 is not 0, 4 or 8");
    // SPI size 8 in a 4-octet body.
    EXPECT_EQ(err(one(PayloadType::SA, {0, 0, 0, 12, 1, 1, 8, 0, 1, 2, 3, 4})),
              "truncated Proposal 1 SPI: need 8 bytes, have 4");
    // A TLV attribute longer than its transform.
    auto attr =
        one(PayloadType::SA, {0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12, 0, 5, 0, 9});
    EXPECT_EQ(err(attr), "Transform attribute 5 length 9 exceeds its transform (0 bytes left)");
    EXPECT_EQ(at(attr), 22u);
    auto half = one(PayloadType::SA, {0, 0, 0, 18, 1, 1, 0, 1, 0, 0, 0, 10, 1, 0, 0, 12, 0x80, 14});
    EXPECT_EQ(err(half), "truncated Transform attribute: need 4 bytes, have 2");
}

TEST(WireMalformed, TrafficSelectors) {
    // Selector length 15 for an IPv4 range (16 needed).
    auto r = one(PayloadType::TSi, {1, 0, 0, 0, 7, 0, 0, 15, 0, 0, 255, 255, 1, 2, 3, 4, 5, 6, 7});
    EXPECT_EQ(err(r), "TSi selector 1 of 1: selector length 15, type 7 needs 16");
    EXPECT_EQ(at(r), 10u);
    r = one(PayloadType::TSr, {1, 0, 0, 0, 8, 0, 0, 16, 0, 0, 255, 255, 1, 2, 3, 4, 5, 6, 7, 8});
    EXPECT_EQ(err(r), "TSr selector 1 of 1: selector length 16, type 8 needs 40");
    r = one(PayloadType::TSi, {1, 0, 0, 0, 9, 0, 0, 16});
    EXPECT_EQ(err(r), "TSi selector 1 of 1: unsupported traffic selector type 9");
    r = one(PayloadType::TSi, {2, 0, 0, 0, 7, 0, 0, 16, 0, 0, 255, 255, 1, 2, 3, 4, 5, 6, 7, 8});
    EXPECT_EQ(err(r), "truncated TSi selector 2 of 2: need 4 bytes, have 0");
    r = one(PayloadType::TSi, {0, 0, 0, 0, 7});
    EXPECT_EQ(err(r), "TSi: 1 bytes after its 0 selectors");
}

TEST(WireMalformed, DeleteCounts) {
    auto r = one(PayloadType::DELETE, {3, 4, 0, 3, 1, 2, 3, 4});
    EXPECT_EQ(err(r), "Delete: 3 SPIs of 4 bytes do not fit the 4 bytes that follow");
    EXPECT_EQ(at(r), 6u);
    // The largest count times the largest size: no overflow, no allocation.
    r = one(PayloadType::DELETE, {3, 255, 0xff, 0xff, 1, 2, 3, 4});
    EXPECT_EQ(err(r), "Delete: 65535 SPIs of 255 bytes do not fit the 4 bytes that follow");
    r = one(PayloadType::DELETE, {1, 0, 0, 2});
    EXPECT_EQ(err(r), "Delete: 2 SPIs of size 0");
    EXPECT_EQ(err(one(PayloadType::DELETE, {3, 4, 0})),
              "truncated Delete payload: need 4 bytes, have 3");
    EXPECT_TRUE(one(PayloadType::DELETE, {1, 0, 0, 0}).ok());
}

TEST(WireMalformed, BodyRules) {
    EXPECT_EQ(err(one(PayloadType::NONCE, Bytes(15, 1))), "Nonce length 15 outside 16..256");
    EXPECT_EQ(err(one(PayloadType::NONCE, Bytes(257, 1))), "Nonce length 257 outside 16..256");
    EXPECT_TRUE(one(PayloadType::NONCE, Bytes(16, 1)).ok());
    EXPECT_TRUE(one(PayloadType::NONCE, Bytes(256, 1)).ok());
    EXPECT_EQ(err(one(PayloadType::IDi, {1, 0, 0, 0, 192, 0, 2})),
              "IDi payload: ID type 1 needs 4 bytes, has 3");
    EXPECT_EQ(err(one(PayloadType::IDr, Bytes{5, 0, 0, 0, 1, 2, 3, 4})),
              "IDr payload: ID type 5 needs 16 bytes, has 4");
    EXPECT_EQ(err(one(PayloadType::IDi, {2, 0})), "truncated IDi payload: need 4 bytes, have 2");
    EXPECT_EQ(err(one(PayloadType::CERT, {})), "truncated CERT payload: need 1 bytes, have 0");
    EXPECT_EQ(err(one(PayloadType::AUTH, {2})), "truncated AUTH payload: need 4 bytes, have 1");
    EXPECT_EQ(err(one(PayloadType::NOTIFY, {3, 4, 0, 11, 1, 2})),
              "truncated Notify SPI: need 4 bytes, have 2");
    EXPECT_EQ(err(one(PayloadType::CP, {1, 0, 0, 0, 0, 1, 0, 4, 1})),
              "CP attribute 1 length 4 exceeds the payload (1 bytes left)");
    EXPECT_EQ(err(one(PayloadType::CP, {1, 0, 0, 0, 0, 1})),
              "truncated CP attribute: need 4 bytes, have 2");
    EXPECT_EQ(err(one(PayloadType::EAP, {1, 1, 0, 9, 1})),
              "EAP length 9 differs from the payload's 5");
    EXPECT_EQ(err(one(PayloadType::EAP, {7, 1, 0, 4})), "EAP code 7 is not 1..6");
    EXPECT_EQ(err(one(PayloadType::EAP, {1, 1, 0, 4})), "truncated EAP Type: need 1 bytes, have 0");
    EXPECT_TRUE(one(PayloadType::EAP, {3, 1, 0, 4}).ok());
    EXPECT_EQ(err(one(PayloadType::SKF, {0, 1})), "SKF payload inside an encrypted payload");
}

TEST(WireMalformed, SkfNumbering) {
    // RFC 7383 §2.5: fragment 3 of 2 and fragment 0 are impossible.
    for (auto [num, total] : {std::pair{3, 2}, std::pair{0, 2}, std::pair{1, 0}}) {
        Message m = samples::fragment();
        m.payloads[0].as<SkfPayload>()->fragment_number = std::uint16_t(num);
        m.payloads[0].as<SkfPayload>()->total_fragments = std::uint16_t(total);
        auto r = decode_message(encode_message(m));
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().what,
                  "SKF fragment " + std::to_string(num) + " of " + std::to_string(total));
        EXPECT_EQ(r.error().offset, 32u);
    }
    Message m = samples::fragment();
    auto ok = decode_message(encode_message(m));
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->payloads[0].as<SkfPayload>()->first_inner, 35);
    EXPECT_EQ(encrypted_body_offset(encode_message(m)), std::optional<std::size_t>(36));
}

TEST(WireMalformed, SkMustBeLast) {
    Message m = samples::ike_auth_encrypted();
    Bytes b = encode_message(m);
    Bytes vid{0, 0, 0, 6, 1, 2};  // a Vendor ID appended after SK
    b.insert(b.end(), vid.begin(), vid.end());
    store_be32(b.data() + 24, std::uint32_t(b.size()));
    auto r = decode_message(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "SK payload is not the last payload (6 bytes follow)");
    EXPECT_EQ(r.error().offset, b.size() - 6);
    // SK and SKF never appear inside SK.
    EXPECT_EQ(err(one(PayloadType::SK, Bytes(20, 0))), "SK payload inside an encrypted payload");
    EXPECT_EQ(at(one(PayloadType::SK, Bytes(20, 0))), 0u);
}

TEST(WireMalformed, SkBodyAndFirstInnerAreKept) {
    Message m = samples::ike_auth_encrypted();
    Bytes b = encode_message(m);
    auto r = decode_message(b);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->payloads.size(), 1u);
    const SkPayload* sk = r->payloads[0].as<SkPayload>();
    ASSERT_NE(sk, nullptr);
    EXPECT_EQ(sk->first_inner, std::uint8_t(PayloadType::IDi));
    EXPECT_EQ(sk->body, m.payloads[0].as<SkPayload>()->body);
    EXPECT_EQ(encrypted_body_offset(b), std::optional<std::size_t>(32));
    // The SK header's Next Payload names the first inner payload.
    EXPECT_EQ(b[28], std::uint8_t(PayloadType::IDi));
}

TEST(WireMalformed, UnknownPayloadsCriticalAndNot) {
    Message m;
    m.payloads.push_back(Payload{PayloadType(99), false, UnknownPayload{Bytes{1, 2, 3}}});
    m.payloads.push_back(make_payload(PayloadType::NONCE, NoncePayload{Bytes(16, 1)}));
    m.payloads.push_back(Payload{PayloadType(200), true, UnknownPayload{Bytes{4}}});
    m.payloads.push_back(Payload{PayloadType(150), true, UnknownPayload{}});
    Bytes b = encode_message(m);
    auto r = decode_message(b);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(encode_message(*r), b);  // kept raw, byte-exact
    ASSERT_TRUE(r->unsupported_critical().has_value());
    EXPECT_EQ(*r->unsupported_critical(), 200);  // the first critical unknown one

    m.payloads[2].critical = false;
    m.payloads[3].critical = false;
    r = decode_message(encode_message(m));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->unsupported_critical().has_value());
    EXPECT_EQ(r->payloads[0].as<UnknownPayload>()->body, (Bytes{1, 2, 3}));

    // A known payload with the critical bit is fine (§2.5: the bit only
    // matters for payloads the receiver does not understand), and the bit is
    // kept so the message re-encodes byte-exactly.
    m.payloads[1].critical = true;
    b = encode_message(m);
    EXPECT_EQ(b[28 + 4 + 3 + 1], 0x80);  // the Nonce's generic header flags
    r = decode_message(b);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->unsupported_critical().has_value());
    EXPECT_TRUE(r->payloads[1].critical);
    EXPECT_EQ(encode_message(*r), b);
    // Unknown payloads inside SK are reported the same way.
    auto inner = decode_payloads(99, Bytes{0, 0x80, 0, 4});
    ASSERT_TRUE(inner.ok());
    EXPECT_TRUE((*inner)[0].critical);
    EXPECT_EQ(err(decode_payloads(99, Bytes{0, 0x80, 0, 3})),
              "payload type 99 payload length 3 < 4");
}

TEST(WireMalformed, EncryptedBodyOffsetOnGarbage) {
    EXPECT_FALSE(encrypted_body_offset(Bytes(10, 0)).has_value());
    Bytes b = encode_message(samples::ike_auth_encrypted());
    Bytes bad = b;
    store_be16(bad.data() + 30, 3);
    EXPECT_FALSE(encrypted_body_offset(bad).has_value());
    bad = b;
    store_be16(bad.data() + 30, 0xffff);
    EXPECT_FALSE(encrypted_body_offset(bad).has_value());
    EXPECT_FALSE(encrypted_body_offset(encode_message(samples::ike_sa_init())).has_value());
}
