// Shared between the engine's translation units (engine.cpp: dispatch,
// timers, common plumbing; handshake.cpp: IKE_SA_INIT and IKE_AUTH;
// exchanges.cpp: CREATE_CHILD_SA and INFORMATIONAL). Not part of the API.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "crypto/dh.h"
#include "crypto/random.h"
#include "crypto/sk_cipher.h"
#include "ike/engine.h"
#include "ike/retransmit.h"
#include "wire/message.h"
#include "wire/notify.h"

namespace ikecluster::ike {

inline constexpr std::uint16_t kNattPort = 4500;
inline constexpr std::size_t kNonceSize = 32;

// Work an IKE SA has to do as the initiator of an exchange. Window 1
// (§2.3): one exchange at a time, the rest waits in Sa::tasks.
enum class TaskKind : std::uint8_t {
    CREATE_CHILD,  // `cfg`
    REKEY_CHILD,   // `spi` = our inbound SPI of the child
    REKEY_IKE,
    DELETE_CHILD,  // `spi`
    DELETE_IKE,
    DPD,          // empty INFORMATIONAL (§2.4 liveness check)
    INVALID_SPI,  // tell the peer about ESP it sent on an SPI we do not know; `spi`
    PEER_SYNC,    // RFC 6311 after a takeover (Sa::sync_req)
};

struct Task {
    TaskKind kind = TaskKind::DPD;
    std::uint32_t spi = 0;
    const ChildConfig* cfg = nullptr;
    friend bool operator==(const Task& a, const Task& b) {
        return a.kind == b.kind && a.spi == b.spi && a.cfg == b.cfg;
    }
};

// The CREATE_CHILD_SA or INFORMATIONAL exchange we initiated and await the
// response to.
struct Inflight {
    Task task;
    Bytes nonce;                              // our Ni (CREATE_CHILD_SA)
    std::unique_ptr<crypto::KeyExchange> kx;  // PFS / IKE rekey
    DhId group = DhId::NONE;
    std::uint32_t new_spi_in = 0;   // child: the SPI we offered
    std::uint64_t new_ike_spi = 0;  // IKE rekey: the SPI we offered
    int ke_retries = 0;
    // PEER_SYNC: what we sent (§5.1: the response must echo the nonce).
    bool sync_msgid = false;  // Message ID 0 with IKEV2_MESSAGE_ID_SYNC
    std::uint32_t sync_nonce = 0, sync_m1 = 0, sync_p1 = 0;
    std::uint64_t sync_delta = 0;  // IPSEC_REPLAY_COUNTER_SYNC sent with this delta
};

// A rekey the peer completed (we answered it) on something we were
// rekeying ourselves at the time: kept until our own exchange finishes so
// the §2.8.1 nonce comparison can decide which new SA survives.
struct PeerRekey {
    std::uint32_t old_spi_in = 0;   // child rekeys: which child
    std::uint32_t new_spi_in = 0;   // child rekeys: the SA we created answering
    std::uint64_t new_ike_spi = 0;  // IKE rekeys: our SPI of the new IKE SA
    Bytes ni, nr;
};

// Per-IKE-SA working state: the replicable part (st) plus what only the
// engine needs.
struct Engine::Sa {
    IkeSaState st;
    // The configuration this SA was set up under; `conn`, `child_cfg`, queued
    // tasks and the retransmission schedule point into it (Engine::reconfigure).
    std::shared_ptr<const EngineConfig> config;
    enum class Phase { INIT_SENT, INIT_DONE, AUTH_SENT, ESTABLISHED } phase = Phase::INIT_SENT;
    const ConnectionConfig* conn = nullptr;
    std::uint64_t our_spi = 0;
    // handshake
    std::unique_ptr<crypto::KeyExchange> kx;
    DhId group = DhId::NONE;
    Bytes ni, nr;
    Bytes init_request, init_response;  // RealMessage1/2 for AUTH (§2.15)
    Bytes cookie;
    int ke_retries = 0;
    std::uint32_t child_spi_in = 0;
    const ChildConfig* child_cfg = nullptr;
    Time half_open_deadline = Time::max();
    IpAddress counted_addr;  // responder: the address its half-open slot is counted under
    // crypto
    std::unique_ptr<crypto::SkCipher> out, in;
    Retransmitter rt;
    // after establishment
    std::deque<Task> tasks;
    std::optional<Inflight> inflight;
    std::vector<PeerRekey> peer_rekeys;
    std::vector<std::uint32_t> deleting;  // children we sent or queued a Delete for
    bool rekeyed = false;                 // replaced by a new IKE SA: only Delete from now on
    bool deleting_ike = false;
    Time last_inbound{};           // last authenticated message from the peer
    Time retry_at = Time::max();   // after TEMPORARY_FAILURE: when to try the head task again
    Time invalid_spi_sent{};       // rate limit for INVALID_SPI notifies
    Time scheduled = Time::max();  // this SA's key in Engine::timers_
    // RFC 6311, cluster side: after a takeover, until our sync completes.
    bool awaiting_sync = false;  // hold our own exchanges (import_ike_sa)
    bool resyncing = false;      // accept the peer's requests ahead of ours
    Time await_sync_until = Time::max();
    PeerSyncRequest sync_req;
    std::vector<ChildCounters> imported;  // replicated inbound marks, for the floors
    // After a sync: besides the expected ID, the next one is accepted for
    // the peer's next request (ha_sync.cpp, on_peer_sync_response).
    bool one_ahead = false;
    // RFC 6311, peer side: the last sync we answered, so a retransmission of
    // it gets the same answer instead of being applied twice.
    std::uint32_t last_sync_nonce = 0, last_sync_m1 = 0;
    Bytes last_sync_response;

    explicit Sa(std::shared_ptr<const EngineConfig> c)
        : config(std::move(c)), rt(config->retransmit) {}
    bool half_open() const { return phase != Phase::ESTABLISHED; }
    ChildSaState* child_by_in(std::uint32_t spi_in) {
        for (auto& c : st.children) {
            if (c.spi_in == spi_in) return &c;
        }
        return nullptr;
    }
    ChildSaState* child_by_out(std::uint32_t spi_out) {
        for (auto& c : st.children) {
            if (c.spi_out == spi_out) return &c;
        }
        return nullptr;
    }
    bool is_deleting(std::uint32_t spi_in) const {
        for (auto s : deleting) {
            if (s == spi_in) return true;
        }
        return false;
    }
};

// ---- helpers shared by the translation units ----------------------------------------

crypto::CipherSuite ike_cipher_suite(const IkeSuite& s);
Bytes be32(std::uint32_t v);
wire::TsPayload to_wire_ts(const TsList& l);
TsList from_wire_ts(const wire::TsPayload& p);
const wire::NotifyPayload* find_notify(const std::vector<wire::Payload>& ps, wire::NotifyType type);
// The first error notify (type < 16384, §3.10.1), if any.
const wire::NotifyPayload* find_error(const std::vector<wire::Payload>& ps);
// The first payload of an unknown type with the critical bit set (§2.5).
std::optional<std::uint8_t> unsupported_critical(const std::vector<wire::Payload>& ps);
void record_capabilities(PeerCapabilities& c, const std::vector<wire::Payload>& ps);
bool every_ts_within(const TsList& answered, const TsList& offered);
// `now + rekey - random(0, jitter)`: SAs created together do not rekey in step.
Time jittered(Time now, const Lifetimes& lt, crypto::Random& rng);

template <typename T>
const T* find_body(const std::vector<wire::Payload>& ps, wire::PayloadType type) {
    for (const wire::Payload& p : ps) {
        if (p.type == type) return p.as<T>();
    }
    return nullptr;
}

// An encrypted message (§3.14): header | SK header | IV | ct | ICV.
Bytes seal_message(Engine::Sa& sa, ExchangeType exchange, bool response, std::uint32_t message_id,
                   const std::vector<wire::Payload>& inner, crypto::Random& rng);
// Verifies and decrypts; the inner payload chain or an Error (the caller
// drops the message silently, §2.21.2).
// `authentic` (optional) tells whether the ICV verified, so a caller can
// tell a forgery (drop) from an authentic message that does not parse.
Result<std::vector<wire::Payload>> open_message(Engine::Sa& sa, BytesView dgram,
                                                const wire::Message& m, bool* authentic = nullptr);
wire::Message plain_message(const IkeSpis& spis, bool initiator, bool response, ExchangeType ex,
                            std::uint32_t id);

// Child SA key material for `esp` from the IKE SA's SK_d (§2.17), laid out
// for the side that was the exchange's initiator (`we_initiated`).
Result<ChildSaKeys> child_keys(const IkeSaState& st, const EncrAlg& encr, IntegId integ,
                               BytesView pfs_secret, BytesView ni, BytesView nr, bool we_initiated);

}  // namespace ikecluster::ike
