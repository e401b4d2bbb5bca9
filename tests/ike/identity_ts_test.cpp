#include <gtest/gtest.h>

#include "ike/identity.h"
#include "ike/traffic_selector.h"

using namespace ikecluster;
using namespace ikecluster::ike;

TEST(Identity, ParsesEveryTextForm) {
    EXPECT_EQ(Identity::parse("192.0.2.1")->type, IdType::IPV4_ADDR);
    EXPECT_EQ(Identity::parse("192.0.2.1")->data, (Bytes{192, 0, 2, 1}));
    EXPECT_EQ(Identity::parse("2001:db8::1")->type, IdType::IPV6_ADDR);
    EXPECT_EQ(Identity::parse("gw.example.org")->type, IdType::FQDN);
    EXPECT_EQ(Identity::parse("@gw")->data, to_bytes("gw"));
    EXPECT_EQ(Identity::parse("alice@example.org")->type, IdType::RFC822_ADDR);
    EXPECT_EQ(Identity::parse("fqdn:alice@example.org")->type, IdType::FQDN);
    auto k = Identity::parse("keyid:0a0B");
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(k->type, IdType::KEY_ID);
    EXPECT_EQ(k->data, (Bytes{0x0a, 0x0b}));
    EXPECT_EQ(k->to_string(), "keyid:0a0b");
    EXPECT_FALSE(Identity::parse("").ok());
    EXPECT_FALSE(Identity::parse("keyid:xyz").ok());
    EXPECT_FALSE(Identity::parse("ipv4:2001:db8::1").ok());
    EXPECT_EQ(Identity::parse("2001:db8::1")->to_string(), "2001:db8::1");
}

TEST(TrafficSelector, ParsesPrefixesAndPorts) {
    auto ts = TrafficSelector::parse("192.0.2.0/24");
    ASSERT_TRUE(ts.ok()) << ts.error().what;
    EXPECT_EQ(ts->start.to_string(), "192.0.2.0");
    EXPECT_EQ(ts->end.to_string(), "192.0.2.255");
    EXPECT_EQ(ts->to_string(), "192.0.2.0/24");
    auto v6 = TrafficSelector::parse("2001:db8::/32[tcp/443]");
    ASSERT_TRUE(v6.ok()) << v6.error().what;
    EXPECT_EQ(v6->end.to_string(), "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
    EXPECT_EQ(v6->ip_proto, 6);
    EXPECT_EQ(v6->start_port, 443);
    EXPECT_EQ(v6->to_string(), "2001:db8::/32[6/443]");
    EXPECT_EQ(TrafficSelector::parse("198.51.100.7")->to_string(), "198.51.100.7/32");
    EXPECT_FALSE(TrafficSelector::parse("192.0.2.0/33").ok());
    EXPECT_FALSE(TrafficSelector::parse("192.0.2.0/24[bogus]").ok());
    EXPECT_FALSE(TrafficSelector::parse("192.0.2.0/24[udp/9-1]").ok());
    EXPECT_FALSE(TrafficSelector::parse("nonsense").ok());
}

TEST(TrafficSelector, NarrowsToTheIntersection) {
    // Initiator proposes 0.0.0.0/0 and the specific host; responder allows 192.0.2.0/24.
    TsList proposed = {*TrafficSelector::parse("192.0.2.10"), *TrafficSelector::parse("0.0.0.0/0")};
    TsList configured = {*TrafficSelector::parse("192.0.2.0/24")};
    TsList n = narrow(proposed, configured);
    ASSERT_EQ(n.size(), 2u);
    EXPECT_EQ(n[0].to_string(), "192.0.2.10/32");
    EXPECT_EQ(n[1].to_string(), "192.0.2.0/24");
    // Disjoint families or ranges: nothing left, the caller answers TS_UNACCEPTABLE.
    EXPECT_TRUE(narrow({*TrafficSelector::parse("2001:db8::/32")}, configured).empty());
    EXPECT_TRUE(narrow({*TrafficSelector::parse("198.51.100.0/24")}, configured).empty());
    // Protocols and ports narrow too.
    auto x = intersect(*TrafficSelector::parse("0.0.0.0/0[tcp]"),
                       *TrafficSelector::parse("192.0.2.0/24[0/80-90]"));
    ASSERT_TRUE(x.has_value());
    EXPECT_EQ(x->ip_proto, 6);
    EXPECT_EQ(x->start_port, 80);
    EXPECT_FALSE(intersect(*TrafficSelector::parse("0.0.0.0/0[tcp]"),
                           *TrafficSelector::parse("0.0.0.0/0[udp]")));
    EXPECT_TRUE(
        TrafficSelector::parse("0.0.0.0/0")->contains(*TrafficSelector::parse("192.0.2.0/24")));
}

TEST(TrafficSelector, ListParsing) {
    auto l = parse_ts_list("10.1.0.0/16, 2001:db8::/32");
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->size(), 2u);
    EXPECT_FALSE(parse_ts_list("10.1.0.0/16,,").ok());
}
