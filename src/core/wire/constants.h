// IKEv2 payload and notify numbers (RFC 7296 §3.2, §3.10.1 and the IANA
// registry; HA, redirect and resumption notifies from RFC 6311, 5685, 5723).
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace ikecluster::wire {

// Next Payload values (RFC 7296 §3.2, RFC 7383 §2.5 for SKF).
enum class PayloadType : std::uint8_t {
    NONE = 0,
    SA = 33,
    KE = 34,
    IDi = 35,
    IDr = 36,
    CERT = 37,
    CERTREQ = 38,
    AUTH = 39,
    NONCE = 40,
    NOTIFY = 41,
    DELETE = 42,
    VENDOR = 43,
    TSi = 44,
    TSr = 45,
    SK = 46,
    CP = 47,
    EAP = 48,
    SKF = 53,
};

// True for the payload types this codec decodes into a typed body (RFC 7296
// §3.2 33..48, RFC 7383 SKF 53); every other type is kept raw.
constexpr bool is_known_payload(std::uint8_t t) {
    return (t >= 33 && t <= 48) || t == 53;
}

// The C bit of the generic payload header (§3.2).
inline constexpr std::uint8_t kCriticalBit = 0x80;

// IKE header flags (RFC 7296 §3.1).
inline constexpr std::uint8_t kFlagInitiator = 0x08;
inline constexpr std::uint8_t kFlagVersion = 0x10;
inline constexpr std::uint8_t kFlagResponse = 0x20;

// ID Type of the IDi/IDr payloads (§3.5). The address types have fixed
// lengths (4 and 16 octets), which the decoder checks.
enum class IdType : std::uint8_t {
    IPV4_ADDR = 1,
    FQDN = 2,
    RFC822_ADDR = 3,
    IPV6_ADDR = 5,
    DER_ASN1_DN = 9,
    DER_ASN1_GN = 10,
    KEY_ID = 11,
};

// Auth Method of the AUTH payload (§3.8, RFC 7427 for 14).
enum class AuthMethod : std::uint8_t {
    RSA_SIG = 1,
    SHARED_KEY_MIC = 2,
    DSS_SIG = 3,
    DIGITAL_SIGNATURE = 14,
};

// CFG Type of the CP payload (§3.15).
enum class CfgType : std::uint8_t {
    CFG_REQUEST = 1,
    CFG_REPLY = 2,
    CFG_SET = 3,
    CFG_ACK = 4,
};

// Notify Message Types. Values < 16384 are errors, >= 16384 status.
enum class NotifyType : std::uint16_t {
    UNSUPPORTED_CRITICAL_PAYLOAD = 1,
    INVALID_IKE_SPI = 4,
    INVALID_MAJOR_VERSION = 5,
    INVALID_SYNTAX = 7,
    INVALID_MESSAGE_ID = 9,
    INVALID_SPI = 11,
    NO_PROPOSAL_CHOSEN = 14,
    INVALID_KE_PAYLOAD = 17,
    AUTHENTICATION_FAILED = 24,
    SINGLE_PAIR_REQUIRED = 34,
    NO_ADDITIONAL_SAS = 35,
    INTERNAL_ADDRESS_FAILURE = 36,
    FAILED_CP_REQUIRED = 37,
    TS_UNACCEPTABLE = 38,
    INVALID_SELECTORS = 39,
    TEMPORARY_FAILURE = 43,
    CHILD_SA_NOT_FOUND = 44,

    INITIAL_CONTACT = 16384,
    SET_WINDOW_SIZE = 16385,
    ADDITIONAL_TS_POSSIBLE = 16386,
    IPCOMP_SUPPORTED = 16387,
    NAT_DETECTION_SOURCE_IP = 16388,
    NAT_DETECTION_DESTINATION_IP = 16389,
    COOKIE = 16390,
    USE_TRANSPORT_MODE = 16391,
    HTTP_CERT_LOOKUP_SUPPORTED = 16392,
    REKEY_SA = 16393,
    ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
    NON_FIRST_FRAGMENTS_ALSO = 16395,
    MOBIKE_SUPPORTED = 16396,
    ADDITIONAL_IP4_ADDRESS = 16397,
    ADDITIONAL_IP6_ADDRESS = 16398,
    NO_ADDITIONAL_ADDRESSES = 16399,
    UPDATE_SA_ADDRESSES = 16400,
    COOKIE2 = 16401,
    NO_NATS_ALLOWED = 16402,
    AUTH_LIFETIME = 16403,
    MULTIPLE_AUTH_SUPPORTED = 16404,
    ANOTHER_AUTH_FOLLOWS = 16405,
    REDIRECT_SUPPORTED = 16406,
    REDIRECT = 16407,
    REDIRECTED_FROM = 16408,
    TICKET_LT_OPAQUE = 16409,
    TICKET_REQUEST = 16410,
    TICKET_ACK = 16411,
    TICKET_NACK = 16412,
    TICKET_OPAQUE = 16413,
    EAP_ONLY_AUTHENTICATION = 16417,
    CHILDLESS_IKEV2_SUPPORTED = 16418,
    IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
    IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
    IKEV2_MESSAGE_ID_SYNC = 16422,
    IPSEC_REPLAY_COUNTER_SYNC = 16423,
    SECURE_PASSWORD_METHODS = 16424,
    IKEV2_FRAGMENTATION_SUPPORTED = 16430,
    SIGNATURE_HASH_ALGORITHMS = 16431,
};

inline bool is_error_notify(std::uint16_t type) {
    return type < 16384;
}

// "SA", "Notify", ... ("unknown" for types this codec does not implement).
const char* payload_name(std::uint8_t type);
// "COOKIE", ... or nullptr for a value not in NotifyType.
const char* notify_name(std::uint16_t type);
// Every NotifyType value, ascending.
std::span<const NotifyType> all_notify_types();

}  // namespace ikecluster::wire
