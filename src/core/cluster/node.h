// One member of a hot-standby cluster (RFC 6027 tight cluster), sans-IO.
//
// The node ties together what a member needs besides its IKE engine and data
// plane: a SyncLink to every other member, the Membership that decides who is
// active, and the Replica of every established SA.
//
// Active member: every state event of its engine goes in through
// on_engine_event() and out to every standby as a reliable record, in order;
// ESP counters go out as checkpoints (the shell reads them from its data
// plane when take_checkpoint_due() says so); the cookie secrets whenever they
// change. A member that (re)joins gets a bulk snapshot first.
//
// Standby: records from the current active are applied to the replica. When
// the membership makes this member active, take_actions() yields a Takeover
// with every replicated SA and the counters to resume from; the shell imports
// them into its engine (Engine::import_ike_sa), claims the virtual address,
// and from then on feeds events in as above. When a member is deposed (a
// higher epoch fenced it, or the operator set it standby) a Stepdown tells
// the shell to forget its SAs silently and release the address.
//
// Counters on takeover (RFC 6027 §3.4, §3.5): outbound sequence numbers go on
// from the last checkpoint plus `seq_margin` (which must cover what the old
// active could send in one checkpoint interval), aligned to this member's
// stripes, so no number is ever used twice, even in a split brain (see
// esp::SeqStripes); inbound windows resume from the checkpointed high-water
// marks. Message IDs come from the last sync (§3.3), which follows every
// exchange.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/time.h"
#include "cluster/membership.h"
#include "cluster/records.h"
#include "cluster/replica.h"
#include "cluster/sync_link.h"
#include "crypto/random.h"
#include "esp/esp_sa.h"
#include "ike/cookie.h"
#include "ike/engine.h"
#include "ike/state.h"

namespace ikecluster::cluster {

inline constexpr Duration kDefaultHolddown = std::chrono::seconds(1);

enum class PeerSyncMode : std::uint8_t { ALWAYS, SUSPECTED, NEVER };

struct NodeConfig {
    // self, priority, peers, heartbeat, preempt, external; a zero hold-down
    // becomes kDefaultHolddown.
    MembershipConfig membership;
    std::vector<ClusterKey> keys;
    std::size_t max_datagram = 1400;
    // How often the active member checkpoints ESP counters, and how far a
    // new active jumps ahead of the last outbound checkpoint.
    Duration checkpoint_interval = std::chrono::milliseconds(50);
    std::uint64_t seq_margin = std::uint64_t{1} << 20;
    // This member's sequence-number stripes (index = its position among
    // the configured members, count = their number).
    esp::SeqStripes stripes;
    // Testing only (RFC 6311 tests): do not send message-ID updates, so a
    // standby's message IDs lag behind the peer's.
    bool withhold_msgids = false;
    // RFC 6311 after a takeover, for every IKE SA whose peer announced it:
    //  ALWAYS: sync every such SA (what a lagging replica needs);
    //  SUSPECTED: only SAs whose state may lag: all of them when this member
    //    was not synced, else those the old active changed within a dead
    //    time + 1 s of the takeover, or that were due a rekey around then;
    //  NEVER: no sync (peers that spot a lag give up on the SA).
    PeerSyncMode peer_sync = PeerSyncMode::ALWAYS;
    // Syncs per second: paced in batches every 5 ms so a takeover of 10,000
    // SAs does not burst 10,000 datagrams at once (the failover flood of
    // draft-vidya-ipsec-failover-ps) yet completes within about 1.3 s.
    std::uint32_t peer_sync_rate = 8000;
    // M1 = replicated next request ID + this (ike::PeerSyncRequest).
    std::uint32_t msgid_jump = 64;
};

struct Takeover {
    std::uint64_t epoch = 0;
    std::string reason;
    std::vector<ike::IkeSaState> sas;
    // counters[i]: what the children of sas[i] resume from (margin and
    // stripes applied); pass it to Engine::import_ike_sa with sas[i].
    std::vector<std::vector<ike::ChildCounters>> counters;
    // peer_sync[i]: a SyncPeers action will name sas[i]; import it with
    // await_peer_sync so it starts nothing of its own before the sync.
    std::vector<std::uint8_t> peer_sync;
    std::optional<ike::CookieSecrets> cookies;
    // This member had a complete, current replica when it took over. False
    // for a member that takes over as the last one standing without ever
    // having synced (a fresh cluster, or a restarted member that cannot hear
    // an active one that may still be alive): its picture of which SAs
    // exist is not authoritative yet (Engine::set_unknown_spi_answers).
    bool synced = false;
};
// RFC 6311: call Engine::sync_with_peer(now, spis, request) for each of
// these IKE SAs (paced batches after a Takeover). The replay delta covers
// what the old active may have received after its last checkpoint.
struct SyncPeers {
    std::vector<ike::IkeSpis> sas;
    ike::PeerSyncRequest request;
};
struct Stepdown {
    std::uint64_t epoch = 0;
    std::string reason;
};
// Still active, but another member claims to be active too (with a lower
// epoch: it will step down when it hears us), or is heard again after a
// silence. It may have announced the virtual address meanwhile: announce
// it again.
struct Reassert {
    std::uint64_t epoch = 0;
    std::uint16_t rival = 0;
    // The rival claims ACTIVE now; otherwise it was only heard again after
    // a silence (it may have claimed the address meanwhile).
    bool claims_active = false;
};
using NodeAction = std::variant<Takeover, Stepdown, Reassert, SyncPeers>;

struct NodeStats {
    std::uint64_t records_sent = 0;
    std::uint64_t records_applied = 0;
    std::uint64_t records_rejected = 0;   // did not fit the replica
    std::uint64_t records_ignored = 0;    // from a member that is not our source
    std::uint64_t records_malformed = 0;  // failed to decode
    std::uint64_t bulk_sent = 0;
    std::uint64_t bulk_received = 0;
    std::uint64_t checkpoints_sent = 0;  // counter entries, not records
    std::uint64_t takeovers = 0;
    std::uint64_t stepdowns = 0;
    std::uint64_t peer_syncs = 0;  // IKE SAs handed out in SyncPeers
};

class ClusterNode {
  public:
    static Result<ClusterNode> create(NodeConfig cfg, crypto::Random& rng, Time now);
    ClusterNode(ClusterNode&&) noexcept;
    ClusterNode& operator=(ClusterNode&&) noexcept;
    ~ClusterNode();

    // From the engine, in order, on the active member (ignored otherwise).
    // The events of one engine step travel together (flush() or ticket()),
    // so a standby applies a step whole or not at all.
    void on_engine_event(Time now, const ike::Event& e);
    // ESP counters read from the data plane after take_checkpoint_due().
    // Only counters that moved are sent. Also call it with the final
    // counters when a Stepdown makes the shell forget its SAs: a later
    // takeover by this member then starts beyond what it used itself.
    void on_checkpoints(Time now, const std::vector<CounterCheckpoint>& c);
    // The engine's cookie secrets; sent when they differ from the last sent.
    void on_cookie_secrets(Time now, const ike::CookieSecrets& s);

    // A datagram from member `from` on the sync port (the shell maps the
    // source address to the member id; unknown sources never get here).
    void receive(Time now, std::uint16_t from, BytesView datagram);
    void on_timer(Time now);
    Time next_deadline() const;

    struct Outgoing {
        std::uint16_t to = 0;
        Bytes datagram;
    };
    std::vector<Outgoing> take_datagrams();
    std::vector<NodeAction> take_actions();
    // True once per checkpoint interval while active.
    bool take_checkpoint_due();
    // The SAs whose counters the shell should read for a checkpoint.
    std::vector<std::pair<ike::IkeSpis, std::uint32_t>> children() const;

    // Hold-until-synced (RFC 6027 §3.3): the shell takes a ticket after
    // feeding an engine batch's events in, and sends that batch's IKE
    // datagrams only once acked() says every synced standby has the records
    // (so a peer never sees a response whose state a takeover would lose).
    // Standbys that are not synced, not alive or not connected are not
    // waited for: they cannot take over.
    struct Ticket {
        struct Mark {
            std::uint16_t member = 0;
            std::uint64_t stream = 0;   // SyncLink::stream() when taken
            std::uint64_t records = 0;  // SyncLink::sent_records() when taken
        };
        std::vector<Mark> marks;
        bool quarantined = false;  // taken right after a standby was lost: drop
    };
    // Also sends the records of the engine step so far (one frame).
    Ticket ticket();
    // Sends what on_engine_event() collected; the shell calls it after each
    // engine step (ticket() does it too).
    void flush(Time now);
    // ACKED: send the batch. PENDING: keep holding it. ABANDONED: a member
    // the ticket waited for went away (dead, restarted, link down) before
    // acknowledging: drop the batch. It may be the other side of a split
    // brain that has taken over without our last state; the peer retransmits
    // and the new active answers it (a lone survivor answers the
    // retransmission from its cache).
    //
    // Quarantine: for one dead time after a synced standby is lost, every
    // ticket is ABANDONED. The standby may be the other side of a partition,
    // about to take over from the state it has; what we answer meanwhile it
    // would never know. After the quarantine we are alone, and the peers'
    // retransmissions get their (cached) answers.
    enum class TicketState { PENDING, ACKED, ABANDONED };
    TicketState check(const Ticket& t) const;
    bool acked(const Ticket& t) const { return check(t) == TicketState::ACKED; }

    // Operator or keepalived control (Membership::set_role).
    Status set_role(Time now, Role r, bool force = false);

    Role role() const;
    std::uint64_t epoch() const;
    bool synced() const;
    const Membership& membership() const;
    const Replica& replica() const;
    const NodeStats& stats() const;
    const SyncLinkStats* link_stats(std::uint16_t member) const;
    bool link_established(std::uint16_t member) const;

    struct Impl;

  private:
    explicit ClusterNode(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ikecluster::cluster
