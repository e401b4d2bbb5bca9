// rapidcheck generators of valid payloads and messages (sizes kept small so a
// whole message stays far below the 16-bit length limits).
#pragma once

#include <rapidcheck.h>

#include "wire/message.h"

namespace ikecluster::wire::gen {

inline rc::Gen<Bytes> bytes(std::size_t lo, std::size_t hi) {
    return rc::gen::mapcat(rc::gen::inRange(lo, hi + 1), [](std::size_t n) {
        return rc::gen::container<Bytes>(n, rc::gen::arbitrary<std::uint8_t>());
    });
}

// A vector of lo..hi elements from `g`.
template <typename T>
rc::Gen<std::vector<T>> vec(std::size_t lo, std::size_t hi, rc::Gen<T> g) {
    return rc::gen::mapcat(rc::gen::inRange(lo, hi + 1),
                           [g](std::size_t n) { return rc::gen::container<std::vector<T>>(n, g); });
}

inline rc::Gen<Attribute> attribute() {
    return rc::gen::mapcat(rc::gen::arbitrary<bool>(), [](bool tv) {
        return rc::gen::build<Attribute>(
            rc::gen::set(&Attribute::type, rc::gen::inRange<std::uint16_t>(0, 0x8000)),
            rc::gen::set(&Attribute::tv, rc::gen::just(tv)),
            rc::gen::set(&Attribute::tv_value, tv ? rc::gen::arbitrary<std::uint16_t>()
                                                  : rc::gen::just<std::uint16_t>(0)),
            rc::gen::set(&Attribute::value, tv ? rc::gen::just(Bytes{}) : bytes(0, 8)));
    });
}

inline rc::Gen<Transform> transform() {
    return rc::gen::build<Transform>(
        rc::gen::set(&Transform::type,
                     rc::gen::map(rc::gen::inRange(1, 6), [](int t) { return TransformType(t); })),
        rc::gen::set(&Transform::id, rc::gen::arbitrary<std::uint16_t>()),
        rc::gen::set(&Transform::attributes, vec<Attribute>(0, 2, attribute())));
}

inline rc::Gen<Proposal> proposal() {
    return rc::gen::build<Proposal>(
        rc::gen::set(&Proposal::number, rc::gen::arbitrary<std::uint8_t>()),
        rc::gen::set(&Proposal::protocol,
                     rc::gen::element(ProtocolId::IKE, ProtocolId::ESP, ProtocolId::AH)),
        rc::gen::set(&Proposal::spi, rc::gen::mapcat(rc::gen::element<std::size_t>(0, 4, 8),
                                                     [](std::size_t n) { return bytes(n, n); })),
        rc::gen::set(&Proposal::transforms,
                     rc::gen::mapcat(rc::gen::inRange<std::size_t>(0, 6), [](std::size_t n) {
                         return rc::gen::container<std::vector<Transform>>(n, transform());
                     })));
}

inline rc::Gen<TsEntry> ts_entry() {
    return rc::gen::mapcat(rc::gen::arbitrary<bool>(), [](bool v6) {
        std::size_t n = v6 ? 16 : 4;
        return rc::gen::build<TsEntry>(
            rc::gen::set(&TsEntry::type,
                         rc::gen::just(v6 ? TsType::IPV6_ADDR_RANGE : TsType::IPV4_ADDR_RANGE)),
            rc::gen::set(&TsEntry::ip_proto, rc::gen::arbitrary<std::uint8_t>()),
            rc::gen::set(&TsEntry::start_port, rc::gen::arbitrary<std::uint16_t>()),
            rc::gen::set(&TsEntry::end_port, rc::gen::arbitrary<std::uint16_t>()),
            rc::gen::set(&TsEntry::start_addr, bytes(n, n)),
            rc::gen::set(&TsEntry::end_addr, bytes(n, n)));
    });
}

// A payload of any type that may appear outside SK (SK/SKF are generated
// separately since they must come last).
inline rc::Gen<Payload> plain_payload() {
    using rc::gen::map;
    return rc::gen::oneOf(
        map(vec<Proposal>(1, 3, proposal()),
            [](std::vector<Proposal> ps) {
                return make_payload(PayloadType::SA, SaPayload{std::move(ps)});
            }),
        map(rc::gen::pair(rc::gen::arbitrary<std::uint16_t>(), bytes(0, 64)),
            [](auto p) {
                return make_payload(PayloadType::KE, KePayload{p.first, p.second});
            }),
        map(rc::gen::pair(rc::gen::element(PayloadType::IDi, PayloadType::IDr),
                          rc::gen::element<std::uint8_t>(1, 2, 3, 5, 9, 11)),
            [](auto p) {
                std::size_t n = p.second == 1 ? 4 : p.second == 5 ? 16 : 11;
                return make_payload(p.first, IdPayload{p.second, Bytes(n, 0x41)});
            }),
        map(rc::gen::tuple(rc::gen::element(PayloadType::CERT, PayloadType::CERTREQ),
                           rc::gen::arbitrary<std::uint8_t>(), bytes(0, 40)),
            [](auto t) {
                return make_payload(std::get<0>(t), CertPayload{std::get<1>(t), std::get<2>(t)});
            }),
        map(rc::gen::pair(rc::gen::arbitrary<std::uint8_t>(), bytes(0, 64)),
            [](auto p) {
                return make_payload(PayloadType::AUTH, AuthPayload{p.first, p.second});
            }),
        map(bytes(16, 256),
            [](Bytes b) { return make_payload(PayloadType::NONCE, NoncePayload{std::move(b)}); }),
        map(rc::gen::tuple(rc::gen::element(ProtocolId::NONE, ProtocolId::IKE, ProtocolId::ESP),
                           rc::gen::arbitrary<std::uint16_t>(), bytes(0, 8), bytes(0, 40)),
            [](auto t) {
                return make_payload(
                    PayloadType::NOTIFY,
                    NotifyPayload{std::get<0>(t), std::get<1>(t), std::get<2>(t), std::get<3>(t)});
            }),
        map(rc::gen::pair(rc::gen::element<std::uint8_t>(0, 4, 8),
                          rc::gen::inRange<std::size_t>(0, 5)),
            [](auto p) {
                DeletePayload d{p.first == 4 ? ProtocolId::ESP : ProtocolId::IKE, p.first, {}};
                for (std::size_t i = 0; i < p.second; ++i)
                    d.spis.push_back(Bytes(p.first, std::uint8_t(i)));
                return make_payload(PayloadType::DELETE, std::move(d));
            }),
        map(bytes(0, 32),
            [](Bytes b) { return make_payload(PayloadType::VENDOR, VendorPayload{std::move(b)}); }),
        map(rc::gen::pair(rc::gen::element(PayloadType::TSi, PayloadType::TSr),
                          vec<TsEntry>(0, 4, ts_entry())),
            [](auto p) { return make_payload(p.first, TsPayload{p.second}); }),
        map(rc::gen::pair(
                rc::gen::arbitrary<std::uint8_t>(),
                vec<CpAttribute>(0, 3,
                                 rc::gen::build<CpAttribute>(
                                     rc::gen::set(&CpAttribute::type,
                                                  rc::gen::inRange<std::uint16_t>(0, 0x8000)),
                                     rc::gen::set(&CpAttribute::value, bytes(0, 16))))),
            [](auto p) {
                return make_payload(PayloadType::CP, CpPayload{p.first, p.second});
            }),
        map(rc::gen::tuple(rc::gen::inRange<std::uint8_t>(1, 5), rc::gen::arbitrary<std::uint8_t>(),
                           rc::gen::arbitrary<std::uint8_t>(), bytes(0, 20)),
            [](auto t) {
                std::uint8_t code = std::get<0>(t);
                EapPayload e{code, std::get<1>(t), std::nullopt, {}};
                if (code <= 2) {
                    e.type = std::get<2>(t);
                    e.data = std::get<3>(t);
                }
                return make_payload(PayloadType::EAP, std::move(e));
            }),
        // Unknown types (49..52, 54..127, 128+), critical or not.
        map(rc::gen::tuple(rc::gen::element<std::uint8_t>(1, 49, 52, 54, 99, 200),
                           rc::gen::arbitrary<bool>(), bytes(0, 20)),
            [](auto t) {
                return Payload{PayloadType(std::get<0>(t)), std::get<1>(t),
                               UnknownPayload{std::get<2>(t)}};
            }));
}

inline rc::Gen<Payload> encrypted_payload() {
    return rc::gen::oneOf(
        rc::gen::map(rc::gen::pair(rc::gen::element<std::uint8_t>(0, 35, 41), bytes(0, 64)),
                     [](auto p) {
                         return make_payload(PayloadType::SK, SkPayload{p.first, p.second});
                     }),
        rc::gen::map(rc::gen::tuple(rc::gen::inRange<std::uint16_t>(1, 10),
                                    rc::gen::inRange<std::uint16_t>(0, 10), bytes(0, 64)),
                     [](auto t) {
                         std::uint16_t num = std::get<0>(t);
                         std::uint16_t total = std::uint16_t(num + std::get<1>(t));
                         return make_payload(PayloadType::SKF,
                                             SkfPayload{std::uint8_t(num == 1 ? 35 : 0), num, total,
                                                        std::get<2>(t)});
                     }));
}

inline rc::Gen<Header> header() {
    return rc::gen::build<Header>(
        rc::gen::set(&Header::spi_i, rc::gen::arbitrary<std::uint64_t>()),
        rc::gen::set(&Header::spi_r, rc::gen::arbitrary<std::uint64_t>()),
        rc::gen::set(&Header::minor_version, rc::gen::inRange<std::uint8_t>(0, 16)),
        rc::gen::set(&Header::exchange, rc::gen::inRange<std::uint8_t>(34, 39)),
        rc::gen::set(&Header::flags, rc::gen::element<std::uint8_t>(0x08, 0x20, 0x28, 0x00)),
        rc::gen::set(&Header::message_id, rc::gen::arbitrary<std::uint32_t>()));
}

}  // namespace ikecluster::wire::gen
