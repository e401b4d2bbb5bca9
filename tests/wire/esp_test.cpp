// ESP header, UDP/4500 classification, and the ESP trailer.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "generators.h"
#include "wire/esp.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {
std::string what(const EspFailure& f) {
    return f.to_error().what;
}
}  // namespace

TEST(Esp, HeaderParse) {
    Bytes p{0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x05, 0xaa};
    auto h = parse_esp_header(p);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->spi, 0x1234u);
    EXPECT_EQ(h->seq, 5u);
    auto short_h = parse_esp_header(BytesView(p.data(), 7));
    ASSERT_FALSE(short_h.ok());
    EXPECT_EQ(short_h.error().code, EspError::TRUNCATED_HEADER);
    EXPECT_EQ(what(short_h.error()), "truncated ESP header: need 8 bytes, have 7");
    Bytes zero{0, 0, 0, 0, 0, 0, 0, 1};
    EXPECT_EQ(what(parse_esp_header(zero).error()), "reserved ESP SPI 0");
    Bytes reserved{0, 0, 0, 255, 0, 0, 0, 1};
    EXPECT_EQ(parse_esp_header(reserved).error().code, EspError::RESERVED_SPI);
    Bytes out(8);
    write_esp_header(std::span<std::uint8_t>(out).first<kEspHeaderSize>(),
                     EspHeader{0xabcdef01, 0x02030405});
    EXPECT_EQ(out, (Bytes{0xab, 0xcd, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05}));
    EXPECT_EQ(*parse_esp_header(out), (EspHeader{0xabcdef01, 0x02030405}));
}

TEST(Esp, UdpEncapClassification) {
    auto ka = classify_udp_encap(nat_keepalive_datagram());
    ASSERT_TRUE(ka.ok());
    EXPECT_EQ(ka->kind, UdpEncapKind::NAT_KEEPALIVE);
    EXPECT_EQ(to_bytes(nat_keepalive_datagram()), Bytes{0xff});

    Bytes ike(28, 0x11);
    Bytes framed = with_non_esp_marker(ike);
    ASSERT_EQ(framed.size(), 32u);
    EXPECT_EQ(Bytes(framed.begin(), framed.begin() + 4), Bytes(4, 0));
    auto i = classify_udp_encap(framed);
    ASSERT_TRUE(i.ok());
    EXPECT_EQ(i->kind, UdpEncapKind::IKE);
    EXPECT_EQ(to_bytes(i->payload), ike);             // without the marker
    EXPECT_EQ(i->payload.data(), framed.data() + 4);  // a view, no copy

    Bytes esp{0, 0, 1, 0, 0, 0, 0, 1, 9, 9};
    auto e = classify_udp_encap(esp);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->kind, UdpEncapKind::ESP);
    EXPECT_EQ(e->payload.size(), 10u);

    EXPECT_EQ(classify_udp_encap(Bytes{}).error().code, EspError::EMPTY_DATAGRAM);
    EXPECT_EQ(classify_udp_encap(Bytes{0xfe}).error().code, EspError::SHORT_DATAGRAM);
    EXPECT_EQ(classify_udp_encap(Bytes{0xff, 0xff}).error().code, EspError::SHORT_DATAGRAM);
    EXPECT_EQ(what(classify_udp_encap(Bytes{1, 2, 3}).error()),
              "UDP datagram of 3 bytes is neither a NAT-keepalive, IKE nor ESP");
    auto marker_only = classify_udp_encap(Bytes{0, 0, 0, 0, 1});
    EXPECT_EQ(marker_only.error().code, EspError::TRUNCATED_IKE);
    EXPECT_EQ(marker_only.error().offset, 4u);
    EXPECT_EQ(what(marker_only.error()),
              "non-ESP marker followed by 1 bytes, too short for an IKE header");
    EXPECT_EQ(classify_udp_encap(Bytes(31, 0)).error().code, EspError::TRUNCATED_IKE);
    EXPECT_EQ(classify_udp_encap(Bytes{0, 0, 1, 0, 0}).error().code, EspError::TRUNCATED_HEADER);
}

TEST(Esp, TrailerBuildAndParse) {
    for (std::size_t align : {1u, 2u, 4u, 8u, 16u, 64u, 256u}) {
        for (std::size_t len = 0; len < 70; ++len) {
            std::size_t t = esp_trailer_size(len, align);
            ASSERT_GE(t, 2u);
            EXPECT_EQ((len + t) % std::max<std::size_t>(align, 4), 0u);
            EXPECT_LT(t, std::max<std::size_t>(align, 4) + 2);
            Bytes buf(len + t, 0x77);
            auto n = write_esp_trailer(std::span<std::uint8_t>(buf).subspan(len), len, align, 4);
            ASSERT_TRUE(n.ok());
            EXPECT_EQ(*n, t);
            auto tr = parse_esp_trailer(buf);
            ASSERT_TRUE(tr.ok()) << what(tr.error());
            EXPECT_EQ(tr->payload_len, len);
            EXPECT_EQ(tr->pad_length, t - 2);
            EXPECT_EQ(tr->next_header, 4);
        }
    }
    // 5 payload octets, AES-CBC: 16 - 7 = 9 padding octets 1..9.
    Bytes buf(16, 0xaa);
    ASSERT_TRUE(write_esp_trailer(std::span<std::uint8_t>(buf).subspan(5), 5, 16, 41).ok());
    EXPECT_EQ(to_hex(buf), "aaaaaaaaaa0102030405060708090929");
}

TEST(Esp, TrailerErrors) {
    EXPECT_EQ(esp_trailer_size(10, 3), 0u);
    EXPECT_EQ(esp_trailer_size(10, 512), 0u);
    Bytes small(3);
    auto e = write_esp_trailer(small, 0, 16, 4);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(what(e.error()), "ESP trailer needs 16 bytes, buffer has 3");
    EXPECT_EQ(write_esp_trailer(small, 0, 12, 4).error().code, EspError::BAD_ALIGNMENT);

    auto none = parse_esp_trailer(Bytes{4});
    EXPECT_EQ(what(none.error()), "ESP plaintext of 1 bytes has no trailer");
    auto padlen = parse_esp_trailer(Bytes{1, 2, 5, 4});
    EXPECT_EQ(padlen.error().code, EspError::PAD_LENGTH);
    EXPECT_EQ(what(padlen.error()), "ESP pad length 5 exceeds the 2 bytes before it");
    auto badpad = parse_esp_trailer(Bytes{9, 1, 3, 2, 4});
    EXPECT_EQ(badpad.error().code, EspError::BAD_PADDING);
    EXPECT_EQ(badpad.error().offset, 2u);
    EXPECT_EQ(what(badpad.error()), "ESP padding byte 1 is 3, expected 2");
    // Zero padding is not the default padding either.
    EXPECT_EQ(parse_esp_trailer(Bytes{9, 0, 0, 2, 4}).error().code, EspError::BAD_PADDING);
    // No padding at all, and all data consumed by padding, are fine.
    EXPECT_EQ(parse_esp_trailer(Bytes{0, 59})->payload_len, 0u);
    EXPECT_EQ(parse_esp_trailer(Bytes{1, 2, 2, 4})->payload_len, 0u);
}

RC_GTEST_PROP(Esp, TrailerRoundTripAndTamper, ()) {
    std::size_t len = *rc::gen::inRange<std::size_t>(0, 300);
    std::size_t align = std::size_t(1) << *rc::gen::inRange(0, 9);
    std::uint8_t nh = *rc::gen::arbitrary<std::uint8_t>();
    Bytes buf = *gen::bytes(len, len);
    std::size_t t = esp_trailer_size(len, align);
    buf.resize(len + t);
    RC_ASSERT(write_esp_trailer(std::span<std::uint8_t>(buf).subspan(len), len, align, nh).ok());
    auto tr = parse_esp_trailer(buf);
    RC_ASSERT(tr.ok());
    RC_ASSERT(tr->payload_len == len);
    RC_ASSERT(tr->next_header == nh);
    if (t > 2) {  // at least one padding octet
        // A padding octet (changing the Pad Length can make another valid trailer).
        std::size_t i = *rc::gen::inRange<std::size_t>(len, len + t - 2);
        buf[i] ^= std::uint8_t(1 + *rc::gen::inRange(0, 255));
        RC_ASSERT(!parse_esp_trailer(buf).ok());
    }
}

RC_GTEST_PROP(Esp, ClassificationNeverFailsOpen, ()) {
    Bytes d = *gen::bytes(0, 64);
    auto c = classify_udp_encap(d);
    if (!c) return;
    switch (c->kind) {
        case UdpEncapKind::NAT_KEEPALIVE:
            RC_ASSERT(d == Bytes{0xff});
            break;
        case UdpEncapKind::IKE:
            RC_ASSERT(d.size() >= 32u);
            RC_ASSERT(Bytes(d.begin(), d.begin() + 4) == Bytes(4, 0));
            RC_ASSERT(c->payload.size() == d.size() - 4);
            break;
        case UdpEncapKind::ESP:
            RC_ASSERT(d.size() >= 8u);
            RC_ASSERT(Bytes(d.begin(), d.begin() + 4) != Bytes(4, 0));
            break;
    }
}
