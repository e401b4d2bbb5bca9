// The cryptographic floor of one IKEv2 handshake, per side, so the engine's
// handshake benchmark (issue "IKEv2 engine") can show its overhead as a ratio:
// key generation + shared secret for the negotiated group, SKEYSEED and SK_*
// derivation, Child SA KEYMAT, and the two PSK AUTH computations. Also the SK
// payload protection cost of a typical IKE_AUTH body.
#include <benchmark/benchmark.h>

#include "crypto/dh.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/sk_cipher.h"

using namespace ikecluster;
using namespace ikecluster::crypto;

namespace {

void BM_KeyExchange(benchmark::State& state) {
    DhId group = DhId(state.range(0));
    DeterministicRandom rng(1);
    auto peer = make_key_exchange(group, rng);
    for (auto _ : state) {
        auto kx = make_key_exchange(group, rng);
        auto s = (*kx)->shared_secret((*peer)->public_value());
        benchmark::DoNotOptimize(s);
    }
}
BENCHMARK(BM_KeyExchange)
    ->Arg(int(DhId::CURVE25519))
    ->Arg(int(DhId::ECP_256))
    ->Arg(int(DhId::MODP_2048));

// Everything one side computes in IKE_SA_INIT + IKE_AUTH for
// aes256gcm16-prfsha256-x25519 with an aes256gcm16 Child SA.
void BM_HandshakeCryptoOneSide(benchmark::State& state) {
    DeterministicRandom rng(2);
    CipherSuite ike{EncrId::AES_GCM_16, 256, IntegId::NONE, PrfId::HMAC_SHA2_256, DhId::CURVE25519};
    CipherSuite esp{EncrId::AES_GCM_16, 256, IntegId::NONE, PrfId::HMAC_SHA2_256, DhId::NONE};
    auto peer = make_key_exchange(DhId::CURVE25519, rng);
    Bytes ni = rng.bytes(32), nr = rng.bytes(32), msg1(300, 0x11), id(20, 0x22);
    Bytes psk(32, 0x33);
    for (auto _ : state) {
        auto kx = make_key_exchange(DhId::CURVE25519, rng);
        auto g_ir = (*kx)->shared_secret((*peer)->public_value());
        auto keys = derive_ike_keys(ike, *g_ir, ni, nr, 1, 2);
        auto child = derive_child_keys(esp, ike.prf, keys->sk_d, {}, ni, nr);
        Bytes mine = psk_auth(ike.prf, psk, signed_octets(ike.prf, msg1, nr, keys->sk_pi, id));
        Bytes theirs = psk_auth(ike.prf, psk, signed_octets(ike.prf, msg1, ni, keys->sk_pr, id));
        benchmark::DoNotOptimize(child);
        benchmark::DoNotOptimize(mine);
        benchmark::DoNotOptimize(theirs);
    }
}
BENCHMARK(BM_HandshakeCryptoOneSide);

void BM_SkSealOpen(benchmark::State& state) {
    DeterministicRandom rng(3);
    EncrId encr = EncrId(state.range(0));
    IntegId integ = encr == EncrId::AES_CBC ? IntegId::HMAC_SHA2_256_128 : IntegId::NONE;
    std::uint16_t bits = encr == EncrId::CHACHA20_POLY1305 ? 0 : 256;
    Bytes ek = rng.bytes(encr_key_size(encr, bits)), ik = rng.bytes(integ_key_size(integ));
    auto c = SkCipher::create(encr, bits, integ, ek, ik);
    Bytes aad(32, 0x44), inner(state.range(1), 0x55);
    for (auto _ : state) {
        Bytes body = (*c)->seal(aad, inner, rng);
        auto back = (*c)->open(aad, body);
        benchmark::DoNotOptimize(back);
    }
    state.SetBytesProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_SkSealOpen)
    ->Args({int(EncrId::AES_GCM_16), 256})
    ->Args({int(EncrId::AES_CBC), 256})
    ->Args({int(EncrId::CHACHA20_POLY1305), 256});

}  // namespace

BENCHMARK_MAIN();
