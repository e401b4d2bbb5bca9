// IKEv2 pseudorandom functions (RFC 7296 §2.13) over HMAC-SHA2 (RFC 4868).
// prf+ is the IKEv2 construction, not HKDF: there is no extract step and the
// counter octet comes after the seed.
#pragma once

#include <cstddef>

#include "base/bytes.h"
#include "base/iana.h"
#include "base/result.h"
#include "crypto/hash.h"

namespace ikecluster::crypto {

// True for the PRFs this build implements (every PrfId enumerator today).
bool prf_supported(PrfId id);
// Output size in octets: 32/48/64 for HMAC-SHA2-256/384/512; 0 if unsupported.
std::size_t prf_output_size(PrfId id);
// The "preferred key size" RFC 7296 §2.14 uses for SK_d, SK_pi and SK_pr;
// for the HMAC-SHA2 PRFs it equals the output size (RFC 4868 §2.1.2).
std::size_t prf_key_size(PrfId id);

// One PRF instance; caches a fetched EVP_MAC and its context, so keep it for
// a run of operations rather than constructing one per call. Not thread-safe.
class Prf {
  public:
    // Precondition: prf_supported(id). An unsupported id aborts (it is a
    // programming error: negotiation only selects supported transforms).
    explicit Prf(PrfId id);

    PrfId id() const { return id_; }
    std::size_t output_size() const { return hmac_.size(); }
    std::size_t key_size() const { return hmac_.size(); }

    // prf(K, S). Any key length works, including empty.
    Bytes prf(BytesView key, BytesView data);
    // prf(K, S1 | S2 | ...) without building the concatenation.
    Bytes prf(BytesView key, std::initializer_list<BytesView> data);

    // RFC 7296 §2.13:
    //   prf+ (K,S) = T1 | T2 | T3 | ...
    //   T1 = prf (K, S | 0x01), Tn = prf (K, Tn-1 | S | n)
    // truncated to `len` octets. The counter is one octet, so at most 255
    // blocks exist ("it is undefined beyond 255 times"): a longer request
    // returns an Error and nothing else.
    static constexpr std::size_t kMaxPrfPlusBlocks = 255;
    Result<Bytes> prf_plus(BytesView key, BytesView seed, std::size_t len);

  private:
    PrfId id_;
    Hmac hmac_;
};

}  // namespace ikecluster::crypto
