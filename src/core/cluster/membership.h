// Membership and roles of a hot-standby cluster (sans-IO).
//
// Two or more members share a virtual IP. Exactly one is ACTIVE: it owns the
// VIP and every SA. The others are STANDBY with a replica of every SA and take
// over when the active fails (RFC 6027 §3.1: "failover"). Members exchange
// Heartbeat values over the authenticated sync channel; this module only
// produces and consumes them.
//
// Election (built-in mode): every member sends a heartbeat each interval; a
// member is dead after `dead_after` intervals without one. When no active is
// alive, the best-ranked (higher priority, then lower id) alive *eligible*
// member takes over. Eligible means synced (it finished its bulk resync from
// the active), or fresh (no member was ever active in its knowledge, so its
// empty state is complete). A new member first listens for a hold-down of
// dead_after intervals so it never grabs the role from a live active.
//
// Fencing: every takeover uses a new epoch above every epoch the member has
// seen. An epoch is (term << 16 | member id): the term is "highest term seen
// + 1", and the member id in the low bits makes every epoch belong to exactly
// one member, so two members can never be active under the same epoch even
// when a partition lets both take over from the same knowledge. Numeric order
// of epochs is the fencing order: an ACTIVE member that hears another ACTIVE
// with a higher epoch steps down at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/time.h"

namespace ikecluster::cluster {

enum class Role : std::uint8_t { STANDBY = 0, ACTIVE = 1 };
const char* to_string(Role);

// Epoch layout: the high 48 bits are the term, the low 16 bits the member
// that took over. Epoch 0 means "no member ever active".
inline constexpr std::uint64_t kMaxTerm = (std::uint64_t{1} << 48) - 1;
inline constexpr std::uint64_t make_epoch(std::uint64_t term, std::uint16_t member) {
    return term << 16 | member;
}
inline constexpr std::uint64_t epoch_term(std::uint64_t epoch) {
    return epoch >> 16;
}
inline constexpr std::uint16_t epoch_member(std::uint64_t epoch) {
    return static_cast<std::uint16_t>(epoch & 0xffff);
}
// "term.member", e.g. "7.2"; "0" for epoch 0. For logs and reasons.
std::string epoch_string(std::uint64_t epoch);

struct MembershipConfig {
    std::uint16_t self = 0;
    std::uint8_t priority = 100;
    std::vector<std::uint16_t> peers;  // the other members' ids
    Duration heartbeat = std::chrono::milliseconds(100);
    int dead_after = 3;  // a member is dead after this many intervals unheard
    // An active steps down for a better-ranked synced standby.
    bool preempt = false;
    // Roles come from set_role() only (keepalived); fencing still applies.
    bool external = false;
    // When no active is alive and no alive member is eligible (synced or
    // fresh), the best-ranked alive member takes over anyway once the cluster
    // has been without an active for another dead time. The SAs it lacks are
    // lost (their peers re-establish them), which beats a cluster that holds
    // the VIP nowhere. Off: such a cluster stays without an active until an
    // operator calls set_role(ACTIVE, force).
    bool last_resort = true;
    // How long a member just started listens before it may become active;
    // zero means one dead time. A restarting member must first hear the
    // active one, which needs the sync link's handshake to finish: on a lossy
    // link that can take longer than a dead time.
    Duration holddown{0};
};

struct Heartbeat {
    std::uint16_t member = 0;
    std::uint8_t priority = 0;
    Role role = Role::STANDBY;
    // ACTIVE: the epoch it took over with. STANDBY: the highest epoch it has
    // seen (0 = it knows of no active ever, i.e. it is fresh).
    std::uint64_t epoch = 0;
    bool synced = false;
    // The sender gave up the role (or was told to) and must not be elected
    // for a while; the best other member takes over without waiting for it
    // to be declared dead.
    bool stepping_down = false;
    std::uint64_t sa_count = 0;  // informational (ikeclusterctl status)
    friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

// Wire form (22 bytes, big-endian): version(1)=1 | member(2) | priority(1) |
// role(1) | epoch(8) | flags(1: bit0 synced, bit1 stepping_down) | sa_count(8).
inline constexpr std::size_t kHeartbeatSize = 22;
Bytes encode(const Heartbeat&);
// Strict: exact length, known version, role and flags; an ACTIVE heartbeat
// must carry a non-zero epoch that belongs to its sender.
Result<Heartbeat> decode_heartbeat(BytesView);

struct RoleChange {
    Role from = Role::STANDBY;
    Role to = Role::STANDBY;
    // To ACTIVE: the new epoch. To STANDBY: the epoch that ends.
    std::uint64_t epoch = 0;
    std::string reason;
};

struct MemberView {
    std::uint16_t id = 0;
    bool alive = false;  // self: always
    Role role = Role::STANDBY;
    std::uint64_t epoch = 0;
    std::uint8_t priority = 0;
    bool synced = false;
    Time last_heard{};   // self: the latest time handed in
    bool heard = false;  // at least one heartbeat (self: always)
    bool stepping_down = false;
    std::uint64_t sa_count = 0;
};

class Membership {
  public:
    // Errors: self among the peers, duplicate peers, dead_after < 1, a
    // heartbeat interval that is not positive.
    static Result<Membership> create(MembershipConfig cfg, Time now);

    // Ignores (and counts) heartbeats from unknown members and from our own
    // id (a second member configured with our id).
    void on_heartbeat(Time now, const Heartbeat& hb);
    void on_timer(Time now);
    Time next_deadline() const;
    // True once per interval (and at once after a role change): send
    // heartbeat() to every peer now.
    bool take_heartbeat_due();
    Heartbeat heartbeat() const;

    // Set by the caller when the bulk resync from the current active is
    // complete (true) or a new one starts (false).
    void set_synced(bool synced);
    void set_sa_count(std::uint64_t n) { sa_count_ = n; }
    // External control (keepalived notify scripts through ikeclusterctl);
    // in built-in mode an operator override. ACTIVE takes a new epoch and
    // fails on an unsynced member while another member is alive and active,
    // unless `force`. STANDBY steps down and keeps this member out of the
    // election for one dead time so another member takes over.
    Status set_role(Time now, Role r, bool force = false);
    std::vector<RoleChange> take_changes();

    Role role() const { return role_; }
    // ACTIVE: our epoch. STANDBY: the highest epoch seen.
    std::uint64_t epoch() const;
    std::uint64_t max_epoch_seen() const { return max_seen_; }
    bool synced() const { return synced_; }
    bool in_holddown(Time now) const { return now < holddown_end_; }
    const MembershipConfig& config() const { return cfg_; }

    std::vector<MemberView> members() const;  // self included, self first
    // Who we believe is active (self, or the alive peer with the highest
    // active epoch), as of the latest time handed in.
    std::optional<std::uint16_t> active_member() const;

    std::uint64_t ignored_unknown() const { return ignored_unknown_; }
    std::uint64_t ignored_self() const { return ignored_self_; }

  private:
    struct Peer {
        std::uint16_t id = 0;
        bool heard = false;
        Time last_heard{};
        Heartbeat hb;
    };

    Membership(MembershipConfig cfg, Time now);

    Duration dead_time() const { return cfg_.heartbeat * cfg_.dead_after; }
    bool alive(const Peer& p, Time now) const;
    static bool better(std::uint8_t prio_a, std::uint16_t id_a, std::uint8_t prio_b,
                       std::uint16_t id_b);
    const Peer* alive_active(Time now) const;
    void advance(Time now);
    void evaluate(Time now);
    bool become_active(Time now, std::string reason);
    void become_standby(std::string reason);
    std::string takeover_reason(Time now) const;

    MembershipConfig cfg_;
    std::vector<Peer> peers_;
    Time now_{};
    Time holddown_end_{};
    Time next_hb_{};
    bool hb_due_ = false;

    Role role_ = Role::STANDBY;
    std::uint64_t own_epoch_ = 0;  // while ACTIVE
    std::uint64_t max_seen_ = 0;
    Time max_seen_learned_{};  // when a peer's heartbeat raised max_seen_
    bool synced_ = false;
    std::uint64_t sa_count_ = 0;
    bool stepping_down_ = false;
    Time stepdown_until_{};
    std::uint64_t stepdown_epoch_ = 0;  // the epoch we handed over
    // The active we last followed (for the takeover reason).
    std::optional<std::uint16_t> last_active_;
    // Since when no alive active is known (last-resort timer).
    std::optional<Time> no_active_since_;

    std::vector<RoleChange> changes_;
    std::uint64_t ignored_unknown_ = 0;
    std::uint64_t ignored_self_ = 0;
};

}  // namespace ikecluster::cluster
