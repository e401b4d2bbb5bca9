// Reads the golden files written by tests/interop/capture-golden.sh: real
// IKE_SA_INIT/IKE_AUTH messages from strongSwan plus the secrets charon logged.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace ikecluster::golden {

struct GoldenMessage {
    bool from_initiator = false;
    int port = 500;
    Bytes data;
};

struct GoldenExchange {
    std::string path;
    std::string suite;  // strongSwan proposal text, e.g. aes256gcm16-prfsha256-x25519
    std::string esp;
    std::string psk;
    std::string id_i, id_r;
    std::map<std::string, Bytes> secrets;  // dh_secret, skeyseed, sk_d, sk_ai, ...
    std::vector<GoldenMessage> messages;   // wire order

    // The secret or an empty vector (AEAD suites log no SK_ai/SK_ar).
    Bytes secret(const std::string& name) const;
};

Result<GoldenExchange> read_golden(const std::string& path);

}  // namespace ikecluster::golden
