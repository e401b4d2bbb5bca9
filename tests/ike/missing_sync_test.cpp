// Missing sync beyond message IDs (RFC 6027 §3.6): a member that takes over
// may not know an IKE or Child SA the peer has, or may hold one the peer
// deleted, because the update never reached it. Each case ends in a defined
// state quickly, without a full timeout:
//   - a request on an IKE SA we do not know gets an unprotected
//     INVALID_IKE_SPI (RFC 7296 §2.21.4); the peer takes it as a hint and
//     gives the SA up after two quick retransmissions if nobody answers,
//     while a forged hint costs a live SA nothing;
//   - ESP on a Child SA we do not know gets INVALID_SPI; the peer deletes
//     that child and, if it is the side that wants the tunnel up
//     (start_action = start), negotiates a new one;
//   - an SA the peer deleted goes at our next liveness check.
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
    crypto::DeterministicRandom rng{99};
    SeqSpis spis{0x7c7c000000000000ull};
    std::unique_ptr<Engine> make(const EngineConfig& cfg) {
        return std::make_unique<Engine>(cfg, rng, &spis);
    }
};

bool peer_dead(const std::vector<Output>& outs) {
    for (const IkeSaDeleted& d : Pair::of<IkeSaDeleted>(outs)) {
        if (d.reason == DeleteReason::PEER_DEAD) return true;
    }
    return false;
}

}  // namespace

TEST(MissingSync, ARequestOnAnUnknownIkeSaGetsAnUnprotectedInvalidIkeSpi) {
    Pair p;
    IkeSpis spis = p.establish();
    ASSERT_TRUE(p.init->check_liveness(p.now, spis).ok());
    auto req = Pair::of<SendDatagram>(p.init->take_outputs());
    ASSERT_EQ(req.size(), 1u);
    Member m;
    auto b = m.make(p.cr);  // took over without this SA
    b->receive(p.now, req[0].remote, req[0].local, req[0].data);
    auto ans = Pair::of<SendDatagram>(b->take_outputs());
    ASSERT_EQ(ans.size(), 1u);
    EXPECT_EQ(ans[0].remote, req[0].local);
    auto m_ans = wire::decode_message(ans[0].data);
    auto m_req = wire::decode_message(req[0].data);
    ASSERT_TRUE(m_ans.ok());
    // §2.21.4: same SPIs and Message ID, a response, not protected.
    EXPECT_EQ(m_ans->header.spi_i, spis.spi_i);
    EXPECT_EQ(m_ans->header.spi_r, spis.spi_r);
    EXPECT_EQ(m_ans->header.message_id, m_req->header.message_id);
    EXPECT_TRUE(m_ans->header.is_response());
    EXPECT_FALSE(m_ans->header.from_initiator());
    ASSERT_EQ(m_ans->payloads.size(), 1u);
    const auto* n = m_ans->payloads[0].as<wire::NotifyPayload>();
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->type, std::uint16_t(wire::NotifyType::INVALID_IKE_SPI));
    // A response on an unknown SA is never answered; a flood of requests
    // gets at most 1000 answers a second; a member that is not active
    // answers none.
    b->receive(p.now, req[0].remote, req[0].local, ans[0].data);
    EXPECT_TRUE(b->take_outputs().empty());
    for (int i = 0; i < 1500; ++i)
        b->receive(p.now, req[0].remote, req[0].local, req[0].data);
    EXPECT_EQ(Pair::of<SendDatagram>(b->take_outputs()).size(), 999u);
    b->set_unknown_spi_answers(false);
    b->receive(p.now + 2s, req[0].remote, req[0].local, req[0].data);
    EXPECT_TRUE(b->take_outputs().empty());
}

TEST(MissingSync, APeerWhoseSaWasLostGivesItUpWithinSeconds) {
    Pair p;
    IkeSpis spis = p.establish();
    const Time start = p.now;
    Member m;
    p.resp = m.make(p.cr);  // the new active never had this SA
    ASSERT_TRUE(p.init->check_liveness(p.now, spis).ok());
    p.settle(p.now + 10s);
    EXPECT_GE(p.init->stats().invalid_ike_spi_hints, 1u);
    EXPECT_EQ(p.init->ike_sa_count(), 0u);
    EXPECT_TRUE(peer_dead(p.out_i));
    EXPECT_LT(p.now - start, 11s);
}

TEST(MissingSync, AForgedHintDoesNotHurtALiveSa) {
    Pair p;
    IkeSpis spis = p.establish();
    const IkeSaState st = p.sa_i();
    // The first liveness request is lost; an attacker answers it with an
    // unprotected INVALID_IKE_SPI.
    p.pass = [](const SendDatagram&, bool from_i, int) { return !from_i; };
    ASSERT_TRUE(p.init->check_liveness(p.now, spis).ok());
    p.run();
    p.pass = [](const SendDatagram&, bool, int) { return true; };
    wire::Message forged;
    forged.header.spi_i = spis.spi_i;
    forged.header.spi_r = spis.spi_r;
    forged.header.exchange = std::uint8_t(ExchangeType::INFORMATIONAL);
    forged.header.flags = wire::kFlagResponse;
    forged.header.message_id = st.msgids.next_request_out;
    forged.payloads.push_back(wire::notify(wire::NotifyType::INVALID_IKE_SPI));
    p.init->receive(p.now, Endpoint{kI, 500}, Endpoint{kR, 500}, wire::encode_message(forged));
    EXPECT_EQ(p.init->stats().invalid_ike_spi_hints, 1u);
    // The hurried retransmission reaches the live responder: all is well.
    p.settle(p.now + 10s);
    EXPECT_EQ(p.init->ike_sa_count(), 1u);
    EXPECT_FALSE(peer_dead(p.out_i));
    expect_consistent(p.sa_i(), p.sa_r());
}

TEST(MissingSync, AChildRekeyTheStandbyNeverHeardOfIsRepaired) {
    Pair p;
    p.ci.connections[0].children[0].start_action = StartAction::START;  // the client
    p.init = std::make_unique<Engine>(p.ci, p.ri);
    IkeSpis spis = p.establish();
    const IkeSaState stale = p.sa_r();  // before the rekey
    ASSERT_TRUE(p.init->rekey_child(p.now, spis, p.sa_i().children[0].spi_in).ok());
    p.run();
    const ChildSaState peer_child = p.sa_i().children[0];
    ASSERT_NE(peer_child.spi_out, stale.children[0].spi_in);
    // The responder dies; B takes over without the rekey (and, since its
    // message IDs lag too, resynchronises them first, RFC 6311).
    Member m;
    p.resp = m.make(p.cr);
    ASSERT_TRUE(p.resp->import_ike_sa(p.now, stale, {}, true).ok());
    (void)p.resp->take_outputs();
    ASSERT_TRUE(p.resp->sync_with_peer(p.now, spis, PeerSyncRequest{}).ok());
    p.run();
    // The peer's ESP arrives on the new SA, which B does not know.
    p.resp->report_invalid_spi(p.now, kI, peer_child.spi_out);
    p.run();
    // B's own ESP goes out on the old SA, which the peer deleted.
    p.init->report_invalid_spi(p.now + 2s, kR, stale.children[0].spi_out);
    p.now = p.now + 2s;
    p.run();
    p.settle(p.now + 5s);
    // The client negotiated a new child; the stale one is gone on both sides.
    EXPECT_EQ(p.init->stats().children_recreated, 1u);
    ASSERT_EQ(p.sa_i().children.size(), 1u);
    EXPECT_NE(p.sa_i().children[0].spi_in, peer_child.spi_in);
    expect_consistent(p.sa_i(), p.sa_r());
    EXPECT_EQ(p.init->ike_sa_count(), 1u);
}

TEST(MissingSync, AnIkeSaThePeerDeletedGoesAtTheNextLivenessCheck) {
    Pair p;
    IkeSpis spis = p.establish();
    const IkeSaState st = p.sa_r();
    // The peer deletes the IKE SA; the member that takes over never heard.
    ASSERT_TRUE(p.init->delete_ike(p.now, spis).ok());
    p.run();
    ASSERT_EQ(p.init->ike_sa_count(), 0u);
    Member m;
    p.resp = m.make(p.cr);
    ASSERT_TRUE(p.resp->import_ike_sa(p.now, st).ok());
    (void)p.resp->take_outputs();
    const Time start = p.now;
    ASSERT_TRUE(p.resp->check_liveness(p.now, spis).ok());
    p.settle(p.now + 10s);
    EXPECT_EQ(p.resp->ike_sa_count(), 0u);
    EXPECT_TRUE(peer_dead(p.out_r));
    EXPECT_GE(p.resp->stats().invalid_ike_spi_hints, 1u);
    EXPECT_LT(p.now - start, 11s);
}
