// Reload: the new file is applied whole or not at all.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "daemon/config_store.h"

namespace ikecluster::daemon {
namespace {

constexpr const char* kGood = R"(
[daemon]
control_socket = "/tmp/x.sock"

[connections.a]
local_id = "gw.example"
psk = "a long enough secret"

[connections.a.children.net]
local_ts = "203.0.113.0/24"
remote_ts = "192.0.2.0/24"
)";

class TempFile {
  public:
    TempFile() {
        path_ =
            (std::filesystem::temp_directory_path() /
             ("ikec-reload-" + std::to_string(::getpid()) + "-" + std::to_string(n_++) + ".toml"))
                .string();
    }
    ~TempFile() { std::remove(path_.c_str()); }
    void write(const std::string& text) const { std::ofstream(path_) << text; }
    const std::string& path() const { return path_; }

  private:
    static inline int n_ = 0;
    std::string path_;
};

config::DaemonConfig load(const std::string& path) {
    auto c = config::load_config_file(path);
    EXPECT_TRUE(c.ok()) << c.error().what;
    return *c;
}

TEST(Reload, BadFileKeepsTheOldConfigAndNamesTheSpot) {
    TempFile f;
    f.write(kGood);
    ConfigStore store(f.path(), load(f.path()));
    f.write(std::string(kGood) + "\n[connections.b]\nlocal_id = \"x\"\npsk = \"short\"\n");
    auto r = store.reload();
    ASSERT_FALSE(r.ok());
    // file:line:column, as on start-up.
    EXPECT_NE(r.error().what.find(f.path() + ":"), std::string::npos) << r.error().what;
    ASSERT_EQ(store.current().engine.connections.size(), 1u);
    EXPECT_EQ(store.current().engine.connections[0].name, "a");

    std::filesystem::remove(f.path());
    EXPECT_FALSE(store.reload().ok());
    EXPECT_EQ(store.current().engine.connections.size(), 1u);
}

TEST(Reload, GoodFileReportsWhatChanged) {
    TempFile f;
    f.write(kGood);
    ConfigStore store(f.path(), load(f.path()));

    std::string next = kGood;
    next.replace(next.find("/tmp/x.sock"), 11, "/tmp/y.sock");
    next.replace(next.find("a long enough secret"), 20, "another long secret!");
    next += R"(
[log]
ike = "debug"

[connections.b]
local_id = "gw.example"
remote_addrs = "192.0.2.7"
psk = "a long enough secret"

[connections.b.children.net]
local_ts = "203.0.113.0/24"
remote_ts = "192.0.2.0/24"
)";
    f.write(next);
    auto r = store.reload();
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(r->added, std::vector<std::string>{"b"});
    EXPECT_EQ(r->changed, std::vector<std::string>{"a"});
    EXPECT_TRUE(r->removed.empty());
    EXPECT_TRUE(r->log_levels_changed);
    EXPECT_EQ(r->need_restart, std::vector<std::string>{"control_socket"});
    EXPECT_EQ(store.current().engine.connections.size(), 2u);

    // Unchanged file: nothing to report.
    auto again = store.reload();
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->connections_changed());
    EXPECT_FALSE(again->log_levels_changed);
    EXPECT_TRUE(again->need_restart.empty());
}

TEST(Reload, LoaderIsInjectable) {
    config::DaemonConfig initial;
    int calls = 0;
    ConfigStore store("mem", initial, [&](const std::string&) -> Result<config::DaemonConfig> {
        ++calls;
        return Error{0, "mem:1:1: nope"};
    });
    auto r = store.reload();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "mem:1:1: nope");
    EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ikecluster::daemon
