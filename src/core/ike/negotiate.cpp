#include "ike/negotiate.h"

#include <algorithm>

#include "base/buffer.h"

namespace ikecluster::ike {
namespace {

using wire::Attribute;
using wire::Proposal;
using wire::Transform;

Transform encr_transform(const EncrAlg& e) {
    Transform t{TransformType::ENCR, std::uint16_t(e.id), {}};
    if (e.key_bits != 0) t.attributes.push_back(Attribute{kAttrKeyLength, true, e.key_bits, {}});
    return t;
}

Proposal to_wire(const ProposalSpec& p, std::uint8_t number, const Bytes& spi) {
    Proposal w;
    w.number = number;
    w.protocol = p.kind == ProposalKind::IKE ? ProtocolId::IKE : ProtocolId::ESP;
    w.spi = spi;
    for (auto& e : p.encr)
        w.transforms.push_back(encr_transform(e));
    for (auto prf : p.prf)
        w.transforms.push_back(Transform{TransformType::PRF, std::uint16_t(prf), {}});
    for (auto i : p.integ)
        w.transforms.push_back(Transform{TransformType::INTEG, std::uint16_t(i), {}});
    for (auto d : p.dh)
        w.transforms.push_back(Transform{TransformType::DH, std::uint16_t(d), {}});
    for (auto e : p.esn)
        w.transforms.push_back(Transform{TransformType::ESN, std::uint16_t(e), {}});
    return w;
}

bool offers(const Proposal& p, TransformType type, std::uint16_t id, std::uint16_t key_bits = 0) {
    for (const Transform& t : p.transforms) {
        if (t.type != type || t.id != id) continue;
        if (type == TransformType::ENCR && t.key_length().value_or(0) != key_bits) continue;
        return true;
    }
    return false;
}

bool has_type(const Proposal& p, TransformType type) {
    return std::any_of(p.transforms.begin(), p.transforms.end(),
                       [&](const Transform& t) { return t.type == type; });
}

// Every transform in `p` must be of a type/algorithm we know, or we could not
// honour it; unknown attributes on a transform make it unusable (§3.3.6).
bool attributes_ok(const Transform& t) {
    for (const Attribute& a : t.attributes) {
        if (!(a.type == kAttrKeyLength && a.tv && t.type == TransformType::ENCR)) return false;
    }
    return true;
}

struct Pick {
    std::optional<EncrAlg> encr;
    std::optional<IntegId> integ;
    std::optional<PrfId> prf;
    std::optional<DhId> dh;
    std::optional<EsnId> esn;
};

// Our spec against one of their proposals: our preference order per type.
std::optional<Pick> match(const ProposalSpec& ours, const Proposal& theirs) {
    for (const Transform& t : theirs.transforms) {
        if (!attributes_ok(t)) return std::nullopt;
    }
    Pick k;
    for (auto& e : ours.encr) {
        if (offers(theirs, TransformType::ENCR, std::uint16_t(e.id), e.key_bits)) {
            k.encr = e;
            break;
        }
    }
    if (!k.encr) return std::nullopt;
    if (!ours.integ.empty()) {
        for (auto i : ours.integ) {
            if (offers(theirs, TransformType::INTEG, std::uint16_t(i))) {
                k.integ = i;
                break;
            }
        }
        if (!k.integ) return std::nullopt;
    } else if (has_type(theirs, TransformType::INTEG) && !offers(theirs, TransformType::INTEG, 0)) {
        return std::nullopt;  // AEAD with a mandatory integrity algorithm: not for us
    }
    if (ours.kind == ProposalKind::IKE) {
        for (auto p : ours.prf) {
            if (offers(theirs, TransformType::PRF, std::uint16_t(p))) {
                k.prf = p;
                break;
            }
        }
        if (!k.prf) return std::nullopt;
    }
    if (!ours.dh.empty()) {
        for (auto d : ours.dh) {
            if (offers(theirs, TransformType::DH, std::uint16_t(d))) {
                k.dh = d;
                break;
            }
        }
        if (!k.dh) return std::nullopt;
    } else if (has_type(theirs, TransformType::DH) && !offers(theirs, TransformType::DH, 0)) {
        return std::nullopt;  // they insist on PFS, we are configured without
    }
    if (ours.kind == ProposalKind::ESP) {
        for (auto e : ours.esn) {
            if (offers(theirs, TransformType::ESN, std::uint16_t(e)) ||
                (e == EsnId::NO_ESN && !has_type(theirs, TransformType::ESN))) {
                k.esn = e;
                break;
            }
        }
        if (!k.esn) return std::nullopt;
    }
    return k;
}

Proposal answer(const Proposal& theirs, const Pick& k, const Bytes& spi) {
    Proposal a;
    a.number = theirs.number;  // §3.3.1: the accepted proposal keeps its number
    a.protocol = theirs.protocol;
    a.spi = spi;
    a.transforms.push_back(encr_transform(*k.encr));
    if (k.prf) a.transforms.push_back(Transform{TransformType::PRF, std::uint16_t(*k.prf), {}});
    if (k.integ)
        a.transforms.push_back(Transform{TransformType::INTEG, std::uint16_t(*k.integ), {}});
    if (k.dh) a.transforms.push_back(Transform{TransformType::DH, std::uint16_t(*k.dh), {}});
    if (k.esn) a.transforms.push_back(Transform{TransformType::ESN, std::uint16_t(*k.esn), {}});
    return a;
}

// One transform per type and nothing we did not know about.
bool single_choice(const Proposal& p) {
    int counts[6] = {};
    for (const Transform& t : p.transforms) {
        int ty = int(t.type);
        if (ty < 1 || ty > 5 || ++counts[ty] > 1) return false;
    }
    return counts[1] == 1;
}

}  // namespace

wire::SaPayload make_sa_payload(const std::vector<ProposalSpec>& specs, const Bytes& spi) {
    wire::SaPayload sa;
    std::uint8_t n = 1;
    for (const ProposalSpec& p : specs)
        sa.proposals.push_back(to_wire(p, n++, spi));
    return sa;
}

std::optional<ChosenIke> choose_ike(const wire::SaPayload& offered,
                                    const std::vector<ProposalSpec>& ours) {
    for (const ProposalSpec& spec : ours) {
        for (const Proposal& p : offered.proposals) {
            if (p.protocol != ProtocolId::IKE) continue;
            // §3.3.1: IKE_SA_INIT proposals carry no SPI; a rekey carries 8 octets.
            if (!p.spi.empty() && p.spi.size() != 8) continue;
            auto k = match(spec, p);
            if (!k) continue;
            ChosenIke c;
            c.proposal = answer(p, *k, {});
            c.suite = IkeSuite{*k->encr, k->integ.value_or(IntegId::NONE), *k->prf, *k->dh};
            return c;
        }
    }
    return std::nullopt;
}

std::optional<ChosenChild> choose_child(const wire::SaPayload& offered,
                                        const std::vector<ProposalSpec>& ours,
                                        bool require_pfs_match) {
    for (const ProposalSpec& spec0 : ours) {
        ProposalSpec spec = spec0;
        if (!require_pfs_match) spec.dh.clear();  // IKE_AUTH: the first child never does PFS (§1.2)
        for (const Proposal& p : offered.proposals) {
            if (p.protocol != ProtocolId::ESP || p.spi.size() != 4) continue;
            Proposal q = p;
            if (!require_pfs_match) {
                // Ignore DH transforms in IKE_AUTH (RFC 7296 §1.2: no KE there).
                q.transforms.erase(
                    std::remove_if(q.transforms.begin(), q.transforms.end(),
                                   [](const Transform& t) { return t.type == TransformType::DH; }),
                    q.transforms.end());
            }
            auto k = match(spec, q);
            if (!k) continue;
            ChosenChild c;
            c.encr = *k->encr;
            c.integ = k->integ.value_or(IntegId::NONE);
            c.dh = k->dh.value_or(DhId::NONE);
            c.esn = k->esn == EsnId::ESN;
            c.peer_spi = load_be32(p.spi.data());
            c.proposal = answer(p, *k, {});
            return c;
        }
    }
    return std::nullopt;
}

std::optional<ChosenIke> accept_ike(const wire::SaPayload& ans,
                                    const std::vector<ProposalSpec>& offered) {
    if (ans.proposals.size() != 1 || !single_choice(ans.proposals[0])) return std::nullopt;
    const Proposal& p = ans.proposals[0];
    if (p.protocol != ProtocolId::IKE || p.number == 0 || p.number > offered.size())
        return std::nullopt;
    auto k = match(offered[p.number - 1], p);
    if (!k) return std::nullopt;
    return ChosenIke{p, IkeSuite{*k->encr, k->integ.value_or(IntegId::NONE), *k->prf, *k->dh}};
}

std::optional<ChosenChild> accept_child(const wire::SaPayload& ans,
                                        const std::vector<ProposalSpec>& offered) {
    if (ans.proposals.size() != 1 || !single_choice(ans.proposals[0])) return std::nullopt;
    const Proposal& p = ans.proposals[0];
    if (p.protocol != ProtocolId::ESP || p.spi.size() != 4 || p.number == 0 ||
        p.number > offered.size()) {
        return std::nullopt;
    }
    auto k = match(offered[p.number - 1], p);
    if (!k) return std::nullopt;
    ChosenChild c;
    c.proposal = p;
    c.encr = *k->encr;
    c.integ = k->integ.value_or(IntegId::NONE);
    c.dh = k->dh.value_or(DhId::NONE);
    c.esn = k->esn == EsnId::ESN;
    c.peer_spi = load_be32(p.spi.data());
    return c;
}

}  // namespace ikecluster::ike
