#include "cluster/membership.h"

#include <algorithm>
#include <set>

#include "base/buffer.h"

namespace ikecluster::cluster {

const char* to_string(Role r) {
    switch (r) {
        case Role::STANDBY:
            return "STANDBY";
        case Role::ACTIVE:
            return "ACTIVE";
    }
    return "?";
}

std::string epoch_string(std::uint64_t epoch) {
    if (epoch == 0) return "0";
    return std::to_string(epoch_term(epoch)) + "." + std::to_string(epoch_member(epoch));
}

// ---------------------------------------------------------------- codec

namespace {
constexpr std::uint8_t kHeartbeatVersion = 1;
constexpr std::uint8_t kFlagSynced = 0x01;
constexpr std::uint8_t kFlagSteppingDown = 0x02;
}  // namespace

Bytes encode(const Heartbeat& hb) {
    Bytes out;
    out.reserve(kHeartbeatSize);
    Writer w(out);
    w.u8(kHeartbeatVersion);
    w.u16(hb.member);
    w.u8(hb.priority);
    w.u8(static_cast<std::uint8_t>(hb.role));
    w.u64(hb.epoch);
    w.u8(static_cast<std::uint8_t>((hb.synced ? kFlagSynced : 0) |
                                   (hb.stepping_down ? kFlagSteppingDown : 0)));
    w.u64(hb.sa_count);
    return out;
}

Result<Heartbeat> decode_heartbeat(BytesView data) {
    Reader r(data);
    if (data.size() < kHeartbeatSize) return r.need(kHeartbeatSize, "heartbeat");
    if (data.size() > kHeartbeatSize)
        return make_error(
            kHeartbeatSize,
            "heartbeat has " + std::to_string(data.size() - kHeartbeatSize) + " trailing bytes");
    std::uint8_t version = 0, role = 0, flags = 0;
    Heartbeat hb;
    // The length was checked above, so none of these reads can fail.
    r.u8(version);
    if (version != kHeartbeatVersion)
        return make_error(0, "unsupported heartbeat version " + std::to_string(version));
    r.u16(hb.member);
    r.u8(hb.priority);
    r.u8(role);
    if (role > static_cast<std::uint8_t>(Role::ACTIVE))
        return make_error(4, "unknown role " + std::to_string(role));
    hb.role = static_cast<Role>(role);
    r.u64(hb.epoch);
    r.u8(flags);
    if (flags & ~(kFlagSynced | kFlagSteppingDown))
        return make_error(13, "unknown heartbeat flags " + std::to_string(flags));
    hb.synced = flags & kFlagSynced;
    hb.stepping_down = flags & kFlagSteppingDown;
    r.u64(hb.sa_count);
    // An active's epoch is its fencing token: it must exist and be its own,
    // or one member could fence another with an epoch it never took.
    if (hb.role == Role::ACTIVE && hb.epoch == 0)
        return make_error(5, "active heartbeat with epoch 0");
    if (hb.role == Role::ACTIVE && epoch_member(hb.epoch) != hb.member)
        return make_error(5, "active heartbeat from member " + std::to_string(hb.member) +
                                 " carries epoch " + epoch_string(hb.epoch) + " of another member");
    return hb;
}

// ---------------------------------------------------------------- Membership

Result<Membership> Membership::create(MembershipConfig cfg, Time now) {
    if (cfg.dead_after < 1)
        return make_error(0, "dead_after must be at least 1, is " + std::to_string(cfg.dead_after));
    if (cfg.heartbeat <= Duration::zero())
        return make_error(0, "heartbeat interval must be positive");
    std::set<std::uint16_t> seen;
    for (std::uint16_t p : cfg.peers) {
        if (p == cfg.self)
            return make_error(0, "member " + std::to_string(p) + " is both self and a peer");
        if (!seen.insert(p).second)
            return make_error(0, "peer " + std::to_string(p) + " listed twice");
    }
    return Membership(std::move(cfg), now);
}

Membership::Membership(MembershipConfig cfg, Time now) : cfg_(std::move(cfg)), now_(now) {
    for (std::uint16_t id : cfg_.peers)
        peers_.push_back(Peer{id, false, Time{}, Heartbeat{}});
    // Listen for a full dead time before we may take over: a live active
    // would have been heard by then, and a restarted member must not grab
    // the role from it.
    holddown_end_ = now + (cfg_.holddown > Duration{0} ? cfg_.holddown : dead_time());
    // Announce ourselves at once so peers count us among the alive.
    next_hb_ = now;
}

bool Membership::alive(const Peer& p, Time now) const {
    return p.heard && now - p.last_heard < dead_time();
}

bool Membership::better(std::uint8_t prio_a, std::uint16_t id_a, std::uint8_t prio_b,
                        std::uint16_t id_b) {
    if (prio_a != prio_b) return prio_a > prio_b;
    return id_a < id_b;
}

const Membership::Peer* Membership::alive_active(Time now) const {
    const Peer* best = nullptr;
    for (const Peer& p : peers_) {
        if (!alive(p, now) || p.hb.role != Role::ACTIVE) continue;
        if (!best || p.hb.epoch > best->hb.epoch) best = &p;
    }
    return best;
}

std::uint64_t Membership::epoch() const {
    return role_ == Role::ACTIVE ? own_epoch_ : max_seen_;
}

Heartbeat Membership::heartbeat() const {
    return Heartbeat{cfg_.self, cfg_.priority, role_, epoch(), synced_, stepping_down_, sa_count_};
}

void Membership::set_synced(bool synced) {
    synced_ = synced;
}

std::vector<RoleChange> Membership::take_changes() {
    std::vector<RoleChange> out;
    out.swap(changes_);
    return out;
}

bool Membership::take_heartbeat_due() {
    bool due = hb_due_;
    hb_due_ = false;
    return due;
}

void Membership::advance(Time now) {
    // Time handed in never goes backwards for us: a stale `now` from a
    // reordered caller must not make dead members alive again.
    if (now > now_) now_ = now;
    if (now_ >= next_hb_) {
        hb_due_ = true;
        next_hb_ = next_hb_ + cfg_.heartbeat;
        // After a long stall, restart the cadence instead of bursting.
        if (next_hb_ <= now_) next_hb_ = now_ + cfg_.heartbeat;
    }
    if (stepping_down_ && now_ >= stepdown_until_) stepping_down_ = false;
}

Time Membership::next_deadline() const {
    Time t = next_hb_;
    if (now_ < holddown_end_) t = std::min(t, holddown_end_);
    for (const Peer& p : peers_)
        if (alive(p, now_)) t = std::min(t, p.last_heard + dead_time());
    if (stepping_down_) t = std::min(t, stepdown_until_);
    if (role_ == Role::STANDBY && max_seen_learned_ + dead_time() > now_)
        t = std::min(t, max_seen_learned_ + dead_time());
    if (role_ == Role::STANDBY && cfg_.last_resort && !cfg_.external && no_active_since_) {
        Time lr = *no_active_since_ + dead_time();
        if (lr > now_) t = std::min(t, lr);
    }
    return t;
}

void Membership::on_timer(Time now) {
    advance(now);
    evaluate(now_);
}

void Membership::on_heartbeat(Time now, const Heartbeat& hb) {
    advance(now);
    if (hb.member == cfg_.self) {
        ++ignored_self_;
        return;
    }
    auto it = std::find_if(peers_.begin(), peers_.end(),
                           [&](const Peer& p) { return p.id == hb.member; });
    if (it == peers_.end()) {
        ++ignored_unknown_;
        return;
    }
    it->heard = true;
    it->last_heard = now_;
    it->hb = hb;
    // Knowledge of epochs only grows, whoever tells us: the next takeover
    // must be above every epoch anyone has used.
    if (hb.epoch > max_seen_) {
        max_seen_ = hb.epoch;
        max_seen_learned_ = now;
    }

    if (hb.role == Role::ACTIVE) {
        if (role_ == Role::ACTIVE) {
            bool fenced =
                hb.epoch > own_epoch_ || (hb.epoch == own_epoch_ &&
                                          better(hb.priority, hb.member, cfg_.priority, cfg_.self));
            if (fenced) {
                // Another member took over after us (a partition healed, or
                // an operator moved the role): it owns the VIP now. What we
                // did meanwhile diverged from its state, so we need a fresh
                // resync before we may take over again.
                synced_ = false;
                last_active_ = hb.member;
                become_standby("fenced by epoch " + epoch_string(hb.epoch) + " of member " +
                               std::to_string(hb.member));
            } else {
                // A deposed active: tell it our epoch now rather than at the
                // next interval.
                hb_due_ = true;
            }
        } else if (stepping_down_ && hb.epoch > stepdown_epoch_) {
            // Someone took the role we handed over.
            stepping_down_ = false;
        }
    }
    evaluate(now_);
}

void Membership::evaluate(Time now) {
    if (cfg_.external) return;  // roles come from set_role() only
    if (role_ == Role::ACTIVE) {
        if (!cfg_.preempt) return;
        const Peer* best = nullptr;
        for (const Peer& p : peers_) {
            if (!alive(p, now) || p.hb.role != Role::STANDBY || !p.hb.synced || p.hb.stepping_down)
                continue;
            if (!better(p.hb.priority, p.id, cfg_.priority, cfg_.self)) continue;
            if (!best || better(p.hb.priority, p.id, best->hb.priority, best->id)) best = &p;
        }
        if (!best) return;
        // Step down first and say so; the better member takes over only when
        // it hears our STANDBY heartbeat, so two actives never overlap.
        stepping_down_ = true;
        stepdown_until_ = now + dead_time();
        stepdown_epoch_ = own_epoch_;
        become_standby("preempted by better-ranked synced member " + std::to_string(best->id));
        return;
    }

    if (now < holddown_end_) return;
    if (const Peer* a = alive_active(now)) {
        last_active_ = a->id;
        no_active_since_.reset();
        return;
    }
    // The newest epoch we know of names its owner: a member that has just
    // taken over, whose own heartbeats may still be on their way (or lost),
    // while we heard of its epoch from someone else (a member it fenced).
    // Give it one dead time from when we learned of it before concluding
    // that nobody is active; otherwise two members could take over at once.
    if (max_seen_ != 0 && epoch_member(max_seen_) != cfg_.self &&
        now < max_seen_learned_ + dead_time()) {
        const std::uint16_t owner = epoch_member(max_seen_);
        auto it = std::find_if(peers_.begin(), peers_.end(),
                               [&](const Peer& p) { return p.id == owner; });
        const bool owner_says_standby = it != peers_.end() && it->heard &&
                                        it->last_heard >= max_seen_learned_ &&
                                        it->hb.role == Role::STANDBY;
        if (!owner_says_standby) return;
    }
    if (!no_active_since_) no_active_since_ = now;
    if (stepping_down_) return;  // we are handing the role to someone else

    // When nobody was ever active in our knowledge, every member's state is
    // the (empty) complete state; otherwise only a synced replica is.
    const bool fresh = max_seen_ == 0;
    struct Cand {
        std::uint8_t prio;
        std::uint16_t id;
    };
    std::optional<Cand> best_eligible, best_any;
    auto consider = [&](std::optional<Cand>& best, Cand c) {
        if (!best || better(c.prio, c.id, best->prio, best->id)) best = c;
    };
    const Cand me{cfg_.priority, cfg_.self};
    consider(best_any, me);
    if (synced_ || fresh) consider(best_eligible, me);
    for (const Peer& p : peers_) {
        if (!alive(p, now) || p.hb.stepping_down) continue;
        Cand c{p.hb.priority, p.id};
        consider(best_any, c);
        if (p.hb.synced || fresh) consider(best_eligible, c);
    }
    if (best_eligible) {
        // Wait for a better-ranked eligible member; it sees what we see.
        if (best_eligible->id == cfg_.self) become_active(now, takeover_reason(now));
        return;
    }
    if (cfg_.last_resort && now >= *no_active_since_ + dead_time() && best_any->id == cfg_.self)
        become_active(now, "last resort: no synced member alive for " +
                               std::to_string(cfg_.dead_after) +
                               " heartbeat intervals, taking over with incomplete state");
}

std::string Membership::takeover_reason(Time now) const {
    if (last_active_ && *last_active_ != cfg_.self) {
        auto it = std::find_if(peers_.begin(), peers_.end(),
                               [&](const Peer& p) { return p.id == *last_active_; });
        const std::string m = std::to_string(*last_active_);
        if (it != peers_.end() && !alive(*it, now))
            return "active member " + m + " missed " + std::to_string(cfg_.dead_after) +
                   " heartbeats";
        if (it != peers_.end() && it->hb.stepping_down) return "member " + m + " stepped down";
        return "member " + m + " is no longer active";
    }
    return "no active member alive: best-ranked eligible member";
}

bool Membership::become_active(Time now, std::string reason) {
    (void)now;
    const std::uint64_t term = epoch_term(max_seen_);
    // 2^48 terms cannot be used up honestly; a peer that claims the last one
    // must not make us wrap around below every epoch in use.
    if (term >= kMaxTerm) return false;
    own_epoch_ = make_epoch(term + 1, cfg_.self);
    max_seen_ = own_epoch_;
    role_ = Role::ACTIVE;
    // The active's state is the reference: if it later hands the role over
    // voluntarily it holds a complete replica.
    synced_ = true;
    stepping_down_ = false;
    no_active_since_.reset();
    last_active_ = cfg_.self;
    changes_.push_back(RoleChange{Role::STANDBY, Role::ACTIVE, own_epoch_, std::move(reason)});
    hb_due_ = true;  // announce the new epoch at once
    return true;
}

void Membership::become_standby(std::string reason) {
    changes_.push_back(RoleChange{Role::ACTIVE, Role::STANDBY, own_epoch_, std::move(reason)});
    role_ = Role::STANDBY;
    no_active_since_.reset();
    hb_due_ = true;
}

Status Membership::set_role(Time now, Role r, bool force) {
    advance(now);
    std::string reason = cfg_.external ? "external: set by control" : "operator: set by control";
    if (r == Role::ACTIVE) {
        if (role_ == Role::ACTIVE) return Ok{};
        if (!synced_ && !force) {
            if (const Peer* a = alive_active(now_))
                return make_error(0, "not synced and member " + std::to_string(a->id) +
                                         " is active (epoch " + epoch_string(a->hb.epoch) +
                                         "); use force to take over anyway");
        }
        if (force) reason += " (forced)";
        if (!become_active(now_, std::move(reason)))
            return make_error(0, "epoch space exhausted (epoch " + epoch_string(max_seen_) + ")");
        return Ok{};
    }
    if (role_ == Role::STANDBY) return Ok{};
    // Stay out of the election for one dead time so that another member
    // takes over instead of us re-electing ourselves at the next timer.
    stepping_down_ = true;
    stepdown_until_ = now_ + dead_time();
    stepdown_epoch_ = own_epoch_;
    become_standby(std::move(reason));
    return Ok{};
}

std::vector<MemberView> Membership::members() const {
    std::vector<MemberView> out;
    out.reserve(peers_.size() + 1);
    out.push_back(MemberView{cfg_.self, true, role_, epoch(), cfg_.priority, synced_, now_, true,
                             stepping_down_, sa_count_});
    for (const Peer& p : peers_)
        out.push_back(MemberView{p.id, alive(p, now_), p.hb.role, p.hb.epoch, p.hb.priority,
                                 p.hb.synced, p.last_heard, p.heard, p.hb.stepping_down,
                                 p.hb.sa_count});
    return out;
}

std::optional<std::uint16_t> Membership::active_member() const {
    if (role_ == Role::ACTIVE) return cfg_.self;
    if (const Peer* a = alive_active(now_)) return a->id;
    return std::nullopt;
}

}  // namespace ikecluster::cluster
