#include <gtest/gtest.h>

#include "base/bytes.h"

using namespace ikecluster;

TEST(Hex, RoundTrip) {
    Bytes b{0x00, 0x01, 0xab, 0xff};
    EXPECT_EQ(to_hex(b), "0001abff");
    EXPECT_EQ(from_hex("00 01:AB ff").value(), b);
}

TEST(Hex, RejectsOddAndGarbage) {
    EXPECT_FALSE(from_hex("abc").has_value());
    EXPECT_FALSE(from_hex("zz").has_value());
}

TEST(Bytes, ConcatAndCompare) {
    Bytes a{1, 2}, b{3};
    EXPECT_EQ(concat(a, b), (Bytes{1, 2, 3}));
    EXPECT_TRUE(equal_ct(a, Bytes{1, 2}));
    EXPECT_FALSE(equal_ct(a, Bytes{1, 3}));
    EXPECT_FALSE(equal_ct(a, b));
}

#include "base/net.h"
#include "base/time.h"

TEST(IpAddress, ParsesAndPrints) {
    auto v4 = IpAddress::parse("192.0.2.1");
    ASSERT_TRUE(v4.has_value());
    EXPECT_TRUE(v4->is_v4());
    EXPECT_EQ(to_hex(v4->bytes()), "c0000201");
    auto v6 = IpAddress::parse("2001:db8::1");
    ASSERT_TRUE(v6.has_value());
    EXPECT_TRUE(v6->is_v6());
    EXPECT_EQ(v6->bytes().size(), 16u);
    EXPECT_EQ((Endpoint{*v6, 4500}).to_string(), "[2001:db8::1]:4500");
    EXPECT_EQ((Endpoint{*v4, 500}).to_string(), "192.0.2.1:500");
    EXPECT_FALSE(IpAddress::parse("192.0.2.256").has_value());
    EXPECT_FALSE(IpAddress::from_bytes(Bytes{1, 2, 3}).has_value());
    EXPECT_EQ(IpAddress::from_bytes(v4->bytes()), v4);
}

TEST(Time, Arithmetic) {
    Time t = Time::from_ms(1500);
    EXPECT_EQ((t + std::chrono::milliseconds(500)).ms(), 2000);
    EXPECT_EQ(
        std::chrono::duration_cast<std::chrono::milliseconds>(Time::from_ms(3000) - t).count(),
        1500);
    EXPECT_LT(t, Time::max());
}

#include "base/text.h"

TEST(Text, SplitListTrimsAndKeepsOffsets) {
    auto l = split_list("a, bb ,c", ',');
    ASSERT_EQ(l.size(), 3u);
    EXPECT_EQ(l[1].text, "bb");
    EXPECT_EQ(l[1].offset, 3u);
    EXPECT_EQ(l[2].offset, 7u);
    EXPECT_EQ(split_list("", ',').size(), 1u);
    EXPECT_EQ(split_list("x,", ',').back().text, "");
}
