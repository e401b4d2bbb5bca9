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

    std::unique_ptr<Generator> g(new Generator(o, rng));
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
    for (const auto& e : engines_)
        stats_.retransmits += e->stats().retransmits_sent;
    return stats_;
}

void Generator::launch(Time now) {
    const std::size_t i = stats_.launched++;
    const std::size_t e = i % engines_.size();
    if (stats_.first_launch == Time::max()) stats_.first_launch = now;
    auto spis = engines_[e]->initiate(now, std::to_string(i));
    if (!spis) {
        ++stats_.failed;
        ++stats_.failures["initiate: " + spis.error().what];
        return;
    }
    pending_.emplace(spis->spi_i, Pending{e, now});
    deadlines_.emplace_back(now + opt_.timeout, spis->spi_i);
    drain(now, e);
}

void Generator::fail(std::uint64_t spi_i, const std::string& reason) {
    auto it = pending_.find(spi_i);
    if (it == pending_.end()) return;
    // Drop what the engine still holds of it, so nothing retransmits later.
    auto& eng = *engines_[it->second.engine];
    if (!eng.forget({spi_i, it->second.spi_r})) (void)eng.forget({spi_i, 0});
    pending_.erase(it);
    ++stats_.failed;
    ++stats_.failures[reason];
}

void Generator::drain(Time now, std::size_t e) {
    for (ike::Output& out : engines_[e]->take_outputs()) {
        if (auto* d = std::get_if<ike::SendDatagram>(&out)) {
            ++stats_.datagrams_out;
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
                pending_.erase(it);
                up_.insert(spi);
            } else if (auto* del = std::get_if<ike::IkeSaDeleted>(ev)) {
                if (up_.erase(del->spis.spi_i)) ++stats_.deleted_afterwards;
            }
        }
        // InstallChildSa / RemoveChildSa: the generator carries no traffic.
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
        // IKE, anything else is ESP (ours to ignore: we carry no traffic).
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
