// ESP data-plane throughput, single core: OutboundSa::seal and
// InboundSa::open per suite for 64, 512 and 1400-octet inner packets, each
// next to OpenSSL's raw AEAD encryption of the same size (one pre-keyed
// EVP_CIPHER_CTX, nonce reset per packet, 8-octet AAD), so the ratio of the
// two rows is our overhead: framing, trailer, sequence numbers, replay window.
//
// Run: build/release/bench/esp_bench   (Gbit/s and pkt/s are in the counters)
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "crypto/keys.h"
#include "esp/esp_sa.h"

using namespace ikecluster;
using namespace ikecluster::esp;

namespace {

struct Suite {
    const char* name;
    EncrId encr;
    std::uint16_t bits;
    IntegId integ;
};

const Suite kSuites[] = {
    {"AesGcm128", EncrId::AES_GCM_16, 128, IntegId::NONE},
    {"AesGcm256", EncrId::AES_GCM_16, 256, IntegId::NONE},
    {"ChaCha20Poly1305", EncrId::CHACHA20_POLY1305, 0, IntegId::NONE},
    {"AesCbc128Sha256", EncrId::AES_CBC, 128, IntegId::HMAC_SHA2_256_128},
    {"AesCbc256Sha256", EncrId::AES_CBC, 256, IntegId::HMAC_SHA2_256_128},
};
const std::size_t kSizes[] = {64, 512, 1400};

ike::ChildSaState child(const Suite& s) {
    ike::ChildSaState c;
    c.spi_in = c.spi_out = 0xc0ffee01;
    c.encr = {s.encr, s.bits};
    c.integ = s.integ;
    c.esn = true;  // so long runs never exhaust the counter
    c.keys.encr_out = Bytes(crypto::encr_key_size(s.encr, s.bits), 0x11);
    c.keys.integ_out = Bytes(crypto::integ_key_size(s.integ), 0x22);
    c.keys.encr_in = c.keys.encr_out;
    c.keys.integ_in = c.keys.integ_out;
    return c;
}

Bytes framed_packet(std::size_t n) {
    Bytes buf(kHeadroom + n + kTailroom, 0xab);
    buf[kHeadroom] = 0x45;  // IPv4
    return buf;
}

void rates(benchmark::State& state, std::size_t n) {
    const double bits = static_cast<double>(state.iterations()) * static_cast<double>(n) * 8.0;
    state.counters["Gbit/s"] = benchmark::Counter(bits / 1e9, benchmark::Counter::kIsRate);
    state.counters["pkt/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void seal(benchmark::State& state, Suite s, std::size_t n) {
    auto out = OutboundSa::create(child(s));
    if (!out.ok()) return state.SkipWithError(out.error().what.c_str());
    Bytes buf = framed_packet(n);
    const Bytes pristine = buf;
    for (auto _ : state) {
        // Restore the plaintext (seal works in place); a real data path
        // reads a fresh packet into the buffer instead.
        std::memcpy(buf.data() + kHeadroom, pristine.data() + kHeadroom, n);
        auto r = out->seal(buf, n);
        benchmark::DoNotOptimize(r);
    }
    rates(state, n);
}

void open(benchmark::State& state, Suite s, std::size_t n) {
    const ike::ChildSaState c = child(s);
    auto out = OutboundSa::create(c);
    auto in = InboundSa::create(c, SaOptions{.replay_window = 4096});
    if (!out.ok() || !in.ok()) return state.SkipWithError("create failed");
    // A batch of distinct packets (the replay window refuses repeats),
    // refilled outside the timing when used up.
    constexpr std::size_t kBatch = 2048;
    std::vector<Bytes> sealed(kBatch);
    auto refill = [&] {
        for (auto& p : sealed) {
            Bytes buf = framed_packet(n);
            auto r = out->seal(buf, n);
            p.assign(r->begin(), r->end());
        }
    };
    refill();
    Bytes work(sealed[0].size());
    std::size_t i = 0;
    for (auto _ : state) {
        if (i == kBatch) {
            state.PauseTiming();
            refill();
            i = 0;
            state.ResumeTiming();
        }
        std::memcpy(work.data(), sealed[i++].data(), work.size());
        auto r = in->open(work);
        if (!r.ok()) return state.SkipWithError(r.error().to_error().what.c_str());
        benchmark::DoNotOptimize(r);
    }
    rates(state, n);
}

// OpenSSL alone: what an AEAD packet costs with nothing around it.
void raw_aead(benchmark::State& state, Suite s, std::size_t n) {
    const EVP_CIPHER* cipher = s.encr == EncrId::CHACHA20_POLY1305 ? EVP_chacha20_poly1305()
                               : s.bits == 128                     ? EVP_aes_128_gcm()
                                                                   : EVP_aes_256_gcm();
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    const Bytes key(32, 0x11);
    EVP_EncryptInit_ex2(ctx, cipher, key.data(), nullptr, nullptr);
    Bytes buf(n + 4, 0xab);  // payload + minimal trailer, like ESP
    std::uint8_t nonce[12] = {}, aad[8] = {}, tag[16], scratch[16];
    std::uint64_t seq = 0;
    int len = 0;
    for (auto _ : state) {
        store_be64(nonce + 4, ++seq);
        EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce, nullptr);
        EVP_EncryptUpdate(ctx, nullptr, &len, aad, sizeof aad);
        EVP_EncryptUpdate(ctx, buf.data(), &len, buf.data(), static_cast<int>(buf.size()));
        EVP_EncryptFinal_ex(ctx, scratch, &len);
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag);
        benchmark::DoNotOptimize(tag);
    }
    EVP_CIPHER_CTX_free(ctx);
    rates(state, n);
}

}  // namespace

int main(int argc, char** argv) {
    // Rows grouped by size and suite so raw / seal / open sit together.
    for (std::size_t n : kSizes) {
        for (const Suite& s : kSuites) {
            const std::string tail = std::string(s.name) + "/" + std::to_string(n);
            if (s.integ == IntegId::NONE)
                benchmark::RegisterBenchmark(("RawEvp/" + tail).c_str(), raw_aead, s, n);
            benchmark::RegisterBenchmark(("EspSeal/" + tail).c_str(), seal, s, n);
            benchmark::RegisterBenchmark(("EspOpen/" + tail).c_str(), open, s, n);
        }
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
