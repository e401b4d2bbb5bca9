// Typed notifies: numbers, builders and parsers.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "generators.h"
#include "wire/notify.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {

const NotifyPayload& body(const Payload& p) {
    return *p.as<NotifyPayload>();
}

NotifyPayload n(NotifyType t, Bytes d, Bytes spi = {}, ProtocolId proto = ProtocolId::NONE) {
    return NotifyPayload{proto, std::uint16_t(t), std::move(spi), std::move(d)};
}

// Through the wire and back, so builders produce decodable payloads.
NotifyPayload wire_trip(const Payload& p) {
    EncodedChain c = encode_payloads({p});
    auto back = decode_payloads(c.first, c.bytes);
    EXPECT_TRUE(back.ok());
    return back ? *(*back)[0].as<NotifyPayload>() : NotifyPayload{};
}

}  // namespace

TEST(Notify, NumbersMatchTheRegistries) {
    struct Want {
        NotifyType t;
        std::uint16_t v;
        const char* name;
    };
    const Want want[] = {
        {NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, 1, "UNSUPPORTED_CRITICAL_PAYLOAD"},
        {NotifyType::INVALID_IKE_SPI, 4, "INVALID_IKE_SPI"},
        {NotifyType::INVALID_MAJOR_VERSION, 5, "INVALID_MAJOR_VERSION"},
        {NotifyType::INVALID_SYNTAX, 7, "INVALID_SYNTAX"},
        {NotifyType::INVALID_MESSAGE_ID, 9, "INVALID_MESSAGE_ID"},
        {NotifyType::INVALID_SPI, 11, "INVALID_SPI"},
        {NotifyType::NO_PROPOSAL_CHOSEN, 14, "NO_PROPOSAL_CHOSEN"},
        {NotifyType::INVALID_KE_PAYLOAD, 17, "INVALID_KE_PAYLOAD"},
        {NotifyType::AUTHENTICATION_FAILED, 24, "AUTHENTICATION_FAILED"},
        {NotifyType::SINGLE_PAIR_REQUIRED, 34, "SINGLE_PAIR_REQUIRED"},
        {NotifyType::NO_ADDITIONAL_SAS, 35, "NO_ADDITIONAL_SAS"},
        {NotifyType::INTERNAL_ADDRESS_FAILURE, 36, "INTERNAL_ADDRESS_FAILURE"},
        {NotifyType::FAILED_CP_REQUIRED, 37, "FAILED_CP_REQUIRED"},
        {NotifyType::TS_UNACCEPTABLE, 38, "TS_UNACCEPTABLE"},
        {NotifyType::INVALID_SELECTORS, 39, "INVALID_SELECTORS"},
        {NotifyType::TEMPORARY_FAILURE, 43, "TEMPORARY_FAILURE"},
        {NotifyType::CHILD_SA_NOT_FOUND, 44, "CHILD_SA_NOT_FOUND"},
        {NotifyType::INITIAL_CONTACT, 16384, "INITIAL_CONTACT"},
        {NotifyType::SET_WINDOW_SIZE, 16385, "SET_WINDOW_SIZE"},
        {NotifyType::ADDITIONAL_TS_POSSIBLE, 16386, "ADDITIONAL_TS_POSSIBLE"},
        {NotifyType::IPCOMP_SUPPORTED, 16387, "IPCOMP_SUPPORTED"},
        {NotifyType::NAT_DETECTION_SOURCE_IP, 16388, "NAT_DETECTION_SOURCE_IP"},
        {NotifyType::NAT_DETECTION_DESTINATION_IP, 16389, "NAT_DETECTION_DESTINATION_IP"},
        {NotifyType::COOKIE, 16390, "COOKIE"},
        {NotifyType::USE_TRANSPORT_MODE, 16391, "USE_TRANSPORT_MODE"},
        {NotifyType::HTTP_CERT_LOOKUP_SUPPORTED, 16392, "HTTP_CERT_LOOKUP_SUPPORTED"},
        {NotifyType::REKEY_SA, 16393, "REKEY_SA"},
        {NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED, 16394, "ESP_TFC_PADDING_NOT_SUPPORTED"},
        {NotifyType::NON_FIRST_FRAGMENTS_ALSO, 16395, "NON_FIRST_FRAGMENTS_ALSO"},
        {NotifyType::MOBIKE_SUPPORTED, 16396, "MOBIKE_SUPPORTED"},
        {NotifyType::REDIRECT_SUPPORTED, 16406, "REDIRECT_SUPPORTED"},
        {NotifyType::REDIRECT, 16407, "REDIRECT"},
        {NotifyType::REDIRECTED_FROM, 16408, "REDIRECTED_FROM"},
        {NotifyType::TICKET_LT_OPAQUE, 16409, "TICKET_LT_OPAQUE"},
        {NotifyType::TICKET_REQUEST, 16410, "TICKET_REQUEST"},
        {NotifyType::TICKET_ACK, 16411, "TICKET_ACK"},
        {NotifyType::TICKET_NACK, 16412, "TICKET_NACK"},
        {NotifyType::TICKET_OPAQUE, 16413, "TICKET_OPAQUE"},
        {NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED, 16420, "IKEV2_MESSAGE_ID_SYNC_SUPPORTED"},
        {NotifyType::IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED, 16421,
         "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED"},
        {NotifyType::IKEV2_MESSAGE_ID_SYNC, 16422, "IKEV2_MESSAGE_ID_SYNC"},
        {NotifyType::IPSEC_REPLAY_COUNTER_SYNC, 16423, "IPSEC_REPLAY_COUNTER_SYNC"},
        {NotifyType::SECURE_PASSWORD_METHODS, 16424, "SECURE_PASSWORD_METHODS"},
        {NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, 16430, "IKEV2_FRAGMENTATION_SUPPORTED"},
        {NotifyType::SIGNATURE_HASH_ALGORITHMS, 16431, "SIGNATURE_HASH_ALGORITHMS"},
    };
    for (const Want& w : want) {
        EXPECT_EQ(std::uint16_t(w.t), w.v) << w.name;
        ASSERT_NE(notify_name(w.v), nullptr) << w.v;
        EXPECT_STREQ(notify_name(w.v), w.name);
        EXPECT_EQ(is_error_notify(w.v), w.v < 16384);
    }
    // Every enum value has a name, listed once, ascending.
    auto all = all_notify_types();
    EXPECT_GE(all.size(), std::size(want));
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_NE(notify_name(std::uint16_t(all[i])), nullptr);
        if (i) {
            EXPECT_LT(std::uint16_t(all[i - 1]), std::uint16_t(all[i]));
        }
    }
    EXPECT_EQ(notify_name(12345), nullptr);
}

TEST(Notify, EmptyStatusNotifies) {
    auto p = notify(NotifyType::INITIAL_CONTACT);
    EXPECT_EQ(p.type, PayloadType::NOTIFY);
    EXPECT_EQ(encode_payloads({p}).bytes, (Bytes{0, 0, 0, 8, 0, 0, 0x40, 0x00}));
    EXPECT_EQ(wire_trip(notify(NotifyType::TICKET_REQUEST)).type, 16410);
}

TEST(Notify, StructuredRoundTrips) {
    EXPECT_EQ(*parse_invalid_ke(wire_trip(notify_invalid_ke(19))), 19);
    EXPECT_EQ(encode_payloads({notify_invalid_ke(19)}).bytes,
              (Bytes{0, 0, 0, 10, 0, 0, 0, 17, 0, 19}));

    auto nat = notify_nat_detection(NotifyType::NAT_DETECTION_DESTINATION_IP, Bytes(20, 7));
    ASSERT_TRUE(nat.ok());
    EXPECT_EQ(to_bytes(*parse_nat_detection(wire_trip(*nat))), Bytes(20, 7));
    EXPECT_FALSE(notify_nat_detection(NotifyType::NAT_DETECTION_SOURCE_IP, Bytes(32, 7)).ok());
    EXPECT_FALSE(notify_nat_detection(NotifyType::COOKIE, Bytes(20, 7)).ok());

    auto ck = notify_cookie(Bytes(64, 1));
    ASSERT_TRUE(ck.ok());
    EXPECT_EQ(parse_cookie(wire_trip(*ck))->size(), 64u);
    EXPECT_FALSE(notify_cookie({}).ok());
    EXPECT_FALSE(notify_cookie(Bytes(65, 1)).ok());

    auto rk = wire_trip(notify_rekey_sa(ProtocolId::ESP, 0xc0ffee01));
    EXPECT_EQ(rk.type, std::uint16_t(NotifyType::REKEY_SA));
    EXPECT_EQ(rk.protocol, ProtocolId::ESP);
    EXPECT_EQ(*parse_child_spi(rk), 0xc0ffee01u);
    EXPECT_EQ(*parse_child_sa_ref(rk), (ChildSpi{ProtocolId::ESP, 0xc0ffee01}));
    auto nf = wire_trip(notify_child_sa_not_found(ProtocolId::AH, 0x01020304));
    EXPECT_EQ(*parse_child_sa_ref(nf), (ChildSpi{ProtocolId::AH, 0x01020304}));

    auto is = wire_trip(notify_invalid_spi(0xabcdef01));
    EXPECT_TRUE(is.spi.empty());
    EXPECT_EQ(is.data, (Bytes{0xab, 0xcd, 0xef, 0x01}));
    EXPECT_EQ(*parse_invalid_spi(is), 0xabcdef01u);
    // ... and from peers that put it into the SPI field.
    EXPECT_EQ(*parse_invalid_spi(n(NotifyType::INVALID_SPI, {}, {0, 0, 1, 0}, ProtocolId::ESP)),
              256u);

    EXPECT_EQ(*parse_unsupported_critical(wire_trip(notify_unsupported_critical(99))), 99);
    EXPECT_EQ(*parse_signature_hashes(wire_trip(notify_signature_hashes({1, 2, 5}))),
              (std::vector<std::uint16_t>{1, 2, 5}));

    MessageIdSync s{0xdeadbeef, 7, 9};
    auto sn = wire_trip(notify_message_id_sync(s));
    EXPECT_EQ(sn.data, (Bytes{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7, 0, 0, 0, 9}));
    EXPECT_EQ(sn.protocol, ProtocolId::NONE);
    EXPECT_TRUE(sn.spi.empty());
    EXPECT_EQ(*parse_message_id_sync(sn), s);

    auto r32 = notify_replay_counter_sync({1u << 20, false});
    ASSERT_TRUE(r32.ok());
    EXPECT_EQ(body(*r32).data.size(), 4u);
    EXPECT_EQ(*parse_replay_counter_sync(wire_trip(*r32)), (ReplayCounterSync{1u << 20, false}));
    auto r64 = notify_replay_counter_sync({1ull << 40, true});
    ASSERT_TRUE(r64.ok());
    EXPECT_EQ(body(*r64).data.size(), 8u);
    EXPECT_EQ(*parse_replay_counter_sync(wire_trip(*r64)), (ReplayCounterSync{1ull << 40, true}));
    EXPECT_FALSE(notify_replay_counter_sync({1ull << 32, false}).ok());

    Redirect r{1, Bytes{192, 0, 2, 7}, Bytes(32, 5)};
    auto rp = notify_redirect(NotifyType::REDIRECT, r);
    ASSERT_TRUE(rp.ok());
    EXPECT_EQ(body(*rp).data[0], 1);
    EXPECT_EQ(body(*rp).data[1], 4);
    EXPECT_EQ(*parse_redirect(wire_trip(*rp)), r);
    Redirect v6{2, Bytes(16, 0x20), {}};
    EXPECT_EQ(*parse_redirect(wire_trip(*notify_redirect(NotifyType::REDIRECT, v6))), v6);
    Redirect f{3, to_bytes("gw2.example"), {}};
    EXPECT_EQ(*parse_redirect(wire_trip(*notify_redirect(NotifyType::REDIRECTED_FROM, f))), f);
    EXPECT_FALSE(notify_redirect(NotifyType::REDIRECTED_FROM, r).ok());  // nonce not allowed
    EXPECT_FALSE(notify_redirect(NotifyType::COOKIE, f).ok());
    EXPECT_FALSE(notify_redirect(NotifyType::REDIRECT, Redirect{3, Bytes(256, 'a'), {}}).ok());

    TicketLifetime t{3600, Bytes(40, 9)};
    auto tl = wire_trip(notify_ticket_lt_opaque(t));
    EXPECT_EQ(Bytes(tl.data.begin(), tl.data.begin() + 4), (Bytes{0, 0, 0x0e, 0x10}));
    EXPECT_EQ(*parse_ticket_lt_opaque(tl), t);
    EXPECT_EQ(to_bytes(*parse_ticket_opaque(wire_trip(notify_ticket_opaque(Bytes(3, 1))))),
              Bytes(3, 1));
}

TEST(Notify, RejectsBadData) {
    auto e = parse_invalid_ke(n(NotifyType::INVALID_KE_PAYLOAD, {1}));
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().what, "INVALID_KE_PAYLOAD: data must be 2 octets, got 1");
    auto wrong = parse_invalid_ke(n(NotifyType::COOKIE, {0, 19}));
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().what, "expected a INVALID_KE_PAYLOAD notify, got COOKIE");
    EXPECT_FALSE(parse_nat_detection(n(NotifyType::NAT_DETECTION_SOURCE_IP, Bytes(19, 0))).ok());
    EXPECT_FALSE(parse_cookie(n(NotifyType::COOKIE, {})).ok());
    EXPECT_FALSE(parse_cookie(n(NotifyType::COOKIE, Bytes(65, 0))).ok());
    EXPECT_FALSE(parse_child_spi(n(NotifyType::REKEY_SA, {})).ok());
    EXPECT_FALSE(
        parse_child_sa_ref(n(NotifyType::REKEY_SA, {}, {1, 2, 3, 4}, ProtocolId::IKE)).ok());
    EXPECT_FALSE(parse_invalid_spi(n(NotifyType::INVALID_SPI, {1, 2})).ok());
    EXPECT_FALSE(parse_unsupported_critical(n(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, {})).ok());
    auto odd = parse_signature_hashes(n(NotifyType::SIGNATURE_HASH_ALGORITHMS, {0, 1, 0}));
    ASSERT_FALSE(odd.ok());
    EXPECT_EQ(odd.error().what, "SIGNATURE_HASH_ALGORITHMS: data length 3 is not a multiple of 2");
    auto ms = parse_message_id_sync(n(NotifyType::IKEV2_MESSAGE_ID_SYNC, Bytes(11, 0)));
    ASSERT_FALSE(ms.ok());
    EXPECT_EQ(ms.error().what, "IKEV2_MESSAGE_ID_SYNC: data must be 12 octets, got 11");
    auto rc = parse_replay_counter_sync(n(NotifyType::IPSEC_REPLAY_COUNTER_SYNC, Bytes(6, 0)));
    ASSERT_FALSE(rc.ok());
    EXPECT_EQ(rc.error().what,
              "IPSEC_REPLAY_COUNTER_SYNC: delta must be 4 (32-bit SN) or 8 (ESN) octets, got 6");
    auto rd = [](Bytes d) { return parse_redirect(n(NotifyType::REDIRECT, std::move(d))); };
    EXPECT_EQ(rd({1, 5, 1, 2, 3, 4, 5}).error().what,
              "REDIRECT: IPv4 gateway identity must be 4 octets, got 5");
    EXPECT_EQ(rd({1, 9, 1}).error().what,
              "REDIRECT: gateway identity length 9 exceeds the 1 octets that follow");
    EXPECT_EQ(rd({7, 0}).error().what, "REDIRECT: unknown gateway identity type 7");
    EXPECT_EQ(rd({3, 0}).error().what,
              "REDIRECT: FQDN gateway identity must be 1..255 octets, got 0");
    EXPECT_EQ(rd({1}).error().what, "REDIRECT: data of 1 octets, need at least 2");
    EXPECT_EQ(rd({1, 4, 1, 2, 3, 4, 9}).error().what, "REDIRECT: nonce length 1 outside 16..256");
    EXPECT_EQ(parse_redirect(n(NotifyType::REDIRECTED_FROM, {1, 4, 1, 2, 3, 4, 9})).error().what,
              "REDIRECTED_FROM: 1 octets after the gateway identity (no nonce allowed)");
    EXPECT_FALSE(parse_ticket_lt_opaque(n(NotifyType::TICKET_LT_OPAQUE, {0, 0, 0, 1})).ok());
    EXPECT_FALSE(parse_ticket_opaque(n(NotifyType::TICKET_OPAQUE, {})).ok());
}

RC_GTEST_PROP(Notify, TypedRoundTripProperties, ()) {
    MessageIdSync s{*rc::gen::arbitrary<std::uint32_t>(), *rc::gen::arbitrary<std::uint32_t>(),
                    *rc::gen::arbitrary<std::uint32_t>()};
    RC_ASSERT(*parse_message_id_sync(wire_trip(notify_message_id_sync(s))) == s);

    bool esn = *rc::gen::arbitrary<bool>();
    ReplayCounterSync rcs{
        esn ? *rc::gen::arbitrary<std::uint64_t>() : *rc::gen::arbitrary<std::uint32_t>(), esn};
    RC_ASSERT(*parse_replay_counter_sync(wire_trip(*notify_replay_counter_sync(rcs))) == rcs);

    std::uint8_t gw = *rc::gen::inRange<std::uint8_t>(1, 4);
    Redirect r{gw,
               gw == 1   ? *gen::bytes(4, 4)
               : gw == 2 ? *gen::bytes(16, 16)
                         : *gen::bytes(1, 255),
               *rc::gen::arbitrary<bool>() ? *gen::bytes(16, 256) : Bytes{}};
    RC_ASSERT(*parse_redirect(wire_trip(*notify_redirect(NotifyType::REDIRECT, r))) == r);

    TicketLifetime t{*rc::gen::arbitrary<std::uint32_t>(), *gen::bytes(1, 200)};
    RC_ASSERT(*parse_ticket_lt_opaque(wire_trip(notify_ticket_lt_opaque(t))) == t);

    auto ids = *rc::gen::container<std::vector<std::uint16_t>>(rc::gen::arbitrary<std::uint16_t>());
    RC_ASSERT(*parse_signature_hashes(wire_trip(notify_signature_hashes(ids))) == ids);

    std::uint16_t g = *rc::gen::arbitrary<std::uint16_t>();
    RC_ASSERT(*parse_invalid_ke(wire_trip(notify_invalid_ke(g))) == g);
    std::uint32_t spi = *rc::gen::arbitrary<std::uint32_t>();
    RC_ASSERT(*parse_invalid_spi(wire_trip(notify_invalid_spi(spi))) == spi);
    RC_ASSERT(*parse_child_spi(wire_trip(notify_rekey_sa(ProtocolId::ESP, spi))) == spi);
}
