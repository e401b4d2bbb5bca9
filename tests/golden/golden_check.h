// The end-to-end check of codec + crypto against a real strongSwan exchange.
#pragma once

#include <string>
#include <vector>

#include "golden/golden_file.h"

namespace ikecluster::golden {

struct CheckReport {
    std::vector<std::string> lines;     // what was checked, for humans
    std::vector<std::string> failures;  // empty = everything matched
};

// Decodes and re-encodes every message (byte-exact), derives SKEYSEED and SK_*
// from the logged DH secret and the nonces/SPIs on the wire and compares them
// with charon's, decrypts both IKE_AUTH messages, re-encodes their inner
// payloads byte-exactly, and verifies both AUTH payloads with the PSK.
CheckReport check_exchange(const GoldenExchange& g);

}  // namespace ikecluster::golden
