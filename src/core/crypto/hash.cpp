#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "crypto/ossl.h"

namespace ikecluster::crypto {

using detail::fatal;

namespace {

const char* md_name(HashAlg alg) {
    switch (alg) {
        case HashAlg::SHA1:
            return "SHA1";
        case HashAlg::SHA256:
            return "SHA256";
        case HashAlg::SHA384:
            return "SHA384";
        case HashAlg::SHA512:
            return "SHA512";
    }
    fatal("unknown HashAlg");
}

const EVP_MD* md_of(HashAlg alg) {
    switch (alg) {
        case HashAlg::SHA1:
            return EVP_sha1();
        case HashAlg::SHA256:
            return EVP_sha256();
        case HashAlg::SHA384:
            return EVP_sha384();
        case HashAlg::SHA512:
            return EVP_sha512();
    }
    fatal("unknown HashAlg");
}

}  // namespace

std::size_t hash_size(HashAlg alg) {
    switch (alg) {
        case HashAlg::SHA1:
            return 20;
        case HashAlg::SHA256:
            return 32;
        case HashAlg::SHA384:
            return 48;
        case HashAlg::SHA512:
            return 64;
    }
    return 0;
}

Bytes hash(HashAlg alg, std::initializer_list<BytesView> parts) {
    detail::MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), md_of(alg), nullptr) != 1) fatal("digest init");
    for (BytesView p : parts)
        if (EVP_DigestUpdate(ctx.get(), p.data(), p.size()) != 1) fatal("digest update");
    Bytes out(hash_size(alg));
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size())
        fatal("digest final");
    return out;
}

struct Hmac::Impl {
    detail::MacPtr mac;
    detail::MacCtxPtr ctx;
};

Hmac::Hmac(HashAlg alg) : alg_(alg), size_(hash_size(alg)), impl_(std::make_unique<Impl>()) {
    impl_->mac.reset(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr));
    if (!impl_->mac) fatal("EVP_MAC_fetch(HMAC)");
    impl_->ctx.reset(EVP_MAC_CTX_new(impl_->mac.get()));
    if (!impl_->ctx) fatal("EVP_MAC_CTX_new");
    // The digest is a context parameter; set it once, every init() keeps it.
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(md_name(alg)), 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(impl_->ctx.get(), params) != 1) fatal("HMAC digest parameter");
}

Hmac::~Hmac() = default;
Hmac::Hmac(Hmac&&) noexcept = default;
Hmac& Hmac::operator=(Hmac&&) noexcept = default;

void Hmac::init(BytesView key) {
    if (EVP_MAC_init(impl_->ctx.get(), detail::nonnull(key.data()), key.size(), nullptr) != 1)
        fatal("EVP_MAC_init");
}

void Hmac::update(BytesView data) {
    if (data.empty()) return;
    if (EVP_MAC_update(impl_->ctx.get(), data.data(), data.size()) != 1) fatal("EVP_MAC_update");
}

void Hmac::final(std::span<std::uint8_t> out) {
    if (out.size() != size_) fatal("Hmac::final: output span has the wrong size");
    std::size_t len = 0;
    if (EVP_MAC_final(impl_->ctx.get(), out.data(), &len, out.size()) != 1 || len != size_)
        fatal("EVP_MAC_final");
}

Bytes Hmac::mac(BytesView key, std::initializer_list<BytesView> parts) {
    init(key);
    for (BytesView p : parts)
        update(p);
    Bytes out(size_);
    final(out);
    return out;
}

}  // namespace ikecluster::crypto
