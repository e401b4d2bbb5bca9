// Hostile IKE input at the engine (docs/hostile-input.md): the entries of
// the catalogue that no other test covered. Oversized datagrams, unknown
// critical payloads (in IKE_SA_INIT and inside SK), and forged INFORMATIONAL
// messages (in plaintext, under wrong keys, outside the window).
#include <gtest/gtest.h>

#include "pair.h"
#include "wire/notify.h"

using namespace testpair;

namespace {

// The initiator's real IKE_SA_INIT request (a fresh engine each time).
wire::Message init_request(Pair& p) {
    EXPECT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    for (auto& o : p.init->take_outputs()) {
        if (auto* d = std::get_if<SendDatagram>(&o)) {
            auto m = wire::decode_message(d->data);
            EXPECT_TRUE(m.ok());
            if (m) return *m;
        }
    }
    ADD_FAILURE() << "no IKE_SA_INIT request";
    return {};
}

std::vector<Bytes> datagrams(Engine& e) {
    std::vector<Bytes> r;
    for (auto& o : e.take_outputs()) {
        if (auto* d = std::get_if<SendDatagram>(&o)) r.push_back(d->data);
    }
    return r;
}

const Endpoint kFrom{kI, 500}, kTo{kR, 500};

// The inner payloads of an SK message the responder sent.
std::vector<wire::Payload> open_from_responder(const IkeSaState& st, const Bytes& msg) {
    auto c = crypto::SkCipher::create(st.suite.encr.id, st.suite.encr.key_bits, st.suite.integ,
                                      st.keys.sk_er, st.keys.sk_ar);
    EXPECT_TRUE(c.ok());
    const std::size_t aad = wire::kHeaderSize + wire::kGenericHeaderSize;
    auto inner = (*c)->open(BytesView(msg).first(aad), BytesView(msg).subspan(aad));
    EXPECT_TRUE(inner.ok());
    if (!inner) return {};
    auto ps = wire::decode_payloads(msg[wire::kHeaderSize], *inner);
    EXPECT_TRUE(ps.ok());
    return ps ? *ps : std::vector<wire::Payload>{};
}

}  // namespace

// Datagrams above max_message_size are dropped before any parsing: no
// state, no answer. Just below, the same request is answered.
TEST(HostileIke, OversizedDatagramsAreDroppedBeforeParsing) {
    Pair p;
    p.cr.max_message_size = 2000;
    p.start();
    wire::Message m = init_request(p);
    wire::Message big = m;
    big.payloads.push_back(
        wire::Payload{wire::PayloadType(99), false, wire::UnknownPayload{Bytes(2000, 0x55)}});
    const Bytes over = wire::encode_message(big);
    ASSERT_GT(over.size(), 2000u);
    p.resp->receive(p.now, kTo, kFrom, over);
    EXPECT_TRUE(datagrams(*p.resp).empty());
    EXPECT_EQ(p.resp->ike_sa_count(), 0u);
    EXPECT_EQ(p.resp->stats().dropped, 1u);
    // 70,000 octets of garbage at the default limit (65535): the same.
    Pair q;
    q.start();
    q.resp->receive(q.now, kTo, kFrom, Bytes(70000, 0x21));
    EXPECT_TRUE(datagrams(*q.resp).empty());
    EXPECT_EQ(q.resp->stats().dropped, 1u);
    // Within the limit, the padded request is a request like any other
    // (an unknown non-critical payload is ignored, RFC 7296 §2.5).
    big.payloads.back() =
        wire::Payload{wire::PayloadType(99), false, wire::UnknownPayload{Bytes(1000, 0x55)}};
    p.resp->receive(p.now, kTo, kFrom, wire::encode_message(big));
    EXPECT_EQ(datagrams(*p.resp).size(), 1u);
    EXPECT_EQ(p.resp->half_open_count(), 1u);
}

// RFC 7296 §2.5: a critical payload the receiver does not know rejects the
// whole message, answered with UNSUPPORTED_CRITICAL_PAYLOAD naming its type.
TEST(HostileIke, UnknownCriticalPayloadInIkeSaInitIsRefusedWithoutState) {
    Pair p;
    p.start();
    wire::Message m = init_request(p);
    m.payloads.push_back(
        wire::Payload{wire::PayloadType(200), true, wire::UnknownPayload{Bytes{1, 2, 3}}});
    p.resp->receive(p.now, kTo, kFrom, wire::encode_message(m));
    auto out = datagrams(*p.resp);
    ASSERT_EQ(out.size(), 1u);
    auto r = wire::decode_message(out[0]);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->header.is_response());
    ASSERT_EQ(r->payloads.size(), 1u);
    const auto* n = r->payloads[0].as<wire::NotifyPayload>();
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->notify_type(), wire::NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    auto type = wire::parse_unsupported_critical(*n);
    ASSERT_TRUE(type.ok());
    EXPECT_EQ(*type, 200);
    EXPECT_EQ(p.resp->ike_sa_count(), 0u);
}

TEST(HostileIke, UnknownCriticalPayloadInsideSkIsRefusedAndChangesNothing) {
    Pair p;
    p.establish();
    const IkeSaState st = p.sa_i();
    const IkeSaState before = p.sa_r();
    wire::Payload crit{wire::PayloadType(200), true, wire::UnknownPayload{Bytes{1, 2, 3}}};
    wire::Payload del =
        make_payload(wire::PayloadType::DELETE, wire::DeletePayload{ProtocolId::IKE, 0, {}});
    // A Delete of the IKE SA next to it must not be acted on either.
    p.resp->receive(p.now, kTo, kFrom,
                    seal_as(st, true, ExchangeType::INFORMATIONAL, 2, {del, crit}));
    auto out = datagrams(*p.resp);
    ASSERT_EQ(out.size(), 1u);
    auto inner = open_from_responder(st, out[0]);
    ASSERT_EQ(inner.size(), 1u);
    const auto* n = inner[0].as<wire::NotifyPayload>();
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->notify_type(), wire::NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    ASSERT_EQ(p.resp->established().size(), 1u);
    EXPECT_EQ(p.sa_r().children, before.children);
    EXPECT_EQ(p.sa_r().msgids.next_request_in, 3u);  // answered: the ID is used
}

// Forged INFORMATIONAL: in plaintext (no SK payload), sealed with keys that
// are not the SA's, or outside the message-ID window. Each is dropped
// without an answer (RFC 7296 §2.21.2, §3.14: only an authenticated message
// is acted on; §2.3: a request outside the window is dropped), and the SA
// with its message IDs is untouched.
TEST(HostileIke, ForgedInformationalMessagesAreDropped) {
    Pair p;
    IkeSpis spis = p.establish();
    const IkeSaState st = p.sa_i();
    const IkeSaState before = p.sa_r();
    const std::uint64_t dropped = p.resp->stats().dropped;
    wire::Payload del =
        make_payload(wire::PayloadType::DELETE, wire::DeletePayload{ProtocolId::IKE, 0, {}});
    // 1. Plaintext, with the right SPIs and the expected message ID.
    wire::Message plain;
    plain.header.spi_i = spis.spi_i;
    plain.header.spi_r = spis.spi_r;
    plain.header.exchange = std::uint8_t(ExchangeType::INFORMATIONAL);
    plain.header.flags = wire::kFlagInitiator;
    plain.header.message_id = 2;
    plain.payloads.push_back(del);
    p.resp->receive(p.now, kTo, kFrom, wire::encode_message(plain));
    // ... and as a response to the initiator (nothing outstanding anyway).
    plain.header.flags = wire::kFlagResponse;
    plain.header.message_id = 0;
    p.init->receive(p.now, kFrom, kTo, wire::encode_message(plain));
    // 2. Sealed with other keys.
    IkeSaState wrong = st;
    for (auto& b : wrong.keys.sk_ei)
        b ^= 0x5a;
    for (auto& b : wrong.keys.sk_ai)
        b ^= 0x5a;
    p.resp->receive(p.now, kTo, kFrom, seal_as(wrong, true, ExchangeType::INFORMATIONAL, 2, {del}));
    // 3. Genuine keys, but message IDs ahead of and behind the window.
    p.resp->receive(p.now, kTo, kFrom, seal_as(st, true, ExchangeType::INFORMATIONAL, 3, {del}));
    p.resp->receive(p.now, kTo, kFrom,
                    seal_as(st, true, ExchangeType::INFORMATIONAL, 0x7fffffff, {del}));
    // 4. Our responder SPI with another initiator SPI: nothing (not a lost
    //    SA, so no INVALID_IKE_SPI either).
    plain.header.spi_i ^= 1;
    plain.header.flags = wire::kFlagInitiator;
    p.resp->receive(p.now, kTo, kFrom, wire::encode_message(plain));

    EXPECT_TRUE(datagrams(*p.resp).empty());
    EXPECT_TRUE(datagrams(*p.init).empty());
    EXPECT_EQ(p.resp->stats().dropped, dropped + 5);
    ASSERT_EQ(p.resp->established().size(), 1u);
    ASSERT_EQ(p.init->established().size(), 1u);
    EXPECT_EQ(p.sa_r(), before);
    // The genuine Delete still works afterwards.
    ASSERT_TRUE(p.init->delete_ike(p.now, spis).ok());
    p.run();
    EXPECT_TRUE(p.resp->established().empty());
}

// RFC 7296 §3.10.1: an authentic request in the window whose inner payloads
// do not parse gets INVALID_SYNTAX (allowed because the Message ID and ICV
// were valid) and uses its message ID; the SA carries on.
TEST(HostileIke, AnAuthenticRequestThatDoesNotParseGetsInvalidSyntax) {
    Pair p;
    IkeSpis spis = p.establish();
    const IkeSaState st = p.sa_i();
    const std::uint32_t id = st.msgids.next_request_out;
    // seal_as with a raw plaintext: a Notify whose length field (2) is
    // shorter than the generic header.
    auto c = crypto::SkCipher::create(st.suite.encr.id, st.suite.encr.key_bits, st.suite.integ,
                                      st.keys.sk_ei, st.keys.sk_ai);
    ASSERT_TRUE(c.ok());
    const Bytes plain{0, 0, 0, 2};
    std::size_t body = (*c)->sealed_size(plain.size());
    Bytes msg;
    Writer w(msg);
    w.u64(spis.spi_i);
    w.u64(spis.spi_r);
    w.u8(std::uint8_t(wire::PayloadType::SK));
    w.u8(0x20);
    w.u8(std::uint8_t(ExchangeType::INFORMATIONAL));
    w.u8(wire::kFlagInitiator);
    w.u32(id);
    w.u32(std::uint32_t(wire::kHeaderSize + wire::kGenericHeaderSize + body));
    w.u8(std::uint8_t(wire::PayloadType::NOTIFY));
    w.u8(0);
    w.u16(std::uint16_t(wire::kGenericHeaderSize + body));
    crypto::DeterministicRandom r(5);
    w.bytes((*c)->seal(msg, plain, r));
    p.resp->receive(p.now, Endpoint{kR, 500}, Endpoint{kI, 500}, msg);
    auto out = Pair::of<SendDatagram>(p.resp->take_outputs());
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(p.sa_r().msgids.next_request_in, id + 1);
    // The answer is the responder's sealed INVALID_SYNTAX: the initiator
    // state is untouched (it never sent this), and exchanges go on with
    // the next ID.
    p.init->receive(p.now, out[0].remote, out[0].local, out[0].data);
    (void)p.init->take_outputs();
    auto m = wire::decode_message(out[0].data);
    ASSERT_TRUE(m.ok());
    EXPECT_TRUE(m->header.is_response());
    EXPECT_EQ(m->header.message_id, id);
    auto rc = crypto::SkCipher::create(st.suite.encr.id, st.suite.encr.key_bits, st.suite.integ,
                                       st.keys.sk_er, st.keys.sk_ar);
    ASSERT_TRUE(rc.ok());
    const auto* sk = m->payloads.back().as<wire::SkPayload>();
    ASSERT_NE(sk, nullptr);
    auto off = wire::encrypted_body_offset(out[0].data);
    ASSERT_TRUE(off.has_value());
    auto pt = (*rc)->open(BytesView(out[0].data).first(*off), sk->body);
    ASSERT_TRUE(pt.ok());
    auto inner = wire::decode_payloads(sk->first_inner, *pt);
    ASSERT_TRUE(inner.ok());
    ASSERT_EQ(inner->size(), 1u);
    const auto* n = (*inner)[0].as<wire::NotifyPayload>();
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->type, std::uint16_t(wire::NotifyType::INVALID_SYNTAX));
    EXPECT_EQ(p.resp->established().size(), 1u);
}
