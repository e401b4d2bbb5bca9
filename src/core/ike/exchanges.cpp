// Exchanges on an established IKE SA: CREATE_CHILD_SA (RFC 7296 §1.3: new
// Child SA, Child SA rekey, IKE SA rekey, PFS) with the collisions of
// §2.8.1 and §2.25, INFORMATIONAL (§1.4: Delete, liveness checks,
// INVALID_SPI), the task queue that keeps our side to a window of one
// (§2.3), lifetimes, and the commands of the public API.
#include <algorithm>

#include "base/buffer.h"
#include "crypto/keys.h"
#include "ike/engine_internal.h"
#include "ike/negotiate.h"

namespace ikecluster::ike {

using wire::NotifyType;
using wire::Payload;
using wire::PayloadType;

namespace {

constexpr std::size_t kMaxTasks = 64;  // per IKE SA: bounded, duplicates merged
constexpr Duration kRekeyGrace = 60s;  // how long a replaced IKE SA waits for the peer's Delete
constexpr std::uint32_t kMessageIdRekeyAt = 0xffff0000u;

Bytes be64(std::uint64_t v) {
    Bytes b(8);
    store_be64(b.data(), v);
    return b;
}

const ChildConfig* child_config(const ConnectionConfig& c, std::string_view name) {
    for (const ChildConfig& cc : c.children) {
        if (cc.name == name) return &cc;
    }
    return nullptr;
}

bool offered_group(const std::vector<ProposalSpec>& specs, DhId g) {
    for (const ProposalSpec& p : specs) {
        if (std::find(p.dh.begin(), p.dh.end(), g) != p.dh.end()) return true;
    }
    return false;
}

// §2.8.1: of two colliding exchanges, the one that used the lowest of the
// four nonces created the redundant SA. Nonces compare as octet strings.
bool lowest_nonce_is_ours(const Bytes& our_ni, const Bytes& our_nr, const Bytes& their_ni,
                          const Bytes& their_nr) {
    const Bytes& ours = std::min(our_ni, our_nr);
    const Bytes& theirs = std::min(their_ni, their_nr);
    return ours < theirs;
}

}  // namespace

// ---- task queue -------------------------------------------------------------------

void Engine::queue(Sa& sa, Task t, bool front) {
    if (sa.deleting_ike) return;  // nothing but the Delete goes out any more
    if (t.kind == TaskKind::DELETE_IKE) {
        // Whatever was waiting is moot once the IKE SA goes (§1.4.1: its
        // Child SAs go with it).
        sa.tasks.clear();
        sa.deleting_ike = true;
        sa.tasks.push_back(t);
        return;
    }
    if (std::find(sa.tasks.begin(), sa.tasks.end(), t) != sa.tasks.end()) return;
    if (sa.inflight && sa.inflight->task == t) return;
    if (sa.tasks.size() >= kMaxTasks) return;
    if (t.kind == TaskKind::DELETE_CHILD && !sa.is_deleting(t.spi)) sa.deleting.push_back(t.spi);
    if (front)
        sa.tasks.push_front(t);
    else
        sa.tasks.push_back(t);
}

void Engine::retry_later(Time now, Sa& sa, Task t) {
    // §2.25: after TEMPORARY_FAILURE, retry after a short, randomised delay
    // so two peers do not collide again in lockstep.
    sa.tasks.push_front(t);
    sa.retry_at = now + 1s + Duration(Duration::rep(rng_.u32() % 2000) * 1000000);
}

void Engine::start_next(Time now, Sa& sa) {
    touch(sa);
    // §2.3: message IDs must not wrap; long before they would, the IKE SA
    // is rekeyed (the new one starts from 0 again). RFC 6311 syncs can jump
    // the counters, so this is not only theoretical.
    if (sa.st.msgids.next_request_out >= kMessageIdRekeyAt && !sa.rekeyed && !sa.deleting_ike &&
        !(sa.inflight && sa.inflight->task.kind == TaskKind::REKEY_IKE))
        queue(sa, Task{TaskKind::REKEY_IKE}, true);
    while (!sa.rt.active() && !sa.inflight && !sa.tasks.empty()) {
        // After a takeover our next request ID may be stale: nothing of
        // ours goes out before the RFC 6311 sync (Engine::import_ike_sa).
        if (sa.awaiting_sync && sa.tasks.front().kind != TaskKind::PEER_SYNC &&
            sa.tasks.front().kind != TaskKind::DELETE_IKE)
            return;
        if (sa.retry_at != Time::max() && now < sa.retry_at &&
            sa.tasks.front().kind != TaskKind::DELETE_IKE &&
            sa.tasks.front().kind != TaskKind::DELETE_CHILD)
            return;
        sa.retry_at = Time::max();
        Task t = sa.tasks.front();
        sa.tasks.pop_front();
        bool valid = true;
        switch (t.kind) {
            case TaskKind::REKEY_CHILD:
                valid = !sa.rekeyed && sa.child_by_in(t.spi) && !sa.is_deleting(t.spi);
                break;
            case TaskKind::DELETE_CHILD:
                valid = sa.child_by_in(t.spi) != nullptr;
                if (!valid) std::erase(sa.deleting, t.spi);
                break;
            case TaskKind::CREATE_CHILD:
            case TaskKind::REKEY_IKE:
            case TaskKind::DPD:
            case TaskKind::INVALID_SPI:
            case TaskKind::PEER_SYNC:
                valid = !sa.rekeyed;
                break;
            case TaskKind::DELETE_IKE:
                break;
        }
        if (!valid) continue;
        Inflight fl;
        fl.task = t;
        send_task(now, sa, std::move(fl));
    }
}

void Engine::send_task(Time now, Sa& sa, Inflight fl) {
    if (fl.task.kind == TaskKind::PEER_SYNC) return send_peer_sync(now, sa, std::move(fl));
    std::vector<Payload> p;
    ExchangeType ex = ExchangeType::INFORMATIONAL;
    switch (fl.task.kind) {
        case TaskKind::CREATE_CHILD:
        case TaskKind::REKEY_CHILD: {
            ex = ExchangeType::CREATE_CHILD_SA;
            const ChildConfig* cc = fl.task.cfg;
            TsList lts, rts;
            IpsecMode mode = IpsecMode::TUNNEL;
            if (fl.task.kind == TaskKind::REKEY_CHILD) {
                const ChildSaState* old = sa.child_by_in(fl.task.spi);
                cc = old ? child_config(*sa.conn, old->config_name) : nullptr;
                if (!old || !cc) return;
                lts = old->ts_local;
                rts = old->ts_remote;
                mode = old->mode;
                fl.task.cfg = cc;
                // §1.3.3: the SA being rekeyed, by the SPI we receive on.
                p.push_back(wire::notify_rekey_sa(ProtocolId::ESP, fl.task.spi));
            } else {
                lts = cc->local_ts;
                rts = cc->remote_ts;
                mode = cc->mode;
            }
            if (fl.new_spi_in == 0) fl.new_spi_in = spis_->child_spi();
            fl.nonce = rng_.bytes(kNonceSize);
            // PFS when the first proposal asks for it (§1.3.1); the group
            // may have been corrected by INVALID_KE_PAYLOAD.
            if (fl.group == DhId::NONE && !cc->esp_proposals.empty() &&
                !cc->esp_proposals.front().dh.empty())
                fl.group = cc->esp_proposals.front().dh.front();
            p.push_back(make_payload(PayloadType::SA,
                                     make_sa_payload(cc->esp_proposals, be32(fl.new_spi_in))));
            p.push_back(make_payload(PayloadType::NONCE, wire::NoncePayload{fl.nonce}));
            if (fl.group != DhId::NONE) {
                auto kx = crypto::make_key_exchange(fl.group, rng_);
                if (!kx) return;
                fl.kx = std::move(*kx);
                p.push_back(make_payload(PayloadType::KE, wire::KePayload{std::uint16_t(fl.group),
                                                                          fl.kx->public_value()}));
            }
            p.push_back(make_payload(PayloadType::TSi, to_wire_ts(lts)));
            p.push_back(make_payload(PayloadType::TSr, to_wire_ts(rts)));
            if (mode == IpsecMode::TRANSPORT)
                p.push_back(wire::notify(NotifyType::USE_TRANSPORT_MODE));
            break;
        }
        case TaskKind::REKEY_IKE: {
            ex = ExchangeType::CREATE_CHILD_SA;
            if (fl.new_ike_spi == 0) fl.new_ike_spi = spis_->ike_spi();
            fl.nonce = rng_.bytes(kNonceSize);
            if (fl.group == DhId::NONE) fl.group = sa.st.suite.dh;
            auto kx = crypto::make_key_exchange(fl.group, rng_);
            if (!kx) return;
            fl.kx = std::move(*kx);
            // §1.3.2: SA with the new 8-octet SPI, Ni, KEi.
            p.push_back(make_payload(
                PayloadType::SA, make_sa_payload(sa.conn->ike_proposals, be64(fl.new_ike_spi))));
            p.push_back(make_payload(PayloadType::NONCE, wire::NoncePayload{fl.nonce}));
            p.push_back(make_payload(
                PayloadType::KE, wire::KePayload{std::uint16_t(fl.group), fl.kx->public_value()}));
            break;
        }
        case TaskKind::DELETE_CHILD:
            p.push_back(make_payload(PayloadType::DELETE,
                                     wire::DeletePayload{ProtocolId::ESP, 4, {be32(fl.task.spi)}}));
            break;
        case TaskKind::DELETE_IKE:
            p.push_back(
                make_payload(PayloadType::DELETE, wire::DeletePayload{ProtocolId::IKE, 0, {}}));
            break;
        case TaskKind::DPD:
            ++stats_.liveness_checks;
            break;  // an empty INFORMATIONAL (§1.4)
        case TaskKind::INVALID_SPI:
            p.push_back(wire::notify_invalid_spi(fl.task.spi));
            break;
        case TaskKind::PEER_SYNC:
            break;  // send_peer_sync
    }
    std::uint32_t id = sa.st.msgids.next_request_out;
    Bytes msg = seal_message(sa, ex, false, id, p, rng_);
    sa.inflight = std::move(fl);
    send_request(now, sa, std::move(msg));
}

// ---- timers -----------------------------------------------------------------------

void Engine::service(Time now, Sa& sa) {
    if (sa.half_open() && now >= sa.half_open_deadline)
        return remove(sa, DeleteReason::PEER_DEAD, false);
    switch (sa.rt.on_timer(now)) {
        case Retransmitter::Action::RESEND:
            for (const Bytes& d : sa.rt.datagrams())
                send(sa, d);
            ++stats_.retransmits_sent;
            break;
        case Retransmitter::Action::GIVE_UP:
            // §2.4: no answer after all retransmissions: the peer is gone,
            // and so is the IKE SA with its children. (A Delete we were
            // sending ends the same way.)
            return remove(sa,
                          sa.deleting_ike
                              ? (sa.rekeyed ? DeleteReason::REPLACED : DeleteReason::DELETED_BY_US)
                              : DeleteReason::PEER_DEAD,
                          false);
        case Retransmitter::Action::NONE:
            break;
    }
    if (sa.half_open()) return;
    if (now >= sa.st.expire_at) {
        // Hard lifetime: the SA must not be used any more. Tell the peer if
        // the window allows it (best effort, not retransmitted) and go.
        if (!sa.rt.active()) {
            std::vector<Payload> p{
                make_payload(PayloadType::DELETE, wire::DeletePayload{ProtocolId::IKE, 0, {}})};
            send(sa, seal_message(sa, ExchangeType::INFORMATIONAL, false,
                                  sa.st.msgids.next_request_out, p, rng_));
        }
        return remove(sa, sa.rekeyed ? DeleteReason::REPLACED : DeleteReason::EXPIRED, false);
    }
    if (now >= sa.st.rekey_at) {
        sa.st.rekey_at = Time::max();
        if (!sa.rekeyed) queue(sa, Task{TaskKind::REKEY_IKE});
    }
    for (ChildSaState& c : sa.st.children) {
        if (now >= c.expire_at) {
            c.expire_at = Time::max();
            c.rekey_at = Time::max();
            queue(sa, Task{TaskKind::DELETE_CHILD, c.spi_in}, true);
        } else if (now >= c.rekey_at) {
            c.rekey_at = Time::max();
            queue(sa, Task{TaskKind::REKEY_CHILD, c.spi_in});
        }
    }
    if (sa.retry_at <= now) sa.retry_at = Time::max();
    if (sa.await_sync_until <= now) {
        // The cluster never asked for the sync: carry on without it.
        sa.await_sync_until = Time::max();
        sa.awaiting_sync = false;
        if (!(sa.inflight && sa.inflight->task.kind == TaskKind::PEER_SYNC)) sa.resyncing = false;
    }
    if (sa.conn->dpd_delay.count() > 0 && !sa.inflight && !sa.rt.active() && sa.tasks.empty() &&
        !sa.rekeyed && now >= sa.last_inbound + sa.conn->dpd_delay) {
        queue(sa, Task{TaskKind::DPD});
    }
    start_next(now, sa);
}

// ---- requests from the peer -------------------------------------------------------

void Engine::on_request(Time now, Sa& sa, BytesView, const wire::Message& m,
                        std::vector<Payload> inner) {
    const ExchangeType ex = m.header.exchange_type();
    const std::uint32_t id = m.header.message_id;
    std::vector<Payload> reply;
    bool delete_ike = false;
    if (auto crit = unsupported_critical(inner)) {
        // §2.5: reject the whole message.
        reply.push_back(wire::notify_unsupported_critical(*crit));
    } else if (ex == ExchangeType::CREATE_CHILD_SA) {
        on_create_child_request(now, sa, inner, reply);
    } else if (ex == ExchangeType::INFORMATIONAL) {
        delete_ike = on_informational_request(now, sa, inner, reply);
    } else {
        // IKE_AUTH again, or an exchange we do not implement on this SA.
        reply.push_back(wire::notify(NotifyType::INVALID_SYNTAX));
    }
    sa.st.msgids.next_request_in = id + 1;
    sa.one_ahead = false;
    send_response(now, sa, id, seal_message(sa, ex, true, id, reply, rng_));
    msgids_advanced(sa);
    if (delete_ike) {
        ++stats_.deletes_received;
        // §2.8.1: if both of us rekeyed this SA at once and the peer deletes
        // it before our own rekey's response arrived, the peer is the node
        // whose new SA survived (only the winner deletes the old SA). The
        // children go to that SA instead of dying with this one.
        for (const PeerRekey& r : sa.peer_rekeys) {
            auto it = r.new_ike_spi ? sas_.find(r.new_ike_spi) : sas_.end();
            if (it == sas_.end() || sa.rekeyed) continue;
            ++stats_.ike_rekeys;
            ++stats_.rekey_collisions;
            move_children(now, sa, *it->second);
            emit(Event{IkeSaRekeyed{sa.st.spis, it->second->st}});
            sa.rekeyed = true;
        }
        return remove(sa, sa.rekeyed ? DeleteReason::REPLACED : DeleteReason::DELETED_BY_PEER,
                      false);
    }
    start_next(now, sa);
}

void Engine::on_create_child_request(Time now, Sa& sa, const std::vector<Payload>& in,
                                     std::vector<Payload>& reply) {
    auto fail = [&](NotifyType why) { reply = {wire::notify(why)}; };
    auto* sap = find_body<wire::SaPayload>(in, PayloadType::SA);
    auto* np = find_body<wire::NoncePayload>(in, PayloadType::NONCE);
    if (!sap || !np || sap->proposals.empty()) return fail(NotifyType::INVALID_SYNTAX);
    if (sa.rekeyed || sa.deleting_ike) return fail(NotifyType::TEMPORARY_FAILURE);
    if (sap->proposals.front().protocol == ProtocolId::IKE)
        return on_ike_rekey_request(now, sa, in, reply);
    auto* tsi = find_body<wire::TsPayload>(in, PayloadType::TSi);
    auto* tsr = find_body<wire::TsPayload>(in, PayloadType::TSr);
    if (!tsi || !tsr) return fail(NotifyType::INVALID_SYNTAX);
    // §2.25: a Child SA request while we rekey the IKE SA waits for that.
    if (sa.inflight && sa.inflight->task.kind == TaskKind::REKEY_IKE)
        return fail(NotifyType::TEMPORARY_FAILURE);

    const ChildSaState* old = nullptr;
    std::vector<const ChildConfig*> candidates;
    if (auto* rn = find_notify(in, NotifyType::REKEY_SA)) {
        // §1.3.3: the SPI is the one the peer receives on, i.e. our outbound.
        auto ref = wire::parse_child_sa_ref(*rn);
        if (!ref || ref->protocol != ProtocolId::ESP) return fail(NotifyType::INVALID_SYNTAX);
        old = sa.child_by_out(ref->spi);
        if (!old) {
            reply = {wire::notify_child_sa_not_found(ProtocolId::ESP, ref->spi)};  // §2.25
            return;
        }
        // §2.25.1: the SA we are deleting is not rekeyed.
        if (sa.is_deleting(old->spi_in)) return fail(NotifyType::TEMPORARY_FAILURE);
        if (auto* cc = child_config(*sa.conn, old->config_name)) candidates.push_back(cc);
    } else {
        for (const ChildConfig& cc : sa.conn->children)
            candidates.push_back(&cc);
    }
    const bool transport = find_notify(in, NotifyType::USE_TRANSPORT_MODE) != nullptr;
    auto* kep = find_body<wire::KePayload>(in, PayloadType::KE);
    NotifyType error = NotifyType::TS_UNACCEPTABLE;
    for (const ChildConfig* cc : candidates) {
        TsList ts_remote = narrow(from_wire_ts(*tsi), cc->remote_ts);
        TsList ts_local = narrow(from_wire_ts(*tsr), cc->local_ts);
        if (ts_remote.empty() || ts_local.empty()) continue;
        auto chosen = choose_child(*sap, cc->esp_proposals, true);
        if (!chosen) {
            error = NotifyType::NO_PROPOSAL_CHOSEN;
            continue;
        }
        // PFS (§1.3.1): the KE must be of the chosen group, else tell the
        // initiator which one we want and keep no state.
        Bytes secret;
        std::unique_ptr<crypto::KeyExchange> kx;
        if (chosen->dh != DhId::NONE) {
            if (!kep || kep->dh_group != std::uint16_t(chosen->dh)) {
                reply = {wire::notify_invalid_ke(std::uint16_t(chosen->dh))};
                return;
            }
            auto k = crypto::make_key_exchange(chosen->dh, rng_);
            if (!k) return fail(NotifyType::NO_PROPOSAL_CHOSEN);
            auto s = (*k)->shared_secret(kep->data);
            if (!s) return fail(NotifyType::INVALID_SYNTAX);  // RFC 6989 checks
            kx = std::move(*k);
            secret = std::move(*s);
        }
        Bytes nr = rng_.bytes(kNonceSize);
        auto keys = child_keys(sa.st, chosen->encr, chosen->integ, secret, np->nonce, nr, false);
        if (!keys) return fail(NotifyType::NO_PROPOSAL_CHOSEN);
        ChildSaState ch;
        ch.config_name = cc->name;
        ch.spi_in = spis_->child_spi();
        ch.unique_id = old ? old->unique_id : ch.spi_in;
        ch.spi_out = chosen->peer_spi;
        ch.mode = transport && cc->mode == IpsecMode::TRANSPORT ? IpsecMode::TRANSPORT
                                                                : IpsecMode::TUNNEL;
        ch.encr = chosen->encr;
        ch.integ = chosen->integ;
        ch.esn = chosen->esn;
        ch.keys = std::move(*keys);
        ch.ts_local = ts_local;
        ch.ts_remote = ts_remote;
        ch.established = now;
        ch.rekey_at = jittered(now, cc->lifetimes, rng_);
        ch.expire_at = now + cc->lifetimes.life;
        wire::Proposal ans = chosen->proposal;
        ans.spi = be32(ch.spi_in);
        reply.push_back(make_payload(PayloadType::SA, wire::SaPayload{{ans}}));
        reply.push_back(make_payload(PayloadType::NONCE, wire::NoncePayload{nr}));
        if (kx) {
            reply.push_back(make_payload(
                PayloadType::KE, wire::KePayload{std::uint16_t(chosen->dh), kx->public_value()}));
        }
        reply.push_back(make_payload(PayloadType::TSi, to_wire_ts(ts_remote)));
        reply.push_back(make_payload(PayloadType::TSr, to_wire_ts(ts_local)));
        if (ch.mode == IpsecMode::TRANSPORT)
            reply.push_back(wire::notify(NotifyType::USE_TRANSPORT_MODE));

        ++stats_.child_sas_created;
        emit(InstallChildSa{sa.st.spis, ch, sa.st.local, sa.st.remote, sa.st.encap});
        if (old) {
            const std::uint32_t old_in = old->spi_in;
            if (sa.inflight && sa.inflight->task.kind == TaskKind::REKEY_CHILD &&
                sa.inflight->task.spi == old_in) {
                // §2.8.1: we are rekeying the same SA. Remember this exchange;
                // our response decides which of the two new SAs survives.
                sa.peer_rekeys.push_back(PeerRekey{old_in, ch.spi_in, 0, np->nonce, nr});
            }
            // The peer replaced it; our own pending rekey of it is moot.
            std::erase(sa.tasks, Task{TaskKind::REKEY_CHILD, old_in});
            emit(Event{ChildSaRekeyed{sa.st.spis, old_in, ch}});
            sa.st.children.push_back(std::move(ch));
            if (ChildSaState* o = sa.child_by_in(old_in)) o->rekey_at = Time::max();
        } else {
            emit(Event{ChildSaAdded{sa.st.spis, ch}});
            sa.st.children.push_back(std::move(ch));
        }
        return;
    }
    fail(error);
}

void Engine::on_ike_rekey_request(Time now, Sa& sa, const std::vector<Payload>& in,
                                  std::vector<Payload>& reply) {
    auto fail = [&](NotifyType why) { reply = {wire::notify(why)}; };
    // §2.25: not while one of our Child SA exchanges is in flight.
    if (sa.inflight && sa.inflight->task.kind != TaskKind::REKEY_IKE &&
        sa.inflight->task.kind != TaskKind::DPD && sa.inflight->task.kind != TaskKind::INVALID_SPI)
        return fail(NotifyType::TEMPORARY_FAILURE);
    auto* sap = find_body<wire::SaPayload>(in, PayloadType::SA);
    auto* np = find_body<wire::NoncePayload>(in, PayloadType::NONCE);
    auto* kep = find_body<wire::KePayload>(in, PayloadType::KE);
    auto chosen = choose_ike(*sap, sa.conn->ike_proposals);
    if (!chosen) return fail(NotifyType::NO_PROPOSAL_CHOSEN);
    // The initiator's new SPI rides in the proposal we picked (§1.3.2).
    std::uint64_t peer_spi = 0;
    for (const wire::Proposal& p : sap->proposals) {
        if (p.number == chosen->proposal.number && p.spi.size() == 8)
            peer_spi = load_be64(p.spi.data());
    }
    if (peer_spi == 0) return fail(NotifyType::INVALID_SYNTAX);
    if (!kep || kep->dh_group != std::uint16_t(chosen->suite.dh)) {
        reply = {wire::notify_invalid_ke(std::uint16_t(chosen->suite.dh))};
        return;
    }
    auto kx = crypto::make_key_exchange(chosen->suite.dh, rng_);
    if (!kx) return fail(NotifyType::NO_PROPOSAL_CHOSEN);
    auto secret = (*kx)->shared_secret(kep->data);
    if (!secret) return fail(NotifyType::INVALID_SYNTAX);
    Bytes nr = rng_.bytes(kNonceSize);
    std::uint64_t our_spi = spis_->ike_spi();
    Sa* n =
        adopt_ike_rekey(now, sa, chosen->suite, peer_spi, our_spi, false, *secret, np->nonce, nr);
    if (!n) return fail(NotifyType::TEMPORARY_FAILURE);
    wire::Proposal ans = chosen->proposal;
    ans.spi = be64(our_spi);
    reply.push_back(make_payload(PayloadType::SA, wire::SaPayload{{ans}}));
    reply.push_back(make_payload(PayloadType::NONCE, wire::NoncePayload{nr}));
    reply.push_back(make_payload(
        PayloadType::KE, wire::KePayload{std::uint16_t(chosen->suite.dh), (*kx)->public_value()}));
    if (sa.inflight && sa.inflight->task.kind == TaskKind::REKEY_IKE) {
        // §2.8.1 simultaneous IKE rekey: decided when our response arrives.
        sa.peer_rekeys.push_back(PeerRekey{0, 0, our_spi, np->nonce, nr});
        return;
    }
    ++stats_.ike_rekeys;
    move_children(now, sa, *n);
    emit(Event{IkeSaRekeyed{sa.st.spis, n->st}});
    // The initiator of the rekey deletes the old SA (§2.18); if it never
    // does, the old one goes by itself after a grace period.
    sa.rekeyed = true;
    sa.st.expire_at = std::min(sa.st.expire_at, now + kRekeyGrace);
}

bool Engine::on_informational_request(Time now, Sa& sa, const std::vector<Payload>& in,
                                      std::vector<Payload>& reply) {
    bool delete_ike = false;
    Bytes none;
    std::vector<Bytes> ours;  // our inbound SPIs of the children the peer deleted
    for (const Payload& p : in) {
        if (auto* d = p.as<wire::DeletePayload>()) {
            if (d->protocol == ProtocolId::IKE) {
                delete_ike = true;  // §1.4.1: answered with an empty INFORMATIONAL
                continue;
            }
            if (d->protocol != ProtocolId::ESP || d->spi_size != 4) continue;
            for (const Bytes& s : d->spis) {
                if (s.size() != 4) continue;
                ChildSaState* c = sa.child_by_out(load_be32(s.data()));
                if (!c) continue;  // already gone: nothing to answer (§1.4.1)
                ++stats_.deletes_received;
                // §1.4.1: if we asked to delete it too, the requests crossed;
                // our response then does not include it.
                if (!sa.is_deleting(c->spi_in)) ours.push_back(be32(c->spi_in));
                remove_child(sa, c->spi_in);
            }
        } else if (auto* n = p.as<wire::NotifyPayload>();
                   n && n->type == std::uint16_t(NotifyType::INVALID_SPI)) {
            // The peer got ESP from us on an SA it does not have: ours is
            // useless, delete it properly.
            if (auto spi = wire::parse_invalid_spi(*n)) {
                if (ChildSaState* c = sa.child_by_out(*spi)) {
                    const std::string name = c->config_name;
                    queue(sa, Task{TaskKind::DELETE_CHILD, c->spi_in}, true);
                    recreate_if_wanted(sa, name, c->spi_in);
                }
            }
        }
        // Other notifies in a request are informational; unknown status
        // types are ignored (§3.10.1).
    }
    // RFC 6311 §5.2 outside a message-ID sync (a cluster whose peer
    // announced only replay-counter sync).
    apply_replay_sync(sa, in);
    if (!delete_ike && !ours.empty()) {
        reply.push_back(make_payload(PayloadType::DELETE,
                                     wire::DeletePayload{ProtocolId::ESP, 4, std::move(ours)}));
    }
    (void)now;
    return delete_ike;
}

void Engine::recreate_if_wanted(Sa& sa, const std::string& name, std::uint32_t gone) {
    // The peer has no such SA (it restarted, or a cluster member took over
    // without the rekey that made it). The side that wants the tunnel up
    // (start_action = start: the one that brought it up in the first place)
    // negotiates a new one, unless another child of that config is left.
    const ChildConfig* cc = child_config(*sa.conn, name);
    if (!cc || cc->start_action != StartAction::START || sa.rekeyed || sa.deleting_ike) return;
    for (const ChildSaState& c : sa.st.children) {
        if (c.config_name == name && c.spi_in != gone && !sa.is_deleting(c.spi_in)) return;
    }
    ++stats_.children_recreated;
    queue(sa, Task{TaskKind::CREATE_CHILD, 0, cc});
}

// ---- responses to our requests ----------------------------------------------------

void Engine::on_response(Time now, Sa& sa, const wire::Message& m, std::vector<Payload> inner) {
    Inflight& cur = *sa.inflight;
    if (cur.task.kind == TaskKind::PEER_SYNC && cur.sync_msgid)
        return on_peer_sync_response(now, sa, m, inner);
    const bool child_ex = cur.task.kind == TaskKind::CREATE_CHILD ||
                          cur.task.kind == TaskKind::REKEY_CHILD ||
                          cur.task.kind == TaskKind::REKEY_IKE;
    const ExchangeType want =
        child_ex ? ExchangeType::CREATE_CHILD_SA : ExchangeType::INFORMATIONAL;
    if (m.header.exchange_type() != want) return drop();
    sa.rt.stop();
    ++sa.st.msgids.next_request_out;
    Inflight fl = std::move(*sa.inflight);
    sa.inflight.reset();
    msgids_advanced(sa);
    const std::uint64_t id = sa.our_spi;
    switch (fl.task.kind) {
        case TaskKind::CREATE_CHILD:
        case TaskKind::REKEY_CHILD:
            on_create_child_response(now, sa, fl, inner);
            break;
        case TaskKind::REKEY_IKE:
            on_ike_rekey_response(now, sa, fl, inner);
            break;
        default:
            on_informational_response(now, sa, fl, inner);
            break;
    }
    auto it = sas_.find(id);
    if (it != sas_.end()) start_next(now, *it->second);
}

void Engine::on_create_child_response(Time now, Sa& sa, Inflight& fl,
                                      const std::vector<Payload>& in) {
    const bool rekey = fl.task.kind == TaskKind::REKEY_CHILD;
    const std::uint32_t old_in = fl.task.spi;
    const ChildConfig* cc = fl.task.cfg;
    // A colliding rekey of the same SA by the peer, which we answered.
    auto collision =
        std::find_if(sa.peer_rekeys.begin(), sa.peer_rekeys.end(),
                     [&](const PeerRekey& r) { return rekey && r.old_spi_in == old_in; });
    std::optional<PeerRekey> theirs;
    if (collision != sa.peer_rekeys.end()) {
        theirs = *collision;
        sa.peer_rekeys.erase(collision);
    }
    if (auto* e = find_error(in)) {
        switch (NotifyType(e->type)) {
            case NotifyType::INVALID_KE_PAYLOAD: {
                // §1.3 / §1.2: again with the group the responder wants, if
                // we offered it, at most twice.
                auto g = wire::parse_invalid_ke(*e);
                if (g && DhId(*g) != fl.group && offered_group(cc->esp_proposals, DhId(*g)) &&
                    fl.ke_retries < 2) {
                    Inflight again;
                    again.task = fl.task;
                    again.group = DhId(*g);
                    again.new_spi_in = fl.new_spi_in;
                    again.ke_retries = fl.ke_retries + 1;
                    if (theirs) sa.peer_rekeys.push_back(*theirs);
                    return send_task(now, sa, std::move(again));
                }
                return;
            }
            case NotifyType::TEMPORARY_FAILURE:
                // §2.25: if the peer's own rekey of this SA succeeded, that one
                // stands and the peer deletes the old SA; else try again soon.
                if (!theirs) retry_later(now, sa, fl.task);
                return;
            case NotifyType::CHILD_SA_NOT_FOUND:
                // The peer has no such SA (a cluster member took over
                // without it): ours is dead weight; a new one if we want it.
                if (rekey && sa.child_by_in(old_in)) {
                    const std::string name = sa.child_by_in(old_in)->config_name;
                    remove_child(sa, old_in);
                    recreate_if_wanted(sa, name, old_in);
                }
                return;
            default:
                // NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, ...: the old SA (if
                // any) lives on until its hard lifetime.
                return;
        }
    }
    auto* sap = find_body<wire::SaPayload>(in, PayloadType::SA);
    auto* np = find_body<wire::NoncePayload>(in, PayloadType::NONCE);
    auto* kep = find_body<wire::KePayload>(in, PayloadType::KE);
    auto* tsi = find_body<wire::TsPayload>(in, PayloadType::TSi);
    auto* tsr = find_body<wire::TsPayload>(in, PayloadType::TSr);
    if (!sap || !np || !tsi || !tsr) return;
    auto chosen = accept_child(*sap, cc->esp_proposals);
    if (!chosen) return;
    Bytes secret;
    if (chosen->dh != DhId::NONE) {
        if (chosen->dh != fl.group || !fl.kx || !kep || kep->dh_group != std::uint16_t(fl.group))
            return;
        auto s = fl.kx->shared_secret(kep->data);
        if (!s) return;
        secret = std::move(*s);
    }
    TsList local = from_wire_ts(*tsi), remote = from_wire_ts(*tsr);
    const ChildSaState* old = rekey ? sa.child_by_in(old_in) : nullptr;
    const TsList& want_local = old ? old->ts_local : cc->local_ts;
    const TsList& want_remote = old ? old->ts_remote : cc->remote_ts;
    if (local.empty() || remote.empty() || !every_ts_within(local, want_local) ||
        !every_ts_within(remote, want_remote))
        return;
    auto keys = child_keys(sa.st, chosen->encr, chosen->integ, secret, fl.nonce, np->nonce, true);
    if (!keys) return;
    ChildSaState ch;
    ch.config_name = cc->name;
    ch.spi_in = fl.new_spi_in;
    ch.unique_id = old ? old->unique_id : fl.new_spi_in;
    ch.spi_out = chosen->peer_spi;
    ch.mode = old ? old->mode : cc->mode;
    ch.encr = chosen->encr;
    ch.integ = chosen->integ;
    ch.esn = chosen->esn;
    ch.keys = std::move(*keys);
    ch.ts_local = local;
    ch.ts_remote = remote;
    ch.established = now;
    ch.rekey_at = jittered(now, cc->lifetimes, rng_);
    ch.expire_at = now + cc->lifetimes.life;
    const std::uint32_t new_in = ch.spi_in;
    ++stats_.child_sas_created;
    emit(InstallChildSa{sa.st.spis, ch, sa.st.local, sa.st.remote, sa.st.encap});
    if (!rekey) {
        emit(Event{ChildSaAdded{sa.st.spis, ch}});
        sa.st.children.push_back(std::move(ch));
        return;
    }
    if (!old) {
        // The peer deleted the SA while we rekeyed it (§2.25.1). It wanted
        // the SA gone, so the replacement goes too.
        emit(Event{ChildSaAdded{sa.st.spis, ch}});
        sa.st.children.push_back(std::move(ch));
        queue(sa, Task{TaskKind::DELETE_CHILD, new_in}, true);
        return;
    }
    emit(Event{ChildSaRekeyed{sa.st.spis, old_in, ch}});
    sa.st.children.push_back(std::move(ch));
    if (ChildSaState* o = sa.child_by_in(old_in)) o->rekey_at = Time::max();
    if (theirs) {
        ++stats_.rekey_collisions;
        if (lowest_nonce_is_ours(fl.nonce, np->nonce, theirs->ni, theirs->nr)) {
            // Ours is redundant: we delete it; the peer, whose SA survives,
            // deletes the old one (§2.8.1).
            queue(sa, Task{TaskKind::DELETE_CHILD, new_in}, true);
        } else {
            // The peer deletes its redundant SA; we delete the old one.
            queue(sa, Task{TaskKind::DELETE_CHILD, old_in}, true);
        }
        return;
    }
    queue(sa, Task{TaskKind::DELETE_CHILD, old_in}, true);  // §1.3.3: the initiator deletes it
}

void Engine::on_ike_rekey_response(Time now, Sa& sa, Inflight& fl, const std::vector<Payload>& in) {
    std::optional<PeerRekey> theirs;
    for (auto it = sa.peer_rekeys.begin(); it != sa.peer_rekeys.end(); ++it) {
        if (it->new_ike_spi != 0) {
            theirs = *it;
            sa.peer_rekeys.erase(it);
            break;
        }
    }
    Sa* their_sa = nullptr;
    if (theirs) {
        auto it = sas_.find(theirs->new_ike_spi);
        if (it != sas_.end()) their_sa = it->second.get();
    }
    // Their rekey stands alone: the children go there and the peer deletes
    // the old SA.
    auto theirs_wins = [&]() {
        ++stats_.ike_rekeys;
        move_children(now, sa, *their_sa);
        emit(Event{IkeSaRekeyed{sa.st.spis, their_sa->st}});
        sa.rekeyed = true;
        sa.st.expire_at = std::min(sa.st.expire_at, now + kRekeyGrace);
    };
    auto fail_with = [&](bool retry) {
        if (their_sa) return theirs_wins();
        if (retry) return retry_later(now, sa, fl.task);
        // Could not rekey: try again later, well before the hard lifetime.
        sa.st.rekey_at =
            now + std::max<Duration>((sa.st.expire_at - now) / 2, std::chrono::seconds(10));
    };
    if (auto* e = find_error(in)) {
        if (e->type == std::uint16_t(NotifyType::INVALID_KE_PAYLOAD)) {
            auto g = wire::parse_invalid_ke(*e);
            if (g && DhId(*g) != fl.group && offered_group(sa.conn->ike_proposals, DhId(*g)) &&
                fl.ke_retries < 2) {
                Inflight again;
                again.task = fl.task;
                again.group = DhId(*g);
                again.new_ike_spi = fl.new_ike_spi;
                again.ke_retries = fl.ke_retries + 1;
                if (theirs) sa.peer_rekeys.push_back(*theirs);
                return send_task(now, sa, std::move(again));
            }
        }
        return fail_with(e->type == std::uint16_t(NotifyType::TEMPORARY_FAILURE));
    }
    auto* sap = find_body<wire::SaPayload>(in, PayloadType::SA);
    auto* np = find_body<wire::NoncePayload>(in, PayloadType::NONCE);
    auto* kep = find_body<wire::KePayload>(in, PayloadType::KE);
    if (!sap || !np || !kep) return fail_with(false);
    auto chosen = accept_ike(*sap, sa.conn->ike_proposals);
    if (!chosen || chosen->suite.dh != fl.group || kep->dh_group != std::uint16_t(fl.group) ||
        chosen->proposal.spi.size() != 8)
        return fail_with(false);
    std::uint64_t peer_spi = load_be64(chosen->proposal.spi.data());
    auto secret = fl.kx->shared_secret(kep->data);
    if (peer_spi == 0 || !secret) return fail_with(false);
    Sa* n = adopt_ike_rekey(now, sa, chosen->suite, fl.new_ike_spi, peer_spi, true, *secret,
                            fl.nonce, np->nonce);
    if (!n) return fail_with(false);
    if (their_sa) {
        ++stats_.rekey_collisions;
        if (lowest_nonce_is_ours(fl.nonce, np->nonce, theirs->ni, theirs->nr)) {
            // §2.8.1: ours is redundant; we delete it and the peer deletes
            // the old SA.
            queue(*n, Task{TaskKind::DELETE_IKE});
            start_next(now, *n);
            return theirs_wins();
        }
        // Theirs is redundant (the peer deletes it); ours carries on and we
        // delete the old SA.
    }
    ++stats_.ike_rekeys;
    move_children(now, sa, *n);
    emit(Event{IkeSaRekeyed{sa.st.spis, n->st}});
    sa.rekeyed = true;
    queue(sa, Task{TaskKind::DELETE_IKE});  // §2.18: the rekey initiator deletes the old SA
}

void Engine::on_informational_response(Time now, Sa& sa, Inflight& fl,
                                       const std::vector<Payload>&) {
    (void)now;
    switch (fl.task.kind) {
        case TaskKind::DELETE_CHILD:
            if (sa.child_by_in(fl.task.spi)) remove_child(sa, fl.task.spi);
            std::erase(sa.deleting, fl.task.spi);
            break;
        case TaskKind::DELETE_IKE:
            remove(sa, sa.rekeyed ? DeleteReason::REPLACED : DeleteReason::DELETED_BY_US, false);
            break;
        case TaskKind::PEER_SYNC:
            // Replay-counter sync alone (no message-ID sync negotiated):
            // the peer has applied our delta.
            sa.resyncing = false;
            ++stats_.peer_syncs_completed;
            raise_inbound_floors(sa, fl.sync_delta);
            break;
        default:
            break;  // a liveness check or INVALID_SPI notice: the answer is all we wanted
    }
}

// ---- IKE SA rekey ----------------------------------------------------------------

Engine::Sa* Engine::adopt_ike_rekey(Time now, Sa& old, const IkeSuite& suite, std::uint64_t spi_i,
                                    std::uint64_t spi_r, bool we_initiated, BytesView secret,
                                    BytesView ni, BytesView nr) {
    const std::uint64_t ours = we_initiated ? spi_i : spi_r;
    if (ours == 0 || sas_.count(ours)) return nullptr;  // an SPI clash: refuse, never overwrite
    // §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the old PRF.
    auto keys = crypto::derive_ike_keys_rekey(ike_cipher_suite(suite), old.st.suite.prf,
                                              old.st.keys.sk_d, secret, ni, nr, spi_i, spi_r);
    if (!keys) return nullptr;
    auto n = std::make_unique<Sa>(old.config);
    n->conn = old.conn;
    n->our_spi = ours;
    n->phase = Sa::Phase::ESTABLISHED;
    IkeSaState& st = n->st;
    st.spis = IkeSpis{spi_i, spi_r};
    // §2.18: whoever initiated the rekey is the original initiator of the
    // new IKE SA (the I flag follows).
    st.initiator = we_initiated;
    st.config_name = old.st.config_name;
    st.suite = suite;
    st.keys = IkeKeys{keys->sk_d,  keys->sk_ai, keys->sk_ar, keys->sk_ei,
                      keys->sk_er, keys->sk_pi, keys->sk_pr};
    st.local_id = old.st.local_id;
    st.remote_id = old.st.remote_id;
    st.local = old.st.local;
    st.remote = old.st.remote;
    st.nat = old.st.nat;
    st.encap = old.st.encap;
    st.peer = old.st.peer;
    st.established = now;
    st.rekey_at = jittered(now, old.conn->ike_lifetimes, rng_);
    st.expire_at = now + old.conn->ike_lifetimes.life;
    const auto& s = st.suite;
    auto e_out = we_initiated ? keys->sk_ei : keys->sk_er;
    auto a_out = we_initiated ? keys->sk_ai : keys->sk_ar;
    auto e_in = we_initiated ? keys->sk_er : keys->sk_ei;
    auto a_in = we_initiated ? keys->sk_ar : keys->sk_ai;
    auto out = crypto::SkCipher::create(s.encr.id, s.encr.key_bits, s.integ, e_out, a_out);
    auto in = crypto::SkCipher::create(s.encr.id, s.encr.key_bits, s.integ, e_in, a_in);
    if (!out || !in) return nullptr;
    n->out = std::move(*out);
    n->in = std::move(*in);
    n->last_inbound = now;
    Sa& ref = *n;
    sas_[ours] = std::move(n);
    index_identity(ref);
    touch(ref);
    return &ref;
}

void Engine::move_children(Time now, Sa& from, Sa& to) {
    for (ChildSaState& c : from.st.children)
        to.st.children.push_back(std::move(c));
    from.st.children.clear();
    for (std::uint32_t s : from.deleting)
        to.deleting.push_back(s);
    from.deleting.clear();
    // Pending work moves along, except what concerned the old SA itself.
    for (const Task& t : from.tasks) {
        if (t.kind != TaskKind::REKEY_IKE && t.kind != TaskKind::DELETE_IKE &&
            t.kind != TaskKind::DPD)
            to.tasks.push_back(t);
    }
    std::erase_if(from.tasks, [](const Task& t) { return t.kind != TaskKind::DELETE_IKE; });
    start_next(now, to);
}

void Engine::remove_child(Sa& sa, std::uint32_t spi_in) {
    auto it = std::find_if(sa.st.children.begin(), sa.st.children.end(),
                           [&](const ChildSaState& c) { return c.spi_in == spi_in; });
    if (it == sa.st.children.end()) return;
    emit(RemoveChildSa{sa.st.spis, it->spi_in, it->spi_out});
    emit(Event{ChildSaDeleted{sa.st.spis, spi_in}});
    sa.st.children.erase(it);
    std::erase(sa.deleting, spi_in);
    std::erase_if(sa.tasks, [&](const Task& t) {
        return (t.kind == TaskKind::REKEY_CHILD || t.kind == TaskKind::DELETE_CHILD) &&
               t.spi == spi_in;
    });
    touch(sa);
}

// ---- commands ---------------------------------------------------------------------

// Queues the exchange, starts it if the window is free, and brings the
// deadlines up to date: the common tail of every command.
Status Engine::submit(Time now, Sa& sa, Task t) {
    queue(sa, t);
    start_next(now, sa);
    reschedule();
    return Ok{};
}

namespace {
Error no_sa() {
    return Error{0, "no established IKE SA with those SPIs"};
}
}  // namespace

Status Engine::create_child(Time now, const IkeSpis& spis, std::string_view child) {
    Sa* sa = find_established(spis);
    if (!sa || sa->rekeyed || sa->deleting_ike) return no_sa();
    const ChildConfig* cc = child_config(*sa->conn, child);
    if (!cc)
        return Error{
            0, "connection '" + sa->conn->name + "' has no child '" + std::string(child) + "'"};
    return submit(now, *sa, Task{TaskKind::CREATE_CHILD, 0, cc});
}

Status Engine::rekey_child(Time now, const IkeSpis& spis, std::uint32_t spi_in) {
    Sa* sa = find_established(spis);
    if (!sa || sa->rekeyed || sa->deleting_ike) return no_sa();
    if (!sa->child_by_in(spi_in) || sa->is_deleting(spi_in))
        return Error{0, "no Child SA with inbound SPI " + std::to_string(spi_in)};
    return submit(now, *sa, Task{TaskKind::REKEY_CHILD, spi_in});
}

Status Engine::rekey_ike(Time now, const IkeSpis& spis) {
    Sa* sa = find_established(spis);
    if (!sa || sa->rekeyed || sa->deleting_ike) return no_sa();
    return submit(now, *sa, Task{TaskKind::REKEY_IKE});
}

Status Engine::delete_child(Time now, const IkeSpis& spis, std::uint32_t spi_in) {
    Sa* sa = find_established(spis);
    if (!sa || sa->deleting_ike) return no_sa();
    if (!sa->child_by_in(spi_in))
        return Error{0, "no Child SA with inbound SPI " + std::to_string(spi_in)};
    return submit(now, *sa, Task{TaskKind::DELETE_CHILD, spi_in});
}

Status Engine::delete_ike(Time now, const IkeSpis& spis) {
    Sa* sa = find_established(spis);
    if (!sa) return no_sa();
    return submit(now, *sa, Task{TaskKind::DELETE_IKE});  // queue() ignores a second one
}

Status Engine::check_liveness(Time now, const IkeSpis& spis) {
    Sa* sa = find_established(spis);
    if (!sa || sa->rekeyed || sa->deleting_ike) return no_sa();
    return submit(now, *sa, Task{TaskKind::DPD});
}

void Engine::note_inbound_traffic(Time now, const IkeSpis& spis) {
    // The SA's timer entry stays where it was; when it fires, service()
    // finds no check due and reschedules from the new time.
    if (Sa* sa = find_established(spis)) sa->last_inbound = std::max(sa->last_inbound, now);
}

void Engine::report_invalid_spi(Time now, const IpAddress& remote, std::uint32_t spi) {
    // Bounded cost whatever the data plane hands us: at most a few scans a
    // second engine-wide, and one notice per IKE SA per second.
    if (now - invalid_spi_window_ >= 1s) {
        invalid_spi_window_ = now;
        invalid_spi_scans_ = 0;
    }
    if (++invalid_spi_scans_ > 16) return;
    for (auto& [k, sa] : sas_) {
        if (sa->half_open() || sa->rekeyed || sa->deleting_ike || sa->st.remote.addr != remote)
            continue;
        // The data plane reports what it saw some time ago: a packet that
        // arrived just before its SA was installed (a takeover claims the
        // address, then installs the SAs it imported) names an SPI that is
        // valid now. Telling the peer it is invalid would be false.
        for (const ChildSaState& c : sa->st.children) {
            if (c.spi_in == spi) return;
        }
        if (sa->invalid_spi_sent != Time{} && now - sa->invalid_spi_sent < 1s) return;
        sa->invalid_spi_sent = now;
        queue(*sa, Task{TaskKind::INVALID_SPI, spi});
        start_next(now, *sa);
        break;
    }
    reschedule();
}

}  // namespace ikecluster::ike
