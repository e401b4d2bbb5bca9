#include "esp/esp_sa.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "base/buffer.h"
#include "crypto/cipher_cache.h"
#include "crypto/keys.h"

namespace ikecluster::esp {

namespace {

// OpenSSL failing where it cannot fail (no memory, no default provider) is
// not something a peer can cause; crash loudly rather than send garbage.
[[noreturn]] void fatal(const char* what) {
    std::fprintf(stderr, "ikec_esp: fatal: OpenSSL failed in %s\n", what);
    std::abort();
}

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MacCtxFree {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct MacFree {
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};

const char* cipher_name(EncrId encr, std::uint16_t bits) {
    if (encr == EncrId::CHACHA20_POLY1305) return "ChaCha20-Poly1305";
    const bool gcm = encr == EncrId::AES_GCM_16;
    if (!gcm && encr != EncrId::AES_CBC) return nullptr;
    switch (bits) {
        case 128:
            return gcm ? "AES-128-GCM" : "AES-128-CBC";
        case 192:
            return gcm ? "AES-192-GCM" : "AES-192-CBC";
        case 256:
            return gcm ? "AES-256-GCM" : "AES-256-CBC";
        default:
            return nullptr;
    }
}

const char* digest_name(IntegId integ) {
    switch (integ) {
        case IntegId::HMAC_SHA2_256_128:
            return "SHA256";
        case IntegId::HMAC_SHA2_384_192:
            return "SHA384";
        case IntegId::HMAC_SHA2_512_256:
            return "SHA512";
        default:
            return nullptr;
    }
}

constexpr std::size_t kAeadIv = 8;
constexpr std::size_t kAeadTag = 16;
constexpr std::size_t kSalt = 4;
constexpr std::size_t kCbcBlock = 16;

}  // namespace

namespace detail {

// The keyed contexts of one direction of one SA. Everything per packet works
// on these and on stack buffers; nothing allocates.
class Transform {
  public:
    enum class Kind : std::uint8_t { AEAD, CBC_HMAC };

    static Result<std::unique_ptr<Transform>> create(const ike::ChildSaState& c, bool outbound);
    ~Transform() { OPENSSL_cleanse(salt_, sizeof salt_); }

    Kind kind = Kind::AEAD;
    std::size_t iv_size = kAeadIv;
    std::size_t icv_size = kAeadTag;
    std::size_t align = 4;   // RFC 4303 §2.4: 4 for AEAD, the block for CBC
    std::size_t block = 1;   // ciphertext must be whole blocks of this
    std::size_t min_ct = 2;  // Pad Length | Next Header at least

    // `esp` points at SPI | seq | IV | plaintext (ct_len) | room for the
    // ICV, with SPI and seq written. Fills in the IV, encrypts in place and
    // writes the ICV.
    void seal(std::uint8_t* esp, std::size_t ct_len, std::uint64_t seq, bool esn);
    // The reverse: verifies the ICV, decrypts in place. False on an ICV
    // mismatch (nothing released: CBC decrypts only after the ICV matched,
    // AEAD ciphertext is overwritten with zeros).
    bool open(std::uint8_t* esp, std::size_t ct_len, std::uint64_t seq, bool esn);

  private:
    void aad(const std::uint8_t* esp, std::uint64_t seq, bool esn, std::uint8_t out[12],
             int& len) const;
    void nonce(const std::uint8_t* iv, std::uint8_t out[12]) const {
        std::memcpy(out, salt_, kSalt);
        std::memcpy(out + kSalt, iv, kAeadIv);
    }
    void mac(const std::uint8_t* esp, std::size_t ct_len, std::uint64_t seq, bool esn,
             std::uint8_t out[EVP_MAX_MD_SIZE]);

    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx_;
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> mac_;
    std::uint8_t salt_[kSalt] = {};
};

Result<std::unique_ptr<Transform>> Transform::create(const ike::ChildSaState& c, bool outbound) {
    if (c.protocol != ProtocolId::ESP) return make_error(0, "not an ESP Child SA");
    const std::uint32_t spi = outbound ? c.spi_out : c.spi_in;
    // RFC 4303 §2.1: SPIs 1..255 are reserved, 0 is local-only.
    if (spi < 256) return make_error(0, "ESP SPI " + std::to_string(spi) + " is reserved");
    const crypto::CipherSuite suite{c.encr.id, c.encr.key_bits, c.integ};
    if (auto st = crypto::check_suite(suite, false); !st.ok()) return st.error();
    const bool aead = crypto::is_aead(c.encr.id);
    const std::uint16_t bits = c.encr.id == EncrId::CHACHA20_POLY1305 ? 256 : c.encr.key_bits;
    const char* name = cipher_name(c.encr.id, bits);
    if (name == nullptr) return make_error(0, "unsupported ESP encryption algorithm");
    const Bytes& ekey = outbound ? c.keys.encr_out : c.keys.encr_in;
    const Bytes& ikey = outbound ? c.keys.integ_out : c.keys.integ_in;
    if (ekey.size() != suite.encr_key_size())
        return make_error(0, std::string(name) + " needs " + std::to_string(suite.encr_key_size()) +
                                 " octets of key material, got " + std::to_string(ekey.size()));
    if (ikey.size() != suite.integ_key_size())
        return make_error(0, "ESP integrity key must be " + std::to_string(suite.integ_key_size()) +
                                 " octets, got " + std::to_string(ikey.size()));

    auto t = std::make_unique<Transform>();
    const EVP_CIPHER* cipher = crypto::cached_cipher(name);
    t->ctx_.reset(EVP_CIPHER_CTX_new());
    if (!t->ctx_) fatal("EVP_CIPHER_CTX_new");
    // The key is expanded once here; per packet only the IV changes.
    if (EVP_CipherInit_ex2(t->ctx_.get(), cipher, ekey.data(), nullptr, outbound ? 1 : 0,
                           nullptr) != 1)
        fatal("cipher key setup");
    if (aead) {
        std::memcpy(t->salt_, ekey.data() + ekey.size() - kSalt, kSalt);
        if (EVP_CIPHER_CTX_get_iv_length(t->ctx_.get()) != 12) fatal("AEAD nonce length");
        return t;
    }
    t->kind = Kind::CBC_HMAC;
    t->iv_size = kCbcBlock;
    t->icv_size = crypto::icv_size(c.encr.id, c.integ);
    t->align = kCbcBlock;
    t->block = kCbcBlock;
    t->min_ct = kCbcBlock;
    if (EVP_CIPHER_CTX_set_padding(t->ctx_.get(), 0) != 1) fatal("CBC padding off");

    std::unique_ptr<EVP_MAC, MacFree> hmac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!hmac) fatal("EVP_MAC_fetch(HMAC)");
    t->mac_.reset(EVP_MAC_CTX_new(hmac.get()));  // holds its own reference to the EVP_MAC
    if (!t->mac_) fatal("EVP_MAC_CTX_new");
    char digest[16];
    std::snprintf(digest, sizeof digest, "%s", digest_name(c.integ));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    // Keyed once; EVP_MAC_init with a null key later restarts with this key.
    // The key is never empty here (32..64 octets), so never a null pointer.
    if (EVP_MAC_init(t->mac_.get(), ikey.data(), ikey.size(), params) != 1) fatal("HMAC key setup");
    return t;
}

void Transform::aad(const std::uint8_t* esp, std::uint64_t seq, bool esn, std::uint8_t out[12],
                    int& len) const {
    // RFC 4106 §5 (and RFC 7634 §2.1 by reference): SPI | seq (32 bits), or
    // with ESN SPI | seq high | seq low, the 64-bit number in network order.
    std::memcpy(out, esp, 4);
    if (esn) {
        store_be64(out + 4, seq);
        len = 12;
    } else {
        std::memcpy(out + 4, esp + 4, 4);
        len = 8;
    }
}

void Transform::mac(const std::uint8_t* esp, std::size_t ct_len, std::uint64_t seq, bool esn,
                    std::uint8_t out[EVP_MAX_MD_SIZE]) {
    // RFC 4303 §3.3.2.1: the ICV covers SPI | seq | IV | ciphertext; with ESN
    // the high 32 bits of the sequence number are appended for the
    // computation only, never sent.
    EVP_MAC_CTX* m = mac_.get();
    std::size_t n = 0;
    std::uint8_t high[4];
    store_be32(high, static_cast<std::uint32_t>(seq >> 32));
    if (EVP_MAC_init(m, nullptr, 0, nullptr) != 1 ||
        EVP_MAC_update(m, esp, wire::kEspHeaderSize + kCbcBlock + ct_len) != 1 ||
        (esn && EVP_MAC_update(m, high, sizeof high) != 1) ||
        EVP_MAC_final(m, out, &n, EVP_MAX_MD_SIZE) != 1 || n < icv_size)
        fatal("HMAC");
}

void Transform::seal(std::uint8_t* esp, std::size_t ct_len, std::uint64_t seq, bool esn) {
    EVP_CIPHER_CTX* ctx = ctx_.get();
    std::uint8_t* iv = esp + wire::kEspHeaderSize;
    std::uint8_t* ct = iv + iv_size;
    const int n = static_cast<int>(ct_len);  // <= kMaxPayload + 17: fits
    int len = 0;
    std::uint8_t scratch[kCbcBlock];
    if (kind == Kind::AEAD) {
        // RFC 4106 §3.1 / RFC 7634 §2: the explicit IV only has to be unique
        // per key; the sequence number never repeats within an SA.
        store_be64(iv, seq);
        std::uint8_t nb[12], a[12];
        int alen = 0;
        nonce(iv, nb);
        aad(esp, seq, esn, a, alen);
        if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nb, nullptr) != 1 ||
            EVP_EncryptUpdate(ctx, nullptr, &len, a, alen) != 1 ||
            EVP_EncryptUpdate(ctx, ct, &len, ct, n) != 1 || len != n ||
            EVP_EncryptFinal_ex(ctx, scratch, &len) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kAeadTag, ct + ct_len) != 1)
            fatal("AEAD seal");
        return;
    }
    // AES-CBC: IV = AES_K(nonce block with the sequence number), computed as
    // CBC over one block with an all-zero IV so the same context serves
    // (see esp_sa.h for why this IV is unpredictable).
    std::uint8_t nonce_block[kCbcBlock] = {'i', 'k', 'e', 'c', '-', 'i', 'v', 0};
    store_be64(nonce_block + 8, seq);
    static constexpr std::uint8_t kZeroIv[kCbcBlock] = {};
    if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, kZeroIv, nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
        EVP_EncryptUpdate(ctx, iv, &len, nonce_block, kCbcBlock) != 1 || len != kCbcBlock ||
        EVP_EncryptInit_ex2(ctx, nullptr, nullptr, iv, nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 || EVP_EncryptUpdate(ctx, ct, &len, ct, n) != 1 ||
        len != n || EVP_EncryptFinal_ex(ctx, scratch, &len) != 1 || len != 0)
        fatal("AES-CBC seal");
    std::uint8_t full[EVP_MAX_MD_SIZE];
    mac(esp, ct_len, seq, esn, full);
    std::memcpy(ct + ct_len, full, icv_size);  // RFC 4868 §2.3: the leftmost bits
}

bool Transform::open(std::uint8_t* esp, std::size_t ct_len, std::uint64_t seq, bool esn) {
    EVP_CIPHER_CTX* ctx = ctx_.get();
    std::uint8_t* iv = esp + wire::kEspHeaderSize;
    std::uint8_t* ct = iv + iv_size;
    std::uint8_t* icv = ct + ct_len;
    const int n = static_cast<int>(ct_len);
    int len = 0;
    std::uint8_t scratch[kCbcBlock];
    if (kind == Kind::AEAD) {
        std::uint8_t nb[12], a[12];
        int alen = 0;
        nonce(iv, nb);
        aad(esp, seq, esn, a, alen);
        if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nb, nullptr) != 1 ||
            EVP_DecryptUpdate(ctx, nullptr, &len, a, alen) != 1 ||
            EVP_DecryptUpdate(ctx, ct, &len, ct, n) != 1 || len != n ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kAeadTag, icv) != 1)
            fatal("AEAD open");
        // The tag comparison inside OpenSSL is constant time (CRYPTO_memcmp).
        if (EVP_DecryptFinal_ex(ctx, scratch, &len) != 1) {
            OPENSSL_cleanse(ct, ct_len);  // never leave unauthenticated plaintext
            return false;
        }
        return true;
    }
    // Encrypt-then-MAC: nothing is decrypted unless the ICV matches, and the
    // comparison takes the same time wherever the first difference is.
    std::uint8_t full[EVP_MAX_MD_SIZE];
    mac(esp, ct_len, seq, esn, full);
    if (CRYPTO_memcmp(full, icv, icv_size) != 0) return false;
    if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, iv, nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 || EVP_DecryptUpdate(ctx, ct, &len, ct, n) != 1 ||
        len != n || EVP_DecryptFinal_ex(ctx, scratch, &len) != 1 || len != 0)
        fatal("AES-CBC open");
    return true;
}

}  // namespace detail

// ---- helpers -----------------------------------------------------------------

std::optional<std::uint8_t> tunnel_next_header(BytesView inner) {
    if (inner.empty()) return std::nullopt;
    switch (inner[0] >> 4) {
        case 4:
            return kNextHeaderIpv4;
        case 6:
            return kNextHeaderIpv6;
        default:
            return std::nullopt;
    }
}

const char* to_string(SaError e) {
    switch (e) {
        case SaError::BUFFER_TOO_SMALL:
            return "buffer too small";
        case SaError::PAYLOAD_TOO_LARGE:
            return "payload too large";
        case SaError::BAD_INNER_PACKET:
            return "inner packet is neither IPv4 nor IPv6";
        case SaError::NEXT_HEADER_REQUIRED:
            return "transport mode needs an explicit next header";
        case SaError::SEQ_EXHAUSTED:
            return "sequence numbers exhausted";
        case SaError::SEQ_BACKWARDS:
            return "sequence number would move backwards";
        case SaError::SEQ_OUT_OF_RANGE:
            return "sequence number out of range";
        case SaError::TRUNCATED:
            return "truncated ESP packet";
        case SaError::BAD_LENGTH:
            return "ESP ciphertext is not whole blocks";
        case SaError::WRONG_SPI:
            return "ESP packet for another SPI";
        case SaError::DUPLICATE:
            return "replayed ESP packet";
        case SaError::TOO_OLD:
            return "ESP packet left of the replay window";
        case SaError::AUTH_FAILED:
            return "ESP integrity check failed";
        case SaError::NO_TRAILER:
            return "ESP plaintext has no trailer";
        case SaError::PAD_LENGTH:
            return "ESP pad length too large";
        case SaError::BAD_PADDING:
            return "ESP padding is not 1, 2, 3, ...";
    }
    return "unknown ESP error";
}

Error SaFailure::to_error() const {
    return Error{offset, std::string(to_string(code)) + " (value " + std::to_string(value) +
                             ", expected " + std::to_string(expected) + ")"};
}

namespace {

SaFailure from_trailer(const wire::EspFailure& f, std::size_t base) {
    SaError code = SaError::NO_TRAILER;
    if (f.code == wire::EspError::PAD_LENGTH) code = SaError::PAD_LENGTH;
    if (f.code == wire::EspError::BAD_PADDING) code = SaError::BAD_PADDING;
    return SaFailure{code, base + f.offset, f.value, f.expected};
}

}  // namespace

// ---- sequence-number stripes ----------------------------------------------------

namespace {

bool own_stripe(std::uint64_t k, const SeqStripes& s) {
    return k % s.count == s.index;
}

// How many of the stripes [0, k) are s.index's.
std::uint64_t own_stripes_below(std::uint64_t k, const SeqStripes& s) {
    return k / s.count + (k % s.count > s.index ? 1 : 0);
}

}  // namespace

std::uint64_t stripe_align(std::uint64_t seq, const SeqStripes& s) {
    if (s.count <= 1) return seq;
    const std::uint64_t k = seq >> s.shift;
    const std::uint64_t r = k % s.count;
    if (r == s.index) return seq;
    const std::uint64_t step = (s.index + s.count - r) % s.count;  // 1 .. count-1
    const std::uint64_t last_k = ~std::uint64_t{0} >> s.shift;
    if (k > last_k - step) return 0;  // our next stripe would start at 2^64 or later
    return (k + step) << s.shift;
}

std::uint64_t stripe_count_in(std::uint64_t first, std::uint64_t last, const SeqStripes& s) {
    if (first > last) return 0;
    if (s.count <= 1) {
        const std::uint64_t n = last - first;
        return n == ~std::uint64_t{0} ? n : n + 1;  // the whole 2^64 space saturates
    }
    const std::uint64_t ka = first >> s.shift, kb = last >> s.shift;
    if (ka == kb) return own_stripe(ka, s) ? last - first + 1 : 0;
    const std::uint64_t mask = (std::uint64_t{1} << s.shift) - 1;
    std::uint64_t n = 0;
    if (own_stripe(ka, s)) n += ((ka + 1) << s.shift) - first;  // ka + 1 <= kb: no overflow
    if (own_stripe(kb, s)) n += (last & mask) + 1;
    if (kb > ka + 1) n += (own_stripes_below(kb, s) - own_stripes_below(ka + 1, s)) << s.shift;
    return n;
}

// ---- outbound -------------------------------------------------------------------

OutboundSa::OutboundSa(std::unique_ptr<detail::Transform> t, const ike::ChildSaState& c,
                       const SaOptions& opts)
    : t_(std::move(t)),
      spi_(c.spi_out),
      esn_(c.esn),
      mode_(c.mode),
      last_seq_(c.esn ? std::numeric_limits<std::uint64_t>::max() : 0xffffffffu),
      stripes_(opts.stripes) {
    if (stripes_.count > 1) {
        stripe_mask_ = (std::uint64_t{1} << stripes_.shift) - 1;
        next_seq_ = stripe_align(1, stripes_);  // create() checked that there is one
    }
    // The margin is a share of what this member may send, so striping does
    // not make a fresh SA ask for a rekey at once.
    const std::uint64_t usable = stripe_count_in(1, last_seq_, stripes_);
    const std::uint64_t margin =
        opts.rekey_margin != 0 ? opts.rekey_margin : std::max<std::uint64_t>(usable / 16, 1);
    // needs_rekey() is a comparison on the packet path: find the first
    // number from which at most `margin` remain (the count only falls as
    // the number rises; at last_seq_ it is at most 1 <= margin).
    std::uint64_t lo = 1, hi = last_seq_;
    while (lo < hi) {
        const std::uint64_t mid = lo + (hi - lo) / 2;
        if (stripe_count_in(mid, last_seq_, stripes_) <= margin)
            hi = mid;
        else
            lo = mid + 1;
    }
    rekey_seq_ = lo;
}

OutboundSa::~OutboundSa() = default;
OutboundSa::OutboundSa(OutboundSa&&) noexcept = default;
OutboundSa& OutboundSa::operator=(OutboundSa&&) noexcept = default;

Result<OutboundSa> OutboundSa::create(const ike::ChildSaState& child, const SaOptions& opts) {
    const SeqStripes& s = opts.stripes;
    if (s.count == 0 || s.index >= s.count || s.shift >= 64)
        return make_error(0, "invalid sequence-number stripes (index " + std::to_string(s.index) +
                                 " of " + std::to_string(s.count) + ", shift " +
                                 std::to_string(s.shift) + ")");
    const std::uint64_t last = child.esn ? std::numeric_limits<std::uint64_t>::max() : 0xffffffffu;
    const std::uint64_t first = stripe_align(1, s);
    if (first == 0 || first > last)
        return make_error(0, "sequence-number stripes leave member " + std::to_string(s.index) +
                                 " no number of this SA");
    auto t = detail::Transform::create(child, true);
    if (!t.ok()) return t.error();
    return OutboundSa(std::move(*t), child, opts);
}

std::size_t OutboundSa::header_size() const {
    return wire::kEspHeaderSize + t_->iv_size;
}

std::size_t OutboundSa::sealed_size(std::size_t payload_len) const {
    return header_size() + payload_len + wire::esp_trailer_size(payload_len, t_->align) +
           t_->icv_size;
}

std::uint64_t OutboundSa::remaining_before_wrap() const {
    return exhausted_ ? 0 : stripe_count_in(next_seq_, last_seq_, stripes_);
}

SaResult<std::uint64_t> OutboundSa::set_next_seq(std::uint64_t next) {
    if (exhausted_ || next < next_seq_)
        return SaFailure{SaError::SEQ_BACKWARDS, 0, next, exhausted_ ? 0 : next_seq_};
    if (next > last_seq_ + (esn_ ? 0 : 1))  // without ESN 2^32 means "all used"
        return SaFailure{SaError::SEQ_OUT_OF_RANGE, 0, next, last_seq_ + (esn_ ? 0 : 1)};
    // Only numbers of our own stripes, even when the checkpoint we resume
    // from lies in another member's.
    const std::uint64_t aligned = next > last_seq_ ? 0 : stripe_align(next, stripes_);
    if (aligned == 0 || aligned > last_seq_) {
        next_seq_ = next;
        exhausted_ = true;
        return next_seq_;
    }
    next_seq_ = aligned;
    return next_seq_;
}

void OutboundSa::next_stripe() {
    // The number just used was the last of one of our stripes (next_seq_
    // is in our stripe whenever seal() runs); our next stripe is `count`
    // further on, if the space has it.
    const std::uint64_t k = (next_seq_ - 1) >> stripes_.shift;
    const std::uint64_t last_k = last_seq_ >> stripes_.shift;
    if (last_k < stripes_.count || k > last_k - stripes_.count) {
        exhausted_ = true;
        return;
    }
    next_seq_ = (k + stripes_.count) << stripes_.shift;
}

SaResult<std::span<std::uint8_t>> OutboundSa::refuse(SaFailure f) {
    ++counters_.refused;
    return f;
}

SaResult<std::span<std::uint8_t>> OutboundSa::seal(std::span<std::uint8_t> buf,
                                                   std::size_t payload_len) {
    if (mode_ != ike::IpsecMode::TUNNEL)
        return refuse(SaFailure{SaError::NEXT_HEADER_REQUIRED, 0, 0, 0});
    // Read the version nibble only if it is really there; otherwise let the
    // general path report the size problem.
    if (payload_len == 0) return refuse(SaFailure{SaError::BAD_INNER_PACKET, kHeadroom, 0, 0});
    if (buf.size() <= kHeadroom || payload_len > buf.size() - kHeadroom)
        return seal(buf, payload_len, 0);
    auto nh = tunnel_next_header(BytesView(buf.data() + kHeadroom, payload_len));
    if (!nh) return refuse(SaFailure{SaError::BAD_INNER_PACKET, kHeadroom, buf[kHeadroom], 0});
    return seal(buf, payload_len, *nh);
}

SaResult<std::span<std::uint8_t>> OutboundSa::seal(std::span<std::uint8_t> buf,
                                                   std::size_t payload_len,
                                                   std::uint8_t next_header) {
    detail::Transform& t = *t_;
    if (payload_len > kMaxPayload)
        return refuse(SaFailure{SaError::PAYLOAD_TOO_LARGE, kHeadroom, payload_len, kMaxPayload});
    const std::size_t trailer = wire::esp_trailer_size(payload_len, t.align);
    const std::size_t ct_len = payload_len + trailer;
    const std::size_t need = kHeadroom + ct_len + t.icv_size;
    if (buf.size() < need) return refuse(SaFailure{SaError::BUFFER_TOO_SMALL, 0, buf.size(), need});
    // RFC 4303 §3.3.3: the counter must not cycle; the SA must be rekeyed.
    if (exhausted_) return refuse(SaFailure{SaError::SEQ_EXHAUSTED, 0, last_seq_, last_seq_});

    const std::uint64_t seq = next_seq_;
    std::uint8_t* payload = buf.data() + kHeadroom;
    std::uint8_t* esp = payload - t.iv_size - wire::kEspHeaderSize;
    write_esp_header(std::span<std::uint8_t, wire::kEspHeaderSize>(esp, wire::kEspHeaderSize),
                     wire::EspHeader{spi_, static_cast<std::uint32_t>(seq)});
    // Cannot fail: the alignment is valid and the room was checked above.
    (void)wire::write_esp_trailer(std::span<std::uint8_t>(payload + payload_len, trailer),
                                  payload_len, t.align, next_header);
    t.seal(esp, ct_len, seq, esn_);

    exhausted_ = seq == last_seq_;
    next_seq_ = seq + 1;  // wraps to 0 only after 2^64-1, and then exhausted_ is set
    // Left our stripe: jump to the next one (never taken without stripes).
    if ((next_seq_ & stripe_mask_) == 0 && !exhausted_) [[unlikely]]
        next_stripe();
    ++counters_.packets;
    counters_.bytes += payload_len;
    return std::span<std::uint8_t>(esp, wire::kEspHeaderSize + t.iv_size + ct_len + t.icv_size);
}

// ---- inbound ---------------------------------------------------------------------

InboundSa::InboundSa(std::unique_ptr<detail::Transform> t, const ike::ChildSaState& c,
                     const SaOptions& opts)
    : t_(std::move(t)), spi_(c.spi_in), mode_(c.mode), window_(opts.replay_window, c.esn) {}

InboundSa::~InboundSa() = default;
InboundSa::InboundSa(InboundSa&&) noexcept = default;
InboundSa& InboundSa::operator=(InboundSa&&) noexcept = default;

Result<InboundSa> InboundSa::create(const ike::ChildSaState& child, const SaOptions& opts) {
    auto t = detail::Transform::create(child, false);
    if (!t.ok()) return t.error();
    return InboundSa(std::move(*t), child, opts);
}

SaResult<Opened> InboundSa::drop(SaFailure f, std::uint64_t InboundCounters::*counter) {
    ++(counters_.*counter);
    return f;
}

SaResult<Opened> InboundSa::open(std::span<std::uint8_t> packet) {
    detail::Transform& t = *t_;
    const std::size_t size = packet.size();
    const std::size_t min = wire::kEspHeaderSize + t.iv_size + t.min_ct + t.icv_size;
    if (size < min) return drop({SaError::TRUNCATED, 0, size, min}, &InboundCounters::malformed);
    auto h = wire::parse_esp_header(packet);  // cannot be short now; may be a reserved SPI
    const std::uint32_t spi = load_be32(packet.data());
    if (!h.ok() || h->spi != spi_)
        return drop({SaError::WRONG_SPI, 0, spi, spi_}, &InboundCounters::malformed);
    const std::size_t ct_off = wire::kEspHeaderSize + t.iv_size;
    const std::size_t ct_len = size - ct_off - t.icv_size;
    if ((ct_len & (t.block - 1)) != 0)
        return drop({SaError::BAD_LENGTH, ct_off, ct_len, t.block}, &InboundCounters::malformed);

    // Replay check before the (expensive) ICV, window update after it.
    const ReplayWindow::Check c = window_.classify(h->seq);
    if (c.verdict != ReplayWindow::Verdict::FRESH) {
        const SaError e =
            c.verdict == ReplayWindow::Verdict::DUPLICATE ? SaError::DUPLICATE : SaError::TOO_OLD;
        return drop({e, 4, c.seq != 0 ? c.seq : h->seq, window_.highest()},
                    &InboundCounters::replay_drops);
    }
    if (!t.open(packet.data(), ct_len, c.seq, window_.esn()))
        return drop({SaError::AUTH_FAILED, ct_off + ct_len, 0, 0}, &InboundCounters::auth_failures);

    std::uint8_t* ct = packet.data() + ct_off;
    auto tr = wire::parse_esp_trailer(BytesView(ct, ct_len));
    if (!tr.ok()) return drop(from_trailer(tr.error(), ct_off), &InboundCounters::malformed);
    (void)window_.accept(c.seq);  // fresh by the check above; nothing ran in between
    ++counters_.packets;
    counters_.bytes += tr->payload_len;
    return Opened{std::span<std::uint8_t>(ct, tr->payload_len), tr->next_header, c.seq};
}

}  // namespace ikecluster::esp
