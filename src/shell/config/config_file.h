// The daemon's TOML configuration (docs/configuration.md is the reference).
// Parsing is pure: text in, DaemonConfig or an error naming file:line:column
// out, so a bad file or a bad reload never half-applies.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/net.h"
#include "base/result.h"
#include "ike/config.h"
#include "net/prefixes.h"

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

// One member of the hot-standby cluster, as listed in [cluster].members.
struct ClusterMember {
    std::uint16_t id = 0;  // 0..15
    IpAddress address;     // its own address: sync traffic goes between these
    friend bool operator==(const ClusterMember&, const ClusterMember&) = default;
};

// A key of the sync channel. The first configured key sends; every key is
// accepted, so keys can be rolled member by member.
struct ClusterKeySettings {
    std::uint8_t id = 0;
    Bytes secret;             // >= 32 octets; empty only when unresolved (see parse_config)
    std::string secret_file;  // where the secret came from; empty for an inline secret
};

enum class RoleControl : std::uint8_t {
    BUILTIN,   // the members elect the active one among themselves
    EXTERNAL,  // keepalived (or another tool) decides through set-role
};

struct ClusterSettings {
    std::uint16_t member_id = 0;
    std::uint8_t priority = 100;         // 1..255, higher wins the election
    std::vector<ClusterMember> members;  // in file order, self included
    std::uint16_t sync_port = 4510;
    std::vector<ClusterKeySettings> keys;
    // Interface addresses: `addr` keeps its host bits ("192.0.2.1/24").
    std::vector<net::Prefix> virtual_ips;
    std::string interface;  // where the virtual addresses go
    Duration heartbeat = std::chrono::milliseconds(100);
    std::uint32_t dead_after = 3;  // heartbeats missed before a member is dead
    bool preempt = false;
    RoleControl role_control = RoleControl::BUILTIN;
    Duration checkpoint_interval = std::chrono::milliseconds(50);
    std::uint64_t seq_margin = std::uint64_t{1} << 20;
    std::uint8_t stripe_bits = 24;
    // RFC 6311 after a takeover (cluster::PeerSyncMode): "always",
    // "suspected" or "never", and how many syncs per second.
    enum class PeerSync : std::uint8_t { ALWAYS, SUSPECTED, NEVER } peer_sync = PeerSync::ALWAYS;
    std::uint32_t peer_sync_rate = 8000;
    // Testing only: the active does not replicate message-ID updates
    // (so a takeover needs RFC 6311). Never set this in production.
    bool test_withhold_msgids = false;

    // This member's position among the members sorted by id (its
    // sequence-number stripe index) and their number.
    std::uint16_t member_index() const;
    std::uint16_t member_count() const { return std::uint16_t(members.size()); }
    // This member's own entry (parse_config guarantees there is one).
    const ClusterMember& self() const;
    // Everybody else.
    std::vector<ClusterMember> peers() const;
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
    std::optional<ClusterSettings> cluster;         // absent: a single gateway
};

// Reads a cluster key's secret_file: its whole text, or an error saying why
// not (the parser adds file:line:column of the key entry).
using SecretFileReader = std::function<Result<std::string>(const std::string& path)>;

// `source` names the text in errors ("/etc/ikecluster/ikecluster.toml").
// The Error's `what` reads "source:line:column: problem"; `offset` is 0.
//
// This overload touches no files: a cluster key given as `secret_file` is
// checked for form only and left unresolved (its `secret` empty, its
// `secret_file` set). The daemon goes through load_config_file, which
// resolves them.
Result<DaemonConfig> parse_config(std::string_view text, std::string_view source);
// The same, resolving every `secret_file` through `read` at parse time, so a
// missing or malformed key file is an error naming the key entry's line.
Result<DaemonConfig> parse_config(std::string_view text, std::string_view source,
                                  const SecretFileReader& read);

// Reads and parses a file; a missing or unreadable file is an error too.
// Cluster key files are read from disk (read_secret_file).
Result<DaemonConfig> load_config_file(const std::string& path);

// A key file's text; errors read "PATH: cannot open the key file".
Result<std::string> read_secret_file(const std::string& path);

// "250ms", "30s", "5m", "5min", "4h", "1d", or a bare number of seconds.
Result<Duration> parse_duration(std::string_view text);

}  // namespace ikecluster::config
