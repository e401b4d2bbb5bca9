// Proposals on the wire (RFC 7296 §3.3) from configured ProposalSpecs, and
// the responder's choice (§2.7): one proposal of the initiator's with exactly
// one transform of each type, acceptable to our configuration.
#pragma once

#include <optional>
#include <vector>

#include "base/bytes.h"
#include "ike/proposal.h"
#include "ike/state.h"
#include "wire/payloads.h"

namespace ikecluster::ike {

// The SA payload we offer: proposals numbered from 1, each carrying `spi`
// (empty in IKE_SA_INIT, 8 octets for an IKE rekey, 4 for ESP).
wire::SaPayload make_sa_payload(const std::vector<ProposalSpec>& specs, const Bytes& spi);

// The outcome of negotiation for an IKE SA.
struct ChosenIke {
    wire::Proposal proposal;  // the single-transform-per-type proposal to send back
    IkeSuite suite;
};
// The outcome for a Child SA.
struct ChosenChild {
    wire::Proposal proposal;
    EncrAlg encr;
    IntegId integ = IntegId::NONE;
    DhId dh = DhId::NONE;  // PFS group, NONE without PFS
    bool esn = false;
    std::uint32_t peer_spi = 0;
};

// Responder side. Our configured order wins: the first of our proposals that
// one of the initiator's proposals satisfies is taken, with the algorithms in
// our preference order. nullopt = NO_PROPOSAL_CHOSEN.
std::optional<ChosenIke> choose_ike(const wire::SaPayload& offered,
                                    const std::vector<ProposalSpec>& ours);
std::optional<ChosenChild> choose_child(const wire::SaPayload& offered,
                                        const std::vector<ProposalSpec>& ours,
                                        bool require_pfs_match);

// Initiator side: the responder's answer must be exactly one proposal with
// one transform per type, and one of the things we offered (§2.7: anything
// else is a protocol error and the SA is abandoned).
std::optional<ChosenIke> accept_ike(const wire::SaPayload& answer,
                                    const std::vector<ProposalSpec>& offered);
std::optional<ChosenChild> accept_child(const wire::SaPayload& answer,
                                        const std::vector<ProposalSpec>& offered);

}  // namespace ikecluster::ike
