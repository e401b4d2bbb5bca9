#include "cluster/node.h"

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_map>

namespace ikecluster::cluster {

namespace {

// The IKE SA a replicated event is about (for PeerSyncMode::SUSPECTED).
std::optional<ike::IkeSpis> record_spis(const Record& r) {
    return std::visit(
        [](const auto& x) -> std::optional<ike::IkeSpis> {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, ike::IkeSaEstablished>) {
                return x.sa.spis;
            } else if constexpr (std::is_same_v<T, ike::IkeSaRekeyed>) {
                return x.sa.spis;
            } else if constexpr (std::is_same_v<T, ike::IkeMessageIdsAdvanced> ||
                                 std::is_same_v<T, ike::IkeSaDeleted>) {
                return x.spis;
            } else if constexpr (std::is_same_v<T, ike::ChildSaAdded> ||
                                 std::is_same_v<T, ike::ChildSaRekeyed> ||
                                 std::is_same_v<T, ike::ChildSaDeleted>) {
                return x.ike;
            } else {
                return std::nullopt;
            }
        },
        r);
}

// Counters the active has last sent for a child, so that checkpoints carry
// only what moved.
struct SentCounters {
    std::uint64_t out_next_seq = 0;
    std::uint64_t in_highest = 0;
};

constexpr std::size_t kCheckpointsPerRecord = 64;

// One link record carries the records of one engine step, each behind a
// 4-octet length, so a standby applies a step whole or not at all (a crash
// between "child rekeyed" and "message IDs advanced" must not leave it with
// half an exchange: the peer's retransmission would then meet a replica
// that lacks the old child but still expects the request).
Bytes frame(const std::vector<Bytes>& records) {
    Bytes out;
    for (const Bytes& r : records) {
        const std::uint32_t n = std::uint32_t(r.size());
        out.push_back(std::uint8_t(n >> 24));
        out.push_back(std::uint8_t(n >> 16));
        out.push_back(std::uint8_t(n >> 8));
        out.push_back(std::uint8_t(n));
        out.insert(out.end(), r.begin(), r.end());
    }
    return out;
}

// The records of a frame; nullopt if the lengths do not add up.
std::optional<std::vector<BytesView>> unframe(BytesView b) {
    std::vector<BytesView> out;
    std::size_t i = 0;
    while (i < b.size()) {
        if (b.size() - i < 4) return std::nullopt;
        const std::size_t n = (std::size_t(b[i]) << 24) | (std::size_t(b[i + 1]) << 16) |
                              (std::size_t(b[i + 2]) << 8) | std::size_t(b[i + 3]);
        i += 4;
        if (n > b.size() - i) return std::nullopt;
        out.push_back(b.subspan(i, n));
        i += n;
    }
    if (out.empty()) return std::nullopt;
    return out;
}

}  // namespace

struct ClusterNode::Impl {
    NodeConfig cfg;
    crypto::Random& rng;
    Membership membership;
    std::map<std::uint16_t, SyncLink> links;
    std::map<std::uint16_t, bool> was_established;
    std::map<std::uint16_t, Time> bulk_at;     // when each member last got a snapshot
    std::map<std::uint16_t, Time> reasserted;  // rival actives we answered
    std::map<std::uint16_t, bool> was_alive;   // at the last pump
    // Members whose acknowledgements tickets wait for (their snapshot is
    // complete), and snapshots whose BulkEnd waits: member -> (mark, bulk id).
    std::map<std::uint16_t, bool> tracked;
    std::map<std::uint16_t, Time> tracked_at;
    // The highest outbound counter this member has seen in its own data
    // plane per Child SA (by spi_in), kept across step-downs.
    std::unordered_map<std::uint32_t, std::uint64_t> own_used;
    bool first_takeover = true;
    bool bulk_all_due = false;  // after a takeover, at the next pump
    // Members that were not alive when bulk_all_due came round (the one
    // that just died, mostly): they get their snapshot when heard again.
    std::set<std::uint16_t> bulk_owed;
    std::vector<std::uint16_t> waited;  // members tickets waited for at the last pump
    Time quarantine_until{};
    Time last_now{};
    std::map<std::uint16_t, std::pair<std::uint64_t, std::uint64_t>> pending_bulk;
    Replica replica;
    NodeStats stats;
    std::vector<Outgoing> out;
    std::vector<NodeAction> actions;
    std::unordered_map<std::uint32_t, SentCounters> sent;
    std::optional<ike::CookieSecrets> cookies_sent;
    // Standby: the member whose records we apply (the active whose bulk we
    // follow), and whether that bulk is complete.
    std::optional<std::uint16_t> source;
    std::uint64_t source_epoch = 0;
    bool synced = false;
    std::uint64_t bulk_id = 0;
    Time next_checkpoint = Time::max();
    bool checkpoint_due = false;
    // RFC 6311 after a takeover: SAs still to hand out in SyncPeers, paced.
    std::deque<ike::IkeSpis> sync_queue;
    Time next_sync_batch = Time::max();
    // Standby: when the active last changed each IKE SA (PeerSyncMode::SUSPECTED).
    std::map<ike::IkeSpis, Time> touched;

    Impl(NodeConfig c, crypto::Random& r, Membership m)
        : cfg(std::move(c)), rng(r), membership(std::move(m)) {}

    bool active() const { return membership.role() == Role::ACTIVE; }

    // Only members with a complete snapshot can take over, and only while
    // they are alive (by heartbeats) and connected.
    bool waits_for_member(std::uint16_t id) const {
        auto link = links.find(id);
        if (link == links.end() || !link->second.established()) return false;
        auto tr = tracked.find(id);
        if (tr == tracked.end() || !tr->second) return false;
        for (const MemberView& v : membership.members()) {
            if (v.id != id) continue;
            if (v.alive) return true;
            // A member that acknowledged its whole snapshot is there even if
            // none of its (unreliable) heartbeats has reached us yet; it
            // could take over. Wait for it for one dead time at most.
            // (A restarted member was heard in its earlier life: what counts
            // is whether it acknowledged its snapshot after the last
            // heartbeat we had from it.)
            auto at = tracked_at.find(id);
            return at != tracked_at.end() && (!v.heard || at->second > v.last_heard) &&
                   last_now < at->second + cfg.membership.heartbeat * cfg.membership.dead_after;
        }
        return false;
    }

    void send_record(std::uint16_t to, const Record& r, Time now) {
        auto it = links.find(to);
        if (it == links.end()) return;
        if (!it->second.send(frame({encode(r, now)}))) {
            // The link reset its stream (the peer is too far behind): it
            // reports a reset, and the next pump sends a bulk snapshot.
            return;
        }
        ++stats.records_sent;
    }

    void broadcast(const Record& r, Time now) { broadcast_frame(frame({encode(r, now)})); }

    // The events of the engine step in progress, sent as one frame.
    std::vector<Bytes> step;
    void flush_step() {
        if (step.empty()) return;
        broadcast_frame(frame(step));
        step.clear();
    }

    void broadcast_frame(const Bytes& enc) {
        for (auto& [id, link] : links) {
            if (!link.established()) continue;  // it gets a bulk snapshot once it is
            if (link.send(enc)) ++stats.records_sent;
        }
    }

    // A snapshot for one member. Its BulkEnd is held back until the member
    // has acknowledged everything before it: only then does the member count
    // as synced (it can take over), and from then on every ticket waits for
    // it. Records sent meanwhile travel behind the snapshot on the same
    // ordered stream, so when the member applies BulkEnd it has all of them.
    void send_bulk(std::uint16_t to, Time now) {
        bulk_owed.erase(to);  // any snapshot settles what a takeover owed
        ++bulk_id;
        bulk_at[to] = now;
        tracked[to] = false;
        for (const Record& r : replica.snapshot(membership.epoch(), bulk_id)) {
            if (std::holds_alternative<BulkEnd>(r)) break;
            send_record(to, r, now);
        }
        pending_bulk[to] = {links.at(to).sent_records(), bulk_id};
        ++stats.bulk_sent;
    }

    void finish_bulks(Time now) {
        for (auto it = pending_bulk.begin(); it != pending_bulk.end();) {
            auto link = links.find(it->first);
            if (link == links.end() || !link->second.established() ||
                link->second.acked_records() < it->second.first) {
                ++it;
                continue;
            }
            std::uint16_t to = it->first;
            BulkEnd end{it->second.second, replica.ike_sa_count()};
            it = pending_bulk.erase(it);
            send_record(to, Record{end}, now);
            tracked[to] = true;
            tracked_at[to] = now;
        }
    }

    // The counters a new active resumes from (RFC 6027 §3.4/§3.5).
    ike::ChildCounters resume_counters(std::uint32_t spi_in) const {
        ike::ChildCounters c;
        c.spi_in = spi_in;
        auto rc = replica.counters(spi_in);
        std::uint64_t base = rc ? rc->out_next_seq : 1;
        // What we sent ourselves on this SA in an earlier term (a split
        // brain we lost) may be beyond anything the others know of.
        if (auto own = own_used.find(spi_in); own != own_used.end())
            base = std::max(base, own->second);
        // A member's first takeover after it (re)started also jumps two full
        // stripe cycles: in an earlier life it may have been the rival of a
        // split brain, sent in a stripe of its own above what the winner
        // knows, and crashed before anyone learned of it.
        std::uint64_t jump = cfg.seq_margin;
        if (first_takeover && cfg.stripes.count > 1)
            jump += 2 * (std::uint64_t(cfg.stripes.count) << cfg.stripes.shift);
        c.out_next_seq = esp::stripe_align(base + jump, cfg.stripes);
        c.in_highest = rc ? rc->in_highest : 0;
        return c;
    }

    // Which taken-over SAs get an RFC 6311 sync (NodeConfig::peer_sync).
    bool lag_suspected(Time now, const ike::IkeSaState& sa, bool was_synced) const {
        if (!was_synced) return true;
        const Duration window =
            cfg.membership.heartbeat * cfg.membership.dead_after + std::chrono::seconds(1);
        auto it = touched.find(sa.spis);
        if (it != touched.end() && now - it->second <= window) return true;
        auto near = [&](Time t) { return t != Time::max() && t <= now + window; };
        if (near(sa.rekey_at)) return true;
        for (const auto& c : sa.children) {
            if (near(c.rekey_at)) return true;
        }
        return false;
    }

    void plan_peer_syncs(Time now, Takeover& t) {
        sync_queue.clear();
        t.peer_sync.assign(t.sas.size(), 0);
        if (cfg.peer_sync == PeerSyncMode::NEVER) return;
        for (std::size_t i = 0; i < t.sas.size(); ++i) {
            const ike::IkeSaState& sa = t.sas[i];
            if (!sa.peer.msgid_sync && !sa.peer.replay_sync) continue;
            if (cfg.peer_sync == PeerSyncMode::SUSPECTED && !lag_suspected(now, sa, synced))
                continue;
            t.peer_sync[i] = 1;
            sync_queue.push_back(sa.spis);
        }
        touched.clear();
        next_sync_batch = sync_queue.empty() ? Time::max() : now;
    }

    static constexpr Duration kSyncBatchInterval = std::chrono::milliseconds(5);

    void release_peer_syncs(Time now) {
        if (now < next_sync_batch) return;
        if (!active()) {
            sync_queue.clear();
            next_sync_batch = Time::max();
            return;
        }
        const std::size_t per_batch = std::max<std::size_t>(
            1, std::size_t(cfg.peer_sync_rate) * std::size_t(kSyncBatchInterval.count()) /
                   std::size_t(std::chrono::nanoseconds(std::chrono::seconds(1)).count()));
        SyncPeers b;
        b.request.msgid_jump = cfg.msgid_jump;
        b.request.replay_delta = cfg.seq_margin;
        while (!sync_queue.empty() && b.sas.size() < per_batch) {
            b.sas.push_back(sync_queue.front());
            sync_queue.pop_front();
        }
        stats.peer_syncs += b.sas.size();
        if (!b.sas.empty()) actions.push_back(std::move(b));
        next_sync_batch = sync_queue.empty() ? Time::max() : now + kSyncBatchInterval;
    }

    void become_active(Time now, const RoleChange& ch) {
        Takeover t;
        t.epoch = ch.epoch;
        t.reason = ch.reason;
        // What we resume from is what we must not go back behind: the
        // counters we are about to use become the replica's (and so every
        // standby's) starting point.
        Checkpoints cp;
        t.sas.reserve(replica.ike_sa_count());
        t.counters.reserve(replica.ike_sa_count());
        replica.for_each([&](const ike::IkeSaState& sa) {
            t.sas.push_back(sa);
            auto& mine = t.counters.emplace_back();
            for (const auto& c : sa.children) {
                mine.push_back(resume_counters(c.spi_in));
                cp.items.push_back(
                    {sa.spis, c.spi_in, mine.back().out_next_seq, mine.back().in_highest});
            }
        });
        t.cookies = replica.cookie_secrets();
        t.synced = synced;
        plan_peer_syncs(now, t);
        if (!cp.items.empty()) (void)replica.apply(Record{cp});
        first_takeover = false;
        sent.clear();
        source.reset();
        synced = true;
        ++stats.takeovers;
        actions.push_back(std::move(t));
        // Every other member follows us from now on: a snapshot of what we
        // took over, then our events. Not in this call: the shell imports the
        // SAs first, so traffic resumes before we spend time on snapshots.
        bulk_all_due = true;
        next_checkpoint = now + cfg.checkpoint_interval;
    }

    void become_standby(const RoleChange& ch) {
        ++stats.stepdowns;
        sync_queue.clear();
        next_sync_batch = Time::max();
        actions.push_back(Stepdown{ch.epoch, ch.reason});
        // Our state is no longer authoritative: wait for the new active's
        // bulk snapshot before we count as synced again.
        replica.clear();
        sent.clear();
        tracked.clear();
        pending_bulk.clear();
        bulk_all_due = false;
        bulk_owed.clear();
        cookies_sent.reset();
        source.reset();
        synced = false;
        membership.set_synced(false);
        next_checkpoint = Time::max();
        checkpoint_due = false;
    }

    void handle_changes(Time now) {
        for (const RoleChange& ch : membership.take_changes()) {
            if (ch.to == Role::ACTIVE && ch.from != Role::ACTIVE) {
                become_active(now, ch);
            } else if (ch.to == Role::STANDBY && ch.from == Role::ACTIVE) {
                become_standby(ch);
            }
        }
    }

    void on_frame(Time now, std::uint16_t from, BytesView bytes) {
        auto parts = unframe(bytes);
        if (!parts) {
            ++stats.records_malformed;
            return;
        }
        // Decode all first: a frame is applied whole or not at all.
        std::vector<Record> recs;
        for (BytesView part : *parts) {
            auto rec = decode(part, now);
            if (!rec) {
                ++stats.records_malformed;
                return;
            }
            recs.push_back(std::move(*rec));
        }
        for (Record& r : recs)
            on_record(from, std::move(r));
    }

    void on_record(std::uint16_t from, Record decoded) {
        std::optional<Record> rec{std::move(decoded)};
        // Counters only ever move forward, so checkpoints are safe to merge
        // from anyone: a rival active of a split brain reports sequence
        // numbers it used that must never be used again.
        if (const auto* cp = std::get_if<Checkpoints>(&*rec); cp && (active() || source != from)) {
            for (const auto& c : cp->items) {
                auto& u = own_used[c.spi_in];
                u = std::max(u, c.out_next_seq);
            }
            ++stats.records_ignored;
            return;
        }
        if (active()) {
            // Nobody replicates to the active; a deposed member still
            // sending has not heard of our epoch yet. Its heartbeats will
            // tell it.
            ++stats.records_ignored;
            return;
        }
        if (const auto* b = std::get_if<BulkBegin>(&*rec)) {
            // A bulk snapshot starts a new source if it comes from a newer
            // (or the same) epoch than the one we follow.
            if (b->epoch < source_epoch && source && *source != from) {
                ++stats.records_ignored;
                return;
            }
            source = from;
            source_epoch = b->epoch;
            synced = false;
            membership.set_synced(false);
        } else if (!source || *source != from) {
            ++stats.records_ignored;
            return;
        }
        if (cfg.peer_sync == PeerSyncMode::SUSPECTED) {
            if (auto spis = record_spis(*rec)) touched[*spis] = last_now;
            // Bounded by the SAs that exist: gone ones leave the map.
            if (const auto* d = std::get_if<ike::IkeSaDeleted>(&*rec)) touched.erase(d->spis);
            if (const auto* r = std::get_if<ike::IkeSaRekeyed>(&*rec)) touched.erase(r->old_spis);
            if (std::holds_alternative<BulkBegin>(*rec)) touched.clear();
        }
        if (replica.apply(*rec)) {
            ++stats.records_applied;
        } else {
            ++stats.records_rejected;
        }
        if (std::holds_alternative<BulkEnd>(*rec)) {
            ++stats.bulk_received;
            synced = true;
            membership.set_synced(true);
        }
    }

    void pump(Time now) {
        last_now = now;
        flush_step();
        if (bulk_all_due && active()) {
            bulk_all_due = false;
            // Not to a member we know is dead: its link still looks
            // established, and a 10,000-SA snapshot queued for it would
            // cost the takeover tens of milliseconds for nothing.
            std::set<std::uint16_t> alive;
            for (const MemberView& v : membership.members())
                if (v.alive) alive.insert(v.id);
            for (auto& [id, link] : links) {
                if (!alive.count(id)) {
                    bulk_owed.insert(id);
                } else if (link.established() && !pending_bulk.count(id)) {
                    send_bulk(id, now);
                }
            }
        }
        // Links: new or restarted peers get a snapshot from the active.
        for (auto& [id, link] : links) {
            bool reset = link.take_peer_reset();
            bool est = link.established();
            bool fresh = est && !was_established[id];
            was_established[id] = est;
            if (reset || !est) {
                tracked[id] = false;
                pending_bulk.erase(id);
            }
            if ((reset || fresh) && active() && est) send_bulk(id, now);
        }
        // After the links: a member that restarted got its snapshot there
        // (send_bulk settles the debt).
        if (!bulk_owed.empty() && active()) {
            for (const MemberView& v : membership.members()) {
                if (!v.alive || !bulk_owed.count(v.id)) continue;
                bulk_owed.erase(v.id);
                auto link = links.find(v.id);
                if (link != links.end() && link->second.established() && !pending_bulk.count(v.id))
                    send_bulk(v.id, now);
            }
        }
        // A standby that says it is not synced although everything we sent
        // it was acknowledged lost its state some other way (it was the
        // other side of a split brain and stepped down): send it a snapshot.
        if (active()) {
            for (const MemberView& v : membership.members()) {
                auto it = links.find(v.id);
                if (it == links.end() || !v.alive || v.synced || v.role != Role::STANDBY) continue;
                if (!it->second.established() || it->second.queued() != 0) continue;
                if (pending_bulk.count(v.id)) continue;
                auto at = bulk_at.find(v.id);
                if (at != bulk_at.end() && now - at->second < 5 * cfg.membership.heartbeat)
                    continue;
                send_bulk(v.id, now);
            }
        }
        for (auto& [id, link] : links) {
            for (auto& d : link.take_delivered()) {
                if (d.reliable) {
                    on_frame(now, id, d.record);
                } else if (auto hb = decode_heartbeat(d.record); hb && hb->member == id) {
                    membership.on_heartbeat(now, *hb);
                }
            }
        }
        handle_changes(now);
        release_peer_syncs(now);
        if (active()) finish_bulks(now);
        last_now = now;
        if (active()) {
            std::vector<std::uint16_t> w;
            for (const auto& [id, link] : links) {
                if (waits_for_member(id)) w.push_back(id);
            }
            for (std::uint16_t id : waited) {
                if (std::find(w.begin(), w.end(), id) == w.end()) {
                    quarantine_until =
                        now + cfg.membership.heartbeat * (cfg.membership.dead_after + 1);
                }
            }
            waited = std::move(w);
        } else {
            waited.clear();
        }
        if (active()) {
            for (const MemberView& v : membership.members()) {
                if (v.id == cfg.membership.self) continue;
                // A member we hear again after a silence may have claimed
                // the address meanwhile (a healed partition), even if it
                // has already stepped down by the time we hear it.
                bool back = v.alive && !was_alive[v.id];
                was_alive[v.id] = v.alive;
                if (!v.alive || (v.role != Role::ACTIVE && !back)) continue;
                auto at = reasserted.find(v.id);
                if (at != reasserted.end() && now - at->second < 10 * cfg.membership.heartbeat)
                    continue;
                reasserted[v.id] = now;
                actions.push_back(Reassert{membership.epoch(), v.id, v.role == Role::ACTIVE});
            }
        }
        if (membership.take_heartbeat_due()) {
            Heartbeat hb = membership.heartbeat();
            hb.sa_count = replica.ike_sa_count();
            Bytes enc = encode(hb);
            for (auto& [id, link] : links)
                link.send_unreliable(enc);
        }
        if (active() && now >= next_checkpoint) {
            checkpoint_due = true;
            next_checkpoint = now + cfg.checkpoint_interval;
        }
        for (auto& [id, link] : links) {
            link.flush(now);
            for (auto& dg : link.take_datagrams())
                out.push_back({id, std::move(dg)});
        }
    }
};

Result<ClusterNode> ClusterNode::create(NodeConfig cfg, crypto::Random& rng, Time now) {
    if (cfg.membership.holddown == Duration{0}) cfg.membership.holddown = kDefaultHolddown;
    auto m = Membership::create(cfg.membership, now);
    if (!m) return m.error();
    auto impl = std::make_unique<Impl>(cfg, rng, std::move(*m));
    for (std::uint16_t peer : cfg.membership.peers) {
        SyncLinkConfig lc;
        lc.self = cfg.membership.self;
        lc.peer = peer;
        lc.keys = cfg.keys;
        lc.max_datagram = cfg.max_datagram;
        // IKE responses wait for these acknowledgements (hold-until-synced):
        // a 5 ms delayed ACK would be 5 ms on every IKE exchange.
        lc.ack_delay = std::chrono::microseconds(500);
        auto link = SyncLink::create(std::move(lc), rng, now);
        if (!link) return link.error();
        impl->links.emplace(peer, std::move(*link));
        impl->was_established[peer] = false;
    }
    return ClusterNode(std::move(impl));
}

ClusterNode::ClusterNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterNode::ClusterNode(ClusterNode&&) noexcept = default;
ClusterNode& ClusterNode::operator=(ClusterNode&&) noexcept = default;
ClusterNode::~ClusterNode() = default;

void ClusterNode::on_engine_event(Time now, const ike::Event& e) {
    Impl& s = *impl_;
    if (!s.active()) return;
    Record r = std::visit([](const auto& ev) { return Record{ev}; }, e);
    if (s.cfg.withhold_msgids && std::holds_alternative<ike::IkeMessageIdsAdvanced>(r)) {
        (void)s.replica.apply(r);
        return;
    }
    // Our own replica follows our events too: it is what a member that
    // joins later gets as its bulk snapshot.
    (void)s.replica.apply(r);
    if (const auto* d = std::get_if<ike::ChildSaDeleted>(&e)) s.sent.erase(d->spi_in);
    if (const auto* d = std::get_if<ike::ChildSaRekeyed>(&e)) s.sent.erase(d->old_spi_in);
    // Sent with the rest of this engine step by ticket() or flush().
    s.step.push_back(encode(r, now));
}

void ClusterNode::on_checkpoints(Time now, const std::vector<CounterCheckpoint>& cps) {
    Impl& s = *impl_;
    for (const CounterCheckpoint& c : cps) {
        auto& u = s.own_used[c.spi_in];
        u = std::max(u, c.out_next_seq);
    }
    if (!s.active()) return;
    s.flush_step();  // the events these counters belong to go first
    Checkpoints batch;
    auto flush_batch = [&] {
        if (batch.items.empty()) return;
        Record r{batch};
        (void)s.replica.apply(r);
        s.broadcast(r, now);
        batch.items.clear();
    };
    for (const CounterCheckpoint& c : cps) {
        SentCounters& last = s.sent[c.spi_in];
        if (last.out_next_seq == c.out_next_seq && last.in_highest == c.in_highest) continue;
        last = {c.out_next_seq, c.in_highest};
        batch.items.push_back(c);
        ++s.stats.checkpoints_sent;
        if (batch.items.size() == kCheckpointsPerRecord) flush_batch();
    }
    flush_batch();
    s.pump(now);
}

void ClusterNode::on_cookie_secrets(Time now, const ike::CookieSecrets& secrets) {
    Impl& s = *impl_;
    if (!s.active()) return;
    if (s.cookies_sent && *s.cookies_sent == secrets) return;
    s.flush_step();
    s.cookies_sent = secrets;
    Record r{CookieSecretsRecord{secrets}};
    (void)s.replica.apply(r);
    s.broadcast(r, now);
    s.pump(now);
}

void ClusterNode::receive(Time now, std::uint16_t from, BytesView datagram) {
    auto it = impl_->links.find(from);
    if (it == impl_->links.end()) return;
    it->second.receive(now, datagram);
    impl_->pump(now);
}

void ClusterNode::on_timer(Time now) {
    impl_->membership.on_timer(now);
    for (auto& [id, link] : impl_->links)
        link.on_timer(now);
    impl_->pump(now);
}

Time ClusterNode::next_deadline() const {
    Time t = std::min(
        {impl_->membership.next_deadline(), impl_->next_checkpoint, impl_->next_sync_batch});
    if (impl_->bulk_all_due) t = std::min(t, impl_->last_now);
    for (const auto& [id, link] : impl_->links)
        t = std::min(t, link.next_deadline());
    return t;
}

std::vector<ClusterNode::Outgoing> ClusterNode::take_datagrams() {
    return std::exchange(impl_->out, {});
}

std::vector<NodeAction> ClusterNode::take_actions() {
    return std::exchange(impl_->actions, {});
}

bool ClusterNode::take_checkpoint_due() {
    return std::exchange(impl_->checkpoint_due, false);
}

std::vector<std::pair<ike::IkeSpis, std::uint32_t>> ClusterNode::children() const {
    std::vector<std::pair<ike::IkeSpis, std::uint32_t>> v;
    impl_->replica.for_each([&](const ike::IkeSaState& sa) {
        for (const auto& c : sa.children)
            v.emplace_back(sa.spis, c.spi_in);
    });
    return v;
}

Status ClusterNode::set_role(Time now, Role r, bool force) {
    Status st = impl_->membership.set_role(now, r, force);
    if (!st) return st;
    impl_->pump(now);
    return st;
}

void ClusterNode::flush(Time now) {
    impl_->flush_step();
    impl_->pump(now);
}

ClusterNode::Ticket ClusterNode::ticket() {
    Ticket t;
    Impl& s = *impl_;
    s.flush_step();
    if (!s.active()) return t;
    t.quarantined = s.last_now < s.quarantine_until;
    for (const auto& [id, link] : s.links) {
        if (s.waits_for_member(id)) t.marks.push_back({id, link.stream(), link.sent_records()});
    }
    return t;
}

ClusterNode::TicketState ClusterNode::check(const Ticket& t) const {
    const Impl& s = *impl_;
    if (t.quarantined) return TicketState::ABANDONED;
    if (!s.active()) return t.marks.empty() ? TicketState::ACKED : TicketState::ABANDONED;
    for (const auto& m : t.marks) {
        if (!s.waits_for_member(m.member)) return TicketState::ABANDONED;
        const SyncLink& link = s.links.at(m.member);
        if (link.stream() != m.stream) return TicketState::ABANDONED;  // reset: it lost them
        if (link.acked_records() < m.records) return TicketState::PENDING;
    }
    return TicketState::ACKED;
}

Role ClusterNode::role() const {
    return impl_->membership.role();
}
std::uint64_t ClusterNode::epoch() const {
    return impl_->membership.epoch();
}
bool ClusterNode::synced() const {
    return impl_->synced;
}
const Membership& ClusterNode::membership() const {
    return impl_->membership;
}
const Replica& ClusterNode::replica() const {
    return impl_->replica;
}
const NodeStats& ClusterNode::stats() const {
    return impl_->stats;
}

const SyncLinkStats* ClusterNode::link_stats(std::uint16_t member) const {
    auto it = impl_->links.find(member);
    return it == impl_->links.end() ? nullptr : &it->second.stats();
}

bool ClusterNode::link_established(std::uint16_t member) const {
    auto it = impl_->links.find(member);
    return it != impl_->links.end() && it->second.established();
}

}  // namespace ikecluster::cluster
