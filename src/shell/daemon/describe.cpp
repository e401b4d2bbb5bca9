#include "daemon/describe.h"

#include <charconv>

#include <fmt/format.h>

#include "ike/proposal.h"

namespace ikecluster::daemon {

using nlohmann::json;

std::string spis_text(const ike::IkeSpis& s) {
    return fmt::format("{:016x}_{:016x}", s.spi_i, s.spi_r);
}

namespace {
template <typename T>
std::optional<T> parse_hex(std::string_view t) {
    if (t.starts_with("0x") || t.starts_with("0X")) t.remove_prefix(2);
    if (t.empty() || t.size() > sizeof(T) * 2) return std::nullopt;
    T v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, 16);
    if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
    return v;
}

json ts_json(const ike::TsList& ts) {
    json a = json::array();
    for (const auto& t : ts)
        a.push_back(t.to_string());
    return a;
}

std::string identity_or_any(const std::optional<ike::Identity>& id) {
    return id ? id->to_string() : "%any";
}

json addrs_json(const std::vector<IpAddress>& v) {
    json a = json::array();
    for (const auto& x : v)
        a.push_back(x.to_string());
    return a;
}

json proposals_json(const std::vector<ike::ProposalSpec>& v) {
    json a = json::array();
    for (const auto& p : v)
        a.push_back(p.to_string());
    return a;
}

std::int64_t seconds(Duration d) {
    return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}
}  // namespace

std::optional<ike::IkeSpis> parse_spis(std::string_view text) {
    auto sep = text.find_first_of("_:");
    if (sep == std::string_view::npos) return std::nullopt;
    auto i = parse_hex<std::uint64_t>(text.substr(0, sep));
    auto r = parse_hex<std::uint64_t>(text.substr(sep + 1));
    if (!i || !r) return std::nullopt;
    return ike::IkeSpis{*i, *r};
}

std::string spi_text(std::uint32_t spi) {
    return fmt::format("{:08x}", spi);
}
std::optional<std::uint32_t> parse_spi(std::string_view text) {
    return parse_hex<std::uint32_t>(text);
}

std::string suite_text(const ike::IkeSuite& s) {
    ike::ProposalSpec p;
    p.kind = ike::ProposalKind::IKE;
    p.encr = {s.encr};
    if (s.integ != IntegId::NONE) p.integ = {s.integ};
    p.prf = {s.prf};
    p.dh = {s.dh};
    return p.to_string();
}

std::string child_suite_text(const ike::ChildSaState& c) {
    ike::ProposalSpec p;
    p.kind = ike::ProposalKind::ESP;
    p.encr = {c.encr};
    if (c.integ != IntegId::NONE) p.integ = {c.integ};
    p.esn = {c.esn ? EsnId::ESN : EsnId::NO_ESN};
    return p.to_string();
}

std::string ts_text(const ike::TsList& ts) {
    std::string out;
    for (const auto& t : ts) {
        if (!out.empty()) out += ",";
        out += t.to_string();
    }
    return out;
}

std::string_view reason_text(ike::DeleteReason r) {
    switch (r) {
        case ike::DeleteReason::DELETED_BY_PEER:
            return "deleted-by-peer";
        case ike::DeleteReason::DELETED_BY_US:
            return "deleted-by-us";
        case ike::DeleteReason::EXPIRED:
            return "expired";
        case ike::DeleteReason::PEER_DEAD:
            return "peer-dead";
        case ike::DeleteReason::AUTH_FAILED:
            return "auth-failed";
        case ike::DeleteReason::REPLACED:
            return "replaced";
    }
    return "unknown";
}

namespace {
std::string child_fields(const ike::ChildSaState& c) {
    return fmt::format("child={} spi_in={} spi_out={} local_ts={} remote_ts={} esp={}",
                       c.config_name, spi_text(c.spi_in), spi_text(c.spi_out), ts_text(c.ts_local),
                       ts_text(c.ts_remote), child_suite_text(c));
}

std::string ike_fields(const ike::IkeSaState& s) {
    return fmt::format("conn={} spis={} role={} local={} remote={} peer_id={} ike={}{}",
                       s.config_name, spis_text(s.spis), s.initiator ? "initiator" : "responder",
                       s.local.to_string(), s.remote.to_string(), s.remote_id.to_string(),
                       suite_text(s.suite), s.encap ? " encap=udp" : "");
}

struct EventLine {
    std::optional<std::string> operator()(const ike::IkeSaEstablished& e) const {
        std::string line = "IKE SA established " + ike_fields(e.sa);
        for (const auto& c : e.sa.children)
            line += "; Child SA added " + child_fields(c);
        return line;
    }
    std::optional<std::string> operator()(const ike::IkeMessageIdsAdvanced&) const {
        return std::nullopt;
    }
    std::optional<std::string> operator()(const ike::ChildSaAdded& e) const {
        return "Child SA added ike_spis=" + spis_text(e.ike) + " " + child_fields(e.child);
    }
    std::optional<std::string> operator()(const ike::ChildSaRekeyed& e) const {
        return "Child SA rekeyed ike_spis=" + spis_text(e.ike) +
               " old_spi_in=" + spi_text(e.old_spi_in) + " " + child_fields(e.child);
    }
    std::optional<std::string> operator()(const ike::ChildSaDeleted& e) const {
        return "Child SA deleted ike_spis=" + spis_text(e.ike) + " spi_in=" + spi_text(e.spi_in);
    }
    std::optional<std::string> operator()(const ike::IkeSaRekeyed& e) const {
        return "IKE SA rekeyed old_spis=" + spis_text(e.old_spis) + " " + ike_fields(e.sa);
    }
    std::optional<std::string> operator()(const ike::IkeSaDeleted& e) const {
        return fmt::format("IKE SA deleted spis={} reason={}", spis_text(e.spis),
                           reason_text(e.reason));
    }
};
}  // namespace

std::optional<std::string> event_line(const ike::Event& e) {
    return std::visit(EventLine{}, e);
}

json child_json(const ike::ChildSaState& c) {
    return json{{"name", c.config_name},
                {"unique_id", c.unique_id},
                {"spi_in", spi_text(c.spi_in)},
                {"spi_out", spi_text(c.spi_out)},
                {"mode", c.mode == ike::IpsecMode::TUNNEL ? "tunnel" : "transport"},
                {"esn", c.esn},
                {"esp", child_suite_text(c)},
                {"local_ts", ts_json(c.ts_local)},
                {"remote_ts", ts_json(c.ts_remote)}};
}

json ike_sa_json(const ike::IkeSaState& s) {
    json children = json::array();
    for (const auto& c : s.children)
        children.push_back(child_json(c));
    return json{{"id", spis_text(s.spis)},
                {"conn", s.config_name},
                {"spi_i", fmt::format("{:016x}", s.spis.spi_i)},
                {"spi_r", fmt::format("{:016x}", s.spis.spi_r)},
                {"initiator", s.initiator},
                {"local", s.local.to_string()},
                {"remote", s.remote.to_string()},
                {"local_id", s.local_id.to_string()},
                {"remote_id", s.remote_id.to_string()},
                {"ike", suite_text(s.suite)},
                {"encap", s.encap},
                {"message_ids",
                 {{"next_out", s.msgids.next_request_out}, {"next_in", s.msgids.next_request_in}}},
                {"children", std::move(children)}};
}

json connection_json(const ike::ConnectionConfig& c) {
    json children = json::array();
    for (const auto& ch : c.children) {
        children.push_back(
            json{{"name", ch.name},
                 {"local_ts", ts_json(ch.local_ts)},
                 {"remote_ts", ts_json(ch.remote_ts)},
                 {"esp_proposals", proposals_json(ch.esp_proposals)},
                 {"mode", ch.mode == ike::IpsecMode::TUNNEL ? "tunnel" : "transport"},
                 {"start_action", ch.start_action == ike::StartAction::START ? "start" : "none"},
                 {"rekey_time", seconds(ch.lifetimes.rekey)}});
    }
    return json{{"name", c.name},
                {"local_addrs", addrs_json(c.local_addrs)},
                {"remote_addrs", addrs_json(c.remote_addrs)},
                {"remote_port", c.remote_port},
                {"local_id", c.local_id.to_string()},
                {"remote_id", identity_or_any(c.remote_id)},
                {"proposals", proposals_json(c.ike_proposals)},
                {"rekey_time", seconds(c.ike_lifetimes.rekey)},
                {"dpd_delay", seconds(c.dpd_delay)},
                {"encap", c.force_encap},
                {"children", std::move(children)}};
}

}  // namespace ikecluster::daemon
