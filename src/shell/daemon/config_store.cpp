#include "daemon/config_store.h"

#include <algorithm>

namespace ikecluster::daemon {

namespace {
bool same_child(const ike::ChildConfig& a, const ike::ChildConfig& b) {
    return a.name == b.name && a.local_ts == b.local_ts && a.remote_ts == b.remote_ts &&
           a.esp_proposals == b.esp_proposals && a.mode == b.mode &&
           a.start_action == b.start_action && a.lifetimes.rekey == b.lifetimes.rekey &&
           a.lifetimes.life == b.lifetimes.life && a.lifetimes.jitter == b.lifetimes.jitter;
}

const ike::ConnectionConfig* find(const config::DaemonConfig& c, const std::string& name) {
    for (const auto& x : c.engine.connections) {
        if (x.name == name) return &x;
    }
    return nullptr;
}
}  // namespace

bool same_connection(const ike::ConnectionConfig& a, const ike::ConnectionConfig& b) {
    if (a.children.size() != b.children.size()) return false;
    for (std::size_t i = 0; i < a.children.size(); ++i) {
        if (!same_child(a.children[i], b.children[i])) return false;
    }
    return a.name == b.name && a.local_addrs == b.local_addrs && a.remote_addrs == b.remote_addrs &&
           a.remote_port == b.remote_port && a.local_id == b.local_id &&
           a.remote_id == b.remote_id && a.psk == b.psk && a.ike_proposals == b.ike_proposals &&
           a.ike_lifetimes.rekey == b.ike_lifetimes.rekey &&
           a.ike_lifetimes.life == b.ike_lifetimes.life &&
           a.ike_lifetimes.jitter == b.ike_lifetimes.jitter && a.dpd_delay == b.dpd_delay &&
           a.force_encap == b.force_encap && a.send_initial_contact == b.send_initial_contact;
}

ReloadReport compare(const config::DaemonConfig& before, const config::DaemonConfig& after) {
    ReloadReport r;
    for (const auto& c : after.engine.connections) {
        const auto* old = find(before, c.name);
        if (!old) {
            r.added.push_back(c.name);
        } else if (!same_connection(*old, c)) {
            r.changed.push_back(c.name);
        }
    }
    for (const auto& c : before.engine.connections) {
        if (!find(after, c.name)) r.removed.push_back(c.name);
    }
    r.log_levels_changed =
        before.log_level != after.log_level || before.log_levels != after.log_levels;
    if (before.listen != after.listen) r.need_restart.push_back("listen");
    if (before.ike_port != after.ike_port) r.need_restart.push_back("ike_port");
    if (before.natt_port != after.natt_port) r.need_restart.push_back("natt_port");
    if (before.control_socket != after.control_socket) r.need_restart.push_back("control_socket");
    return r;
}

nlohmann::json ReloadReport::to_json() const {
    return nlohmann::json{{"added", added},
                          {"removed", removed},
                          {"changed", changed},
                          {"log_levels_changed", log_levels_changed},
                          {"need_restart", need_restart}};
}

ConfigStore::ConfigStore(std::string path, config::DaemonConfig initial, Loader loader)
    : path_(std::move(path)), current_(std::move(initial)), loader_(std::move(loader)) {}

Result<ReloadReport> ConfigStore::reload() {
    auto next = loader_(path_);
    if (!next) return next.error();
    ReloadReport r = compare(current_, *next);
    current_ = std::move(*next);
    return r;
}

}  // namespace ikecluster::daemon
