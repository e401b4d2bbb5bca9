#include "crypto/cipher_cache.h"

#include <openssl/evp.h>

#include <mutex>
#include <string>
#include <unordered_map>

#include "crypto/ossl.h"

namespace ikecluster::crypto {

const EVP_CIPHER* cached_cipher(const char* name) {
    // A mutex, not a lock-free table: it is taken once per SA creation, far
    // from the packet path, and the map stays tiny (one entry per algorithm).
    static std::mutex mu;
    static auto* cache = new std::unordered_map<std::string, EVP_CIPHER*>();
    std::lock_guard lock(mu);
    auto [it, fresh] = cache->try_emplace(name, nullptr);
    if (fresh) {
        it->second = EVP_CIPHER_fetch(nullptr, name, nullptr);
        if (it->second == nullptr) {
            cache->erase(it);
            detail::fatal("EVP_CIPHER_fetch");
        }
    }
    return it->second;
}

}  // namespace ikecluster::crypto
