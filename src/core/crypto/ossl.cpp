#include "crypto/ossl.h"

#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>

namespace ikecluster::crypto::detail {

std::string drain_errors() {
    std::string out;
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

void fatal(const char* what) {
    std::string errs = drain_errors();
    std::fprintf(stderr, "ikec_crypto: fatal: %s (%s)\n", what, errs.c_str());
    std::abort();
}

}  // namespace ikecluster::crypto::detail
