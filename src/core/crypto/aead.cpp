#include "crypto/aead.h"

#include <openssl/crypto.h>

#include <climits>
#include <cstring>
#include <string>

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

// One context per direction, each keyed once at creation; every operation
// only re-initialises the nonce (EVP_CipherInit_ex with a null cipher and key
// keeps the expanded key).
struct Aead::Impl {
    detail::CipherPtr cipher;
    detail::CipherCtxPtr enc;
    detail::CipherCtxPtr dec;
    std::uint8_t salt[kSaltSize] = {};

    void nonce(Iv iv, std::uint8_t out[12]) const {
        std::memcpy(out, salt, kSaltSize);
        std::memcpy(out + kSaltSize, iv.data(), kIvSize);
    }
};

Aead::Aead(EncrId encr, std::unique_ptr<Impl> impl) : encr_(encr), impl_(std::move(impl)) {}
Aead::~Aead() = default;

Result<std::unique_ptr<Aead>> Aead::create(EncrId encr, std::uint16_t key_bits,
                                           BytesView key_material) {
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
    impl->cipher.reset(EVP_CIPHER_fetch(nullptr, name, nullptr));
    if (!impl->cipher) fatal("EVP_CIPHER_fetch(AEAD)");
    const std::size_t key_len = want - kSaltSize;
    std::memcpy(impl->salt, key_material.data() + key_len, kSaltSize);
    impl->enc.reset(EVP_CIPHER_CTX_new());
    impl->dec.reset(EVP_CIPHER_CTX_new());
    if (!impl->enc || !impl->dec ||
        EVP_EncryptInit_ex2(impl->enc.get(), impl->cipher.get(), key_material.data(), nullptr,
                            nullptr) != 1 ||
        EVP_DecryptInit_ex2(impl->dec.get(), impl->cipher.get(), key_material.data(), nullptr,
                            nullptr) != 1)
        fatal("AEAD key setup");
    // Both ciphers default to a 12-octet nonce, which is what we use.
    if (EVP_CIPHER_CTX_get_iv_length(impl->enc.get()) != 12) fatal("AEAD nonce length");
    return std::unique_ptr<Aead>(new Aead(encr, std::move(impl)));
}

void Aead::seal(Iv iv, BytesView aad, BytesView in, std::span<std::uint8_t> out, Tag tag) {
    if (out.size() != in.size()) fatal("Aead::seal: output size differs from input");
    EVP_CIPHER_CTX* ctx = impl_->enc.get();
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
    EVP_CIPHER_CTX* ctx = impl_->dec.get();
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
