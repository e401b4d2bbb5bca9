#include "ike/traffic_selector.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "base/text.h"

namespace ikecluster::ike {
namespace {

// Sets the host bits below `prefix` to 0 (start) or 1 (end).
IpAddress mask(const IpAddress& a, unsigned prefix, bool ones) {
    BytesView v = a.bytes();
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), v.data(), v.size());
    for (unsigned bit = prefix; bit < v.size() * 8; ++bit) {
        std::uint8_t m = std::uint8_t(0x80u >> (bit % 8));
        if (ones) {
            b[bit / 8] |= m;
        } else {
            b[bit / 8] &= std::uint8_t(~m);
        }
    }
    return *IpAddress::from_bytes(BytesView(b.data(), v.size()));
}

bool parse_u16(std::string_view s, std::uint16_t& out) {
    unsigned v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v > 65535) return false;
    out = std::uint16_t(v);
    return true;
}

std::optional<std::uint8_t> proto_by_name(std::string_view s) {
    if (s == "tcp") return 6;
    if (s == "udp") return 17;
    if (s == "icmp") return 1;
    if (s == "ipv6-icmp" || s == "icmp6") return 58;
    if (s == "sctp") return 132;
    if (s == "any" || s.empty()) return 0;
    std::uint16_t v;
    if (parse_u16(s, v) && v <= 255) return std::uint8_t(v);
    return std::nullopt;
}

}  // namespace

TrafficSelector TrafficSelector::host(const IpAddress& a) {
    return TrafficSelector{0, 0, 65535, a, a};
}

Result<TrafficSelector> TrafficSelector::parse(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return Error{0, "traffic selector '" + std::string(text) + "': " + why};
    };
    TrafficSelector ts;
    std::string_view net = text;
    std::string_view extra;
    if (auto lb = text.find('['); lb != std::string_view::npos) {
        if (text.back() != ']') return bad("missing ']'");
        net = text.substr(0, lb);
        extra = text.substr(lb + 1, text.size() - lb - 2);
    }
    if (!extra.empty()) {
        std::string_view proto = extra, ports;
        if (auto sl = extra.find('/'); sl != std::string_view::npos) {
            proto = extra.substr(0, sl);
            ports = extra.substr(sl + 1);
        }
        auto p = proto_by_name(proto);
        if (!p) return bad("unknown protocol '" + std::string(proto) + "'");
        ts.ip_proto = *p;
        if (!ports.empty() && ports != "any") {
            auto dash = ports.find('-');
            std::string_view lo = ports.substr(0, dash);
            std::string_view hi = dash == std::string_view::npos ? lo : ports.substr(dash + 1);
            if (!parse_u16(lo, ts.start_port) || !parse_u16(hi, ts.end_port) ||
                ts.start_port > ts.end_port) {
                return bad("bad port range '" + std::string(ports) + "'");
            }
        }
    }
    std::string_view addr = net;
    unsigned prefix = 0;
    bool has_prefix = false;
    if (auto sl = net.find('/'); sl != std::string_view::npos) {
        addr = net.substr(0, sl);
        std::uint16_t p;
        if (!parse_u16(net.substr(sl + 1), p)) return bad("bad prefix length");
        prefix = p;
        has_prefix = true;
    }
    auto a = IpAddress::parse(addr);
    if (!a) return bad("bad address '" + std::string(addr) + "'");
    unsigned bits = unsigned(a->bytes().size() * 8);
    if (!has_prefix) prefix = bits;
    if (prefix > bits)
        return bad("prefix length " + std::to_string(prefix) + " > " + std::to_string(bits));
    ts.start = mask(*a, prefix, false);
    ts.end = mask(*a, prefix, true);
    return ts;
}

std::string TrafficSelector::to_string() const {
    std::string out = start.to_string();
    if (start != end) {
        // Print as a prefix when the range is one.
        unsigned bits = unsigned(start.bytes().size() * 8);
        bool found = false;
        for (unsigned p = 0; p <= bits && !found; ++p) {
            if (mask(start, p, false) == start && mask(start, p, true) == end) {
                out += "/" + std::to_string(p);
                found = true;
            }
        }
        if (!found) out += ".." + end.to_string();
    } else {
        out += start.is_v6() ? "/128" : "/32";
    }
    if (ip_proto != 0 || start_port != 0 || end_port != 65535) {
        out += "[" + std::to_string(ip_proto);
        if (start_port != 0 || end_port != 65535) {
            out += "/" + std::to_string(start_port);
            if (end_port != start_port) out += "-" + std::to_string(end_port);
        }
        out += "]";
    }
    return out;
}

bool TrafficSelector::contains(const TrafficSelector& o) const {
    auto x = intersect(*this, o);
    return x && *x == o;
}

std::optional<TrafficSelector> intersect(const TrafficSelector& a, const TrafficSelector& b) {
    if (a.is_v6() != b.is_v6()) return std::nullopt;
    if (a.ip_proto != 0 && b.ip_proto != 0 && a.ip_proto != b.ip_proto) return std::nullopt;
    TrafficSelector r;
    r.ip_proto = a.ip_proto != 0 ? a.ip_proto : b.ip_proto;
    r.start_port = std::max(a.start_port, b.start_port);
    r.end_port = std::min(a.end_port, b.end_port);
    if (r.start_port > r.end_port) return std::nullopt;
    r.start = std::max(a.start, b.start);  // same family: byte order compares numerically
    r.end = std::min(a.end, b.end);
    if (r.end < r.start) return std::nullopt;
    return r;
}

TsList narrow(const TsList& proposed, const TsList& configured) {
    TsList out;
    for (const auto& p : proposed) {
        for (const auto& c : configured) {
            if (auto x = intersect(p, c); x && std::find(out.begin(), out.end(), *x) == out.end()) {
                out.push_back(*x);
            }
        }
    }
    return out;
}

Result<TsList> parse_ts_list(std::string_view text) {
    TsList out;
    for (const ListItem& item : split_list(text, ',')) {
        auto ts = TrafficSelector::parse(item.text);
        if (!ts) return Error{item.offset, ts.error().what};
        out.push_back(*ts);
    }
    return out;
}

}  // namespace ikecluster::ike
