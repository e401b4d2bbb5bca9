// The engine's plumbing: construction, the timer structure, sending with
// retransmission and cached responses, removal of SAs, and dispatch of
// received datagrams (§2.3 message-ID windows) to handshake.cpp and
// exchanges.cpp.
#include "ike/engine.h"

#include <algorithm>

#include "base/buffer.h"
#include "crypto/keys.h"
#include "crypto/prf.h"
#include "ike/engine_internal.h"
#include "wire/esp.h"

namespace ikecluster::ike {

using wire::Message;
using wire::NotifyType;
using wire::Payload;
using wire::PayloadType;

namespace {

class RandomSpis final : public SpiAllocator {
  public:
    explicit RandomSpis(crypto::Random& r) : r_(r) {}
    std::uint64_t ike_spi() override {
        std::uint64_t s;
        do
            s = r_.u64();
        while (s == 0);
        return s;
    }
    std::uint32_t child_spi() override {
        std::uint32_t s;
        do
            s = r_.u32();
        while (s < 256);
        return s;
    }

  private:
    crypto::Random& r_;
};

}  // namespace

// ---- helpers (engine_internal.h) -----------------------------------------------------

crypto::CipherSuite ike_cipher_suite(const IkeSuite& s) {
    return crypto::CipherSuite{s.encr.id, s.encr.key_bits, s.integ, s.prf, s.dh};
}

Bytes be32(std::uint32_t v) {
    Bytes b(4);
    store_be32(b.data(), v);
    return b;
}

wire::TsPayload to_wire_ts(const TsList& l) {
    wire::TsPayload p;
    for (const TrafficSelector& t : l) {
        p.selectors.push_back(wire::TsEntry{
            t.is_v6() ? wire::TsType::IPV6_ADDR_RANGE : wire::TsType::IPV4_ADDR_RANGE, t.ip_proto,
            t.start_port, t.end_port, to_bytes(t.start.bytes()), to_bytes(t.end.bytes())});
    }
    return p;
}

TsList from_wire_ts(const wire::TsPayload& p) {
    TsList out;
    for (const wire::TsEntry& e : p.selectors) {
        auto a = IpAddress::from_bytes(e.start_addr), b = IpAddress::from_bytes(e.end_addr);
        if (!a || !b) continue;
        out.push_back(TrafficSelector{e.ip_proto, e.start_port, e.end_port, *a, *b});
    }
    return out;
}

const wire::NotifyPayload* find_notify(const std::vector<Payload>& ps, NotifyType type) {
    for (const Payload& p : ps) {
        if (auto* n = p.as<wire::NotifyPayload>(); n && n->type == std::uint16_t(type)) return n;
    }
    return nullptr;
}

// The first error notify in a response, if any (§3.10.1).
const wire::NotifyPayload* find_error(const std::vector<Payload>& ps) {
    for (const Payload& p : ps) {
        if (auto* n = p.as<wire::NotifyPayload>(); n && wire::is_error_notify(n->type)) return n;
    }
    return nullptr;
}

// What the peer announced (IKE_SA_INIT and IKE_AUTH notifies).
void record_capabilities(PeerCapabilities& c, const std::vector<Payload>& ps) {
    c.fragmentation = c.fragmentation || find_notify(ps, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED);
    c.redirect = c.redirect || find_notify(ps, NotifyType::REDIRECT_SUPPORTED);
    c.mobike = c.mobike || find_notify(ps, NotifyType::MOBIKE_SUPPORTED);
    c.msgid_sync = c.msgid_sync || find_notify(ps, NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED);
    c.replay_sync =
        c.replay_sync || find_notify(ps, NotifyType::IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED);
}

bool every_ts_within(const TsList& answered, const TsList& offered) {
    return std::all_of(answered.begin(), answered.end(), [&](const TrafficSelector& a) {
        return std::any_of(offered.begin(), offered.end(),
                           [&](const TrafficSelector& o) { return o.contains(a); });
    });
}

std::optional<std::uint8_t> unsupported_critical(const std::vector<Payload>& ps) {
    for (const Payload& p : ps) {
        if (p.critical && p.as<wire::UnknownPayload>()) return std::uint8_t(p.type);
    }
    return std::nullopt;
}

Time jittered(Time now, const Lifetimes& lt, crypto::Random& rng) {
    Duration j = lt.jitter.count() > 0
                     ? Duration(Duration::rep(rng.u64() % std::uint64_t(lt.jitter.count())))
                     : Duration(0);
    return now + lt.rekey - j;
}

Result<ChildSaKeys> child_keys(const IkeSaState& st, const EncrAlg& encr, IntegId integ,
                               BytesView pfs_secret, BytesView ni, BytesView nr,
                               bool we_initiated) {
    crypto::CipherSuite esp{encr.id, encr.key_bits, integ, st.suite.prf, DhId::NONE};
    auto km = crypto::derive_child_keys(esp, st.suite.prf, st.keys.sk_d, pfs_secret, ni, nr);
    if (!km) return km.error();
    // §2.17: the initiator's outbound keys are taken first.
    if (we_initiated) return ChildSaKeys{km->encr_r, km->integ_r, km->encr_i, km->integ_i};
    return ChildSaKeys{km->encr_i, km->integ_i, km->encr_r, km->integ_r};
}

// Builds an encrypted message (§3.14): header | SK header | IV | ct | ICV.
Bytes seal_message(Engine::Sa& sa, ExchangeType exchange, bool response, std::uint32_t message_id,
                   const std::vector<Payload>& inner, crypto::Random& rng) {
    Bytes plain;
    std::uint8_t first = wire::encode_payloads(inner, plain);
    std::size_t body_len = sa.out->sealed_size(plain.size());
    Bytes out;
    Writer w(out);
    w.u64(sa.st.spis.spi_i);
    w.u64(sa.st.spis.spi_r);
    w.u8(std::uint8_t(PayloadType::SK));
    w.u8(0x20);
    w.u8(std::uint8_t(exchange));
    w.u8(std::uint8_t((sa.st.initiator ? wire::kFlagInitiator : 0) |
                      (response ? wire::kFlagResponse : 0)));
    w.u32(message_id);
    w.u32(std::uint32_t(wire::kHeaderSize + wire::kGenericHeaderSize + body_len));
    w.u8(first);
    w.u8(0);
    w.u16(std::uint16_t(wire::kGenericHeaderSize + body_len));
    Bytes body = sa.out->seal(out, plain, rng);
    w.bytes(body);
    return out;
}

// Verifies and decrypts; the inner payload chain or an Error (the caller drops
// the message silently, §2.21.2).
Result<std::vector<Payload>> open_message(Engine::Sa& sa, BytesView dgram, const Message& m,
                                          bool* authentic) {
    if (authentic) *authentic = false;
    if (m.payloads.empty()) return Error{0, "no SK payload"};
    const wire::SkPayload* sk = m.payloads.back().as<wire::SkPayload>();
    auto off = wire::encrypted_body_offset(dgram);
    if (!sk || !off || !sa.in) return Error{0, "no SK payload"};
    auto plain = sa.in->open(dgram.first(*off), sk->body);
    if (!plain) return plain.error();
    if (authentic) *authentic = true;
    return wire::decode_payloads(sk->first_inner, *plain);
}

Message plain_message(const IkeSpis& spis, bool initiator, bool response, ExchangeType ex,
                      std::uint32_t id) {
    Message m;
    m.header.spi_i = spis.spi_i;
    m.header.spi_r = spis.spi_r;
    m.header.exchange = std::uint8_t(ex);
    m.header.flags =
        std::uint8_t((initiator ? wire::kFlagInitiator : 0) | (response ? wire::kFlagResponse : 0));
    m.header.message_id = id;
    return m;
}

// ---- engine -----------------------------------------------------------------------

Engine::Engine(EngineConfig cfg, crypto::Random& rng, SpiAllocator* spis)
    : cfg_(std::make_shared<const EngineConfig>(std::move(cfg))),
      rng_(rng),
      own_spis_(spis ? nullptr : new RandomSpis(rng)),
      spis_(spis ? spis : own_spis_.get()),
      cookies_(std::make_unique<CookieJar>(
          rng, std::max<Duration>(cfg_->cookie_secret_lifetime, std::chrono::seconds(1)))) {}

Engine::~Engine() = default;

std::vector<Output> Engine::take_outputs() {
    return std::exchange(out_, {});
}

std::size_t Engine::ike_sa_count() const {
    return sas_.size();
}

std::size_t Engine::half_open_count() const {
    return std::size_t(
        std::count_if(sas_.begin(), sas_.end(), [](auto& kv) { return kv.second->half_open(); }));
}

const IkeSaState* Engine::find(const IkeSpis& spis) const {
    for (const std::uint64_t s : {spis.spi_i, spis.spi_r}) {
        auto it = sas_.find(s);
        if (it != sas_.end() && it->second->st.spis == spis && !it->second->half_open())
            return &it->second->st;
    }
    return nullptr;
}

Engine::Sa* Engine::find_established(const IkeSpis& spis) {
    for (const std::uint64_t s : {spis.spi_i, spis.spi_r}) {
        auto it = sas_.find(s);
        if (it != sas_.end() && it->second->st.spis == spis && !it->second->half_open())
            return it->second.get();
    }
    return nullptr;
}

std::vector<IkeSpis> Engine::established() const {
    std::vector<IkeSpis> out;
    for (auto& [k, sa] : sas_) {
        if (!sa->half_open()) out.push_back(sa->st.spis);
    }
    std::sort(out.begin(), out.end());
    return out;
}

Status Engine::reconfigure(EngineConfig cfg) {
    for (std::size_t i = 0; i < cfg.connections.size(); ++i) {
        const ConnectionConfig& c = cfg.connections[i];
        if (c.name.empty()) return Error{0, "connection without a name"};
        for (std::size_t j = 0; j < i; ++j) {
            if (cfg.connections[j].name == c.name)
                return Error{0, "connection '" + c.name + "' is defined twice"};
        }
        for (std::size_t k = 0; k < c.children.size(); ++k) {
            for (std::size_t l = 0; l < k; ++l) {
                if (c.children[l].name == c.children[k].name)
                    return Error{0, "connection '" + c.name + "': child '" + c.children[k].name +
                                        "' is defined twice"};
            }
        }
    }
    // Each SA holds the configuration it was set up under, so swapping
    // ours never leaves a dangling pointer in an SA, a queued task or a
    // retransmission schedule.
    cfg_ = std::make_shared<const EngineConfig>(std::move(cfg));
    return Ok{};
}

// ---- timers -----------------------------------------------------------------------

namespace {

// The earliest moment anything about this SA needs attention.
Time sa_deadline(const Engine::Sa& sa) {
    Time t = std::min(sa.rt.deadline(), sa.half_open_deadline);
    if (sa.half_open()) return t;
    t = std::min({t, sa.st.rekey_at, sa.st.expire_at, sa.retry_at, sa.await_sync_until});
    for (const ChildSaState& c : sa.st.children)
        t = std::min({t, c.rekey_at, c.expire_at});
    if (sa.conn && sa.conn->dpd_delay.count() > 0 && !sa.inflight && !sa.rt.active() &&
        sa.tasks.empty() && !sa.rekeyed)
        t = std::min(t, sa.last_inbound + sa.conn->dpd_delay);
    return t;
}

}  // namespace

void Engine::reschedule() {
    for (std::uint64_t spi : dirty_) {
        auto it = sas_.find(spi);
        if (it == sas_.end()) continue;
        Sa& sa = *it->second;
        Time t = sa_deadline(sa);
        if (t == sa.scheduled) continue;
        if (sa.scheduled != Time::max()) timers_.erase({sa.scheduled, spi});
        sa.scheduled = t;
        if (t != Time::max()) timers_.insert({t, spi});
    }
    dirty_.clear();
}

Time Engine::next_deadline() const {
    return timers_.empty() ? Time::max() : timers_.begin()->first;
}

void Engine::on_timer(Time now) {
    // Collect first: servicing may create (IKE rekey) or remove SAs.
    std::vector<std::uint64_t> due;
    for (auto it = timers_.begin(); it != timers_.end() && it->first <= now; ++it)
        due.push_back(it->second);
    for (std::uint64_t spi : due) {
        auto it = sas_.find(spi);
        if (it == sas_.end()) continue;
        touch(*it->second);
        service(now, *it->second);
    }
    reschedule();
}

// ---- sending ----------------------------------------------------------------------

void Engine::send(const Sa& sa, const Bytes& message) {
    Bytes data = sa.st.local.port == kNattPort ? wire::with_non_esp_marker(message) : message;
    emit(SendDatagram{sa.st.local, sa.st.remote, std::move(data)});
}

void Engine::send_request(Time now, Sa& sa, Bytes message) {
    std::uint32_t id = sa.st.msgids.next_request_out;
    send(sa, message);
    sa.rt.start(now, id, {std::move(message)});
}

void Engine::send_response(Time, Sa& sa, std::uint32_t message_id, Bytes message) {
    send(sa, message);
    // §2.1: keep the response so a retransmitted request gets it again.
    sa.st.msgids.last_response_id = message_id;
    sa.st.msgids.last_response = {std::move(message)};
}

void Engine::msgids_advanced(Sa& sa) {
    if (!sa.half_open()) emit(Event{IkeMessageIdsAdvanced{sa.st.spis, sa.st.msgids}});
}

void Engine::touch(Sa& sa) {
    dirty_.push_back(sa.our_spi);
}

namespace {
std::string identity_key(const IkeSaState& st) {
    std::string k = st.config_name;
    k.push_back('\0');
    k.push_back(char(st.remote_id.type));
    k.append(st.remote_id.data.begin(), st.remote_id.data.end());
    return k;
}
}  // namespace

void Engine::index_identity(Sa& sa) {
    by_identity_.emplace(identity_key(sa.st), sa.our_spi);
}

void Engine::unindex_identity(Sa& sa) {
    auto [b, e] = by_identity_.equal_range(identity_key(sa.st));
    for (auto it = b; it != e; ++it) {
        if (it->second == sa.our_spi) {
            by_identity_.erase(it);
            return;
        }
    }
}

void Engine::initial_contact(const Sa& sa) {
    // §2.4 INITIAL_CONTACT: the peer has no other IKE SA with us, so any we
    // hold for the same authenticated identity is stale. Remove them without
    // a Delete (the peer would not know what it refers to).
    std::vector<std::uint64_t> stale;
    auto [b, e] = by_identity_.equal_range(identity_key(sa.st));
    for (auto it = b; it != e; ++it) {
        if (it->second != sa.our_spi) stale.push_back(it->second);
    }
    for (std::uint64_t spi : stale) {
        auto it = sas_.find(spi);
        if (it != sas_.end()) remove(*it->second, DeleteReason::REPLACED, false);
    }
}

// ---- removal ----------------------------------------------------------------------

void Engine::leave_half_open(Sa& sa) {
    if (sa.st.initiator || !sa.half_open()) return;
    --half_open_responder_;
    auto it = half_open_per_peer_.find(sa.counted_addr);
    if (it != half_open_per_peer_.end() && --it->second == 0) half_open_per_peer_.erase(it);
}

void Engine::remove(Sa& sa, DeleteReason reason, bool announce) {
    const bool was_established = sa.phase == Sa::Phase::ESTABLISHED;
    const IkeSpis spis = sa.st.spis;
    unlink(sa);  // RemoveChildSa for the children first, then the event
    if (was_established || announce) emit(Event{IkeSaDeleted{spis, reason}});
}

void Engine::unlink(Sa& sa) {
    const bool was_established = sa.phase == Sa::Phase::ESTABLISHED;
    leave_half_open(sa);
    for (const ChildSaState& ch : sa.st.children)
        emit(RemoveChildSa{sa.st.spis, ch.spi_in, ch.spi_out});
    if (was_established) unindex_identity(sa);
    if (auto it = half_open_by_spi_i_.find(sa.st.spis.spi_i);
        it != half_open_by_spi_i_.end() && it->second == sa.our_spi) {
        half_open_by_spi_i_.erase(it);
    }
    if (sa.scheduled != Time::max()) timers_.erase({sa.scheduled, sa.our_spi});
    sas_.erase(sa.our_spi);  // destroys `sa`
}

// ---- cluster takeover -------------------------------------------------------------

Status Engine::import_ike_sa(Time now, const IkeSaState& st,
                             std::span<const ChildCounters> counters, bool await_peer_sync) {
    // Everything is checked before anything changes: a failed import leaves
    // the engine as it was.
    const ConnectionConfig* conn = nullptr;
    for (const auto& c : cfg_->connections) {
        if (c.name == st.config_name) conn = &c;
    }
    if (!conn) return Error{0, "no connection named '" + st.config_name + "'"};
    if (st.spis.spi_i == 0 || st.spis.spi_r == 0)
        return Error{0, "an established IKE SA has two non-zero SPIs"};
    const std::uint64_t ours = st.initiator ? st.spis.spi_i : st.spis.spi_r;
    if (sas_.count(ours)) return Error{0, "IKE SPI " + std::to_string(ours) + " is already in use"};
    if (auto ok = crypto::check_suite(ike_cipher_suite(st.suite), true); !ok.ok())
        return Error{0, "IKE suite: " + ok.error().what};
    // SK_d keys every Child SA and the next IKE SA (§2.17, §2.18); SK_p
    // is not used after IKE_AUTH and is only carried along.
    if (st.keys.sk_d.size() != crypto::prf_key_size(st.suite.prf))
        return Error{0, "SK_d does not fit the PRF"};
    const IkeKeys& k = st.keys;
    const auto& s = st.suite;
    // The original initiator sends with SK_ei/SK_ai (§2.14).
    auto out = crypto::SkCipher::create(s.encr.id, s.encr.key_bits, s.integ,
                                        st.initiator ? k.sk_ei : k.sk_er,
                                        st.initiator ? k.sk_ai : k.sk_ar);
    if (!out) return Error{0, "IKE SA keys do not fit the suite: " + out.error().what};
    auto in = crypto::SkCipher::create(s.encr.id, s.encr.key_bits, s.integ,
                                       st.initiator ? k.sk_er : k.sk_ei,
                                       st.initiator ? k.sk_ar : k.sk_ai);
    if (!in) return Error{0, "IKE SA keys do not fit the suite: " + in.error().what};

    auto sa = std::make_unique<Sa>(cfg_);
    sa->st = st;
    sa->conn = conn;
    sa->our_spi = ours;
    sa->phase = Sa::Phase::ESTABLISHED;
    sa->out = std::move(*out);
    sa->in = std::move(*in);
    // The peer may have been silent for a while before the failover; give
    // it a full DPD interval from now rather than probing at once.
    sa->last_inbound = now;
    sa->imported.assign(counters.begin(), counters.end());
    if (await_peer_sync) {
        sa->awaiting_sync = true;
        sa->resyncing = true;
        sa->await_sync_until = now + 10s;
    }
    Sa& ref = *sa;
    sas_[ours] = std::move(sa);
    index_identity(ref);
    touch(ref);
    for (const ChildSaState& ch : ref.st.children) {
        InstallChildSa ins{ref.st.spis, ch, ref.st.local, ref.st.remote, ref.st.encap};
        for (const ChildCounters& c : counters) {
            if (c.spi_in != ch.spi_in) continue;
            ins.out_next_seq = c.out_next_seq;
            ins.in_highest = c.in_highest;
        }
        emit(std::move(ins));
    }
    reschedule();
    return Ok{};
}

void Engine::forget_all() {
    std::vector<std::uint64_t> all;
    all.reserve(sas_.size());
    for (auto& [spi, sa] : sas_)
        all.push_back(spi);
    for (std::uint64_t spi : all) {
        auto it = sas_.find(spi);
        if (it != sas_.end()) unlink(*it->second);
    }
    dirty_.clear();
}

Status Engine::forget(const IkeSpis& spis) {
    for (const std::uint64_t s : {spis.spi_i, spis.spi_r}) {
        auto it = sas_.find(s);
        if (it != sas_.end() && it->second->st.spis == spis) {
            unlink(*it->second);
            reschedule();
            return Ok{};
        }
    }
    return Error{0, "no IKE SA with those SPIs"};
}

// ---- RFC 7296 §2.21.4: unknown IKE SPIs --------------------------------------------

void Engine::answer_unknown_ike_spi(Time now, const Endpoint& local, const Endpoint& remote,
                                    const wire::Header& h) {
    // Bounded: a spoofed flood makes us send at most this many small,
    // unamplified answers a second.
    constexpr int kPerSecond = 1000;
    if (now - invalid_ike_spi_window_ >= 1s) {
        invalid_ike_spi_window_ = now;
        invalid_ike_spi_sent_ = 0;
    }
    if (++invalid_ike_spi_sent_ > kPerSecond) return;
    // Same SPIs and Message ID, response flag, not protected (§2.21.4); we
    // answer as the other role of the exchange.
    Message m = plain_message(IkeSpis{h.spi_i, h.spi_r}, !h.from_initiator(), true,
                              ExchangeType::INFORMATIONAL, h.message_id);
    m.payloads.push_back(wire::notify(NotifyType::INVALID_IKE_SPI));
    Bytes data = wire::encode_message(m);
    if (local.port == kNattPort) data = wire::with_non_esp_marker(data);
    emit(SendDatagram{local, remote, std::move(data)});
    ++stats_.invalid_ike_spi_sent;
}

bool Engine::on_invalid_ike_spi_hint(Time now, Sa& sa, BytesView dgram) {
    // §2.21.4: an unprotected INVALID_IKE_SPI answering our request. It
    // may be forged, so it MUST NOT change the SA; it is a hint to check
    // liveness. Our outstanding request is that check: retransmit it soon
    // and only twice more, so an SA the peer really lost (a cluster member
    // took over without it) goes within seconds instead of minutes, while
    // a live peer answers and nothing happens.
    auto m = wire::decode_message(dgram);
    if (!m || m->payloads.empty()) return false;
    const auto* n = m->payloads.front().as<wire::NotifyPayload>();
    if (!n || n->type != std::uint16_t(NotifyType::INVALID_IKE_SPI)) return false;
    ++stats_.invalid_ike_spi_hints;
    sa.rt.hurry(now, 2, 1s);
    touch(sa);
    return true;
}

// ---- receiving --------------------------------------------------------------------

void Engine::receive(Time now, const Endpoint& local, const Endpoint& remote, BytesView dgram) {
    ++stats_.datagrams_in;
    // Whatever happens below, deadlines of the SAs it touched are brought
    // up to date on the way out.
    struct Flush {
        Engine* e;
        ~Flush() { e->reschedule(); }
    } flush{this};
    if (local.port == kNattPort) {
        auto c = wire::classify_udp_encap(dgram);
        if (!c || c->kind != wire::UdpEncapKind::IKE) return;  // keepalive or ESP: not ours
        dgram = c->payload;
    }
    if (dgram.size() > cfg_->max_message_size) return drop();
    auto h = wire::decode_header(dgram);
    if (!h || h->major_version != 2) return drop();
    if (h->exchange_type() == ExchangeType::IKE_SA_INIT && !h->is_response()) {
        on_init_request(now, local, remote, dgram);
        return;
    }
    // The SPI we chose is the responder SPI when the sender is the original
    // initiator (I flag set), the initiator SPI otherwise (§3.1).
    std::uint64_t ours = h->from_initiator() ? h->spi_r : h->spi_i;
    auto it = sas_.find(ours);
    if (it == sas_.end()) {
        // §2.21.4: a request on an IKE SA we do not know (we restarted, or
        // took over without it) may get an unprotected INVALID_IKE_SPI so
        // the peer can start over soon; a response never gets an answer.
        // Only when neither SPI is one of ours (a message with our roles
        // reflected is not about an SA we lost), and not while this member
        // is not serving (set_unknown_spi_answers).
        if (!h->is_response() && unknown_spi_answers_ && now >= unknown_spi_from_ &&
            h->spi_r != 0 && !sas_.count(h->spi_i) && !sas_.count(h->spi_r))
            answer_unknown_ike_spi(now, local, remote, *h);
        return drop();
    }
    Sa& sa = *it->second;
    if (h->from_initiator() == sa.st.initiator) return drop();  // our own role reflected back
    touch(sa);
    if (h->is_response()) {
        if (!sa.rt.active() || h->message_id != sa.rt.message_id()) return drop();
        if (sa.phase == Sa::Phase::INIT_SENT && h->exchange_type() == ExchangeType::IKE_SA_INIT) {
            on_init_response(now, sa, dgram);
            return;
        }
        if (sa.st.spis.spi_r != h->spi_r) return drop();
        if (sa.phase == Sa::Phase::AUTH_SENT && h->exchange_type() == ExchangeType::IKE_AUTH) {
            on_auth_response(now, sa, dgram);
            return;
        }
        if (sa.phase != Sa::Phase::ESTABLISHED || !sa.inflight) return drop();
        auto m = wire::decode_message(dgram);
        if (!m) return drop();
        auto inner = open_message(sa, dgram, *m);
        if (!inner) {
            if (on_invalid_ike_spi_hint(now, sa, dgram)) return;
            return drop();  // forged or corrupted: keep waiting (§2.21.2)
        }
        sa.last_inbound = now;
        on_response(now, sa, *m, std::move(*inner));
        return;
    }
    // A request from the peer: §2.3 window of 1.
    if (sa.st.spis.spi_i != h->spi_i) return drop();
    if (h->message_id == 0 && h->exchange_type() == ExchangeType::INFORMATIONAL &&
        sa.phase == Sa::Phase::ESTABLISHED) {
        // RFC 6311 §5.1: a message-ID sync reuses Message ID 0 outside the
        // window, so it is told apart by its content, before the window
        // rules (which could take it for a retransmission) apply.
        auto m = wire::decode_message(dgram);
        if (!m) return drop();
        auto inner = open_message(sa, dgram, *m);
        if (!inner) return drop();
        if (on_peer_sync_request(now, sa, dgram, *m, *inner)) return;
        if (h->message_id == sa.st.msgids.next_request_in) {
            // An ordinary request that happens to carry ID 0 (the original
            // responder's first): already opened, so not twice.
            sa.last_inbound = now;
            on_request(now, sa, dgram, *m, std::move(*inner));
            return;
        }
    }
    std::uint32_t expected = sa.st.msgids.next_request_in;
    if (h->message_id + 1 == expected && !sa.st.msgids.last_response.empty() &&
        sa.st.msgids.last_response_id == h->message_id) {
        // A retransmission. §2.1: answer it with the same response, which we
        // cached; it is not processed again. (Comparing only the ID is what
        // §2.1 asks for; a forged copy costs us one resend, never state.)
        for (const Bytes& d : sa.st.msgids.last_response)
            send(sa, d);
        ++stats_.responses_resent;
        return;
    }
    const bool ahead = sa.one_ahead && h->message_id == expected + 1;
    if (h->message_id != expected && !ahead && !accepts_forward_jump(sa, h->message_id))
        return drop();
    if (sa.phase == Sa::Phase::INIT_DONE && h->exchange_type() == ExchangeType::IKE_AUTH) {
        on_auth_request(now, sa, local, remote, dgram);
        return;
    }
    if (sa.phase != Sa::Phase::ESTABLISHED) return drop();
    auto m = wire::decode_message(dgram);
    if (!m) return drop();
    bool authentic = false;
    auto inner = open_message(sa, dgram, *m, &authentic);
    if (!inner && authentic && h->message_id == expected) {
        // Authentic, in the window, but the inner payloads do not parse:
        // §3.10.1 INVALID_SYNTAX (allowed because the Message ID and ICV
        // were valid), and the message ID is used (§2.21.2).
        sa.last_inbound = now;
        std::vector<Payload> reply{wire::notify(NotifyType::INVALID_SYNTAX)};
        const std::uint32_t id = h->message_id;
        sa.st.msgids.next_request_in = id + 1;
        sa.one_ahead = false;
        send_response(now, sa, id, seal_message(sa, h->exchange_type(), true, id, reply, rng_));
        msgids_advanced(sa);
        start_next(now, sa);
        return;
    }
    if (!inner) return drop();
    sa.last_inbound = now;
    on_request(now, sa, dgram, *m, std::move(*inner));
}

}  // namespace ikecluster::ike
