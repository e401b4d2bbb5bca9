#include "crypto/aead.h"

#include <openssl/crypto.h>

#include <climits>
#include <cstring>
#include <string>

#include "crypto/cipher_cache.h"
#include "crypto/keys.h"
#include "crypto/ossl.h"

namespace ikecluster::crypto {

using detail::fatal;

namespace {

const char* cipher_name(EncrId encr, std::uint16_t key_bits) {
    if (encr == EncrId::CHACHA20_POLY1305) return "ChaCha20-Poly1305";
    if (encr != EncrId::AES_GCM_16) return nullptr;
    switch (key_bits) {
        case 128:
            return "AES-128-GCM";
        case 192:
            return "AES-192-GCM";
        case 256:
            return "AES-256-GCM";
        default:
            return nullptr;
    }
}

int int_len(std::size_t n) {
    if (n > static_cast<std::size_t>(INT_MAX)) fatal("AEAD input larger than INT_MAX");
    return static_cast<int>(n);
}

}  // namespace

// The key is kept raw; contexts are keyed from it on demand (Contexts).
// Every operation then only re-initialises the nonce (EVP_CipherInit_ex2
// with a null cipher and key keeps the expanded key).
struct Aead::Impl {
    const EVP_CIPHER* cipher = nullptr;  // cached_cipher(): shared, never freed
    Contexts contexts = Contexts::KEPT;
    std::uint8_t key[32] = {};  // the cipher knows its length
    std::uint8_t salt[kSaltSize] = {};
    detail::CipherCtxPtr enc;  // KEPT only, once used
    detail::CipherCtxPtr dec;

    ~Impl() { OPENSSL_cleanse(key, sizeof key); }

    void nonce(Iv iv, std::uint8_t out[12]) const {
        std::memcpy(out, salt, kSaltSize);
        std::memcpy(out + kSaltSize, iv.data(), kIvSize);
    }

    detail::CipherCtxPtr keyed(bool encrypt) const {
        detail::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
        if (!ctx ||
            EVP_CipherInit_ex2(ctx.get(), cipher, key, nullptr, encrypt ? 1 : 0, nullptr) != 1)
            fatal("AEAD key setup");
        return ctx;
    }

    // The context for one operation: the kept one (made on first use), or
    // a fresh one that `scratch` owns until the operation ends.
    EVP_CIPHER_CTX* context(bool encrypt, detail::CipherCtxPtr& scratch) {
        if (contexts == Contexts::PER_OPERATION) {
            scratch = keyed(encrypt);
            return scratch.get();
        }
        detail::CipherCtxPtr& kept = encrypt ? enc : dec;
        if (!kept) kept = keyed(encrypt);
        return kept.get();
    }
};

Aead::Aead(EncrId encr, std::unique_ptr<Impl> impl) : encr_(encr), impl_(std::move(impl)) {}
Aead::~Aead() = default;

Result<std::unique_ptr<Aead>> Aead::create(EncrId encr, std::uint16_t key_bits,
                                           BytesView key_material, Contexts contexts) {
    const char* name = cipher_name(encr, key_bits);
    if (name == nullptr)
        return make_error(0, "not an AEAD cipher the ESP/IKE code supports: encr " +
                                 std::to_string(static_cast<unsigned>(encr)) + " with " +
                                 std::to_string(key_bits) + "-bit key");
    const std::size_t want = encr_key_size(encr, key_bits);
    if (key_material.size() != want)
        return make_error(0, std::string(name) + " needs " + std::to_string(want) +
                                 " octets of key material (key | 4-octet salt), got " +
                                 std::to_string(key_material.size()));
    auto impl = std::make_unique<Impl>();
    impl->cipher = cached_cipher(name);
    impl->contexts = contexts;
    const std::size_t key_len = want - kSaltSize;
    if (key_len > sizeof impl->key) fatal("AEAD key longer than 256 bits");
    std::memcpy(impl->key, key_material.data(), key_len);
    std::memcpy(impl->salt, key_material.data() + key_len, kSaltSize);
    // Both ciphers default to a 12-octet nonce, which is what we use.
    if (EVP_CIPHER_get_iv_length(impl->cipher) != 12) fatal("AEAD nonce length");
    return std::unique_ptr<Aead>(new Aead(encr, std::move(impl)));
}

void Aead::seal(Iv iv, BytesView aad, BytesView in, std::span<std::uint8_t> out, Tag tag) {
    if (out.size() != in.size()) fatal("Aead::seal: output size differs from input");
    detail::CipherCtxPtr scratch;
    EVP_CIPHER_CTX* ctx = impl_->context(true, scratch);
    std::uint8_t nonce[12];
    impl_->nonce(iv, nonce);
    int len = 0;
    if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce, nullptr) != 1) fatal("AEAD nonce");
    if (!aad.empty() && EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), int_len(aad.size())) != 1)
        fatal("AEAD aad");
    if (!in.empty() &&
        (EVP_EncryptUpdate(ctx, out.data(), &len, in.data(), int_len(in.size())) != 1 ||
         static_cast<std::size_t>(len) != in.size()))
        fatal("AEAD encrypt");
    std::uint8_t dummy[1];
    if (EVP_EncryptFinal_ex(ctx, dummy, &len) != 1 || len != 0) fatal("AEAD final");
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, tag.data()) != 1)
        fatal("AEAD get tag");
}

bool Aead::open(Iv iv, BytesView aad, BytesView in, std::span<std::uint8_t> out, ConstTag tag) {
    if (out.size() != in.size()) fatal("Aead::open: output size differs from input");
    detail::CipherCtxPtr scratch;
    EVP_CIPHER_CTX* ctx = impl_->context(false, scratch);
    std::uint8_t nonce[12];
    impl_->nonce(iv, nonce);
    int len = 0;
    if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce, nullptr) != 1) fatal("AEAD nonce");
    if (!aad.empty() && EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), int_len(aad.size())) != 1)
        fatal("AEAD aad");
    if (!in.empty() &&
        (EVP_DecryptUpdate(ctx, out.data(), &len, in.data(), int_len(in.size())) != 1 ||
         static_cast<std::size_t>(len) != in.size()))
        fatal("AEAD decrypt");
    // OpenSSL takes a non-const pointer but only copies the tag.
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize,
                            const_cast<std::uint8_t*>(tag.data())) != 1)
        fatal("AEAD set tag");
    std::uint8_t dummy[1];
    if (EVP_DecryptFinal_ex(ctx, dummy, &len) != 1) {
        detail::drain_errors();
        if (!out.empty()) OPENSSL_cleanse(out.data(), out.size());
        return false;
    }
    return true;
}

Bytes Aead::seal(Iv iv, BytesView aad, BytesView plaintext) {
    Bytes out(plaintext.size() + kTagSize);
    seal(iv, aad, plaintext, std::span<std::uint8_t>(out.data(), plaintext.size()),
         Tag(out.data() + plaintext.size(), kTagSize));
    return out;
}

Result<Bytes> Aead::open(Iv iv, BytesView aad, BytesView ciphertext_and_tag) {
    if (ciphertext_and_tag.size() < kTagSize)
        return make_error(0, "AEAD input of " + std::to_string(ciphertext_and_tag.size()) +
                                 " octets is shorter than the 16-octet ICV");
    const std::size_t n = ciphertext_and_tag.size() - kTagSize;
    Bytes out(n);
    if (!open(iv, aad, ciphertext_and_tag.first(n), out,
              ConstTag(ciphertext_and_tag.data() + n, kTagSize)))
        return make_error(n, "AEAD integrity check failed (ICV mismatch)");
    return out;
}

}  // namespace ikecluster::crypto
