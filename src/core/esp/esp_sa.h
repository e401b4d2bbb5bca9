// The ESP data plane for one Child SA (RFC 4303): an outbound SA that turns
// inner packets into ESP packets in place, and an inbound SA that verifies,
// decrypts and replay-checks them in place.
//
// Suites (the ChildSaState's encr/integ):
//   - AES-GCM-16 with 128/192/256-bit keys (RFC 4106) and ChaCha20-Poly1305
//     (RFC 7634): 8-octet explicit IV = the 64-bit sequence number (a counter
//     IV, RFC 4106 §3.1 / RFC 7634 §2: unique per key because sequence
//     numbers never repeat), nonce = salt | IV, AAD = SPI | seq (8 octets)
//     or SPI | seq-high | seq-low with ESN (12 octets, RFC 4106 §5 /
//     RFC 7634 §2.1), padding to 4 octets, 16-octet ICV.
//   - AES-CBC-128/192/256 (RFC 3602) with HMAC-SHA2-256-128/384-192/512-256
//     (RFC 4868): 16-octet IV, padding to the block, ICV = truncated HMAC
//     over SPI | seq | IV | ciphertext, with seq-high appended for the ICV
//     computation only when ESN is on (RFC 4303 §3.3.2.1, §3.4.4.1).
//     The IV must be unpredictable (RFC 3602 §2.3). We derive it without a
//     random generator: IV = AES_K(block holding the 64-bit sequence number),
//     encrypted with the SA's own key: the "forward cipher applied to a nonce"
//     method of NIST SP 800-38A Appendix C. The sequence number is unique
//     per SA and AES under a secret key is a PRP, so the IV is unpredictable
//     to anyone without the key; the core needs no per-packet randomness and
//     a run replays exactly.
//
// Costs: each SA owns one EVP_CIPHER_CTX (and, for CBC, one EVP_MAC_CTX),
// keyed once at creation; seal() and open() allocate nothing in our code.
// OpenSSL 3.0 itself allocates twice per packet inside EVP_MAC_init when it
// restarts an HMAC (it duplicates the keyed digest context), so only the AEAD
// suites are allocation-free end to end (see docs/architecture.md, esp).
//
// Errors are values (SaResult<T>), never exceptions, and the input is never
// read out of bounds whatever its length or content. Not thread-safe: one
// SA per core/thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <variant>

#include "base/bytes.h"
#include "base/result.h"
#include "esp/replay_window.h"
#include "ike/state.h"
#include "wire/esp.h"

namespace ikecluster::esp {

// ---- buffer layout for OutboundSa::seal -------------------------------------
//
//   buf: [ kHeadroom | inner packet (payload_len) | tailroom >= kTailroom ]
//                    ^ the caller puts the inner packet here
//   out:      [ SPI | seq | IV | ciphertext (payload | pad | pl | nh) | ICV ]
//
// The ESP packet starts kHeadroom - header_size() octets into buf (0 for
// AES-CBC, 8 for the AEADs, whose IV is 8 octets shorter); headroom for outer
// IP/UDP headers is the caller's business, in front of buf.
inline constexpr std::size_t kMaxIvSize = 16;                                // AES-CBC
inline constexpr std::size_t kMaxIcvSize = 32;                               // HMAC-SHA2-512-256
inline constexpr std::size_t kHeadroom = wire::kEspHeaderSize + kMaxIvSize;  // 24
// We pad only to the alignment (at most 15 octets for AES-CBC, 3 for the
// AEADs), plus Pad Length and Next Header, plus the ICV.
inline constexpr std::size_t kMaxPadding = 15;
inline constexpr std::size_t kTailroom = kMaxPadding + 2 + kMaxIcvSize;  // 49
// Largest inner packet: an ESP packet must fit an IP datagram.
inline constexpr std::size_t kMaxPayload = 65535;

inline constexpr std::uint8_t kNextHeaderIpv4 = 4;    // IP-in-IP (tunnel mode)
inline constexpr std::uint8_t kNextHeaderIpv6 = 41;   // IPv6 (tunnel mode)
inline constexpr std::uint8_t kNextHeaderDummy = 59;  // RFC 4303 §2.6: discard

// The Next Header for an inner packet in tunnel mode, from its IP version
// nibble: 4 for IPv4, 41 for IPv6; nullopt for anything else or empty input.
std::optional<std::uint8_t> tunnel_next_header(BytesView inner_packet);

// ---- errors ------------------------------------------------------------------

enum class SaError : std::uint8_t {
    // seal()
    BUFFER_TOO_SMALL,      // value = buffer size, expected = octets needed
    PAYLOAD_TOO_LARGE,     // value = payload length, expected = kMaxPayload
    BAD_INNER_PACKET,      // tunnel mode: not IPv4/IPv6 (value = first octet or size 0)
    NEXT_HEADER_REQUIRED,  // the two-argument seal() on a transport-mode SA
    SEQ_EXHAUSTED,         // sending would reuse a sequence number (RFC 4303 §3.3.3)
    // set_next_seq()
    SEQ_BACKWARDS,     // value = requested, expected = the current next number
    SEQ_OUT_OF_RANGE,  // value = requested, expected = largest allowed
    // open()
    TRUNCATED,    // value = packet size, expected = the minimum for the suite
    BAD_LENGTH,   // AES-CBC ciphertext not whole blocks (value = its length)
    WRONG_SPI,    // value = SPI in the packet, expected = ours
    DUPLICATE,    // replay window: seen before (value = full seq)
    TOO_OLD,      // replay window: left of it (value = full seq, or low 32 bits)
    AUTH_FAILED,  // ICV mismatch: forged, corrupted or wrong keys
    NO_TRAILER,   // plaintext shorter than Pad Length | Next Header
    PAD_LENGTH,   // value = pad length, expected = octets available
    BAD_PADDING,  // value = octet, expected = what RFC 4303 §2.4 puts there
};

struct SaFailure {
    SaError code = SaError::TRUNCATED;
    std::size_t offset = 0;      // in the packet / buffer
    std::uint64_t value = 0;     // the offending number
    std::uint64_t expected = 0;  // what was needed, where that is a number
    friend bool operator==(const SaFailure&, const SaFailure&) = default;
    // For logs, off the fast path (allocates).
    Error to_error() const;
};

const char* to_string(SaError e);

template <typename T>
class [[nodiscard]] SaResult {
  public:
    SaResult(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    SaResult(SaFailure f) : v_(f) {}             // NOLINT: implicit by design

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const SaFailure& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, SaFailure> v_;
};

// ---- sequence-number stripes (cluster split-brain safety) ---------------------

// Sequence numbers are split into stripes of 2^shift numbers; stripe k belongs
// to member (k mod count). A member only ever sends numbers in its own
// stripes, so two members that both believe they are active (split brain) can
// never send the same sequence number on the same SA. That matters beyond
// replay protection: RFC 4303 §3.3.3 forbids reusing a number, and for the
// AEAD suites the IV *is* the sequence number (RFC 4106 §3.1), so a reused
// number is a reused GCM nonce, which leaks the authentication key. RFC 6027
// §3.4 names the counter as the state that must never go backwards in a
// cluster; stripes make that hold even when replication lags or fails.
//
// Cost: each member can use only 1/count of the space (without ESN 2^32/count
// numbers per SA), so SAs need rekeying count times as often; needs_rekey()
// and SEQ_EXHAUSTED account for that. A larger shift makes the stripe jump
// rarer (it happens once per 2^shift packets, off the common path).
struct SeqStripes {
    std::uint8_t shift = 0;
    std::uint16_t index = 0;
    std::uint16_t count = 1;  // count 1 = off
    friend bool operator==(const SeqStripes&, const SeqStripes&) = default;
};
// The smallest n >= seq in one of s.index's stripes; 0 if there is none below
// 2^64 (only possible for seq > 0, so 0 is unambiguous there). count <= 1:
// seq itself. Expects s.index < s.count and s.shift < 64.
std::uint64_t stripe_align(std::uint64_t seq, const SeqStripes& s);
// How many numbers in [first, last] belong to s.index's stripes (0 when
// first > last). With count >= 2 the answer is at most 2^63; with count 1
// the whole space [0, 2^64-1] saturates at 2^64-1.
std::uint64_t stripe_count_in(std::uint64_t first, std::uint64_t last, const SeqStripes& s);

// ---- options and counters ----------------------------------------------------

struct SaOptions {
    // Inbound: packets tracked behind the highest (ReplayWindow rounds it).
    std::size_t replay_window = ReplayWindow::kDefaultSize;
    // Outbound: needs_rekey() turns true when at most this many sequence
    // numbers remain. 0 picks 1/16 of the space (2^28 without ESN, 2^60
    // with), which at 10 Mpps leaves ~27 s to rekey a non-ESN SA. With
    // stripes, 1/16 of this member's share of the space.
    std::uint64_t rekey_margin = 0;
    // Outbound: which numbers this member may send (see SeqStripes).
    SeqStripes stripes;
};

struct OutboundCounters {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;    // inner packet octets
    std::uint64_t refused = 0;  // seal() errors, SEQ_EXHAUSTED included
    friend bool operator==(const OutboundCounters&, const OutboundCounters&) = default;
};

struct InboundCounters {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;          // inner packet octets
    std::uint64_t replay_drops = 0;   // DUPLICATE, TOO_OLD
    std::uint64_t auth_failures = 0;  // AUTH_FAILED
    std::uint64_t malformed = 0;      // TRUNCATED, BAD_LENGTH, WRONG_SPI, trailer errors
    friend bool operator==(const InboundCounters&, const InboundCounters&) = default;
};

namespace detail {
class Transform;  // the cipher (and MAC) contexts of one direction
}

// ---- outbound -----------------------------------------------------------------

class OutboundSa {
  public:
    // From the Child SA as the engine installs it: spi_out, keys.encr_out /
    // keys.integ_out, encr, integ, esn, mode. Errors: an unsupported suite,
    // keys of the wrong size, an SPI below 256, or stripes that are invalid
    // (count 0, index >= count, shift >= 64) or leave this member no number
    // of the SA's space (e.g. shift >= 32 without ESN for index > 0).
    static Result<OutboundSa> create(const ike::ChildSaState& child, const SaOptions& opts = {});
    ~OutboundSa();
    OutboundSa(OutboundSa&&) noexcept;
    OutboundSa& operator=(OutboundSa&&) noexcept;

    // Tunnel mode: Next Header from the inner packet's IP version.
    // The inner packet is buf[kHeadroom, kHeadroom + payload_len). On
    // success returns the ESP packet, a subspan of buf starting at
    // kHeadroom - header_size() and sealed_size(payload_len) long; the
    // payload octets have been overwritten. Errors (nothing in buf changes
    // and no sequence number is used): BUFFER_TOO_SMALL, PAYLOAD_TOO_LARGE,
    // BAD_INNER_PACKET, NEXT_HEADER_REQUIRED, SEQ_EXHAUSTED. On SEQ_EXHAUSTED the caller must stop
    // using the SA and rekey.
    SaResult<std::span<std::uint8_t>> seal(std::span<std::uint8_t> buf, std::size_t payload_len);
    // Any mode with an explicit Next Header: the transport protocol (6, 17,
    // ...) in transport mode, 59 for a dummy packet.
    SaResult<std::span<std::uint8_t>> seal(std::span<std::uint8_t> buf, std::size_t payload_len,
                                           std::uint8_t next_header);

    // SPI | seq | IV octets, and the whole ESP packet for a payload length.
    std::size_t header_size() const;
    std::size_t sealed_size(std::size_t payload_len) const;

    std::uint32_t spi() const { return spi_; }
    bool esn() const { return esn_; }
    ike::IpsecMode mode() const { return mode_; }

    // The number the next packet will carry (1 for a fresh SA, or the first
    // number of this member's first stripe).
    std::uint64_t next_seq() const { return next_seq_; }
    std::uint64_t packets_sent() const { return counters_.packets; }
    // Packets that can still be sent: the numbers of this member's stripes
    // from next_seq() up to 2^32-1 or 2^64-1 (without stripes: 2^32-1 or
    // 2^64-1 minus those used).
    std::uint64_t remaining_before_wrap() const;
    // True once remaining_before_wrap() <= the rekey margin (precomputed as a
    // sequence number: one comparison on the packet path).
    bool needs_rekey() const { return exhausted_ || next_seq_ >= rekey_seq_; }
    // Moves the counter forward to `next` (a cluster member taking over
    // continues from a replicated checkpoint plus a margin), then on to this
    // member's next own number (stripe_align). Never backwards:
    // SEQ_BACKWARDS if `next` < next_seq(), SEQ_OUT_OF_RANGE if `next` is 0
    // or beyond the last number plus one (which leaves the SA exhausted, as
    // does a `next` with no own number left after it). Returns the new
    // next_seq().
    SaResult<std::uint64_t> set_next_seq(std::uint64_t next);
    const SeqStripes& stripes() const { return stripes_; }

    const OutboundCounters& counters() const { return counters_; }

  private:
    OutboundSa(std::unique_ptr<detail::Transform> t, const ike::ChildSaState& child,
               const SaOptions& opts);
    SaResult<std::span<std::uint8_t>> refuse(SaFailure f);
    void next_stripe();

    std::unique_ptr<detail::Transform> t_;
    std::uint32_t spi_;
    bool esn_;
    ike::IpsecMode mode_;
    std::uint64_t next_seq_ = 1;
    std::uint64_t last_seq_;       // 2^32-1 or 2^64-1
    std::uint64_t rekey_seq_ = 0;  // needs_rekey() from this next_seq_ on
    SeqStripes stripes_;
    // seal() looks at stripes only when (next_seq_ & stripe_mask_) == 0, i.e.
    // at a stripe boundary; without stripes the mask is all ones, which
    // matches only when the counter wrapped (and then exhausted_ is set).
    std::uint64_t stripe_mask_ = ~std::uint64_t{0};
    bool exhausted_ = false;  // the last number was used (ESN: next_seq_ wrapped)
    OutboundCounters counters_;
};

// ---- inbound -------------------------------------------------------------------

struct Opened {
    std::span<std::uint8_t> payload;  // the inner packet, inside the caller's buffer
    std::uint8_t next_header = 0;     // 4/41 in tunnel mode; 59 = dummy, drop it
    std::uint64_t seq = 0;            // full (ESN-inferred) sequence number
};

class InboundSa {
  public:
    // From the Child SA: spi_in, keys.encr_in / keys.integ_in, encr, integ,
    // esn, mode. Errors as OutboundSa::create.
    static Result<InboundSa> create(const ike::ChildSaState& child, const SaOptions& opts = {});
    ~InboundSa();
    InboundSa(InboundSa&&) noexcept;
    InboundSa(const InboundSa&) = delete;
    InboundSa& operator=(InboundSa&&) noexcept;

    // Verifies and decrypts an ESP packet (from the SPI to the ICV) in
    // place. Order: length, SPI, replay check, ICV (constant time), decrypt,
    // trailer and padding (RFC 4303 §2.4), and only then the replay window
    // moves (§3.4.3). Errors: TRUNCATED, BAD_LENGTH, WRONG_SPI, DUPLICATE,
    // TOO_OLD, AUTH_FAILED, NO_TRAILER, PAD_LENGTH, BAD_PADDING; the caller
    // drops the packet (RFC 4303 §3.4.3/§3.4.4 suggest logging the first two
    // kinds as auditable events). After AUTH_FAILED the buffer holds garbage.
    SaResult<Opened> open(std::span<std::uint8_t> packet);

    std::uint32_t spi() const { return spi_; }
    bool esn() const { return window_.esn(); }
    ike::IpsecMode mode() const { return mode_; }

    // The replay window, e.g. highest() for replication and raise_highest()
    // on takeover.
    const ReplayWindow& window() const { return window_; }
    ReplayWindow& window() { return window_; }

    const InboundCounters& counters() const { return counters_; }

  private:
    InboundSa(std::unique_ptr<detail::Transform> t, const ike::ChildSaState& child,
              const SaOptions& opts);
    SaResult<Opened> drop(SaFailure f, std::uint64_t InboundCounters::*counter);

    std::unique_ptr<detail::Transform> t_;
    std::uint32_t spi_;
    ike::IpsecMode mode_;
    ReplayWindow window_;
    InboundCounters counters_;
};

}  // namespace ikecluster::esp
