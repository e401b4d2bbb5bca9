// One fetched EVP_CIPHER per algorithm name for the whole process.
//
// EVP_CIPHER_fetch looks the name up in the provider store under a lock and
// takes a reference every time; doing that per SA showed up in takeover
// profiles (10,000 IKE SAs, 20,000 Child SA directions in one burst). The
// cached objects live until exit: a handful of pointers, never freed, so
// leak checkers see them as reachable.
#pragma once

#include <openssl/types.h>

namespace ikecluster::crypto {

// The cipher named `name` (an OpenSSL algorithm name such as "AES-128-GCM"),
// fetched once from the default library context. Thread-safe. Aborts if
// the default provider lacks it (a broken installation, never peer input).
const EVP_CIPHER* cached_cipher(const char* name);

}  // namespace ikecluster::crypto
