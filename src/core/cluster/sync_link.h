// The cluster sync link: one member's end of the authenticated, reliable
// datagram channel to one other member (sans-IO: datagrams, time and
// randomness go in and out through the API; no sockets, no clock).
//
// Members replicate SA state over it (RFC 6027 §3 tight clusters: every
// member must hold the state it needs to take over). The replication layer
// hands opaque records to send() and gets them back, exactly once and in
// order, from take_delivered() on the other member.
//
// Datagram (all integers big-endian):
//
//   0  version (1) | type (1 HELLO, 2 DATA) | key id | reserved (0)
//   4  sender member id (16) | receiver member id (16)
//   8  sender session (64)
//  16  receiver session (64): the sender's view of the receiver's session
//  24  packet number (64): per SyncLink object, strictly increasing
//  32  AES-256-GCM ciphertext | 16-octet ICV; the 32-octet header is the AAD
//      and the GCM nonce is salt | packet number
//
// Keys. For each configured cluster key, PRK = HMAC-SHA-256("ikecluster sync
// v1", secret) (the HKDF extract step, RFC 5869 §2.2) and every key below is
// HKDF-Expand(PRK, info, 36) (§2.3: 32 octets of AES key, 4 of GCM salt):
//   HELLO key: info = "hello" | key id | sender id | receiver id | sender session
//   DATA key:  info = "data"  | key id | sender id | receiver id |
//                     sender session | receiver session
// Each SyncLink draws a fresh random 64-bit session at construction and its
// packet numbers start at 1, so a (key, nonce) pair never repeats: a restart
// of either end changes every key it uses or receives with, even though the
// secret stays the same. keys[0] seals; every configured key opens (the key id
// in the header selects it), so a secret can be rotated member by member.
//
// Handshake. A HELLO (plaintext: challenge (64) | echo (64) | flags (8), bit 0
// "established") tells the peer our session and carries a random challenge.
// A peer session is only ever adopted from a HELLO that echoes our current
// challenge, and the challenge is replaced on every adoption:
//
//   A -> B  HELLO sess=a, peer=?, challenge=ca, echo=-
//   B -> A  HELLO sess=b, peer=?, challenge=cb, echo=ca    A adopts b
//   A -> B  HELLO sess=a, peer=b, challenge=ca', echo=cb   B adopts a
//   B -> A  HELLO sess=b, peer=a, established              A is established
//
// A side is established once it knows the peer's session and the peer has
// shown it knows ours (a HELLO naming our session, or any DATA, which is keyed
// by both sessions). An unestablished side repeats its HELLO from on_timer
// with backoff (rto_initial doubling up to rto_max); a HELLO is answered when
// its sender does not know our session or is not established yet, or when it
// made us adopt a new session. Only an established side sends DATA.
//
// Adopting a new session of a peer whose previous session we knew means the
// peer restarted and lost everything it had from us: the link drops its
// resend queue, starts a new outbound stream and take_peer_reset() says so
// once, so that the replication layer sends a bulk snapshot. The first
// handshake is not a reset: records sent before it are kept and delivered.
//
// What an attacker without the secret can do: drop, delay, reorder, duplicate
// and replay datagrams, and send garbage. A forged or corrupted datagram fails
// the ICV (auth_failures). A replayed DATA datagram is dropped by the packet
// number window (replays), or because it names a session that is no longer
// current on either end (stale_session): DATA keys are bound to both sessions.
// A replayed HELLO cannot make us adopt a session, since it echoes a
// challenge that has been replaced; at worst a HELLO of a session we never
// adopted (recorded before a restart and never delivered) can make one side
// adopt a dead session, which the live peer's next handshake undoes. So
// replays can delay convergence (and cost a snapshot), but they can never
// forge state, replay a record, or make a record be delivered twice.
//
// Reliability (per direction). Records are split into chunks of at most one
// datagram's payload (a record larger than a datagram is fragmented; records
// are capped at kMaxRecordSize); chunks carry consecutive sequence numbers
// and an end-of-record flag, so records are reassembled and delivered in
// order, exactly once. The receiver sends cumulative ACKs with SACK ranges
// (the gaps between them are the NACKs), piggybacked on data or after
// ack_delay (at once on a gap or a duplicate). The sender retransmits a chunk
// when a datagram sent 3 packet numbers after it was acknowledged, or on the
// retransmission timeout (RFC 6298 estimator, doubled on every expiry up to
// rto_max). At most `window` datagrams with reliable chunks are in flight and
// at most max_queued records wait for acknowledgement; when that queue is
// full, send() fails and the stream is reset (take_peer_reset() reports it).
// Every DATA datagram names the sender's stream epoch, so the receiver starts
// over when a reset stream begins.
//
// Unreliable records (heartbeats) are sent once, never retransmitted and
// delivered as they arrive; one that does not fit a datagram is dropped.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/time.h"
#include "crypto/random.h"

namespace ikecluster::cluster {

struct ClusterKey {
    std::uint8_t id = 0;
    Bytes secret;  // at least kMinSecretSize octets
};

struct SyncLinkConfig {
    std::uint16_t self = 0, peer = 0;  // member ids
    std::vector<ClusterKey> keys;      // keys[0] sends; every key receives
    std::size_t max_datagram = 1400;   // whole UDP payload, 512..65507
    Duration rto_initial = std::chrono::milliseconds(200);
    Duration rto_max = std::chrono::seconds(2);
    Duration rto_min = std::chrono::milliseconds(20);  // floor of the RTT estimate
    Duration ack_delay = std::chrono::milliseconds(5);
    std::size_t max_queued = 1 << 20;  // records not yet acknowledged
    std::size_t window = 512;          // datagrams in flight
};

struct SyncLinkStats {
    std::uint64_t datagrams_in = 0, datagrams_out = 0;
    std::uint64_t bytes_in = 0, bytes_out = 0;
    std::uint64_t retransmits = 0;    // chunks sent again
    std::uint64_t auth_failures = 0;  // ICV mismatch or unknown key id
    std::uint64_t replays = 0;        // packet number seen or too old
    std::uint64_t malformed = 0;      // bad header or frames
    std::uint64_t stale_session = 0;  // DATA of a session that is not current
    std::uint64_t records_delivered = 0;
    std::uint64_t records_sent = 0;        // reliable + unreliable accepted
    std::uint64_t unreliable_dropped = 0;  // too large, or queued when not established
};

class SyncLink {
  public:
    static constexpr std::size_t kMinSecretSize = 32;
    static constexpr std::size_t kMaxRecordSize = 1 << 20;

    // Errors: no keys, a secret shorter than kMinSecretSize, duplicate key
    // ids, self == peer, max_datagram outside 512..65507, a zero window or
    // queue, rto_min > rto_initial > rto_max. Draws the session from `rng`.
    static Result<SyncLink> create(SyncLinkConfig cfg, crypto::Random& rng, Time now);
    ~SyncLink();
    SyncLink(SyncLink&&) noexcept;
    SyncLink& operator=(SyncLink&&) noexcept;

    // Reliable. Errors: a record above kMaxRecordSize (nothing changes), or
    // a full queue (max_queued records unacknowledged): the record is
    // dropped, the stream is reset and take_peer_reset() becomes true.
    Status send(Bytes record);
    void send_unreliable(Bytes record);

    // Any input is safe: bad datagrams are counted in stats() and dropped.
    void receive(Time now, BytesView datagram);
    void on_timer(Time now);
    // The earliest time on_timer wants to run; Time::max() when idle.
    Time next_deadline() const;
    // Packs what send()/send_unreliable() queued into datagrams now (as far
    // as the window allows; receive() and on_timer() send more as it opens).
    void flush(Time now);
    std::vector<Bytes> take_datagrams();

    struct Delivered {
        bool reliable = true;
        Bytes record;
    };
    std::vector<Delivered> take_delivered();

    // True once after each peer restart or stream reset (see above).
    bool take_peer_reset();
    bool established() const;
    std::size_t queued() const;
    // The outbound stream (changes at every reset), the reliable records
    // sent on it, and how many of those are acknowledged together with
    // every record before them.
    std::uint64_t stream() const;
    std::uint64_t sent_records() const;
    std::uint64_t acked_records() const;  // records sent but not yet acknowledged
    const SyncLinkStats& stats() const;
    std::uint64_t session() const;  // our random session id (for logs/tests)

  private:
    struct Impl;
    explicit SyncLink(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ikecluster::cluster
