#include "cluster/replica.h"

#include <algorithm>
#include <string>
#include <utility>

namespace ikecluster::cluster {
namespace {

std::string hex64(std::uint64_t v) {
    static const char* digits = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4)
        s[std::size_t(i)] = digits[v & 15];
    return s;
}
std::string show(const ike::IkeSpis& s) {
    return hex64(s.spi_i) + "_i " + hex64(s.spi_r) + "_r";
}
std::string show_spi(std::uint32_t spi) {
    return hex64(spi).substr(8);
}
Error reject(const std::string& what) {
    return make_error(0, what);
}

std::vector<ike::ChildSaState>::iterator find_child(ike::IkeSaState& sa, std::uint32_t spi_in) {
    return std::find_if(sa.children.begin(), sa.children.end(),
                        [spi_in](const ike::ChildSaState& c) { return c.spi_in == spi_in; });
}

}  // namespace

Status Replica::apply(const Record& r) {
    Status s = std::visit([this](const auto& x) { return on(x); }, r);
    if (s) {
        ++stats_.applied;
    } else {
        ++stats_.rejected;
    }
    return s;
}

const ike::IkeSaState* Replica::find(const ike::IkeSpis& s) const {
    auto it = sas_.find(s);
    return it == sas_.end() ? nullptr : &it->second;
}

std::optional<ChildCounters> Replica::counters(std::uint32_t spi_in) const {
    auto it = children_.find(spi_in);
    if (it == children_.end()) return std::nullopt;
    return it->second.counters;
}

void Replica::clear() {
    sas_.clear();
    children_.clear();
    cookies_.reset();
    bulk_.reset();
}

Status Replica::check_children(const ike::IkeSaState& sa, const ike::IkeSpis* a,
                               const ike::IkeSpis* b) const {
    if (sa.children.size() > kMaxChildren) {
        return reject("IKE SA " + show(sa.spis) + ": more than " + std::to_string(kMaxChildren) +
                      " children");
    }
    // At most 64 children: a quadratic check is cheaper than a set.
    for (std::size_t i = 0; i < sa.children.size(); ++i) {
        std::uint32_t spi = sa.children[i].spi_in;
        for (std::size_t j = 0; j < i; ++j) {
            if (sa.children[j].spi_in == spi) {
                return reject("IKE SA " + show(sa.spis) + ": two children with spi_in " +
                              show_spi(spi));
            }
        }
        auto it = children_.find(spi);
        if (it == children_.end()) continue;
        const ike::IkeSpis& owner = it->second.owner;
        if ((a && owner == *a) || (b && owner == *b)) continue;
        return reject("IKE SA " + show(sa.spis) + ": child spi_in " + show_spi(spi) +
                      " belongs to IKE SA " + show(owner));
    }
    return Ok{};
}

void Replica::erase_sa(SaMap::iterator it) {
    for (const auto& c : it->second.children)
        children_.erase(c.spi_in);
    sas_.erase(it);
}

void Replica::install(ike::IkeSaState sa, const ike::IkeSpis* a, const ike::IkeSpis* b) {
    std::vector<ChildCounters> keep(sa.children.size());
    for (std::size_t i = 0; i < sa.children.size(); ++i) {
        auto it = children_.find(sa.children[i].spi_in);
        if (it != children_.end()) keep[i] = it->second.counters;
    }
    for (const ike::IkeSpis* s : {a, b}) {
        if (!s) continue;
        auto it = sas_.find(*s);
        if (it != sas_.end()) erase_sa(it);
    }
    for (std::size_t i = 0; i < sa.children.size(); ++i) {
        children_[sa.children[i].spi_in] = Child{sa.spis, keep[i]};
    }
    ike::IkeSpis key = sa.spis;
    sas_.insert_or_assign(key, std::move(sa));
}

Status Replica::on(const ike::IkeSaEstablished& r) {
    if (Status s = check_children(r.sa, &r.sa.spis, nullptr); !s) return s;
    install(r.sa, &r.sa.spis, nullptr);
    return Ok{};
}

Status Replica::on(const ike::IkeMessageIdsAdvanced& r) {
    auto it = sas_.find(r.spis);
    if (it == sas_.end()) return reject("message IDs for unknown IKE SA " + show(r.spis));
    it->second.msgids = r.msgids;
    return Ok{};
}

Status Replica::on(const ike::ChildSaAdded& r) {
    auto it = sas_.find(r.ike);
    if (it == sas_.end()) return reject("child for unknown IKE SA " + show(r.ike));
    ike::IkeSaState& sa = it->second;
    std::uint32_t spi = r.child.spi_in;
    auto c = find_child(sa, spi);
    if (c != sa.children.end()) {
        *c = r.child;  // same SA, newer details; the counters stay
        return Ok{};
    }
    if (auto owner = children_.find(spi); owner != children_.end()) {
        return reject("child spi_in " + show_spi(spi) + " already belongs to IKE SA " +
                      show(owner->second.owner));
    }
    if (sa.children.size() >= kMaxChildren) {
        return reject("IKE SA " + show(r.ike) + " already has " + std::to_string(kMaxChildren) +
                      " children");
    }
    sa.children.push_back(r.child);
    children_.emplace(spi, Child{r.ike, ChildCounters{}});
    return Ok{};
}

Status Replica::on(const ike::ChildSaRekeyed& r) {
    auto it = sas_.find(r.ike);
    if (it == sas_.end()) return reject("child rekey for unknown IKE SA " + show(r.ike));
    ike::IkeSaState& sa = it->second;
    auto old = find_child(sa, r.old_spi_in);
    if (old == sa.children.end()) {
        return reject("rekey of unknown child " + show_spi(r.old_spi_in) + " of IKE SA " +
                      show(r.ike));
    }
    std::uint32_t spi = r.child.spi_in;
    // RFC 7296 §1.3.3: the new Child SA has SPIs of its own.
    if (spi == r.old_spi_in) {
        return reject("child rekey keeps spi_in " + show_spi(spi));
    }
    if (auto owner = children_.find(spi); owner != children_.end()) {
        return reject("new child spi_in " + show_spi(spi) + " already belongs to IKE SA " +
                      show(owner->second.owner));
    }
    *old = r.child;  // in place: the order of children is part of the state
    children_.erase(r.old_spi_in);
    children_.emplace(spi, Child{r.ike, ChildCounters{}});
    return Ok{};
}

Status Replica::on(const ike::ChildSaDeleted& r) {
    auto it = sas_.find(r.ike);
    if (it == sas_.end()) return reject("child delete for unknown IKE SA " + show(r.ike));
    ike::IkeSaState& sa = it->second;
    auto c = find_child(sa, r.spi_in);
    if (c == sa.children.end()) {
        return reject("delete of unknown child " + show_spi(r.spi_in) + " of IKE SA " +
                      show(r.ike));
    }
    sa.children.erase(c);
    children_.erase(r.spi_in);
    return Ok{};
}

Status Replica::on(const ike::IkeSaRekeyed& r) {
    if (!sas_.count(r.old_spis)) return reject("rekey of unknown IKE SA " + show(r.old_spis));
    if (Status s = check_children(r.sa, &r.old_spis, &r.sa.spis); !s) return s;
    // The old IKE SA lives on, without children, until its Delete exchange
    // completes (the engine then reports IkeSaDeleted): after a takeover the
    // new active must still answer the peer's Delete for it, or the peer
    // retransmits it until it gives up.
    ike::IkeSaState old = sas_.at(r.old_spis);
    old.children.clear();
    install(r.sa, &r.old_spis, &r.sa.spis);
    if (!(r.old_spis == r.sa.spis)) sas_.insert_or_assign(r.old_spis, std::move(old));
    return Ok{};
}

Status Replica::on(const ike::IkeSaDeleted& r) {
    auto it = sas_.find(r.spis);
    if (it == sas_.end()) return reject("delete of unknown IKE SA " + show(r.spis));
    erase_sa(it);
    return Ok{};
}

Status Replica::on(const Checkpoints& r) {
    for (const CounterCheckpoint& c : r.items) {
        auto it = children_.find(c.spi_in);
        if (it == children_.end()) {
            ++stats_.checkpoints_ignored;
            continue;
        }
        // Checkpoints may arrive late or out of order relative to each
        // other; a counter that went back could make the next active reuse
        // an ESP sequence number (RFC 4303 §3.3.3) or accept a replay.
        ChildCounters& k = it->second.counters;
        k.out_next_seq = std::max(k.out_next_seq, c.out_next_seq);
        k.in_highest = std::max(k.in_highest, c.in_highest);
    }
    return Ok{};
}

Status Replica::on(const CookieSecretsRecord& r) {
    cookies_ = r.secrets;
    return Ok{};
}

Status Replica::on(const BulkBegin& r) {
    clear();
    bulk_ = r.bulk_id;
    return Ok{};
}

Status Replica::on(const BulkEnd& r) {
    if (!bulk_) return reject("end of bulk " + std::to_string(r.bulk_id) + " without a begin");
    if (*bulk_ != r.bulk_id) {
        return reject("end of bulk " + std::to_string(r.bulk_id) + " during bulk " +
                      std::to_string(*bulk_));
    }
    bulk_.reset();
    if (r.ike_sa_count != sas_.size()) {
        return reject("bulk " + std::to_string(r.bulk_id) + " announced " +
                      std::to_string(r.ike_sa_count) + " IKE SAs, have " +
                      std::to_string(sas_.size()));
    }
    return Ok{};
}

std::vector<Record> Replica::snapshot(std::uint64_t epoch, std::uint64_t bulk_id) const {
    std::vector<Record> out;
    out.reserve(sas_.size() + children_.size() / kMaxCheckpoints + 4);
    out.emplace_back(BulkBegin{epoch, bulk_id});
    for (const auto& [spis, sa] : sas_)
        out.emplace_back(ike::IkeSaEstablished{sa});
    // Counters still at their start values are what IkeSaEstablished
    // creates anyway.
    Checkpoints batch;
    for (const auto& [spi, child] : children_) {
        if (child.counters == ChildCounters{}) continue;
        batch.items.push_back(CounterCheckpoint{child.owner, spi, child.counters.out_next_seq,
                                                child.counters.in_highest});
        if (batch.items.size() == kMaxCheckpoints) {
            out.emplace_back(std::move(batch));
            batch = Checkpoints{};
        }
    }
    if (!batch.items.empty()) out.emplace_back(std::move(batch));
    if (cookies_) out.emplace_back(CookieSecretsRecord{*cookies_});
    out.emplace_back(BulkEnd{bulk_id, sas_.size()});
    return out;
}

bool operator==(const Replica& a, const Replica& b) {
    return a.sas_ == b.sas_ && a.children_ == b.children_ && a.cookies_ == b.cookies_;
}

}  // namespace ikecluster::cluster
