// The replicable state of IKE and Child SAs, and the events that carry it.
//
// Replication is driven by these events only (DEVELOPERS.md): a standby member
// rebuilds every established SA from IkeSaEstablished, keeps it current with
// the other events, and can import the result back into an engine with
// Engine::import_ike_sa(). Every field a member needs to carry on an SA where
// another left off is here; nothing that can be re-derived cheaply is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/net.h"
#include "base/time.h"
#include "ike/config.h"
#include "ike/identity.h"
#include "ike/proposal.h"
#include "ike/traffic_selector.h"

namespace ikecluster::ike {

struct IkeSpis {
    std::uint64_t spi_i = 0;
    std::uint64_t spi_r = 0;
    friend bool operator==(const IkeSpis&, const IkeSpis&) = default;
    friend auto operator<=>(const IkeSpis&, const IkeSpis&) = default;
};

// The negotiated IKE suite.
struct IkeSuite {
    EncrAlg encr{EncrId::AES_GCM_16, 256};
    IntegId integ = IntegId::NONE;
    PrfId prf = PrfId::HMAC_SHA2_256;
    DhId dh = DhId::CURVE25519;
    friend bool operator==(const IkeSuite&, const IkeSuite&) = default;
};

struct IkeKeys {
    Bytes sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr;
    friend bool operator==(const IkeKeys&, const IkeKeys&) = default;
};

// What the peer told us it supports (recorded in IKE_AUTH / IKE_SA_INIT).
struct PeerCapabilities {
    bool msgid_sync = false;     // IKEV2_MESSAGE_ID_SYNC_SUPPORTED (RFC 6311)
    bool replay_sync = false;    // IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED (RFC 6311)
    bool redirect = false;       // REDIRECT_SUPPORTED (RFC 5685)
    bool fragmentation = false;  // IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383)
    bool mobike = false;
    friend bool operator==(const PeerCapabilities&, const PeerCapabilities&) = default;
};

// RFC 7296 §2.3 message-ID state of one IKE SA, both directions (window 1).
struct MessageIds {
    std::uint32_t next_request_out = 0;  // ID our next request will carry
    std::uint32_t next_request_in = 0;   // ID we expect on the peer's next request
    // The last response we sent, kept so a retransmitted request is answered
    // identically (also after a takeover). Empty before the first one.
    std::uint32_t last_response_id = 0;
    std::vector<Bytes> last_response;  // one datagram, or several RFC 7383 fragments
    friend bool operator==(const MessageIds&, const MessageIds&) = default;
};

struct ChildSaKeys {
    Bytes encr_in, integ_in;    // peer -> us (our inbound SA)
    Bytes encr_out, integ_out;  // us -> peer
    friend bool operator==(const ChildSaKeys&, const ChildSaKeys&) = default;
};

struct ChildSaState {
    std::string config_name;
    std::uint32_t unique_id = 0;  // stable across rekeys (reqid-like)
    std::uint32_t spi_in = 0;     // ours: the peer sends with it
    std::uint32_t spi_out = 0;    // the peer's: we send with it
    ProtocolId protocol = ProtocolId::ESP;
    IpsecMode mode = IpsecMode::TUNNEL;
    EncrAlg encr{EncrId::AES_GCM_16, 256};
    IntegId integ = IntegId::NONE;
    bool esn = false;
    ChildSaKeys keys;
    TsList ts_local;
    TsList ts_remote;
    Time established{};
    Time rekey_at = Time::max();
    Time expire_at = Time::max();
    friend bool operator==(const ChildSaState&, const ChildSaState&) = default;
};

// The data-plane counters of one Child SA (by our inbound SPI) as a member
// taking over resumes them: the next outbound sequence number (a replicated
// checkpoint plus a margin, so no number the failed member used is sent
// again, RFC 4303 §3.3.3) and the inbound replay high-water mark.
struct ChildCounters {
    std::uint32_t spi_in = 0;
    std::uint64_t out_next_seq = 1;
    std::uint64_t in_highest = 0;
};

enum class NatState : std::uint8_t {
    NONE = 0,
    LOCAL_BEHIND_NAT = 1,  // our NAT-D hash did not match: keepalives are ours to send
    REMOTE_BEHIND_NAT = 2,
    BOTH = 3,
};

struct IkeSaState {
    IkeSpis spis;
    bool initiator = false;  // we are the original initiator of this IKE SA (I flag)
    std::string config_name;
    IkeSuite suite;
    IkeKeys keys;
    Identity local_id;
    Identity remote_id;
    Endpoint local;   // where we send from / receive on
    Endpoint remote;  // where the peer is (after NAT)
    NatState nat = NatState::NONE;
    bool encap = false;  // port 4500 / ESP-in-UDP in use
    PeerCapabilities peer;
    MessageIds msgids;
    Time established{};
    Time rekey_at = Time::max();
    Time expire_at = Time::max();
    std::vector<ChildSaState> children;
    friend bool operator==(const IkeSaState&, const IkeSaState&) = default;
};

// ---- events -----------------------------------------------------------------

struct IkeSaEstablished {
    IkeSaState sa;  // complete, with the first Child SA(s)
};
// After every exchange that moved a counter or changed the cached response.
struct IkeMessageIdsAdvanced {
    IkeSpis spis;
    MessageIds msgids;
};
struct ChildSaAdded {
    IkeSpis ike;
    ChildSaState child;
};
struct ChildSaRekeyed {
    IkeSpis ike;
    std::uint32_t old_spi_in = 0;
    ChildSaState child;  // the replacement
};
struct ChildSaDeleted {
    IkeSpis ike;
    std::uint32_t spi_in = 0;
};
struct IkeSaRekeyed {
    IkeSpis old_spis;
    IkeSaState sa;  // the new IKE SA with the children moved over
};
enum class DeleteReason : std::uint8_t {
    DELETED_BY_PEER,
    DELETED_BY_US,
    EXPIRED,
    PEER_DEAD,  // retransmissions or liveness check gave up
    AUTH_FAILED,
    REPLACED,  // INITIAL_CONTACT or a newer SA with the same identities
};
struct IkeSaDeleted {
    IkeSpis spis;
    DeleteReason reason = DeleteReason::DELETED_BY_US;
};

using Event = std::variant<IkeSaEstablished, IkeMessageIdsAdvanced, ChildSaAdded, ChildSaRekeyed,
                           ChildSaDeleted, IkeSaRekeyed, IkeSaDeleted>;

}  // namespace ikecluster::ike
