// golden_check FILE...: runs the golden check on fresh captures (used by
// tests/interop/test-golden-live.sh) and prints what it verified.
#include <cstdio>

#include "golden/golden_check.h"

int main(int argc, char** argv) {
    using namespace ikecluster::golden;
    int failed = 0, passed = 0;
    for (int i = 1; i < argc; ++i) {
        auto g = read_golden(argv[i]);
        if (!g) {
            std::printf("FAIL %s\n", g.error().what.c_str());
            ++failed;
            continue;
        }
        std::printf("== %s (%s)\n", argv[i], g->suite.c_str());
        CheckReport r = check_exchange(*g);
        for (const auto& l : r.lines)
            std::printf("   %s\n", l.c_str());
        (r.failures.empty() ? passed : failed) += 1;
    }
    std::printf("golden_check: %d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
