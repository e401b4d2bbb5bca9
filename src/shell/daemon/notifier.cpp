#include "daemon/notifier.h"

#include <systemd/sd-daemon.h>

#include <string>

namespace ikecluster::daemon {

void SystemdNotifier::ready() {
    sd_notify(0, "READY=1");
}
void SystemdNotifier::reloading() {
    sd_notify(0, "RELOADING=1");
}
void SystemdNotifier::stopping() {
    sd_notify(0, "STOPPING=1");
}
void SystemdNotifier::watchdog() {
    sd_notify(0, "WATCHDOG=1");
}

void SystemdNotifier::status(std::string_view text) {
    std::string msg = "STATUS=" + std::string(text);
    sd_notify(0, msg.c_str());
}

std::optional<std::chrono::microseconds> SystemdNotifier::watchdog_interval() const {
    std::uint64_t usec = 0;
    // 0 unset_environment: the value must stay readable for later calls.
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
    return std::nullopt;
}

}  // namespace ikecluster::daemon
