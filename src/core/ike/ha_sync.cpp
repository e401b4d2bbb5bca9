// RFC 6311 (protocol support for high availability of IKEv2/IPsec), both
// sides of it:
//
// Cluster side: a member that took over an IKE SA may hold message IDs and
// replay counters that lag behind what the failed member used (RFC 6027
// §3.3-§3.6: the sync channel cannot be perfect). It sends an INFORMATIONAL
// with Message ID 0 carrying IKEV2_MESSAGE_ID_SYNC (nonce, M1 = the next
// request ID it will send, P1 = one past the next request ID it expects,
// see send_peer_sync) and, where negotiated, IPSEC_REPLAY_COUNTER_SYNC (a
// delta the peer adds to its outbound counters). The peer answers with (nonce, P2, M2) and both
// sides continue with those.
//
// Peer side: accept a sync only on an established SA where both sides
// announced the extension (§4), drop a stale one (M1 below what we already
// received) silently, and answer with M2 = max(M1, next expected request)
// and P2 = max(P1, one more than the highest request ID we used) (§5.1).
#include <algorithm>

#include "base/buffer.h"
#include "crypto/keys.h"
#include "ike/engine_internal.h"

namespace ikecluster::ike {

using wire::NotifyType;
using wire::Payload;

namespace {

// How far ahead of the expected ID a peer's request may be while we
// resynchronise: the failed member answered at most a few requests whose
// update we missed (window 1, §2.3); a larger jump is not believable.
constexpr std::uint32_t kMaxForwardJump = 1024;

bool msgid_sync_negotiated(const Engine::Sa& sa) {
    return sa.config->announce_msgid_sync && sa.st.peer.msgid_sync;
}
bool replay_sync_negotiated(const Engine::Sa& sa) {
    return sa.config->announce_replay_sync && sa.st.peer.replay_sync;
}

// Whether a peer whose AEAD IVs come from the message ID can still encrypt
// the answer to a sync (EngineConfig::msgid_sync_guard_sequential_ivs).
// Such a peer keeps two rising sequences of IVs. What it encrypts in
// order goes on the first; an ID not above the first's last goes on the
// second, which must rise too. Its own requests alone rise, and so do its
// answers alone; the sync's answer (ID 0, below both) takes the second
// sequence's first use. Once it has answered any request of ours (IDs from
// 0, or its IKE_AUTH response as the responder), the two interleave and
// the second is taken, so no sync answer can be encrypted any more; a
// first sync leaves our next request ID at M2 > 0, so it also counts.
bool peer_can_answer_msgid_sync(const Engine::Sa& sa) {
    if (!sa.config->msgid_sync_guard_sequential_ivs) return true;
    if (!crypto::is_aead(sa.st.suite.encr.id)) return true;  // CBC IVs are random
    return sa.st.msgids.next_request_out == 0;
}

bool msgid_sync_usable(const Engine::Sa& sa) {
    return msgid_sync_negotiated(sa) && peer_can_answer_msgid_sync(sa);
}

}  // namespace

bool Engine::accepts_forward_jump(const Sa& sa, std::uint32_t id) const {
    const std::uint32_t expected = sa.st.msgids.next_request_in;
    return sa.resyncing && id > expected && id - expected <= kMaxForwardJump;
}

// ---- cluster side ---------------------------------------------------------------------

Status Engine::sync_with_peer(Time now, const IkeSpis& spis, const PeerSyncRequest& r) {
    Sa* sa = find_established(spis);
    if (!sa || sa->rekeyed || sa->deleting_ike)
        return Error{0, "no established IKE SA with those SPIs"};
    const bool negotiated = msgid_sync_negotiated(*sa);
    const bool msgid = msgid_sync_usable(*sa);
    if (negotiated && !msgid) ++stats_.peer_syncs_skipped;
    const bool replay = replay_sync_negotiated(*sa) && r.replay_delta > 0;
    if (!msgid && !replay) {
        sa->awaiting_sync = false;
        sa->resyncing = false;
        sa->await_sync_until = Time::max();
        touch(*sa);
        start_next(now, *sa);
        reschedule();
        if (negotiated)
            return Error{0,
                         "the peer could not encrypt a message-ID sync answer on this IKE SA "
                         "(AEAD IVs from message IDs): it goes on from the replica"};
        return Error{0, "the peer announced no RFC 6311 support on this IKE SA"};
    }
    sa->sync_req = r;
    sa->await_sync_until = Time::max();
    // The sync goes first: whatever we queued meanwhile waits for it.
    queue(*sa, Task{TaskKind::PEER_SYNC}, true);
    sa->awaiting_sync = false;
    start_next(now, *sa);
    reschedule();
    return Ok{};
}

void Engine::send_peer_sync(Time now, Sa& sa, Inflight fl) {
    const bool msgid = msgid_sync_usable(sa);
    const bool replay = replay_sync_negotiated(sa) && sa.sync_req.replay_delta > 0;
    std::vector<Payload> p;
    if (msgid) {
        fl.sync_msgid = true;
        fl.sync_nonce = rng_.u32();
        // Past anything the failed member may have sent; capped so the
        // peer's counters stay far from the wrap (§2.3).
        const std::uint64_t m1 =
            std::uint64_t(sa.st.msgids.next_request_out) + sa.sync_req.msgid_jump;
        fl.sync_m1 = std::uint32_t(std::min<std::uint64_t>(m1, 0x7fffffffu));
        // P1 one past the request ID we expect: the peer may have sent a
        // request with that ID to the failed member, and a peer whose IKE
        // IVs come from the message ID (strongSwan's AEAD IV generator)
        // will not encrypt a second, different request under it. strongSwan
        // 5.9 also forgets that request when the sync moves its responder
        // ID (it requeues the task), so its own P2 would not count it
        // (§5.1 says it should) and its next request would be refused by
        // its IV generator: the IKE SA would hang. P2 >= P1 moves the peer
        // past it; an RFC peer that retransmits the request keeps its ID,
        // which is P2 - 1 and still accepted (see the response below).
        fl.sync_p1 = std::uint32_t(
            std::min<std::uint64_t>(std::uint64_t(sa.st.msgids.next_request_in) + 1, 0x7fffffffu));
        p.push_back(wire::notify_message_id_sync({fl.sync_nonce, fl.sync_m1, fl.sync_p1}));
    }
    if (replay) {
        // §5.2: 8 octets when the Child SAs use ESN, 4 otherwise.
        bool esn = !sa.st.children.empty();
        for (const ChildSaState& c : sa.st.children)
            esn = esn && c.esn;
        std::uint64_t delta = sa.sync_req.replay_delta;
        if (!esn) delta = std::min<std::uint64_t>(delta, 0xffffffffu);
        if (auto n = wire::notify_replay_counter_sync({delta, esn})) {
            p.push_back(std::move(*n));
            fl.sync_delta = delta;
        }
    }
    ++stats_.peer_syncs_started;
    sa.resyncing = msgid;  // without message-ID sync there is nothing to resolve
    const std::uint32_t id = msgid ? 0 : sa.st.msgids.next_request_out;
    Bytes msg = seal_message(sa, ExchangeType::INFORMATIONAL, false, id, p, rng_);
    sa.inflight = std::move(fl);
    send(sa, msg);
    sa.rt.start(now, id, {std::move(msg)});
}

void Engine::on_peer_sync_response(Time now, Sa& sa, const wire::Message& m,
                                   const std::vector<Payload>& inner) {
    const Inflight& fl = *sa.inflight;
    const wire::NotifyPayload* n = find_notify(inner, NotifyType::IKEV2_MESSAGE_ID_SYNC);
    auto s = n ? wire::parse_message_id_sync(*n) : Result<wire::MessageIdSync>(Error{0, "none"});
    // §5.1: the nonce ties the response to our request (Message ID 0 is
    // reused by every sync); a response without it, with another nonce, or
    // with counters below what we proposed is not an answer to this
    // request: keep waiting (and retransmitting).
    if (m.header.exchange_type() != ExchangeType::INFORMATIONAL || !s ||
        s->nonce != fl.sync_nonce || s->expected_send_req < fl.sync_p1 ||
        s->expected_recv_req < fl.sync_m1) {
        ++stats_.peer_syncs_dropped;
        return drop();
    }
    const std::uint64_t delta = fl.sync_delta;
    sa.rt.stop();
    sa.inflight.reset();
    // Response: EXPECTED_SEND_REQ is the peer's next request (P2), and
    // EXPECTED_RECV_REQ the ID it expects on ours (M2).
    // P2 above what we expect: either the failed member processed requests
    // we never heard of (the peer's next is P2), or the peer has one
    // outstanding that we never saw, which §5.1 counts in P2 (it is P2 - 1
    // and the peer retransmits it with that ID). We cannot tell which, so
    // we expect P2 - 1 and also take P2 once (Sa::one_ahead). What we
    // replicate is P2 - 1: a member taking over from it syncs again.
    if (s->expected_send_req > sa.st.msgids.next_request_in) {
        sa.st.msgids.next_request_in = s->expected_send_req - 1;
        sa.one_ahead = true;
    }
    sa.st.msgids.next_request_out = s->expected_recv_req;
    sa.resyncing = false;
    ++stats_.peer_syncs_completed;
    msgids_advanced(sa);
    if (delta) raise_inbound_floors(sa, delta);
    start_next(now, sa);
}

void Engine::raise_inbound_floors(Sa& sa, std::uint64_t delta) {
    // The peer now sends above (what it had sent) + delta, and what it had
    // sent is at least our replicated mark: everything up to mark + delta
    // can only be a replay of what the failed member received.
    for (const ChildSaState& c : sa.st.children) {
        std::uint64_t mark = 0;
        for (const ChildCounters& k : sa.imported) {
            if (k.spi_in == c.spi_in) mark = k.in_highest;
        }
        emit(AdjustChildCounters{sa.st.spis, c.spi_in, c.spi_out, 0, mark + delta});
    }
}

// ---- peer side ------------------------------------------------------------------------

bool Engine::on_peer_sync_request(Time now, Sa& sa, BytesView, const wire::Message& m,
                                  const std::vector<Payload>& inner) {
    const wire::NotifyPayload* n = find_notify(inner, NotifyType::IKEV2_MESSAGE_ID_SYNC);
    if (!n) return false;  // an ordinary INFORMATIONAL that happens to have ID 0
    (void)m;
    if (!msgid_sync_negotiated(sa)) {
        // §4: only on an SA where both announced support.
        ++stats_.peer_syncs_dropped;
        drop();
        return true;
    }
    auto s = wire::parse_message_id_sync(*n);
    if (!s) {
        ++stats_.peer_syncs_dropped;
        drop();
        return true;
    }
    sa.last_inbound = now;
    if (!sa.last_sync_response.empty() && s->nonce == sa.last_sync_nonce &&
        s->expected_send_req == sa.last_sync_m1) {
        // A retransmission of the sync we answered: same answer, applied once.
        send(sa, sa.last_sync_response);
        ++stats_.responses_resent;
        return true;
    }
    // §5.1: silently drop a sync whose M1 is not above every request ID we
    // have received from the cluster (a replay, or a stale member).
    if (s->expected_send_req < sa.st.msgids.next_request_in) {
        ++stats_.peer_syncs_dropped;
        drop();
        return true;
    }
    MessageIds& ids = sa.st.msgids;
    // §5.1: M2 = max(M1, one more than the highest request ID received);
    // P2 = max(P1, one more than the highest request ID we sent). A request
    // of ours still outstanding used next_request_out.
    const std::uint32_t m2 = std::max(s->expected_send_req, ids.next_request_in);
    const std::uint32_t used = ids.next_request_out + (sa.rt.active() ? 1 : 0);
    const std::uint32_t p2 = std::max(s->expected_recv_req, used);
    ids.next_request_in = m2;
    // A request of ours still outstanding keeps its ID and is retransmitted
    // as it is: the member that took over may have answered it already (the
    // answer is on its way), and if it never saw it, it takes that one late
    // request (Sa::late_request). Its response then moves us on to P2.
    ids.next_request_out = sa.rt.active() ? p2 - 1 : p2;
    apply_replay_sync(sa, inner);
    std::vector<Payload> reply{wire::notify_message_id_sync({s->nonce, p2, m2})};
    Bytes resp = seal_message(sa, ExchangeType::INFORMATIONAL, true, 0, reply, rng_);
    send(sa, resp);
    // Not the §2.1 response cache: a sync lies outside the window.
    sa.last_sync_nonce = s->nonce;
    sa.last_sync_m1 = s->expected_send_req;
    sa.last_sync_response = std::move(resp);
    ++stats_.peer_syncs_answered;
    msgids_advanced(sa);
    start_next(now, sa);
    return true;
}

void Engine::apply_replay_sync(Sa& sa, const std::vector<Payload>& inner) {
    const wire::NotifyPayload* n = find_notify(inner, NotifyType::IPSEC_REPLAY_COUNTER_SYNC);
    if (!n || !replay_sync_negotiated(sa)) return;
    auto r = wire::parse_replay_counter_sync(*n);
    if (!r || r->delta == 0) return;
    // §5.2: every Child SA we send on towards the cluster jumps by delta.
    for (const ChildSaState& c : sa.st.children)
        emit(AdjustChildCounters{sa.st.spis, c.spi_in, c.spi_out, r->delta, 0});
    ++stats_.replay_syncs_applied;
}

}  // namespace ikecluster::ike
