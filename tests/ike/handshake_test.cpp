// Two engines in one process over a network the test controls: IKE_SA_INIT +
// IKE_AUTH with PSK, deterministic (seeded randomness, virtual time).
#include <gtest/gtest.h>

#include <functional>

#include "crypto/random.h"
#include "ike/engine.h"
#include "pair.h"
#include "wire/esp.h"
#include "wire/message.h"

using namespace ikecluster;
using namespace ikecluster::ike;
using namespace std::chrono_literals;
using namespace testpair;

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

TEST(HandshakeBehaviour, CookiesAboveTheHalfOpenThreshold) {
    Pair p;
    p.cr.cookie_threshold = 2;
    p.cr.connections[0].remote_addrs.clear();
    p.start();
    // Two half-open SAs (their IKE_AUTH never arrives) fill the threshold.
    crypto::DeterministicRandom r(5);
    std::vector<std::unique_ptr<Engine>> ghosts;
    std::vector<std::unique_ptr<crypto::DeterministicRandom>> ghost_rng;
    for (int i = 0; i < 2; ++i) {
        ghost_rng.push_back(std::make_unique<crypto::DeterministicRandom>(r.u64()));
        ghosts.push_back(std::make_unique<Engine>(p.ci, *ghost_rng.back()));
        ASSERT_TRUE(ghosts.back()->initiate(p.now, "to-gw").ok());
        for (auto& o : ghosts.back()->take_outputs()) {
            if (auto* d = std::get_if<SendDatagram>(&o))
                p.resp->receive(p.now, d->remote, d->local, d->data);
        }
    }
    ASSERT_EQ(p.resp->half_open_count(), 2u);
    p.resp->take_outputs();
    // The next initiator is asked for a cookie, retries with it (same SPI
    // and nonce, §2.6) and gets through: 6 messages instead of 4.
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    EXPECT_EQ(p.wire_log.size(), 6u);
    EXPECT_EQ(p.resp->stats().cookies_sent, 1u);
    ASSERT_EQ(p.resp->established().size(), 1u);
    expect_mirrored(p.sa_i(), p.sa_r());
    // The responder kept no state for the cookie-less request.
    EXPECT_EQ(p.resp->ike_sa_count(), 3u);

    // A forged or stale cookie is answered with a fresh one, never state.
    auto m = wire::decode_message(p.wire_log[2].data);  // the retry with the cookie
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->payloads.front().as<wire::NotifyPayload>()->type,
              std::uint16_t(wire::NotifyType::COOKIE));
    m->header.spi_i ^= 1;  // another SPI: the cookie does not match it
    p.resp->receive(p.now, {kR, 500}, {kI, 500}, wire::encode_message(*m));
    EXPECT_EQ(p.resp->stats().cookies_sent, 2u);
    EXPECT_EQ(p.resp->ike_sa_count(), 3u);
    // Secrets rotate; a member that imports them accepts the same cookies.
    crypto::DeterministicRandom r2(11);
    Engine other(p.cr, r2);
    ASSERT_TRUE(other.import_cookie_secrets(p.resp->cookie_secrets()).ok());
    EXPECT_EQ(other.cookie_secrets(), p.resp->cookie_secrets());
}

TEST(HandshakeBehaviour, InitiatorIgnoresMalformedResponsesInEachState) {
    Pair p;
    p.start();
    int injected = 0;
    p.pass = [&](const SendDatagram& d, bool from_i, int) {
        if (from_i) return true;
        // Before each genuine response: truncated, wrong message ID, flipped
        // last octet (the ICV once encrypted), and a reflected copy of it.
        Bytes cut(d.data.begin(), d.data.begin() + long(d.data.size() / 3));
        Bytes wrong_id = d.data;
        wrong_id[23] ^= 1;
        Bytes flipped = d.data;
        flipped.back() ^= 1;
        Bytes reflected = d.data;
        reflected[19] ^= wire::kFlagInitiator;  // claims the initiator's role
        bool encrypted = d.data.size() > 16 && d.data[16] == std::uint8_t(wire::PayloadType::SK);
        const Bytes* copies[] = {&cut, &wrong_id, &flipped, &reflected};
        for (const Bytes* b : copies) {
            // A changed IKE_SA_INIT response is unauthenticated: an initiator
            // that gets it first takes it and then fails AUTH (RFC 7296 has
            // no defence against an on-path injector here).
            if (b == &flipped && !encrypted) continue;
            p.init->receive(p.now, d.remote, d.local, *b);
            ++injected;
        }
        return true;
    };
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    EXPECT_EQ(injected, 7);
    ASSERT_EQ(p.init->established().size(), 1u);
    expect_mirrored(p.sa_i(), p.sa_r());
    EXPECT_EQ(p.init->stats().dropped, 7u);
}
