// ikeclusterctl: the command-line client of ikeclusterd's control socket
// (docs/control.md). Human-readable tables by default, the daemon's JSON
// with --json. Exit status: 0 ok, 1 the daemon refused, 2 usage, 3 no daemon.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "daemon/control.h"
#include "daemon/describe.h"

namespace {

using nlohmann::json;
using namespace ikecluster;
using daemon::Command;
using daemon::Request;

// One request, one reply line. Errors are reported as text.
std::optional<json> call(const std::string& path, const Request& r, std::string& err) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = std::strerror(errno);
        return std::nullopt;
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path)) {
        ::close(fd);
        err = "socket path too long";
        return std::nullopt;
    }
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        err = path + ": " + std::strerror(errno);
        ::close(fd);
        return std::nullopt;
    }
    std::string line = daemon::encode_request(r);
    for (std::size_t off = 0; off < line.size();) {
        ssize_t n = ::write(fd, line.data() + off, line.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            err = std::string("write: ") + std::strerror(errno);
            ::close(fd);
            return std::nullopt;
        }
        off += static_cast<std::size_t>(n);
    }
    std::string reply;
    char buf[4096];
    while (reply.find('\n') == std::string::npos) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        reply.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto nl = reply.find('\n');
    if (nl == std::string::npos) {
        err = "the daemon closed the connection without a reply";
        return std::nullopt;
    }
    json j = json::parse(reply.substr(0, nl), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        err = "the daemon's reply is not JSON";
        return std::nullopt;
    }
    return j;
}

std::string join(const json& a, const char* sep = ",") {
    std::string s;
    for (const auto& x : a) {
        if (!s.empty()) s += sep;
        s += x.get<std::string>();
    }
    return s;
}

void print_sas(const json& j) {
    const auto& sas = j.at("ike_sas");
    if (sas.empty()) {
        std::cout << "no IKE SAs\n";
        return;
    }
    std::cout << fmt::format("{:<12} {:<34} {:<9} {:<24} {:<24} {}\n", "CONN", "IKE SPIs (i_r)",
                             "ROLE", "LOCAL", "REMOTE", "REMOTE ID");
    for (const auto& s : sas) {
        std::cout << fmt::format("{:<12} {:<34} {:<9} {:<24} {:<24} {}\n",
                                 s.at("conn").get<std::string>(), s.at("id").get<std::string>(),
                                 s.at("initiator").get<bool>() ? "initiator" : "responder",
                                 s.at("local").get<std::string>(),
                                 s.at("remote").get<std::string>(),
                                 s.at("remote_id").get<std::string>());
        std::cout << fmt::format("  {}\n", s.at("ike").get<std::string>());
        for (const auto& c : s.at("children")) {
            std::cout << fmt::format(
                "  child {:<10} in {} out {}  {}  {} === {}\n", c.at("name").get<std::string>(),
                c.at("spi_in").get<std::string>(), c.at("spi_out").get<std::string>(),
                c.at("esp").get<std::string>(), join(c.at("local_ts")), join(c.at("remote_ts")));
        }
    }
}

void print_conns(const json& j) {
    const auto& cs = j.at("connections");
    if (cs.empty()) {
        std::cout << "no connections\n";
        return;
    }
    for (const auto& c : cs) {
        std::string remote = join(c.at("remote_addrs"));
        std::cout << fmt::format("{}: {} -> {}  {} -> {}  ike {}\n",
                                 c.at("name").get<std::string>(), join(c.at("local_addrs")),
                                 remote.empty() ? "%any" : remote,
                                 c.at("local_id").get<std::string>(),
                                 c.at("remote_id").get<std::string>(), join(c.at("proposals")));
        for (const auto& ch : c.at("children")) {
            std::cout << fmt::format("  child {}: {} === {}  esp {}  {}  start_action {}\n",
                                     ch.at("name").get<std::string>(), join(ch.at("local_ts")),
                                     join(ch.at("remote_ts")), join(ch.at("esp_proposals")),
                                     ch.at("mode").get<std::string>(),
                                     ch.at("start_action").get<std::string>());
        }
    }
}

void print_flat(const json& j, const std::string& prefix = "") {
    for (const auto& [k, v] : j.items()) {
        if (k == "ok") continue;
        if (v.is_object()) {
            print_flat(v, prefix + k + ".");
        } else {
            std::cout << fmt::format("{:<32} {}\n", prefix + k,
                                     v.is_string() ? v.get<std::string>() : v.dump());
        }
    }
}

// A reply field as table text: "-" when the daemon did not send it (an
// older daemon, or a member it has not heard from yet).
std::string field(const json& j, const char* key) {
    if (!j.is_object()) return "-";
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return "-";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
    return it->dump();
}

void print_cluster(const json& j) {
    std::string synced = field(j, "synced");
    std::cout << fmt::format("member {}: {}, epoch {}{}\n", field(j, "member"), field(j, "role"),
                             field(j, "epoch"),
                             synced == "yes"  ? ", synced"
                             : synced == "no" ? ", NOT synced"
                                              : "");
    auto ms = j.find("members");
    if (ms != j.end() && ms->is_array() && !ms->empty()) {
        std::cout << fmt::format("\n  {:<4} {:<8} {:<6} {:<6} {:<5} {:<6} {:<7} {}\n", "ID", "ROLE",
                                 "ALIVE", "LINK", "PRIO", "EPOCH", "SYNCED", "LAST HEARD");
        std::string self = field(j, "member");
        for (const auto& m : *ms) {
            std::string id = field(m, "id");
            std::string heard = field(m, "last_heard_ms");
            if (heard != "-") heard += " ms";
            std::cout << fmt::format("{} {:<4} {:<8} {:<6} {:<6} {:<5} {:<6} {:<7} {}\n",
                                     id == self ? "*" : " ", id, field(m, "role"),
                                     field(m, "alive"), field(m, "link"), field(m, "priority"),
                                     field(m, "epoch"), field(m, "synced"), heard);
        }
    }
    auto rep = j.find("replica");
    if (rep != j.end() && rep->is_object()) {
        std::cout << fmt::format("\nreplica: {} IKE SAs, {} Child SAs\n", field(*rep, "ike_sas"),
                                 field(*rep, "child_sas"));
    }
    auto st = j.find("stats");
    if (st != j.end() && st->is_object() && !st->empty()) {
        std::cout << "\n";
        print_flat(*st, "stats.");
    }
}

// terminate/rekey take exactly one of --ike/--child/--conn.
struct TargetOpts {
    std::string ike, child, conn;
    void add(CLI::App* app) {
        auto* a = app->add_option("--ike", ike, "IKE SA: SPI_I_SPI_R in hex");
        auto* b = app->add_option("--child", child, "Child SA: our inbound SPI in hex");
        auto* c = app->add_option("--conn", conn, "every IKE SA of this connection");
        a->excludes(b)->excludes(c);
        b->excludes(c);
    }
    bool fill(daemon::Target& t, std::string& err) const {
        if (!ike.empty()) {
            t.ike = daemon::parse_spis(ike);
            if (!t.ike) err = "--ike must be SPI_I_SPI_R in hex";
        } else if (!child.empty()) {
            t.child = daemon::parse_spi(child);
            if (!t.child) err = "--child must be an SPI in hex";
        } else if (!conn.empty()) {
            t.conn = conn;
        } else {
            err = "one of --ike, --child, --conn is required";
        }
        return err.empty();
    }
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"ikeclusterctl: control a running ikeclusterd"};
    app.require_subcommand(1);
    std::string socket = "/run/ikecluster/ikeclusterd.sock";
    bool as_json = false;
    app.add_option("--socket,-s", socket, "control socket of ikeclusterd");

    auto* list_sas = app.add_subcommand("list-sas", "IKE SAs and their Child SAs");
    list_sas->add_flag("--json", as_json, "print the daemon's JSON reply");
    auto* list_conns = app.add_subcommand("list-conns", "configured connections");
    list_conns->add_flag("--json", as_json, "print the daemon's JSON reply");
    std::string conn;
    auto* initiate = app.add_subcommand("initiate", "start an IKE SA for a connection");
    initiate->add_option("conn", conn, "connection name")->required();
    TargetOpts term_opts, rekey_opts;
    auto* terminate = app.add_subcommand("terminate", "delete an IKE or Child SA");
    term_opts.add(terminate);
    auto* rekey = app.add_subcommand("rekey", "rekey an IKE or Child SA");
    rekey_opts.add(rekey);
    auto* reload = app.add_subcommand("reload", "re-read the configuration file");
    auto* stats = app.add_subcommand("stats", "counters");
    stats->add_flag("--json", as_json, "print the daemon's JSON reply");
    for (auto* s : {initiate, terminate, rekey, reload})
        s->add_flag("--json", as_json, "print JSON");

    auto* cluster = app.add_subcommand("cluster", "the hot-standby cluster");
    cluster->require_subcommand(1);
    auto* cluster_status = cluster->add_subcommand("status", "this member's view of the cluster");
    cluster_status->add_flag("--json", as_json, "print the daemon's JSON reply");
    std::string role;
    bool force = false;
    auto* set_role = cluster->add_subcommand(
        "set-role", "make this member active or standby (operator, keepalived)");
    set_role->add_option("role", role, "active or standby")
        ->required()
        ->check(CLI::IsMember({"active", "standby"}));
    set_role->add_flag("--force", force, "even if this member's replica is not synced");
    set_role->add_flag("--json", as_json, "print JSON");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }

    Request r;
    std::string err;
    if (*list_sas) r.cmd = Command::LIST_SAS;
    if (*list_conns) r.cmd = Command::LIST_CONNS;
    if (*stats) r.cmd = Command::STATS;
    if (*reload) r.cmd = Command::RELOAD;
    if (*initiate) {
        r.cmd = Command::INITIATE;
        r.conn = conn;
    }
    if (*terminate) {
        r.cmd = Command::TERMINATE;
        term_opts.fill(r.target, err);
    }
    if (*rekey) {
        r.cmd = Command::REKEY;
        rekey_opts.fill(r.target, err);
    }
    if (*cluster_status) r.cmd = Command::CLUSTER_STATUS;
    if (*set_role) {
        r.cmd = Command::SET_ROLE;
        r.role = role == "active" ? daemon::WantedRole::ACTIVE : daemon::WantedRole::STANDBY;
        r.force = force;
    }
    if (!err.empty()) {
        std::cerr << "ikeclusterctl: " << err << "\n";
        return 2;
    }

    auto reply = call(socket, r, err);
    if (!reply) {
        std::cerr << "ikeclusterctl: " << err << "\n";
        return 3;
    }
    bool ok = reply->value("ok", false);
    if (as_json) {
        std::cout << reply->dump(2) << "\n";
        return ok ? 0 : 1;
    }
    if (!ok) {
        std::cerr << "ikeclusterctl: " << reply->value("error", std::string("failed")) << "\n";
        return 1;
    }
    try {
        switch (r.cmd) {
            case Command::LIST_SAS:
                print_sas(*reply);
                break;
            case Command::LIST_CONNS:
                print_conns(*reply);
                break;
            case Command::CLUSTER_STATUS:
                print_cluster(*reply);
                break;
            default:
                print_flat(*reply);
        }
    } catch (const json::exception& e) {
        // An older or newer daemon with a different reply shape: still show it.
        std::cout << reply->dump(2) << "\n";
    }
    return 0;
}
