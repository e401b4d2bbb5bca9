// Shared helpers for the ESP tests: Child SA states for every suite, inner
// packets, and an independent reference implementation of ESP sealing built
// directly on OpenSSL's EVP one-shot APIs (fresh contexts, no code shared
// with src/core/esp), so known-answer tests compare two implementations of
// the RFC text rather than the code with itself.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "base/bytes.h"
#include "crypto/keys.h"
#include "esp/esp_sa.h"
#include "ike/state.h"

namespace ikecluster::esp::test_util {

struct Suite {
    const char* name;
    EncrId encr;
    std::uint16_t bits;
    IntegId integ;
};

inline const std::vector<Suite>& all_suites() {
    static const std::vector<Suite> s = {
        {"AesGcm128", EncrId::AES_GCM_16, 128, IntegId::NONE},
        {"AesGcm256", EncrId::AES_GCM_16, 256, IntegId::NONE},
        {"ChaCha20Poly1305", EncrId::CHACHA20_POLY1305, 0, IntegId::NONE},
        {"AesCbc128Sha256", EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128},
        {"AesCbc256Sha256", EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_256_128},
    };
    return s;
}

inline Bytes pattern(std::size_t n, std::uint8_t seed) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i)
        b[i] = static_cast<std::uint8_t>(seed * 31 + i * 7 + (i >> 3));
    return b;
}

// One state used for both directions: the inbound SA of one side is the
// outbound SA of the other, so in == out makes a loopback pair.
inline ike::ChildSaState make_child(const Suite& s, bool esn,
                                    ike::IpsecMode mode = ike::IpsecMode::TUNNEL) {
    ike::ChildSaState c;
    c.spi_in = c.spi_out = 0xc0ffee01;
    c.encr = {s.encr, s.bits};
    c.integ = s.integ;
    c.esn = esn;
    c.mode = mode;
    c.keys.encr_out = pattern(crypto::encr_key_size(s.encr, s.bits), 0x11);
    c.keys.integ_out = pattern(crypto::integ_key_size(s.integ), 0x22);
    c.keys.encr_in = c.keys.encr_out;
    c.keys.integ_in = c.keys.integ_out;
    return c;
}

// An IPv4 or IPv6 inner packet of `n` octets (n >= 1): only the version
// nibble matters to ESP.
inline Bytes inner_packet(int version, std::size_t n, std::uint8_t seed = 1) {
    Bytes p = pattern(n, seed);
    if (n > 0) p[0] = static_cast<std::uint8_t>(version == 6 ? 0x60 : 0x45);
    return p;
}

// The caller's buffer: headroom, the packet, tailroom.
inline Bytes frame(BytesView inner) {
    Bytes buf(kHeadroom + inner.size() + kTailroom, 0xee);
    std::memcpy(buf.data() + kHeadroom, inner.data(), inner.size());
    return buf;
}

// RFC 4303 §2.4 trailer: payload | 1, 2, 3, ... | pad length | next header,
// padded to `align` (>= 4).
inline Bytes with_trailer(BytesView payload, std::size_t align, std::uint8_t nh) {
    Bytes p = to_bytes(payload);
    const std::size_t pad = (align - (payload.size() + 2) % align) % align;
    for (std::size_t i = 1; i <= pad; ++i)
        p.push_back(static_cast<std::uint8_t>(i));
    p.push_back(static_cast<std::uint8_t>(pad));
    p.push_back(nh);
    return p;
}

inline const EVP_CIPHER* ref_cipher(EncrId e, std::uint16_t bits) {
    if (e == EncrId::CHACHA20_POLY1305) return EVP_chacha20_poly1305();
    if (e == EncrId::AES_GCM_16) return bits == 128 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    return bits == 128 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
}

// Reference ESP sealing from the RFC text. `plain` already carries the
// trailer. AEAD: IV = seq (64-bit, big-endian); CBC: `cbc_iv`.
inline Bytes ref_seal(const ike::ChildSaState& c, std::uint64_t seq, BytesView plain,
                      BytesView cbc_iv = {}) {
    Bytes out(8);
    store_be32(out.data(), c.spi_out);
    store_be32(out.data() + 4, static_cast<std::uint32_t>(seq));
    const Bytes& key = c.keys.encr_out;
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    if (c.integ == IntegId::NONE) {
        // RFC 4106 §4 / RFC 7634 §2: nonce = salt (last 4 key octets) | IV.
        std::uint8_t iv[8];
        store_be64(iv, seq);
        out.insert(out.end(), iv, iv + 8);
        std::uint8_t nonce[12];
        std::memcpy(nonce, key.data() + key.size() - 4, 4);
        std::memcpy(nonce + 4, iv, 8);
        // RFC 4106 §5: AAD = SPI | seq, or SPI | seq high | seq low with ESN.
        Bytes aad(out.begin(), out.begin() + 4);
        if (c.esn) {
            std::uint8_t hi[4];
            store_be32(hi, static_cast<std::uint32_t>(seq >> 32));
            aad.insert(aad.end(), hi, hi + 4);
        }
        aad.insert(aad.end(), out.begin() + 4, out.begin() + 8);
        Bytes ct(plain.size() + 16);
        EVP_EncryptInit_ex(ctx, ref_cipher(c.encr.id, c.encr.key_bits), nullptr, key.data(), nonce);
        EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size()));
        EVP_EncryptUpdate(ctx, ct.data(), &len, plain.data(), static_cast<int>(plain.size()));
        EVP_EncryptFinal_ex(ctx, ct.data() + len, &len);
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, ct.data() + plain.size());
        out.insert(out.end(), ct.begin(), ct.end());
    } else {
        out.insert(out.end(), cbc_iv.begin(), cbc_iv.end());
        Bytes ct(plain.size() + 16);
        EVP_EncryptInit_ex(ctx, ref_cipher(c.encr.id, c.encr.key_bits), nullptr, key.data(),
                           cbc_iv.data());
        EVP_CIPHER_CTX_set_padding(ctx, 0);
        EVP_EncryptUpdate(ctx, ct.data(), &len, plain.data(), static_cast<int>(plain.size()));
        ct.resize(plain.size());
        out.insert(out.end(), ct.begin(), ct.end());
        // RFC 4303 §3.3.2.1: ICV over SPI | seq | IV | ciphertext (| seq high).
        Bytes mac_in = out;
        if (c.esn) {
            std::uint8_t hi[4];
            store_be32(hi, static_cast<std::uint32_t>(seq >> 32));
            mac_in.insert(mac_in.end(), hi, hi + 4);
        }
        std::uint8_t mac[64];
        std::size_t mac_len = 0;
        EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, c.keys.integ_out.data(),
                  c.keys.integ_out.size(), mac_in.data(), mac_in.size(), mac, sizeof mac, &mac_len);
        out.insert(out.end(), mac, mac + 16);  // RFC 4868: HMAC-SHA-256-128
    }
    EVP_CIPHER_CTX_free(ctx);
    return out;
}

}  // namespace ikecluster::esp::test_util
