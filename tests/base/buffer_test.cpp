#include <gtest/gtest.h>

#include "base/buffer.h"

using namespace ikecluster;

TEST(Reader, ReadsBigEndianAndStopsAtEnd) {
    Bytes data{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    Reader r(data, 100);
    std::uint16_t a;
    std::uint32_t b;
    ASSERT_TRUE(r.u16(a));
    EXPECT_EQ(a, 0x0102);
    ASSERT_TRUE(r.u32(b));
    EXPECT_EQ(b, 0x03040506u);
    EXPECT_EQ(r.offset(), 106u);
    std::uint16_t c;
    EXPECT_FALSE(r.u16(c));  // one byte left
    EXPECT_EQ(r.remaining(), 1u);
    Error e = r.need(2, "thing");
    EXPECT_EQ(e.offset, 106u);
    EXPECT_EQ(e.what, "truncated thing: need 2 bytes, have 1");
}

TEST(Writer, BackPatches) {
    Bytes out;
    Writer w(out);
    w.u16(0);
    w.u64(0x0102030405060708ull);
    w.put_u16_at(0, 0xbeef);
    EXPECT_EQ(out, (Bytes{0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8}));
}
