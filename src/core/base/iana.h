// IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" numbers that more
// than one layer needs (the codec carries them, crypto implements them, the
// engine negotiates them). Payload and notify numbers live in wire/.
#pragma once

#include <cstdint>

namespace ikecluster {

// RFC 7296 §3.1, RFC 5723 (IKE_SESSION_RESUME), RFC 7383.
enum class ExchangeType : std::uint8_t {
    IKE_SA_INIT = 34,
    IKE_AUTH = 35,
    CREATE_CHILD_SA = 36,
    INFORMATIONAL = 37,
    IKE_SESSION_RESUME = 38,
};

// RFC 7296 §3.3.2 transform types.
enum class TransformType : std::uint8_t {
    ENCR = 1,
    PRF = 2,
    INTEG = 3,
    DH = 4,  // "Key Exchange Method" in later registries
    ESN = 5,
};

// RFC 7296 §3.3.1 protocol IDs (SA proposals, Notify, Delete).
enum class ProtocolId : std::uint8_t {
    NONE = 0,
    IKE = 1,
    AH = 2,
    ESP = 3,
};

// Transform type 1. Key length comes from the Key Length attribute where the
// algorithm has a variable key size (AES).
enum class EncrId : std::uint16_t {
    AES_CBC = 12,            // RFC 3602
    AES_GCM_16 = 20,         // RFC 4106 (ESP), RFC 5282 (IKE): 16-octet ICV
    CHACHA20_POLY1305 = 28,  // RFC 7634
};

// Transform type 2.
enum class PrfId : std::uint16_t {
    HMAC_SHA2_256 = 5,  // RFC 4868
    HMAC_SHA2_384 = 6,
    HMAC_SHA2_512 = 7,
};

// Transform type 3. NONE (0) is what AEAD proposals carry, if anything.
enum class IntegId : std::uint16_t {
    NONE = 0,
    HMAC_SHA2_256_128 = 12,  // RFC 4868
    HMAC_SHA2_384_192 = 13,
    HMAC_SHA2_512_256 = 14,
};

// Transform type 4.
enum class DhId : std::uint16_t {
    NONE = 0,
    MODP_2048 = 14,  // RFC 3526
    ECP_256 = 19,    // RFC 5903
    ECP_384 = 20,
    CURVE25519 = 31,  // RFC 8031
};

// Transform type 5.
enum class EsnId : std::uint16_t {
    NO_ESN = 0,
    ESN = 1,
};

// Transform attribute type for the key length (RFC 7296 §3.3.5), TV format.
inline constexpr std::uint16_t kAttrKeyLength = 14;

}  // namespace ikecluster
