#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

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

namespace {

const char* kKeyHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::string cluster_text(const std::string& extra = "") {
    return std::string(R"([cluster]
member_id = 2
members = [
    { id = 1, address = "198.51.100.1" },
    { id = 2, address = "198.51.100.2" },
    { id = 5, address = "198.51.100.5" },
]
keys = [
    { id = 7, secret = ")") +
           kKeyHex + R"(" },
    { id = 3, secret_file = "/etc/ikecluster/old.key" },
]
virtual_ips = ["192.0.2.1/24", "2001:db8::1/64"]
interface = "eth0"
)" + extra;
}

// Replaces the first `from` in the cluster text by `to` and returns the error.
std::string cluster_error(const std::string& from, const std::string& to) {
    std::string t = cluster_text();
    auto at = t.find(from);
    if (at == std::string::npos) return "(test bug: '" + from + "' not found)";
    t.replace(at, from.size(), to);
    return error_of(t);
}

}  // namespace

TEST(ConfigCluster, AbsentSectionMeansNoCluster) {
    auto r = parse_config(kGood, "t.toml");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->cluster.has_value());
}

TEST(ConfigCluster, ParsesWithDefaults) {
    auto r = parse_config(cluster_text(), "t.toml");
    ASSERT_TRUE(r.ok()) << r.error().what;
    ASSERT_TRUE(r->cluster);
    const ClusterSettings& c = *r->cluster;
    EXPECT_EQ(c.member_id, 2);
    EXPECT_EQ(c.priority, 100);
    ASSERT_EQ(c.members.size(), 3u);
    EXPECT_EQ(c.members[2].id, 5);
    EXPECT_EQ(c.members[2].address, *IpAddress::parse("198.51.100.5"));
    EXPECT_EQ(c.self().address, *IpAddress::parse("198.51.100.2"));
    EXPECT_EQ(c.peers().size(), 2u);
    EXPECT_EQ(c.member_index(), 1);
    EXPECT_EQ(c.member_count(), 3);
    EXPECT_EQ(c.sync_port, 4510);
    ASSERT_EQ(c.keys.size(), 2u);
    EXPECT_EQ(c.keys[0].id, 7);  // the sending key stays first
    EXPECT_EQ(to_hex(c.keys[0].secret), kKeyHex);
    EXPECT_TRUE(c.keys[0].secret_file.empty());
    // Pure parse: the file is named but not read.
    EXPECT_EQ(c.keys[1].id, 3);
    EXPECT_EQ(c.keys[1].secret_file, "/etc/ikecluster/old.key");
    EXPECT_TRUE(c.keys[1].secret.empty());
    ASSERT_EQ(c.virtual_ips.size(), 2u);
    EXPECT_EQ(c.virtual_ips[0].addr, *IpAddress::parse("192.0.2.1"));  // host bits kept
    EXPECT_EQ(c.virtual_ips[0].len, 24);
    EXPECT_EQ(c.virtual_ips[1].len, 64);
    EXPECT_EQ(c.interface, "eth0");
    EXPECT_EQ(c.heartbeat, 100ms);
    EXPECT_EQ(c.dead_after, 3u);
    EXPECT_FALSE(c.preempt);
    EXPECT_EQ(c.role_control, RoleControl::BUILTIN);
    EXPECT_EQ(c.checkpoint_interval, 50ms);
    EXPECT_EQ(c.seq_margin, 1048576u);
    EXPECT_EQ(c.stripe_bits, 24);
}

TEST(ConfigCluster, ParsesEverySetting) {
    auto r = parse_config(cluster_text(R"(priority = 250
sync_port = 4600
heartbeat = "250ms"
dead_after = 5
preempt = true
role_control = "external"
checkpoint_interval = "20ms"
seq_margin = 65536
stripe_bits = 20
)"),
                          "t.toml");
    ASSERT_TRUE(r.ok()) << r.error().what;
    const ClusterSettings& c = *r->cluster;
    EXPECT_EQ(c.priority, 250);
    EXPECT_EQ(c.sync_port, 4600);
    EXPECT_EQ(c.heartbeat, 250ms);
    EXPECT_EQ(c.dead_after, 5u);
    EXPECT_TRUE(c.preempt);
    EXPECT_EQ(c.role_control, RoleControl::EXTERNAL);
    EXPECT_EQ(c.checkpoint_interval, 20ms);
    EXPECT_EQ(c.seq_margin, 65536u);
    EXPECT_EQ(c.stripe_bits, 20);
}

TEST(ConfigCluster, SecretFilesResolveThroughTheReader) {
    std::vector<std::string> asked;
    SecretFileReader good = [&](const std::string& path) -> Result<std::string> {
        asked.push_back(path);
        // Whitespace and line breaks in a key file are ignored.
        return std::string(kKeyHex).insert(32, "\n  ") + "\n";
    };
    auto r = parse_config(cluster_text(), "t.toml", good);
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(asked, std::vector<std::string>{"/etc/ikecluster/old.key"});
    EXPECT_EQ(to_hex(r->cluster->keys[1].secret), kKeyHex);
    EXPECT_EQ(r->cluster->keys[1].secret_file, "/etc/ikecluster/old.key");

    // Errors name the key entry's line (line 10 of cluster_text).
    SecretFileReader missing = [](const std::string& path) -> Result<std::string> {
        return Error{0, path + ": cannot open the key file"};
    };
    auto e = parse_config(cluster_text(), "t.toml", missing);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().what,
              "t.toml:10:5: key 3: /etc/ikecluster/old.key: cannot open the key file");
    SecretFileReader shorty = [](const std::string&) -> Result<std::string> {
        return std::string("abcd");
    };
    e = parse_config(cluster_text(), "t.toml", shorty);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().what,
              "t.toml:10:5: key 3 (/etc/ikecluster/old.key) is too short: 2 octets, at least 32");
    SecretFileReader junk = [](const std::string&) -> Result<std::string> {
        return std::string("not hex at all");
    };
    e = parse_config(cluster_text(), "t.toml", junk);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error().what.find("t.toml:10:5: key 3 (/etc/ikecluster/old.key) is not hex"),
              std::string::npos)
        << e.error().what;
}

TEST(ConfigCluster, LoadConfigFileReadsKeyFiles) {
    std::string dir = ::testing::TempDir();
    std::string key = dir + "/ikec-config-test.key";
    std::string conf = dir + "/ikec-config-test.toml";
    {
        std::ofstream k(key);
        k << kKeyHex << "\n";
        std::string t = cluster_text();
        t.replace(t.find("/etc/ikecluster/old.key"), 23, key);
        std::ofstream c(conf);
        c << t;
    }
    auto r = load_config_file(conf);
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(to_hex(r->cluster->keys[1].secret), kKeyHex);
    std::remove(key.c_str());
    auto e = load_config_file(conf);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().what, conf + ":10:5: key 3: " + key + ": cannot open the key file");
    std::remove(conf.c_str());
}

TEST(ConfigCluster, ErrorsNameTheProblemAndPlace) {
    struct Case {
        std::string from, to, error;
    } cases[] = {
        {"member_id = 2", "member_id = 16", "test.toml:2:13: 'member_id' must be between 0 and 15"},
        {"member_id = 2", "member_id = 4",
         "test.toml:3:11: 'members' must include this member (id 4)"},
        {"member_id = 2\n", "", "test.toml:1:1: [cluster] needs 'member_id'"},
        {"interface = \"eth0\"\n", "", "test.toml:1:1: [cluster] needs 'interface'"},
        {"{ id = 5, address", "{ id = 1, address", "test.toml:6:12: member id 1 is listed twice"},
        {"{ id = 5, address", "{ id = 16, address",
         "test.toml:6:12: 'id' must be between 0 and 15"},
        {"198.51.100.5", "2001:db8::5",
         "test.toml:6:25: every member address must be of the same family"},
        {"198.51.100.5", "198.51.100.1", "test.toml:6:25: address 198.51.100.1 is listed twice"},
        {"198.51.100.5", "198.51.100.300",
         "test.toml:6:25: 'address': '198.51.100.300' is not an IP address"},
        {"{ id = 5, address", "{ idd = 5, address",
         "test.toml:6:13: unknown key 'idd' in a cluster member"},
        {"{ id = 5, address = \"198.51.100.5\" }", "{ id = 5 }",
         "test.toml:6:5: a cluster member needs 'id' and 'address'"},
        {"    { id = 2, address = \"198.51.100.2\" },\n    { id = 5, address = \"198.51.100.5\" "
         "},\n",
         "", "test.toml:3:11: 'members' must list 2..16 members, this one included"},
        {"{ id = 3, secret_file", "{ id = 7, secret_file",
         "test.toml:10:12: key id 7 is listed twice"},
        {"{ id = 3, secret_file", "{ id = 256, secret_file",
         "test.toml:10:12: 'id' must be between 0 and 255"},
        {"{ id = 3, secret_file = \"/etc/ikecluster/old.key\" }", "{ id = 3 }",
         "test.toml:10:5: a cluster key needs exactly one of 'secret' and 'secret_file'"},
        {"secret_file = \"/etc/ikecluster/old.key\"", "secret_file = \"/x\", secret = \"00\"",
         "test.toml:10:5: a cluster key needs exactly one of 'secret' and 'secret_file'"},
        {"secret = \"00112233", "secret = \"zz112233", "test.toml:9:24: key 7 is not hex"},
        {"secret = \"00112233445566778899aabbccddeeff", "secret = \"",
         "test.toml:9:24: key 7 is too short: 16 octets, at least 32"},
        {"secret_file = \"/etc/ikecluster/old.key\"", "secret_file = \"\"",
         "test.toml:10:29: 'secret_file' is empty"},
        {"\"192.0.2.1/24\"", "\"192.0.2.1/33\"",
         "test.toml:12:16: 'virtual_ips': '192.0.2.1/33' has a bad prefix length (0..32)"},
        {"\"192.0.2.1/24\"", "\"192.0.2.1/\"",
         "test.toml:12:16: 'virtual_ips': '192.0.2.1/' has a bad prefix length (0..32)"},
        {"\"192.0.2.1/24\"", "\"192.0.2.x/24\"",
         "test.toml:12:16: 'virtual_ips': '192.0.2.x/24' is not an IP address"},
        {"\"192.0.2.1/24\"", "\"198.51.100.1/24\"",
         "test.toml:12:16: virtual IP 198.51.100.1 is a member's own address"},
        {"\"2001:db8::1/64\"", "\"192.0.2.1/32\"",
         "test.toml:12:32: virtual IP 192.0.2.1 is listed twice"},
        {"[\"192.0.2.1/24\", \"2001:db8::1/64\"]", "[]", "test.toml:12:15: 'virtual_ips' is empty"},
        {"\"eth0\"", "\"an-interface-name\"",
         "test.toml:13:13: 'interface' must be 1..15 characters (an interface name)"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(cluster_error(c.from, c.to), c.error) << c.from << " -> " << c.to;
    }
    auto extra = [](const std::string& line) { return error_of(cluster_text(line + "\n")); };
    EXPECT_EQ(extra("priority = 0"), "test.toml:14:12: 'priority' must be between 1 and 255");
    EXPECT_EQ(extra("sync_port = 70000"),
              "test.toml:14:13: 'sync_port' must be between 1 and 65535");
    EXPECT_EQ(extra("heartbeat = \"1ms\""),
              "test.toml:14:13: 'heartbeat' must be between 10ms and 60s");
    EXPECT_EQ(extra("heartbeat = \"fast\""),
              "test.toml:14:13: 'heartbeat': 'fast' is not a duration");
    EXPECT_EQ(extra("dead_after = 0"), "test.toml:14:14: 'dead_after' must be between 1 and 1000");
    EXPECT_EQ(extra("preempt = \"yes\""), "test.toml:14:11: 'preempt' must be true or false");
    EXPECT_EQ(extra("role_control = \"vrrp\""),
              "test.toml:14:16: 'role_control' must be \"builtin\" or \"external\"");
    EXPECT_EQ(extra("checkpoint_interval = \"0ms\""),
              "test.toml:14:23: 'checkpoint_interval' must be between 1ms and 10s");
    EXPECT_EQ(extra("seq_margin = 0"),
              "test.toml:14:14: 'seq_margin' must be between 1 and 1099511627776");
    EXPECT_EQ(extra("stripe_bits = 31"), "test.toml:14:15: 'stripe_bits' must be between 8 and 30");
    EXPECT_EQ(extra("priorty = 3"), "test.toml:14:11: unknown key 'priorty' in [cluster]");
    EXPECT_EQ(error_of("cluster = 3\n"), "test.toml:1:11: [cluster] must be a table");
}

TEST(ConfigCluster, MemberIndexFollowsIdOrderNotFileOrder) {
    std::string t = cluster_text();
    t.replace(t.find("member_id = 2"), 13, "member_id = 5");
    // Swap the first and last entries: the index is by id, not position.
    t.replace(t.find("{ id = 1, address = \"198.51.100.1\" }"), 36,
              "{ id = 9, address = \"198.51.100.9\" }");
    auto r = parse_config(t, "t.toml");
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(r->cluster->member_index(), 1);  // ids 2, 5, 9
    EXPECT_EQ(r->cluster->self().id, 5);
}

TEST(ConfigCluster, PackagedExamplesParse) {
    for (int member : {1, 2}) {
        std::string path = std::string(IKEC_PACKAGING_DIR) + "/ikecluster-member" +
                           std::to_string(member) + ".toml";
        std::ifstream in(path);
        ASSERT_TRUE(in) << path;
        std::ostringstream ss;
        ss << in.rdbuf();
        SecretFileReader key = [](const std::string&) -> Result<std::string> {
            return std::string(kKeyHex);
        };
        auto r = parse_config(ss.str(), path, key);
        ASSERT_TRUE(r.ok()) << r.error().what;
        ASSERT_TRUE(r->cluster);
        EXPECT_EQ(r->cluster->member_id, member);
        EXPECT_EQ(r->cluster->member_index(), member - 1);
        EXPECT_EQ(r->cluster->member_count(), 2);
        EXPECT_EQ(r->cluster->keys[0].secret.size(), 32u);
    }
}
