// Realistic messages built with our encoder: an IKE_SA_INIT request, an
// IKE_AUTH request in the clear (the payloads an SK would carry, for
// truncation tests of every inner payload) and encrypted, an INFORMATIONAL
// with Delete and RFC 6311 notifies, and one SKF fragment.
#pragma once

#include "wire/message.h"
#include "wire/notify.h"

namespace ikecluster::wire::samples {

inline Transform tr(TransformType t, std::uint16_t id, std::optional<std::uint16_t> keylen = {}) {
    Transform x{t, id, {}};
    if (keylen) x.attributes.push_back(Attribute{kAttrKeyLength, true, *keylen, {}});
    return x;
}

inline Message ike_sa_init() {
    Message m;
    m.header.spi_i = 0x0102030405060708ull;
    m.header.exchange = std::uint8_t(ExchangeType::IKE_SA_INIT);
    m.header.flags = kFlagInitiator;
    SaPayload sa;
    sa.proposals.push_back(Proposal{1,
                                    ProtocolId::IKE,
                                    {},
                                    {tr(TransformType::ENCR, 20, 256), tr(TransformType::PRF, 5),
                                     tr(TransformType::DH, 31), tr(TransformType::DH, 19)}});
    sa.proposals.push_back(Proposal{2,
                                    ProtocolId::IKE,
                                    {},
                                    {tr(TransformType::ENCR, 12, 128), tr(TransformType::PRF, 5),
                                     tr(TransformType::INTEG, 12), tr(TransformType::DH, 14)}});
    Proposal odd{3, ProtocolId::IKE, {}, {tr(TransformType::ENCR, 28)}};
    odd.transforms[0].attributes.push_back(Attribute{0x1234, false, 0, Bytes{1, 2, 3}});
    sa.proposals.push_back(odd);
    m.payloads.push_back(make_payload(PayloadType::SA, sa));
    m.payloads.push_back(make_payload(PayloadType::KE, KePayload{31, Bytes(32, 0xaa)}));
    m.payloads.push_back(make_payload(PayloadType::NONCE, NoncePayload{Bytes(32, 0xbb)}));
    m.payloads.push_back(notify(NotifyType::NAT_DETECTION_SOURCE_IP, Bytes(20, 0xcc)));
    m.payloads.push_back(notify(NotifyType::NAT_DETECTION_DESTINATION_IP, Bytes(20, 0xdd)));
    m.payloads.push_back(notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED));
    m.payloads.push_back(notify_signature_hashes({2, 3, 4}));
    m.payloads.push_back(notify(NotifyType::REDIRECT_SUPPORTED));
    m.payloads.push_back(make_payload(PayloadType::VENDOR, VendorPayload{to_bytes("ikecluster")}));
    return m;
}

// The payloads of an IKE_AUTH request (what SK would carry).
inline std::vector<Payload> ike_auth_inner() {
    std::vector<Payload> ps;
    ps.push_back(make_payload(PayloadType::IDi, IdPayload{2, to_bytes("client.example")}));
    ps.push_back(make_payload(PayloadType::CERTREQ, CertPayload{4, Bytes(20, 0x11)}));
    ps.push_back(notify(NotifyType::INITIAL_CONTACT));
    ps.push_back(make_payload(PayloadType::IDr, IdPayload{1, Bytes{192, 0, 2, 1}}));
    ps.push_back(make_payload(PayloadType::AUTH, AuthPayload{2, Bytes(32, 0x22)}));
    ps.push_back(
        make_payload(PayloadType::CP,
                     CpPayload{1, {CpAttribute{1, {}}, CpAttribute{3, {}}, CpAttribute{8, {}}}}));
    ps.push_back(notify(NotifyType::USE_TRANSPORT_MODE));
    ps.push_back(make_payload(
        PayloadType::SA,
        SaPayload{{Proposal{1,
                            ProtocolId::ESP,
                            Bytes{0xc1, 0xc2, 0xc3, 0xc4},
                            {tr(TransformType::ENCR, 20, 256), tr(TransformType::ESN, 0),
                             tr(TransformType::ESN, 1)}},
                   Proposal{2,
                            ProtocolId::ESP,
                            Bytes{0xc1, 0xc2, 0xc3, 0xc4},
                            {tr(TransformType::ENCR, 12, 128), tr(TransformType::INTEG, 12),
                             tr(TransformType::ESN, 0)}}}}));
    TsPayload tsi{
        {TsEntry{TsType::IPV4_ADDR_RANGE, 0, 0, 65535, Bytes{10, 0, 0, 0}, Bytes{10, 0, 0, 255}},
         TsEntry{TsType::IPV6_ADDR_RANGE, 6, 443, 443, Bytes(16, 0x20), Bytes(16, 0x21)}}};
    ps.push_back(make_payload(PayloadType::TSi, tsi));
    ps.push_back(make_payload(PayloadType::TSr, tsi));
    ps.push_back(notify(NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED));
    ps.push_back(make_payload(PayloadType::EAP, EapPayload{2, 7, 1, to_bytes("user")}));
    return ps;
}

inline Header auth_header() {
    Header h;
    h.spi_i = 0x0102030405060708ull;
    h.spi_r = 0x1112131415161718ull;
    h.exchange = std::uint8_t(ExchangeType::IKE_AUTH);
    h.flags = kFlagInitiator;
    h.message_id = 1;
    return h;
}

// IKE_AUTH with the inner payloads in the clear (not a valid exchange, but
// every inner payload sits at a known place in a whole message).
inline Message ike_auth_plain() {
    return Message{auth_header(), ike_auth_inner()};
}

// IKE_AUTH as sent: header | SK{IV | ciphertext | ICV} (the body is opaque).
inline Message ike_auth_encrypted() {
    Bytes body(16 + 200 + 16, 0);
    for (std::size_t i = 0; i < body.size(); ++i)
        body[i] = std::uint8_t(i * 7);
    return Message{auth_header(), {make_payload(PayloadType::SK, SkPayload{35, body})}};
}

inline Message informational() {
    Message m{auth_header(), {}};
    m.header.exchange = std::uint8_t(ExchangeType::INFORMATIONAL);
    m.header.message_id = 0;
    m.payloads.push_back(notify_message_id_sync(MessageIdSync{0xdeadbeef, 7, 9}));
    m.payloads.push_back(
        make_payload(PayloadType::DELETE,
                     DeletePayload{ProtocolId::ESP, 4, {Bytes{1, 2, 3, 4}, Bytes{5, 6, 7, 8}}}));
    m.payloads.push_back(make_payload(PayloadType::DELETE, DeletePayload{ProtocolId::IKE, 0, {}}));
    m.payloads.push_back(notify_rekey_sa(ProtocolId::ESP, 0xc1c2c3c4));
    return m;
}

inline Message fragment() {
    Message m{auth_header(), {}};
    m.payloads.push_back(make_payload(PayloadType::SKF, SkfPayload{35, 1, 3, Bytes(64, 0x42)}));
    return m;
}

}  // namespace ikecluster::wire::samples
