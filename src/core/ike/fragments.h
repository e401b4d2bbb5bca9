// IKE message fragmentation (RFC 7383) for one IKE SA.
//
// Sending (§2.4, §2.5): the inner payload chain of an encrypted message is
// split before encryption; each piece travels in its own complete IKE message
// whose only payload is an Encrypted Fragment (SKF) payload, padded,
// encrypted and integrity-protected on its own:
//
//   IKE header (Next Payload = SKF) | SKF header | Fragment Number |
//   Total Fragments | IV | Encrypt(piece | padding | pad length) | ICV
//
// The AAD (AEAD) or integrity-protected prefix (CBC + HMAC) is every octet
// before the IV, so the fragment counters are authenticated too (§2.5).
//
// Receiving (§2.6): FragmentReassembler authenticates every fragment as it
// arrives, keeps the decrypted pieces of one message ID, and hands back the
// reassembled inner chain once every fragment is there.
//
// Neither half decides *whether* to fragment (that needs
// IKEV2_FRAGMENTATION_SUPPORTED from both ends, §2.3) nor checks message IDs
// against the window (RFC 7296 §2.3); the engine does both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/random.h"
#include "crypto/sk_cipher.h"
#include "wire/header.h"
#include "wire/message.h"

namespace ikecluster::ike {

// Total Fragments is a 16-bit field (§2.5).
inline constexpr std::size_t kMaxTotalFragments = 65535;

// Octets of an SKF message before the encrypted body: IKE header, generic
// payload header, Fragment Number and Total Fragments.
inline constexpr std::size_t kSkfOverhead = wire::kHeaderSize + wire::kGenericHeaderSize + 4;
// The same for an unfragmented SK message.
inline constexpr std::size_t kSkOverhead = wire::kHeaderSize + wire::kGenericHeaderSize;

// Seals `inner` (as wire::encode_payloads gives it) for sending with
// `header`'s SPIs, exchange type, flags and message ID (its next_payload and
// length are ignored and computed here).
//
// `max_message_size` is the largest IKE message we may send: the UDP payload
// after the IP and UDP headers and, on port 4500, the 4-octet non-ESP marker
// (RFC 7383 §2.5.1 suggests IP datagrams of 1280 octets for IPv6 and 576 for
// IPv4, i.e. 1232 and 548 here without a marker). Values above 65535 are
// treated as 65535, since a UDP payload and the SK payload's 16-bit length
// cannot carry more.
//
// Returns one datagram (an SK message) when the whole message fits, else
// Total Fragments SKF messages in Fragment Number order, each at most
// `max_message_size` octets.
//
// Errors (the caller cannot send this message on this path; nothing is
// consumed from `rng`):
//  - max_message_size leaves no room for even one octet of payload data in an
//    SKF message with this cipher;
//  - more than 65535 fragments would be needed.
Result<std::vector<Bytes>> seal_fragmented(const wire::Header& header,
                                           const wire::EncodedChain& inner, crypto::SkCipher& out,
                                           crypto::Random& rng, std::size_t max_message_size);

// Bounds on what one reassembly may hold, so a peer (even an authenticated
// one) cannot make us keep unbounded state.
struct ReassemblyLimits {
    // Sum of the decrypted pieces held for one message.
    std::size_t max_bytes = 64 * 1024;
    // Largest Total Fragments accepted (at most kMaxTotalFragments).
    std::size_t max_fragments = 256;
};

// Collects the fragments of one message at a time for one IKE SA and
// direction (e.g. requests from the peer; responses need a second one).
//
// Not thread-safe; one per IKE SA and direction, owned by the engine.
class FragmentReassembler {
  public:
    explicit FragmentReassembler(ReassemblyLimits limits = {}) : limits_(limits) {}

    // Feeds one received fragment: `msg` is wire::decode_message(datagram),
    // which must hold exactly one payload, an SKF; `in` is the SkCipher for
    // the inbound direction.
    //
    // Returns:
    //  - the reassembled inner chain (first payload type from fragment 1, and
    //    the pieces concatenated in Fragment Number order) when this fragment
    //    completed the message; the reassembler is then empty again;
    //  - nullopt when the fragment was authenticated and stored and more are
    //    needed;
    //  - an Error when the fragment was dropped. The caller drops the
    //    datagram silently (RFC 7296 §2.21.2). The stored state is unchanged
    //    except where noted:
    //      "not an SKF message: ..."           no single SKF payload
    //      "SKF fragment number N of M ..."     N == 0 or N > M (§2.5)
    //      "SKF Total Fragments M exceeds ..."  M above limits.max_fragments
    //      "SKF Total Fragments M is less ..."  M smaller than the one being
    //                                           collected for this message ID
    //                                           (§2.6)
    //      "duplicate SKF fragment ..."         already held (§2.6)
    //      "SKF fragment header differs ..."    exchange type or flags differ
    //                                           from the fragments held
    //      "SKF fragment N of M: <open error>"  integrity check or padding
    //                                           failed (§2.6: authenticated
    //                                           one by one; forged ones are
    //                                           dropped, the rest kept)
    //      "SKF reassembly exceeds ..."         the message would exceed
    //                                           limits.max_bytes; everything
    //                                           held is discarded
    //
    // Only an authenticated fragment changes what is held: one with a new
    // message ID discards the incomplete previous message, one with a larger
    // Total Fragments for the same message ID discards what was collected and
    // starts over (§2.6: the sender re-fragmented, e.g. after PMTU discovery).
    Result<std::optional<wire::EncodedChain>> add(const wire::Message& msg, BytesView datagram,
                                                  crypto::SkCipher& in);

    // Discards everything held (e.g. when the IKE SA is rekeyed or deleted).
    void reset();

    // The message ID being collected, if any.
    std::optional<std::uint32_t> message_id() const;
    std::size_t fragments_held() const { return pieces_.size(); }
    std::size_t bytes_held() const { return bytes_; }
    const ReassemblyLimits& limits() const { return limits_; }

  private:
    ReassemblyLimits limits_;
    bool active_ = false;
    std::uint32_t message_id_ = 0;
    std::uint16_t total_ = 0;
    std::uint8_t exchange_ = 0;
    std::uint8_t flags_ = 0;
    std::uint8_t first_inner_ = 0;  // from fragment 1, once it arrived
    std::size_t bytes_ = 0;
    std::map<std::uint16_t, Bytes> pieces_;  // Fragment Number -> decrypted piece
};

}  // namespace ikecluster::ike
