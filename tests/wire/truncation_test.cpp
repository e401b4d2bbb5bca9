// Truncation at every byte: of our realistic messages and of real strongSwan
// 5.9.8 captures. Every prefix must be rejected without reading out of
// bounds (ASan builds check the latter); with the header length patched to
// match, the payload layer must find the damage and say where.
#include <gtest/gtest.h>

#include "base/buffer.h"
#include "golden/golden_file.h"
#include "samples.h"

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

std::vector<Bytes> our_messages() {
    return {encode_message(samples::ike_sa_init()), encode_message(samples::ike_auth_plain()),
            encode_message(samples::ike_auth_encrypted()), encode_message(samples::informational()),
            encode_message(samples::fragment())};
}

Bytes prefix(const Bytes& b, std::size_t n) {
    return Bytes(b.begin(), b.begin() + std::ptrdiff_t(n));
}

// The first `n` bytes with the header's Length patched to n.
Bytes patched(const Bytes& b, std::size_t n) {
    Bytes p = prefix(b, n);
    store_be32(p.data() + kOffsetLength, std::uint32_t(n));
    return p;
}

// Offsets of each payload's generic header in an encoded message.
std::vector<std::size_t> payload_offsets(const Bytes& m) {
    std::vector<std::size_t> out;
    std::uint8_t next = m[kOffsetNextPayload];
    std::size_t pos = kHeaderSize;
    while (next != 0 && pos + 4 <= m.size()) {
        out.push_back(pos);
        if (next == 46 || next == 53) break;
        next = m[pos];
        pos += load_be16(m.data() + pos + 2);
    }
    return out;
}

// Cuts the message inside payload `index` after `body_bytes` of its body and
// patches both the header Length and that payload's Length to match.
Bytes shrink_payload(const Bytes& m, std::size_t index, std::size_t body_bytes) {
    std::size_t at = payload_offsets(m).at(index);
    Bytes p = patched(m, at + 4 + body_bytes);
    store_be16(p.data() + at + 2, std::uint16_t(4 + body_bytes));
    p[at] = 0;  // it is the last payload now
    return p;
}

void expect_error(const Result<Message>& r, std::size_t offset, const std::string& what) {
    ASSERT_FALSE(r.ok()) << "expected: " << what;
    EXPECT_EQ(r.error().what, what);
    EXPECT_EQ(r.error().offset, offset) << what;
}

void every_prefix_is_rejected(const Bytes& full, const std::string& name) {
    ASSERT_TRUE(decode_message(full).ok()) << name << ": " << decode_message(full).error().what;
    auto off = encrypted_body_offset(full);
    for (std::size_t n = 0; n < full.size(); ++n) {
        DecodeFailure why = DecodeFailure::UNSUPPORTED_VERSION;
        auto r = decode_message(prefix(full, n), &why);
        ASSERT_FALSE(r.ok()) << name << ": prefix " << n << " of " << full.size();
        EXPECT_EQ(why, DecodeFailure::MALFORMED);
        EXPECT_LE(r.error().offset, n);
        if (n < kHeaderSize) continue;
        // A cut inside the SK body is invisible here (the body is opaque until
        // decrypted; the ICV check catches it).
        if (off && n >= *off) continue;
        auto p = decode_message(patched(full, n));
        ASSERT_FALSE(p.ok()) << name << ": patched prefix " << n << " of " << full.size();
        EXPECT_LE(p.error().offset, n) << p.error().what;
    }
}

}  // namespace

TEST(WireTruncation, EveryPrefixOfOurMessagesIsRejected) {
    int i = 0;
    for (const Bytes& m : our_messages())
        every_prefix_is_rejected(m, "sample " + std::to_string(i++));
}

TEST(WireTruncation, EveryPrefixOfStrongSwanMessagesIsRejected) {
    auto msgs = golden_messages();
    ASSERT_EQ(msgs.size(), 8u);
    int i = 0;
    for (const Bytes& m : msgs)
        every_prefix_is_rejected(m, "strongSwan message " + std::to_string(i++));
}

TEST(WireTruncation, EveryPrefixOfTheInnerChainIsRejected) {
    EncodedChain c = encode_payloads(samples::ike_auth_inner());
    ASSERT_TRUE(decode_payloads(c.first, c.bytes).ok());
    for (std::size_t n = 0; n < c.bytes.size(); ++n) {
        auto r = decode_payloads(c.first, BytesView(c.bytes).first(n), 44);
        ASSERT_FALSE(r.ok()) << "prefix " << n;
        EXPECT_GE(r.error().offset, 44u);
        EXPECT_LE(r.error().offset, 44 + n);
    }
}

TEST(WireTruncation, ExactErrorsFromTheGenericHeaderLayer) {
    Bytes init = encode_message(samples::ike_sa_init());
    auto at = payload_offsets(init);
    ASSERT_EQ(at.size(), 9u);
    ASSERT_EQ(at[0], 28u);
    const std::size_t sa_len = load_be16(init.data() + 30);

    expect_error(decode_message(prefix(init, 27)), 0,
                 "truncated IKE header: need 28 bytes, have 27");
    expect_error(
        decode_message(prefix(init, 100)), 24,
        "IKE header length " + std::to_string(init.size()) + " differs from the datagram's 100");
    expect_error(decode_message(patched(init, 30)), 28,
                 "truncated SA payload header: need 4 bytes, have 2");
    expect_error(
        decode_message(patched(init, 38)), 30,
        "SA payload length " + std::to_string(sa_len) + " exceeds the message (10 bytes left)");
    // Cut right after the SA payload: the KE header is missing.
    expect_error(decode_message(patched(init, at[1])), at[1],
                 "truncated KE payload header: need 4 bytes, have 0");
    // Cut inside the Nonce (at[2]): 36 octets announced.
    expect_error(decode_message(patched(init, at[2] + 20)), at[2] + 2,
                 "Nonce payload length 36 exceeds the message (20 bytes left)");
}

TEST(WireTruncation, ExactErrorsFromThePayloadBodies) {
    Bytes init = encode_message(samples::ike_sa_init());
    // SA body cut 11 octets in: the first proposal's header is there, its
    // length reaches further.
    const std::size_t p1_len = load_be16(init.data() + 32 + 2);
    expect_error(
        decode_message(shrink_payload(init, 0, 11)), 34,
        "Proposal length " + std::to_string(p1_len) + " exceeds the SA payload (11 bytes left)");
    expect_error(decode_message(shrink_payload(init, 0, 5)), 32,
                 "truncated Proposal substructure: need 8 bytes, have 5");
    auto at = payload_offsets(init);
    expect_error(decode_message(shrink_payload(init, 1, 2)), at[1] + 4,
                 "truncated KE payload: need 4 bytes, have 2");
    expect_error(decode_message(shrink_payload(init, 2, 8)), at[2] + 4,
                 "Nonce length 8 outside 16..256");
    expect_error(decode_message(shrink_payload(init, 3, 3)), at[3] + 4,
                 "truncated Notify payload: need 4 bytes, have 3");

    Bytes auth = encode_message(samples::ike_auth_plain());
    auto aat = payload_offsets(auth);
    // Payload 8 is TSi: 4 octets of header, then a 16-octet IPv4 selector.
    ASSERT_EQ(auth[aat[7]], std::uint8_t(PayloadType::TSi));
    expect_error(decode_message(shrink_payload(auth, 8, 14)), aat[8] + 8,
                 "truncated TSi selector 1 of 2: need 16 bytes, have 10");
    expect_error(decode_message(shrink_payload(auth, 8, 2)), aat[8] + 4,
                 "truncated TSi payload: need 4 bytes, have 2");
    // Payload 3 is IDr (ID_IPV4_ADDR): 2 of the 4 address octets.
    expect_error(decode_message(shrink_payload(auth, 3, 6)), aat[3] + 8,
                 "IDr payload: ID type 1 needs 4 bytes, has 2");
    // Payload 11 is EAP: its own Length no longer matches.
    expect_error(decode_message(shrink_payload(auth, 11, 6)), aat[11] + 6,
                 "EAP length 9 differs from the payload's 6");
}

TEST(WireTruncation, TruncatedTransformSubstructure) {
    // SA body: one proposal (marker 0, length 11, #1, IKE, SPI size 0, one
    // transform) holding only 3 octets of its transform.
    Bytes sa{0, 0, 0, 15, 0, 0, 0, 11, 1, 1, 0, 1, 0, 0, 0};
    auto r = decode_payloads(std::uint8_t(PayloadType::SA), sa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "truncated Transform substructure: need 8 bytes, have 3");
    EXPECT_EQ(r.error().offset, 12u);
}
