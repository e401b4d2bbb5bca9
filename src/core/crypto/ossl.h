// Internal to ikec_crypto: RAII owners for OpenSSL objects and the one place
// that turns "OpenSSL failed where it cannot fail" into a crash with a message.
// Not installed for other layers; include only from src/core/crypto/*.cpp.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

namespace ikecluster::crypto::detail {

template <auto Fn>
struct Deleter {
    template <typename T>
    void operator()(T* p) const {
        Fn(p);
    }
};

using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using CipherPtr = std::unique_ptr<EVP_CIPHER, Deleter<EVP_CIPHER_free>>;
using MacPtr = std::unique_ptr<EVP_MAC, Deleter<EVP_MAC_free>>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, Deleter<EVP_MAC_CTX_free>>;
using MdPtr = std::unique_ptr<EVP_MD, Deleter<EVP_MD_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using SecretBnPtr = std::unique_ptr<BIGNUM, Deleter<BN_clear_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT_free>>;

// For failures that only happen when memory or the default provider is
// missing (e.g. EVP_MAC_fetch("HMAC") returning null): logs `what` plus the
// OpenSSL error queue to stderr and aborts. Never used for anything a peer
// can influence; those paths return an Error.
[[noreturn]] void fatal(const char* what);

// Drains the OpenSSL error queue into a short string (for Error messages and
// so a failure never leaks into the next operation's diagnostics).
std::string drain_errors();

// A non-null pointer for a possibly empty view: OpenSSL treats a null key as
// "keep the previous key", so an empty key must still be a real pointer.
inline const unsigned char* nonnull(const unsigned char* p) {
    static const unsigned char kEmpty[1] = {0};
    return p != nullptr ? p : kEmpty;
}

}  // namespace ikecluster::crypto::detail
