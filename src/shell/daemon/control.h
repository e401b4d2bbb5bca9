// The control protocol (docs/control.md): one JSON object per line in each
// direction over a Unix stream socket. This file is the pure part -- parsing
// and encoding requests -- shared by ikeclusterd and ikeclusterctl, so both
// ends agree by construction and it can be tested without sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "ike/state.h"

namespace ikecluster::daemon {

enum class Command : std::uint8_t {
    LIST_SAS,
    LIST_CONNS,
    INITIATE,
    TERMINATE,
    REKEY,
    RELOAD,
    STATS,
    CLUSTER_STATUS,  // this member's view of the cluster
    SET_ROLE,        // operator or keepalived: make this member active or standby
};

std::string_view command_name(Command c);

// What set-role asks for.
enum class WantedRole : std::uint8_t { ACTIVE, STANDBY };
std::string_view role_name(WantedRole r);  // "active", "standby"

// What terminate and rekey act on: exactly one of these is set.
struct Target {
    std::optional<ike::IkeSpis> ike;     // one IKE SA (with its children)
    std::optional<std::uint32_t> child;  // one Child SA, by our inbound SPI
    std::optional<std::string> conn;     // every IKE SA of a connection
    friend bool operator==(const Target&, const Target&) = default;
};

struct Request {
    Command cmd = Command::LIST_SAS;
    std::string conn;                       // initiate
    Target target;                          // terminate, rekey
    WantedRole role = WantedRole::STANDBY;  // set-role
    bool force = false;                     // set-role: even if the replica is not synced
    friend bool operator==(const Request&, const Request&) = default;
};

// Longest request line the daemon reads before it drops the client: a
// request is a few hundred bytes, so this only stops a runaway writer.
inline constexpr std::size_t kMaxRequestLine = 64 * 1024;

// One request line (without the newline). Errors say what is wrong with it
// in terms a user of the socket can act on ("unknown command 'lst-sas'").
Result<Request> parse_request(std::string_view line);
nlohmann::json request_json(const Request& r);
// The line the client writes, newline included.
std::string encode_request(const Request& r);

// Every reply has "ok"; failures carry "error", successes the command's data.
nlohmann::json ok_reply(nlohmann::json fields = nlohmann::json::object());
nlohmann::json error_reply(std::string_view message);

}  // namespace ikecluster::daemon
