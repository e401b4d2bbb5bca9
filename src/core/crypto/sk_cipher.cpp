#include "crypto/sk_cipher.h"

#include <openssl/crypto.h>

#include <climits>
#include <cstring>
#include <string>

#include "crypto/aead.h"
#include "crypto/cipher_cache.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "crypto/ossl.h"

namespace ikecluster::crypto {

using detail::fatal;

std::size_t SkCipher::sealed_size(std::size_t inner_len) const {
    const std::size_t b = block_size();
    const std::size_t padded = (inner_len + 1 + b - 1) / b * b;
    return iv_size() + padded + icv_size();
}

namespace {

std::string str(std::size_t n) {
    return std::to_string(n);
}

// Strips "padding | pad length" from decrypted plaintext. `at` is the message
// offset of the plaintext's first octet, for the error.
Result<Bytes> unpad(Bytes plain, std::size_t at) {
    if (plain.empty()) return make_error(at, "SK payload has no pad length octet");
    const std::size_t pad = plain.back();
    if (pad + 1 > plain.size())
        return make_error(at + plain.size() - 1, "SK payload pad length " + str(pad) +
                                                     " exceeds the " + str(plain.size() - 1) +
                                                     " octets before it");
    // erase rather than resize: same effect, and GCC under ASan cannot follow
    // the bound check above into resize()'s fill path (false -Wstringop-overflow).
    plain.erase(plain.end() - static_cast<std::ptrdiff_t>(pad + 1), plain.end());
    return plain;
}

// --------------------------------------------------------------------------

class AeadSk final : public SkCipher {
  public:
    explicit AeadSk(std::unique_ptr<Aead> aead) : aead_(std::move(aead)) {}

    std::size_t iv_size() const override { return Aead::kIvSize; }
    std::size_t icv_size() const override { return Aead::kTagSize; }
    std::size_t block_size() const override { return 1; }

    Bytes seal(BytesView aad, BytesView inner, Random& rng) override {
        // No padding: the AEADs need no alignment (RFC 5282 §3 allows 0).
        Bytes out(sealed_size(inner.size()));
        std::uint8_t* iv = out.data();
        std::uint8_t* ct = iv + Aead::kIvSize;
        const std::size_t n = inner.size() + 1;
        rng.fill(std::span<std::uint8_t>(iv, Aead::kIvSize));
        if (!inner.empty()) std::memcpy(ct, inner.data(), inner.size());
        ct[inner.size()] = 0;  // pad length
        aead_->seal(Aead::Iv(iv, Aead::kIvSize), aad, BytesView(ct, n),
                    std::span<std::uint8_t>(ct, n), Aead::Tag(ct + n, Aead::kTagSize));
        return out;
    }

    Result<Bytes> seal_padded(BytesView aad, BytesView padded, BytesView iv) override {
        if (iv.size() != Aead::kIvSize)
            return make_error(0, "AEAD SK IV must be 8 octets, got " + str(iv.size()));
        if (padded.empty()) return make_error(0, "SK plaintext lacks the pad length octet");
        Bytes out = concat(iv, aead_->seal(Aead::Iv(iv.data(), Aead::kIvSize), aad, padded));
        return out;
    }

    Result<Bytes> open(BytesView aad, BytesView body) override {
        const std::size_t min = Aead::kIvSize + 1 + Aead::kTagSize;
        if (body.size() < min)
            return make_error(aad.size(), "SK payload body of " + str(body.size()) +
                                              " octets is shorter than IV + pad length + ICV (" +
                                              str(min) + ")");
        const std::size_t n = body.size() - Aead::kIvSize - Aead::kTagSize;
        BytesView ct = body.subspan(Aead::kIvSize, n);
        Bytes plain(n);
        if (!aead_->open(Aead::Iv(body.data(), Aead::kIvSize), aad, ct, plain,
                         Aead::ConstTag(body.data() + Aead::kIvSize + n, Aead::kTagSize)))
            return make_error(aad.size() + Aead::kIvSize + n,
                              "SK payload integrity check failed (ICV mismatch)");
        return unpad(std::move(plain), aad.size() + Aead::kIvSize);
    }

  private:
    std::unique_ptr<Aead> aead_;
};

// --------------------------------------------------------------------------

HashAlg integ_hash(IntegId integ) {
    switch (integ) {
        case IntegId::HMAC_SHA2_384_192:
            return HashAlg::SHA384;
        case IntegId::HMAC_SHA2_512_256:
            return HashAlg::SHA512;
        default:
            return HashAlg::SHA256;
    }
}

const char* cbc_name(std::uint16_t key_bits) {
    switch (key_bits) {
        case 128:
            return "AES-128-CBC";
        case 192:
            return "AES-192-CBC";
        case 256:
            return "AES-256-CBC";
        default:
            return nullptr;
    }
}

constexpr std::size_t kCbcBlock = 16;

class CbcHmacSk final : public SkCipher {
  public:
    CbcHmacSk(IntegId integ, BytesView integ_key)
        : hmac_(integ_hash(integ)),
          icv_(crypto::icv_size(EncrId::AES_CBC, integ)),
          integ_key_(integ_key.begin(), integ_key.end()) {}
    ~CbcHmacSk() override {
        if (!integ_key_.empty()) OPENSSL_cleanse(integ_key_.data(), integ_key_.size());
    }

    void init_cipher(const char* name, BytesView key) {
        const EVP_CIPHER* cipher = cached_cipher(name);
        enc_.reset(EVP_CIPHER_CTX_new());
        dec_.reset(EVP_CIPHER_CTX_new());
        if (!enc_ || !dec_ ||
            EVP_EncryptInit_ex2(enc_.get(), cipher, key.data(), nullptr, nullptr) != 1 ||
            EVP_DecryptInit_ex2(dec_.get(), cipher, key.data(), nullptr, nullptr) != 1)
            fatal("AES-CBC key setup");
    }

    std::size_t iv_size() const override { return kCbcBlock; }
    std::size_t icv_size() const override { return icv_; }
    std::size_t block_size() const override { return kCbcBlock; }

    Bytes seal(BytesView aad, BytesView inner, Random& rng) override {
        Bytes out(sealed_size(inner.size()));
        const std::size_t n = out.size() - kCbcBlock - icv_;
        std::uint8_t* iv = out.data();
        std::uint8_t* ct = iv + kCbcBlock;
        rng.fill(std::span<std::uint8_t>(iv, kCbcBlock));
        // inner | zero padding | pad length, encrypted in place.
        if (!inner.empty()) std::memcpy(ct, inner.data(), inner.size());
        ct[n - 1] = static_cast<std::uint8_t>(n - 1 - inner.size());
        encrypt_and_mac(aad, out, n);
        return out;
    }

    Result<Bytes> seal_padded(BytesView aad, BytesView padded, BytesView iv) override {
        if (iv.size() != kCbcBlock)
            return make_error(0, "AES-CBC SK IV must be 16 octets, got " + str(iv.size()));
        if (padded.empty() || padded.size() % kCbcBlock != 0)
            return make_error(0, "AES-CBC SK plaintext of " + str(padded.size()) +
                                     " octets is not a positive multiple of 16");
        Bytes out = concat(iv, padded, Bytes(icv_));
        encrypt_and_mac(aad, out, padded.size());
        return out;
    }

    Result<Bytes> open(BytesView aad, BytesView body) override {
        const std::size_t base = aad.size();
        if (body.size() < kCbcBlock + kCbcBlock + icv_ ||
            (body.size() - kCbcBlock - icv_) % kCbcBlock != 0)
            return make_error(base, "SK payload body of " + str(body.size()) +
                                        " octets is not a 16-octet IV, whole 16-octet blocks "
                                        "and a " +
                                        str(icv_) + "-octet ICV");
        const std::size_t n = body.size() - kCbcBlock - icv_;
        // Integrity first (encrypt-then-MAC): nothing is decrypted unless the
        // ICV over aad | IV | ciphertext matches.
        std::uint8_t mac[64];
        compute_icv(aad, body.first(kCbcBlock + n), mac);
        if (!equal_ct(BytesView(mac, icv_), body.subspan(kCbcBlock + n)))
            return make_error(base + kCbcBlock + n,
                              "SK payload integrity check failed (ICV mismatch)");
        Bytes plain(n);
        EVP_CIPHER_CTX* ctx = dec_.get();
        int len = 0;
        if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, body.data(), nullptr) != 1 ||
            EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
            EVP_DecryptUpdate(ctx, plain.data(), &len, body.data() + kCbcBlock,
                              static_cast<int>(n)) != 1 ||
            static_cast<std::size_t>(len) != n || EVP_DecryptFinal_ex(ctx, mac, &len) != 1 ||
            len != 0)
            fatal("AES-CBC decrypt");
        return unpad(std::move(plain), base + kCbcBlock);
    }

  private:
    // out = IV | plaintext (n octets) | room for the ICV. Encrypts the
    // plaintext in place and fills in the ICV.
    void encrypt_and_mac(BytesView aad, Bytes& out, std::size_t n) {
        if (n > static_cast<std::size_t>(INT_MAX)) fatal("SK plaintext larger than INT_MAX");
        EVP_CIPHER_CTX* ctx = enc_.get();
        std::uint8_t* ct = out.data() + kCbcBlock;
        int len = 0;
        std::uint8_t tail[kCbcBlock];
        if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, out.data(), nullptr) != 1 ||
            EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
            EVP_EncryptUpdate(ctx, ct, &len, ct, static_cast<int>(n)) != 1 ||
            static_cast<std::size_t>(len) != n || EVP_EncryptFinal_ex(ctx, tail, &len) != 1 ||
            len != 0)
            fatal("AES-CBC encrypt");
        std::uint8_t mac[64];
        compute_icv(aad, BytesView(out.data(), kCbcBlock + n), mac);
        std::memcpy(ct + n, mac, icv_);
    }

    // Full HMAC over aad | iv_and_ct into `mac` (>= 64 octets); the ICV is
    // its first icv_ octets (RFC 4868 §2.3 truncation).
    void compute_icv(BytesView aad, BytesView iv_and_ct, std::uint8_t* mac) {
        hmac_.init(integ_key_);
        hmac_.update(aad);
        hmac_.update(iv_and_ct);
        hmac_.final(std::span<std::uint8_t>(mac, hmac_.size()));
    }

    Hmac hmac_;
    std::size_t icv_;
    Bytes integ_key_;
    detail::CipherCtxPtr enc_;
    detail::CipherCtxPtr dec_;
};

}  // namespace

Result<std::unique_ptr<SkCipher>> SkCipher::create(EncrId encr, std::uint16_t key_bits,
                                                   IntegId integ, BytesView encr_key,
                                                   BytesView integ_key) {
    CipherSuite suite{encr, key_bits, integ};
    if (auto st = check_suite(suite, false); !st.ok()) return st.error();
    if (integ_key.size() != integ_key_size(integ))
        return make_error(0, "integrity key must be " + str(integ_key_size(integ)) +
                                 " octets, got " + str(integ_key.size()));
    if (is_aead(encr)) {
        // An IKE SA protects a few messages a minute for hours: keep only
        // its keys, not two cipher contexts per direction (Aead::Contexts).
        auto aead = Aead::create(encr, key_bits, encr_key, Aead::Contexts::PER_OPERATION);
        if (!aead.ok()) return aead.error();
        return std::unique_ptr<SkCipher>(new AeadSk(std::move(*aead)));
    }
    if (encr_key.size() != encr_key_size(encr, key_bits))
        return make_error(0, "AES-CBC key must be " + str(encr_key_size(encr, key_bits)) +
                                 " octets, got " + str(encr_key.size()));
    auto sk = std::make_unique<CbcHmacSk>(integ, integ_key);
    sk->init_cipher(cbc_name(key_bits), encr_key);
    return std::unique_ptr<SkCipher>(std::move(sk));
}

}  // namespace ikecluster::crypto
