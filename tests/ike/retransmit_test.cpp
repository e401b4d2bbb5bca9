#include <gtest/gtest.h>

#include "ike/retransmit.h"

using namespace ikecluster;
using namespace ikecluster::ike;
using namespace std::chrono_literals;

TEST(Retransmitter, BacksOffThenGivesUp) {
    RetransmitConfig cfg;  // 4 s, x1.8, 5 tries
    Retransmitter r(cfg);
    Time t0 = Time::from_ms(1000);
    r.start(t0, 7, {Bytes{1, 2, 3}});
    EXPECT_EQ(r.deadline(), t0 + 4s);
    EXPECT_EQ(r.on_timer(t0 + 3s), Retransmitter::Action::NONE);
    // strongSwan's schedule with the same defaults: 4, 7.2, 13, 23.3, 42 s, then give up after 75.6
    // s.
    std::vector<std::int64_t> waits_ms;
    Time now = r.deadline();
    int resends = 0;
    for (;;) {
        auto a = r.on_timer(now);
        if (a == Retransmitter::Action::GIVE_UP) break;
        ASSERT_EQ(a, Retransmitter::Action::RESEND);
        ++resends;
        waits_ms.push_back(
            std::chrono::duration_cast<std::chrono::milliseconds>(r.deadline() - now).count());
        now = r.deadline();
    }
    EXPECT_EQ(resends, 5);
    EXPECT_EQ(waits_ms, (std::vector<std::int64_t>{7200, 12960, 23328, 41990, 60000}));
    EXPECT_FALSE(r.active());
    EXPECT_EQ(r.deadline(), Time::max());
}

TEST(Retransmitter, StopCancels) {
    RetransmitConfig cfg;
    Retransmitter r(cfg);
    r.start(Time{}, 1, {Bytes{9}});
    EXPECT_TRUE(r.active());
    EXPECT_EQ(r.message_id(), 1u);
    r.stop();
    EXPECT_EQ(r.on_timer(Time::from_ms(100000)), Retransmitter::Action::NONE);
}
