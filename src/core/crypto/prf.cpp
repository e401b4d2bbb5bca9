#include "crypto/prf.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <string>

#include "crypto/ossl.h"

namespace ikecluster::crypto {

namespace {

HashAlg prf_hash(PrfId id) {
    switch (id) {
        case PrfId::HMAC_SHA2_256:
            return HashAlg::SHA256;
        case PrfId::HMAC_SHA2_384:
            return HashAlg::SHA384;
        case PrfId::HMAC_SHA2_512:
            return HashAlg::SHA512;
    }
    detail::fatal("Prf: unsupported PRF transform id");
}

}  // namespace

bool prf_supported(PrfId id) {
    switch (id) {
        case PrfId::HMAC_SHA2_256:
        case PrfId::HMAC_SHA2_384:
        case PrfId::HMAC_SHA2_512:
            return true;
    }
    return false;
}

std::size_t prf_output_size(PrfId id) {
    switch (id) {
        case PrfId::HMAC_SHA2_256:
            return 32;
        case PrfId::HMAC_SHA2_384:
            return 48;
        case PrfId::HMAC_SHA2_512:
            return 64;
    }
    return 0;
}

std::size_t prf_key_size(PrfId id) {
    return prf_output_size(id);
}

Prf::Prf(PrfId id) : id_(id), hmac_(prf_hash(id)) {}

Bytes Prf::prf(BytesView key, BytesView data) {
    return hmac_.mac(key, {data});
}

Bytes Prf::prf(BytesView key, std::initializer_list<BytesView> data) {
    return hmac_.mac(key, data);
}

Result<Bytes> Prf::prf_plus(BytesView key, BytesView seed, std::size_t len) {
    const std::size_t block = output_size();
    const std::size_t blocks = (len + block - 1) / block;
    if (blocks > kMaxPrfPlusBlocks)
        return make_error(0, "prf+ asked for " + std::to_string(len) + " octets; at most " +
                                 std::to_string(kMaxPrfPlusBlocks * block) +
                                 " (255 blocks) exist (RFC 7296 §2.13)");
    Bytes out(blocks * block);
    for (std::size_t n = 1; n <= blocks; ++n) {
        const std::uint8_t counter = static_cast<std::uint8_t>(n);
        std::uint8_t* t = out.data() + (n - 1) * block;
        hmac_.init(key);
        if (n > 1) hmac_.update(BytesView(t - block, block));  // Tn-1
        hmac_.update(seed);
        hmac_.update(BytesView(&counter, 1));
        hmac_.final(std::span<std::uint8_t>(t, block));
    }
    if (out.size() > len) {
        OPENSSL_cleanse(out.data() + len, out.size() - len);
        out.resize(len);
    }
    return out;
}

}  // namespace ikecluster::crypto
