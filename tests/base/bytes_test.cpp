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
