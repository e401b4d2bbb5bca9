// Randomness is always passed in: the sans-IO core never reaches for a global
// generator, so a simulator run or a test replays exactly from its seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/bytes.h"

namespace ikecluster::crypto {

class Random {
  public:
    virtual ~Random() = default;
    // Fills `out` completely. Implementations never fail: a generator that
    // cannot produce output aborts the process rather than hand back
    // predictable bytes.
    virtual void fill(std::span<std::uint8_t> out) = 0;

    Bytes bytes(std::size_t n);
    std::uint32_t u32();
    std::uint64_t u64();
};

// OpenSSL's DRBG. `Stream::Private` draws from RAND_priv_bytes (the separate
// DRBG OpenSSL keeps for long-term secrets: DH private keys); `Stream::Public`
// from RAND_bytes (nonces, IVs, SPIs). Thread-safe: OpenSSL keeps one DRBG
// per thread. Aborts if the DRBG reports failure (no entropy source).
class SystemRandom final : public Random {
  public:
    enum class Stream { Public, Private };
    explicit SystemRandom(Stream stream = Stream::Public) : stream_(stream) {}
    void fill(std::span<std::uint8_t> out) override;

  private:
    Stream stream_;
};

// TEST AND SIMULATOR ONLY: a reproducible stream, AES-256-CTR keyed with
// SHA-256("ikecluster DeterministicRandom v1" | seed as 8 big-endian bytes).
// The same seed always yields the same bytes, however the reads are split.
// Statistically fine; cryptographically worthless because the seed is the
// whole secret. Not thread-safe.
class DeterministicRandom final : public Random {
  public:
    explicit DeterministicRandom(std::uint64_t seed);
    ~DeterministicRandom() override;
    DeterministicRandom(const DeterministicRandom&) = delete;
    DeterministicRandom& operator=(const DeterministicRandom&) = delete;

    void fill(std::span<std::uint8_t> out) override;
    std::uint64_t seed() const { return seed_; }

  private:
    struct Impl;
    std::uint64_t seed_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ikecluster::crypto
