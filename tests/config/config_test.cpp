#include <gtest/gtest.h>

#include "config/config_file.h"

using namespace ikecluster;
using namespace ikecluster::config;
using namespace std::chrono_literals;

namespace {

const char* kGood = R"(
[daemon]
listen = ["198.51.100.1", "2001:db8::1"]
control_socket = "/run/test.sock"

[log]
level = "info"
ike = "debug"

[ike]
retransmit_timeout = "2s"
retransmit_tries = 3
cookie_threshold = 50

[connections.road]
local_addrs = "198.51.100.1"
remote_addrs = "%any"
local_id = "gw.example"
remote_id = "client.example"
psk = "correct horse battery staple"
proposals = ["aes256gcm16-prfsha256-x25519", "aes128-sha256-modp2048"]
rekey_time = "4h"
dpd_delay = 10

[connections.road.children.net]
local_ts = "203.0.113.0/24"
remote_ts = ["192.0.2.0/24", "2001:db8:1::/48"]
esp_proposals = "aes256gcm16,aes128-sha256"
mode = "tunnel"
start_action = "start"
rekey_time = "1h"
life_time = "70m"
rand_time = "5m"
)";

std::string error_of(const std::string& text) {
    auto r = parse_config(text, "test.toml");
    return r.ok() ? std::string("(no error)") : r.error().what;
}

}  // namespace

TEST(Config, ParsesAFullFile) {
    auto r = parse_config(kGood, "test.toml");
    ASSERT_TRUE(r.ok()) << r.error().what;
    const DaemonConfig& c = *r;
    ASSERT_EQ(c.listen.size(), 2u);
    EXPECT_EQ(c.control_socket, "/run/test.sock");
    EXPECT_EQ(c.log_levels.at("ike"), "debug");
    EXPECT_EQ(c.engine.retransmit.timeout, 2s);
    EXPECT_EQ(c.engine.retransmit.tries, 3);
    EXPECT_EQ(c.engine.cookie_threshold, 50u);
    ASSERT_EQ(c.engine.connections.size(), 1u);
    const auto& road = c.engine.connections[0];
    EXPECT_EQ(road.name, "road");
    EXPECT_TRUE(road.remote_addrs.empty());  // %any
    EXPECT_EQ(road.local_id.to_string(), "gw.example");
    ASSERT_TRUE(road.remote_id.has_value());
    EXPECT_EQ(road.ike_proposals.size(), 2u);
    EXPECT_EQ(road.ike_lifetimes.rekey, 4h);
    EXPECT_EQ(road.ike_lifetimes.life, 4h + 24min);  // rekey + 10%
    EXPECT_EQ(road.dpd_delay, 10s);
    ASSERT_EQ(road.children.size(), 1u);
    const auto& net = road.children[0];
    EXPECT_EQ(net.remote_ts.size(), 2u);
    EXPECT_EQ(net.esp_proposals.size(), 2u);
    EXPECT_EQ(net.start_action, ike::StartAction::START);
    EXPECT_EQ(net.lifetimes.life, 70min);
}

TEST(Config, SyntaxErrorsNameLineAndColumn) {
    std::string e = error_of("[daemon]\nlisten = [\"198.51.100.1\"\n");
    EXPECT_EQ(e.rfind("test.toml:", 0), 0u) << e;
    EXPECT_NE(e.find(":2:"), std::string::npos) << e;
}

TEST(Config, SemanticErrorsPointAtTheValue) {
    std::string text = kGood;
    text.replace(text.find("aes128-sha256-modp2048"), 22, "aes128-sha256-modp9999");
    std::string e = error_of(text);
    EXPECT_NE(e.find("test.toml:21:13:"), std::string::npos) << e;
    EXPECT_NE(e.find("unknown algorithm 'modp9999'"), std::string::npos) << e;
}

TEST(Config, RejectsTyposAndBadValues) {
    std::string text = kGood;
    EXPECT_NE(error_of(std::string(kGood) +
                       "\n[connections.road.children.net2]\nlocal_ts = \"10.0.0.0/8\"\n")
                  .find("needs 'remote_ts'"),
              std::string::npos);
    auto with = [&](const std::string& from, const std::string& to) {
        std::string t = kGood;
        t.replace(t.find(from), from.size(), to);
        return error_of(t);
    };
    EXPECT_NE(with("dpd_delay", "dpd_dleay").find("unknown key 'dpd_dleay'"), std::string::npos);
    EXPECT_NE(
        with("\"198.51.100.1\", \"2001", "\"198.51.100.300\", \"2001").find("not an IP address"),
        std::string::npos);
    EXPECT_NE(with("mode = \"tunnel\"", "mode = \"bus\"").find("'mode' must be"),
              std::string::npos);
    EXPECT_NE(with("ike = \"debug\"", "ike = \"loud\"").find("log level 'loud'"),
              std::string::npos);
    EXPECT_NE(with("\"correct horse battery staple\"", "\"short\"").find("too short"),
              std::string::npos);
    EXPECT_NE(with("life_time = \"70m\"", "life_time = \"30m\"").find("longer than rekey_time"),
              std::string::npos);
    EXPECT_NE(with("rekey_time = \"4h\"", "rekey_time = \"4 hours\"").find("unknown unit"),
              std::string::npos);
    EXPECT_NE(with("192.0.2.0/24", "192.0.2.0/40").find("prefix length"), std::string::npos);
    EXPECT_NE(
        error_of("[connections.x]\nlocal_id = \"a\"\npsk = \"12345678\"\n").find("at least one"),
        std::string::npos);
}

TEST(Config, Durations) {
    EXPECT_EQ(*parse_duration("250ms"), 250ms);
    EXPECT_EQ(*parse_duration("30"), 30s);
    EXPECT_EQ(*parse_duration("5min"), 5min);
    EXPECT_EQ(*parse_duration("1d"), 24h);
    EXPECT_FALSE(parse_duration("-1s").ok());
    EXPECT_FALSE(parse_duration("s").ok());
}

TEST(Config, MissingFile) {
    auto r = load_config_file("/nonexistent/ikecluster.toml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "/nonexistent/ikecluster.toml: cannot open the config file");
}

TEST(Config, DataPlaneSection) {
    auto ok = parse_config(std::string(kGood) +
                               "\n[dataplane]\ntun_name = \"vpn7\"\nmtu = 1380\n"
                               "replay_window = 4096\nraw_esp = false\nroutes = false\n",
                           "t.toml");
    ASSERT_TRUE(ok.ok()) << ok.error().what;
    EXPECT_EQ(ok->dataplane.tun_name, "vpn7");
    EXPECT_EQ(ok->dataplane.mtu, 1380u);
    EXPECT_EQ(ok->dataplane.replay_window, 4096u);
    EXPECT_FALSE(ok->dataplane.raw_esp);
    EXPECT_FALSE(ok->dataplane.routes);
    EXPECT_TRUE(ok->dataplane.enabled);
    auto defaults = parse_config(kGood, "t.toml");
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->dataplane.tun_name, "ikec0");
    EXPECT_NE(error_of(std::string(kGood) + "\n[dataplane]\nmtu = 100\n").find("'mtu'"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(kGood) + "\n[dataplane]\ntun_name = \"far-too-long-a-name\"\n")
                  .find("1..15"),
              std::string::npos);
    EXPECT_NE(
        error_of(std::string(kGood) + "\n[dataplane]\ntun = \"x\"\n").find("unknown key 'tun'"),
        std::string::npos);
}
