// The daemon's logger: one interface, levels per subsystem, so the core-facing
// code never names spdlog and the simulator can later stamp virtual time by
// providing its own implementation.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/result.h"
#include "config/config_file.h"

namespace ikecluster::daemon {

enum class Subsystem : std::uint8_t { IKE, NET, CTL, DP, CLUSTER };
inline constexpr std::size_t kSubsystems = 5;
enum class Level : std::uint8_t { TRACE, DEBUG, INFO, WARN, ERROR, OFF };

std::string_view subsystem_name(Subsystem s);
// "trace" .. "off"; nullopt for anything else.
std::optional<Level> parse_level(std::string_view text);
std::string_view level_name(Level l);

struct LogLevels;

class Logger {
  public:
    virtual ~Logger() = default;
    virtual bool enabled(Subsystem s, Level l) const = 0;
    virtual void write(Subsystem s, Level l, std::string_view message) = 0;
    // New thresholds after a reload; loggers with fixed levels ignore it.
    virtual void set_levels(const LogLevels&) {}

    // Formatting happens only when the level is on: IKE debug lines are many
    // and the formatting cost should vanish at "info".
    template <typename... A>
    void log(Subsystem s, Level l, fmt::format_string<A...> f, A&&... args) {
        if (enabled(s, l)) write(s, l, fmt::format(f, std::forward<A>(args)...));
    }
    template <typename... A>
    void debug(Subsystem s, fmt::format_string<A...> f, A&&... args) {
        log(s, Level::DEBUG, f, std::forward<A>(args)...);
    }
    template <typename... A>
    void info(Subsystem s, fmt::format_string<A...> f, A&&... args) {
        log(s, Level::INFO, f, std::forward<A>(args)...);
    }
    template <typename... A>
    void warn(Subsystem s, fmt::format_string<A...> f, A&&... args) {
        log(s, Level::WARN, f, std::forward<A>(args)...);
    }
    template <typename... A>
    void error(Subsystem s, fmt::format_string<A...> f, A&&... args) {
        log(s, Level::ERROR, f, std::forward<A>(args)...);
    }
};

// Per-subsystem thresholds, filled from [log]: `level` is the default, and
// `ike`, `net`, `ctl`, `dp` override it. Keys for subsystems this daemon does
// not have yet (esp, cluster) are kept by the config but ignored here.
struct LogLevels {
    std::array<Level, kSubsystems> level{Level::INFO, Level::INFO, Level::INFO, Level::INFO};
    static LogLevels from_config(const config::DaemonConfig& cfg);
};

// spdlog to stderr or syslog. Under systemd stderr goes to the journal,
// which stamps lines itself, so timestamps are only added on request.
class SpdLogger final : public Logger {
  public:
    enum class Sink { STDERR, STDERR_TIMESTAMPS, SYSLOG };
    explicit SpdLogger(Sink sink);
    ~SpdLogger() override;
    void set_levels(const LogLevels& l) override { levels_ = l; }
    bool enabled(Subsystem s, Level l) const override;
    void write(Subsystem s, Level l, std::string_view message) override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    LogLevels levels_;
};

// Keeps every line, for tests.
class MemoryLogger final : public Logger {
  public:
    bool enabled(Subsystem, Level l) const override { return l >= threshold; }
    void write(Subsystem s, Level, std::string_view message) override {
        lines.push_back(std::string(subsystem_name(s)) + ": " + std::string(message));
    }
    Level threshold = Level::TRACE;
    std::vector<std::string> lines;
};

}  // namespace ikecluster::daemon
