#include "daemon/control.h"

#include <array>
#include <utility>

#include "daemon/describe.h"

namespace ikecluster::daemon {

using nlohmann::json;

namespace {
constexpr std::array<std::pair<Command, std::string_view>, 9> kCommands{{
    {Command::LIST_SAS, "list-sas"},
    {Command::LIST_CONNS, "list-conns"},
    {Command::INITIATE, "initiate"},
    {Command::TERMINATE, "terminate"},
    {Command::REKEY, "rekey"},
    {Command::RELOAD, "reload"},
    {Command::STATS, "stats"},
    {Command::CLUSTER_STATUS, "cluster-status"},
    {Command::SET_ROLE, "set-role"},
}};

Error fail(std::string what) {
    return Error{0, std::move(what)};
}

Result<std::string> string_field(const json& j, const char* key) {
    const auto& v = j.at(key);
    if (!v.is_string()) return fail(std::string("'") + key + "' must be a string");
    return v.get<std::string>();
}

Result<Target> parse_target(const json& j, std::string_view cmd) {
    Target t;
    int n = 0;
    if (j.contains("ike")) {
        auto s = string_field(j, "ike");
        if (!s) return s.error();
        auto spis = parse_spis(*s);
        if (!spis) return fail("'ike' must be SPI_I_SPI_R in hex, got '" + *s + "'");
        t.ike = *spis;
        ++n;
    }
    if (j.contains("child")) {
        auto s = string_field(j, "child");
        if (!s) return s.error();
        auto spi = parse_spi(*s);
        if (!spi) return fail("'child' must be an inbound SPI in hex, got '" + *s + "'");
        t.child = *spi;
        ++n;
    }
    if (j.contains("conn")) {
        auto s = string_field(j, "conn");
        if (!s) return s.error();
        if (s->empty()) return fail("'conn' is empty");
        t.conn = *s;
        ++n;
    }
    if (n != 1) return fail(std::string(cmd) + " needs exactly one of 'ike', 'child', 'conn'");
    return t;
}
}  // namespace

std::string_view role_name(WantedRole r) {
    return r == WantedRole::ACTIVE ? "active" : "standby";
}

std::string_view command_name(Command c) {
    for (const auto& [k, name] : kCommands) {
        if (k == c) return name;
    }
    return "?";
}

Result<Request> parse_request(std::string_view line) {
    if (line.size() > kMaxRequestLine) return fail("request too long");
    // nlohmann throws on malformed input; the parse error never leaves here,
    // it becomes an error reply to that one client.
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) return fail("request is not valid JSON");
    if (!j.is_object()) return fail("request must be a JSON object");
    if (!j.contains("cmd")) return fail("request has no 'cmd'");
    auto cmd = string_field(j, "cmd");
    if (!cmd) return cmd.error();
    Request r;
    bool found = false;
    for (const auto& [k, name] : kCommands) {
        if (name == *cmd) {
            r.cmd = k;
            found = true;
        }
    }
    if (!found) return fail("unknown command '" + *cmd + "'");
    for (const auto& [key, value] : j.items()) {
        static constexpr std::array<std::string_view, 6> kKeys{"cmd",   "conn", "ike",
                                                               "child", "role", "force"};
        bool known = false;
        for (auto k : kKeys)
            known = known || k == key;
        // Unknown keys are refused, as in the config file: a misspelt option
        // must not silently turn a targeted command into something broader.
        if (!known) return fail("unknown key '" + key + "'");
    }
    switch (r.cmd) {
        case Command::INITIATE: {
            if (!j.contains("conn")) return fail("initiate needs 'conn'");
            auto c = string_field(j, "conn");
            if (!c) return c.error();
            if (c->empty()) return fail("'conn' is empty");
            if (j.size() != 2) return fail("initiate takes only 'conn'");
            r.conn = *c;
            break;
        }
        case Command::TERMINATE:
        case Command::REKEY: {
            if (j.contains("role") || j.contains("force"))
                return fail(*cmd + " takes only 'ike', 'child' or 'conn'");
            auto t = parse_target(j, *cmd);
            if (!t) return t.error();
            r.target = *t;
            break;
        }
        case Command::SET_ROLE: {
            if (!j.contains("role")) return fail("set-role needs 'role'");
            auto role = string_field(j, "role");
            if (!role) return role.error();
            if (*role == "active") {
                r.role = WantedRole::ACTIVE;
            } else if (*role == "standby") {
                r.role = WantedRole::STANDBY;
            } else {
                return fail("'role' must be \"active\" or \"standby\", got '" + *role + "'");
            }
            if (j.contains("force")) {
                const auto& f = j.at("force");
                if (!f.is_boolean()) return fail("'force' must be true or false");
                r.force = f.get<bool>();
            }
            if (j.contains("conn") || j.contains("ike") || j.contains("child"))
                return fail("set-role takes only 'role' and 'force'");
            break;
        }
        default:
            if (j.size() != 1) return fail(*cmd + " takes no arguments");
    }
    return r;
}

json request_json(const Request& r) {
    json j{{"cmd", command_name(r.cmd)}};
    if (r.cmd == Command::INITIATE) j["conn"] = r.conn;
    if (r.cmd == Command::TERMINATE || r.cmd == Command::REKEY) {
        if (r.target.ike) j["ike"] = spis_text(*r.target.ike);
        if (r.target.child) j["child"] = spi_text(*r.target.child);
        if (r.target.conn) j["conn"] = *r.target.conn;
    }
    if (r.cmd == Command::SET_ROLE) {
        j["role"] = role_name(r.role);
        if (r.force) j["force"] = true;
    }
    return j;
}

std::string encode_request(const Request& r) {
    return request_json(r).dump() + "\n";
}

json ok_reply(json fields) {
    fields["ok"] = true;
    return fields;
}

json error_reply(std::string_view message) {
    return json{{"ok", false}, {"error", std::string(message)}};
}

}  // namespace ikecluster::daemon
