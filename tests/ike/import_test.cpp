// Cluster takeover (RFC 6027 §3): an engine A establishes an IKE SA with a
// peer P; a second engine B (another cluster member: same configuration, its
// own randomness and SPI space) imports A's replicated state and from then on
// gets all of P's traffic, A being dead. P must notice nothing: its
// retransmission is answered byte for byte from the cached response, and
// every exchange in both directions carries on with unbroken message IDs.
// Also: import errors change nothing, forget()/forget_all() drop SAs
// silently, and InstallChildSa carries the replicated ESP counters.
#include <gtest/gtest.h>

#include "pair.h"

using namespace testpair;

namespace {

// A member's own SPI space (the cluster gives each member a disjoint one).
class SeqSpis final : public SpiAllocator {
  public:
    explicit SeqSpis(std::uint64_t base) : ike_(base), child_(std::uint32_t(base >> 32)) {}
    std::uint64_t ike_spi() override { return ++ike_; }
    std::uint32_t child_spi() override { return ++child_; }

  private:
    std::uint64_t ike_;
    std::uint32_t child_;
};

ChildConfig second_child(const char* local, const char* remote) {
    ChildConfig c;
    c.name = "net2";
    c.local_ts = *parse_ts_list(local);
    c.remote_ts = *parse_ts_list(remote);
    c.esp_proposals = *parse_proposals("aes256gcm16", ProposalKind::ESP);
    return c;
}

void add_second_child(Pair& p) {
    p.ci.connections[0].children.push_back(second_child("10.1.0.0/16", "10.2.0.0/16"));
    p.cr.connections[0].children.push_back(second_child("10.2.0.0/16", "10.1.0.0/16"));
}

// The second member: its engine and what the engine needs to outlive.
struct Member {
    crypto::DeterministicRandom rng{4242};
    SeqSpis spis{0x5a5a000000000000ull};
    std::unique_ptr<Engine> make(const EngineConfig& cfg) {
        return std::make_unique<Engine>(cfg, rng, &spis);
    }
};

struct Sent {
    SendDatagram d;
    wire::Header h;
};

// The datagrams on the wire from `from`, decoded.
std::vector<Sent> sent_by(const Pair& p, const IpAddress& from) {
    std::vector<Sent> r;
    for (const SendDatagram& d : p.wire_log) {
        if (d.local.addr != from) continue;
        BytesView b = d.data;
        if (d.local.port == 4500) b = b.subspan(4);
        auto h = wire::decode_header(b);
        if (h) r.push_back(Sent{d, *h});
    }
    return r;
}

template <typename T>
std::size_t count_of(const std::vector<Output>& outs) {
    return Pair::of<T>(outs).size();
}

// Which side of the pair the cluster is on: the gateway answering a road
// warrior (responder) or a gateway that initiated the tunnel.
struct Sides {
    Pair& p;
    bool cluster_is_responder;
    std::unique_ptr<Engine>& cluster() { return cluster_is_responder ? p.resp : p.init; }
    Engine& peer() { return cluster_is_responder ? *p.init : *p.resp; }
    const EngineConfig& cluster_cfg() { return cluster_is_responder ? p.cr : p.ci; }
    IpAddress cluster_addr() const { return cluster_is_responder ? kR : kI; }
    IpAddress peer_addr() const { return cluster_is_responder ? kI : kR; }
    const IkeSaState& cluster_sa() { return cluster_is_responder ? p.sa_r() : p.sa_i(); }
    const IkeSaState& peer_sa() { return cluster_is_responder ? p.sa_i() : p.sa_r(); }
    IkeSpis spis() { return p.init->established().front(); }
};

}  // namespace

class Takeover : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(Roles, Takeover, ::testing::Bool(), [](const auto& i) {
    return std::string(i.param ? "ClusterResponded" : "ClusterInitiated");
});

TEST_P(Takeover, PeerNoticesNothingAndEveryExchangeCarriesOn) {
    Pair p;
    add_second_child(p);
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    // Some history on A before it dies: the peer checks liveness and rekeys
    // the child, A rekeys the child back.
    ASSERT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    p.run();
    ASSERT_TRUE(s.peer().rekey_child(p.now, spis, s.peer_sa().children[0].spi_in).ok());
    p.run();
    ASSERT_TRUE(s.cluster()->rekey_child(p.now, spis, s.cluster_sa().children[0].spi_in).ok());
    p.run();
    expect_consistent(p.sa_i(), p.sa_r());

    // The peer's last request and A's answer to it.
    auto from_peer = sent_by(p, s.peer_addr());
    auto from_a = sent_by(p, s.cluster_addr());
    auto req = std::find_if(from_peer.rbegin(), from_peer.rend(),
                            [](const Sent& x) { return !x.h.is_response(); });
    ASSERT_NE(req, from_peer.rend());
    auto answer = std::find_if(from_a.rbegin(), from_a.rend(), [&](const Sent& x) {
        return x.h.is_response() && x.h.message_id == req->h.message_id;
    });
    ASSERT_NE(answer, from_a.rend());

    // Failover: B imports A's state; A gets nothing from now on.
    const IkeSaState st = *s.cluster()->find(spis);
    Member m;
    std::unique_ptr<Engine> b = m.make(s.cluster_cfg());
    ASSERT_TRUE(b->import_ike_sa(p.now, st).ok());
    auto outs = b->take_outputs();
    EXPECT_EQ(outs.size(), st.children.size());  // InstallChildSa only
    EXPECT_EQ(count_of<InstallChildSa>(outs), st.children.size());
    ASSERT_NE(b->find(spis), nullptr);
    EXPECT_EQ(*b->find(spis), st);
    // The liveness schedule restarts now: nothing is due for a DPD interval.
    EXPECT_EQ(b->next_deadline(), p.now + 30s);
    std::unique_ptr<Engine> a = std::exchange(s.cluster(), std::move(b));
    Engine& peer = s.peer();
    const EngineStats peer_before = peer.stats();
    const std::size_t peer_out_before = (GetParam() ? p.out_i : p.out_r).size();

    // §2.1: the peer retransmits its last request; B answers from the cache,
    // byte for byte what A sent.
    s.cluster()->receive(p.now, req->d.remote, req->d.local, req->d.data);
    outs = s.cluster()->take_outputs();
    ASSERT_EQ(outs.size(), 1u);
    auto resend = Pair::of<SendDatagram>(outs);
    ASSERT_EQ(resend.size(), 1u);
    EXPECT_EQ(resend[0].data, answer->d.data);
    EXPECT_EQ(resend[0].local, answer->d.local);
    EXPECT_EQ(resend[0].remote, answer->d.remote);
    EXPECT_EQ(s.cluster()->stats().responses_resent, 1u);

    // The peer's liveness check, child rekey and new child.
    ASSERT_TRUE(peer.check_liveness(p.now, spis).ok());
    p.run();
    expect_consistent(p.sa_i(), p.sa_r());
    ASSERT_TRUE(peer.rekey_child(p.now, spis, s.peer_sa().children[0].spi_in).ok());
    p.run();
    expect_consistent(p.sa_i(), p.sa_r());
    ASSERT_TRUE(peer.create_child(p.now, spis, "net2").ok());
    p.run();
    ASSERT_EQ(s.cluster_sa().children.size(), 2u);
    expect_consistent(p.sa_i(), p.sa_r());

    // B's own exchanges continue its message IDs from st.msgids.
    const std::uint32_t b_next = s.cluster_sa().msgids.next_request_out;
    EXPECT_EQ(b_next, st.msgids.next_request_out);
    ASSERT_TRUE(s.cluster()->check_liveness(p.now, spis).ok());
    p.run();
    EXPECT_EQ(s.cluster_sa().msgids.next_request_out, b_next + 1);
    ASSERT_TRUE(s.cluster()->rekey_child(p.now, spis, s.cluster_sa().children[0].spi_in).ok());
    p.run();
    expect_consistent(p.sa_i(), p.sa_r());
    ASSERT_TRUE(s.cluster()->create_child(p.now, spis, "net2").ok());
    p.run();
    ASSERT_EQ(s.cluster_sa().children.size(), 3u);
    expect_consistent(p.sa_i(), p.sa_r());
    // New Child SAs on B come from B's SPI space.
    EXPECT_EQ(s.cluster_sa().children.back().spi_in >> 16, 0x5a5au);

    // A liveness check that B's own timer starts after a quiet DPD interval.
    const std::uint64_t checks = s.cluster()->stats().liveness_checks;
    p.settle(p.now + 31s);
    EXPECT_GT(s.cluster()->stats().liveness_checks + peer.stats().liveness_checks,
              checks + peer_before.liveness_checks);
    expect_consistent(p.sa_i(), p.sa_r());

    // IKE SA rekeys, by the peer and then by B.
    ASSERT_TRUE(peer.rekey_ike(p.now, spis).ok());
    p.run();
    ASSERT_EQ(p.init->established().size(), 1u);
    ASSERT_EQ(p.resp->established().size(), 1u);
    IkeSpis spis2 = s.spis();
    EXPECT_NE(spis2, spis);
    expect_consistent(p.sa_i(), p.sa_r());
    EXPECT_EQ(s.cluster_sa().children.size(), 3u);
    ASSERT_TRUE(s.cluster()->rekey_ike(p.now, spis2).ok());
    p.run();
    ASSERT_EQ(p.init->established().size(), 1u);
    ASSERT_EQ(p.resp->established().size(), 1u);
    IkeSpis spis3 = s.spis();
    EXPECT_NE(spis3, spis2);
    expect_consistent(p.sa_i(), p.sa_r());
    // Exchanges on the newest SA, both ways.
    ASSERT_TRUE(peer.rekey_child(p.now, spis3, s.peer_sa().children[0].spi_in).ok());
    p.run();
    ASSERT_TRUE(s.cluster()->check_liveness(p.now, spis3).ok());
    p.run();
    expect_consistent(p.sa_i(), p.sa_r());

    // The peer never retransmitted, dropped nothing and lost no SA.
    EXPECT_EQ(peer.stats().retransmits_sent, peer_before.retransmits_sent);
    EXPECT_EQ(peer.stats().dropped, peer_before.dropped);
    const auto& peer_outs = GetParam() ? p.out_i : p.out_r;
    std::vector<Output> since(peer_outs.begin() + std::ptrdiff_t(peer_out_before), peer_outs.end());
    for (const IkeSaDeleted& d : Pair::of<IkeSaDeleted>(since))
        EXPECT_EQ(d.reason, DeleteReason::REPLACED);  // only the rekeyed SAs went

    // Finally the peer deletes the IKE SA; B lets it go.
    ASSERT_TRUE(peer.delete_ike(p.now, spis3).ok());
    p.run();
    EXPECT_EQ(p.init->ike_sa_count(), 0u);
    EXPECT_EQ(p.resp->ike_sa_count(), 0u);
    // A, dead, emitted nothing after the failover.
    EXPECT_TRUE(a->take_outputs().empty());
}

TEST_P(Takeover, ADeposedMemberForgetsAndTheNewOneAnswers) {
    Pair p;
    Sides s{p, GetParam()};
    IkeSpis spis = p.establish();
    const IkeSaState st = *s.cluster()->find(spis);
    Engine& a = *s.cluster();
    // A hands the SA over: the data plane stops using its children, the
    // peer hears nothing, the cluster sees no event.
    ASSERT_TRUE(a.forget(spis).ok());
    auto outs = a.take_outputs();
    ASSERT_EQ(outs.size(), st.children.size());
    auto removed = Pair::of<RemoveChildSa>(outs);
    ASSERT_EQ(removed.size(), 1u);
    EXPECT_EQ(removed[0].spi_in, st.children[0].spi_in);
    EXPECT_EQ(removed[0].spi_out, st.children[0].spi_out);
    EXPECT_EQ(a.find(spis), nullptr);
    EXPECT_EQ(a.ike_sa_count(), 0u);
    EXPECT_EQ(a.next_deadline(), Time::max());
    EXPECT_FALSE(a.forget(spis).ok());
    EXPECT_FALSE(a.check_liveness(p.now, spis).ok());
    // A request from the peer that still reaches A is dropped without a word
    // (a member that is not active does not answer INVALID_IKE_SPI).
    a.set_unknown_spi_answers(false);
    ASSERT_TRUE(s.peer().check_liveness(p.now, spis).ok());
    auto req = Pair::of<SendDatagram>(s.peer().take_outputs());
    ASSERT_EQ(req.size(), 1u);
    const std::uint64_t dropped = a.stats().dropped;
    a.receive(p.now, req[0].remote, req[0].local, req[0].data);
    EXPECT_TRUE(a.take_outputs().empty());
    EXPECT_EQ(a.stats().dropped, dropped + 1);
    // The new active member imports the SA and answers the same request.
    Member m;
    auto b = m.make(s.cluster_cfg());
    ASSERT_TRUE(b->import_ike_sa(p.now, st).ok());
    (void)b->take_outputs();
    b->receive(p.now, req[0].remote, req[0].local, req[0].data);
    auto ans = Pair::of<SendDatagram>(b->take_outputs());
    ASSERT_EQ(ans.size(), 1u);
    s.cluster() = std::move(b);
    (GetParam() ? p.init : p.resp)->receive(p.now, ans[0].remote, ans[0].local, ans[0].data);
    p.run();
    expect_consistent(p.sa_i(), p.sa_r());
    EXPECT_EQ(s.peer().stats().retransmits_sent, 0u);
}

TEST(Import, ErrorsLeaveTheEngineUnchanged) {
    Pair p;
    IkeSpis spis = p.establish();
    const IkeSaState st = *p.resp->find(spis);
    Member m;
    auto b = m.make(p.cr);
    auto unchanged = [&] {
        EXPECT_EQ(b->ike_sa_count(), 0u);
        EXPECT_TRUE(b->take_outputs().empty());
        EXPECT_EQ(b->next_deadline(), Time::max());
        EXPECT_EQ(b->find(spis), nullptr);
    };
    IkeSaState bad = st;
    bad.config_name = "not-configured";
    auto r = b->import_ike_sa(p.now, bad);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("not-configured"), std::string::npos);
    unchanged();
    bad = st;
    bad.spis.spi_r = 0;
    EXPECT_FALSE(b->import_ike_sa(p.now, bad).ok());
    unchanged();
    bad = st;
    bad.keys.sk_ei.resize(5);
    EXPECT_FALSE(b->import_ike_sa(p.now, bad).ok());
    unchanged();
    bad = st;
    bad.keys.sk_d.clear();
    EXPECT_FALSE(b->import_ike_sa(p.now, bad).ok());
    unchanged();
    bad = st;
    bad.suite.prf = PrfId(0x7777);
    EXPECT_FALSE(b->import_ike_sa(p.now, bad).ok());
    unchanged();
    // A duplicate SPI: the first import stands, the second changes nothing.
    ASSERT_TRUE(b->import_ike_sa(p.now, st).ok());
    EXPECT_EQ(count_of<InstallChildSa>(b->take_outputs()), 1u);
    const Time deadline = b->next_deadline();
    bad = st;
    bad.children.clear();
    r = b->import_ike_sa(p.now + 5s, bad);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("already in use"), std::string::npos);
    EXPECT_EQ(b->ike_sa_count(), 1u);
    EXPECT_TRUE(b->take_outputs().empty());
    EXPECT_EQ(*b->find(spis), st);
    EXPECT_EQ(b->next_deadline(), deadline);
}

TEST(Import, InstallChildSaCarriesTheReplicatedCounters) {
    Pair p;
    add_second_child(p);
    IkeSpis spis = p.establish();
    ASSERT_TRUE(p.init->create_child(p.now, spis, "net2").ok());
    p.run();
    const IkeSaState st = *p.resp->find(spis);
    ASSERT_EQ(st.children.size(), 2u);
    Member m;
    auto b = m.make(p.cr);
    const std::vector<ChildCounters> counters = {
        {st.children[1].spi_in, 1'000'000, 999'500}, {12345, 77, 66},  // no such child: ignored
    };
    ASSERT_TRUE(b->import_ike_sa(p.now, st, counters).ok());
    auto outs = b->take_outputs();
    auto inst = Pair::of<InstallChildSa>(outs);
    ASSERT_EQ(inst.size(), 2u);
    EXPECT_EQ(outs.size(), 2u);
    for (const InstallChildSa& i : inst) {
        EXPECT_EQ(i.ike, spis);
        EXPECT_EQ(i.local, st.local);
        EXPECT_EQ(i.remote, st.remote);
        EXPECT_EQ(i.encap, st.encap);
        if (i.child.spi_in == st.children[1].spi_in) {
            EXPECT_EQ(i.child, st.children[1]);
            EXPECT_EQ(i.out_next_seq, 1'000'000u);
            EXPECT_EQ(i.in_highest, 999'500u);
        } else {
            EXPECT_EQ(i.child, st.children[0]);
            EXPECT_EQ(i.out_next_seq, 1u);  // defaults: none given
            EXPECT_EQ(i.in_highest, 0u);
        }
    }
    // A fresh SA's installs keep the defaults too.
    for (const InstallChildSa& i : Pair::of<InstallChildSa>(p.out_r)) {
        EXPECT_EQ(i.out_next_seq, 1u);
        EXPECT_EQ(i.in_highest, 0u);
    }
}

TEST(Import, ForgetAllDropsEverythingSilently) {
    Pair p;
    add_second_child(p);
    IkeSpis spis = p.establish();
    ASSERT_TRUE(p.init->create_child(p.now, spis, "net2").ok());
    p.run();
    const IkeSaState st = *p.resp->find(spis);
    Member m;
    auto b = m.make(p.cr);
    ASSERT_TRUE(b->import_ike_sa(p.now, st).ok());
    // And a half-open SA of B's own.
    ASSERT_TRUE(b->initiate(p.now, "road").ok());
    EXPECT_EQ(b->half_open_count(), 1u);
    (void)b->take_outputs();
    b->forget_all();
    auto outs = b->take_outputs();
    auto removed = Pair::of<RemoveChildSa>(outs);
    EXPECT_EQ(outs.size(), removed.size());  // nothing but RemoveChildSa
    ASSERT_EQ(removed.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(removed[i].ike, spis);
        EXPECT_TRUE(removed[i].spi_in == st.children[0].spi_in ||
                    removed[i].spi_in == st.children[1].spi_in);
    }
    EXPECT_NE(removed[0].spi_in, removed[1].spi_in);
    EXPECT_EQ(b->ike_sa_count(), 0u);
    EXPECT_EQ(b->half_open_count(), 0u);
    EXPECT_EQ(b->next_deadline(), Time::max());
    b->on_timer(p.now + 10h);
    EXPECT_TRUE(b->take_outputs().empty());
    // The same state can be imported again afterwards.
    ASSERT_TRUE(b->import_ike_sa(p.now, st).ok());
    EXPECT_EQ(count_of<InstallChildSa>(b->take_outputs()), 2u);
}

TEST(Import, InitialContactReplacesAnImportedSa) {
    // The identity index is rebuilt on import: when the peer restarts and
    // comes back with INITIAL_CONTACT (§2.4), the imported SA goes.
    Pair p;
    IkeSpis spis = p.establish();
    const IkeSaState st = *p.resp->find(spis);
    Member m;
    p.resp = m.make(p.cr);
    ASSERT_TRUE(p.resp->import_ike_sa(p.now, st).ok());
    crypto::DeterministicRandom fresh(909);
    p.init = std::make_unique<Engine>(p.ci, fresh);  // the peer, rebooted
    p.out_r.clear();
    ASSERT_TRUE(p.init->initiate(p.now, "to-gw").ok());
    p.run();
    ASSERT_EQ(p.resp->established().size(), 1u);
    EXPECT_NE(p.resp->established().front(), spis);
    auto del = Pair::of<IkeSaDeleted>(p.out_r);
    ASSERT_EQ(del.size(), 1u);
    EXPECT_EQ(del[0].spis, spis);
    EXPECT_EQ(del[0].reason, DeleteReason::REPLACED);
    EXPECT_EQ(count_of<RemoveChildSa>(p.out_r), 1u);
}
