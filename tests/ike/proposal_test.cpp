#include <gtest/gtest.h>

#include "ike/proposal.h"

using namespace ikecluster;
using namespace ikecluster::ike;

TEST(Proposal, ParsesAeadIkeSuite) {
    auto p = parse_proposal("aes256gcm16-prfsha256-x25519", ProposalKind::IKE);
    ASSERT_TRUE(p.ok()) << p.error().what;
    EXPECT_TRUE(p->is_aead());
    ASSERT_EQ(p->encr.size(), 1u);
    EXPECT_EQ(p->encr[0], (EncrAlg{EncrId::AES_GCM_16, 256}));
    EXPECT_TRUE(p->integ.empty());
    EXPECT_EQ(p->prf, std::vector<PrfId>{PrfId::HMAC_SHA2_256});
    EXPECT_EQ(p->dh, std::vector<DhId>{DhId::CURVE25519});
    EXPECT_EQ(p->to_string(), "aes256gcm16-prfsha256-curve25519");
}

TEST(Proposal, ClassicIkeSuiteDerivesPrfFromInteg) {
    auto p = parse_proposal("aes128-sha256-modp2048", ProposalKind::IKE);
    ASSERT_TRUE(p.ok()) << p.error().what;
    EXPECT_FALSE(p->is_aead());
    EXPECT_EQ(p->encr[0], (EncrAlg{EncrId::AES_CBC, 128}));
    EXPECT_EQ(p->integ, std::vector<IntegId>{IntegId::HMAC_SHA2_256_128});
    EXPECT_EQ(p->prf, std::vector<PrfId>{PrfId::HMAC_SHA2_256});
    EXPECT_EQ(p->dh, std::vector<DhId>{DhId::MODP_2048});
}

TEST(Proposal, EspDefaultsAndEsn) {
    auto p = parse_proposal("aes256gcm16", ProposalKind::ESP);
    ASSERT_TRUE(p.ok()) << p.error().what;
    EXPECT_EQ(p->esn, std::vector<EsnId>{EsnId::NO_ESN});
    EXPECT_TRUE(p->dh.empty());
    auto q = parse_proposal("aes128-sha256-ecp256-esn-noesn", ProposalKind::ESP);
    ASSERT_TRUE(q.ok()) << q.error().what;
    EXPECT_EQ(q->dh, std::vector<DhId>{DhId::ECP_256});
    EXPECT_EQ(q->esn, (std::vector<EsnId>{EsnId::ESN, EsnId::NO_ESN}));
}

TEST(Proposal, AlternativesInOneProposal) {
    auto p = parse_proposal("aes128-aes256-sha256-sha384-modp2048-ecp384", ProposalKind::IKE);
    ASSERT_TRUE(p.ok()) << p.error().what;
    EXPECT_EQ(p->encr.size(), 2u);
    EXPECT_EQ(p->prf, (std::vector<PrfId>{PrfId::HMAC_SHA2_256, PrfId::HMAC_SHA2_384}));
    EXPECT_EQ(p->dh.size(), 2u);
}

TEST(Proposal, ErrorsNameTheProblem) {
    auto bad = parse_proposal("aes512-sha256-modp2048", ProposalKind::IKE);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().what.find("unknown algorithm 'aes512'"), std::string::npos);
    EXPECT_FALSE(parse_proposal("aes128-sha256", ProposalKind::IKE).ok());       // no DH
    EXPECT_FALSE(parse_proposal("aes256gcm16-x25519", ProposalKind::IKE).ok());  // AEAD without PRF
    EXPECT_FALSE(parse_proposal("aes256gcm16-sha256", ProposalKind::ESP).ok());  // AEAD + integ
    EXPECT_FALSE(parse_proposal("aes128", ProposalKind::ESP).ok());              // no integ
    EXPECT_FALSE(parse_proposal("aes128-aes128gcm16-sha256", ProposalKind::ESP).ok());  // mixed
    EXPECT_FALSE(parse_proposal("aes128--sha256", ProposalKind::ESP).ok());  // empty token
    EXPECT_FALSE(
        parse_proposal("aes128-sha256-esn-modp2048", ProposalKind::IKE).ok());        // esn in IKE
    EXPECT_FALSE(parse_proposal("aes128-sha256-prfsha256", ProposalKind::ESP).ok());  // prf in ESP
}

TEST(Proposal, ListWithOffsets) {
    auto l =
        parse_proposals("aes256gcm16-prfsha256-x25519, aes128-sha256-modp2048", ProposalKind::IKE);
    ASSERT_TRUE(l.ok()) << l.error().what;
    EXPECT_EQ(l->size(), 2u);
    auto bad = parse_proposals("aes128-sha256-modp2048,aes128-bogus-modp2048", ProposalKind::IKE);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().offset, 23u + 7u);
}
