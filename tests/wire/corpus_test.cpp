// The fuzzer's seed files in fuzz/corpus/ike_decode/ours-*.bin are produced
// by our encoder. This test checks that they still match it; run it with
// IKEC_WRITE_CORPUS=1 to (re)write them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "samples.h"
#include "wire/esp.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {

std::filesystem::path corpus_dir() {
    return std::filesystem::path(IKEC_TEST_DATA_DIR) / ".." / ".." / "fuzz" / "corpus" /
           "ike_decode";
}

std::vector<std::pair<std::string, Bytes>> seeds() {
    std::vector<std::pair<std::string, Bytes>> out;
    out.emplace_back("ours-ike-sa-init.bin", encode_message(samples::ike_sa_init()));
    out.emplace_back("ours-ike-auth-plain.bin", encode_message(samples::ike_auth_plain()));
    out.emplace_back("ours-ike-auth-sk.bin", encode_message(samples::ike_auth_encrypted()));
    out.emplace_back("ours-informational.bin", encode_message(samples::informational()));
    out.emplace_back("ours-skf.bin", encode_message(samples::fragment()));
    Message unknown = samples::informational();
    unknown.payloads.insert(unknown.payloads.begin(),
                            Payload{PayloadType(99), true, UnknownPayload{Bytes{1, 2, 3, 4}}});
    out.emplace_back("ours-unknown-critical.bin", encode_message(unknown));
    out.emplace_back("ours-udp4500-ike.bin",
                     with_non_esp_marker(encode_message(samples::ike_sa_init())));
    out.emplace_back("ours-keepalive.bin", to_bytes(nat_keepalive_datagram()));
    // The fuzzer also reads its input as <first payload type> | inner chain.
    EncodedChain inner = encode_payloads(samples::ike_auth_inner());
    // Sized up front: GCC 12 reports a false -Warray-bounds on insert() into a
    // one-byte vector at -O3.
    Bytes chain(1 + inner.bytes.size());
    chain[0] = inner.first;
    std::copy(inner.bytes.begin(), inner.bytes.end(), chain.begin() + 1);
    out.emplace_back("ours-inner-chain.bin", chain);
    return out;
}

}  // namespace

TEST(WireCorpus, SeedFilesMatchTheEncoder) {
    const bool write = std::getenv("IKEC_WRITE_CORPUS") != nullptr;
    for (const auto& [name, bytes] : seeds()) {
        auto path = corpus_dir() / name;
        if (write) {
            std::ofstream f(path, std::ios::binary);
            f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
            ASSERT_TRUE(f.good()) << path;
            continue;
        }
        std::ifstream f(path, std::ios::binary);
        ASSERT_TRUE(f.good()) << path << " is missing; run with IKEC_WRITE_CORPUS=1";
        Bytes have((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        EXPECT_EQ(have, bytes) << name
                               << " differs from the encoder's output; run with "
                                  "IKEC_WRITE_CORPUS=1 if the change is intended";
    }
}
