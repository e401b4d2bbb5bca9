// One struct per IKEv2 payload (RFC 7296 §3, RFC 7383 §2.5). Each holds the
// payload's body, i.e. everything after the 4-octet generic payload header:
//
//                        1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Next Payload  |C|  RESERVED   |         Payload Length        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RESERVED fields are sent as zero and ignored on receipt (§3.2), so
// decode(encode(x)) == x and encode(decode(y)) == y for every y a conforming
// peer sends.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "base/bytes.h"
#include "base/iana.h"
#include "wire/constants.h"

namespace ikecluster::wire {

// §3.3.5 Transform attribute. AF=1 (TV): 16-bit value in the header; AF=0
// (TLV): a length and a variable value.
//   |A|       Attribute Type        |    AF=0  Attribute Length     |
//   |F|                             |    AF=1  Attribute Value      |
//   |                   AF=0  Attribute Value (TLV only)            |
struct Attribute {
    std::uint16_t type = 0;  // 15 bits
    bool tv = true;
    std::uint16_t tv_value = 0;  // when tv
    Bytes value;                 // when !tv
    friend bool operator==(const Attribute&, const Attribute&) = default;
};

// §3.3.2 Transform substructure.
//   | Last Substruc |   RESERVED    |        Transform Length       |
//   |Transform Type |   RESERVED    |          Transform ID         |
//   ~                      Transform Attributes                     ~
struct Transform {
    TransformType type = TransformType::ENCR;
    std::uint16_t id = 0;
    std::vector<Attribute> attributes;

    // The Key Length attribute (§3.3.5), if present.
    std::optional<std::uint16_t> key_length() const;
    friend bool operator==(const Transform&, const Transform&) = default;
};

// §3.3.1 Proposal substructure.
//   | Last Substruc |   RESERVED    |         Proposal Length       |
//   | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
//   ~                        SPI (variable)                         ~
//   ~                        <Transforms>                           ~
struct Proposal {
    std::uint8_t number = 1;
    ProtocolId protocol = ProtocolId::IKE;
    Bytes spi;  // 0 (IKE_SA_INIT), 8 (IKE rekey) or 4 (ESP/AH) octets
    std::vector<Transform> transforms;
    friend bool operator==(const Proposal&, const Proposal&) = default;
};

// §3.3 Security Association payload: a list of proposals.
struct SaPayload {
    std::vector<Proposal> proposals;
    friend bool operator==(const SaPayload&, const SaPayload&) = default;
};

// §3.4 Key Exchange payload.
//   |   Diffie-Hellman Group Num    |           RESERVED            |
//   ~                       Key Exchange Data                       ~
struct KePayload {
    std::uint16_t dh_group = 0;
    Bytes data;
    friend bool operator==(const KePayload&, const KePayload&) = default;
};

// §3.5 Identification payloads (IDi and IDr).
//   |   ID Type     |                 RESERVED                      |
//   ~                   Identification Data                         ~
struct IdPayload {
    std::uint8_t id_type = 2;
    Bytes data;
    friend bool operator==(const IdPayload&, const IdPayload&) = default;
};

// §3.6 Certificate and §3.7 Certificate Request payloads.
//   | Cert Encoding |                                               |
//   ~                 Certificate Data / Certification Authority    ~
struct CertPayload {
    std::uint8_t encoding = 4;  // X.509 Certificate - Signature
    Bytes data;
    friend bool operator==(const CertPayload&, const CertPayload&) = default;
};

// §3.8 Authentication payload.
//   | Auth Method   |                RESERVED                       |
//   ~                      Authentication Data                      ~
struct AuthPayload {
    std::uint8_t method = 2;  // Shared Key Message Integrity Code
    Bytes data;
    friend bool operator==(const AuthPayload&, const AuthPayload&) = default;
};

// §3.9 Nonce payload: 16..256 octets of nonce data.
struct NoncePayload {
    Bytes nonce;
    friend bool operator==(const NoncePayload&, const NoncePayload&) = default;
};

// §3.10 Notify payload.
//   |  Protocol ID  |   SPI Size    |      Notify Message Type      |
//   ~                Security Parameter Index (SPI)                 ~
//   ~                       Notification Data                       ~
struct NotifyPayload {
    ProtocolId protocol = ProtocolId::NONE;
    std::uint16_t type = 0;
    Bytes spi;
    Bytes data;
    NotifyType notify_type() const { return NotifyType(type); }
    friend bool operator==(const NotifyPayload&, const NotifyPayload&) = default;
};

// §3.11 Delete payload.
//   | Protocol ID   |   SPI Size    |          Num of SPIs          |
//   ~               Security Parameter Index(es) (SPI)              ~
struct DeletePayload {
    ProtocolId protocol = ProtocolId::ESP;
    std::uint8_t spi_size = 4;  // 0 for IKE (the SA is the one the message is on)
    std::vector<Bytes> spis;
    friend bool operator==(const DeletePayload&, const DeletePayload&) = default;
};

// §3.12 Vendor ID payload.
struct VendorPayload {
    Bytes id;
    friend bool operator==(const VendorPayload&, const VendorPayload&) = default;
};

// §3.13.1 one Traffic Selector.
//   |   TS Type     |IP Protocol ID*|       Selector Length         |
//   |           Start Port*         |           End Port*           |
//   ~                         Starting Address*                     ~
//   ~                         Ending Address*                       ~
enum class TsType : std::uint8_t { IPV4_ADDR_RANGE = 7, IPV6_ADDR_RANGE = 8 };
struct TsEntry {
    TsType type = TsType::IPV4_ADDR_RANGE;
    std::uint8_t ip_proto = 0;
    std::uint16_t start_port = 0;
    std::uint16_t end_port = 65535;
    Bytes start_addr;  // 4 or 16 octets, matching `type`
    Bytes end_addr;
    friend bool operator==(const TsEntry&, const TsEntry&) = default;
};

// §3.13 Traffic Selector payloads (TSi and TSr).
//   | Number of TSs |                 RESERVED                      |
//   ~                       <Traffic Selectors>                     ~
struct TsPayload {
    std::vector<TsEntry> selectors;
    friend bool operator==(const TsPayload&, const TsPayload&) = default;
};

// §3.14 Encrypted payload. The body (IV | ciphertext | ICV) stays opaque here;
// `first_inner` is the Next Payload field of the SK header, i.e. the type of
// the first payload inside. It is always the last payload of a message.
struct SkPayload {
    std::uint8_t first_inner = 0;
    Bytes body;
    friend bool operator==(const SkPayload&, const SkPayload&) = default;
};

// RFC 7383 §2.5 Encrypted Fragment payload.
//   |        Fragment Number        |        Total Fragments        |
//   |                    Initialization Vector ...                  |
// `first_inner` is meaningful only in fragment 1 (0 in the others).
struct SkfPayload {
    std::uint8_t first_inner = 0;
    std::uint16_t fragment_number = 1;
    std::uint16_t total_fragments = 1;
    Bytes body;
    friend bool operator==(const SkfPayload&, const SkfPayload&) = default;
};

// §3.15 Configuration payload.
//   |   CFG Type    |                    RESERVED                   |
//   ~                   Configuration Attributes                    ~
// each attribute:
//   |R|         Attribute Type      |            Length             |
//   ~                             Value                             ~
struct CpAttribute {
    std::uint16_t type = 0;  // 15 bits
    Bytes value;
    friend bool operator==(const CpAttribute&, const CpAttribute&) = default;
};
struct CpPayload {
    std::uint8_t cfg_type = 1;  // CFG_REQUEST
    std::vector<CpAttribute> attributes;
    friend bool operator==(const CpPayload&, const CpPayload&) = default;
};

// §3.16 EAP payload: one whole EAP message (RFC 3748):
//   |     Code      | Identifier    |           Length              |
//   |     Type      | Type_Data...
// Length must equal the payload body size; Request/Response (1/2) carry Type.
struct EapPayload {
    std::uint8_t code = 1;
    std::uint8_t identifier = 0;
    std::optional<std::uint8_t> type;  // absent for Success/Failure
    Bytes data;
    friend bool operator==(const EapPayload&, const EapPayload&) = default;
};

// A payload type we do not implement, kept raw so the message re-encodes
// byte-exactly; with the critical bit set it makes the message unacceptable
// (RFC 7296 §2.5).
struct UnknownPayload {
    Bytes body;
    friend bool operator==(const UnknownPayload&, const UnknownPayload&) = default;
};

using PayloadBody =
    std::variant<SaPayload, KePayload, IdPayload, CertPayload, AuthPayload, NoncePayload,
                 NotifyPayload, DeletePayload, VendorPayload, TsPayload, SkPayload, SkfPayload,
                 CpPayload, EapPayload, UnknownPayload>;

struct Payload {
    PayloadType type = PayloadType::NONE;  // IDi vs IDr, TSi vs TSr, CERT vs CERTREQ ...
    bool critical = false;
    PayloadBody body;

    template <typename T>
    const T* as() const {
        return std::get_if<T>(&body);
    }
    template <typename T>
    T* as() {
        return std::get_if<T>(&body);
    }
    friend bool operator==(const Payload&, const Payload&) = default;
};

// Convenience constructors that pair the type with the right body.
Payload make_payload(PayloadType type, PayloadBody body);

}  // namespace ikecluster::wire
