#include "ike/proposal.h"

#include <algorithm>
#include <array>

#include "base/text.h"

namespace ikecluster::ike {
namespace {

struct Token {
    std::string_view name;
    TransformType type;
    std::uint16_t id;
    std::uint16_t key_bits;
};

// The keyword set strongSwan documents for these algorithms (IKEv2 cipher
// suites page); aliases map to the same transform.
constexpr std::array kTokens = {
    Token{"aes128", TransformType::ENCR, 12, 128},
    Token{"aes", TransformType::ENCR, 12, 128},
    Token{"aes192", TransformType::ENCR, 12, 192},
    Token{"aes256", TransformType::ENCR, 12, 256},
    Token{"aes128gcm16", TransformType::ENCR, 20, 128},
    Token{"aes128gcm128", TransformType::ENCR, 20, 128},
    Token{"aes128gcm", TransformType::ENCR, 20, 128},
    Token{"aes192gcm16", TransformType::ENCR, 20, 192},
    Token{"aes192gcm128", TransformType::ENCR, 20, 192},
    Token{"aes192gcm", TransformType::ENCR, 20, 192},
    Token{"aes256gcm16", TransformType::ENCR, 20, 256},
    Token{"aes256gcm128", TransformType::ENCR, 20, 256},
    Token{"aes256gcm", TransformType::ENCR, 20, 256},
    Token{"chacha20poly1305", TransformType::ENCR, 28, 0},
    Token{"sha256", TransformType::INTEG, 12, 0},
    Token{"sha2_256", TransformType::INTEG, 12, 0},
    Token{"sha384", TransformType::INTEG, 13, 0},
    Token{"sha2_384", TransformType::INTEG, 13, 0},
    Token{"sha512", TransformType::INTEG, 14, 0},
    Token{"sha2_512", TransformType::INTEG, 14, 0},
    Token{"prfsha256", TransformType::PRF, 5, 0},
    Token{"prfsha384", TransformType::PRF, 6, 0},
    Token{"prfsha512", TransformType::PRF, 7, 0},
    Token{"modp2048", TransformType::DH, 14, 0},
    Token{"ecp256", TransformType::DH, 19, 0},
    Token{"ecp384", TransformType::DH, 20, 0},
    Token{"curve25519", TransformType::DH, 31, 0},
    Token{"x25519", TransformType::DH, 31, 0},
    Token{"esn", TransformType::ESN, 1, 0},
    Token{"noesn", TransformType::ESN, 0, 0},
};

bool is_aead_id(EncrId id) {
    return id == EncrId::AES_GCM_16 || id == EncrId::CHACHA20_POLY1305;
}

template <typename T>
void add_unique(std::vector<T>& v, T x) {
    if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

PrfId prf_for_integ(IntegId i) {
    switch (i) {
        case IntegId::HMAC_SHA2_384_192:
            return PrfId::HMAC_SHA2_384;
        case IntegId::HMAC_SHA2_512_256:
            return PrfId::HMAC_SHA2_512;
        default:
            return PrfId::HMAC_SHA2_256;
    }
}

std::string_view name_of(TransformType t, std::uint16_t id, std::uint16_t bits) {
    for (const Token& k : kTokens) {
        if (k.type == t && k.id == id && k.key_bits == bits) return k.name;
    }
    return "?";
}

}  // namespace

bool ProposalSpec::is_aead() const {
    return !encr.empty() &&
           std::all_of(encr.begin(), encr.end(), [](const EncrAlg& e) { return is_aead_id(e.id); });
}

std::string ProposalSpec::to_string() const {
    std::string out;
    auto add = [&](std::string_view s) {
        if (!out.empty()) out += '-';
        out += s;
    };
    for (auto& e : encr)
        add(name_of(TransformType::ENCR, std::uint16_t(e.id), e.key_bits));
    for (auto i : integ)
        add(name_of(TransformType::INTEG, std::uint16_t(i), 0));
    for (auto p : prf)
        add(name_of(TransformType::PRF, std::uint16_t(p), 0));
    for (auto d : dh)
        add(name_of(TransformType::DH, std::uint16_t(d), 0));
    if (kind == ProposalKind::ESP && !(esn.size() == 1 && esn[0] == EsnId::NO_ESN)) {
        for (auto e : esn)
            add(e == EsnId::ESN ? "esn" : "noesn");
    }
    return out;
}

Result<ProposalSpec> parse_proposal(std::string_view text, ProposalKind kind) {
    ProposalSpec p;
    p.kind = kind;
    const char* what = kind == ProposalKind::IKE ? "IKE" : "ESP";
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('-', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view tok = text.substr(pos, end - pos);
        if (tok.empty())
            return make_error(pos, std::string("empty algorithm in '") + std::string(text) + "'");
        auto it = std::find_if(kTokens.begin(), kTokens.end(),
                               [&](const Token& k) { return k.name == tok; });
        if (it == kTokens.end()) {
            return make_error(pos, "unknown algorithm '" + std::string(tok) + "' in " + what +
                                       " proposal '" + std::string(text) + "'");
        }
        switch (it->type) {
            case TransformType::ENCR:
                add_unique(p.encr, EncrAlg{EncrId(it->id), it->key_bits});
                break;
            case TransformType::INTEG:
                add_unique(p.integ, IntegId(it->id));
                break;
            case TransformType::PRF:
                if (kind == ProposalKind::ESP) {
                    return make_error(pos, "'" + std::string(tok) +
                                               "' is an IKE PRF, not valid in an ESP proposal");
                }
                add_unique(p.prf, PrfId(it->id));
                break;
            case TransformType::DH:
                add_unique(p.dh, DhId(it->id));
                break;
            case TransformType::ESN:
                if (kind == ProposalKind::IKE) {
                    return make_error(
                        pos, "'" + std::string(tok) + "' is only valid in an ESP proposal");
                }
                add_unique(p.esn, EsnId(it->id));
                break;
        }
        pos = end + 1;
    }
    if (p.encr.empty())
        return make_error(0, std::string(what) + " proposal '" + std::string(text) +
                                 "' has no encryption algorithm");
    bool any_aead =
        std::any_of(p.encr.begin(), p.encr.end(), [](auto& e) { return is_aead_id(e.id); });
    bool all_aead = p.is_aead();
    if (any_aead && !all_aead) {
        return make_error(0,
                          "proposal '" + std::string(text) + "' mixes AEAD and non-AEAD ciphers");
    }
    if (all_aead && !p.integ.empty()) {
        return make_error(0, "proposal '" + std::string(text) +
                                 "' gives an integrity algorithm to an AEAD cipher");
    }
    if (!all_aead && p.integ.empty()) {
        return make_error(0, "proposal '" + std::string(text) + "' needs an integrity algorithm");
    }
    if (kind == ProposalKind::IKE) {
        if (p.prf.empty()) {
            if (all_aead) {
                return make_error(0, "AEAD IKE proposal '" + std::string(text) +
                                         "' needs a PRF (e.g. prfsha256)");
            }
            for (auto i : p.integ)
                add_unique(p.prf, prf_for_integ(i));
        }
        if (p.dh.empty())
            return make_error(0, "IKE proposal '" + std::string(text) + "' needs a DH group");
    } else if (p.esn.empty()) {
        p.esn.push_back(EsnId::NO_ESN);
    }
    return p;
}

Result<std::vector<ProposalSpec>> parse_proposals(std::string_view text, ProposalKind kind) {
    std::vector<ProposalSpec> out;
    for (const ListItem& item : split_list(text, ',')) {
        auto p = parse_proposal(item.text, kind);
        if (!p) return Error{item.offset + p.error().offset, p.error().what};
        out.push_back(std::move(*p));
    }
    return out;
}

}  // namespace ikecluster::ike
