// Algorithm proposals as configured, in strongSwan's proposal syntax:
//   IKE: "aes256gcm16-prfsha256-x25519", "aes128-sha256-modp2048"
//   ESP: "aes256gcm16", "aes128-sha256", "aes128gcm16-x25519-esn"
// Tokens are separated by '-'; several tokens of one transform type in one
// proposal offer alternatives (e.g. "aes128-aes256-sha256-modp2048-ecp256").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/iana.h"
#include "base/result.h"

namespace ikecluster::ike {

enum class ProposalKind { IKE, ESP };

struct EncrAlg {
    EncrId id;
    std::uint16_t key_bits;  // 0 for fixed-size algorithms (ChaCha20-Poly1305)
    friend bool operator==(const EncrAlg&, const EncrAlg&) = default;
};

// One proposal: each vector lists acceptable algorithms in preference order.
struct ProposalSpec {
    ProposalKind kind = ProposalKind::IKE;
    std::vector<EncrAlg> encr;
    std::vector<IntegId> integ;  // empty for AEAD-only proposals
    std::vector<PrfId> prf;      // IKE only
    std::vector<DhId> dh;        // IKE: required; ESP: optional (PFS groups)
    std::vector<EsnId> esn;      // ESP only; defaults to {NO_ESN}

    bool is_aead() const;
    std::string to_string() const;  // canonical strongSwan-style text
    friend bool operator==(const ProposalSpec&, const ProposalSpec&) = default;
};

// Parses one proposal. Errors name the offending token ("unknown algorithm
// 'aes512'", "IKE proposal needs a DH group"). Rules (as strongSwan applies
// them): an AEAD cipher may not be mixed with classic ciphers in one proposal
// and takes no integrity algorithm; an IKE proposal without an explicit PRF
// takes the PRFs matching its integrity algorithms; an ESP proposal without
// esn/noesn offers no ESN.
Result<ProposalSpec> parse_proposal(std::string_view text, ProposalKind kind);

// Parses a comma-separated list of proposals.
Result<std::vector<ProposalSpec>> parse_proposals(std::string_view text, ProposalKind kind);

}  // namespace ikecluster::ike
