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
        rc::gen::set(&Transform::type, rc::gen::map(rc::gen::inRange(0, 256),
                                                    [](int t) { return TransformType(t); })),
        rc::gen::set(&Transform::id, rc::gen::arbitrary<std::uint16_t>()),
        rc::gen::set(&Transform::attributes, vec<Attribute>(0, 3, attribute())));
}

inline rc::Gen<Proposal> proposal() {
    return rc::gen::build<Proposal>(
        rc::gen::set(&Proposal::number, rc::gen::arbitrary<std::uint8_t>()),
        rc::gen::set(&Proposal::protocol,
                     rc::gen::element(ProtocolId::IKE, ProtocolId::ESP, ProtocolId::AH)),
        rc::gen::set(&Proposal::spi, rc::gen::mapcat(rc::gen::element<std::size_t>(0, 4, 8),
                                                     [](std::size_t n) { return bytes(n, n); })),
        rc::gen::set(&Proposal::transforms, vec<Transform>(0, 6, transform())));
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

// ---- one generator per payload type ------------------------------------------

inline rc::Gen<Payload> sa() {
    return rc::gen::map(vec<Proposal>(1, 4, proposal()), [](std::vector<Proposal> ps) {
        return make_payload(PayloadType::SA, SaPayload{std::move(ps)});
    });
}

inline rc::Gen<Payload> ke() {
    return rc::gen::map(rc::gen::pair(rc::gen::arbitrary<std::uint16_t>(), bytes(0, 97)),
                        [](auto p) {
                            return make_payload(PayloadType::KE, KePayload{p.first, p.second});
                        });
}

inline rc::Gen<Payload> id() {
    return rc::gen::mapcat(
        rc::gen::pair(rc::gen::element(PayloadType::IDi, PayloadType::IDr),
                      rc::gen::element<std::uint8_t>(1, 2, 3, 5, 9, 10, 11, 200)),
        [](auto p) {
            std::uint8_t t = p.second;
            auto data = t == 1 ? bytes(4, 4) : t == 5 ? bytes(16, 16) : bytes(0, 40);
            return rc::gen::map(data, [p](Bytes d) {
                return make_payload(p.first, IdPayload{p.second, std::move(d)});
            });
        });
}

inline rc::Gen<Payload> cert() {
    return rc::gen::map(
        rc::gen::tuple(rc::gen::element(PayloadType::CERT, PayloadType::CERTREQ),
                       rc::gen::arbitrary<std::uint8_t>(), bytes(0, 60)),
        [](auto t) {
            return make_payload(std::get<0>(t), CertPayload{std::get<1>(t), std::get<2>(t)});
        });
}

inline rc::Gen<Payload> auth() {
    return rc::gen::map(rc::gen::pair(rc::gen::arbitrary<std::uint8_t>(), bytes(0, 64)),
                        [](auto p) {
                            return make_payload(PayloadType::AUTH, AuthPayload{p.first, p.second});
                        });
}

inline rc::Gen<Payload> nonce() {
    return rc::gen::map(bytes(16, 256), [](Bytes b) {
        return make_payload(PayloadType::NONCE, NoncePayload{std::move(b)});
    });
}

inline rc::Gen<Payload> notify() {
    return rc::gen::map(
        rc::gen::tuple(
            rc::gen::element(ProtocolId::NONE, ProtocolId::IKE, ProtocolId::AH, ProtocolId::ESP),
            rc::gen::arbitrary<std::uint16_t>(), rc::gen::element<std::size_t>(0, 4, 8),
            bytes(0, 40)),
        [](auto t) {
            Bytes spi(std::get<2>(t), 0x5a);
            return make_payload(PayloadType::NOTIFY, NotifyPayload{std::get<0>(t), std::get<1>(t),
                                                                   std::move(spi), std::get<3>(t)});
        });
}

inline rc::Gen<Payload> del() {
    return rc::gen::map(
        rc::gen::tuple(rc::gen::element<std::uint8_t>(0, 4, 8), rc::gen::inRange<std::size_t>(0, 6),
                       rc::gen::arbitrary<std::uint8_t>()),
        [](auto t) {
            std::uint8_t size = std::get<0>(t);
            DeletePayload d{size == 4 ? ProtocolId::ESP : ProtocolId::IKE, size, {}};
            std::size_t count = size == 0 ? 0 : std::get<1>(t);
            for (std::size_t i = 0; i < count; ++i)
                d.spis.push_back(Bytes(size, std::uint8_t(std::get<2>(t) + i)));
            return make_payload(PayloadType::DELETE, std::move(d));
        });
}

inline rc::Gen<Payload> vendor() {
    return rc::gen::map(bytes(0, 32), [](Bytes b) {
        return make_payload(PayloadType::VENDOR, VendorPayload{std::move(b)});
    });
}

inline rc::Gen<Payload> ts() {
    return rc::gen::map(rc::gen::pair(rc::gen::element(PayloadType::TSi, PayloadType::TSr),
                                      vec<TsEntry>(0, 5, ts_entry())),
                        [](auto p) { return make_payload(p.first, TsPayload{p.second}); });
}

inline rc::Gen<Payload> cp() {
    auto attr = rc::gen::build<CpAttribute>(
        rc::gen::set(&CpAttribute::type, rc::gen::inRange<std::uint16_t>(0, 0x8000)),
        rc::gen::set(&CpAttribute::value, bytes(0, 16)));
    return rc::gen::map(
        rc::gen::pair(rc::gen::inRange<std::uint8_t>(1, 5), vec<CpAttribute>(0, 4, attr)),
        [](auto p) {
            return make_payload(PayloadType::CP, CpPayload{p.first, p.second});
        });
}

inline rc::Gen<Payload> eap() {
    return rc::gen::map(
        rc::gen::tuple(rc::gen::inRange<std::uint8_t>(1, 7), rc::gen::arbitrary<std::uint8_t>(),
                       rc::gen::arbitrary<std::uint8_t>(), bytes(0, 30)),
        [](auto t) {
            std::uint8_t code = std::get<0>(t);
            EapPayload e{code, std::get<1>(t), std::nullopt, std::get<3>(t)};
            if (code != 3 && code != 4) e.type = std::get<2>(t);
            return make_payload(PayloadType::EAP, std::move(e));
        });
}

// Types this codec does not implement (0 and the known ones excluded).
inline rc::Gen<Payload> unknown() {
    return rc::gen::map(
        rc::gen::tuple(rc::gen::suchThat(rc::gen::inRange<int>(1, 256),
                                         [](int t) { return !is_known_payload(std::uint8_t(t)); }),
                       rc::gen::arbitrary<bool>(), bytes(0, 24)),
        [](auto t) {
            return Payload{PayloadType(std::get<0>(t)), std::get<1>(t),
                           UnknownPayload{std::get<2>(t)}};
        });
}

inline rc::Gen<Payload> sk() {
    return rc::gen::map(rc::gen::pair(rc::gen::element<std::uint8_t>(0, 35, 41, 33), bytes(0, 80)),
                        [](auto p) {
                            return make_payload(PayloadType::SK, SkPayload{p.first, p.second});
                        });
}

inline rc::Gen<Payload> skf() {
    return rc::gen::map(rc::gen::tuple(rc::gen::inRange<std::uint16_t>(1, 10),
                                       rc::gen::inRange<std::uint16_t>(0, 10), bytes(0, 80)),
                        [](auto t) {
                            std::uint16_t num = std::get<0>(t);
                            std::uint16_t total = std::uint16_t(num + std::get<1>(t));
                            return make_payload(PayloadType::SKF,
                                                SkfPayload{std::uint8_t(num == 1 ? 35 : 0), num,
                                                           total, std::get<2>(t)});
                        });
}

// Random critical bit on a known payload (it must survive the round trip).
inline rc::Gen<Payload> maybe_critical(rc::Gen<Payload> g) {
    return rc::gen::map(rc::gen::pair(g, rc::gen::arbitrary<bool>()), [](auto p) {
        p.first.critical = p.second;
        return p.first;
    });
}

// A payload of any type that may appear outside SK (SK/SKF must come last).
inline rc::Gen<Payload> plain_payload() {
    return maybe_critical(rc::gen::oneOf(sa(), ke(), id(), cert(), auth(), nonce(), notify(), del(),
                                         vendor(), ts(), cp(), eap(), unknown()));
}

inline rc::Gen<Payload> encrypted_payload() {
    return maybe_critical(rc::gen::oneOf(sk(), skf()));
}

inline rc::Gen<Header> header() {
    return rc::gen::build<Header>(
        rc::gen::set(&Header::spi_i, rc::gen::arbitrary<std::uint64_t>()),
        rc::gen::set(&Header::spi_r, rc::gen::arbitrary<std::uint64_t>()),
        rc::gen::set(&Header::minor_version, rc::gen::inRange<std::uint8_t>(0, 16)),
        rc::gen::set(&Header::exchange, rc::gen::arbitrary<std::uint8_t>()),
        rc::gen::set(&Header::flags, rc::gen::arbitrary<std::uint8_t>()),
        rc::gen::set(&Header::message_id, rc::gen::arbitrary<std::uint32_t>()));
}

}  // namespace ikecluster::wire::gen
