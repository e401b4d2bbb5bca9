// Two engines (initiator and responder) in one process over a network the
// test controls: every datagram passes through `pass`, which may drop it,
// and may deliver extra (duplicated, reordered, forged) copies itself.
// Randomness is seeded and time is virtual, so every run is identical.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "base/buffer.h"
#include "crypto/random.h"
#include "crypto/sk_cipher.h"
#include "ike/engine.h"
#include "wire/esp.h"
#include "wire/message.h"

namespace testpair {

using namespace ikecluster;
using namespace ikecluster::ike;
using namespace std::chrono_literals;

inline const IpAddress kI = *IpAddress::parse("198.51.100.2");
inline const IpAddress kR = *IpAddress::parse("198.51.100.1");

inline ConnectionConfig conn(const char* name, const IpAddress& local, const IpAddress& remote,
                             const char* lid, const char* rid, const char* ike_props,
                             const char* local_ts, const char* remote_ts,
                             const char* psk = "a shared secret for tests") {
    ConnectionConfig c;
    c.name = name;
    c.local_addrs = {local};
    c.remote_addrs = {remote};
    c.local_id = *Identity::parse(lid);
    c.remote_id = *Identity::parse(rid);
    c.psk = to_bytes(psk);
    c.ike_proposals = *parse_proposals(ike_props, ProposalKind::IKE);
    ChildConfig ch;
    ch.name = "net";
    ch.local_ts = *parse_ts_list(local_ts);
    ch.remote_ts = *parse_ts_list(remote_ts);
    ch.esp_proposals = *parse_proposals("aes256gcm16,aes128-sha256", ProposalKind::ESP);
    c.children.push_back(ch);
    return c;
}

struct Pair {
    crypto::DeterministicRandom ri, rr;
    EngineConfig ci, cr;
    std::unique_ptr<Engine> init, resp;
    Time now = Time::from_ms(1000);
    std::vector<Output> out_i, out_r;  // everything each engine emitted
    std::vector<SendDatagram> wire_log;
    // Return false to drop a datagram. `n` counts datagrams so far.
    std::function<bool(const SendDatagram&, bool from_initiator, int n)> pass =
        [](auto&, bool, int) { return true; };
    int sent = 0;
    // The link model for datagrams that `pass` lets through: loss,
    // duplication, and a delay with jitter (which reorders). All zero =
    // instant, in-order delivery.
    struct Link {
        double loss = 0, duplicate = 0;
        Duration delay{0}, jitter{0};
    } link;
    crypto::DeterministicRandom net{77};
    std::multimap<Time, std::pair<SendDatagram, bool>> in_flight;  // by delivery time

    Pair(const char* ike_i = "aes256gcm16-prfsha256-x25519",
         const char* ike_r = "aes256gcm16-prfsha256-x25519", std::uint64_t seed_i = 1,
         std::uint64_t seed_r = 2)
        : ri(seed_i), rr(seed_r) {
        // Both sides are our engine, which draws IKE IVs at random: every
        // RFC 6311 sync can be answered (EngineConfig::msgid_sync_guard_...).
        ci.msgid_sync_guard_sequential_ivs = cr.msgid_sync_guard_sequential_ivs = false;
        ci.connections.push_back(conn("to-gw", kI, kR, "client.example", "gw.example", ike_i,
                                      "192.0.2.0/24", "203.0.113.0/24"));
        cr.connections.push_back(conn("road", kR, kI, "gw.example", "client.example", ike_r,
                                      "203.0.113.0/24", "192.0.2.0/24"));
    }
    void start() {
        init = std::make_unique<Engine>(ci, ri);
        resp = std::make_unique<Engine>(cr, rr);
    }
    // Starts and completes IKE_SA_INIT + IKE_AUTH; returns the SPIs.
    IkeSpis establish() {
        start();
        auto spis = init->initiate(now, "to-gw");
        EXPECT_TRUE(spis.ok());
        run();
        EXPECT_EQ(init->established().size(), 1u);
        EXPECT_EQ(resp->established().size(), 1u);
        return spis.ok() ? init->established().front() : IkeSpis{};
    }
    // Moves datagrams until both sides are quiet.
    void run() {
        for (int guard = 0; guard < 1000; ++guard) {
            deliver_due();
            auto a = init->take_outputs();
            auto b = resp->take_outputs();
            if (a.empty() && b.empty()) return;
            route(a, true);
            route(b, false);
        }
        FAIL() << "engines did not go quiet";
    }
    void route(std::vector<Output>& outs, bool from_i) {
        for (auto& o : outs) {
            (from_i ? out_i : out_r).push_back(o);
            auto* d = std::get_if<SendDatagram>(&o);
            if (!d) continue;
            wire_log.push_back(*d);
            if (!pass(*d, from_i, sent++)) continue;
            if (link.loss == 0 && link.duplicate == 0 && link.delay.count() == 0 &&
                link.jitter.count() == 0) {
                deliver(*d, from_i);
                continue;
            }
            if (chance(link.loss)) continue;
            int copies = chance(link.duplicate) ? 2 : 1;
            for (int c = 0; c < copies; ++c) {
                Duration j{0};
                if (link.jitter.count() > 0)
                    j = Duration(Duration::rep(net.u64() % std::uint64_t(link.jitter.count())));
                in_flight.emplace(now + link.delay + j, std::make_pair(*d, from_i));
            }
        }
    }
    bool chance(double p) { return p > 0 && double(net.u32()) / 4294967296.0 < p; }
    void deliver(const SendDatagram& d, bool from_i) {
        (from_i ? resp : init)->receive(now, d.remote, d.local, d.data);
    }
    // Delivers what the link holds up to `now`; true if anything arrived.
    bool deliver_due() {
        bool any = false;
        while (!in_flight.empty() && in_flight.begin()->first <= now) {
            auto [d, from_i] = in_flight.begin()->second;
            in_flight.erase(in_flight.begin());
            deliver(d, from_i);
            any = true;
        }
        return any;
    }
    // Advances virtual time to the next deadline of either engine.
    void tick() {
        Time next = std::min(init->next_deadline(), resp->next_deadline());
        ASSERT_NE(next, Time::max()) << "no timer pending";
        now = next;
        init->on_timer(now);
        resp->on_timer(now);
    }
    // Runs timers and traffic until virtual time `until` (both quiet then).
    void settle(Time until) {
        for (int guard = 0; guard < 1000000; ++guard) {
            run();
            Time next = std::min(init->next_deadline(), resp->next_deadline());
            if (!in_flight.empty()) next = std::min(next, in_flight.begin()->first);
            if (next > until) {
                now = until;
                return;
            }
            now = std::max(now, next);
            init->on_timer(now);
            resp->on_timer(now);
        }
        FAIL() << "settle did not reach its end";
    }
    template <typename T>
    static std::vector<T> of(const std::vector<Output>& outs) {
        std::vector<T> r;
        for (auto& o : outs) {
            if constexpr (std::is_constructible_v<Event, T>) {
                if (auto* e = std::get_if<Event>(&o)) {
                    if (auto* t = std::get_if<T>(e)) r.push_back(*t);
                }
            } else {
                if (auto* t = std::get_if<T>(&o)) r.push_back(*t);
            }
        }
        return r;
    }
    const IkeSaState& sa_i() const { return *init->find(init->established().front()); }
    const IkeSaState& sa_r() const { return *resp->find(resp->established().front()); }
};

// The SK payload cipher one side of `st` seals with (§3.14).
inline Result<std::unique_ptr<crypto::SkCipher>> sk_cipher_of(const IkeSaState& st,
                                                              bool initiator) {
    const BytesView ek = initiator ? st.keys.sk_ei : st.keys.sk_er;
    const BytesView ak = initiator ? st.keys.sk_ai : st.keys.sk_ar;
    return crypto::SkCipher::create(st.suite.encr.id, st.suite.encr.key_bits, st.suite.integ, ek,
                                    ak);
}

// Seals `inner` as the initiator of `st` would (§3.14), for tests that
// forge or craft authenticated messages. `response` sets the R flag.
inline Bytes seal_as(const IkeSaState& st, bool as_initiator, ExchangeType ex, std::uint32_t id,
                     const std::vector<wire::Payload>& inner, bool response = false) {
    auto c = sk_cipher_of(st, as_initiator);
    EXPECT_TRUE(c.ok());
    Bytes plain;
    std::uint8_t first = wire::encode_payloads(inner, plain);
    std::size_t body = (*c)->sealed_size(plain.size());
    Bytes out;
    Writer w(out);
    w.u64(st.spis.spi_i);
    w.u64(st.spis.spi_r);
    w.u8(std::uint8_t(wire::PayloadType::SK));
    w.u8(0x20);
    w.u8(std::uint8_t(ex));
    w.u8(std::uint8_t((as_initiator ? wire::kFlagInitiator : 0) |
                      (response ? wire::kFlagResponse : 0)));
    w.u32(id);
    w.u32(std::uint32_t(wire::kHeaderSize + wire::kGenericHeaderSize + body));
    w.u8(first);
    w.u8(0);
    w.u16(std::uint16_t(wire::kGenericHeaderSize + body));
    crypto::DeterministicRandom r(99);
    Bytes sealed = (*c)->seal(out, plain, r);
    w.bytes(sealed);
    return out;
}

// Opens a message sealed by the initiator (or responder) of `st`: its inner
// payloads, for tests that read what an engine put on the wire.
inline Result<std::vector<wire::Payload>> open_as(const IkeSaState& st, bool sealed_by_initiator,
                                                  BytesView dgram) {
    auto c = sk_cipher_of(st, sealed_by_initiator);
    if (!c) return c.error();
    auto m = wire::decode_message(dgram);
    if (!m) return m.error();
    auto off = wire::encrypted_body_offset(dgram);
    const wire::SkPayload* sk =
        m->payloads.empty() ? nullptr : m->payloads.back().as<wire::SkPayload>();
    if (!sk || !off) return Error{0, "no SK payload"};
    auto plain = (*c)->open(dgram.first(*off), sk->body);
    if (!plain) return plain.error();
    return wire::decode_payloads(sk->first_inner, *plain);
}

// The two views of one IKE SA agree: SPIs, keys, children paired by SPI with
// matching keys and selectors, and message IDs when both sides are quiet.
inline void expect_consistent(const IkeSaState& i, const IkeSaState& r) {
    EXPECT_EQ(i.spis, r.spis);
    EXPECT_NE(i.initiator, r.initiator);
    EXPECT_EQ(i.keys, r.keys);
    EXPECT_EQ(i.suite, r.suite);
    EXPECT_EQ(i.msgids.next_request_out, r.msgids.next_request_in);
    EXPECT_EQ(i.msgids.next_request_in, r.msgids.next_request_out);
    ASSERT_EQ(i.children.size(), r.children.size());
    for (const ChildSaState& ci : i.children) {
        auto it = std::find_if(r.children.begin(), r.children.end(),
                               [&](const ChildSaState& c) { return c.spi_in == ci.spi_out; });
        ASSERT_NE(it, r.children.end()) << "child " << ci.spi_in << " has no partner";
        EXPECT_EQ(it->spi_out, ci.spi_in);
        EXPECT_EQ(it->keys.encr_in, ci.keys.encr_out);
        EXPECT_EQ(it->keys.encr_out, ci.keys.encr_in);
        EXPECT_EQ(it->keys.integ_in, ci.keys.integ_out);
        EXPECT_EQ(it->ts_local, ci.ts_remote);
        EXPECT_EQ(it->ts_remote, ci.ts_local);
        EXPECT_EQ(it->mode, ci.mode);
        EXPECT_EQ(it->esn, ci.esn);
    }
}

inline void expect_mirrored(const IkeSaState& i, const IkeSaState& r) {
    EXPECT_EQ(i.spis, r.spis);
    EXPECT_TRUE(i.initiator);
    EXPECT_FALSE(r.initiator);
    EXPECT_EQ(i.keys, r.keys);
    EXPECT_EQ(i.suite, r.suite);
    EXPECT_EQ(i.local_id, r.remote_id);
    EXPECT_EQ(i.remote_id, r.local_id);
    ASSERT_EQ(i.children.size(), 1u);
    ASSERT_EQ(r.children.size(), 1u);
    const ChildSaState &ci = i.children[0], &cr = r.children[0];
    EXPECT_EQ(ci.spi_in, cr.spi_out);
    EXPECT_EQ(ci.spi_out, cr.spi_in);
    EXPECT_EQ(ci.keys.encr_out, cr.keys.encr_in);
    EXPECT_EQ(ci.keys.encr_in, cr.keys.encr_out);
    EXPECT_EQ(ci.keys.integ_out, cr.keys.integ_in);
    EXPECT_NE(ci.keys.encr_in, ci.keys.encr_out);
    EXPECT_EQ(ci.ts_local, cr.ts_remote);
    EXPECT_EQ(ci.ts_remote, cr.ts_local);
    EXPECT_EQ(i.msgids.next_request_out, 2u);
    EXPECT_EQ(r.msgids.next_request_in, 2u);
}

}  // namespace testpair
