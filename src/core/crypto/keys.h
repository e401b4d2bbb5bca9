// Algorithm sizes and IKEv2 key derivation: SKEYSEED and the IKE SA keys
// (RFC 7296 §2.14, rekey §2.18, resumption RFC 5723 §5.1), Child SA KEYMAT
// (§2.17), shared-key AUTH (§2.15), NAT detection hashes (§2.23) and
// stateless cookies (§2.6).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/net.h"
#include "base/result.h"

namespace ikecluster::crypto {

// ---------------------------------------------------------------------------
// Algorithm sizes. All in octets. Functions return 0 for an unsupported id
// (or a key length the algorithm does not have).

bool is_aead(EncrId encr);
// Octets of salt at the end of the encryption key material: 4 for AES-GCM
// (RFC 5282 §7.1 for IKE, RFC 4106 §8.1 for ESP) and ChaCha20-Poly1305
// (RFC 7634 §4 for IKE, §2 for ESP); 0 for AES-CBC.
std::size_t salt_size(EncrId encr);
// Encryption key material to take from prf+, salt included: AES-CBC 16/24/32,
// AES-GCM 16/24/32 + 4, ChaCha20-Poly1305 32 + 4. `key_bits` is the Key
// Length attribute (128/192/256); ChaCha20-Poly1305 has none (pass 0 or 256).
std::size_t encr_key_size(EncrId encr, std::uint16_t key_bits);
// Integrity key: 32/48/64 for HMAC-SHA2-256-128/384-192/512-256 (RFC 4868);
// 0 for NONE (AEAD suites).
std::size_t integ_key_size(IntegId integ);
// Integrity check value in the SK payload / ESP trailer: 16 for AES-GCM-16 and
// ChaCha20-Poly1305, else the truncated HMAC length 16/24/32.
std::size_t icv_size(EncrId encr, IntegId integ);
// Explicit IV carried in every SK payload / ESP packet: 8 for AES-GCM and
// ChaCha20-Poly1305 (IKE and ESP alike), 16 for AES-CBC.
std::size_t iv_size(EncrId encr);
// Plaintext alignment: 16 for AES-CBC; 1 for the AEADs (stream-like).
std::size_t block_size(EncrId encr);

// One negotiated suite. For IKE all fields matter; for ESP `prf` is unused
// and `dh` is the PFS group (NONE without PFS). AEAD suites carry
// integ = NONE.
struct CipherSuite {
    EncrId encr = EncrId::AES_GCM_16;
    std::uint16_t key_bits = 256;
    IntegId integ = IntegId::NONE;
    PrfId prf = PrfId::HMAC_SHA2_256;
    DhId dh = DhId::NONE;

    std::size_t encr_key_size() const { return crypto::encr_key_size(encr, key_bits); }
    std::size_t integ_key_size() const { return crypto::integ_key_size(integ); }
    friend bool operator==(const CipherSuite&, const CipherSuite&) = default;
};

// Checks the suite is implementable: known algorithms, a key length the
// cipher has, integrity NONE exactly when the cipher is AEAD, and (when
// `ike`) a supported PRF. The error names the offending field.
Status check_suite(const CipherSuite& suite, bool ike);

// ---------------------------------------------------------------------------
// IKE SA keys.

struct IkeKeys {
    Bytes skeyseed;
    Bytes sk_d;
    Bytes sk_ai, sk_ar;  // empty for AEAD suites
    Bytes sk_ei, sk_er;  // salt included for AEAD suites
    Bytes sk_pi, sk_pr;

    // Overwrites every key with zeros (OPENSSL_cleanse) and empties it.
    void wipe();
};

// New IKE SA (RFC 7296 §2.14):
//   SKEYSEED = prf(Ni | Nr, g^ir)
//   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//       = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
// SPIs are the 8-octet IKE SPIs as on the wire (big-endian). SK_d/SK_pi/SK_pr
// are prf_key_size(suite.prf) long. Errors: check_suite() failures.
Result<IkeKeys> derive_ike_keys(const CipherSuite& suite, BytesView shared_secret, BytesView ni,
                                BytesView nr, std::uint64_t spi_i, std::uint64_t spi_r);

// Rekeyed IKE SA (RFC 7296 §2.18):
//   SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
// computed with the OLD IKE SA's PRF (`old_prf`); the prf+ expansion uses the
// new suite's PRF. Ni/Nr are the CREATE_CHILD_SA nonces and SPIi/SPIr the new
// SA's SPIs, "i" being whoever initiated the rekey exchange.
Result<IkeKeys> derive_ike_keys_rekey(const CipherSuite& new_suite, PrfId old_prf,
                                      BytesView old_sk_d, BytesView shared_secret, BytesView ni,
                                      BytesView nr, std::uint64_t spi_i, std::uint64_t spi_r);

// Resumed IKE SA (RFC 5723 §5.1):
//   SKEYSEED = prf(SK_d (old), "Resumption" | Ni | Nr)
// ("Resumption" is the 10 ASCII octets, no terminator), then the §2.14 prf+
// with the IKE_SESSION_RESUME nonces and the new SPIs. The resumed SA keeps
// the old SA's algorithms, so one suite (its PRF) serves both steps.
Result<IkeKeys> derive_ike_keys_resume(const CipherSuite& suite, BytesView old_sk_d, BytesView ni,
                                       BytesView nr, std::uint64_t spi_i, std::uint64_t spi_r);

// ---------------------------------------------------------------------------
// Child SA keys (RFC 7296 §2.17):
//   KEYMAT = prf+(SK_d, Ni | Nr)                  without PFS
//   KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)     with PFS
// taken in the order: initiator->responder encryption key, its integrity key,
// then responder->initiator encryption and integrity keys. Ni/Nr are the
// nonces of the exchange creating the Child SA (IKE_SA_INIT's for the first
// one created in IKE_AUTH).

struct ChildKeys {
    Bytes encr_i, integ_i;  // initiator -> responder (salt included for AEAD)
    Bytes encr_r, integ_r;  // responder -> initiator
    void wipe();
};

// `esp` supplies encr/key_bits/integ; `ike_prf` is the IKE SA's PRF. Pass an
// empty `pfs_shared_secret` without PFS. Errors: check_suite(esp, false).
Result<ChildKeys> derive_child_keys(const CipherSuite& esp, PrfId ike_prf, BytesView sk_d,
                                    BytesView pfs_shared_secret, BytesView ni, BytesView nr);

// ---------------------------------------------------------------------------
// Shared-key authentication (RFC 7296 §2.15).

// <SignedOctets> = RealMessage | NonceData | prf(SK_px, RestOfIDPayload)
//   initiator: RealMessage1 (its IKE_SA_INIT request), Nr, prf(SK_pi, IDi')
//   responder: RealMessage2 (its IKE_SA_INIT response), Ni, prf(SK_pr, IDr')
// `id_body` is the ID payload after its generic header: ID type, 3 reserved
// octets, identification data.
Bytes signed_octets(PrfId prf, BytesView real_message, BytesView peer_nonce, BytesView sk_p,
                    BytesView id_body);

// AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
// ("Key Pad for IKEv2" is 17 ASCII octets, no terminator.) Compare a received
// AUTH with equal_ct().
Bytes psk_auth(PrfId prf, BytesView shared_key, BytesView signed_octets);

// ---------------------------------------------------------------------------
// NAT detection (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | Port), the
// address as 4 or 16 octets and the port as 2, all in network order. SPIr is
// zero in the IKE_SA_INIT request.
Bytes nat_detection_hash(std::uint64_t spi_i, std::uint64_t spi_r, const Endpoint& endpoint);

// ---------------------------------------------------------------------------
// Stateless cookies (RFC 7296 §2.6):
//   Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
// Here VersionIDofSecret is 4 octets (big-endian) and Hash is SHA-256, so a
// cookie is 36 octets (COOKIE data may be 1..64). The caller owns the secrets
// and their rotation: look up the secret by cookie_secret_version(), then
// check_cookie().
inline constexpr std::size_t kCookieSize = 4 + 32;
Bytes make_cookie(std::uint32_t secret_version, BytesView secret, BytesView ni,
                  const IpAddress& initiator, std::uint64_t spi_i);
// The version a received cookie claims; nullopt if it is not kCookieSize long.
std::optional<std::uint32_t> cookie_secret_version(BytesView cookie);
// Constant-time comparison against the cookie we would have made.
bool check_cookie(BytesView cookie, BytesView secret, BytesView ni, const IpAddress& initiator,
                  std::uint64_t spi_i);

}  // namespace ikecluster::crypto
