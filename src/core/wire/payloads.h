// One struct per IKEv2 payload (RFC 7296 §3, RFC 7383 §2.5). Each holds the
// payload's body, i.e. everything after the 4-octet generic payload header
// (§3.2), which `Payload` carries as `type` and `critical`:
//
//                        1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Next Payload  |C|  RESERVED   |         Payload Length        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RESERVED fields are sent as zero and ignored on receipt (§3.2), so
// decode(encode(x)) == x, and encode(decode(y)) == y for every y whose
// reserved bits are zero. Lengths and Next Payload fields are computed by the
// encoder and are not stored. The encoder trusts the caller for sizes (every
// payload must stay below 65536 octets, SPIs and addresses must have the
// sizes their type implies); the decoder trusts nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "base/bytes.h"
#include "base/iana.h"
#include "wire/constants.h"

namespace ikecluster::wire {

// §3.3.5 Transform attribute. AF=1 (TV): a 16-bit value in place of the
// length; AF=0 (TLV): a length and a variable value.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |A|       Attribute Type        |    AF=0  Attribute Length     |
//   |F|                             |    AF=1  Attribute Value      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                   AF=0  Attribute Value                       |
//   |                   AF=1  Not Transmitted                       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct Attribute {
    std::uint16_t type = 0;  // 15 bits
    bool tv = true;
    std::uint16_t tv_value = 0;  // when tv
    Bytes value;                 // when !tv
    friend bool operator==(const Attribute&, const Attribute&) = default;
};

// §3.3.2 Transform substructure. Last Substruc is 0 for the last transform
// of a proposal, 3 otherwise.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Last Substruc |   RESERVED    |        Transform Length       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Transform Type |   RESERVED    |          Transform ID         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                      Transform Attributes                     ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct Transform {
    TransformType type = TransformType::ENCR;
    std::uint16_t id = 0;
    std::vector<Attribute> attributes;

    // The Key Length attribute (§3.3.5), if present.
    std::optional<std::uint16_t> key_length() const;
    friend bool operator==(const Transform&, const Transform&) = default;
};

// §3.3.1 Proposal substructure. Last Substruc is 0 for the last proposal of
// the SA payload, 2 otherwise; the transform count must agree with the
// transforms' own markers.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Last Substruc |   RESERVED    |         Proposal Length       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                        SPI (variable)                         ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                        <Transforms>                           ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct Proposal {
    std::uint8_t number = 1;
    ProtocolId protocol = ProtocolId::IKE;
    Bytes spi;  // 0 (IKE_SA_INIT), 8 (IKE rekey) or 4 (ESP/AH) octets
    std::vector<Transform> transforms;
    friend bool operator==(const Proposal&, const Proposal&) = default;
};

// §3.3 Security Association payload: one or more proposals.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                          <Proposals>                          ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct SaPayload {
    std::vector<Proposal> proposals;
    friend bool operator==(const SaPayload&, const SaPayload&) = default;
};

// §3.4 Key Exchange payload.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   Diffie-Hellman Group Num    |           RESERVED            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                       Key Exchange Data                       ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct KePayload {
    std::uint16_t dh_group = 0;
    Bytes data;
    friend bool operator==(const KePayload&, const KePayload&) = default;
};

// §3.5 Identification payloads (IDi and IDr). ID_IPV4_ADDR must carry 4
// octets and ID_IPV6_ADDR 16; other types are opaque here.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   ID Type     |                 RESERVED                      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                   Identification Data                         ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct IdPayload {
    std::uint8_t id_type = std::uint8_t(IdType::FQDN);
    Bytes data;
    friend bool operator==(const IdPayload&, const IdPayload&) = default;
};

// §3.6 Certificate and §3.7 Certificate Request payloads (no RESERVED
// octets: the data follows the encoding directly).
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Cert Encoding |                                               |
//   +-+-+-+-+-+-+-+-+                                               |
//   ~       Certificate Data / Certification Authority              ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct CertPayload {
    std::uint8_t encoding = 4;  // X.509 Certificate - Signature
    Bytes data;
    friend bool operator==(const CertPayload&, const CertPayload&) = default;
};

// §3.8 Authentication payload.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Auth Method   |                RESERVED                       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                      Authentication Data                      ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct AuthPayload {
    std::uint8_t method = std::uint8_t(AuthMethod::SHARED_KEY_MIC);
    Bytes data;
    friend bool operator==(const AuthPayload&, const AuthPayload&) = default;
};

// §3.9 Nonce payload: "between 16 and 256 octets, inclusive".
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                            Nonce Data                         ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
inline constexpr std::size_t kMinNonceSize = 16;
inline constexpr std::size_t kMaxNonceSize = 256;
struct NoncePayload {
    Bytes nonce;
    friend bool operator==(const NoncePayload&, const NoncePayload&) = default;
};

// §3.10 Notify payload. The SPI field is only used by INVALID_SELECTORS,
// REKEY_SA and CHILD_SA_NOT_FOUND; with no SPI the protocol is sent as 0.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Protocol ID  |   SPI Size    |      Notify Message Type      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                Security Parameter Index (SPI)                 ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                       Notification Data                       ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct NotifyPayload {
    ProtocolId protocol = ProtocolId::NONE;
    std::uint16_t type = 0;
    Bytes spi;
    Bytes data;
    NotifyType notify_type() const { return NotifyType(type); }
    friend bool operator==(const NotifyPayload&, const NotifyPayload&) = default;
};

// §3.11 Delete payload. For the IKE SA, SPI Size and Num of SPIs are 0 (the
// SA is the one the message travels on); ESP/AH SPIs are 4 octets.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Protocol ID   |   SPI Size    |          Num of SPIs          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~               Security Parameter Index(es) (SPI)              ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct DeletePayload {
    ProtocolId protocol = ProtocolId::ESP;
    std::uint8_t spi_size = 4;
    std::vector<Bytes> spis;  // each spi_size octets
    friend bool operator==(const DeletePayload&, const DeletePayload&) = default;
};

// §3.12 Vendor ID payload.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                        Vendor ID (VID)                        ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct VendorPayload {
    Bytes id;
    friend bool operator==(const VendorPayload&, const VendorPayload&) = default;
};

// §3.13.1 one Traffic Selector. Selector Length is 16 for
// TS_IPV4_ADDR_RANGE (7) and 40 for TS_IPV6_ADDR_RANGE (8).
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   TS Type     |IP Protocol ID*|       Selector Length         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           Start Port*         |           End Port*           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                         Starting Address*                     ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                         Ending Address*                       ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
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
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Number of TSs |                 RESERVED                      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                       <Traffic Selectors>                     ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct TsPayload {
    std::vector<TsEntry> selectors;
    friend bool operator==(const TsPayload&, const TsPayload&) = default;
};

// §3.14 Encrypted payload. The body (IV | ciphertext | ICV) stays opaque
// here; `first_inner` is the Next Payload field of the SK generic header,
// i.e. the type of the first payload inside. It is always the last payload
// of a message (its body runs to the end of the message).
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                     Initialization Vector                     |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                    Encrypted IKE Payloads                     ~
//   +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |               |             Padding (0-255 octets)            |
//   +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
//   |                                               |  Pad Length   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                    Integrity Checksum Data                    ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct SkPayload {
    std::uint8_t first_inner = 0;
    Bytes body;
    friend bool operator==(const SkPayload&, const SkPayload&) = default;
};

// RFC 7383 §2.5 Encrypted Fragment payload: 1 <= Fragment Number <= Total
// Fragments. `first_inner` is meaningful only in fragment 1 (0 in the
// others). The body after the two counters is kept raw, like SK's.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |        Fragment Number        |        Total Fragments        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                     Initialization Vector                     |
//   ~                      Encrypted content                        ~
//   ~                    Integrity Checksum Data                    ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct SkfPayload {
    std::uint8_t first_inner = 0;
    std::uint16_t fragment_number = 1;
    std::uint16_t total_fragments = 1;
    Bytes body;
    friend bool operator==(const SkfPayload&, const SkfPayload&) = default;
};

// §3.15 Configuration payload and §3.15.1 its attributes.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   CFG Type    |                    RESERVED                   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                   Configuration Attributes                    ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// each attribute:
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |R|         Attribute Type      |            Length             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                             Value                             ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct CpAttribute {
    std::uint16_t type = 0;  // 15 bits
    Bytes value;
    friend bool operator==(const CpAttribute&, const CpAttribute&) = default;
};
struct CpPayload {
    std::uint8_t cfg_type = std::uint8_t(CfgType::CFG_REQUEST);
    std::vector<CpAttribute> attributes;
    friend bool operator==(const CpPayload&, const CpPayload&) = default;
};

// §3.16 EAP payload: one whole EAP message (RFC 3748 §4). Its Length must
// equal the payload body size. Request/Response (1/2) and Initiate/Finish
// (5/6, RFC 6696) carry a Type; Success/Failure (3/4) do not.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Code      | Identifier    |           Length              |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      | Type_Data...
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
struct EapPayload {
    std::uint8_t code = 1;
    std::uint8_t identifier = 0;
    std::optional<std::uint8_t> type;  // present exactly for codes 1, 2, 5, 6
    Bytes data;
    friend bool operator==(const EapPayload&, const EapPayload&) = default;
};

// A payload type this codec does not implement, kept raw so the message
// re-encodes byte-exactly. With the critical bit set it makes the message
// unacceptable (RFC 7296 §2.5; see Message::unsupported_critical()).
struct UnknownPayload {
    Bytes body;
    friend bool operator==(const UnknownPayload&, const UnknownPayload&) = default;
};

using PayloadBody =
    std::variant<SaPayload, KePayload, IdPayload, CertPayload, AuthPayload, NoncePayload,
                 NotifyPayload, DeletePayload, VendorPayload, TsPayload, SkPayload, SkfPayload,
                 CpPayload, EapPayload, UnknownPayload>;

// One payload of a chain: the generic header's type and critical bit, and
// the typed body. `type` tells apart the payloads that share a body struct
// (IDi/IDr, TSi/TSr, CERT/CERTREQ); for an UnknownPayload it is the raw type.
struct Payload {
    PayloadType type = PayloadType::NONE;
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

// Pairs a type with its body, critical bit clear.
Payload make_payload(PayloadType type, PayloadBody body);

// Encodes one payload's body (everything after the generic header). This is
// also what AUTH signs for IDi/IDr (§2.15: the ID payload without its
// generic header).
void encode_body(const Payload& p, Bytes& out);

}  // namespace ikecluster::wire
