// Two engines in one process over a network the test controls: IKE_SA_INIT +
// IKE_AUTH with PSK, deterministic (seeded randomness, virtual time).
#include <gtest/gtest.h>

#include <functional>

#include "crypto/random.h"
#include "ike/engine.h"
#include "wire/esp.h"
#include "wire/message.h"

using namespace ikecluster;
using namespace ikecluster::ike;
using namespace std::chrono_literals;

namespace {

const IpAddress kI = *IpAddress::parse("198.51.100.2");
const IpAddress kR = *IpAddress::parse("198.51.100.1");

ConnectionConfig conn(const char* name, const IpAddress& local, const IpAddress& remote,
                      const char* lid, const char* rid, const char* ike_props, const char* local_ts,
                      const char* remote_ts, const char* psk = "a shared secret for tests") {
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
    crypto::DeterministicRandom ri{1}, rr{2};
    EngineConfig ci, cr;
    std::unique_ptr<Engine> init, resp;
    Time now = Time::from_ms(1000);
    std::vector<Output> out_i, out_r;  // everything each engine emitted
    std::vector<SendDatagram> wire_log;
    // Return false to drop a datagram. `n` counts datagrams so far.
    std::function<bool(const SendDatagram&, bool from_initiator, int n)> pass =
        [](auto&, bool, int) { return true; };
    int sent = 0;

    Pair(const char* ike_i = "aes256gcm16-prfsha256-x25519",
         const char* ike_r = "aes256gcm16-prfsha256-x25519") {
        ci.connections.push_back(conn("to-gw", kI, kR, "client.example", "gw.example", ike_i,
                                      "192.0.2.0/24", "203.0.113.0/24"));
        cr.connections.push_back(conn("road", kR, kI, "gw.example", "client.example", ike_r,
                                      "203.0.113.0/24", "192.0.2.0/24"));
    }
    void start() {
        init = std::make_unique<Engine>(ci, ri);
        resp = std::make_unique<Engine>(cr, rr);
    }
    // Moves datagrams until both sides are quiet.
    void run() {
        for (int guard = 0; guard < 100; ++guard) {
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
            (from_i ? resp : init)->receive(now, d->remote, d->local, d->data);
        }
    }
    // Advances virtual time to the next deadline of either engine.
    void tick() {
        Time next = std::min(init->next_deadline(), resp->next_deadline());
        ASSERT_NE(next, Time::max()) << "no timer pending";
        now = next;
        init->on_timer(now);
        resp->on_timer(now);
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
};

void expect_mirrored(const IkeSaState& i, const IkeSaState& r) {
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

}  // namespace

class Handshake : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(Handshake, EstablishesIkeAndChildSa) {
    Pair p(GetParam().first, GetParam().first);
    p.ci.connections[0].children[0].esp_proposals =
        *parse_proposals(GetParam().second, ProposalKind::ESP);
    p.start();
    // IKE_SA_INIT {SA, KE, Ni, N(NAT_D)x2} -->  <-- {SA, KE, Nr, N(NAT_D)x2}
    // IKE_AUTH {IDi, N(INITIAL_CONTACT), IDr, AUTH, SA, TSi, TSr, N(6311)x2} -->  <-- {IDr, AUTH,
    // SA, TSi, TSr, N(6311)x2}
    auto spis = p.init->initiate(p.now, "to-gw");
    ASSERT_TRUE(spis.ok()) << spis.error().what;
    p.run();
    ASSERT_EQ(p.wire_log.size(), 4u);
    auto ei = Pair::of<IkeSaEstablished>(p.out_i);
    auto er = Pair::of<IkeSaEstablished>(p.out_r);
    ASSERT_EQ(ei.size(), 1u);
    ASSERT_EQ(er.size(), 1u);
    expect_mirrored(ei[0].sa, er[0].sa);
    EXPECT_TRUE(ei[0].sa.peer.msgid_sync);
    EXPECT_TRUE(er[0].sa.peer.replay_sync);
    EXPECT_EQ(Pair::of<InstallChildSa>(p.out_i).size(), 1u);
    EXPECT_EQ(Pair::of<InstallChildSa>(p.out_r).size(), 1u);
    ASSERT_NE(p.init->find(ei[0].sa.spis), nullptr);
    EXPECT_EQ(*p.init->find(ei[0].sa.spis), ei[0].sa);
    EXPECT_EQ(p.resp->half_open_count(), 0u);
    // Same seeds, same run: byte-identical wire traffic.
    Pair q(GetParam().first, GetParam().first);
    q.ci.connections[0].children[0].esp_proposals =
        *parse_proposals(GetParam().second, ProposalKind::ESP);
    q.start();
    ASSERT_TRUE(q.init->initiate(q.now, "to-gw").ok());
    q.run();
    ASSERT_EQ(q.wire_log.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i)
        EXPECT_EQ(q.wire_log[i].data, p.wire_log[i].data);
}

INSTANTIATE_TEST_SUITE_P(
    Suites, Handshake,
    ::testing::Values(std::make_pair("aes256gcm16-prfsha256-x25519", "aes256gcm16"),
                      std::make_pair("aes128-sha256-modp2048", "aes128-sha256"),
                      std::make_pair("chacha20poly1305-prfsha512-ecp384", "aes256gcm16"),
                      std::make_pair("aes256-sha384-ecp256", "aes128-sha256")));

TEST(HandshakeBehaviour, InvalidKeRetryWithTheRequestedGroup) {
    // Initiator guesses x25519 first; responder only takes ecp256.
    Pair p("aes256gcm16-prfsha256-x25519-ecp256", "aes256gcm16-prfsha256-ecp256");
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    // INIT, INVALID_KE, INIT again, response, AUTH, response.
    ASSERT_EQ(p.wire_log.size(), 6u);
    auto m = wire::decode_message(p.wire_log[1].data);
    ASSERT_TRUE(m.ok());
    ASSERT_NE(m->find_notify(wire::NotifyType::INVALID_KE_PAYLOAD), nullptr);
    auto ei = Pair::of<IkeSaEstablished>(p.out_i);
    ASSERT_EQ(ei.size(), 1u);
    EXPECT_EQ(ei[0].sa.suite.dh, DhId::ECP_256);
    EXPECT_EQ(p.resp->ike_sa_count(), 1u);  // no state was kept for the refused attempt
}

TEST(HandshakeBehaviour, NoProposalChosen) {
    Pair p("aes128-sha256-modp2048", "aes256gcm16-prfsha256-x25519");
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    auto m = wire::decode_message(p.wire_log[1].data);
    ASSERT_NE(m->find_notify(wire::NotifyType::NO_PROPOSAL_CHOSEN), nullptr);
    EXPECT_EQ(p.init->ike_sa_count(), 0u);
    EXPECT_EQ(p.resp->ike_sa_count(), 0u);
}

TEST(HandshakeBehaviour, WrongPskFailsOnBothSides) {
    Pair p;
    p.cr.connections[0].psk = to_bytes("a different secret!!");
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    EXPECT_EQ(p.resp->stats().auth_failures, 1u);
    EXPECT_EQ(p.init->stats().auth_failures, 1u);  // it got AUTHENTICATION_FAILED
    EXPECT_EQ(p.init->ike_sa_count(), 0u);
    EXPECT_EQ(p.resp->ike_sa_count(), 0u);
    EXPECT_TRUE(Pair::of<IkeSaEstablished>(p.out_i).empty());
    EXPECT_TRUE(Pair::of<InstallChildSa>(p.out_r).empty());
}

TEST(HandshakeBehaviour, LostResponsesAreRetransmittedAndAnsweredFromCache) {
    Pair p;
    // Drop the first IKE_SA_INIT response and the first IKE_AUTH response.
    p.pass = [](const SendDatagram&, bool from_i, int n) {
        return !(!from_i && (n == 1 || n == 5));
    };
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    EXPECT_EQ(p.init->established().size(), 0u);
    p.tick();  // initiator retransmits IKE_SA_INIT; responder answers from cache
    p.run();
    p.tick();  // initiator retransmits IKE_AUTH; responder answers from cache
    p.run();
    ASSERT_EQ(p.init->established().size(), 1u);
    ASSERT_EQ(p.resp->established().size(), 1u);
    EXPECT_EQ(p.init->stats().retransmits_sent, 2u);
    EXPECT_EQ(p.resp->stats().responses_resent, 2u);
    // The cached IKE_AUTH response is byte-identical to the lost one.
    EXPECT_EQ(p.wire_log[5].data, p.wire_log[7].data);
    EXPECT_EQ(Pair::of<IkeSaEstablished>(p.out_r).size(), 1u);  // only once
}

TEST(HandshakeBehaviour, GivesUpAfterRetransmissions) {
    Pair p;
    p.pass = [](const SendDatagram&, bool, int) { return false; };  // black hole
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    Time start = p.now;
    while (p.init->ike_sa_count() > 0 && p.now - start < 10min) {
        p.tick();
        p.run();
    }
    EXPECT_EQ(p.init->ike_sa_count(), 0u);
    // The half-open timeout (30 s) ends it before the retransmit schedule does.
    EXPECT_LE(p.now - start, 31s);
    EXPECT_GE(p.init->stats().retransmits_sent, 2u);
}

TEST(HandshakeBehaviour, ForcedEncapsulationMovesToPort4500) {
    Pair p;
    p.ci.connections[0].force_encap = true;
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    ASSERT_EQ(p.wire_log.size(), 4u);
    EXPECT_EQ(p.wire_log[2].remote.port, 4500);
    EXPECT_EQ(p.wire_log[2].local.port, 4500);
    auto c = wire::classify_udp_encap(p.wire_log[2].data);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->kind, wire::UdpEncapKind::IKE);
    auto ins = Pair::of<InstallChildSa>(p.out_r);
    ASSERT_EQ(ins.size(), 1u);
    EXPECT_TRUE(ins[0].encap);
    EXPECT_EQ(ins[0].remote.port, 4500);
    auto er = Pair::of<IkeSaEstablished>(p.out_r);
    EXPECT_EQ(er[0].sa.nat, NatState::REMOTE_BEHIND_NAT);
}

TEST(HandshakeBehaviour, NarrowsTrafficSelectors) {
    Pair p;
    p.ci.connections[0].children[0].remote_ts = *parse_ts_list("0.0.0.0/0");
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    auto ei = Pair::of<IkeSaEstablished>(p.out_i);
    ASSERT_EQ(ei.size(), 1u);
    ASSERT_EQ(ei[0].sa.children.size(), 1u);
    EXPECT_EQ(ei[0].sa.children[0].ts_remote, *parse_ts_list("203.0.113.0/24"));
}

TEST(HandshakeBehaviour, TsUnacceptableKeepsTheIkeSa) {
    Pair p;
    p.ci.connections[0].children[0].remote_ts = *parse_ts_list("198.18.0.0/15");
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    auto ei = Pair::of<IkeSaEstablished>(p.out_i);
    ASSERT_EQ(ei.size(), 1u);
    EXPECT_TRUE(ei[0].sa.children.empty());
    EXPECT_TRUE(Pair::of<InstallChildSa>(p.out_r).empty());
    EXPECT_EQ(p.resp->established().size(), 1u);
}

TEST(HandshakeBehaviour, GarbageAndForgeriesAreDroppedWithoutHarm) {
    Pair p;
    p.start();
    crypto::DeterministicRandom junk(7);
    Endpoint from{kI, 500}, to{kR, 500};
    for (int i = 0; i < 200; ++i) {
        Bytes b = junk.bytes(junk.u32() % 300);
        p.resp->receive(p.now, to, from, b);
        Endpoint natt_to{kR, 4500}, natt_from{kI, 4500};
        p.resp->receive(p.now, natt_to, natt_from, b);
    }
    EXPECT_EQ(p.resp->ike_sa_count(), 0u);
    // A forged IKE_AUTH (bit flipped in the ICV) is dropped; the real one then works.
    p.pass = [&](const SendDatagram& d, bool from_i, int n) {
        if (from_i && n == 2) {
            Bytes forged = d.data;
            forged.back() ^= 1;
            p.resp->receive(p.now, d.remote, d.local, forged);
        }
        return true;
    };
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    EXPECT_EQ(p.resp->established().size(), 1u);
    EXPECT_GE(p.resp->stats().dropped, 1u);
}

TEST(HandshakeBehaviour, HalfOpenStateIsBounded) {
    Pair p;
    p.cr.half_open_per_peer = 5;
    p.cr.half_open_limit = 8;
    p.cr.connections[0].remote_addrs.clear();  // accept any peer address
    p.start();
    // A flood of IKE_SA_INIT requests from one address (distinct SPIs): only
    // 5 are kept; then from other addresses until the global limit of 8.
    crypto::DeterministicRandom r(9);
    auto flood = [&](const IpAddress& from, int n) {
        for (int i = 0; i < n; ++i) {
            EngineConfig ec;
            ec.connections.push_back(p.ci.connections[0]);
            ec.connections[0].local_addrs = {from};
            crypto::DeterministicRandom er(r.u64());
            Engine e(ec, er);
            ASSERT_TRUE(e.initiate(p.now, "to-gw").ok());
            for (auto& o : e.take_outputs()) {
                if (auto* d = std::get_if<SendDatagram>(&o))
                    p.resp->receive(p.now, d->remote, d->local, d->data);
            }
        }
    };
    flood(kI, 20);
    EXPECT_EQ(p.resp->half_open_count(), 5u);
    flood(*IpAddress::parse("198.51.100.3"), 20);
    EXPECT_EQ(p.resp->half_open_count(), 8u);
    EXPECT_EQ(p.resp->ike_sa_count(), 8u);
    // They expire after half_open_timeout, and the slots are free again.
    p.now = p.now + 31s;
    p.resp->on_timer(p.now);
    EXPECT_EQ(p.resp->ike_sa_count(), 0u);
    flood(kI, 3);
    EXPECT_EQ(p.resp->half_open_count(), 3u);
}

TEST(HandshakeBehaviour, ForgedAuthFromElsewhereDoesNotMoveTheSa) {
    Pair p;
    const Endpoint attacker{*IpAddress::parse("203.0.113.66"), 4500};
    p.pass = [&](const SendDatagram& d, bool from_i, int n) {
        if (from_i && n == 2) {
            Bytes forged = d.data;
            forged.back() ^= 1;  // fails the ICV
            p.resp->receive(p.now, Endpoint{kR, 4500}, attacker, wire::with_non_esp_marker(forged));
        }
        return true;
    };
    p.start();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    auto er = Pair::of<IkeSaEstablished>(p.out_r);
    ASSERT_EQ(er.size(), 1u);
    EXPECT_EQ(er[0].sa.remote, (Endpoint{kI, 500}));
    EXPECT_FALSE(er[0].sa.encap);
}
