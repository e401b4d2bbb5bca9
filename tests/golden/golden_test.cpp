// Codec and crypto against real strongSwan 5.9.8 exchanges committed in
// tests/data/golden (captured by tests/interop/capture-golden.sh).
#include <gtest/gtest.h>

#include "golden/golden_check.h"

using namespace ikecluster::golden;

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, DecodesReencodesDerivesDecryptsAndAuthenticates) {
    auto g = read_golden(std::string(IKEC_TEST_DATA_DIR) + "/golden/" + GetParam() + ".txt");
    ASSERT_TRUE(g.ok()) << g.error().what;
    CheckReport r = check_exchange(*g);
    for (const auto& l : r.lines)
        std::cout << "    " << l << "\n";
    EXPECT_TRUE(r.failures.empty());
    EXPECT_GE(r.lines.size(), 20u);  // every step above actually ran
}

INSTANTIATE_TEST_SUITE_P(StrongSwan, Golden,
                         ::testing::Values("aes256gcm16-prfsha256-x25519",
                                           "aes128-sha256-modp2048"));
