// Protection of the Encrypted (SK) and Encrypted Fragment (SKF) payload
// bodies (RFC 7296 §3.14, RFC 7383 §2.5) for one direction of an IKE SA.
//
//   body = IV | Encrypt(inner payloads | padding | pad length) | ICV
//
// AEAD suites (AES-GCM-16, RFC 5282; ChaCha20-Poly1305, RFC 7634): 8-octet IV
// from the Random, nonce = salt | IV, AAD = every message octet before the
// body, no padding (pad length 0). AES-CBC + HMAC-SHA2 (RFC 3602, RFC 4868):
// 16-octet IV, plaintext padded with zeros to the 16-octet block, ICV = the
// truncated HMAC over AAD | IV | ciphertext.
//
// `aad` is always every octet of the message before the body: the IKE header,
// any unencrypted payloads, the SK generic payload header (and for SKF its
// 4 fragment-number octets), with the length fields already final, i.e.
// computed with sealed_size().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/result.h"
#include "crypto/random.h"

namespace ikecluster::crypto {

class SkCipher {
  public:
    // One direction: the initiator seals with (SK_ei, SK_ai) and opens with
    // (SK_er, SK_ar); the responder the other way round. `integ` is NONE
    // with an empty `integ_key` for AEAD suites. Errors: an unsupported
    // combination (AEAD with integrity, CBC without) or keys of the wrong size.
    static Result<std::unique_ptr<SkCipher>> create(EncrId encr, std::uint16_t key_bits,
                                                    IntegId integ, BytesView encr_key,
                                                    BytesView integ_key);
    virtual ~SkCipher() = default;

    virtual std::size_t iv_size() const = 0;
    virtual std::size_t icv_size() const = 0;
    virtual std::size_t block_size() const = 0;

    // Size of the body seal() returns for `inner_len` octets of payloads.
    std::size_t sealed_size(std::size_t inner_len) const;

    // Encrypts and integrity-protects `inner_payloads`; returns the body.
    virtual Bytes seal(BytesView aad, BytesView inner_payloads, Random& rng) = 0;

    // Lower-level seal for known-answer tests and callers that pick their own
    // padding: `padded` is inner payloads | padding | pad length octet, a
    // multiple of block_size(); `iv` is iv_size() octets. Errors on either
    // size being wrong.
    virtual Result<Bytes> seal_padded(BytesView aad, BytesView padded, BytesView iv) = 0;

    // Verifies and decrypts a body; returns the inner payloads without the
    // padding. Errors (offsets are into the message, i.e. aad.size() + the
    // position in the body; the caller drops the message and, per
    // RFC 7296 §2.21.2, does not answer it):
    //  - body too short or not IV + whole blocks + ICV
    //  - "integrity check failed (ICV mismatch)"
    //  - pad length octet larger than the decrypted data allows
    virtual Result<Bytes> open(BytesView aad, BytesView body) = 0;
};

}  // namespace ikecluster::crypto
