// The control protocol's request parsing: every command, every way a request
// can be wrong, and the round trip through the client's encoder.
#include <gtest/gtest.h>

#include "daemon/control.h"
#include "daemon/describe.h"

namespace ikecluster::daemon {
namespace {

TEST(ControlProtocol, ParsesEveryCommand) {
    EXPECT_EQ(parse_request(R"({"cmd":"list-sas"})")->cmd, Command::LIST_SAS);
    EXPECT_EQ(parse_request(R"({"cmd":"list-conns"})")->cmd, Command::LIST_CONNS);
    EXPECT_EQ(parse_request(R"({"cmd":"reload"})")->cmd, Command::RELOAD);
    EXPECT_EQ(parse_request(R"({"cmd":"stats"})")->cmd, Command::STATS);
    EXPECT_EQ(parse_request(R"({"cmd":"cluster-status"})")->cmd, Command::CLUSTER_STATUS);

    auto a = parse_request(R"({"cmd":"set-role","role":"active"})");
    ASSERT_TRUE(a.ok()) << a.error().what;
    EXPECT_EQ(a->cmd, Command::SET_ROLE);
    EXPECT_EQ(a->role, WantedRole::ACTIVE);
    EXPECT_FALSE(a->force);
    auto s = parse_request(R"({"cmd":"set-role","role":"standby","force":true})");
    ASSERT_TRUE(s.ok()) << s.error().what;
    EXPECT_EQ(s->role, WantedRole::STANDBY);
    EXPECT_TRUE(s->force);
    EXPECT_FALSE(parse_request(R"({"cmd":"set-role","role":"active","force":false})")->force);

    auto i = parse_request(R"({"cmd":"initiate","conn":"road"})");
    ASSERT_TRUE(i.ok()) << i.error().what;
    EXPECT_EQ(i->cmd, Command::INITIATE);
    EXPECT_EQ(i->conn, "road");

    auto t = parse_request(R"({"cmd":"terminate","ike":"0123456789abcdef_fedcba9876543210"})");
    ASSERT_TRUE(t.ok()) << t.error().what;
    ASSERT_TRUE(t->target.ike);
    EXPECT_EQ(t->target.ike->spi_i, 0x0123456789abcdefull);
    EXPECT_EQ(t->target.ike->spi_r, 0xfedcba9876543210ull);

    auto c = parse_request(R"({"cmd":"rekey","child":"c0ffee01"})");
    ASSERT_TRUE(c.ok()) << c.error().what;
    EXPECT_EQ(c->cmd, Command::REKEY);
    EXPECT_EQ(c->target.child, 0xc0ffee01u);

    auto n = parse_request(R"({"cmd":"terminate","conn":"road"})");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->target.conn, "road");
}

TEST(ControlProtocol, RejectsMalformedRequestsWithAReason) {
    struct Case {
        const char* line;
        const char* error;
    } cases[] = {
        {"", "request is not valid JSON"},
        {"{", "request is not valid JSON"},
        {"[1,2]", "request must be a JSON object"},
        {R"({"conn":"x"})", "request has no 'cmd'"},
        {R"({"cmd":7})", "'cmd' must be a string"},
        {R"({"cmd":"lst-sas"})", "unknown command 'lst-sas'"},
        {R"({"cmd":"list-sas","json":true})", "unknown key 'json'"},
        {R"({"cmd":"initiate"})", "initiate needs 'conn'"},
        {R"({"cmd":"initiate","conn":""})", "'conn' is empty"},
        {R"({"cmd":"initiate","conn":"a","ike":"1_2"})", "initiate takes only 'conn'"},
        {R"({"cmd":"terminate"})", "terminate needs exactly one of 'ike', 'child', 'conn'"},
        {R"({"cmd":"rekey","ike":"1_2","conn":"a"})",
         "rekey needs exactly one of 'ike', 'child', 'conn'"},
        {R"({"cmd":"rekey","ike":"12"})", "'ike' must be SPI_I_SPI_R in hex, got '12'"},
        {R"({"cmd":"rekey","ike":"1_xyz"})", "'ike' must be SPI_I_SPI_R in hex, got '1_xyz'"},
        {R"({"cmd":"rekey","child":"123456789"})",
         "'child' must be an inbound SPI in hex, got '123456789'"},
        {R"({"cmd":"terminate","child":5})", "'child' must be a string"},
        {R"({"cmd":"cluster-status","role":"active"})", "cluster-status takes no arguments"},
        {R"({"cmd":"set-role"})", "set-role needs 'role'"},
        {R"({"cmd":"set-role","force":true})", "set-role needs 'role'"},
        {R"({"cmd":"set-role","role":1})", "'role' must be a string"},
        {R"({"cmd":"set-role","role":"master"})",
         "'role' must be \"active\" or \"standby\", got 'master'"},
        {R"({"cmd":"set-role","role":"active","force":"yes"})", "'force' must be true or false"},
        {R"({"cmd":"set-role","role":"active","conn":"a"})",
         "set-role takes only 'role' and 'force'"},
        {R"({"cmd":"set-role","role":"active","forse":true})", "unknown key 'forse'"},
        {R"({"cmd":"initiate","conn":"a","force":true})", "initiate takes only 'conn'"},
        {R"({"cmd":"rekey","conn":"a","role":"active"})",
         "rekey takes only 'ike', 'child' or 'conn'"},
        {R"({"cmd":"stats","force":true})", "stats takes no arguments"},
    };
    for (const auto& c : cases) {
        auto r = parse_request(c.line);
        ASSERT_FALSE(r.ok()) << c.line;
        EXPECT_EQ(r.error().what, c.error) << c.line;
    }
    EXPECT_FALSE(parse_request(std::string(kMaxRequestLine + 1, ' ')).ok());
}

TEST(ControlProtocol, ClientEncodingRoundTrips) {
    Request reqs[7];
    reqs[0].cmd = Command::STATS;
    reqs[1].cmd = Command::INITIATE;
    reqs[1].conn = "site-b";
    reqs[2].cmd = Command::TERMINATE;
    reqs[2].target.ike = ike::IkeSpis{1, 0xffffffffffffffffull};
    reqs[3].cmd = Command::REKEY;
    reqs[3].target.child = 0x100;
    reqs[4].cmd = Command::CLUSTER_STATUS;
    reqs[5].cmd = Command::SET_ROLE;
    reqs[5].role = WantedRole::ACTIVE;
    reqs[6].cmd = Command::SET_ROLE;
    reqs[6].role = WantedRole::STANDBY;
    reqs[6].force = true;
    for (const auto& r : reqs) {
        std::string line = encode_request(r);
        ASSERT_EQ(line.back(), '\n');
        line.pop_back();
        auto back = parse_request(line);
        ASSERT_TRUE(back.ok()) << line << ": " << back.error().what;
        EXPECT_EQ(*back, r) << line;
    }
}

TEST(ControlProtocol, SetRoleEncodesWhatKeepalivedScriptsSend) {
    Request r;
    r.cmd = Command::SET_ROLE;
    r.role = WantedRole::ACTIVE;
    EXPECT_EQ(encode_request(r), "{\"cmd\":\"set-role\",\"role\":\"active\"}\n");
    r.role = WantedRole::STANDBY;
    r.force = true;
    EXPECT_EQ(encode_request(r), "{\"cmd\":\"set-role\",\"force\":true,\"role\":\"standby\"}\n");
    r = Request{};
    r.cmd = Command::CLUSTER_STATUS;
    EXPECT_EQ(encode_request(r), "{\"cmd\":\"cluster-status\"}\n");
    EXPECT_EQ(command_name(Command::SET_ROLE), "set-role");
    EXPECT_EQ(role_name(WantedRole::STANDBY), "standby");
}

TEST(ControlProtocol, RepliesAlwaysCarryOk) {
    EXPECT_EQ(ok_reply()["ok"], true);
    auto e = error_reply("no such conn");
    EXPECT_EQ(e["ok"], false);
    EXPECT_EQ(e["error"], "no such conn");
    EXPECT_EQ(ok_reply({{"n", 1}})["n"], 1);
}

TEST(ControlProtocol, SpiTextIsWhatSwanctlPrints) {
    EXPECT_EQ(spis_text({0xab, 0x1}), "00000000000000ab_0000000000000001");
    EXPECT_EQ(spi_text(0xc1234567), "c1234567");
    EXPECT_EQ(parse_spi("0xC1234567"), 0xc1234567u);
    EXPECT_FALSE(parse_spi(""));
    EXPECT_EQ(parse_spis("ab:01")->spi_r, 1u);
}

}  // namespace
}  // namespace ikecluster::daemon
