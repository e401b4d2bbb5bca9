// AEAD ciphers as IKEv2 and ESP use them: AES-GCM with a 16-octet ICV
// (RFC 4106 / RFC 5282) and ChaCha20-Poly1305 (RFC 7634, RFC 8439). The key
// material is key | 4-octet salt; the 12-octet nonce is salt | 8-octet
// explicit IV. The SK payload protection (sk_cipher.h) and the ESP data plane
// both build on this class.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/result.h"

namespace ikecluster::crypto {

class Aead {
  public:
    static constexpr std::size_t kSaltSize = 4;
    static constexpr std::size_t kIvSize = 8;
    static constexpr std::size_t kTagSize = 16;
    using Iv = std::span<const std::uint8_t, kIvSize>;
    using Tag = std::span<std::uint8_t, kTagSize>;
    using ConstTag = std::span<const std::uint8_t, kTagSize>;

    // What an Aead keeps between operations. An OpenSSL GCM context with its
    // expanded key and GHASH table costs about 1.2 KB.
    enum class Contexts {
        // One context per direction, made on that direction's first use and
        // kept: for keys used many times a second (the sync channel).
        KEPT,
        // Only the key; each operation keys a fresh context and frees it
        // (about a microsecond more per call). For keys that protect a few
        // messages a minute but live as long as their SA: the SK payloads of
        // an IKE SA, of which a gateway holds a hundred thousand.
        PER_OPERATION,
    };

    // `key_material` is the encryption key followed by the salt, exactly
    // encr_key_size(encr, key_bits) octets (20/28/36 for AES-GCM-128/192/256,
    // 36 for ChaCha20-Poly1305). Errors: not an AEAD, a key length the cipher
    // lacks, or key material of the wrong size.
    static Result<std::unique_ptr<Aead>> create(EncrId encr, std::uint16_t key_bits,
                                                BytesView key_material,
                                                Contexts contexts = Contexts::KEPT);
    ~Aead();
    Aead(const Aead&) = delete;
    Aead& operator=(const Aead&) = delete;

    EncrId encr() const { return encr_; }

    // Encrypts `in` into `out` (same size; `out` may be exactly `in`, for
    // in-place use) and writes the tag. The caller guarantees an IV is never
    // reused under one key (ESP: the sequence number; IKE: random).
    // Inputs above INT_MAX octets abort (OpenSSL's length type).
    void seal(Iv iv, BytesView aad, BytesView in, std::span<std::uint8_t> out, Tag tag);
    // Decrypts and verifies; false on a tag mismatch, in which case `out` is
    // zeroed (never release unauthenticated plaintext). `out` may be `in`.
    [[nodiscard]] bool open(Iv iv, BytesView aad, BytesView in, std::span<std::uint8_t> out,
                            ConstTag tag);

    // Convenience forms: returns ciphertext | tag, and takes ciphertext | tag.
    Bytes seal(Iv iv, BytesView aad, BytesView plaintext);
    // Errors: input shorter than the tag; "ICV mismatch" on a bad tag.
    Result<Bytes> open(Iv iv, BytesView aad, BytesView ciphertext_and_tag);

  private:
    struct Impl;
    explicit Aead(EncrId encr, std::unique_ptr<Impl> impl);
    EncrId encr_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ikecluster::crypto
