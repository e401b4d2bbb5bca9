// Hash functions and HMAC over OpenSSL EVP (EVP_MD / EVP_MAC). The PRFs, the
// SK payload integrity algorithms, NAT detection and cookies build on these.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>

#include "base/bytes.h"

namespace ikecluster::crypto {

enum class HashAlg { SHA1, SHA256, SHA384, SHA512 };

std::size_t hash_size(HashAlg alg);

// One-shot digest over the concatenation of `parts` (no copy is made).
Bytes hash(HashAlg alg, std::initializer_list<BytesView> parts);

// A reusable HMAC: the EVP_MAC is fetched and the context allocated once;
// each init() re-keys the same context. Keys of any length are accepted,
// including empty (never passed to OpenSSL as a null pointer, which would
// mean "keep the previous key"). Not thread-safe; one per user.
//
// Errors: none a peer can cause. If OpenSSL fails (out of memory, default
// provider missing) the process aborts with a message.
class Hmac {
  public:
    explicit Hmac(HashAlg alg);
    ~Hmac();
    Hmac(Hmac&&) noexcept;
    Hmac& operator=(Hmac&&) noexcept;

    HashAlg alg() const { return alg_; }
    std::size_t size() const { return size_; }

    // Streaming: init(key), update(...)*, final(out) with out.size() == size().
    void init(BytesView key);
    void update(BytesView data);
    void final(std::span<std::uint8_t> out);

    // One-shot over the concatenation of `parts`.
    Bytes mac(BytesView key, std::initializer_list<BytesView> parts);

  private:
    struct Impl;
    HashAlg alg_;
    std::size_t size_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ikecluster::crypto
