// A standby member's copy of every established SA, kept current by records
// (cluster/records.h) from the active member, from which it rebuilds every SA
// on takeover.
//
// Invariants the store keeps (a record that would break one is rejected with
// the state unchanged):
//   - at most one IKE SA per SPI pair;
//   - an inbound Child SA SPI (spi_in) belongs to one child of one IKE SA:
//     the data plane and the checkpoints identify Child SAs by it alone
//     (SPIs come from per-member spaces, cluster/spi_space.h, so they are
//     unique across the cluster);
//   - every child has counters (1/0 until a checkpoint moves them), and
//     counters exist for no other SPI.
// Both maps are hashed so that 100,000 IKE SAs cost O(1) per record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "cluster/records.h"
#include "ike/cookie.h"
#include "ike/state.h"

namespace ikecluster::cluster {

struct ChildCounters {
    std::uint64_t out_next_seq = 1;
    std::uint64_t in_highest = 0;
    friend bool operator==(const ChildCounters&, const ChildCounters&) = default;
};

struct IkeSpisHash {
    std::size_t operator()(const ike::IkeSpis& s) const noexcept {
        // SPIs are random on the wire but may be sequential in tests; mix so
        // either spreads over the buckets.
        std::uint64_t x = s.spi_i * 0x9E3779B97F4A7C15ull ^ s.spi_r;
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ull;
        x ^= x >> 29;
        return static_cast<std::size_t>(x);
    }
};

class Replica {
  public:
    // Applies one record; an error (with the state unchanged, except as noted
    // for BulkEnd) for records that do not fit:
    //   IkeSaEstablished       inserts or replaces the SA. Children that were
    //                          already there (same spi_in) keep their counters.
    //   IkeMessageIdsAdvanced  replaces the message IDs of an existing SA.
    //   ChildSaAdded           appends a child, or replaces the one with the
    //                          same spi_in (keeping its counters).
    //   ChildSaRekeyed         replaces child old_spi_in by the new one, whose
    //                          counters start at 1/0; the old ones go.
    //   ChildSaDeleted         removes the child and its counters.
    //   IkeSaRekeyed           removes the old SA and inserts the new one; the
    //                          children moved over keep their counters.
    //   IkeSaDeleted           removes the SA and its children's counters.
    //   Checkpoints            moves counters forward only (the maximum of
    //                          old and new of each field, so a late or
    //                          reordered checkpoint never moves them back).
    //                          Children are found by spi_in alone (the IKE
    //                          SA may have been rekeyed since the data plane
    //                          read them); entries for unknown children are
    //                          ignored and counted (they are normal after a
    //                          delete), not an error.
    //   CookieSecretsRecord    replaces the cookie secrets.
    //   BulkBegin              forgets everything (SAs, counters, cookie
    //                          secrets: the bulk carries all of them) and
    //                          starts a bulk.
    //   BulkEnd                ends the bulk. An error if no bulk with that
    //                          id is in progress (nothing changes), or if
    //                          the count differs from ike_sa_count() (the
    //                          bulk ends anyway and the state is kept).
    Status apply(const Record& r);

    const ike::IkeSaState* find(const ike::IkeSpis& s) const;
    std::optional<ChildCounters> counters(std::uint32_t spi_in) const;
    std::size_t ike_sa_count() const { return sas_.size(); }
    std::size_t child_sa_count() const { return children_.size(); }
    // Forgets every SA, counter and cookie secret and any bulk in progress;
    // the statistics are kept.
    void clear();

    // f(const ike::IkeSaState&), in no particular order.
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& [spis, sa] : sas_)
            f(sa);
    }

    // Everything, as records that rebuild an equal Replica on an empty one:
    // BulkBegin, one IkeSaEstablished per IKE SA, Checkpoints (batched, at
    // most kMaxCheckpoints per record, only counters that have moved), the
    // cookie secrets if any, BulkEnd.
    std::vector<Record> snapshot(std::uint64_t epoch, std::uint64_t bulk_id) const;

    const std::optional<ike::CookieSecrets>& cookie_secrets() const { return cookies_; }
    bool in_bulk() const { return bulk_.has_value(); }

    struct Stats {
        std::uint64_t applied = 0, rejected = 0;
        std::uint64_t checkpoints_ignored = 0;  // entries for children we do not have
    };
    const Stats& stats() const { return stats_; }

    // Same SAs, counters and cookie secrets (bulk progress and statistics
    // are not state).
    friend bool operator==(const Replica& a, const Replica& b);

  private:
    struct Child {
        ike::IkeSpis owner;
        ChildCounters counters;
        friend bool operator==(const Child&, const Child&) = default;
    };
    using SaMap = std::unordered_map<ike::IkeSpis, ike::IkeSaState, IkeSpisHash>;

    Status on(const ike::IkeSaEstablished& r);
    Status on(const ike::IkeMessageIdsAdvanced& r);
    Status on(const ike::ChildSaAdded& r);
    Status on(const ike::ChildSaRekeyed& r);
    Status on(const ike::ChildSaDeleted& r);
    Status on(const ike::IkeSaRekeyed& r);
    Status on(const ike::IkeSaDeleted& r);
    Status on(const Checkpoints& r);
    Status on(const CookieSecretsRecord& r);
    Status on(const BulkBegin& r);
    Status on(const BulkEnd& r);

    // Whether `sa` may replace the SAs `a` and `b` (either may be null):
    // its children's spi_in are distinct and belong to no other SA.
    Status check_children(const ike::IkeSaState& sa, const ike::IkeSpis* a,
                          const ike::IkeSpis* b) const;
    // Replaces `a` and `b` (if present) by `sa`; children that existed keep
    // their counters.
    void install(ike::IkeSaState sa, const ike::IkeSpis* a, const ike::IkeSpis* b);
    void erase_sa(SaMap::iterator it);

    SaMap sas_;
    std::unordered_map<std::uint32_t, Child> children_;  // by spi_in
    std::optional<ike::CookieSecrets> cookies_;
    std::optional<std::uint64_t> bulk_;  // the id of the bulk in progress
    Stats stats_;
};

}  // namespace ikecluster::cluster
