#include "daemon/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

namespace ikecluster::daemon {

namespace {
constexpr std::array<std::string_view, kSubsystems> kNames{"ike", "net", "ctl", "dp", "cluster"};
constexpr std::array<std::string_view, 6> kLevels{"trace", "debug", "info", "warn", "error", "off"};

spdlog::level::level_enum to_spd(Level l) {
    switch (l) {
        case Level::TRACE:
            return spdlog::level::trace;
        case Level::DEBUG:
            return spdlog::level::debug;
        case Level::INFO:
            return spdlog::level::info;
        case Level::WARN:
            return spdlog::level::warn;
        case Level::ERROR:
            return spdlog::level::err;
        case Level::OFF:
            return spdlog::level::off;
    }
    return spdlog::level::info;
}
}  // namespace

std::string_view subsystem_name(Subsystem s) {
    return kNames[static_cast<std::size_t>(s)];
}
std::string_view level_name(Level l) {
    return kLevels[static_cast<std::size_t>(l)];
}

std::optional<Level> parse_level(std::string_view text) {
    for (std::size_t i = 0; i < kLevels.size(); ++i) {
        if (kLevels[i] == text) return static_cast<Level>(i);
    }
    return std::nullopt;
}

LogLevels LogLevels::from_config(const config::DaemonConfig& cfg) {
    LogLevels out;
    // The config loader has already rejected unknown level names, so a
    // failed parse here can only mean a default we do not know: keep INFO.
    Level def = parse_level(cfg.log_level).value_or(Level::INFO);
    out.level.fill(def);
    for (std::size_t i = 0; i < kSubsystems; ++i) {
        auto it = cfg.log_levels.find(std::string(kNames[i]));
        if (it != cfg.log_levels.end()) out.level[i] = parse_level(it->second).value_or(def);
    }
    return out;
}

struct SpdLogger::Impl {
    std::shared_ptr<spdlog::logger> logger;
};

SpdLogger::SpdLogger(Sink sink) : impl_(std::make_unique<Impl>()) {
    spdlog::sink_ptr s;
    if (sink == Sink::SYSLOG) {
        s = std::make_shared<spdlog::sinks::syslog_sink_mt>("ikeclusterd", LOG_PID, LOG_DAEMON,
                                                            true);
    } else {
        s = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    }
    impl_->logger = std::make_shared<spdlog::logger>("ikeclusterd", s);
    bool timestamps = sink == Sink::STDERR_TIMESTAMPS;
    // Thresholds are applied per subsystem in enabled(); spdlog itself lets
    // everything through.
    impl_->logger->set_level(spdlog::level::trace);
    impl_->logger->set_pattern(timestamps ? "%Y-%m-%d %H:%M:%S.%e %^%l%$ %v" : "%^%l%$ %v");
    impl_->logger->flush_on(spdlog::level::trace);
}

SpdLogger::~SpdLogger() = default;

bool SpdLogger::enabled(Subsystem s, Level l) const {
    Level t = levels_.level[static_cast<std::size_t>(s)];
    return t != Level::OFF && l >= t;
}

void SpdLogger::write(Subsystem s, Level l, std::string_view message) {
    impl_->logger->log(to_spd(l), "[{}] {}", subsystem_name(s), message);
}

}  // namespace ikecluster::daemon
