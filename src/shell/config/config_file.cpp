#include "config/config_file.h"

// Errors are values here, like everywhere else in ikecluster.
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

namespace ikecluster::config {
namespace {

const std::set<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error", "off"};

class Parser {
  public:
    Parser(std::string_view source, const SecretFileReader* read) : source_(source), read_(read) {}

    Error at(const toml::node& n, const std::string& what) const {
        const auto& s = n.source();
        return Error{0, source_ + ":" + std::to_string(s.begin.line) + ":" +
                            std::to_string(s.begin.column) + ": " + what};
    }

    // Rejects keys that are not in `known`: a typo must not silently fall back
    // to a default on a VPN gateway.
    std::optional<Error> only_keys(const toml::table& t,
                                   std::initializer_list<std::string_view> known,
                                   const std::string& where) const {
        for (auto&& [k, v] : t) {
            bool ok = false;
            for (auto kk : known)
                ok = ok || kk == k.str();
            if (!ok) return at(v, "unknown key '" + std::string(k.str()) + "' in " + where);
        }
        return std::nullopt;
    }

    Result<std::string> str(const toml::node& n, const std::string& key) const {
        if (auto s = n.value<std::string>()) return *s;
        return at(n, "'" + key + "' must be a string");
    }

    // A string or an array of strings.
    Result<std::vector<std::string>> strs(const toml::node& n, const std::string& key) const {
        std::vector<std::string> out;
        if (auto s = n.value<std::string>()) {
            out.push_back(*s);
            return out;
        }
        if (auto* a = n.as_array()) {
            for (auto&& e : *a) {
                auto s = e.value<std::string>();
                if (!s) return at(e, "'" + key + "' must contain strings");
                out.push_back(*s);
            }
            return out;
        }
        return at(n, "'" + key + "' must be a string or an array of strings");
    }

    Result<Duration> duration(const toml::node& n, const std::string& key) const {
        if (auto i = n.value<std::int64_t>()) {
            if (*i < 0) return at(n, "'" + key + "' must not be negative");
            return Duration(std::chrono::seconds(*i));
        }
        auto s = n.value<std::string>();
        if (!s)
            return at(n, "'" + key + "' must be a duration like \"30s\" or a number of seconds");
        auto d = parse_duration(*s);
        if (!d) return at(n, "'" + key + "': " + d.error().what);
        return *d;
    }

    Result<bool> boolean(const toml::node& n, const std::string& key) const {
        if (auto b = n.value<bool>()) return *b;
        return at(n, "'" + key + "' must be true or false");
    }

    Result<std::int64_t> integer(const toml::node& n, const std::string& key, std::int64_t lo,
                                 std::int64_t hi) const {
        auto i = n.value<std::int64_t>();
        if (!i) return at(n, "'" + key + "' must be an integer");
        if (*i < lo || *i > hi) {
            return at(n, "'" + key + "' must be between " + std::to_string(lo) + " and " +
                             std::to_string(hi));
        }
        return *i;
    }

    Result<std::vector<IpAddress>> addrs(const toml::node& n, const std::string& key) const {
        auto l = strs(n, key);
        if (!l) return l.error();
        std::vector<IpAddress> out;
        for (auto& s : *l) {
            if (s == "%any" || s == "any") continue;
            auto a = IpAddress::parse(s);
            if (!a) return at(n, "'" + key + "': '" + s + "' is not an IP address");
            out.push_back(*a);
        }
        return out;
    }

    Result<std::vector<ike::ProposalSpec>> proposals(const toml::node& n, const std::string& key,
                                                     ike::ProposalKind kind) const {
        auto l = strs(n, key);
        if (!l) return l.error();
        std::vector<ike::ProposalSpec> out;
        for (auto& s : *l) {
            auto p = ike::parse_proposals(s, kind);
            if (!p) return at(n, "'" + key + "': " + p.error().what);
            out.insert(out.end(), p->begin(), p->end());
        }
        if (out.empty()) return at(n, "'" + key + "' is empty");
        return out;
    }

    Result<ike::TsList> ts(const toml::node& n, const std::string& key) const {
        auto l = strs(n, key);
        if (!l) return l.error();
        ike::TsList out;
        for (auto& s : *l) {
            auto t = ike::parse_ts_list(s);
            if (!t) return at(n, "'" + key + "': " + t.error().what);
            out.insert(out.end(), t->begin(), t->end());
        }
        return out;
    }

    Status lifetimes(const toml::table& t, ike::Lifetimes& lt, const std::string& where) const {
        if (auto* n = t.get("rekey_time")) {
            auto d = duration(*n, "rekey_time");
            if (!d) return d.error();
            lt.rekey = *d;
        }
        if (auto* n = t.get("life_time")) {
            auto d = duration(*n, "life_time");
            if (!d) return d.error();
            lt.life = *d;
        } else if (t.get("rekey_time")) {
            lt.life = lt.rekey + lt.rekey / 10;  // strongSwan's default: rekey_time + 10%
        }
        if (auto* n = t.get("rand_time")) {
            auto d = duration(*n, "rand_time");
            if (!d) return d.error();
            lt.jitter = *d;
        } else if (t.get("rekey_time")) {
            lt.jitter = lt.life - lt.rekey;
        }
        if (lt.rekey != Duration::zero() && lt.life <= lt.rekey) {
            return at(t, where + ": life_time must be longer than rekey_time");
        }
        if (lt.jitter > lt.rekey) return at(t, where + ": rand_time must not exceed rekey_time");
        return Ok{};
    }

    Result<ike::ChildConfig> child(const std::string& name, const toml::table& t) const {
        std::string where = "child '" + name + "'";
        if (auto e = only_keys(t,
                               {"local_ts", "remote_ts", "esp_proposals", "mode", "start_action",
                                "rekey_time", "life_time", "rand_time"},
                               where)) {
            return *e;
        }
        ike::ChildConfig c;
        c.name = name;
        c.esp_proposals =
            *ike::parse_proposals("aes256gcm16,aes128gcm16,aes256-sha256", ike::ProposalKind::ESP);
        for (auto key : {"local_ts", "remote_ts"}) {
            auto* n = t.get(key);
            if (!n) return at(t, where + " needs '" + key + "'");
            auto l = ts(*n, key);
            if (!l) return l.error();
            if (l->empty()) return at(*n, "'" + std::string(key) + "' is empty");
            (std::string_view(key) == "local_ts" ? c.local_ts : c.remote_ts) = *l;
        }
        if (auto* n = t.get("esp_proposals")) {
            auto p = proposals(*n, "esp_proposals", ike::ProposalKind::ESP);
            if (!p) return p.error();
            c.esp_proposals = *p;
        }
        if (auto* n = t.get("mode")) {
            auto s = str(*n, "mode");
            if (!s) return s.error();
            if (*s == "tunnel") {
                c.mode = ike::IpsecMode::TUNNEL;
            } else if (*s == "transport") {
                c.mode = ike::IpsecMode::TRANSPORT;
            } else {
                return at(*n, "'mode' must be \"tunnel\" or \"transport\"");
            }
        }
        if (auto* n = t.get("start_action")) {
            auto s = str(*n, "start_action");
            if (!s) return s.error();
            if (*s == "none") {
                c.start_action = ike::StartAction::NONE;
            } else if (*s == "start") {
                c.start_action = ike::StartAction::START;
            } else {
                return at(*n, "'start_action' must be \"none\" or \"start\"");
            }
        }
        if (auto st = lifetimes(t, c.lifetimes, where); !st) return st.error();
        return c;
    }

    Result<ike::ConnectionConfig> connection(const std::string& name, const toml::table& t) const {
        std::string where = "connection '" + name + "'";
        if (auto e =
                only_keys(t,
                          {"local_addrs", "remote_addrs", "remote_port", "local_id", "remote_id",
                           "auth", "psk", "proposals", "children", "rekey_time", "life_time",
                           "rand_time", "dpd_delay", "encap", "send_initial_contact"},
                          where)) {
            return *e;
        }
        ike::ConnectionConfig c;
        c.name = name;
        c.ike_proposals = *ike::parse_proposals(
            "aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048", ike::ProposalKind::IKE);
        if (auto* n = t.get("local_addrs")) {
            auto a = addrs(*n, "local_addrs");
            if (!a) return a.error();
            c.local_addrs = *a;
        }
        if (auto* n = t.get("remote_addrs")) {
            auto a = addrs(*n, "remote_addrs");
            if (!a) return a.error();
            c.remote_addrs = *a;
        }
        if (auto* n = t.get("remote_port")) {
            auto p = integer(*n, "remote_port", 1, 65535);
            if (!p) return p.error();
            c.remote_port = std::uint16_t(*p);
        }
        auto* lid = t.get("local_id");
        if (!lid) return at(t, where + " needs 'local_id'");
        {
            auto s = str(*lid, "local_id");
            if (!s) return s.error();
            auto id = ike::Identity::parse(*s);
            if (!id) return at(*lid, id.error().what);
            c.local_id = *id;
        }
        if (auto* n = t.get("remote_id")) {
            auto s = str(*n, "remote_id");
            if (!s) return s.error();
            if (*s != "%any") {
                auto id = ike::Identity::parse(*s);
                if (!id) return at(*n, id.error().what);
                c.remote_id = *id;
            }
        }
        if (auto* n = t.get("auth")) {
            auto s = str(*n, "auth");
            if (!s) return s.error();
            if (*s != "psk")
                return at(*n, "'auth' must be \"psk\" (certificates are not supported yet)");
        }
        auto* psk = t.get("psk");
        if (!psk) return at(t, where + " needs 'psk'");
        {
            auto s = str(*psk, "psk");
            if (!s) return s.error();
            if (s->size() < 8) return at(*psk, "'psk' is too short (at least 8 characters)");
            c.psk = to_bytes(*s);
        }
        if (auto* n = t.get("proposals")) {
            auto p = proposals(*n, "proposals", ike::ProposalKind::IKE);
            if (!p) return p.error();
            c.ike_proposals = *p;
        }
        if (auto* n = t.get("dpd_delay")) {
            auto d = duration(*n, "dpd_delay");
            if (!d) return d.error();
            c.dpd_delay = *d;
        }
        if (auto* n = t.get("encap")) {
            auto b = boolean(*n, "encap");
            if (!b) return b.error();
            c.force_encap = *b;
        }
        if (auto* n = t.get("send_initial_contact")) {
            auto b = boolean(*n, "send_initial_contact");
            if (!b) return b.error();
            c.send_initial_contact = *b;
        }
        if (auto st = lifetimes(t, c.ike_lifetimes, where); !st) return st.error();
        auto* ch = t.get("children");
        if (!ch || !ch->is_table() || ch->as_table()->empty()) {
            return at(ch ? *ch : static_cast<const toml::node&>(t),
                      where + " needs at least one [connections." + name + ".children.NAME] table");
        }
        for (auto&& [k, v] : *ch->as_table()) {
            if (!v.is_table())
                return at(v, "children." + std::string(k.str()) + " must be a table");
            auto cc = child(std::string(k.str()), *v.as_table());
            if (!cc) return cc.error();
            c.children.push_back(std::move(*cc));
        }
        return c;
    }

    Result<DaemonConfig> parse(const toml::table& root) const {
        DaemonConfig cfg;
        if (auto e =
                only_keys(root, {"daemon", "log", "ike", "dataplane", "connections", "cluster"},
                          "the top level"))
            return *e;
        if (auto* n = root.get("cluster")) {
            if (!n->is_table()) return at(*n, "[cluster] must be a table");
            auto c = cluster(*n->as_table());
            if (!c) return c.error();
            cfg.cluster = std::move(*c);
        }
        if (auto* d = root.get_as<toml::table>("dataplane")) {
            if (auto e = only_keys(
                    *d, {"enabled", "tun_name", "mtu", "replay_window", "raw_esp", "routes"},
                    "[dataplane]"))
                return *e;
            auto& dp = cfg.dataplane;
            if (auto* n = d->get("enabled")) {
                auto b = boolean(*n, "enabled");
                if (!b) return b.error();
                dp.enabled = *b;
            }
            if (auto* n = d->get("tun_name")) {
                auto v = str(*n, "tun_name");
                if (!v) return v.error();
                if (v->empty() || v->size() > 15)
                    return at(*n, "'tun_name' must be 1..15 characters (an interface name)");
                dp.tun_name = *v;
            }
            if (auto* n = d->get("mtu")) {
                auto v = integer(*n, "mtu", 576, 9000);
                if (!v) return v.error();
                dp.mtu = std::uint32_t(*v);
            }
            if (auto* n = d->get("replay_window")) {
                auto v = integer(*n, "replay_window", 32, 1 << 20);
                if (!v) return v.error();
                dp.replay_window = std::size_t(*v);
            }
            if (auto* n = d->get("raw_esp")) {
                auto b = boolean(*n, "raw_esp");
                if (!b) return b.error();
                dp.raw_esp = *b;
            }
            if (auto* n = d->get("routes")) {
                auto b = boolean(*n, "routes");
                if (!b) return b.error();
                dp.routes = *b;
            }
        } else if (root.get("dataplane")) {
            return at(*root.get("dataplane"), "[dataplane] must be a table");
        }
        if (auto* d = root.get_as<toml::table>("daemon")) {
            if (auto e = only_keys(*d, {"listen", "ike_port", "natt_port", "control_socket"},
                                   "[daemon]")) {
                return *e;
            }
            if (auto* n = d->get("listen")) {
                auto a = addrs(*n, "listen");
                if (!a) return a.error();
                cfg.listen = *a;
            }
            if (auto* n = d->get("ike_port")) {
                auto p = integer(*n, "ike_port", 1, 65535);
                if (!p) return p.error();
                cfg.ike_port = std::uint16_t(*p);
            }
            if (auto* n = d->get("natt_port")) {
                auto p = integer(*n, "natt_port", 1, 65535);
                if (!p) return p.error();
                cfg.natt_port = std::uint16_t(*p);
            }
            if (auto* n = d->get("control_socket")) {
                auto s = str(*n, "control_socket");
                if (!s) return s.error();
                cfg.control_socket = *s;
            }
        } else if (root.get("daemon")) {
            return at(*root.get("daemon"), "[daemon] must be a table");
        }
        if (auto* l = root.get_as<toml::table>("log")) {
            for (auto&& [k, v] : *l) {
                auto s = str(v, std::string(k.str()));
                if (!s) return s.error();
                if (!kLogLevels.count(*s)) {
                    return at(v, "log level '" + *s +
                                     "' is not one of trace, debug, info, warn, error, off");
                }
                if (k.str() == "level") {
                    cfg.log_level = *s;
                } else {
                    cfg.log_levels[std::string(k.str())] = *s;
                }
            }
        }
        if (auto* i = root.get_as<toml::table>("ike")) {
            if (auto e = only_keys(*i,
                                   {"retransmit_timeout", "retransmit_base", "retransmit_tries",
                                    "cookie_threshold", "half_open_limit", "half_open_per_peer",
                                    "half_open_timeout"},
                                   "[ike]")) {
                return *e;
            }
            auto& e = cfg.engine;
            if (auto* n = i->get("retransmit_timeout")) {
                auto d = duration(*n, "retransmit_timeout");
                if (!d) return d.error();
                e.retransmit.timeout = *d;
            }
            if (auto* n = i->get("retransmit_base")) {
                auto v = n->value<double>();
                if (!v || *v < 1.0 || *v > 10.0)
                    return at(*n, "'retransmit_base' must be a number in 1..10");
                e.retransmit.base = *v;
            }
            if (auto* n = i->get("retransmit_tries")) {
                auto v = integer(*n, "retransmit_tries", 0, 20);
                if (!v) return v.error();
                e.retransmit.tries = int(*v);
            }
            if (auto* n = i->get("cookie_threshold")) {
                auto v = integer(*n, "cookie_threshold", 0, 10000000);
                if (!v) return v.error();
                e.cookie_threshold = std::size_t(*v);
            }
            if (auto* n = i->get("half_open_limit")) {
                auto v = integer(*n, "half_open_limit", 1, 10000000);
                if (!v) return v.error();
                e.half_open_limit = std::size_t(*v);
            }
            if (auto* n = i->get("half_open_per_peer")) {
                auto v = integer(*n, "half_open_per_peer", 1, 10000000);
                if (!v) return v.error();
                e.half_open_per_peer = std::size_t(*v);
            }
            if (auto* n = i->get("half_open_timeout")) {
                auto d = duration(*n, "half_open_timeout");
                if (!d) return d.error();
                e.half_open_timeout = *d;
            }
        }
        if (auto* cs = root.get("connections")) {
            if (!cs->is_table()) return at(*cs, "[connections] must be a table");
            for (auto&& [k, v] : *cs->as_table()) {
                if (!v.is_table())
                    return at(v, "connections." + std::string(k.str()) + " must be a table");
                auto c = connection(std::string(k.str()), *v.as_table());
                if (!c) return c.error();
                cfg.engine.connections.push_back(std::move(*c));
            }
        }
        // Without raw ESP every SA must be UDP-encapsulated (RFC 3948), so
        // every connection asks for it (§2.23's faked NAT detection).
        if (!cfg.dataplane.raw_esp) {
            for (auto& c : cfg.engine.connections)
                c.force_encap = true;
        }
        return cfg;
    }

  private:
    // "192.0.2.1/24", "2001:db8::1/64"; a bare address is a host (/32, /128).
    Result<net::Prefix> interface_address(const toml::node& n, const std::string& key) const {
        auto s = n.value<std::string>();
        if (!s) return at(n, "'" + key + "' must contain strings like \"192.0.2.1/24\"");
        std::string_view text = *s;
        auto slash = text.find('/');
        auto a = IpAddress::parse(text.substr(0, slash));
        if (!a) return at(n, "'" + key + "': '" + *s + "' is not an IP address");
        int max = a->is_v6() ? 128 : 32;
        int len = max;
        if (slash != std::string_view::npos) {
            auto digits = text.substr(slash + 1);
            auto r = std::from_chars(digits.data(), digits.data() + digits.size(), len);
            if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size() ||
                len < 0 || len > max) {
                return at(n, "'" + key + "': '" + *s + "' has a bad prefix length (0.." +
                                 std::to_string(max) + ")");
            }
        }
        return net::Prefix{*a, std::uint8_t(len)};
    }

    Result<std::vector<ClusterMember>> members(const toml::node& n) const {
        auto* arr = n.as_array();
        if (!arr) return at(n, "'members' must be an array of { id = N, address = \"...\" }");
        std::vector<ClusterMember> out;
        for (auto&& e : *arr) {
            auto* t = e.as_table();
            if (!t) return at(e, "'members' must contain tables { id = N, address = \"...\" }");
            if (auto err = only_keys(*t, {"id", "address"}, "a cluster member")) return *err;
            auto* idn = t->get("id");
            auto* an = t->get("address");
            if (!idn || !an) return at(e, "a cluster member needs 'id' and 'address'");
            auto id = integer(*idn, "id", 0, 15);
            if (!id) return id.error();
            for (const auto& m : out) {
                if (m.id == *id)
                    return at(*idn, "member id " + std::to_string(*id) + " is listed twice");
            }
            auto s = str(*an, "address");
            if (!s) return s.error();
            auto a = IpAddress::parse(*s);
            if (!a) return at(*an, "'address': '" + *s + "' is not an IP address");
            if (a->is_unspecified()) return at(*an, "'address' must be the member's own address");
            for (const auto& m : out) {
                if (m.address == *a) return at(*an, "address " + *s + " is listed twice");
                // One sync socket family: mixing would leave members that
                // cannot reach each other.
                if (m.address.is_v6() != a->is_v6())
                    return at(*an, "every member address must be of the same family");
            }
            out.push_back({std::uint16_t(*id), *a});
        }
        if (out.size() < 2 || out.size() > 16)
            return at(n, "'members' must list 2..16 members, this one included");
        return out;
    }

    Result<std::vector<ClusterKeySettings>> keys(const toml::node& n) const {
        auto* arr = n.as_array();
        if (!arr || arr->empty())
            return at(n, "'keys' must be a non-empty array of { id = N, secret_file = \"...\" }");
        std::vector<ClusterKeySettings> out;
        for (auto&& e : *arr) {
            auto* t = e.as_table();
            if (!t) return at(e, "'keys' must contain tables { id = N, secret_file = \"...\" }");
            if (auto err = only_keys(*t, {"id", "secret", "secret_file"}, "a cluster key"))
                return *err;
            auto* idn = t->get("id");
            if (!idn) return at(e, "a cluster key needs 'id'");
            auto id = integer(*idn, "id", 0, 255);
            if (!id) return id.error();
            for (const auto& k : out) {
                if (k.id == *id)
                    return at(*idn, "key id " + std::to_string(*id) + " is listed twice");
            }
            ClusterKeySettings k;
            k.id = std::uint8_t(*id);
            auto* sn = t->get("secret");
            auto* fn = t->get("secret_file");
            if (bool(sn) == bool(fn))
                return at(e, "a cluster key needs exactly one of 'secret' and 'secret_file'");
            std::string hex;
            std::string what;  // names the secret in errors
            if (sn) {
                auto s = str(*sn, "secret");
                if (!s) return s.error();
                hex = *s;
                what = "key " + std::to_string(*id);
            } else {
                auto s = str(*fn, "secret_file");
                if (!s) return s.error();
                if (s->empty()) return at(*fn, "'secret_file' is empty");
                k.secret_file = *s;
                if (!read_) {
                    // Pure parse: resolution is load_config_file's job.
                    out.push_back(std::move(k));
                    continue;
                }
                auto text = (*read_)(*s);
                if (!text) return at(e, "key " + std::to_string(*id) + ": " + text.error().what);
                hex = *text;
                what = "key " + std::to_string(*id) + " (" + *s + ")";
            }
            auto b = from_hex(hex);
            if (!b) return at(sn ? *sn : e, what + " is not hex");
            // 256 bits: the sync channel's keys are derived from it.
            if (b->size() < 32)
                return at(sn ? *sn : e, what + " is too short: " + std::to_string(b->size()) +
                                            " octets, at least 32");
            k.secret = std::move(*b);
            out.push_back(std::move(k));
        }
        return out;
    }

  public:
    Result<ClusterSettings> cluster(const toml::table& t) const {
        if (auto e = only_keys(t,
                               {"member_id", "priority", "members", "sync_port", "keys",
                                "virtual_ips", "interface", "heartbeat", "dead_after", "preempt",
                                "role_control", "checkpoint_interval", "seq_margin", "stripe_bits",
                                "peer_sync", "peer_sync_rate", "test_withhold_msgids"},
                               "[cluster]")) {
            return *e;
        }
        ClusterSettings c;
        for (auto key : {"member_id", "members", "keys", "virtual_ips", "interface"}) {
            if (!t.get(key)) return at(t, std::string("[cluster] needs '") + key + "'");
        }
        {
            auto v = integer(*t.get("member_id"), "member_id", 0, 15);
            if (!v) return v.error();
            c.member_id = std::uint16_t(*v);
        }
        if (auto* n = t.get("priority")) {
            auto v = integer(*n, "priority", 1, 255);
            if (!v) return v.error();
            c.priority = std::uint8_t(*v);
        }
        {
            auto* n = t.get("members");
            auto m = members(*n);
            if (!m) return m.error();
            c.members = std::move(*m);
            bool self = false;
            for (const auto& x : c.members)
                self = self || x.id == c.member_id;
            if (!self) {
                return at(*n, "'members' must include this member (id " +
                                  std::to_string(c.member_id) + ")");
            }
        }
        if (auto* n = t.get("sync_port")) {
            auto v = integer(*n, "sync_port", 1, 65535);
            if (!v) return v.error();
            c.sync_port = std::uint16_t(*v);
        }
        {
            auto k = keys(*t.get("keys"));
            if (!k) return k.error();
            c.keys = std::move(*k);
        }
        {
            auto* n = t.get("virtual_ips");
            auto l = strs(*n, "virtual_ips");
            if (!l) return l.error();
            if (l->empty()) return at(*n, "'virtual_ips' is empty");
            auto* arr = n->as_array();
            for (std::size_t i = 0; i < l->size(); ++i) {
                const toml::node& e = arr ? *arr->get(i) : *n;
                auto p = interface_address(e, "virtual_ips");
                if (!p) return p.error();
                for (const auto& q : c.virtual_ips) {
                    if (q.addr == p->addr)
                        return at(e, "virtual IP " + p->addr.to_string() + " is listed twice");
                }
                for (const auto& m : c.members) {
                    if (m.address == p->addr) {
                        return at(
                            e, "virtual IP " + p->addr.to_string() + " is a member's own address");
                    }
                }
                c.virtual_ips.push_back(*p);
            }
        }
        {
            auto* n = t.get("interface");
            auto v = str(*n, "interface");
            if (!v) return v.error();
            if (v->empty() || v->size() > 15)
                return at(*n, "'interface' must be 1..15 characters (an interface name)");
            c.interface = *v;
        }
        if (auto* n = t.get("heartbeat")) {
            auto d = duration(*n, "heartbeat");
            if (!d) return d.error();
            if (*d < std::chrono::milliseconds(10) || *d > std::chrono::seconds(60))
                return at(*n, "'heartbeat' must be between 10ms and 60s");
            c.heartbeat = *d;
        }
        if (auto* n = t.get("dead_after")) {
            auto v = integer(*n, "dead_after", 1, 1000);
            if (!v) return v.error();
            c.dead_after = std::uint32_t(*v);
        }
        if (auto* n = t.get("preempt")) {
            auto b = boolean(*n, "preempt");
            if (!b) return b.error();
            c.preempt = *b;
        }
        if (auto* n = t.get("role_control")) {
            auto s = str(*n, "role_control");
            if (!s) return s.error();
            if (*s == "builtin") {
                c.role_control = RoleControl::BUILTIN;
            } else if (*s == "external") {
                c.role_control = RoleControl::EXTERNAL;
            } else {
                return at(*n, "'role_control' must be \"builtin\" or \"external\"");
            }
        }
        if (auto* n = t.get("checkpoint_interval")) {
            auto d = duration(*n, "checkpoint_interval");
            if (!d) return d.error();
            if (*d < std::chrono::milliseconds(1) || *d > std::chrono::seconds(10))
                return at(*n, "'checkpoint_interval' must be between 1ms and 10s");
            c.checkpoint_interval = *d;
        }
        if (auto* n = t.get("seq_margin")) {
            // Up to 2^40: far beyond any interval's traffic, far below the
            // 64-bit ESN space it is added to.
            auto v = integer(*n, "seq_margin", 1, std::int64_t{1} << 40);
            if (!v) return v.error();
            c.seq_margin = std::uint64_t(*v);
        }
        if (auto* n = t.get("stripe_bits")) {
            auto v = integer(*n, "stripe_bits", 8, 30);
            if (!v) return v.error();
            c.stripe_bits = std::uint8_t(*v);
        }
        if (auto* n = t.get("peer_sync")) {
            auto s = str(*n, "peer_sync");
            if (!s) return s.error();
            if (*s == "always") {
                c.peer_sync = ClusterSettings::PeerSync::ALWAYS;
            } else if (*s == "suspected") {
                c.peer_sync = ClusterSettings::PeerSync::SUSPECTED;
            } else if (*s == "never") {
                c.peer_sync = ClusterSettings::PeerSync::NEVER;
            } else {
                return at(*n, "'peer_sync' must be \"always\", \"suspected\" or \"never\"");
            }
        }
        if (auto* n = t.get("peer_sync_rate")) {
            auto v = integer(*n, "peer_sync_rate", 1, 1000000);
            if (!v) return v.error();
            c.peer_sync_rate = std::uint32_t(*v);
        }
        if (auto* n = t.get("test_withhold_msgids")) {
            auto b = boolean(*n, "test_withhold_msgids");
            if (!b) return b.error();
            c.test_withhold_msgids = *b;
        }
        return c;
    }

  private:
    std::string source_;
    const SecretFileReader* read_ = nullptr;
};

}  // namespace

Result<Duration> parse_duration(std::string_view text) {
    std::int64_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc() || v < 0)
        return Error{0, "'" + std::string(text) + "' is not a duration"};
    std::string_view unit(r.ptr, std::size_t(text.data() + text.size() - r.ptr));
    using namespace std::chrono;
    // Ten years in each unit: far beyond any lifetime or interval, and far
    // below what a nanosecond count can hold (fuzz/fuzz_config found
    // "2777777777777" s overflowing the conversion).
    constexpr std::int64_t kTenYearsS = 10 * 365 * 86400;
    std::int64_t per_s = 0;  // units per second, or 0 when a unit is seconds or longer
    std::int64_t unit_s = 1;
    if (unit.empty() || unit == "s") {
        unit_s = 1;
    } else if (unit == "ms") {
        per_s = 1000;
    } else if (unit == "m" || unit == "min") {
        unit_s = 60;
    } else if (unit == "h") {
        unit_s = 3600;
    } else if (unit == "d") {
        unit_s = 86400;
    } else {
        return Error{0, "'" + std::string(text) + "' has an unknown unit (use ms, s, m, h or d)"};
    }
    if (per_s ? v / per_s > kTenYearsS : v > kTenYearsS / unit_s)
        return Error{0, "'" + std::string(text) + "' is too long (at most ten years)"};
    if (per_s) return Duration(milliseconds(v));
    return Duration(seconds(v * unit_s));
}

namespace {

// toml++ 3.3's is_non_ascii_horizontal_whitespace() reaches
// __builtin_unreachable() for most code points in U+00A1-U+0499,
// U+2F6E-U+3367 and U+FC.. (undefined behaviour, found by fuzz/fuzz_config),
// and its lexer asks that question of any non-ASCII character outside a
// string or comment, and of one after a backslash in a multi-line basic
// string. TOML 1.0 allows non-ASCII characters only inside strings and
// comments, so refusing those places first changes no valid file's meaning
// and keeps the library off the broken path. A quote opens a string only
// where TOML lets one start (after whitespace, = [ { , . or at a line's
// start): toml++ reads a quote inside a malformed bare value as part of
// that value, checking each character after it too. Returns
// "line:column: what".
std::optional<std::string> unsafe_for_toml_parser(std::string_view t) {
    enum class In { CODE, COMMENT, BASIC, LITERAL, ML_BASIC, ML_LITERAL } in = In::CODE;
    std::size_t line = 1, line_start = 0;
    auto at = [&](std::size_t i, const char* what) {
        return std::to_string(line) + ":" + std::to_string(i - line_start + 1) + ": " + what;
    };
    auto starts = [&](std::size_t i, std::string_view s) { return t.substr(i, s.size()) == s; };
    auto non_ascii = [&](std::size_t i) { return i < t.size() && (t[i] & 0x80); };
    std::size_t i = starts(0, "\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte order mark
    // Inside a bare token (a key, number, date or malformed value): it runs
    // to whitespace or a terminator, and toml++ reads quotes and brackets in
    // it as part of it ("0[\"18..." is one bad value, no array, no string).
    bool bare = false;
    // Whether a token here would be a key (an '=' ends a bare key) or a
    // value (toml++ reads on through an '=' in a bare value: "250x='4..."
    // is one bad value, no string after it). Arrays and inline tables nest.
    std::vector<char> nest;
    bool key_ctx = true;
    for (; i < t.size(); ++i) {
        const char c = t[i];
        if (c == '\n') {
            ++line;
            line_start = i + 1;
            bare = false;
            key_ctx = nest.empty() || nest.back() == '{';
            if (in == In::COMMENT || in == In::BASIC || in == In::LITERAL) in = In::CODE;
            continue;
        }
        switch (in) {
            case In::CODE: {
                if (non_ascii(i)) return at(i, "a non-ASCII character outside a string or comment");
                const bool token_start =
                    !bare && (i == line_start || std::string_view(" \t=[{,.").find(t[i - 1]) !=
                                                     std::string_view::npos);
                if (c == '#') {
                    in = In::COMMENT;
                    bare = false;
                } else if (c == '=' && bare && !key_ctx) {
                    // part of a malformed bare value
                } else if (std::string_view(" \t\r,]}=").find(c) != std::string_view::npos) {
                    bare = false;
                    if (c == '=') key_ctx = false;
                    if ((c == ']' || c == '}') && !nest.empty()) nest.pop_back();
                    if (c == ',') key_ctx = !nest.empty() && nest.back() == '{';
                } else if (c == '[' || c == '{') {
                    // An array, inline table or table header opens, or
                    // (inside a bare token) nothing.
                    if (!bare) {
                        key_ctx = c == '{' || (nest.empty() && i == line_start);
                        nest.push_back(c);
                    }
                } else if (!token_start) {
                    bare = true;  // a quote inside a bare token: not a string
                } else if (starts(i, "\"\"\"")) {
                    in = In::ML_BASIC;
                    i += 2;
                } else if (c == '"') {
                    in = In::BASIC;
                } else if (starts(i, "'''")) {
                    in = In::ML_LITERAL;
                    i += 2;
                } else if (c == '\'') {
                    in = In::LITERAL;
                } else {
                    bare = true;
                }
                break;
            }
            case In::COMMENT:
                break;
            case In::BASIC:
                if (c == '\\' && i + 1 < t.size() && t[i + 1] != '\n') {
                    ++i;
                } else if (c == '"') {
                    in = In::CODE;
                }
                break;
            case In::LITERAL:
                if (c == '\'') in = In::CODE;
                break;
            case In::ML_BASIC:
                if (c == '\\') {
                    std::size_t j = i + 1;
                    // A line-ending backslash trims every whitespace line after it.
                    while (j < t.size() &&
                           (t[j] == ' ' || t[j] == '\t' || t[j] == '\r' || t[j] == '\n')) {
                        if (t[j] == '\n') {
                            ++line;
                            line_start = j + 1;
                        }
                        ++j;
                    }
                    if (non_ascii(j))
                        return at(j,
                                  "a non-ASCII character after a backslash in a multi-line string");
                    i = (j == i + 1) ? j : j - 1;  // skip the escaped character or the whitespace
                } else if (starts(i, "\"\"\"")) {
                    in = In::CODE;
                    i += 2;
                    while (i + 1 < t.size() && t[i + 1] == '"')
                        ++i;  // up to two quotes may end the content (TOML 1.0)
                }
                break;
            case In::ML_LITERAL:
                if (starts(i, "'''")) {
                    in = In::CODE;
                    i += 2;
                    while (i + 1 < t.size() && t[i + 1] == '\'')
                        ++i;
                }
                break;
        }
    }
    return std::nullopt;
}

Result<DaemonConfig> parse_with(std::string_view text, std::string_view source,
                                const SecretFileReader* read) {
    if (auto bad = unsafe_for_toml_parser(text)) return Error{0, std::string(source) + ":" + *bad};
    toml::parse_result r = toml::parse(text, source);
    if (!r) {
        const auto& e = r.error();
        return Error{0, std::string(source) + ":" + std::to_string(e.source().begin.line) + ":" +
                            std::to_string(e.source().begin.column) + ": " +
                            std::string(e.description())};
    }
    return Parser(source, read).parse(r.table());
}

}  // namespace

std::uint16_t ClusterSettings::member_index() const {
    std::uint16_t i = 0;
    for (const auto& m : members) {
        if (m.id < member_id) ++i;
    }
    return i;
}

const ClusterMember& ClusterSettings::self() const {
    for (const auto& m : members) {
        if (m.id == member_id) return m;
    }
    // parse_config refuses a member list without this member; a hand-built
    // settings object that breaks that is a programming error.
    std::abort();
}

std::vector<ClusterMember> ClusterSettings::peers() const {
    std::vector<ClusterMember> out;
    for (const auto& m : members) {
        if (m.id != member_id) out.push_back(m);
    }
    return out;
}

Result<DaemonConfig> parse_config(std::string_view text, std::string_view source) {
    return parse_with(text, source, nullptr);
}

Result<DaemonConfig> parse_config(std::string_view text, std::string_view source,
                                  const SecretFileReader& read) {
    return parse_with(text, source, &read);
}

Result<std::string> read_secret_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error{0, path + ": cannot open the key file"};
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return Error{0, path + ": cannot read the key file"};
    return ss.str();
}

Result<DaemonConfig> load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error{0, path + ": cannot open the config file"};
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return Error{0, path + ": cannot read the config file"};
    return parse_config(ss.str(), path, SecretFileReader(read_secret_file));
}

}  // namespace ikecluster::config
