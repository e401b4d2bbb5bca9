// IKE_SA_INIT and IKE_AUTH in both roles (RFC 7296 §1.2, §2.6, §2.15,
// §2.23) with PSK authentication and the first Child SA.
#include <algorithm>

#include "crypto/keys.h"
#include "ike/engine_internal.h"
#include "ike/negotiate.h"
#include "wire/esp.h"

namespace ikecluster::ike {

using wire::Message;
using wire::NotifyType;
using wire::Payload;
using wire::PayloadType;

// ---- initiator: IKE_SA_INIT -------------------------------------------------------

Result<IkeSpis> Engine::initiate(Time now, std::string_view name) {
    const ConnectionConfig* conn = nullptr;
    for (const auto& c : cfg_->connections) {
        if (c.name == name) conn = &c;
    }
    if (!conn) return Error{0, "no connection named '" + std::string(name) + "'"};
    if (conn->remote_addrs.empty())
        return Error{0, "connection '" + conn->name + "' has no remote address"};
    if (conn->local_addrs.empty())
        return Error{0, "connection '" + conn->name + "' has no local address"};
    if (conn->children.empty()) return Error{0, "connection '" + conn->name + "' has no child"};
    auto sa = std::make_unique<Sa>(cfg_);
    sa->conn = conn;
    sa->child_cfg = &conn->children.front();
    sa->st.initiator = true;
    sa->st.config_name = conn->name;
    sa->st.local = Endpoint{conn->local_addrs.front(), 500};
    sa->st.remote = Endpoint{conn->remote_addrs.front(), conn->remote_port};
    sa->st.local_id = conn->local_id;
    sa->our_spi = spis_->ike_spi();
    sa->st.spis.spi_i = sa->our_spi;
    sa->group = conn->ike_proposals.front().dh.front();
    sa->ni = rng_.bytes(kNonceSize);
    sa->half_open_deadline = now + cfg_->half_open_timeout;
    Sa& ref = *sa;
    sas_[sa->our_spi] = std::move(sa);
    IkeSpis spis = ref.st.spis;
    touch(ref);
    start_init(now, ref);
    reschedule();
    return spis;
}

void Engine::start_init(Time now, Sa& sa) {
    auto kx = crypto::make_key_exchange(sa.group, rng_);
    if (!kx) {
        remove(sa, DeleteReason::DELETED_BY_US, false);
        return;
    }
    sa.kx = std::move(*kx);
    Message m = plain_message(sa.st.spis, true, false, ExchangeType::IKE_SA_INIT, 0);
    // §2.6: a cookie, when the responder asked for one, comes first.
    if (!sa.cookie.empty()) m.payloads.push_back(wire::notify(NotifyType::COOKIE, sa.cookie));
    m.payloads.push_back(
        make_payload(PayloadType::SA, make_sa_payload(sa.conn->ike_proposals, {})));
    m.payloads.push_back(make_payload(
        PayloadType::KE, wire::KePayload{std::uint16_t(sa.group), sa.kx->public_value()}));
    m.payloads.push_back(make_payload(PayloadType::NONCE, wire::NoncePayload{sa.ni}));
    // §2.23 NAT detection; with forced encapsulation the source hash is made
    // not to match so the responder believes we are behind a NAT.
    Bytes src = crypto::nat_detection_hash(sa.st.spis.spi_i, 0, sa.st.local);
    if (sa.conn->force_encap) src = rng_.bytes(20);
    m.payloads.push_back(wire::notify(NotifyType::NAT_DETECTION_SOURCE_IP, src));
    m.payloads.push_back(
        wire::notify(NotifyType::NAT_DETECTION_DESTINATION_IP,
                     crypto::nat_detection_hash(sa.st.spis.spi_i, 0, sa.st.remote)));
    sa.init_request = wire::encode_message(m);
    sa.phase = Sa::Phase::INIT_SENT;
    send_request(now, sa, sa.init_request);
}

void Engine::on_init_response(Time now, Sa& sa, BytesView dgram) {
    auto m = wire::decode_message(dgram);
    if (!m || m->header.message_id != 0) return drop();
    const auto& ps = m->payloads;
    if (auto* c = find_notify(ps, NotifyType::COOKIE)) {
        // §2.6: retry with the cookie; the SPI and nonce stay.
        if (!wire::parse_cookie(*c) || !sa.cookie.empty()) return drop();
        sa.cookie = c->data;
        return start_init(now, sa);
    }
    if (auto* ike = find_notify(ps, NotifyType::INVALID_KE_PAYLOAD)) {
        // §1.2: retry with the group the responder wants, if we offered it.
        auto g = wire::parse_invalid_ke(*ike);
        bool offered = false;
        for (auto& p : sa.conn->ike_proposals) {
            offered = offered || (g && std::find(p.dh.begin(), p.dh.end(), DhId(*g)) != p.dh.end());
        }
        if (!g || !offered || DhId(*g) == sa.group || ++sa.ke_retries > 2) {
            return remove(sa, DeleteReason::DELETED_BY_US, false);
        }
        sa.group = DhId(*g);
        return start_init(now, sa);
    }
    if (find_error(ps))
        return remove(sa, DeleteReason::DELETED_BY_US, false);  // e.g. NO_PROPOSAL_CHOSEN
    auto* sap = m->find(PayloadType::SA);
    auto* kep = m->find(PayloadType::KE);
    auto* np = m->find(PayloadType::NONCE);
    if (!sap || !kep || !np || m->header.spi_r == 0) return drop();
    auto chosen = accept_ike(*sap->as<wire::SaPayload>(), sa.conn->ike_proposals);
    const wire::KePayload& ke = *kep->as<wire::KePayload>();
    if (!chosen || chosen->suite.dh != sa.group || ke.dh_group != std::uint16_t(sa.group)) {
        return remove(sa, DeleteReason::DELETED_BY_US, false);
    }
    auto secret = sa.kx->shared_secret(ke.data);
    if (!secret) return remove(sa, DeleteReason::DELETED_BY_US, false);
    sa.rt.stop();
    sa.st.spis.spi_r = m->header.spi_r;
    sa.st.suite = chosen->suite;
    sa.nr = np->as<wire::NoncePayload>()->nonce;
    sa.init_response = to_bytes(dgram);
    auto keys = crypto::derive_ike_keys(ike_cipher_suite(sa.st.suite), *secret, sa.ni, sa.nr,
                                        sa.st.spis.spi_i, sa.st.spis.spi_r);
    if (!keys) return remove(sa, DeleteReason::DELETED_BY_US, false);
    sa.st.keys = IkeKeys{keys->sk_d,  keys->sk_ai, keys->sk_ar, keys->sk_ei,
                         keys->sk_er, keys->sk_pi, keys->sk_pr};
    const auto& s = sa.st.suite;
    auto out =
        crypto::SkCipher::create(s.encr.id, s.encr.key_bits, s.integ, keys->sk_ei, keys->sk_ai);
    auto in =
        crypto::SkCipher::create(s.encr.id, s.encr.key_bits, s.integ, keys->sk_er, keys->sk_ar);
    if (!out || !in) return remove(sa, DeleteReason::DELETED_BY_US, false);
    sa.out = std::move(*out);
    sa.in = std::move(*in);
    record_capabilities(sa.st.peer, ps);
    // §2.23: NAT detection decides whether we move to port 4500.
    auto* nsrc = find_notify(ps, NotifyType::NAT_DETECTION_SOURCE_IP);
    auto* ndst = find_notify(ps, NotifyType::NAT_DETECTION_DESTINATION_IP);
    int nat = 0;
    if (nsrc && ndst) {
        if (nsrc->data !=
            crypto::nat_detection_hash(sa.st.spis.spi_i, sa.st.spis.spi_r, sa.st.remote))
            nat |= 2;
        if (ndst->data !=
            crypto::nat_detection_hash(sa.st.spis.spi_i, sa.st.spis.spi_r, sa.st.local))
            nat |= 1;
    }
    sa.st.nat = NatState(nat);
    if (nat || sa.conn->force_encap) {
        sa.st.encap = true;
        sa.st.local.port = kNattPort;
        sa.st.remote.port = kNattPort;
    }
    sa.st.msgids.next_request_out = 1;
    send_auth_request(now, sa);
}

// ---- initiator: IKE_AUTH ------------------------------------------------------------

namespace {

Payload id_payload(PayloadType t, const Identity& id) {
    return make_payload(t, wire::IdPayload{std::uint8_t(id.type), id.data});
}

Bytes id_body(const Payload& p) {
    Bytes b;
    wire::encode_body(p, b);
    return b;
}

// The RFC 6311 announcements, sent in IKE_AUTH by both roles.
void announce_ha(const EngineConfig& cfg, std::vector<Payload>& ps) {
    if (cfg.announce_msgid_sync)
        ps.push_back(wire::notify(NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED));
    if (cfg.announce_replay_sync)
        ps.push_back(wire::notify(NotifyType::IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED));
}

}  // namespace

void Engine::send_auth_request(Time now, Sa& sa) {
    const ConnectionConfig& c = *sa.conn;
    std::vector<Payload> in;
    Payload idi = id_payload(PayloadType::IDi, c.local_id);
    in.push_back(idi);
    if (c.send_initial_contact) in.push_back(wire::notify(NotifyType::INITIAL_CONTACT));
    if (c.remote_id) in.push_back(id_payload(PayloadType::IDr, *c.remote_id));
    Bytes so = crypto::signed_octets(sa.st.suite.prf, sa.init_request, sa.nr, sa.st.keys.sk_pi,
                                     id_body(idi));
    in.push_back(make_payload(PayloadType::AUTH,
                              wire::AuthPayload{2, crypto::psk_auth(sa.st.suite.prf, c.psk, so)}));
    sa.child_spi_in = spis_->child_spi();
    in.push_back(make_payload(PayloadType::SA,
                              make_sa_payload(sa.child_cfg->esp_proposals, be32(sa.child_spi_in))));
    in.push_back(make_payload(PayloadType::TSi, to_wire_ts(sa.child_cfg->local_ts)));
    in.push_back(make_payload(PayloadType::TSr, to_wire_ts(sa.child_cfg->remote_ts)));
    if (sa.child_cfg->mode == IpsecMode::TRANSPORT)
        in.push_back(wire::notify(NotifyType::USE_TRANSPORT_MODE));
    announce_ha(*cfg_, in);
    sa.phase = Sa::Phase::AUTH_SENT;
    send_request(now, sa, seal_message(sa, ExchangeType::IKE_AUTH, false, 1, in, rng_));
}

void Engine::on_auth_response(Time now, Sa& sa, BytesView dgram) {
    auto m = wire::decode_message(dgram);
    if (!m || m->header.message_id != 1) return drop();
    auto inner = open_message(sa, dgram, *m);
    if (!inner) return drop();  // forged or corrupted: ignore, keep waiting
    sa.rt.stop();
    sa.st.msgids.next_request_out = 2;
    const auto& ps = *inner;
    if (find_notify(ps, NotifyType::AUTHENTICATION_FAILED)) {
        ++stats_.auth_failures;
        return remove(sa, DeleteReason::AUTH_FAILED, false);
    }
    const Payload* idr = nullptr;
    for (const Payload& p : ps) {
        if (p.type == PayloadType::IDr) idr = &p;
    }
    auto* auth = find_body<wire::AuthPayload>(ps, PayloadType::AUTH);
    if (!idr || !auth || auth->method != 2) return remove(sa, DeleteReason::AUTH_FAILED, false);
    const wire::IdPayload& idb = *idr->as<wire::IdPayload>();
    Identity peer{IdType(idb.id_type), idb.data};
    if (sa.conn->remote_id && !(*sa.conn->remote_id == peer)) {
        ++stats_.auth_failures;
        return remove(sa, DeleteReason::AUTH_FAILED, false);
    }
    Bytes so = crypto::signed_octets(sa.st.suite.prf, sa.init_response, sa.ni, sa.st.keys.sk_pr,
                                     id_body(*idr));
    if (!equal_ct(crypto::psk_auth(sa.st.suite.prf, sa.conn->psk, so), auth->data)) {
        ++stats_.auth_failures;
        return remove(sa, DeleteReason::AUTH_FAILED, false);
    }
    sa.st.remote_id = peer;
    record_capabilities(sa.st.peer, ps);
    // The first Child SA; its failure leaves the IKE SA up (§1.2).
    auto* sap = find_body<wire::SaPayload>(ps, PayloadType::SA);
    auto* tsi = find_body<wire::TsPayload>(ps, PayloadType::TSi);
    auto* tsr = find_body<wire::TsPayload>(ps, PayloadType::TSr);
    if (sap && tsi && tsr && !find_error(ps)) {
        auto chosen = accept_child(*sap, sa.child_cfg->esp_proposals);
        TsList local = from_wire_ts(*tsi), remote = from_wire_ts(*tsr);
        bool transport = find_notify(ps, NotifyType::USE_TRANSPORT_MODE) != nullptr;
        if (chosen && !local.empty() && !remote.empty() &&
            every_ts_within(local, sa.child_cfg->local_ts) &&
            every_ts_within(remote, sa.child_cfg->remote_ts) &&
            transport == (sa.child_cfg->mode == IpsecMode::TRANSPORT)) {
            crypto::CipherSuite esp{chosen->encr.id, chosen->encr.key_bits, chosen->integ,
                                    sa.st.suite.prf, DhId::NONE};
            auto km =
                crypto::derive_child_keys(esp, sa.st.suite.prf, sa.st.keys.sk_d, {}, sa.ni, sa.nr);
            if (km) {
                ChildSaState ch;
                ch.config_name = sa.child_cfg->name;
                ch.unique_id = sa.child_spi_in;
                ch.spi_in = sa.child_spi_in;
                ch.spi_out = chosen->peer_spi;
                ch.mode = sa.child_cfg->mode;
                ch.encr = chosen->encr;
                ch.integ = chosen->integ;
                ch.esn = chosen->esn;
                // We initiated: our outbound keys are the initiator's (§2.17).
                ch.keys = ChildSaKeys{km->encr_r, km->integ_r, km->encr_i, km->integ_i};
                ch.ts_local = local;
                ch.ts_remote = remote;
                ch.established = now;
                ch.rekey_at = jittered(now, sa.child_cfg->lifetimes, rng_);
                ch.expire_at = now + sa.child_cfg->lifetimes.life;
                sa.st.children.push_back(std::move(ch));
            }
        }
    }
    established(now, sa);
}

// ---- responder ---------------------------------------------------------------------

void Engine::on_init_request(Time now, const Endpoint& local, const Endpoint& remote,
                             BytesView dgram) {
    auto hdr = wire::decode_header(dgram);
    if (!hdr) return drop();
    // A retransmitted IKE_SA_INIT gets the same answer (§2.1).
    if (auto it = half_open_by_spi_i_.find(hdr->spi_i); it != half_open_by_spi_i_.end()) {
        auto sit = sas_.find(it->second);
        if (sit != sas_.end() && sit->second->st.remote == remote &&
            sit->second->init_request == Bytes(dgram.begin(), dgram.end())) {
            send(*sit->second, sit->second->init_response);
            ++stats_.responses_resent;
            return;
        }
        return drop();
    }
    wire::DecodeFailure why;
    auto m = wire::decode_message(dgram, &why);
    if (!m) return drop();  // unauthenticated garbage: no answer (§2.21.1 allows silence)
    if (m->header.message_id != 0 || m->header.spi_r != 0 || !m->header.from_initiator())
        return drop();
    // Bounded responder state (DoS): a hard limit on half-open SAs, overall and per peer.
    auto peer_it = half_open_per_peer_.find(remote.addr);
    std::size_t per_peer = peer_it == half_open_per_peer_.end() ? 0 : peer_it->second;
    if (half_open_responder_ >= cfg_->half_open_limit || per_peer >= cfg_->half_open_per_peer ||
        sas_.size() >= cfg_->max_ike_sas) {
        return drop();
    }
    auto reply_plain = [&](std::vector<Payload> ps) {
        Message r =
            plain_message(IkeSpis{m->header.spi_i, 0}, false, true, ExchangeType::IKE_SA_INIT, 0);
        r.payloads = std::move(ps);
        Bytes out = wire::encode_message(r);
        emit(SendDatagram{local, remote,
                          local.port == kNattPort ? wire::with_non_esp_marker(out) : out});
    };
    if (auto crit = m->unsupported_critical())
        return reply_plain({wire::notify_unsupported_critical(*crit)});
    auto* sap = m->find(PayloadType::SA);
    auto* kep = m->find(PayloadType::KE);
    auto* np = m->find(PayloadType::NONCE);
    if (!sap || !kep || !np) return reply_plain({wire::notify(NotifyType::INVALID_SYNTAX)});
    // §2.6: above the threshold of half-open SAs, only an initiator that
    // proves it receives at its address (by echoing our stateless cookie,
    // as the first payload) gets state. Anyone else gets a fresh cookie.
    if (half_open_responder_ >= cfg_->cookie_threshold) {
        const Bytes& ni = np->as<wire::NoncePayload>()->nonce;
        const wire::NotifyPayload* c =
            m->payloads.empty() ? nullptr : m->payloads.front().as<wire::NotifyPayload>();
        bool ok = c && c->type == std::uint16_t(NotifyType::COOKIE) &&
                  cookies_->verify(now, c->data, ni, remote.addr, m->header.spi_i);
        if (!ok) {
            ++stats_.cookies_sent;
            auto cookie =
                wire::notify_cookie(cookies_->make(now, ni, remote.addr, m->header.spi_i));
            if (!cookie) return drop();
            return reply_plain({*cookie});
        }
    }
    // Which connection? The one whose local address matches where it arrived
    // (the identity is only known in IKE_AUTH, §2.15 notes the same).
    const ConnectionConfig* conn = nullptr;
    for (const auto& c : cfg_->connections) {
        bool addr_ok = c.local_addrs.empty() ||
                       std::find(c.local_addrs.begin(), c.local_addrs.end(), local.addr) !=
                           c.local_addrs.end();
        bool peer_ok = c.remote_addrs.empty() ||
                       std::find(c.remote_addrs.begin(), c.remote_addrs.end(), remote.addr) !=
                           c.remote_addrs.end();
        if (addr_ok && peer_ok) {
            conn = &c;
            break;
        }
    }
    if (!conn) return reply_plain({wire::notify(NotifyType::NO_PROPOSAL_CHOSEN)});
    auto chosen = choose_ike(*sap->as<wire::SaPayload>(), conn->ike_proposals);
    if (!chosen) return reply_plain({wire::notify(NotifyType::NO_PROPOSAL_CHOSEN)});
    const wire::KePayload& ke = *kep->as<wire::KePayload>();
    if (ke.dh_group != std::uint16_t(chosen->suite.dh)) {
        // §1.2: tell the initiator which group we want; keep no state.
        return reply_plain({wire::notify_invalid_ke(std::uint16_t(chosen->suite.dh))});
    }
    auto kx = crypto::make_key_exchange(chosen->suite.dh, rng_);
    if (!kx) return drop();
    auto secret = (*kx)->shared_secret(ke.data);
    if (!secret)
        return reply_plain({wire::notify(NotifyType::INVALID_SYNTAX)});  // RFC 6989 check failed

    auto sa = std::make_unique<Sa>(cfg_);
    sa->conn = conn;
    sa->st.initiator = false;
    sa->st.config_name = conn->name;
    sa->st.local = local;
    sa->st.remote = remote;
    sa->st.local_id = conn->local_id;
    sa->our_spi = spis_->ike_spi();
    sa->st.spis = IkeSpis{m->header.spi_i, sa->our_spi};
    sa->st.suite = chosen->suite;
    sa->group = chosen->suite.dh;
    sa->kx = std::move(*kx);
    sa->ni = np->as<wire::NoncePayload>()->nonce;
    sa->nr = rng_.bytes(kNonceSize);
    sa->init_request = to_bytes(dgram);
    sa->half_open_deadline = now + cfg_->half_open_timeout;
    record_capabilities(sa->st.peer, m->payloads);
    auto keys = crypto::derive_ike_keys(ike_cipher_suite(sa->st.suite), *secret, sa->ni, sa->nr,
                                        sa->st.spis.spi_i, sa->st.spis.spi_r);
    if (!keys) return drop();
    sa->st.keys = IkeKeys{keys->sk_d,  keys->sk_ai, keys->sk_ar, keys->sk_ei,
                          keys->sk_er, keys->sk_pi, keys->sk_pr};
    const auto& s = sa->st.suite;
    auto out =
        crypto::SkCipher::create(s.encr.id, s.encr.key_bits, s.integ, keys->sk_er, keys->sk_ar);
    auto in =
        crypto::SkCipher::create(s.encr.id, s.encr.key_bits, s.integ, keys->sk_ei, keys->sk_ai);
    if (!out || !in) return drop();
    sa->out = std::move(*out);
    sa->in = std::move(*in);
    // NAT detection from the responder's side.
    auto* nsrc = m->find_notify(NotifyType::NAT_DETECTION_SOURCE_IP);
    auto* ndst = m->find_notify(NotifyType::NAT_DETECTION_DESTINATION_IP);
    int nat = 0;
    if (nsrc && ndst) {
        if (nsrc->data != crypto::nat_detection_hash(sa->st.spis.spi_i, 0, remote)) nat |= 2;
        if (ndst->data != crypto::nat_detection_hash(sa->st.spis.spi_i, 0, local)) nat |= 1;
    }
    sa->st.nat = NatState(nat);

    Message r = plain_message(sa->st.spis, false, true, ExchangeType::IKE_SA_INIT, 0);
    r.payloads.push_back(make_payload(PayloadType::SA, wire::SaPayload{{chosen->proposal}}));
    r.payloads.push_back(make_payload(
        PayloadType::KE, wire::KePayload{std::uint16_t(sa->group), sa->kx->public_value()}));
    r.payloads.push_back(make_payload(PayloadType::NONCE, wire::NoncePayload{sa->nr}));
    r.payloads.push_back(
        wire::notify(NotifyType::NAT_DETECTION_SOURCE_IP,
                     crypto::nat_detection_hash(sa->st.spis.spi_i, sa->st.spis.spi_r, local)));
    r.payloads.push_back(
        wire::notify(NotifyType::NAT_DETECTION_DESTINATION_IP,
                     crypto::nat_detection_hash(sa->st.spis.spi_i, sa->st.spis.spi_r, remote)));
    sa->init_response = wire::encode_message(r);
    sa->kx.reset();  // the private value is not needed any more
    sa->phase = Sa::Phase::INIT_DONE;
    sa->st.msgids.next_request_in = 1;
    Sa& ref = *sa;
    half_open_by_spi_i_[ref.st.spis.spi_i] = ref.our_spi;
    ++half_open_responder_;
    ref.counted_addr = ref.st.remote.addr;
    ++half_open_per_peer_[ref.counted_addr];
    sas_[ref.our_spi] = std::move(sa);
    touch(ref);
    send(ref, ref.init_response);
}

void Engine::on_auth_request(Time now, Sa& sa, const Endpoint& local, const Endpoint& remote,
                             BytesView dgram) {
    auto m = wire::decode_message(dgram);
    if (!m) return drop();
    auto inner = open_message(sa, dgram, *m);
    if (!inner) return drop();
    // Only an authentic message may move the SA: the initiator switches to
    // port 4500 after NAT detection (§2.23), and a NAT may have remapped it.
    sa.st.local = local;
    sa.st.remote = remote;
    sa.st.encap = local.port == kNattPort;
    const auto& ps = *inner;
    const Payload* idi = nullptr;
    for (const Payload& p : ps) {
        if (p.type == PayloadType::IDi) idi = &p;
    }
    auto* auth = find_body<wire::AuthPayload>(ps, PayloadType::AUTH);
    auto fail = [&](NotifyType why) {
        ++stats_.auth_failures;
        std::vector<Payload> r{wire::notify(why)};
        send_response(now, sa, 1, seal_message(sa, ExchangeType::IKE_AUTH, true, 1, r, rng_));
        remove(sa, DeleteReason::AUTH_FAILED, false);
    };
    if (!idi || !auth) return fail(NotifyType::AUTHENTICATION_FAILED);
    const wire::IdPayload& idb = *idi->as<wire::IdPayload>();
    Identity peer{IdType(idb.id_type), idb.data};
    // Pick the connection by the identity the peer claims; verify with its PSK.
    const ConnectionConfig* conn = nullptr;
    // (From the configuration this SA started under, see Engine::reconfigure.)
    for (const auto& c : sa.config->connections) {
        if (!c.remote_id || *c.remote_id == peer) {
            bool addr_ok =
                c.local_addrs.empty() || std::find(c.local_addrs.begin(), c.local_addrs.end(),
                                                   sa.st.local.addr) != c.local_addrs.end();
            if (addr_ok) {
                conn = &c;
                break;
            }
        }
    }
    if (!conn || auth->method != 2) return fail(NotifyType::AUTHENTICATION_FAILED);
    Bytes so = crypto::signed_octets(sa.st.suite.prf, sa.init_request, sa.nr, sa.st.keys.sk_pi,
                                     id_body(*idi));
    if (!equal_ct(crypto::psk_auth(sa.st.suite.prf, conn->psk, so), auth->data)) {
        return fail(NotifyType::AUTHENTICATION_FAILED);
    }
    sa.conn = conn;
    sa.st.config_name = conn->name;
    sa.st.remote_id = peer;
    sa.st.local_id = conn->local_id;
    record_capabilities(sa.st.peer, ps);

    std::vector<Payload> r;
    Payload idr = id_payload(PayloadType::IDr, conn->local_id);
    r.push_back(idr);
    Bytes rso = crypto::signed_octets(sa.st.suite.prf, sa.init_response, sa.ni, sa.st.keys.sk_pr,
                                      id_body(idr));
    r.push_back(
        make_payload(PayloadType::AUTH,
                     wire::AuthPayload{2, crypto::psk_auth(sa.st.suite.prf, conn->psk, rso)}));

    // The first Child SA (§1.2): narrow the selectors (§2.9), choose ESP.
    auto* sap = find_body<wire::SaPayload>(ps, PayloadType::SA);
    auto* tsi = find_body<wire::TsPayload>(ps, PayloadType::TSi);
    auto* tsr = find_body<wire::TsPayload>(ps, PayloadType::TSr);
    bool transport = find_notify(ps, NotifyType::USE_TRANSPORT_MODE) != nullptr;
    if (sap && tsi && tsr) {
        std::optional<NotifyType> child_error = NotifyType::TS_UNACCEPTABLE;
        for (const ChildConfig& cc : conn->children) {
            TsList ts_remote = narrow(from_wire_ts(*tsi), cc.remote_ts);
            TsList ts_local = narrow(from_wire_ts(*tsr), cc.local_ts);
            if (ts_remote.empty() || ts_local.empty()) continue;
            auto chosen = choose_child(*sap, cc.esp_proposals, false);
            if (!chosen) {
                child_error = NotifyType::NO_PROPOSAL_CHOSEN;
                continue;
            }
            crypto::CipherSuite esp{chosen->encr.id, chosen->encr.key_bits, chosen->integ,
                                    sa.st.suite.prf, DhId::NONE};
            auto km =
                crypto::derive_child_keys(esp, sa.st.suite.prf, sa.st.keys.sk_d, {}, sa.ni, sa.nr);
            if (!km) continue;
            ChildSaState ch;
            ch.config_name = cc.name;
            ch.spi_in = spis_->child_spi();
            ch.unique_id = ch.spi_in;
            ch.spi_out = chosen->peer_spi;
            // Transport mode only when both ask for it (§1.3.1).
            ch.mode = transport && cc.mode == IpsecMode::TRANSPORT ? IpsecMode::TRANSPORT
                                                                   : IpsecMode::TUNNEL;
            ch.encr = chosen->encr;
            ch.integ = chosen->integ;
            ch.esn = chosen->esn;
            ch.keys = ChildSaKeys{km->encr_i, km->integ_i, km->encr_r, km->integ_r};
            ch.ts_local = ts_local;
            ch.ts_remote = ts_remote;
            ch.established = now;
            ch.rekey_at = jittered(now, cc.lifetimes, rng_);
            ch.expire_at = now + cc.lifetimes.life;
            wire::Proposal ans = chosen->proposal;
            ans.spi = be32(ch.spi_in);
            r.push_back(make_payload(PayloadType::SA, wire::SaPayload{{ans}}));
            r.push_back(make_payload(PayloadType::TSi, to_wire_ts(ts_remote)));
            r.push_back(make_payload(PayloadType::TSr, to_wire_ts(ts_local)));
            if (ch.mode == IpsecMode::TRANSPORT)
                r.push_back(wire::notify(NotifyType::USE_TRANSPORT_MODE));
            sa.st.children.push_back(std::move(ch));
            child_error.reset();
            break;
        }
        if (child_error) r.push_back(wire::notify(*child_error));
    }
    announce_ha(*cfg_, r);
    sa.st.msgids.next_request_in = 2;
    send_response(now, sa, 1, seal_message(sa, ExchangeType::IKE_AUTH, true, 1, r, rng_));
    established(now, sa);
    if (find_notify(ps, NotifyType::INITIAL_CONTACT)) initial_contact(sa);
}

void Engine::established(Time now, Sa& sa) {
    leave_half_open(sa);
    sa.phase = Sa::Phase::ESTABLISHED;
    sa.half_open_deadline = Time::max();
    half_open_by_spi_i_.erase(sa.st.spis.spi_i);
    sa.st.established = now;
    sa.st.rekey_at = jittered(now, sa.conn->ike_lifetimes, rng_);
    sa.st.expire_at = now + sa.conn->ike_lifetimes.life;
    // The handshake's inputs are spent once AUTH is verified (§2.15 needs
    // them only for the AUTH payloads). Release them, not just clear():
    // about 0.8 KB per SA that a gateway would otherwise hold for hours.
    sa.init_request = Bytes();
    sa.init_response = Bytes();
    sa.ni = Bytes();
    sa.nr = Bytes();
    sa.cookie = Bytes();
    sa.kx.reset();
    ++stats_.established;
    sa.last_inbound = now;
    index_identity(sa);
    touch(sa);
    for (const ChildSaState& ch : sa.st.children) {
        emit(InstallChildSa{sa.st.spis, ch, sa.st.local, sa.st.remote, sa.st.encap});
    }
    emit(Event{IkeSaEstablished{sa.st}});
}

}  // namespace ikecluster::ike
