// rapidcheck generators of replicated state: IKE and Child SA states within
// the record limits, every event and record type, and times that include
// Time{}, Time::max() and negative values.
#pragma once

#include <rapidcheck.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/records.h"

namespace ikecluster::cluster::gen {

inline rc::Gen<Bytes> bytes(std::size_t lo, std::size_t hi) {
    return rc::gen::mapcat(rc::gen::inRange(lo, hi + 1), [](std::size_t n) {
        return rc::gen::container<Bytes>(n, rc::gen::arbitrary<std::uint8_t>());
    });
}

template <typename T>
rc::Gen<std::vector<T>> vec(std::size_t lo, std::size_t hi, rc::Gen<T> g) {
    return rc::gen::mapcat(rc::gen::inRange(lo, hi + 1),
                           [g](std::size_t n) { return rc::gen::container<std::vector<T>>(n, g); });
}

inline rc::Gen<std::string> name() {
    return rc::gen::container<std::string>(rc::gen::inRange<char>('a', 'z' + 1));
}

// Within +-10^15 ns (11.5 days) of the epoch, either sign, plus the two
// special values.
inline constexpr std::int64_t kTimeRange = 1'000'000'000'000'000;
inline rc::Gen<Time> finite_time() {
    return rc::gen::map(rc::gen::inRange<std::int64_t>(-kTimeRange, kTimeRange),
                        [](std::int64_t ns) { return Time{Duration(ns)}; });
}
inline rc::Gen<Time> time() {
    return rc::gen::weightedOneOf<Time>(
        {{1, rc::gen::just(Time{})}, {1, rc::gen::just(Time::max())}, {4, finite_time()}});
}

inline rc::Gen<IpAddress> address() {
    return rc::gen::mapcat(rc::gen::arbitrary<bool>(), [](bool v6) {
        return rc::gen::map(bytes(v6 ? 16 : 4, v6 ? 16 : 4),
                            [](Bytes b) { return *IpAddress::from_bytes(b); });
    });
}

inline rc::Gen<Endpoint> endpoint() {
    return rc::gen::build<Endpoint>(rc::gen::set(&Endpoint::addr, address()),
                                    rc::gen::set(&Endpoint::port));
}

inline rc::Gen<ike::TrafficSelector> ts() {
    using TS = ike::TrafficSelector;
    return rc::gen::build<TS>(rc::gen::set(&TS::ip_proto), rc::gen::set(&TS::start_port),
                              rc::gen::set(&TS::end_port), rc::gen::set(&TS::start, address()),
                              rc::gen::set(&TS::end, address()));
}

inline rc::Gen<ike::Identity> identity() {
    using ike::IdType;
    return rc::gen::build<ike::Identity>(
        rc::gen::set(&ike::Identity::type,
                     rc::gen::element(IdType::IPV4_ADDR, IdType::FQDN, IdType::RFC822_ADDR,
                                      IdType::IPV6_ADDR, IdType::DER_ASN1_DN, IdType::DER_ASN1_GN,
                                      IdType::KEY_ID)),
        rc::gen::set(&ike::Identity::data, bytes(0, 40)));
}

inline rc::Gen<ike::EncrAlg> encr() {
    return rc::gen::map(rc::gen::pair(rc::gen::element(EncrId::AES_CBC, EncrId::AES_GCM_16,
                                                       EncrId::CHACHA20_POLY1305),
                                      rc::gen::arbitrary<std::uint16_t>()),
                        [](auto p) {
                            return ike::EncrAlg{p.first, p.second};
                        });
}
inline rc::Gen<IntegId> integ() {
    return rc::gen::element(IntegId::NONE, IntegId::HMAC_SHA2_256_128, IntegId::HMAC_SHA2_384_192,
                            IntegId::HMAC_SHA2_512_256);
}

inline rc::Gen<ike::IkeSpis> spis() {
    return rc::gen::build<ike::IkeSpis>(rc::gen::set(&ike::IkeSpis::spi_i),
                                        rc::gen::set(&ike::IkeSpis::spi_r));
}

inline rc::Gen<ike::MessageIds> msgids() {
    using M = ike::MessageIds;
    return rc::gen::build<M>(rc::gen::set(&M::next_request_out), rc::gen::set(&M::next_request_in),
                             rc::gen::set(&M::last_response_id),
                             rc::gen::set(&M::last_response, vec<Bytes>(0, 3, bytes(0, 60))));
}

inline rc::Gen<ike::ChildSaKeys> child_keys() {
    using K = ike::ChildSaKeys;
    return rc::gen::build<K>(
        rc::gen::set(&K::encr_in, bytes(0, 36)), rc::gen::set(&K::integ_in, bytes(0, 64)),
        rc::gen::set(&K::encr_out, bytes(0, 36)), rc::gen::set(&K::integ_out, bytes(0, 64)));
}

inline rc::Gen<ike::ChildSaState> child() {
    using C = ike::ChildSaState;
    return rc::gen::build<C>(
        rc::gen::set(&C::config_name, name()), rc::gen::set(&C::unique_id),
        rc::gen::set(&C::spi_in), rc::gen::set(&C::spi_out),
        rc::gen::set(&C::protocol, rc::gen::element(ProtocolId::ESP, ProtocolId::AH)),
        rc::gen::set(&C::mode, rc::gen::element(ike::IpsecMode::TUNNEL, ike::IpsecMode::TRANSPORT)),
        rc::gen::set(&C::encr, encr()), rc::gen::set(&C::integ, integ()), rc::gen::set(&C::esn),
        rc::gen::set(&C::keys, child_keys()),
        rc::gen::set(&C::ts_local, vec<ike::TrafficSelector>(0, 3, ts())),
        rc::gen::set(&C::ts_remote, vec<ike::TrafficSelector>(0, 3, ts())),
        rc::gen::set(&C::established, time()), rc::gen::set(&C::rekey_at, time()),
        rc::gen::set(&C::expire_at, time()));
}

inline rc::Gen<ike::IkeSuite> suite() {
    using S = ike::IkeSuite;
    return rc::gen::build<S>(
        rc::gen::set(&S::encr, encr()), rc::gen::set(&S::integ, integ()),
        rc::gen::set(&S::prf, rc::gen::element(PrfId::HMAC_SHA2_256, PrfId::HMAC_SHA2_384,
                                               PrfId::HMAC_SHA2_512)),
        rc::gen::set(&S::dh, rc::gen::element(DhId::NONE, DhId::MODP_2048, DhId::ECP_256,
                                              DhId::ECP_384, DhId::CURVE25519)));
}

inline rc::Gen<ike::IkeKeys> ike_keys() {
    using K = ike::IkeKeys;
    return rc::gen::build<K>(
        rc::gen::set(&K::sk_d, bytes(0, 64)), rc::gen::set(&K::sk_ai, bytes(0, 64)),
        rc::gen::set(&K::sk_ar, bytes(0, 64)), rc::gen::set(&K::sk_ei, bytes(0, 36)),
        rc::gen::set(&K::sk_er, bytes(0, 36)), rc::gen::set(&K::sk_pi, bytes(0, 64)),
        rc::gen::set(&K::sk_pr, bytes(0, 64)));
}

inline rc::Gen<ike::PeerCapabilities> peer() {
    using P = ike::PeerCapabilities;
    return rc::gen::build<P>(rc::gen::set(&P::msgid_sync), rc::gen::set(&P::replay_sync),
                             rc::gen::set(&P::redirect), rc::gen::set(&P::fragmentation),
                             rc::gen::set(&P::mobike));
}

// `max_children` up to kMaxChildren; the children's spi_in are arbitrary
// (not necessarily distinct).
inline rc::Gen<ike::IkeSaState> sa(std::size_t max_children = 3) {
    using S = ike::IkeSaState;
    using ike::NatState;
    return rc::gen::build<S>(
        rc::gen::set(&S::spis, spis()), rc::gen::set(&S::initiator),
        rc::gen::set(&S::config_name, name()), rc::gen::set(&S::suite, suite()),
        rc::gen::set(&S::keys, ike_keys()), rc::gen::set(&S::local_id, identity()),
        rc::gen::set(&S::remote_id, identity()), rc::gen::set(&S::local, endpoint()),
        rc::gen::set(&S::remote, endpoint()),
        rc::gen::set(&S::nat, rc::gen::element(NatState::NONE, NatState::LOCAL_BEHIND_NAT,
                                               NatState::REMOTE_BEHIND_NAT, NatState::BOTH)),
        rc::gen::set(&S::encap), rc::gen::set(&S::peer, peer()), rc::gen::set(&S::msgids, msgids()),
        rc::gen::set(&S::established, time()), rc::gen::set(&S::rekey_at, time()),
        rc::gen::set(&S::expire_at, time()),
        rc::gen::set(&S::children, vec<ike::ChildSaState>(0, max_children, child())));
}

inline rc::Gen<CounterCheckpoint> checkpoint() {
    using C = CounterCheckpoint;
    return rc::gen::build<C>(
        rc::gen::set(&C::ike, spis()), rc::gen::set(&C::spi_in),
        rc::gen::set(&C::out_next_seq, rc::gen::inRange<std::uint64_t>(1, UINT64_MAX)),
        rc::gen::set(&C::in_highest));
}

inline rc::Gen<std::optional<ike::CookieSecret>> cookie_secret() {
    using C = ike::CookieSecret;
    auto one = rc::gen::build<C>(rc::gen::set(&C::version), rc::gen::set(&C::secret, bytes(0, 40)),
                                 rc::gen::set(&C::created, time()));
    return rc::gen::mapcat(rc::gen::arbitrary<bool>(), [one](bool present) {
        if (!present) return rc::gen::just(std::optional<C>());
        return rc::gen::map(one, [](C c) { return std::optional<C>(std::move(c)); });
    });
}

inline rc::Gen<ike::CookieSecrets> cookie_secrets() {
    return rc::gen::build<ike::CookieSecrets>(
        rc::gen::set(&ike::CookieSecrets::current, cookie_secret()),
        rc::gen::set(&ike::CookieSecrets::previous, cookie_secret()));
}

template <typename T>
rc::Gen<Record> as_record(rc::Gen<T> g) {
    return rc::gen::map(std::move(g), [](T x) { return Record(std::move(x)); });
}

inline rc::Gen<Record> record() {
    using namespace ike;
    return rc::gen::oneOf(
        as_record(rc::gen::build<IkeSaEstablished>(rc::gen::set(&IkeSaEstablished::sa, sa()))),
        as_record(rc::gen::build<IkeMessageIdsAdvanced>(
            rc::gen::set(&IkeMessageIdsAdvanced::spis, spis()),
            rc::gen::set(&IkeMessageIdsAdvanced::msgids, msgids()))),
        as_record(rc::gen::build<ChildSaAdded>(rc::gen::set(&ChildSaAdded::ike, spis()),
                                               rc::gen::set(&ChildSaAdded::child, child()))),
        as_record(rc::gen::build<ChildSaRekeyed>(rc::gen::set(&ChildSaRekeyed::ike, spis()),
                                                 rc::gen::set(&ChildSaRekeyed::old_spi_in),
                                                 rc::gen::set(&ChildSaRekeyed::child, child()))),
        as_record(rc::gen::build<ChildSaDeleted>(rc::gen::set(&ChildSaDeleted::ike, spis()),
                                                 rc::gen::set(&ChildSaDeleted::spi_in))),
        as_record(rc::gen::build<IkeSaRekeyed>(rc::gen::set(&IkeSaRekeyed::old_spis, spis()),
                                               rc::gen::set(&IkeSaRekeyed::sa, sa()))),
        as_record(rc::gen::build<IkeSaDeleted>(
            rc::gen::set(&IkeSaDeleted::spis, spis()),
            rc::gen::set(
                &IkeSaDeleted::reason,
                rc::gen::element(DeleteReason::DELETED_BY_PEER, DeleteReason::DELETED_BY_US,
                                 DeleteReason::EXPIRED, DeleteReason::PEER_DEAD,
                                 DeleteReason::AUTH_FAILED, DeleteReason::REPLACED)))),
        as_record(rc::gen::build<Checkpoints>(rc::gen::set(
            &Checkpoints::items, vec<CounterCheckpoint>(0, kMaxCheckpoints, checkpoint())))),
        as_record(rc::gen::build<CookieSecretsRecord>(
            rc::gen::set(&CookieSecretsRecord::secrets, cookie_secrets()))),
        as_record(rc::gen::build<BulkBegin>(rc::gen::set(&BulkBegin::epoch),
                                            rc::gen::set(&BulkBegin::bulk_id))),
        as_record(rc::gen::build<BulkEnd>(rc::gen::set(&BulkEnd::bulk_id),
                                          rc::gen::set(&BulkEnd::ike_sa_count))));
}

}  // namespace ikecluster::cluster::gen
