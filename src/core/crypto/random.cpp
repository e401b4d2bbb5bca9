#include "crypto/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "base/buffer.h"
#include "crypto/ossl.h"

namespace ikecluster::crypto {

using detail::fatal;

Bytes Random::bytes(std::size_t n) {
    Bytes out(n);
    fill(out);
    return out;
}

std::uint32_t Random::u32() {
    std::uint8_t b[4];
    fill(b);
    return load_be32(b);
}

std::uint64_t Random::u64() {
    std::uint8_t b[8];
    fill(b);
    return load_be64(b);
}

void SystemRandom::fill(std::span<std::uint8_t> out) {
    // RAND_bytes takes an int length; feed large requests in chunks.
    while (!out.empty()) {
        std::size_t n = std::min<std::size_t>(out.size(), INT_MAX);
        int ok = stream_ == Stream::Private ? RAND_priv_bytes(out.data(), static_cast<int>(n))
                                            : RAND_bytes(out.data(), static_cast<int>(n));
        if (ok != 1) fatal("OpenSSL DRBG failed to produce random bytes");
        out = out.subspan(n);
    }
}

// Keystream = AES-256-CTR(key, counter starting at 0) over zero bytes. EVP's
// CTR mode keeps the partial-block position between calls, so the stream is
// the same regardless of how fill() calls are sized.
struct DeterministicRandom::Impl {
    detail::CipherCtxPtr ctx;
    std::uint8_t zeros[256] = {};
};

DeterministicRandom::DeterministicRandom(std::uint64_t seed)
    : seed_(seed), impl_(std::make_unique<Impl>()) {
    static constexpr char kLabel[] = "ikecluster DeterministicRandom v1";
    std::uint8_t seed_be[8];
    store_be64(seed_be, seed);
    std::uint8_t key[32];
    unsigned int key_len = 0;
    detail::MdCtxPtr md(EVP_MD_CTX_new());
    if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(md.get(), kLabel, sizeof kLabel - 1) != 1 ||
        EVP_DigestUpdate(md.get(), seed_be, sizeof seed_be) != 1 ||
        EVP_DigestFinal_ex(md.get(), key, &key_len) != 1 || key_len != sizeof key)
        fatal("DeterministicRandom: SHA-256 failed");
    const std::uint8_t iv[16] = {};
    impl_->ctx.reset(EVP_CIPHER_CTX_new());
    if (!impl_->ctx ||
        EVP_EncryptInit_ex(impl_->ctx.get(), EVP_aes_256_ctr(), nullptr, key, iv) != 1)
        fatal("DeterministicRandom: AES-256-CTR init failed");
    OPENSSL_cleanse(key, sizeof key);
}

DeterministicRandom::~DeterministicRandom() = default;

void DeterministicRandom::fill(std::span<std::uint8_t> out) {
    while (!out.empty()) {
        std::size_t n = std::min(out.size(), sizeof impl_->zeros);
        int len = 0;
        if (EVP_EncryptUpdate(impl_->ctx.get(), out.data(), &len, impl_->zeros,
                              static_cast<int>(n)) != 1 ||
            static_cast<std::size_t>(len) != n)
            fatal("DeterministicRandom: AES-256-CTR failed");
        out = out.subspan(n);
    }
}

}  // namespace ikecluster::crypto
