#include "policy/spd.h"

#include <algorithm>
#include <array>

namespace ikecluster::policy {

namespace {

// Addresses as 128-bit numbers for arithmetic (IPv4 in the low 32 bits).
using U128 = std::pair<std::uint64_t, std::uint64_t>;  // hi, lo

U128 num(const IpAddress& a) {
    U128 v{0, 0};
    for (std::uint8_t b : a.bytes()) {
        v.first = (v.first << 8) | (v.second >> 56);
        v.second = (v.second << 8) | b;
    }
    return v;
}

U128 minus(U128 a, U128 b) {
    U128 r{a.first - b.first, a.second - b.second};
    if (a.second < b.second) --r.first;
    return r;
}

// The address after `a`, or nullopt at the top of the family.
std::optional<IpAddress> next(const IpAddress& a) {
    BytesView b = a.bytes();
    Bytes c(b.begin(), b.end());
    for (std::size_t i = c.size(); i-- > 0;) {
        if (++c[i] != 0) return IpAddress::from_bytes(c);
    }
    return std::nullopt;
}

bool has_ports(std::uint8_t proto) {
    return proto == 6 || proto == 17 || proto == 132 || proto == 136;  // TCP UDP SCTP UDP-Lite
}

std::uint16_t be16(const std::uint8_t* p) {
    return std::uint16_t(p[0] << 8 | p[1]);
}

}  // namespace

std::optional<PacketKey> packet_key(std::span<const std::uint8_t> p) {
    if (p.empty()) return std::nullopt;
    PacketKey k;
    std::size_t off = 0;
    bool first_fragment = true;
    if (p[0] >> 4 == 4) {
        if (p.size() < 20) return std::nullopt;
        std::size_t ihl = std::size_t(p[0] & 0x0f) * 4;
        if (ihl < 20 || p.size() < ihl) return std::nullopt;
        k.proto = p[9];
        k.src = IpAddress::v4({p[12], p[13], p[14], p[15]});
        k.dst = IpAddress::v4({p[16], p[17], p[18], p[19]});
        first_fragment = (be16(&p[6]) & 0x1fff) == 0;
        off = ihl;
    } else if (p[0] >> 4 == 6) {
        if (p.size() < 40) return std::nullopt;
        std::array<std::uint8_t, 16> s{}, d{};
        std::copy(p.begin() + 8, p.begin() + 24, s.begin());
        std::copy(p.begin() + 24, p.begin() + 40, d.begin());
        k.src = IpAddress::v6(s);
        k.dst = IpAddress::v6(d);
        std::uint8_t nh = p[6];
        off = 40;
        // Walk the extension headers to the upper-layer protocol (at most a
        // handful; a longer chain is treated as its last header reached).
        for (int guard = 0; guard < 8; ++guard) {
            if (nh == 0 || nh == 43 || nh == 60) {  // hop-by-hop, routing, destination options
                if (p.size() < off + 2) break;
                std::size_t len = (std::size_t(p[off + 1]) + 1) * 8;
                nh = p[off];
                off += len;
            } else if (nh == 44) {  // fragment
                if (p.size() < off + 8) break;
                first_fragment = (be16(&p[off + 2]) & 0xfff8) == 0;
                nh = p[off];
                off += 8;
            } else if (nh == 51) {  // AH
                if (p.size() < off + 2) break;
                std::size_t len = (std::size_t(p[off + 1]) + 2) * 4;
                nh = p[off];
                off += len;
            } else {
                break;
            }
        }
        k.proto = nh;
    } else {
        return std::nullopt;
    }
    if (first_fragment && has_ports(k.proto) && p.size() >= off + 4) {
        k.sport = be16(&p[off]);
        k.dport = be16(&p[off + 2]);
    }
    return k;
}

bool matches(const ike::TrafficSelector& ts, const IpAddress& a, std::uint8_t proto,
             std::uint16_t port) {
    if (ts.start.is_v6() != a.is_v6()) return false;
    if (a < ts.start || ts.end < a) return false;
    if (ts.ip_proto != 0 && ts.ip_proto != proto) return false;
    if (ts.start_port == 0 && ts.end_port == 65535) return true;
    if (!has_ports(proto)) return true;  // ICMP etc.: type/code not decoded
    return port >= ts.start_port && port <= ts.end_port;
}

bool within(const ike::TsList& local, const ike::TsList& remote, const PacketKey& k) {
    bool l = std::any_of(local.begin(), local.end(), [&](const ike::TrafficSelector& t) {
        return matches(t, k.src, k.proto, k.sport);
    });
    return l && std::any_of(remote.begin(), remote.end(), [&](const ike::TrafficSelector& t) {
               return matches(t, k.dst, k.proto, k.dport);
           });
}

Spd::Spd(std::vector<SpdEntry> entries) : entries_(std::move(entries)) {
    for (bool v6 : {false, true}) {
        std::vector<IpAddress> bounds;
        for (const SpdEntry& e : entries_) {
            for (const ike::TrafficSelector& t : e.remote) {
                if (t.is_v6() != v6) continue;
                bounds.push_back(t.start);
                if (auto n = next(t.end)) bounds.push_back(*n);
            }
        }
        std::sort(bounds.begin(), bounds.end());
        bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
        std::vector<Interval>& iv = v6 ? v6_ : v4_;
        for (const IpAddress& b : bounds)
            iv.push_back(Interval{b, {}});
        for (std::uint32_t i = 0; i < entries_.size(); ++i) {
            for (const ike::TrafficSelector& t : entries_[i].remote) {
                if (t.is_v6() != v6) continue;
                auto it = std::lower_bound(
                    iv.begin(), iv.end(), t.start,
                    [](const Interval& x, const IpAddress& a) { return x.start < a; });
                for (; it != iv.end() && !(t.end < it->start); ++it) {
                    if (it->cover.empty() || it->cover.back() != i) it->cover.push_back(i);
                }
            }
        }
        // Best first: lower priority value, then the narrower remote range.
        auto width = [&](std::uint32_t i) {
            U128 w{~0ull, ~0ull};
            for (const auto& t : entries_[i].remote) {
                if (t.is_v6() == v6) w = std::min(w, minus(num(t.end), num(t.start)));
            }
            return w;
        };
        for (Interval& x : iv) {
            std::stable_sort(x.cover.begin(), x.cover.end(), [&](std::uint32_t a, std::uint32_t b) {
                if (entries_[a].priority != entries_[b].priority)
                    return entries_[a].priority < entries_[b].priority;
                return width(a) < width(b);
            });
        }
    }
}

const SpdEntry* Spd::lookup_outbound(const PacketKey& k) const {
    const std::vector<Interval>& iv = k.dst.is_v6() ? v6_ : v4_;
    auto it = std::upper_bound(iv.begin(), iv.end(), k.dst,
                               [](const IpAddress& a, const Interval& x) { return a < x.start; });
    if (it == iv.begin()) return nullptr;
    --it;
    for (std::uint32_t i : it->cover) {
        const SpdEntry& e = entries_[i];
        if (within(e.local, e.remote, k)) return &e;
    }
    return nullptr;
}

}  // namespace ikecluster::policy
