#include "crypto/keys.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "base/buffer.h"
#include "crypto/hash.h"
#include "crypto/prf.h"

namespace ikecluster::crypto {

// ---------------------------------------------------------------------------
// Sizes

bool is_aead(EncrId encr) {
    return encr == EncrId::AES_GCM_16 || encr == EncrId::CHACHA20_POLY1305;
}

std::size_t salt_size(EncrId encr) {
    return is_aead(encr) ? 4 : 0;
}

std::size_t encr_key_size(EncrId encr, std::uint16_t key_bits) {
    switch (encr) {
        case EncrId::AES_CBC:
        case EncrId::AES_GCM_16:
            if (key_bits != 128 && key_bits != 192 && key_bits != 256) return 0;
            return key_bits / 8 + salt_size(encr);
        case EncrId::CHACHA20_POLY1305:
            if (key_bits != 0 && key_bits != 256) return 0;
            return 32 + salt_size(encr);
    }
    return 0;
}

std::size_t integ_key_size(IntegId integ) {
    switch (integ) {
        case IntegId::HMAC_SHA2_256_128:
            return 32;
        case IntegId::HMAC_SHA2_384_192:
            return 48;
        case IntegId::HMAC_SHA2_512_256:
            return 64;
        case IntegId::NONE:
            return 0;
    }
    return 0;
}

std::size_t icv_size(EncrId encr, IntegId integ) {
    if (is_aead(encr)) return 16;
    switch (integ) {
        case IntegId::HMAC_SHA2_256_128:
            return 16;
        case IntegId::HMAC_SHA2_384_192:
            return 24;
        case IntegId::HMAC_SHA2_512_256:
            return 32;
        case IntegId::NONE:
            return 0;
    }
    return 0;
}

std::size_t iv_size(EncrId encr) {
    switch (encr) {
        case EncrId::AES_CBC:
            return 16;
        case EncrId::AES_GCM_16:
        case EncrId::CHACHA20_POLY1305:
            return 8;
    }
    return 0;
}

std::size_t block_size(EncrId encr) {
    switch (encr) {
        case EncrId::AES_CBC:
            return 16;
        case EncrId::AES_GCM_16:
        case EncrId::CHACHA20_POLY1305:
            return 1;
    }
    return 0;
}

Status check_suite(const CipherSuite& s, bool ike) {
    const unsigned encr = static_cast<unsigned>(s.encr);
    if (iv_size(s.encr) == 0)
        return make_error(0, "unsupported encryption algorithm " + std::to_string(encr));
    if (encr_key_size(s.encr, s.key_bits) == 0)
        return make_error(0, "encryption algorithm " + std::to_string(encr) + " has no " +
                                 std::to_string(s.key_bits) + "-bit key");
    if (is_aead(s.encr)) {
        if (s.integ != IntegId::NONE)
            return make_error(0, "AEAD encryption algorithm " + std::to_string(encr) +
                                     " takes no integrity algorithm");
    } else if (integ_key_size(s.integ) == 0) {
        return make_error(0, "unsupported or missing integrity algorithm " +
                                 std::to_string(static_cast<unsigned>(s.integ)));
    }
    if (ike && !prf_supported(s.prf))
        return make_error(0, "unsupported PRF " + std::to_string(static_cast<unsigned>(s.prf)));
    return Ok{};
}

// ---------------------------------------------------------------------------
// IKE SA keys

namespace {

void cleanse(Bytes& b) {
    if (!b.empty()) OPENSSL_cleanse(b.data(), b.size());
    b.clear();
}

Bytes spi_bytes(std::uint64_t spi_i, std::uint64_t spi_r) {
    Bytes out(16);
    store_be64(out.data(), spi_i);
    store_be64(out.data() + 8, spi_r);
    return out;
}

// Cuts consecutive pieces off a buffer of keying material.
class Slicer {
  public:
    explicit Slicer(const Bytes& km) : km_(km) {}
    Bytes take(std::size_t n) {
        Bytes out(km_.begin() + static_cast<std::ptrdiff_t>(pos_),
                  km_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
        pos_ += n;
        return out;
    }

  private:
    const Bytes& km_;
    std::size_t pos_ = 0;
};

// The common §2.14 expansion once SKEYSEED is known.
Result<IkeKeys> expand_ike_keys(const CipherSuite& suite, Bytes skeyseed, BytesView ni,
                                BytesView nr, std::uint64_t spi_i, std::uint64_t spi_r) {
    Prf prf(suite.prf);
    const std::size_t d = prf.key_size();
    const std::size_t a = suite.integ_key_size();
    const std::size_t e = suite.encr_key_size();
    const Bytes seed = concat(ni, nr, spi_bytes(spi_i, spi_r));
    auto km = prf.prf_plus(skeyseed, seed, d + 2 * a + 2 * e + 2 * d);
    if (!km.ok()) return km.error();
    IkeKeys keys;
    keys.skeyseed = std::move(skeyseed);
    Slicer s(*km);
    keys.sk_d = s.take(d);
    keys.sk_ai = s.take(a);
    keys.sk_ar = s.take(a);
    keys.sk_ei = s.take(e);
    keys.sk_er = s.take(e);
    keys.sk_pi = s.take(d);
    keys.sk_pr = s.take(d);
    cleanse(*km);
    return keys;
}

}  // namespace

void IkeKeys::wipe() {
    for (Bytes* b : {&skeyseed, &sk_d, &sk_ai, &sk_ar, &sk_ei, &sk_er, &sk_pi, &sk_pr})
        cleanse(*b);
}

void ChildKeys::wipe() {
    for (Bytes* b : {&encr_i, &integ_i, &encr_r, &integ_r})
        cleanse(*b);
}

Result<IkeKeys> derive_ike_keys(const CipherSuite& suite, BytesView shared_secret, BytesView ni,
                                BytesView nr, std::uint64_t spi_i, std::uint64_t spi_r) {
    if (auto st = check_suite(suite, true); !st.ok()) return st.error();
    // SKEYSEED = prf(Ni | Nr, g^ir): the nonces are the key. HMAC takes a
    // key of any length, so no special handling of the 16..256-octet nonces.
    Prf prf(suite.prf);
    Bytes nonces = concat(ni, nr);
    Bytes skeyseed = prf.prf(nonces, shared_secret);
    return expand_ike_keys(suite, std::move(skeyseed), ni, nr, spi_i, spi_r);
}

Result<IkeKeys> derive_ike_keys_rekey(const CipherSuite& new_suite, PrfId old_prf,
                                      BytesView old_sk_d, BytesView shared_secret, BytesView ni,
                                      BytesView nr, std::uint64_t spi_i, std::uint64_t spi_r) {
    if (auto st = check_suite(new_suite, true); !st.ok()) return st.error();
    if (!prf_supported(old_prf))
        return make_error(0, "unsupported PRF of the old IKE SA " +
                                 std::to_string(static_cast<unsigned>(old_prf)));
    Prf prf(old_prf);
    Bytes skeyseed = prf.prf(old_sk_d, {shared_secret, ni, nr});
    return expand_ike_keys(new_suite, std::move(skeyseed), ni, nr, spi_i, spi_r);
}

Result<IkeKeys> derive_ike_keys_resume(const CipherSuite& suite, BytesView old_sk_d, BytesView ni,
                                       BytesView nr, std::uint64_t spi_i, std::uint64_t spi_r) {
    if (auto st = check_suite(suite, true); !st.ok()) return st.error();
    Prf prf(suite.prf);
    Bytes skeyseed = prf.prf(old_sk_d, {as_view(std::string_view("Resumption")), ni, nr});
    return expand_ike_keys(suite, std::move(skeyseed), ni, nr, spi_i, spi_r);
}

Result<ChildKeys> derive_child_keys(const CipherSuite& esp, PrfId ike_prf, BytesView sk_d,
                                    BytesView pfs_shared_secret, BytesView ni, BytesView nr) {
    if (auto st = check_suite(esp, false); !st.ok()) return st.error();
    if (!prf_supported(ike_prf))
        return make_error(
            0, "unsupported IKE SA PRF " + std::to_string(static_cast<unsigned>(ike_prf)));
    const std::size_t e = esp.encr_key_size();
    const std::size_t a = esp.integ_key_size();
    Prf prf(ike_prf);
    Bytes seed = concat(pfs_shared_secret, ni, nr);
    auto km = prf.prf_plus(sk_d, seed, 2 * (e + a));
    cleanse(seed);
    if (!km.ok()) return km.error();
    ChildKeys keys;
    Slicer s(*km);
    keys.encr_i = s.take(e);
    keys.integ_i = s.take(a);
    keys.encr_r = s.take(e);
    keys.integ_r = s.take(a);
    cleanse(*km);
    return keys;
}

// ---------------------------------------------------------------------------
// AUTH, NAT-D, cookies

Bytes signed_octets(PrfId prf_id, BytesView real_message, BytesView peer_nonce, BytesView sk_p,
                    BytesView id_body) {
    Prf prf(prf_id);
    Bytes mac_id = prf.prf(sk_p, id_body);
    return concat(real_message, peer_nonce, mac_id);
}

Bytes psk_auth(PrfId prf_id, BytesView shared_key, BytesView octets) {
    Prf prf(prf_id);
    Bytes pad_key = prf.prf(shared_key, as_view(std::string_view("Key Pad for IKEv2")));
    Bytes auth = prf.prf(pad_key, octets);
    cleanse(pad_key);
    return auth;
}

Bytes nat_detection_hash(std::uint64_t spi_i, std::uint64_t spi_r, const Endpoint& endpoint) {
    std::uint8_t port[2];
    store_be16(port, endpoint.port);
    return hash(HashAlg::SHA1, {spi_bytes(spi_i, spi_r), endpoint.addr.bytes(), port});
}

Bytes make_cookie(std::uint32_t secret_version, BytesView secret, BytesView ni,
                  const IpAddress& initiator, std::uint64_t spi_i) {
    std::uint8_t spi[8];
    store_be64(spi, spi_i);
    Bytes digest = hash(HashAlg::SHA256, {ni, initiator.bytes(), spi, secret});
    Bytes out(kCookieSize);
    store_be32(out.data(), secret_version);
    std::copy(digest.begin(), digest.end(), out.begin() + 4);
    return out;
}

std::optional<std::uint32_t> cookie_secret_version(BytesView cookie) {
    if (cookie.size() != kCookieSize) return std::nullopt;
    return load_be32(cookie.data());
}

bool check_cookie(BytesView cookie, BytesView secret, BytesView ni, const IpAddress& initiator,
                  std::uint64_t spi_i) {
    auto version = cookie_secret_version(cookie);
    if (!version) return false;
    return equal_ct(cookie, make_cookie(*version, secret, ni, initiator, spi_i));
}

}  // namespace ikecluster::crypto
