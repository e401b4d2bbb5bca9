#include <gtest/gtest.h>

#include "wire/esp.h"
#include "wire/message.h"
#include "wire/notify.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {
NotifyPayload body(const Payload& p) {
    return *p.as<NotifyPayload>();
}
}  // namespace

TEST(Notify, TypedRoundTrips) {
    EXPECT_EQ(*parse_invalid_ke(body(notify_invalid_ke(19))), 19);
    auto rk = body(notify_rekey_sa(ProtocolId::ESP, 0xc0ffee01));
    EXPECT_EQ(rk.type, std::uint16_t(NotifyType::REKEY_SA));
    EXPECT_EQ(rk.protocol, ProtocolId::ESP);
    EXPECT_EQ(*parse_child_spi(rk), 0xc0ffee01u);
    EXPECT_EQ(*parse_unsupported_critical(body(notify_unsupported_critical(99))), 99);
    EXPECT_EQ(*parse_signature_hashes(body(notify_signature_hashes({1, 2, 5}))),
              (std::vector<std::uint16_t>{1, 2, 5}));
    MessageIdSync s{0xdeadbeef, 7, 9};
    auto sn = body(notify_message_id_sync(s));
    EXPECT_EQ(sn.data.size(), 12u);
    EXPECT_EQ(*parse_message_id_sync(sn), s);
    EXPECT_EQ(*parse_replay_counter_sync(body(notify_replay_counter_sync(1u << 20, 4))), 1u << 20);
    EXPECT_EQ(*parse_replay_counter_sync(body(notify_replay_counter_sync(1ull << 40, 8))),
              1ull << 40);
    Redirect r{1, Bytes{192, 0, 2, 7}, Bytes(32, 5)};
    EXPECT_EQ(*parse_redirect(body(notify_redirect(NotifyType::REDIRECT, r))), r);
    Redirect f{3, to_bytes("gw2.example"), {}};
    EXPECT_EQ(*parse_redirect(body(notify_redirect(NotifyType::REDIRECTED_FROM, f))), f);
    TicketLifetime t{3600, Bytes(40, 9)};
    EXPECT_EQ(*parse_ticket_lt_opaque(body(notify_ticket_lt_opaque(t))), t);
    EXPECT_STREQ(notify_name(16422), "IKEV2_MESSAGE_ID_SYNC");
    EXPECT_EQ(notify_name(12345), nullptr);
}

TEST(Notify, RejectsBadData) {
    auto n = [](NotifyType t, Bytes d) {
        return NotifyPayload{ProtocolId::NONE, std::uint16_t(t), {}, std::move(d)};
    };
    EXPECT_FALSE(parse_invalid_ke(n(NotifyType::INVALID_KE_PAYLOAD, {1})).ok());
    EXPECT_FALSE(parse_nat_detection(n(NotifyType::NAT_DETECTION_SOURCE_IP, Bytes(19, 0))).ok());
    EXPECT_TRUE(parse_nat_detection(n(NotifyType::NAT_DETECTION_SOURCE_IP, Bytes(20, 0))).ok());
    EXPECT_FALSE(parse_cookie(n(NotifyType::COOKIE, {})).ok());
    EXPECT_FALSE(parse_cookie(n(NotifyType::COOKIE, Bytes(65, 0))).ok());
    EXPECT_FALSE(parse_message_id_sync(n(NotifyType::IKEV2_MESSAGE_ID_SYNC, Bytes(11, 0))).ok());
    EXPECT_FALSE(
        parse_replay_counter_sync(n(NotifyType::IPSEC_REPLAY_COUNTER_SYNC, Bytes(6, 0))).ok());
    EXPECT_FALSE(
        parse_redirect(n(NotifyType::REDIRECT, {1, 5, 1, 2, 3, 4, 5})).ok());  // IPv4 with 5 octets
    EXPECT_FALSE(parse_redirect(n(NotifyType::REDIRECT, {1, 9, 1})).ok());  // length past the end
    EXPECT_FALSE(parse_redirect(n(NotifyType::REDIRECT, {7, 0})).ok());     // unknown type
    EXPECT_FALSE(parse_ticket_lt_opaque(n(NotifyType::TICKET_LT_OPAQUE, {0, 0, 0, 1})).ok());
    EXPECT_FALSE(parse_child_spi(n(NotifyType::INVALID_SPI, {})).ok());
    auto e = parse_invalid_ke(n(NotifyType::INVALID_KE_PAYLOAD, {1}));
    EXPECT_EQ(e.error().what, "INVALID_KE_PAYLOAD: data must be 2 octets, got 1");
}

TEST(Esp, HeaderParse) {
    Bytes p{0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x05, 0xaa};
    auto h = parse_esp_header(p);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->spi, 0x1234u);
    EXPECT_EQ(h->seq, 5u);
    EXPECT_FALSE(parse_esp_header(BytesView(p.data(), 7)).ok());
    Bytes zero{0, 0, 0, 0, 0, 0, 0, 1};
    EXPECT_EQ(parse_esp_header(zero).error().what, "reserved ESP SPI 0");
    Bytes out(8);
    write_esp_header(out.data(), EspHeader{0xabcdef01, 0x02030405});
    EXPECT_EQ(out, (Bytes{0xab, 0xcd, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05}));
}

TEST(Esp, UdpEncapClassification) {
    auto ka = classify_udp_encap(Bytes{0xff});
    ASSERT_TRUE(ka.ok());
    EXPECT_EQ(ka->kind, UdpEncapKind::NAT_KEEPALIVE);
    Bytes ike(28, 0x11);
    Bytes framed = with_non_esp_marker(ike);
    ASSERT_EQ(framed.size(), 32u);
    auto i = classify_udp_encap(framed);
    ASSERT_TRUE(i.ok());
    EXPECT_EQ(i->kind, UdpEncapKind::IKE);
    EXPECT_EQ(Bytes(i->payload.begin(), i->payload.end()), ike);
    auto e = classify_udp_encap(Bytes{0, 0, 1, 0, 0, 0, 0, 1, 9, 9});
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->kind, UdpEncapKind::ESP);
    EXPECT_EQ(e->payload.size(), 10u);
    EXPECT_FALSE(classify_udp_encap(Bytes{}).ok());
    EXPECT_FALSE(classify_udp_encap(Bytes{0, 0, 0, 0, 1}).ok());  // marker + too little for IKE
    EXPECT_FALSE(classify_udp_encap(Bytes{1, 2, 3}).ok());
    EXPECT_FALSE(classify_udp_encap(Bytes{0, 0, 1, 0, 0}).ok());  // ESP shorter than its header
}

TEST(Esp, TrailerBuildAndParse) {
    for (std::size_t align : {4u, 16u}) {
        for (std::size_t len = 0; len < 40; ++len) {
            std::size_t t = esp_trailer_size(len, align);
            EXPECT_EQ((len + t) % align, 0u);
            Bytes buf(len + t, 0x77);
            write_esp_trailer(std::span<std::uint8_t>(buf.data() + len, t), len, align, 4);
            auto tr = parse_esp_trailer(buf);
            ASSERT_TRUE(tr.ok()) << tr.error().what;
            EXPECT_EQ(tr->payload_len, len);
            EXPECT_EQ(tr->next_header, 4);
        }
    }
    EXPECT_FALSE(parse_esp_trailer(Bytes{4}).ok());
    EXPECT_NE(parse_esp_trailer(Bytes{1, 2, 5, 4}).error().what.find("pad length 5 exceeds"),
              std::string::npos);
    EXPECT_NE(parse_esp_trailer(Bytes{9, 1, 3, 2, 4})
                  .error()
                  .what.find("padding byte 1 is 3, expected 2"),
              std::string::npos);
}
