#include "generator.h"

#include <algorithm>
#include <cmath>

#include "base/buffer.h"
#include "ike/proposal.h"
#include "ike/traffic_selector.h"
#include "wire/constants.h"
#include "wire/header.h"
#include "wire/message.h"

namespace ikecluster::load {

using namespace std::chrono_literals;

Percentiles percentiles(std::vector<double> v) {
    Percentiles p;
    if (v.empty()) return p;
    std::sort(v.begin(), v.end());
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    auto at = [&](double q) {
        auto rank = std::size_t(std::ceil(q * double(v.size())));
        return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
    };
    p.p50 = at(0.50);
    p.p90 = at(0.90);
    p.p99 = at(0.99);
    p.max = v.back();
    return p;
}

std::string format_id(const std::string& fmt, std::size_t i) {
    auto pos = fmt.find("%d");
    if (pos == std::string::npos) return fmt + std::to_string(i);
    return fmt.substr(0, pos) + std::to_string(i) + fmt.substr(pos + 2);
}

IpAddress offset_address(const IpAddress& base, std::uint32_t i) {
    BytesView b = base.bytes();
    const std::size_t n = b.size();
    std::uint32_t low = load_be32(b.data() + n - 4) + i;
    if (base.is_v4()) {
        std::array<std::uint8_t, 4> out{};
        store_be32(out.data(), low);
        return IpAddress::v4(out);
    }
    std::array<std::uint8_t, 16> out{};
    std::copy(b.begin(), b.end(), out.begin());
    store_be32(out.data() + 12, low);
    return IpAddress::v6(out);
}

Generator::Generator(const LoadOptions& o, crypto::Random& rng) : opt_(o), rng_(rng) {}
Generator::~Generator() = default;

Result<std::unique_ptr<Generator>> Generator::create(const LoadOptions& o, crypto::Random& rng) {
    if (o.count == 0 || o.concurrency == 0 || o.ports == 0)
        return Error{0, "count, concurrency and ports must be at least 1"};
    if (o.locals.empty()) return Error{0, "no local address"};
    if (o.psk.size() < 8) return Error{0, "the PSK needs at least 8 characters"};
    auto ike = ike::parse_proposals(o.ike_proposals, ike::ProposalKind::IKE);
    if (!ike) return Error{0, "IKE proposals: " + ike.error().what};
    auto esp = ike::parse_proposals(o.esp_proposals, ike::ProposalKind::ESP);
    if (!esp) return Error{0, "ESP proposals: " + esp.error().what};
    auto remote_ts = ike::parse_ts_list(o.remote_ts);
    if (!remote_ts) return Error{0, "remote selectors: " + remote_ts.error().what};
    if (auto id = ike::Identity::parse(format_id(o.id_fmt, 0)); !id)
        return Error{0, "identity format: " + id.error().what};
    if (o.probe_interval > Duration{0} && (!o.ts_base.is_v4() || !o.probe_target.is_v4()))
        return Error{0, "probes need IPv4 inner addresses and an IPv4 target"};
    if (o.bucket <= Duration{0}) return Error{0, "the timeline bucket must be positive"};
    if (!std::isfinite(o.sweep_rate) || o.sweep_rate < 0)
        return Error{0, "the sweep rate must be a finite number of probes/s, at least 0"};
    if (o.sweep_rate > 0 && o.probe_interval <= Duration{0})
        return Error{0, "the recovery sweep needs probes"};
    // A tunnel is probed once per interval: a shorter liveness timeout would
    // call every healthy tunnel dead between two probes.
    if (o.reconnect && o.liveness > Duration{0} && o.liveness <= 2 * o.probe_interval)
        return Error{0, "the liveness timeout must exceed two probe intervals"};

    std::unique_ptr<Generator> g(new Generator(o, rng));
    g->tunnels_.resize(o.count);
    const std::size_t engines = std::min(o.ports, o.count);
    std::vector<ike::EngineConfig> cfgs(engines);
    for (auto& c : cfgs) {
        c.retransmit.timeout = o.retransmit_timeout;
        c.retransmit.tries = o.retransmit_tries;
        c.connections.reserve(o.count / engines + 1);
    }
    for (std::size_t e = 0; e < engines; ++e)
        g->engine_addr_.push_back(o.locals[e % o.locals.size()]);
    const Bytes psk(o.psk.begin(), o.psk.end());
    for (std::size_t i = 0; i < o.count; ++i) {
        const std::size_t e = i % engines;
        ike::ConnectionConfig c;
        c.name = std::to_string(i);
        c.local_addrs = {g->engine_addr_[e]};
        c.remote_addrs = {o.server.addr};
        c.remote_port = o.server.port;
        auto id = ike::Identity::parse(format_id(o.id_fmt, i));
        if (!id) return Error{0, "identity " + format_id(o.id_fmt, i) + ": " + id.error().what};
        c.local_id = std::move(*id);
        c.psk = psk;
        c.ike_proposals = *ike;
        // Long lifetimes and no liveness checks of our own: the SAs only have
        // to stay up while the responder's memory is measured.
        c.ike_lifetimes = {24h, 25h, 0s};
        c.dpd_delay = 0s;
        ike::ChildConfig child;
        child.name = "c";
        const IpAddress inner = offset_address(o.ts_base, std::uint32_t(i));
        child.local_ts = {ike::TrafficSelector{0, 0, 65535, inner, inner}};
        child.remote_ts = *remote_ts;
        child.esp_proposals = *esp;
        child.lifetimes = {24h, 25h, 0s};
        c.children.push_back(std::move(child));
        cfgs[e].connections.push_back(std::move(c));
    }
    for (auto& c : cfgs)
        g->engines_.push_back(std::make_unique<ike::Engine>(std::move(c), rng));
    return g;
}

const IpAddress& Generator::socket_address(std::size_t socket) const {
    return engine_addr_[socket / 2];
}

const LoadStats& Generator::stats() const {
    stats_.retransmits = 0;
    stats_.msgid_syncs = 0;
    stats_.replay_syncs = 0;
    for (const auto& e : engines_) {
        stats_.retransmits += e->stats().retransmits_sent;
        stats_.msgid_syncs += e->stats().peer_syncs_answered;
        stats_.replay_syncs += e->stats().replay_syncs_applied;
    }
    return stats_;
}

namespace {

// RFC 1071 Internet checksum of `n` octets at `p`.
std::uint16_t inet_checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t k = 0; k + 1 < n; k += 2)
        sum += load_be16(p + k);
    if (n % 2) sum += std::uint32_t(p[n - 1]) << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(~sum);
}

constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kIcmpHeader = 8;
constexpr std::size_t kProbePayload = 20;  // tunnel index, send time, previous send time
constexpr std::size_t kProbeSize = kIpv4Header + kIcmpHeader + kProbePayload;

}  // namespace

std::size_t build_probe(std::span<std::uint8_t> out, const IpAddress& src, const IpAddress& dst,
                        std::uint32_t index, std::uint16_t seq, Time sent, Time previous) {
    if (out.size() < kProbeSize || !src.is_v4() || !dst.is_v4()) return 0;
    std::uint8_t* p = out.data();
    std::fill(p, p + kProbeSize, 0);
    p[0] = 0x45;  // IPv4, 20-octet header
    store_be16(p + 2, std::uint16_t(kProbeSize));
    store_be16(p + 4, seq);  // identification
    p[8] = 64;               // TTL
    p[9] = 1;                // ICMP
    std::copy_n(src.bytes().data(), 4, p + 12);
    std::copy_n(dst.bytes().data(), 4, p + 16);
    store_be16(p + 10, inet_checksum(p, kIpv4Header));
    std::uint8_t* icmp = p + kIpv4Header;
    icmp[0] = 8;  // echo request (RFC 792)
    store_be16(icmp + 4, std::uint16_t(index));
    store_be16(icmp + 6, seq);
    store_be32(icmp + 8, index);
    store_be64(icmp + 12, std::uint64_t(sent.since_epoch.count()));
    store_be64(icmp + 20, std::uint64_t(previous.since_epoch.count()));
    store_be16(icmp + 2, inet_checksum(icmp, kIcmpHeader + kProbePayload));
    return kProbeSize;
}

std::optional<ProbeReply> parse_probe_reply(BytesView packet, const IpAddress& to) {
    if (packet.size() < kIpv4Header || (packet[0] >> 4) != 4 || !to.is_v4()) return std::nullopt;
    const std::size_t ihl = std::size_t(packet[0] & 0x0f) * 4;
    const std::size_t total = load_be16(packet.data() + 2);
    if (ihl < kIpv4Header || total > packet.size() || total < ihl + kIcmpHeader + kProbePayload)
        return std::nullopt;
    if (packet[9] != 1 || !std::equal(packet.begin() + 16, packet.begin() + 20, to.bytes().begin()))
        return std::nullopt;
    const std::uint8_t* icmp = packet.data() + ihl;
    if (icmp[0] != 0 || icmp[1] != 0) return std::nullopt;  // echo reply, code 0
    if (inet_checksum(icmp, total - ihl) != 0) return std::nullopt;
    return ProbeReply{load_be32(icmp + kIcmpHeader),
                      Time{Duration(std::int64_t(load_be64(icmp + kIcmpHeader + 4)))},
                      Time{Duration(std::int64_t(load_be64(icmp + kIcmpHeader + 12)))}};
}

Bucket& Generator::bucket_at(Time now) {
    const std::size_t k = now <= origin_ ? 0 : std::size_t((now - origin_) / opt_.bucket);
    if (timeline_.size() <= k) timeline_.resize(k + 1);
    return timeline_[k];
}

static bool answered(Time last_reply, Time up_since) {
    return last_reply != Time::max() && last_reply >= up_since;
}

bool Generator::probe(Time now, std::size_t i) {
    Tunnel& t = tunnels_[i];
    if (!t.out) return false;
    scratch_.assign(esp::kHeadroom + kProbeSize + esp::kTailroom, 0);
    std::span<std::uint8_t> buf(scratch_);
    build_probe(buf.subspan(esp::kHeadroom), offset_address(opt_.ts_base, std::uint32_t(i)),
                opt_.probe_target, std::uint32_t(i), t.seq, now, t.last_probe);
    auto sealed = t.out->seal(buf, kProbeSize);
    if (!sealed) {
        ++stats_.failures[std::string("ESP seal: ") + esp::to_string(sealed.error().code)];
        return false;
    }
    t.last_probe = now;
    const std::size_t e = i % engines_.size();
    sends_.push_back(Send{2 * e + 1, t.peer, Bytes(sealed->begin(), sealed->end())});
    ++t.seq;
    ++stats_.probes_sent;
    if (marked()) ++stats_.probes_after_mark;
    ++bucket_at(now).probes;
    return true;
}

void Generator::on_esp(Time now, std::size_t e, BytesView data) {
    auto b = by_spi_in_.find(load_be32(data.data()));
    if (b == by_spi_in_.end() || b->second % engines_.size() != e) {
        ++stats_.esp_dropped;
        return;
    }
    const std::size_t i = b->second;
    Tunnel& t = tunnels_[i];
    if (!t.in) {
        ++stats_.esp_dropped;
        return;
    }
    scratch_.assign(data.begin(), data.end());
    auto r = t.in->open(std::span<std::uint8_t>(scratch_));
    if (!r) {
        ++stats_.esp_dropped;
        return;
    }
    auto rep = parse_probe_reply(r->payload, offset_address(opt_.ts_base, std::uint32_t(i)));
    if (r->next_header != esp::kNextHeaderIpv4 || !rep || rep->index != i) {
        ++stats_.esp_other;
        return;
    }
    ++stats_.replies;
    if (marked()) {
        ++stats_.replies_after_mark;
        // Only a probe sent after the mark proves the path works again (one
        // in flight at the kill may still come back).
        if (t.up_at_mark && t.first_reply_after_mark == Time::max() && rep->sent >= mark_) {
            t.first_reply_after_mark = now;
            t.first_sent_after_mark = rep->sent;
            t.lost_before_first = rep->previous;
        }
        // The gateway passes traffic again (for this tunnel at least): now
        // probing the others more often than once per interval tells when
        // each came back. Only a reply that ends a silence of at least a
        // bucket says so: a gateway killed just after the mark may still
        // answer a probe or two sent after it (bench/failover-at-scale.sh
        // kills first, then marks, but a caller may not), and sweeping from
        // then on would add the sweep rate to the whole outage. An outage
        // shorter than a bucket does not show on the timeline either; the
        // round's probes time it.
        if (opt_.sweep_rate > 0 && !sweep_started_ && rep->sent >= mark_ &&
            now - last_reply_any_ >= opt_.bucket)
            start_sweep(now);
    }
    last_reply_any_ = now;
    if (t.state == TunnelState::UP && !answered(t.last_reply, t.up_since)) ++answering_;
    t.last_reply = now;
    Bucket& bk = bucket_at(now);
    ++bk.replies;
    const auto k = std::int64_t(&bk - timeline_.data());
    if (t.last_bucket != k) {
        ++bk.tunnels;
        t.last_bucket = k;
    }
}

Time Generator::next_slot_time() const {
    // Slot k is due at origin + k * interval / count (no overflow for runs
    // of days at any interval a benchmark uses).
    return origin_ + Duration(opt_.probe_interval.count() * std::int64_t(slots_done_) /
                              std::int64_t(tunnels_.size()));
}

void Generator::probe_round(Time now) {
    const std::size_t n = tunnels_.size();
    // A stall (the machine is shared) longer than a whole interval skips
    // ahead rather than bursting several probes per tunnel.
    for (std::size_t visited = 0; next_slot_time() <= now; ++visited) {
        if (visited == n) {
            slots_done_ += std::uint64_t((now - next_slot_time()) / opt_.probe_interval) * n;
            visited = 0;
            if (next_slot_time() > now) break;
        }
        const std::size_t i = std::size_t(slots_done_++ % n);
        Tunnel& t = tunnels_[i];
        // Liveness only judges a tunnel that has answered on its current SA:
        // one that never did is a slow data path, not a lost SA, and
        // reconnecting it would only add load.
        if (t.state == TunnelState::UP && opt_.reconnect && opt_.liveness > Duration{0} &&
            answered(t.last_reply, t.up_since)) {
            if (now - t.last_reply > opt_.liveness) {
                // No reply for too long: the gateway lost the SA. Drop it
                // quietly (a Delete would go nowhere) and start again.
                (void)engines_[i % engines_.size()]->forget(t.spis);
                up_.erase(t.spis.spi_i);
                tunnel_down(i);
            }
        }
        if (t.state == TunnelState::UP) {
            probe(now, i);
        } else if (t.state == TunnelState::IDLE && opt_.reconnect && i < stats_.launched &&
                   pending_.size() < opt_.concurrency) {
            ++stats_.reconnects;
            start(now, i, false);
        }
    }
}

// A tunnel left to the sweep is probed at most once per this (the last few
// would otherwise get the whole sweep rate, and a pass over tunnels that
// cannot be probed, all reconnecting, would spin): finer than the 50 ms
// timeline and the shortest probe interval bench/failover-at-scale.sh
// uses. Replies can take longer than that while a gateway takes over, so a
// tunnel may have a few sweep probes in flight; that does not bias the
// bounds, each reply names the probe sent before it.
constexpr Duration kSweepMinCycle = 10ms;

void Generator::start_sweep(Time now) {
    sweep_started_ = true;
    sweep_start_ = now;
    sweep_.clear();
    // Backwards from where the probe round is: the round moves forward from
    // there, so the two never probe the same tunnels (the sweep skips, for
    // free, those the round brought back) until they meet, and every tunnel
    // has had a probe after N / (sweep_rate + N / interval), a third of a
    // second for 10,000 tunnels at 20,000/s and one probe per second.
    const std::size_t n = tunnels_.size();
    const std::size_t round_at = std::size_t(slots_done_ % n);
    for (std::size_t k = 1; k <= n; ++k) {
        const std::size_t i = (round_at + n - k) % n;
        if (tunnels_[i].up_at_mark && tunnels_[i].first_reply_after_mark == Time::max())
            sweep_.push_back(i);
    }
    if (sweep_.empty()) return;
    sweep_step_ = std::max(Duration{1}, std::chrono::duration_cast<Duration>(
                                            std::chrono::duration<double>(1.0 / opt_.sweep_rate)));
    sweep_pos_ = 0;
    sweep_cycle_ = sweep_next_ = now;
}

void Generator::sweep_round(Time now) {
    std::size_t visited = 0;
    while (sweep_next_ <= now) {
        if (sweep_pos_ == sweep_.size()) {
            // A cycle is done: drop the tunnels that answered meanwhile.
            std::erase_if(sweep_, [&](std::size_t i) {
                return tunnels_[i].first_reply_after_mark != Time::max();
            });
            if (sweep_.empty()) {  // every tunnel is back: the sweep ends
                sweep_next_ = Time::max();
                break;
            }
            sweep_pos_ = 0;
            Time start = std::max(sweep_next_, sweep_cycle_ + kSweepMinCycle);
            // Never a tunnel twice in one call: after a stall (the machine
            // is shared), or when no tunnel left could be probed, go on
            // from now rather than in a burst or a busy loop.
            if (visited > 0) start = std::max(start, now + sweep_step_);
            sweep_cycle_ = sweep_next_ = start;
            continue;
        }
        const std::size_t i = sweep_[sweep_pos_++];
        ++visited;
        const Tunnel& t = tunnels_[i];
        // Back already (a regular probe got there first), or being
        // re-established by reconnect mode (no SA to probe): no slot used.
        if (t.first_reply_after_mark != Time::max() || t.state != TunnelState::UP) continue;
        if (probe(now, i)) {
            ++stats_.sweep_probes;
            sweep_next_ = sweep_next_ + sweep_step_;
        }
    }
}

void Generator::mark(Time now) {
    mark_ = now;
    stats_.probes_after_mark = stats_.replies_after_mark = stats_.ike_sa_init_after_mark = 0;
    stats_.sweep_probes = 0;
    for (Tunnel& t : tunnels_) {
        t.up_at_mark = t.state == TunnelState::UP;
        t.first_reply_after_mark = Time::max();
        t.lost_before_first = Time{};
    }
    sweep_started_ = false;
    sweep_start_ = sweep_next_ = Time::max();
    sweep_.clear();
}

Recovery Generator::recovery() const {
    Recovery r;
    std::vector<double> back;
    double sent = 0, lower = 0;
    for (const Tunnel& t : tunnels_) {
        if (!t.up_at_mark) continue;
        ++r.tunnels;
        if (t.first_reply_after_mark == Time::max()) continue;
        ++r.recovered;
        back.push_back(
            std::chrono::duration<double, std::milli>(t.first_reply_after_mark - mark_).count());
        const double s_ms =
            std::chrono::duration<double, std::milli>(t.first_sent_after_mark - mark_).count();
        sent = std::max(sent, s_ms);
        // The tunnel's probe before its first answered one (a regular or a
        // sweep probe, echoed back in the reply) was lost, if sent after
        // mark(): the tunnel did not work yet then.
        if (t.lost_before_first >= mark_)
            lower = std::max(
                lower,
                std::chrono::duration<double, std::milli>(t.lost_before_first - mark_).count());
    }
    r.back_ms = percentiles(back);
    r.all_back_ms = r.recovered == r.tunnels ? r.back_ms.max : -1;
    r.all_back_sent_ms = r.recovered == r.tunnels ? sent : -1;
    r.all_back_lower_ms = lower;
    if (sweep_start_ != Time::max())
        r.sweep_start_ms = std::chrono::duration<double, std::milli>(sweep_start_ - mark_).count();
    return r;
}

void Generator::launch(Time now) {
    const std::size_t i = stats_.launched++;
    if (stats_.first_launch == Time::max()) stats_.first_launch = now;
    start(now, i, true);
}

void Generator::start(Time now, std::size_t i, bool initial) {
    const std::size_t e = i % engines_.size();
    auto spis = engines_[e]->initiate(now, std::to_string(i));
    if (!spis) {
        ++stats_.failed;
        ++stats_.failures["initiate: " + spis.error().what];
        return;
    }
    Tunnel& t = tunnels_[i];
    t.state = TunnelState::CONNECTING;
    t.spis = *spis;
    pending_.emplace(spis->spi_i, Pending{i, e, now, initial});
    if (initial) ++initial_in_flight_;
    deadlines_.emplace_back(now + opt_.timeout, spis->spi_i);
    drain(now, e);
}

void Generator::tunnel_down(std::size_t i) {
    Tunnel& t = tunnels_[i];
    if (t.in) by_spi_in_.erase(t.in->spi());
    if (t.state == TunnelState::UP && t.last_reply != Time::max() && t.last_reply >= t.up_since)
        --answering_;
    t.out.reset();
    t.in.reset();
    t.state = TunnelState::IDLE;
}

void Generator::fail(std::uint64_t spi_i, const std::string& reason) {
    auto it = pending_.find(spi_i);
    if (it == pending_.end()) return;
    // Drop what the engine still holds of it, so nothing retransmits later.
    auto& eng = *engines_[it->second.engine];
    if (!eng.forget({spi_i, it->second.spi_r})) (void)eng.forget({spi_i, 0});
    tunnels_[it->second.index].state = TunnelState::IDLE;  // reconnect mode tries again
    if (it->second.initial) --initial_in_flight_;
    pending_.erase(it);
    ++stats_.failed;
    ++stats_.failures[reason];
}

void Generator::install(const ike::InstallChildSa& ins, std::size_t e) {
    if (opt_.probe_interval <= Duration{0}) return;
    std::size_t i = 0;
    if (auto u = up_.find(ins.ike.spi_i); u != up_.end()) {
        i = u->second;
    } else if (auto p = pending_.find(ins.ike.spi_i); p != pending_.end()) {
        i = p->second.index;
    } else {
        return;
    }
    auto out = esp::OutboundSa::create(ins.child);
    auto in = esp::InboundSa::create(ins.child);
    if (!out || !in) {
        ++stats_.failures["ESP SA not usable: " + (out ? in.error().what : out.error().what)];
        return;
    }
    Tunnel& t = tunnels_[i];
    if (t.in) by_spi_in_.erase(t.in->spi());  // a rekey replaces the pair
    t.out = std::move(*out);
    t.in = std::move(*in);
    t.peer = ins.remote;
    by_spi_in_[ins.child.spi_in] = i;
    (void)e;
}

void Generator::drain(Time now, std::size_t e) {
    for (ike::Output& out : engines_[e]->take_outputs()) {
        if (auto* d = std::get_if<ike::SendDatagram>(&out)) {
            ++stats_.datagrams_out;
            BytesView ike = d->data;
            if (d->local.port == 4500 && ike.size() >= 4) ike = ike.subspan(4);
            if (auto h = wire::decode_header(ike);
                h && !h->is_response() && h->exchange_type() == ExchangeType::IKE_SA_INIT) {
                ++stats_.ike_sa_init_sent;
                if (marked()) ++stats_.ike_sa_init_after_mark;
                if (origin_ != Time::max()) ++bucket_at(now).ike_sa_init;
            }
            sends_.push_back(
                Send{2 * e + (d->local.port == 4500 ? 1 : 0), d->remote, std::move(d->data)});
        } else if (auto* ev = std::get_if<ike::Event>(&out)) {
            if (auto* est = std::get_if<ike::IkeSaEstablished>(ev)) {
                const std::uint64_t spi = est->sa.spis.spi_i;
                auto it = pending_.find(spi);
                if (it == pending_.end()) continue;  // e.g. an IKE SA rekey
                stats_.latency_ms.push_back(
                    std::chrono::duration<double, std::milli>(now - it->second.started).count());
                ++stats_.established;
                stats_.last_established = now;
                Tunnel& t = tunnels_[it->second.index];
                t.state = TunnelState::UP;
                t.spis = est->sa.spis;
                t.up_since = now;
                up_.emplace(spi, it->second.index);
                if (it->second.initial) --initial_in_flight_;
                // The probe clock starts with the first tunnel.
                if (opt_.probe_interval > Duration{0} && origin_ == Time::max()) origin_ = now;
                pending_.erase(it);
            } else if (auto* del = std::get_if<ike::IkeSaDeleted>(ev)) {
                if (auto u = up_.find(del->spis.spi_i); u != up_.end()) {
                    ++stats_.deleted_afterwards;
                    const std::size_t i = u->second;
                    up_.erase(u);
                    tunnel_down(i);
                }
            }
        } else if (auto* ins = std::get_if<ike::InstallChildSa>(&out)) {
            install(*ins, e);
        } else if (auto* rm = std::get_if<ike::RemoveChildSa>(&out)) {
            if (auto b = by_spi_in_.find(rm->spi_in); b != by_spi_in_.end()) {
                Tunnel& t = tunnels_[b->second];
                by_spi_in_.erase(b);
                t.in.reset();
                t.out.reset();
            }
        } else if (auto* adj = std::get_if<ike::AdjustChildCounters>(&out)) {
            // RFC 6311 §5.2: the responder (a cluster member that took over)
            // asked us to move our outbound counter past anything its
            // replicated inbound window might still accept.
            if (auto b = by_spi_in_.find(adj->spi_in); b != by_spi_in_.end()) {
                Tunnel& t = tunnels_[b->second];
                if (t.out && adj->out_advance > 0)
                    (void)t.out->set_next_seq(t.out->next_seq() + adj->out_advance);
                if (t.in && adj->in_floor > 0) t.in->window().raise_highest(adj->in_floor);
            }
        }
    }
}

void Generator::receive(Time now, std::size_t socket, const Endpoint& from, BytesView data) {
    if (socket >= socket_count()) return;
    ++stats_.datagrams_in;
    const std::size_t e = socket / 2;
    const bool natt = socket % 2 == 1;
    BytesView ike = data;
    if (natt) {
        // RFC 3948: a 1-octet 0xFF is a NAT keepalive, a zero marker starts
        // IKE, anything else is ESP (ours when probing).
        if (data.size() >= 8 && load_be32(data.data()) != 0) return on_esp(now, e, data);
        if (data.size() < 4 || load_be32(data.data()) != 0) return;
        ike = data.subspan(4);
    }
    std::string error;
    std::uint64_t spi_i = 0;
    if (auto h = wire::decode_header(ike); h && h->is_response()) {
        spi_i = h->spi_i;
        auto it = pending_.find(spi_i);
        if (it != pending_.end() && it->second.engine == e) {
            Pending& p = it->second;
            if (h->exchange_type() == ExchangeType::IKE_SA_INIT) {
                // The IKE_SA_INIT response is in the clear: see what it says.
                if (auto m = wire::decode_message(ike)) {
                    if (m->find_notify(wire::NotifyType::COOKIE)) {
                        ++stats_.cookies;
                        p.stage = Stage::COOKIE;
                    } else if (m->find_notify(wire::NotifyType::INVALID_KE_PAYLOAD)) {
                        ++stats_.invalid_ke;
                    } else {
                        for (const auto& pl : m->payloads) {
                            auto* n = pl.as<wire::NotifyPayload>();
                            if (n && n->type < 16384) {  // §3.10.1: error types
                                error = std::string("IKE_SA_INIT answered with ") +
                                        wire::notify_name(n->type);
                                break;
                            }
                        }
                        if (error.empty() && h->spi_r != 0) {
                            p.spi_r = h->spi_r;
                            p.stage = Stage::INIT_DONE;
                        }
                    }
                }
            } else if (h->exchange_type() == ExchangeType::IKE_AUTH) {
                p.stage = Stage::AUTH_ANSWERED;
            }
        }
    }
    engines_[e]->receive(now, Endpoint{engine_addr_[e], std::uint16_t(natt ? 4500 : 500)}, from,
                         data);
    drain(now, e);
    if (!error.empty()) fail(spi_i, error);
}

void Generator::tick(Time now) {
    // Engine timers: retransmissions, COOKIE-less restarts, liveness answers.
    for (std::size_t e = 0; e < engines_.size(); ++e) {
        if (engines_[e]->next_deadline() <= now) {
            engines_[e]->on_timer(now);
            drain(now, e);
        }
    }
    // Probes (and liveness checks), spread over the interval.
    if (opt_.probe_interval > Duration{0}) {
        if (origin_ != Time::max()) probe_round(now);
        if (sweep_next_ != Time::max()) sweep_round(now);
    }
    // Handshakes past the timeout, named by how far they got.
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
        const std::uint64_t spi = deadlines_.front().second;
        deadlines_.pop_front();
        auto it = pending_.find(spi);
        if (it == pending_.end()) continue;
        switch (it->second.stage) {
            case Stage::INIT_SENT:
                fail(spi, "timeout: no IKE_SA_INIT response");
                break;
            case Stage::COOKIE:
                fail(spi, "timeout: no response to the retry with COOKIE");
                break;
            case Stage::INIT_DONE:
                fail(spi, "timeout: no IKE_AUTH response");
                break;
            case Stage::AUTH_ANSWERED:
                fail(spi, "IKE_AUTH answered without an SA (rejected or undecryptable)");
                break;
        }
    }
    // New handshakes, as the rate and the concurrency allow.
    while (stats_.launched < opt_.count && pending_.size() < opt_.concurrency) {
        if (opt_.rate > 0 && stats_.first_launch != Time::max()) {
            const auto due = stats_.first_launch +
                             std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
                                 double(stats_.launched) / opt_.rate));
            if (due > now) break;
        }
        launch(now);
    }
}

Time Generator::next_wakeup() const {
    Time t = Time::max();
    for (const auto& e : engines_)
        t = std::min(t, e->next_deadline());
    if (!deadlines_.empty()) t = std::min(t, deadlines_.front().first);
    if (origin_ != Time::max()) t = std::min(t, next_slot_time());
    t = std::min(t, sweep_next_);
    if (stats_.launched < opt_.count && pending_.size() < opt_.concurrency) {
        if (opt_.rate > 0 && stats_.first_launch != Time::max()) {
            t = std::min(t, stats_.first_launch +
                                std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
                                    double(stats_.launched) / opt_.rate)));
        } else {
            t = Time{};  // now
        }
    }
    return t;
}

}  // namespace ikecluster::load
