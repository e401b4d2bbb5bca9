// The IKEv2 engine: every IKE SA of one gateway, with no I/O of its own.
//
// Inputs: datagrams (as received on UDP 500/4500), timer expiries and
// commands, each with `now`. Outputs, collected with take_outputs(): datagrams
// to send, data-plane commands (install/remove a Child SA) and state events
// (state.h) -- the cluster layer replicates from those events alone. The next
// deadline is next_deadline(); call on_timer() when it passes.
//
// Exchanges: IKE_SA_INIT (proposal choice, INVALID_KE_PAYLOAD and the retry
// with the requested group, COOKIE above a half-open threshold, NAT detection
// and the move to port 4500); IKE_AUTH with PSK and the first Child SA (TS
// narrowing, TS_UNACCEPTABLE, NO_PROPOSAL_CHOSEN, AUTHENTICATION_FAILED,
// INITIAL_CONTACT, RFC 6311 announcements recorded); CREATE_CHILD_SA (new
// Child SA, Child SA and IKE SA rekey, PFS, the §2.8.1 collisions, rekey
// racing a delete); INFORMATIONAL (Delete, liveness checks, INVALID_SPI).
// Message-ID windows of 1 with cached responses, retransmission with
// backoff and give-up, soft and hard lifetimes with jitter.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/net.h"
#include "base/result.h"
#include "base/time.h"
#include "crypto/random.h"
#include "ike/config.h"
#include "ike/cookie.h"
#include "ike/state.h"
#include "wire/message.h"

namespace ikecluster::ike {

struct Inflight;
struct Task;

// A datagram for the shell to send from `local` to `remote`; on port 4500 it
// already starts with the non-ESP marker (RFC 3948 §2.2).
struct SendDatagram {
    Endpoint local;
    Endpoint remote;
    Bytes data;
};
struct InstallChildSa {
    IkeSpis ike;
    ChildSaState child;
    Endpoint local;
    Endpoint remote;
    bool encap = false;  // ESP-in-UDP (RFC 3948) rather than raw ESP
    // Where the data plane starts the SA's counters: a fresh SA keeps these
    // defaults; an imported one (Engine::import_ike_sa) carries on from the
    // counters the cluster replicated.
    std::uint64_t out_next_seq = 1;
    std::uint64_t in_highest = 0;
};
struct RemoveChildSa {
    IkeSpis ike;
    std::uint32_t spi_in = 0;
    std::uint32_t spi_out = 0;
};
// RFC 6311 moves a Child SA's counters on an installed SA (both directions
// of one SA, by SPI):
//  - out_advance: add this to the next outbound sequence number. The peer
//    side of an IPSEC_REPLAY_COUNTER_SYNC (§5.2): the cluster asked us to
//    jump past anything its possibly stale inbound window could accept.
//  - in_floor: from now on every inbound number <= in_floor counts as
//    received (esp::ReplayWindow::raise_highest). The cluster side, once
//    the peer confirmed it applied our delta.
// Either may be 0 (no change). Counters never move backwards.
struct AdjustChildCounters {
    IkeSpis ike;
    std::uint32_t spi_in = 0;
    std::uint32_t spi_out = 0;
    std::uint64_t out_advance = 0;
    std::uint64_t in_floor = 0;
};
using Output =
    std::variant<SendDatagram, InstallChildSa, RemoveChildSa, Event, AdjustChildCounters>;

// What a member that took over an IKE SA asks the peer (RFC 6311):
//  - msgid_jump: M1 = our replicated next request ID + msgid_jump, so the
//    sync is not mistaken for something the failed member already sent
//    (the peer silently drops an M1 it has seen, §5.1); the peer answers
//    with at least M1.
//  - replay_delta: if the peer announced IPSEC_REPLAY_COUNTER_SYNC, ask it
//    to add this to its outbound counters of every Child SA of the IKE SA;
//    once it answers, our inbound windows refuse everything up to the
//    replicated high-water mark + delta (AdjustChildCounters::in_floor), so
//    nothing the failed member received can be replayed to us. 0 = do not ask.
struct PeerSyncRequest {
    std::uint32_t msgid_jump = 64;
    std::uint64_t replay_delta = 0;
};

// Where SPIs come from. The cluster replaces it so members allocate from
// disjoint spaces (RFC 6027 §3.9); the default draws from the Random.
class SpiAllocator {
  public:
    virtual ~SpiAllocator() = default;
    virtual std::uint64_t ike_spi() = 0;    // never 0
    virtual std::uint32_t child_spi() = 0;  // never < 256 (RFC 4303 §2.1)
};

struct IpHash {
    std::size_t operator()(const IpAddress& a) const noexcept {
        std::size_t h = 1469598103934665603ull;
        for (std::uint8_t b : a.bytes())
            h = (h ^ b) * 1099511628211ull;
        return h;
    }
};

struct EngineStats {
    std::uint64_t datagrams_in = 0;
    std::uint64_t dropped = 0;  // malformed, unknown SA, out of window, failed ICV
    std::uint64_t retransmits_sent = 0;
    std::uint64_t responses_resent = 0;
    std::uint64_t established = 0;
    std::uint64_t auth_failures = 0;
    std::uint64_t cookies_sent = 0;
    std::uint64_t child_sas_created = 0;  // after IKE_AUTH: CREATE_CHILD_SA, new or rekey
    std::uint64_t ike_rekeys = 0;
    std::uint64_t rekey_collisions = 0;  // §2.8.1, child and IKE
    std::uint64_t deletes_received = 0;
    std::uint64_t liveness_checks = 0;
    // RFC 6311
    std::uint64_t peer_syncs_started = 0;    // as the cluster: sync requests begun
    std::uint64_t peer_syncs_completed = 0;  // ... answered with our nonce
    std::uint64_t peer_syncs_answered = 0;   // as the peer: syncs we applied and answered
    std::uint64_t peer_syncs_dropped = 0;    // stale, not negotiated, malformed, bad nonce
    std::uint64_t peer_syncs_skipped = 0;    // message-ID sync the peer could not answer
    std::uint64_t replay_syncs_applied = 0;  // as the peer: deltas added to our counters
    // RFC 7296 §2.21.4
    std::uint64_t invalid_ike_spi_sent = 0;   // answers to requests on unknown IKE SPIs
    std::uint64_t invalid_ike_spi_hints = 0;  // such answers received for our SAs
    std::uint64_t children_recreated = 0;     // after INVALID_SPI took a child we want
};

class Engine {
  public:
    Engine(EngineConfig cfg, crypto::Random& rng, SpiAllocator* spis = nullptr);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // One received datagram. `local.port` tells whether it came in on the
    // NAT-T port (then it must carry the non-ESP marker; ESP packets belong to
    // the data plane and are ignored here).
    void receive(Time now, const Endpoint& local, const Endpoint& remote, BytesView datagram);
    void on_timer(Time now);
    Time next_deadline() const;

    // Starts an IKE SA (and its first Child SA) for a configured connection.
    // Errors: unknown connection, no remote address, no child configured.
    Result<IkeSpis> initiate(Time now, std::string_view connection);

    // Commands on an established IKE SA. Each queues an exchange (window 1,
    // §2.3: it starts when the SA has no other request outstanding). Errors:
    // no such established SA, no such child / child config, or the SA is
    // being deleted or was replaced by a rekey.
    Status create_child(Time now, const IkeSpis& spis, std::string_view child_config);
    Status rekey_child(Time now, const IkeSpis& spis, std::uint32_t spi_in);
    Status rekey_ike(Time now, const IkeSpis& spis);
    Status delete_child(Time now, const IkeSpis& spis, std::uint32_t spi_in);
    Status delete_ike(Time now, const IkeSpis& spis);  // terminate: Delete, then gone
    Status check_liveness(Time now, const IkeSpis& spis);

    // The data plane received ESP on an SPI it has no SA for, from `remote`.
    // If we have an IKE SA with that peer, it tells the peer (INVALID_SPI in
    // an INFORMATIONAL, §1.5 / §3.10.1), at most once per second per IKE SA
    // so spoofed ESP cannot make us flood.
    void report_invalid_spi(Time now, const IpAddress& remote, std::uint32_t spi);

    // The data plane saw authentic ESP from the peer of this IKE SA: proof
    // of life, so no liveness check is due (§2.4). Cheap; call it at most
    // every few seconds per SA.
    void note_inbound_traffic(Time now, const IkeSpis& spis);

    // ---- cluster takeover (RFC 6027 §3) ----
    // Makes an established IKE SA from replicated state, so this engine
    // carries on exactly where another member left off and the peer notices
    // nothing: our SPI, SK_* ciphers, message IDs and the cached last
    // response (a retransmitted request is answered from it, §2.1), the
    // lifetimes and children as given; the connection and child configs
    // are looked up by name in the current configuration. The liveness
    // schedule restarts from `now`; no task is queued. Emits InstallChildSa
    // for every child (with its entry of `counters`, matched by spi_in;
    // defaults if none) and nothing else: no datagram, no state event (the
    // cluster already holds this state). Errors (nothing changes): no such
    // connection, zero SPIs, our SPI already in use, keys that do not fit
    // the suite.
    //
    // await_peer_sync: the cluster will call sync_with_peer() for this SA
    // soon (it paces syncs after a takeover). Until then the SA starts no
    // exchange of its own (its next request ID may be stale), and until the
    // sync completes it accepts the peer's requests with IDs ahead of the
    // one it expects (authenticated, within a bound): the failed member may
    // have answered requests whose update never reached us. Without a sync
    // call the hold ends after 10 s.
    Status import_ike_sa(Time now, const IkeSaState& st,
                         std::span<const ChildCounters> counters = {},
                         bool await_peer_sync = false);

    // RFC 6311: resynchronise an established IKE SA with its peer after a
    // takeover: an INFORMATIONAL with Message ID 0 carrying
    // IKEV2_MESSAGE_ID_SYNC (if both sides announced it) and
    // IPSEC_REPLAY_COUNTER_SYNC (if both announced it and
    // r.replay_delta > 0). If only replay-counter sync was negotiated, the
    // delta goes in an ordinary INFORMATIONAL. It goes before any other
    // exchange of the SA, is retransmitted like any request, and when the
    // peer never answers the IKE SA goes as on any unanswered request
    // (§2.4). Errors: no such established SA, or the peer announced
    // neither extension (then nothing changes and the SA is released from
    // await_peer_sync).
    Status sync_with_peer(Time now, const IkeSpis& spis, const PeerSyncRequest& r);
    // Drop SAs silently: a member that is no longer active hands them back.
    // RemoveChildSa for each child, so the data plane stops using them, and
    // nothing else: no Delete to the peer, no datagram, no state event.
    // forget_all() drops half-open SAs too. forget(): error if there is no
    // IKE SA with those SPIs.
    void forget_all();
    Status forget(const IkeSpis& spis);

    std::vector<Output> take_outputs();

    // RFC 7296 §2.21.4: answer requests on IKE SPIs we do not know with an
    // unprotected INVALID_IKE_SPI (on by default). A cluster member that is
    // not active turns it off: a peer whose traffic still reaches it (a
    // stale ARP cache, a split brain) must not be told its SA is gone when
    // the active member has it.
    // `from`: answer only from then on. A member that takes over without a
    // synced replica waits: an active member it cannot hear yet may hold
    // the SAs, and telling their peers the SAs are gone would cut them.
    void set_unknown_spi_answers(bool on, Time from = Time{}) {
        unknown_spi_answers_ = on;
        unknown_spi_from_ = from;
    }

    std::size_t ike_sa_count() const;
    std::size_t half_open_count() const;
    // The replicable state of an established IKE SA, or nullptr.
    const IkeSaState* find(const IkeSpis& spis) const;
    std::vector<IkeSpis> established() const;
    const EngineStats& stats() const { return stats_; }
    // The §2.6 cookie secrets, so cluster members hand out and accept the
    // same cookies (a retried IKE_SA_INIT may reach another member).
    CookieSecrets cookie_secrets() const { return cookies_->export_secrets(); }
    Status import_cookie_secrets(const CookieSecrets& s) { return cookies_->import_secrets(s); }
    const EngineConfig& config() const { return *cfg_; }
    // A configuration reload. New IKE SAs (either role) use `cfg` at once;
    // established and half-open SAs keep the settings they were set up with
    // (lifetimes, proposals for their rekeys, PSK, DPD) until they are
    // replaced, as a gateway operator expects from a reload that must not
    // drop tunnels. SAs of connections that `cfg` no longer has are left up:
    // terminate them with delete_ike(). Errors (nothing changes): duplicate
    // connection names, duplicate child names within a connection.
    Status reconfigure(EngineConfig cfg);

    struct Sa;  // per-IKE-SA working state (engine_internal.h)

  private:
    void emit(Output o) { out_.push_back(std::move(o)); }
    void send(const Sa& sa, const Bytes& message);
    void drop() { ++stats_.dropped; }

    // handshake.cpp
    void on_init_request(Time now, const Endpoint& local, const Endpoint& remote, BytesView dgram);
    void on_init_response(Time now, Sa& sa, BytesView dgram);
    void on_auth_request(Time now, Sa& sa, const Endpoint& local, const Endpoint& remote,
                         BytesView dgram);
    void on_auth_response(Time now, Sa& sa, BytesView dgram);
    void start_init(Time now, Sa& sa);
    void send_auth_request(Time now, Sa& sa);
    void established(Time now, Sa& sa);
    void initial_contact(const Sa& sa);

    // exchanges.cpp
    void on_request(Time now, Sa& sa, BytesView dgram, const wire::Message& m,
                    std::vector<wire::Payload> inner);
    void on_response(Time now, Sa& sa, const wire::Message& m, std::vector<wire::Payload> inner);
    void on_create_child_request(Time now, Sa& sa, const std::vector<wire::Payload>& in,
                                 std::vector<wire::Payload>& reply);
    void on_ike_rekey_request(Time now, Sa& sa, const std::vector<wire::Payload>& in,
                              std::vector<wire::Payload>& reply);
    // Returns true when the peer deleted the IKE SA.
    bool on_informational_request(Time now, Sa& sa, const std::vector<wire::Payload>& in,
                                  std::vector<wire::Payload>& reply);
    void on_create_child_response(Time now, Sa& sa, Inflight& fl,
                                  const std::vector<wire::Payload>& in);
    void on_ike_rekey_response(Time now, Sa& sa, Inflight& fl,
                               const std::vector<wire::Payload>& in);
    void on_informational_response(Time now, Sa& sa, Inflight& fl,
                                   const std::vector<wire::Payload>& in);
    // ha_sync.cpp (RFC 6311)
    void send_peer_sync(Time now, Sa& sa, Inflight fl);
    // True when `dgram` was a message-ID sync request (handled, or dropped).
    bool on_peer_sync_request(Time now, Sa& sa, BytesView dgram, const wire::Message& m,
                              const std::vector<wire::Payload>& inner);
    void on_peer_sync_response(Time now, Sa& sa, const wire::Message& m,
                               const std::vector<wire::Payload>& inner);
    void apply_replay_sync(Sa& sa, const std::vector<wire::Payload>& inner);
    void raise_inbound_floors(Sa& sa, std::uint64_t delta);
    bool accepts_forward_jump(const Sa& sa, std::uint32_t id) const;
    // After INVALID_SPI took a child: a new one if we want it up.
    void recreate_if_wanted(Sa& sa, const std::string& child_config, std::uint32_t gone);
    void queue(Sa& sa, Task t, bool front = false);
    Status submit(Time now, Sa& sa, Task t);
    void start_next(Time now, Sa& sa);
    void send_task(Time now, Sa& sa, Inflight fl);
    void retry_later(Time now, Sa& sa, Task t);
    void service(Time now, Sa& sa);
    Sa* adopt_ike_rekey(Time now, Sa& old, const IkeSuite& suite, std::uint64_t spi_i,
                        std::uint64_t spi_r, bool we_initiated, BytesView secret, BytesView ni,
                        BytesView nr);
    void move_children(Time now, Sa& from, Sa& to);
    void remove_child(Sa& sa, std::uint32_t spi_in);
    Sa* find_established(const IkeSpis& spis);

    // engine.cpp
    void send_request(Time now, Sa& sa, Bytes message);
    void send_response(Time now, Sa& sa, std::uint32_t message_id, Bytes message);
    void msgids_advanced(Sa& sa);
    void remove(Sa& sa, DeleteReason reason, bool announce);
    void unlink(Sa& sa);  // remove() without the Delete event
    void leave_half_open(Sa& sa);
    void touch(Sa& sa);
    void index_identity(Sa& sa);
    void unindex_identity(Sa& sa);
    void reschedule();

    std::shared_ptr<const EngineConfig> cfg_;
    crypto::Random& rng_;
    std::unique_ptr<SpiAllocator> own_spis_;
    SpiAllocator* spis_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Sa>> sas_;  // by our SPI
    // Responder half-open SAs by the initiator's SPI, for retransmitted IKE_SA_INIT.
    std::unordered_map<std::uint64_t, std::uint64_t> half_open_by_spi_i_;
    // Responder half-open SAs, counted as they come and go so that admitting
    // an IKE_SA_INIT costs O(1) however many SAs exist.
    std::size_t half_open_responder_ = 0;
    std::unordered_map<IpAddress, std::size_t, IpHash> half_open_per_peer_;
    std::vector<Output> out_;
    EngineStats stats_;
    // Deadlines: each SA's earliest one, so next_deadline() is O(1) and
    // on_timer() visits only SAs that are due.
    std::set<std::pair<Time, std::uint64_t>> timers_;
    std::vector<std::uint64_t> dirty_;  // SAs whose deadline may have moved
    // Established SAs by connection + peer identity, for INITIAL_CONTACT (§2.4).
    std::unordered_multimap<std::string, std::uint64_t> by_identity_;
    std::unique_ptr<CookieJar> cookies_;
    Time invalid_spi_window_{};
    int invalid_spi_scans_ = 0;
    bool unknown_spi_answers_ = true;
    Time unknown_spi_from_{};
    Time invalid_ike_spi_window_{};
    int invalid_ike_spi_sent_ = 0;
    void answer_unknown_ike_spi(Time now, const Endpoint& local, const Endpoint& remote,
                                const wire::Header& h);
    bool on_invalid_ike_spi_hint(Time now, Sa& sa, BytesView dgram);
};

}  // namespace ikecluster::ike
