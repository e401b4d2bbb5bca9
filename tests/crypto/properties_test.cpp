// Property tests (rapidcheck): round trips and "never crash, always an
// Error" on arbitrary peer input.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "crypto/dh.h"
#include "crypto/keys.h"
#include "crypto/prf.h"
#include "crypto/sk_cipher.h"

namespace ikecluster::crypto {
namespace {

struct SuiteChoice {
    EncrId encr;
    std::uint16_t bits;
    IntegId integ;
};

const SuiteChoice kChoices[] = {
    {EncrId::AES_GCM_16, 128, IntegId::NONE},
    {EncrId::AES_GCM_16, 256, IntegId::NONE},
    {EncrId::CHACHA20_POLY1305, 0, IntegId::NONE},
    {EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128},
    {EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_384_192},
    {EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_512_256},
};

RC_GTEST_PROP(SkCipherProperty, SealOpenRoundTripAndBitFlips,
              (const std::vector<std::uint8_t>& inner, const std::vector<std::uint8_t>& aad,
               std::uint64_t seed)) {
    const auto& c = kChoices[*rc::gen::inRange<std::size_t>(0, std::size(kChoices))];
    DeterministicRandom rng(seed);
    Bytes ek = rng.bytes(encr_key_size(c.encr, c.bits));
    Bytes ik = rng.bytes(integ_key_size(c.integ));
    auto sk = SkCipher::create(c.encr, c.bits, c.integ, ek, ik);
    RC_ASSERT(sk.ok());
    Bytes body = (*sk)->seal(aad, inner, rng);
    RC_ASSERT(body.size() == (*sk)->sealed_size(inner.size()));
    auto back = (*sk)->open(aad, body);
    RC_ASSERT(back.ok());
    RC_ASSERT(*back == inner);

    const auto pos = *rc::gen::inRange<std::size_t>(0, body.size());
    const auto bit = *rc::gen::inRange(0, 8);
    Bytes bad = body;
    bad[pos] ^= static_cast<std::uint8_t>(1u << bit);
    RC_ASSERT(!(*sk)->open(aad, bad).ok());
}

RC_GTEST_PROP(SkCipherProperty, ArbitraryBodiesNeverCrash,
              (const std::vector<std::uint8_t>& body, std::uint64_t seed)) {
    const auto& c = kChoices[*rc::gen::inRange<std::size_t>(0, std::size(kChoices))];
    DeterministicRandom rng(seed);
    auto sk = SkCipher::create(c.encr, c.bits, c.integ, rng.bytes(encr_key_size(c.encr, c.bits)),
                               rng.bytes(integ_key_size(c.integ)));
    RC_ASSERT(sk.ok());
    RC_ASSERT(!(*sk)->open(Bytes(28, 0), body).ok());
}

RC_GTEST_PROP(PrfPlusProperty, ShorterIsPrefix,
              (const std::vector<std::uint8_t>& key, const std::vector<std::uint8_t>& seed)) {
    const auto n = *rc::gen::inRange<std::size_t>(0, 400);
    const auto m = *rc::gen::inRange<std::size_t>(n, 600);
    Prf prf(PrfId::HMAC_SHA2_384);
    auto a = prf.prf_plus(key, seed, n);
    auto b = prf.prf_plus(key, seed, m);
    RC_ASSERT(a.ok() && b.ok());
    RC_ASSERT(a->size() == n);
    RC_ASSERT(std::equal(a->begin(), a->end(), b->begin()));
}

RC_GTEST_PROP(KeyExchangeProperty, ArbitraryPeerValuesGiveErrorOrSecret,
              (const std::vector<std::uint8_t>& extra, std::uint64_t seed)) {
    const DhId groups[] = {DhId::ECP_256, DhId::ECP_384, DhId::CURVE25519, DhId::MODP_2048};
    const DhId g = groups[*rc::gen::inRange<std::size_t>(0, std::size(groups))];
    DeterministicRandom rng(seed);
    auto ke = make_key_exchange(g, rng);
    RC_ASSERT(ke.ok());
    // Either exactly the right length (random content) or the random length.
    const bool exact = *rc::gen::arbitrary<bool>();
    Bytes peer = exact ? rng.bytes(public_value_size(g)) : Bytes(extra.begin(), extra.end());
    auto s = (*ke)->shared_secret(peer);
    if (peer.size() != public_value_size(g)) RC_ASSERT(!s.ok());
    if (s.ok()) RC_ASSERT(s->size() == shared_secret_size(g));
}

}  // namespace
}  // namespace ikecluster::crypto
