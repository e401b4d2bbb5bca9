// ikeclusterd --config FILE [--foreground | --check]
//
// Refuses to start on a bad config (the error names file:line:column), runs
// the control plane until SIGTERM/SIGINT, reloads on SIGHUP.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <memory>

#include "config/config_file.h"
#include "daemon/config_store.h"
#include "daemon/daemon.h"
#include "daemon/data_plane.h"
#include "daemon/esp_data_plane.h"
#include "daemon/log.h"
#include "daemon/notifier.h"

namespace {

void usage(FILE* f) {
    std::fprintf(f,
                 "usage: ikeclusterd [--config FILE] [--foreground | --check]\n"
                 "  --config FILE   TOML configuration (default /etc/ikecluster/ikecluster.toml)\n"
                 "  --foreground    stay attached, log to stderr (systemd runs it like this)\n"
                 "  --check         only check the configuration file, then exit\n");
}

// Classic double-fork-free daemonisation: one fork, a new session, stdio on
// /dev/null. Done before any socket or thread exists.
bool daemonize() {
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid > 0) std::_Exit(0);
    if (::setsid() < 0) return false;
    int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        ::dup2(fd, 0);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        if (fd > 2) ::close(fd);
    }
    return ::chdir("/") == 0;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ikecluster;
    std::string path = "/etc/ikecluster/ikecluster.toml";
    bool foreground = false;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--config" && i + 1 < argc) {
            path = argv[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            path = a.substr(9);
        } else if (a == "--foreground" || a == "-f") {
            foreground = true;
        } else if (a == "--check") {
            check_only = true;
        } else if (a == "--help" || a == "-h") {
            usage(stdout);
            return 0;
        } else {
            std::fprintf(stderr, "ikeclusterd: unknown argument '%s'\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }

    auto cfg = config::load_config_file(path);
    if (!cfg) {
        std::fprintf(stderr, "ikeclusterd: %s\n", cfg.error().what.c_str());
        return 1;
    }
    if (check_only) {
        std::printf("%s: ok, %zu connection(s)\n", path.c_str(), cfg->engine.connections.size());
        return 0;
    }
    // Reloads re-read the file after daemonize() moved us to /, so a relative
    // path must be resolved before that.
    std::error_code ec;
    if (auto abs = std::filesystem::absolute(path, ec); !ec) path = abs.string();

    // journald stamps lines itself; a terminal or a plain file wants times.
    auto sink = daemon::SpdLogger::Sink::STDERR_TIMESTAMPS;
    if (!foreground) {
        if (!daemonize()) {
            std::fprintf(stderr, "ikeclusterd: cannot daemonize: %s\n", std::strerror(errno));
            return 1;
        }
        sink = daemon::SpdLogger::Sink::SYSLOG;
    } else if (std::getenv("JOURNAL_STREAM")) {
        sink = daemon::SpdLogger::Sink::STDERR;
    }
    // A control client that hangs up before its reply must not kill us.
    std::signal(SIGPIPE, SIG_IGN);
    daemon::SpdLogger log(sink);
    log.set_levels(daemon::LogLevels::from_config(*cfg));

    daemon::ConfigStore store(path, std::move(*cfg));
    daemon::SystemdNotifier notifier;
    // The userspace ESP data plane unless the config turns it off (then
    // Child SAs are negotiated and only logged).
    std::unique_ptr<daemon::DataPlane> dp;
    daemon::EspDataPlane* esp = nullptr;
    if (store.current().dataplane.enabled) {
        auto e = std::make_unique<daemon::EspDataPlane>(log, store.current());
        esp = e.get();
        dp = std::move(e);
    } else {
        dp = std::make_unique<daemon::LoggingDataPlane>(log);
    }
    asio::io_context io;
    daemon::Daemon d(io, store, log, notifier, *dp);
    asio::steady_timer activity(io);
    std::function<void()> tick;  // outlives io.run(): the timer's handler calls it
    if (esp) {
        auto st = esp->start([&d](const Endpoint& local, const Endpoint& remote, Bytes data) {
            d.post_natt_datagram(local, remote, std::move(data));
        });
        if (!st) {
            log.error(daemon::Subsystem::DP, "cannot start the data plane: {}", st.error().what);
            return 1;
        }
        d.use_natt_sender([esp](const Endpoint& l, const Endpoint& r, BytesView data) {
            return esp->send_udp(l, r, data);
        });
        d.set_packet_stats([esp] {
            auto s = esp->packet_stats();
            return nlohmann::json{
                {"tun_packets", s.tun_packets},   {"esp_sent", s.esp_sent},
                {"esp_received", s.esp_received}, {"delivered", s.delivered},
                {"no_policy", s.no_policy},       {"unknown_spi", s.unknown_spi},
                {"rejected", s.rejected},         {"selector_mismatch", s.selector_mismatch},
                {"ike_on_natt", s.ike_on_natt},   {"send_errors", s.send_errors}};
        });
        // Authentic ESP proves the peer alive (no liveness check needed):
        // hand what the packet thread saw to the engine every few seconds.
        tick = [&] {
            activity.expires_after(std::chrono::seconds(3));
            activity.async_wait([&](const std::error_code& wait_error) {
                if (wait_error) return;
                for (const auto& a : esp->take_activity())
                    d.note_inbound_traffic(a.ike);
                for (const auto& r : esp->take_rekey_requests())
                    d.request_child_rekey(r.spi_in);
                // The engine rate-limits INVALID_SPI notices per IKE SA.
                for (const auto& u : esp->take_unknown_spis())
                    d.report_invalid_spi(u.from, u.spi);
                if (!d.stopping()) tick();
            });
        };
        tick();
    }
    if (auto st = d.start(); !st) {
        log.error(daemon::Subsystem::NET, "cannot start: {}", st.error().what);
        return 1;
    }
    io.run();
    // The packet thread must stop before the daemon it posts to goes away.
    if (esp) esp->stop();
    log.info(daemon::Subsystem::IKE, "stopped");
    return 0;
}
