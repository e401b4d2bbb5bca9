// A deterministic simulator of a hot-standby cluster on virtual time.
//
// One process holds M cluster members (each an ike::Engine, a
// cluster::ClusterNode and a data plane made of the real esp::OutboundSa /
// esp::InboundSa objects) and P peers (each an ike::Engine with its own ESP
// SAs) that connect to the cluster's virtual address. The network between
// them is a set of seeded link models (loss, duplication, delay with
// jitter, partitions). Faults are events on the same timeline: a member
// crashes (its objects are destroyed: all memory is gone) and restarts
// later with a new session; the sync network partitions and heals.
//
// The same seed gives the same run, bit for bit: every random choice comes
// from DeterministicRandom streams derived from the seed, and nothing reads a
// clock. A failure prints its seed; `replay` reruns it with a timeline.
//
// Invariants checked on every run (SimResult::violations):
//   - no ESP sequence number is sent twice on any SA, by any member (a
//     reused number with AES-GCM is a reused nonce, RFC 6027 §3.4);
//   - at most one member is active per epoch;
//   - every SA in a standby's replica when the active died is imported by
//     the member that takes over (what the standby acknowledged survives);
//   - peers never see the cluster fail: no peer IKE SA is deleted for a
//     dead peer or a failed exchange, no peer starts a second IKE_SA_INIT,
//     and at the end of the run traffic flows both ways on every SA;
//   - at the end exactly one member is active and it holds every peer's SA;
//   - under a half-open flood the active holds at most cookie_threshold + 1
//     half-open SAs besides those of real peers still connecting, and none
//     of the flood's once the half-open timeout has passed.
// With sync-network partitions or clock jumps of a heartbeat interval or
// more (a standby whose clock leaps may miss a live active's heartbeats and
// take over: split brain for a moment) only the safety invariants
// (sequence numbers, one active per epoch, one active at the end) are
// violations; what peers notice is counted in peer_disruptions, since the
// losing side of a split brain may have served them (RFC 6311 is the cure).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/time.h"

namespace ikecluster::sim {

struct SimConfig {
    std::uint64_t seed = 1;
    int members = 2;
    int peers = 10;
    Duration duration = std::chrono::seconds(120);
    // Sync network between members.
    double sync_loss = 0.02;
    double sync_duplicate = 0.01;
    Duration sync_delay = std::chrono::microseconds(300);
    Duration sync_jitter = std::chrono::microseconds(600);  // reorders
    // Network between peers and the cluster.
    double peer_loss = 0.0;
    Duration peer_delay = std::chrono::milliseconds(5);
    // Faults, at random times in the first 70 % of the run.
    int crashes = 2;                                   // of the active member
    Duration restart_after = std::chrono::seconds(8);  // crashed member comes back
    int partitions = 0;                                // sync network split brains
    Duration partition_length = std::chrono::seconds(3);
    // Peers: short lifetimes so rekeys happen often; ESP every interval.
    Duration child_rekey = std::chrono::seconds(25);
    Duration ike_rekey = std::chrono::seconds(50);
    Duration traffic_interval = std::chrono::milliseconds(100);
    // More faults (all off by default; docs/ha.md). On the sync network:
    double sync_reorder = 0.0;  // a datagram is held back 1-20 ms, behind later ones
    double sync_corrupt = 0.0;  // a datagram arrives with one bit flipped
    // A member's monotonic clock jumps forward by up to max_clock_jump (a
    // VM paused and resumed, a stalled process): the member sees time leap
    // while the others do not.
    int clock_jumps = 0;
    Duration max_clock_jump = std::chrono::seconds(3);
    // Retransmission storms: every peer resends its last IKE datagram
    // storm_copies times within a few milliseconds.
    int storms = 0;
    int storm_copies = 10;
    // Half-open floods: flood_size IKE_SA_INIT requests from spoofed
    // addresses within one second, far beyond the cookie threshold; the
    // active member's half-open SAs must stay bounded (RFC 7296 §2.6).
    int floods = 0;
    int flood_size = 1000;
    bool timeline = false;  // record a human-readable timeline
    // Missing sync (RFC 6027 §3.6): the active never replicates message-ID
    // updates, so a member that takes over lags behind every peer; and how
    // the cluster resynchronises with peers after a takeover (RFC 6311).
    bool withhold_msgids = false;
    enum class PeerSync : std::uint8_t { ALWAYS, SUSPECTED, NEVER } peer_sync = PeerSync::ALWAYS;
};

struct SimResult {
    std::uint64_t seed = 0;
    std::vector<std::string> violations;
    std::vector<std::string> timeline;
    std::uint64_t takeovers = 0;
    std::uint64_t esp_sent = 0, esp_delivered = 0;
    std::uint64_t peer_handshakes = 0;  // IKE_SA_INIT exchanges the peers completed
    std::uint64_t peer_ike_rekeys = 0, peer_child_rekeys = 0;
    std::uint64_t sync_datagrams = 0;
    // With partitions: peer-visible failures (not violations, see docs/ha.md).
    std::uint64_t peer_disruptions = 0;
    // Handshakes a failover cut (half-open SAs are not replicated) that the
    // client started again.
    std::uint64_t handshake_retries = 0;
    // Longest stretch without ESP reaching the peers, in ms (failover gap).
    std::int64_t max_gap_ms = 0;
    // RFC 6311 message-ID syncs the peers answered.
    std::uint64_t peer_syncs = 0;
    std::uint64_t sync_corrupted = 0;   // datagrams delivered with a flipped bit
    std::uint64_t flood_datagrams = 0;  // spoofed IKE_SA_INIT requests sent
    std::size_t max_half_open = 0;      // most half-open SAs the active held in a flood
    bool ok() const { return violations.empty(); }
};

SimResult run_cluster_sim(const SimConfig& cfg);

}  // namespace ikecluster::sim
