// The daemon's TOML configuration (docs/configuration.md is the reference).
// Parsing is pure: text in, DaemonConfig or an error naming file:line:column
// out, so a bad file or a bad reload never half-applies.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/net.h"
#include "base/result.h"
#include "ike/config.h"

namespace ikecluster::config {

// The userspace ESP data plane (shell/dataplane).
struct DataPlaneSettings {
    bool enabled = true;  // false: IKE only (another data plane installs the SAs)
    std::string tun_name = "ikec0";
    std::uint32_t mtu = 1400;
    std::size_t replay_window = 1024;  // packets per inbound SA
    bool raw_esp = true;               // raw ESP (protocol 50) when no NAT is detected
    bool routes = true;                // route remote selectors into the TUN device
};

struct DaemonConfig {
    ike::EngineConfig engine;
    std::vector<IpAddress> listen;  // addresses to bind UDP 500/4500 on
    std::uint16_t ike_port = 500;
    std::uint16_t natt_port = 4500;
    std::string control_socket = "/run/ikecluster/ikeclusterd.sock";
    DataPlaneSettings dataplane;
    std::string log_level = "info";                 // default for every subsystem
    std::map<std::string, std::string> log_levels;  // per subsystem: "ike" -> "debug"
};

// `source` names the text in errors ("/etc/ikecluster/ikecluster.toml").
// The Error's `what` reads "source:line:column: problem"; `offset` is 0.
Result<DaemonConfig> parse_config(std::string_view text, std::string_view source);

// Reads and parses a file; a missing or unreadable file is an error too.
Result<DaemonConfig> load_config_file(const std::string& path);

// "250ms", "30s", "5m", "5min", "4h", "1d", or a bare number of seconds.
Result<Duration> parse_duration(std::string_view text);

}  // namespace ikecluster::config
