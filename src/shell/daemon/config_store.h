// The configuration in force and its reload: the new file is parsed and
// checked completely before anything changes, so a bad reload leaves the
// daemon exactly as it was (docs/configuration.md promises this).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "config/config_file.h"

namespace ikecluster::daemon {

// What a successful reload changed, by name.
struct ReloadReport {
    std::vector<std::string> added, removed, changed;  // connections
    bool log_levels_changed = false;
    // [daemon] keys that only take effect on restart (sockets are bound once).
    std::vector<std::string> need_restart;
    bool connections_changed() const {
        return !added.empty() || !removed.empty() || !changed.empty();
    }
    nlohmann::json to_json() const;
};

bool same_connection(const ike::ConnectionConfig& a, const ike::ConnectionConfig& b);
ReloadReport compare(const config::DaemonConfig& before, const config::DaemonConfig& after);

class ConfigStore {
  public:
    using Loader = std::function<Result<config::DaemonConfig>(const std::string& path)>;

    ConfigStore(std::string path, config::DaemonConfig initial,
                Loader loader = config::load_config_file);

    const config::DaemonConfig& current() const { return current_; }
    const std::string& path() const { return path_; }

    // Re-reads the file. On error current() is unchanged and the error names
    // file:line:column.
    Result<ReloadReport> reload();

  private:
    std::string path_;
    config::DaemonConfig current_;
    Loader loader_;
};

}  // namespace ikecluster::daemon
