// Helpers shared by the crypto tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <string_view>

#include "base/bytes.h"
#include "crypto/random.h"

namespace ikecluster::crypto::test {

// Hex as RFCs print it (spaces, newlines and colons ignored). A bad literal
// is a bug in the test itself.
inline Bytes H(std::string_view hex) {
    auto b = from_hex(hex);
    if (!b) {
        ADD_FAILURE() << "bad hex literal in test: " << hex;
        return {};
    }
    return *b;
}

// Hands out exactly the bytes it was given, in order: lets a test choose a
// private key or IV through the Random& interface. Running dry is a test
// failure (and yields zeros).
class ScriptedRandom final : public Random {
  public:
    ScriptedRandom() = default;
    explicit ScriptedRandom(BytesView b) { push(b); }
    void push(BytesView b) { q_.insert(q_.end(), b.begin(), b.end()); }
    std::size_t remaining() const { return q_.size(); }
    void fill(std::span<std::uint8_t> out) override {
        for (auto& o : out) {
            if (q_.empty()) {
                ADD_FAILURE() << "ScriptedRandom ran out of bytes";
                o = 0;
                continue;
            }
            o = q_.front();
            q_.pop_front();
        }
    }

  private:
    std::deque<std::uint8_t> q_;
};

}  // namespace ikecluster::crypto::test
