// Truncation at every byte of real strongSwan messages, and specific malformed
// inputs with the exact error and offset the decoder must report.
#include <gtest/gtest.h>

#include "base/buffer.h"
#include "golden/golden_file.h"
#include "wire/message.h"
#include "wire/notify.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {

std::vector<Bytes> golden_messages() {
    std::vector<Bytes> out;
    for (const char* name : {"aes256gcm16-prfsha256-x25519", "aes128-sha256-modp2048"}) {
        auto g = golden::read_golden(std::string(IKEC_TEST_DATA_DIR) + "/golden/" + name + ".txt");
        EXPECT_TRUE(g.ok()) << g.error().what;
        if (!g) continue;
        for (auto& m : g->messages)
            out.push_back(m.data);
    }
    return out;
}

// A plain IKE_SA_INIT-like message built by us, for targeted corruption.
Bytes sample_init() {
    Message m;
    m.header.spi_i = 0x0102030405060708ull;
    m.header.flags = kFlagInitiator;
    SaPayload sa;
    Proposal p;
    p.transforms = {Transform{TransformType::ENCR, 20, {Attribute{kAttrKeyLength, true, 256, {}}}},
                    Transform{TransformType::PRF, 5, {}}, Transform{TransformType::DH, 31, {}}};
    sa.proposals.push_back(p);
    m.payloads.push_back(make_payload(PayloadType::SA, sa));
    m.payloads.push_back(make_payload(PayloadType::KE, KePayload{31, Bytes(32, 0xaa)}));
    m.payloads.push_back(make_payload(PayloadType::NONCE, NoncePayload{Bytes(32, 0xbb)}));
    m.payloads.push_back(notify(NotifyType::NAT_DETECTION_SOURCE_IP, Bytes(20, 0xcc)));
    return encode_message(m);
}

Result<Message> decode_patched(Bytes b) {
    store_be32(b.data() + 24, std::uint32_t(b.size()));
    return decode_message(b);
}

}  // namespace

TEST(WireTruncation, EveryPrefixOfRealMessagesIsRejected) {
    auto msgs = golden_messages();
    ASSERT_EQ(msgs.size(), 8u);
    std::size_t checked = 0;
    for (const Bytes& full : msgs) {
        ASSERT_TRUE(decode_message(full).ok());
        for (std::size_t n = 0; n < full.size(); ++n) {
            BytesView prefix(full.data(), n);
            auto r = decode_message(prefix);
            ASSERT_FALSE(r.ok()) << "prefix " << n << " of " << full.size();
            // With the length field patched to match, the payload layer must
            // find the damage itself (never read past the end).
            if (n >= kHeaderSize) {
                auto p = decode_patched(Bytes(full.begin(), full.begin() + std::ptrdiff_t(n)));
                // A cut inside the SK body is undetectable here (the body is
                // opaque until decrypted) -- the ICV check catches it.
                auto off = encrypted_body_offset(full);
                if (!off || n < *off) {
                    ASSERT_FALSE(p.ok()) << "patched prefix " << n << " of " << full.size();
                    ASSERT_LE(p.error().offset, n);
                }
            }
            ++checked;
        }
    }
    EXPECT_GT(checked, 2000u);
}

TEST(WireMalformed, HeaderErrors) {
    Bytes b = sample_init();
    auto short_hdr = decode_message(BytesView(b.data(), 27));
    ASSERT_FALSE(short_hdr.ok());
    EXPECT_EQ(short_hdr.error().what, "truncated IKE header: need 28 bytes, have 27");

    Bytes longer = b;
    longer.push_back(0);
    auto mism = decode_message(longer);
    ASSERT_FALSE(mism.ok());
    EXPECT_EQ(mism.error().offset, 24u);
    EXPECT_NE(mism.error().what.find("differs from the datagram"), std::string::npos);

    Bytes v3 = b;
    v3[17] = 0x30;
    DecodeFailure why;
    auto r = decode_message(v3, &why);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(why, DecodeFailure::UNSUPPORTED_VERSION);
    EXPECT_EQ(r.error().offset, 17u);
}

TEST(WireMalformed, PayloadLengths) {
    Bytes b = sample_init();
    // SA payload starts at 28; its length field at 30.
    Bytes tiny = b;
    store_be16(tiny.data() + 30, 3);
    auto r = decode_message(tiny);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "SA payload length 3 < 4");
    EXPECT_EQ(r.error().offset, 30u);

    Bytes past = b;
    store_be16(past.data() + 30, 0xffff);
    r = decode_message(past);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("exceeds the message"), std::string::npos);
}

TEST(WireMalformed, SaSubstructures) {
    Bytes b = sample_init();
    // Proposal at 32: marker 0; make it "more follow" (2) with nothing after.
    Bytes more = b;
    more[32] = 2;
    auto r = decode_message(more);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("last proposal is not marked last"), std::string::npos)
        << r.error().what;

    Bytes badmark = b;
    badmark[32] = 1;
    r = decode_message(badmark);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "Proposal: last-substructure value 1, expected 0 or 2");
    EXPECT_EQ(r.error().offset, 32u);

    // Proposal announces 4 transforms but holds 3.
    Bytes count = b;
    count[39] = 4;
    r = decode_message(count);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("marker disagrees"), std::string::npos) << r.error().what;

    // First transform (at 40) claims a length reaching past the proposal.
    Bytes tlen = b;
    store_be16(tlen.data() + 42, 200);
    r = decode_message(tlen);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("Transform length 200 exceeds the proposal"), std::string::npos);
}

TEST(WireMalformed, BodyRules) {
    auto chain = [](PayloadType t, Bytes body) {
        Bytes out{0, 0, 0, 0};
        out.insert(out.end(), body.begin(), body.end());
        store_be16(out.data() + 2, std::uint16_t(out.size()));
        return decode_payloads(std::uint8_t(t), out);
    };
    EXPECT_EQ(chain(PayloadType::NONCE, Bytes(8, 1)).error().what,
              "Nonce length 8 outside 16..256");
    EXPECT_EQ(chain(PayloadType::NONCE, Bytes(257, 1)).error().what,
              "Nonce length 257 outside 16..256");
    EXPECT_EQ(chain(PayloadType::IDi, Bytes{1, 0, 0, 0, 192, 0, 2}).error().what,
              "ID type 1 needs 4 bytes, has 3");
    EXPECT_NE(chain(PayloadType::DELETE, Bytes{3, 4, 0, 3, 1, 2, 3, 4})
                  .error()
                  .what.find("3 SPIs of 4 bytes"),
              std::string::npos);
    EXPECT_NE(chain(PayloadType::TSi,
                    Bytes{1, 0, 0, 0, 7, 0, 0, 15, 0, 0, 255, 255, 1, 2, 3, 4, 5, 6, 7, 8})
                  .error()
                  .what.find("selector length 15"),
              std::string::npos);
    EXPECT_NE(chain(PayloadType::TSi, Bytes{1, 0, 0, 0, 9, 0, 0, 16})
                  .error()
                  .what.find("unsupported traffic selector type 9"),
              std::string::npos);
    EXPECT_NE(chain(PayloadType::EAP, Bytes{1, 1, 0, 9, 1}).error().what.find("EAP length 9"),
              std::string::npos);
    EXPECT_NE(chain(PayloadType::EAP, Bytes{7, 1, 0, 4}).error().what.find("EAP code 7"),
              std::string::npos);
    {
        // SKF numbering (RFC 7383 §2.5): fragment 3 of 2 is impossible.
        Message m;
        m.payloads.push_back(make_payload(PayloadType::SKF, SkfPayload{0, 3, 2, Bytes(16, 1)}));
        auto r = decode_message(encode_message(m));
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().what, "SKF fragment 3 of 2");
        EXPECT_EQ(r.error().offset, 32u);
    }
    // SK inside SK (decode_payloads is for decrypted content).
    EXPECT_NE(chain(PayloadType::SK, Bytes(20, 0)).error().what.find("inside an encrypted payload"),
              std::string::npos);
}

TEST(WireMalformed, SkMustBeLast) {
    Message m;
    m.payloads.push_back(make_payload(PayloadType::SK, SkPayload{41, Bytes(24, 7)}));
    Bytes b = encode_message(m);
    // Append a Vendor ID after the SK payload by hand.
    Bytes vid{0, 0, 0, 6, 1, 2};
    b.insert(b.end(), vid.begin(), vid.end());
    store_be32(b.data() + 24, std::uint32_t(b.size()));
    auto r = decode_message(b);
    // SK's length covers only its body, so 6 bytes follow it.
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("SK payload is not the last payload (6 bytes follow)"),
              std::string::npos)
        << r.error().what;
}

TEST(WireMalformed, UnknownPayloadsCriticalAndNot) {
    Message m;
    m.payloads.push_back(Payload{PayloadType(99), false, UnknownPayload{Bytes{1, 2, 3}}});
    m.payloads.push_back(make_payload(PayloadType::NONCE, NoncePayload{Bytes(16, 1)}));
    Bytes b = encode_message(m);
    auto r = decode_message(b);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->unsupported_critical().has_value());
    EXPECT_EQ(encode_message(*r), b);  // kept raw, byte-exact

    m.payloads[0].critical = true;
    r = decode_message(encode_message(m));
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->unsupported_critical().has_value());
    EXPECT_EQ(*r->unsupported_critical(), 99);
    // A known payload with the critical bit is fine (§2.5: the bit only matters
    // for payloads the receiver does not understand).
    m.payloads[0].critical = false;
    m.payloads[1].critical = true;
    r = decode_message(encode_message(m));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->unsupported_critical().has_value());
}

TEST(WireMalformed, TrailingBytesAfterChain) {
    Bytes b = sample_init();
    // Last payload's next field is 0; append bytes and fix the header length.
    b.insert(b.end(), {1, 2, 3});
    auto r = decode_patched(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "3 bytes after the last payload");
}
