// Telling the service manager how we are doing (sd_notify), behind an
// interface so tests and non-systemd runs need no libsystemd behaviour.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace ikecluster::daemon {

class ServiceNotifier {
  public:
    virtual ~ServiceNotifier() = default;
    virtual void ready() = 0;
    virtual void reloading() = 0;
    virtual void stopping() = 0;
    virtual void watchdog() = 0;
    virtual void status(std::string_view text) = 0;
    // How often watchdog() must be called, when the manager asked for it.
    virtual std::optional<std::chrono::microseconds> watchdog_interval() const = 0;
};

class NullNotifier final : public ServiceNotifier {
  public:
    void ready() override {}
    void reloading() override {}
    void stopping() override {}
    void watchdog() override {}
    void status(std::string_view) override {}
    std::optional<std::chrono::microseconds> watchdog_interval() const override {
        return std::nullopt;
    }
};

// sd_notify(3) through libsystemd; harmless without NOTIFY_SOCKET.
class SystemdNotifier final : public ServiceNotifier {
  public:
    void ready() override;
    void reloading() override;
    void stopping() override;
    void watchdog() override;
    void status(std::string_view text) override;
    std::optional<std::chrono::microseconds> watchdog_interval() const override;
};

}  // namespace ikecluster::daemon
