// RFC 6311 in the engine, both sides. A cluster member A establishes an IKE
// SA with peer P and carries on with it; member B takes over from a STALE
// copy of A's state (the last updates never reached it, RFC 6027 §3.6).
// Without a sync, P and B disagree on message IDs and the SA dies; with
// Engine::sync_with_peer() the SA carries on. Also the peer-side rules of
// §5.1 (stale and un-negotiated syncs dropped, the answer computed as the
// RFC says, a retransmitted sync answered once) and replay-counter sync
// (§5.2) end to end between two of our engines.
#include <gtest/gtest.h>

#include "pair.h"
#include "wire/notify.h"

using namespace testpair;

namespace {

class SeqSpis final : public SpiAllocator {
  public:
    explicit SeqSpis(std::uint64_t base) : ike_(base), child_(std::uint32_t(base >> 32)) {}
    std::uint64_t ike_spi() override { return ++ike_; }
    std::uint32_t child_spi() override { return ++child_; }

  private:
    std::uint64_t ike_;
    std::uint32_t child_;
};

struct Member {
    crypto::DeterministicRandom rng{777};
    SeqSpis spis{0x6b6b000000000000ull};
    std::unique_ptr<Engine> make(const EngineConfig& cfg) {
        return std::make_unique<Engine>(cfg, rng, &spis);
    }
};

// The cluster on either side of the pair (GetParam(): it responded).
struct Sides {
    Pair& p;
    bool cluster_is_responder;
    std::unique_ptr<Engine>& cluster() { return cluster_is_responder ? p.resp : p.init; }
    Engine& peer() { return cluster_is_responder ? *p.init : *p.resp; }
    const EngineConfig& cluster_cfg() { return cluster_is_responder ? p.cr : p.ci; }
    const IkeSaState& cluster_sa() { return cluster_is_responder ? p.sa_r() : p.sa_i(); }
    const IkeSaState& peer_sa() { return cluster_is_responder ? p.sa_i() : p.sa_r(); }
    std::vector<Output>& peer_out() { return cluster_is_responder ? p.out_i : p.out_r; }
    std::vector<Output>& cluster_out() { return cluster_is_responder ? p.out_r : p.out_i; }
};

// A takes the SA, then runs exchanges in both directions that B will not
// know about; returns the stale state B takes over from.
IkeSaState stale_takeover_state(Pair& p, Sides& s, const IkeSpis& spis) {
    const IkeSaState stale = *s.cluster()->find(spis);
    EXPECT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    p.run();
    EXPECT_TRUE(s.cluster()->check_liveness(p.now, spis).ok());
    p.run();
    EXPECT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    p.run();
    return stale;
}

void fail_over(Pair& p, Sides& s, Member& m, const IkeSaState& st, bool await) {
    auto b = m.make(s.cluster_cfg());
    ASSERT_TRUE(b->import_ike_sa(p.now, st, {}, await).ok());
    (void)b->take_outputs();
    s.cluster() = std::move(b);
}

// After a sync the member expects P2 - 1 or P2 from the peer (it cannot
// tell whether P2 counted a request still outstanding); the peer's next
// request settles it, and only then do both views agree on message IDs.
void peer_speaks_once(Pair& p, Sides& s, const IkeSpis& spis) {
    const std::uint64_t rt = s.peer().stats().retransmits_sent;
    ASSERT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    p.run();
    EXPECT_EQ(s.peer().stats().retransmits_sent, rt);
}

}  // namespace

class PeerSync : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(Roles, PeerSync, ::testing::Bool(), [](const auto& i) {
    return std::string(i.param ? "ClusterResponded" : "ClusterInitiated");
});

TEST_P(PeerSync, WithoutSyncAStaleMemberLosesTheSa) {
    Pair p;
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    IkeSaState stale = stale_takeover_state(p, s, spis);
    Member m;
    fail_over(p, s, m, stale, false);
    // The peer's next request carries an ID B does not expect: B drops it,
    // the peer retransmits until it gives up on the IKE SA (§2.4).
    const std::uint64_t dropped = s.cluster()->stats().dropped;
    ASSERT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    p.settle(p.now + 10min);
    EXPECT_GT(s.cluster()->stats().dropped, dropped);
    EXPECT_GT(s.peer().stats().retransmits_sent, 0u);
    bool peer_dead = false;
    for (const IkeSaDeleted& d : Pair::of<IkeSaDeleted>(s.peer_out()))
        peer_dead = peer_dead || d.reason == DeleteReason::PEER_DEAD;
    EXPECT_TRUE(peer_dead);
}

TEST_P(PeerSync, WithSyncTheSaCarriesOn) {
    Pair p;
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    ASSERT_TRUE(s.peer_sa().peer.msgid_sync);  // both announce by default
    IkeSaState stale = stale_takeover_state(p, s, spis);
    Member m;
    fail_over(p, s, m, stale, true);
    // Until the sync is asked for, B starts nothing of its own.
    ASSERT_TRUE(s.cluster()->check_liveness(p.now, spis).ok());
    EXPECT_TRUE(Pair::of<SendDatagram>(s.cluster()->take_outputs()).empty());
    ASSERT_TRUE(s.cluster()->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok());
    const std::uint32_t peer_next_in = s.peer_sa().msgids.next_request_in;
    p.run();
    EXPECT_EQ(s.cluster()->stats().peer_syncs_started, 1u);
    EXPECT_EQ(s.cluster()->stats().peer_syncs_completed, 1u);
    EXPECT_EQ(s.peer().stats().peer_syncs_answered, 1u);
    // §5.1: M1 = B's stale next request + 64, above what A used; the peer
    // took it (M2 = max(M1, expected)); then the liveness check queued
    // before the sync went out as M2.
    EXPECT_EQ(s.peer_sa().msgids.next_request_in, stale.msgids.next_request_out + 64 + 1);
    EXPECT_GT(s.peer_sa().msgids.next_request_in, peer_next_in);
    // B now expects P2 - 1 or P2 from the peer (it cannot tell whether the
    // peer counted an outstanding request); the peer's next request settles it.
    // Exchanges both ways, a rekey included, with no retransmission.
    const std::uint64_t rt = s.peer().stats().retransmits_sent;
    ASSERT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    p.run();
    ASSERT_TRUE(s.cluster()->rekey_child(p.now, spis, s.cluster_sa().children[0].spi_in).ok());
    p.run();
    ASSERT_TRUE(s.peer().rekey_child(p.now, spis, s.peer_sa().children[0].spi_in).ok());
    p.run();
    expect_consistent(p.sa_i(), p.sa_r());
    EXPECT_EQ(s.peer().stats().retransmits_sent, rt);
    EXPECT_TRUE(Pair::of<IkeSaDeleted>(s.peer_out()).empty());
}

TEST_P(PeerSync, APeerRequestLostWithTheFailedMemberIsSentAgainAfterTheSync) {
    Pair p;
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    const IkeSaState st = *s.cluster()->find(spis);
    // A dies; the peer's request goes to it and is lost.
    p.pass = [](const SendDatagram&, bool, int) { return false; };
    ASSERT_TRUE(s.peer().rekey_child(p.now, spis, s.peer_sa().children[0].spi_in).ok());
    p.run();
    p.pass = [](const SendDatagram&, bool, int) { return true; };
    Member m;
    fail_over(p, s, m, st, true);
    ASSERT_TRUE(s.cluster()->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok());
    p.run();
    EXPECT_EQ(s.cluster()->stats().peer_syncs_completed, 1u);
    // P2 counted the outstanding request; the peer retransmits it with its
    // ID, which B now expects.
    p.settle(p.now + 20s);
    expect_consistent(p.sa_i(), p.sa_r());
    EXPECT_EQ(s.peer().stats().child_sas_created, 1u);
    EXPECT_EQ(s.cluster_sa().children.size(), 1u);
}

// strongSwan 5.9 as the peer: its request went to the failed member and
// was lost. Answering the sync, it requeues that request and leaves it out
// of P2, then sends it again as a new request with ID P2; and its IKE IVs
// come from the message ID, so it refuses to encrypt a second request
// under an ID it already used (the IKE SA then hangs). P1 must therefore
// be past that ID, so that P2 is too.
TEST_P(PeerSync, APeerThatForgetsItsLostRequestIsMovedPastItsId) {
    Pair p;
    Sides s{p, GetParam()};
    const bool cluster_init = !GetParam();
    IkeSpis spis = p.establish();
    const IkeSaState st = *s.cluster()->find(spis);
    const std::uint32_t lost_id = st.msgids.next_request_in;
    p.pass = [](const SendDatagram&, bool, int) { return false; };
    ASSERT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    p.run();
    p.pass = [](const SendDatagram&, bool, int) { return true; };
    Member m;
    fail_over(p, s, m, st, true);
    ASSERT_TRUE(s.cluster()->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok());
    auto sync = Pair::of<SendDatagram>(s.cluster()->take_outputs());
    ASSERT_EQ(sync.size(), 1u);
    auto inner = open_as(s.peer_sa(), cluster_init, sync[0].data);
    ASSERT_TRUE(inner.ok());
    std::optional<wire::MessageIdSync> req;
    for (const wire::Payload& pl : *inner) {
        const auto* n = pl.as<wire::NotifyPayload>();
        if (n && n->notify_type() == wire::NotifyType::IKEV2_MESSAGE_ID_SYNC)
            if (auto v = wire::parse_message_id_sync(*n)) req = *v;
    }
    ASSERT_TRUE(req.has_value());
    EXPECT_GT(req->expected_recv_req, lost_id);  // P1
    // strongSwan's answer: P2 = max(P1, its next ID), the lost one not counted.
    const std::uint32_t p2 = std::max(req->expected_recv_req, lost_id);
    const std::uint32_t m2 = std::max(req->expected_send_req, s.peer_sa().msgids.next_request_in);
    const bool peer_init = !cluster_init;
    s.cluster()->receive(p.now, sync[0].local, sync[0].remote,
                         seal_as(s.peer_sa(), peer_init, ExchangeType::INFORMATIONAL, 0,
                                 {wire::notify_message_id_sync({req->nonce, p2, m2})}, true));
    ASSERT_EQ(s.cluster()->stats().peer_syncs_completed, 1u);
    (void)s.cluster()->take_outputs();
    // Its next request, under a fresh ID, is answered.
    ASSERT_NE(p2, lost_id);
    s.cluster()->receive(p.now, sync[0].local, sync[0].remote,
                         seal_as(s.peer_sa(), peer_init, ExchangeType::INFORMATIONAL, p2, {}));
    auto answer = Pair::of<SendDatagram>(s.cluster()->take_outputs());
    ASSERT_EQ(answer.size(), 1u);
    auto hdr = wire::decode_message(answer[0].data);
    ASSERT_TRUE(hdr.ok());
    EXPECT_TRUE(hdr->header.is_response());
    EXPECT_EQ(hdr->header.message_id, p2);
    EXPECT_EQ(s.cluster()->find(spis)->msgids.next_request_in, p2 + 1);
}

TEST_P(PeerSync, ARequestAheadOfTheStaleStateIsAcceptedWhileResyncing) {
    Pair p;
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    IkeSaState stale = stale_takeover_state(p, s, spis);
    Member m;
    fail_over(p, s, m, stale, true);
    // The peer's request arrives before B asked for the sync: it is ahead
    // of what B expects, authentic, and accepted.
    ASSERT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    p.run();
    EXPECT_EQ(s.peer().stats().retransmits_sent, 0u);
    ASSERT_TRUE(s.cluster()->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok());
    p.run();
    peer_speaks_once(p, s, spis);
    expect_consistent(p.sa_i(), p.sa_r());
}

TEST_P(PeerSync, PeerAnswersARetransmittedSyncOnceAndDropsStaleOnes) {
    Pair p;
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    const IkeSaState st = *s.cluster()->find(spis);
    Member m;
    fail_over(p, s, m, st, true);
    ASSERT_TRUE(s.cluster()->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok());
    auto sync = Pair::of<SendDatagram>(s.cluster()->take_outputs());
    ASSERT_EQ(sync.size(), 1u);
    Engine& peer = s.peer();
    peer.receive(p.now, sync[0].remote, sync[0].local, sync[0].data);
    auto first = Pair::of<SendDatagram>(peer.take_outputs());
    ASSERT_EQ(first.size(), 1u);
    const IkeSaState after = *peer.find(spis);
    // The same request again: the same answer, nothing applied twice.
    peer.receive(p.now, sync[0].remote, sync[0].local, sync[0].data);
    auto again = Pair::of<SendDatagram>(peer.take_outputs());
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].data, first[0].data);
    EXPECT_EQ(peer.find(spis)->msgids, after.msgids);
    EXPECT_EQ(peer.stats().peer_syncs_answered, 1u);
    // A different sync (new nonce) whose M1 is below what the peer already
    // received: silently dropped (§5.1).
    const bool cluster_init = !GetParam();
    const std::uint32_t m1 = after.msgids.next_request_in - 1;
    Bytes stale = seal_as(st, cluster_init, ExchangeType::INFORMATIONAL, 0,
                          {wire::notify_message_id_sync({0x1234, m1, 0})});
    const std::uint64_t dropped = peer.stats().peer_syncs_dropped;
    peer.receive(p.now, sync[0].remote, sync[0].local, stale);
    EXPECT_TRUE(peer.take_outputs().empty());
    EXPECT_EQ(peer.stats().peer_syncs_dropped, dropped + 1);
    EXPECT_EQ(peer.find(spis)->msgids, after.msgids);
    // A malformed one (11 octets): dropped too.
    wire::Payload bad = wire::notify(wire::NotifyType::IKEV2_MESSAGE_ID_SYNC, Bytes(11, 0xff));
    peer.receive(p.now, sync[0].remote, sync[0].local,
                 seal_as(st, cluster_init, ExchangeType::INFORMATIONAL, 0, {bad}));
    EXPECT_TRUE(peer.take_outputs().empty());
    EXPECT_EQ(peer.stats().peer_syncs_dropped, dropped + 2);
    // The answer to the first one completes B's sync; a forged answer with
    // another nonce before it changes nothing.
    Bytes forged = seal_as(st, !cluster_init, ExchangeType::INFORMATIONAL, 0,
                           {wire::notify_message_id_sync({0xdead, 500, 500})}, true);
    s.cluster()->receive(p.now, first[0].remote, first[0].local, forged);
    EXPECT_EQ(s.cluster()->stats().peer_syncs_completed, 0u);
    s.cluster()->receive(p.now, first[0].remote, first[0].local, first[0].data);
    EXPECT_EQ(s.cluster()->stats().peer_syncs_completed, 1u);
    peer_speaks_once(p, s, spis);
    expect_consistent(*s.cluster()->find(spis), *peer.find(spis));
}

TEST(PeerSync, NotNegotiatedMeansNoSync) {
    Pair p;
    p.ci.announce_msgid_sync = p.ci.announce_replay_sync = false;
    p.init = std::make_unique<Engine>(p.ci, p.ri);
    IkeSpis spis = p.establish();
    EXPECT_FALSE(p.sa_r().peer.msgid_sync);
    // The cluster (responder) cannot sync a peer that did not announce it.
    const IkeSaState st = *p.resp->find(spis);
    Member m;
    auto b = m.make(p.cr);
    ASSERT_TRUE(b->import_ike_sa(p.now, st, {}, true).ok());
    EXPECT_FALSE(b->sync_with_peer(p.now, spis, PeerSyncRequest{100, 1000}).ok());
    // ... and the hold is released: B's own exchanges go out.
    (void)b->take_outputs();
    ASSERT_TRUE(b->check_liveness(p.now, spis).ok());
    EXPECT_EQ(Pair::of<SendDatagram>(b->take_outputs()).size(), 1u);
    // A sync sent anyway is dropped by the peer that never announced (§4).
    Bytes sync = seal_as(st, false, ExchangeType::INFORMATIONAL, 0,
                         {wire::notify_message_id_sync({7, 1000, 1000})});
    const auto before = p.sa_i().msgids;
    p.init->receive(p.now, Endpoint{kI, 500}, Endpoint{kR, 500}, sync);
    EXPECT_TRUE(Pair::of<SendDatagram>(p.init->take_outputs()).empty());
    EXPECT_EQ(p.init->stats().peer_syncs_dropped, 1u);
    EXPECT_EQ(p.sa_i().msgids, before);
}

TEST_P(PeerSync, ReplayCounterSyncMovesThePeersCountersAndOurFloors) {
    Pair p;
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    ASSERT_TRUE(s.cluster_sa().peer.replay_sync);
    const IkeSaState st = *s.cluster()->find(spis);
    const ChildSaState& ch = st.children[0];
    Member m;
    auto b = m.make(s.cluster_cfg());
    std::vector<ChildCounters> counters{ChildCounters{ch.spi_in, 5000, 1200}};
    ASSERT_TRUE(b->import_ike_sa(p.now, st, counters, true).ok());
    (void)b->take_outputs();
    s.cluster() = std::move(b);
    const std::size_t peer_before = s.peer_out().size();
    const std::size_t cluster_before = s.cluster_out().size();
    ASSERT_TRUE(s.cluster()->sync_with_peer(p.now, spis, PeerSyncRequest{64, 1 << 20}).ok());
    p.run();
    EXPECT_EQ(s.peer().stats().replay_syncs_applied, 1u);
    // The peer adds the delta to its outbound counter of the child...
    std::vector<Output> peer_new(s.peer_out().begin() + std::ptrdiff_t(peer_before),
                                 s.peer_out().end());
    auto adv = Pair::of<AdjustChildCounters>(peer_new);
    ASSERT_EQ(adv.size(), 1u);
    EXPECT_EQ(adv[0].spi_out, ch.spi_in);
    EXPECT_EQ(adv[0].out_advance, std::uint64_t{1} << 20);
    EXPECT_EQ(adv[0].in_floor, 0u);
    // ... and once it confirmed, B's inbound window refuses everything up
    // to the replicated mark + delta.
    std::vector<Output> cl_new(s.cluster_out().begin() + std::ptrdiff_t(cluster_before),
                               s.cluster_out().end());
    auto floor = Pair::of<AdjustChildCounters>(cl_new);
    ASSERT_EQ(floor.size(), 1u);
    EXPECT_EQ(floor[0].spi_in, ch.spi_in);
    EXPECT_EQ(floor[0].in_floor, 1200u + (1u << 20));
    EXPECT_EQ(floor[0].out_advance, 0u);
    peer_speaks_once(p, s, spis);
    expect_consistent(p.sa_i(), p.sa_r());
}

TEST(PeerSync, ReplayCounterSyncAloneRidesAnOrdinaryInformational) {
    Pair p;
    p.ci.announce_msgid_sync = false;  // the initiator (peer) announces replay sync only
    p.init = std::make_unique<Engine>(p.ci, p.ri);
    IkeSpis spis = p.establish();
    const IkeSaState st = *p.resp->find(spis);
    Member m;
    auto b = m.make(p.cr);
    ASSERT_TRUE(b->import_ike_sa(p.now, st, {}, true).ok());
    (void)b->take_outputs();
    p.resp = std::move(b);
    ASSERT_TRUE(p.resp->sync_with_peer(p.now, spis, PeerSyncRequest{64, 4096}).ok());
    p.run();
    EXPECT_EQ(p.init->stats().replay_syncs_applied, 1u);
    EXPECT_EQ(p.init->stats().peer_syncs_answered, 0u);
    EXPECT_EQ(p.resp->stats().peer_syncs_completed, 1u);
    EXPECT_EQ(Pair::of<AdjustChildCounters>(p.out_i).size(), 1u);
    expect_consistent(p.sa_i(), p.sa_r());
}

TEST_P(PeerSync, ASilentPeerEndsTheSaCleanly) {
    Pair p;
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    const IkeSaState st = *s.cluster()->find(spis);
    Member m;
    fail_over(p, s, m, st, true);
    p.pass = [](const SendDatagram&, bool, int) { return false; };
    ASSERT_TRUE(s.cluster()->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok());
    p.settle(p.now + 10min);
    EXPECT_EQ(s.cluster()->ike_sa_count(), 0u);
    EXPECT_GT(s.cluster()->stats().retransmits_sent, 0u);
    auto dels = Pair::of<IkeSaDeleted>(s.cluster_out());
    ASSERT_FALSE(dels.empty());
    EXPECT_EQ(dels.back().reason, DeleteReason::PEER_DEAD);
}

// EngineConfig::msgid_sync_guard_sequential_ivs, on for the daemon: a peer
// that derives AEAD IVs from message IDs (strongSwan) can answer a sync only
// while it has answered no request of ours on the IKE SA. Seen against
// strongSwan 5.9.8: a second failover on the same IKE SA made it log
// "encrypting encrypted payload failed, no IV or padding" and destroy it.
TEST(PeerSyncGuard, NoMessageIdSyncOnceThePeerAnsweredOurRequest) {
    for (const char* suite : {"aes256gcm16-prfsha256-x25519", "aes128-sha256-x25519"}) {
        SCOPED_TRACE(suite);
        const bool aead = std::string(suite).find("gcm") != std::string::npos;
        Member m1, m2;
        Pair p(suite, suite);
        p.cr.msgid_sync_guard_sequential_ivs = true;
        IkeSpis spis = p.establish();
        // Only the peer has sent requests: its answer can be encrypted.
        {
            std::unique_ptr<Engine> b = m1.make(p.cr);
            ASSERT_TRUE(b->import_ike_sa(p.now, p.sa_r(), {}, true).ok());
            EXPECT_TRUE(b->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok());
            EXPECT_EQ(b->stats().peer_syncs_started, 1u);
            EXPECT_EQ(b->stats().peer_syncs_skipped, 0u);
        }
        // The gateway's liveness check, answered by the peer; then a takeover.
        ASSERT_TRUE(p.resp->check_liveness(p.now, spis).ok());
        p.run();
        ASSERT_GT(p.sa_r().msgids.next_request_out, 0u);
        const IkeSaState st = p.sa_r();
        p.resp = m2.make(p.cr);
        ASSERT_TRUE(p.resp->import_ike_sa(p.now, st, {}, true).ok());
        (void)p.resp->take_outputs();
        EXPECT_EQ(p.resp->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok(), !aead);
        EXPECT_EQ(p.resp->stats().peer_syncs_started, aead ? 0u : 1u);
        EXPECT_EQ(p.resp->stats().peer_syncs_skipped, aead ? 1u : 0u);
        p.run();
        // Either way the SA goes on: the replica was current.
        const std::uint64_t rt = p.init->stats().retransmits_sent;
        ASSERT_TRUE(p.init->check_liveness(p.now, spis).ok());
        p.run();
        ASSERT_TRUE(p.resp->check_liveness(p.now, spis).ok());
        p.run();
        EXPECT_EQ(p.init->stats().retransmits_sent, rt);
        EXPECT_EQ(p.resp->stats().retransmits_sent, 0u);
        expect_consistent(p.sa_i(), p.sa_r());
    }
}
