#include "cluster/sync_link.h"

#include <algorithm>
#include <array>
#include <deque>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "base/buffer.h"
#include "crypto/aead.h"
#include "crypto/prf.h"

namespace ikecluster::cluster {
namespace {

constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kTypeHello = 1;
constexpr std::uint8_t kTypeData = 2;
constexpr std::size_t kHeaderSize = 32;
constexpr std::size_t kTagSize = crypto::Aead::kTagSize;
constexpr std::size_t kOverhead = kHeaderSize + kTagSize;
constexpr std::size_t kMinDatagram = 512;
constexpr std::size_t kMaxDatagram = 65507;  // largest UDP/IPv4 payload

// DATA plaintext: stream epoch (32) then frames.
constexpr std::size_t kEpochSize = 4;
constexpr std::uint8_t kFrameChunk = 0x10;       // seq (64) | len (16) | data
constexpr std::uint8_t kFrameChunkEnd = 0x11;    // same, last chunk of a record
constexpr std::uint8_t kFrameUnreliable = 0x20;  // len (16) | data
// ACK: epoch (32) | largest packet number received (64) | cum (64) | n (8) |
// n * (offset from cum (32) | length - 1 (32))
constexpr std::uint8_t kFrameAck = 0x30;
constexpr std::size_t kChunkHeader = 11;
constexpr std::size_t kUnreliableHeader = 3;
constexpr std::size_t kMaxSackRanges = 32;
constexpr std::size_t kHelloPlaintext = 17;

// How far above the next expected chunk the receiver buffers (and so how far
// ahead of the oldest unacknowledged chunk the sender may go).
constexpr std::uint64_t kMaxRxAhead = 16384;
constexpr std::size_t kReplayWindow = 4096;  // packet numbers, bits
constexpr std::uint64_t kReorderThreshold = 3;
constexpr std::size_t kAckEvery = 4;  // ack-eliciting datagrams before an immediate ACK
constexpr std::size_t kMaxUnreliableQueued = 1024;
constexpr std::size_t kKeyMaterial = 36;  // AES-256 key | salt

const Bytes& extract_salt() {
    static const Bytes s = to_bytes("ikecluster sync v1");
    return s;
}

std::array<std::uint8_t, 8> be64(std::uint64_t v) {
    std::array<std::uint8_t, 8> b{};
    store_be64(b.data(), v);
    return b;
}

std::uint64_t nonzero_u64(crypto::Random& rng) {
    for (;;) {
        std::uint64_t v = rng.u64();
        if (v != 0) return v;
    }
}

struct Header {
    std::uint8_t type = 0;
    std::uint8_t key_id = 0;
    std::uint16_t sender = 0, receiver = 0;
    std::uint64_t sender_session = 0, receiver_session = 0, pn = 0;
};

void write_header(Bytes& out, const Header& h) {
    Writer w(out);
    w.u8(kVersion);
    w.u8(h.type);
    w.u8(h.key_id);
    w.u8(0);
    w.u16(h.sender);
    w.u16(h.receiver);
    w.u64(h.sender_session);
    w.u64(h.receiver_session);
    w.u64(h.pn);
}

// Sliding window over packet numbers (the ESP scheme, RFC 4303 §3.4.3):
// anything at or below `top - kReplayWindow` is too old to tell apart.
class ReplayWindow {
  public:
    std::uint64_t top() const { return top_; }
    void reset() {
        top_ = 0;
        bits_.fill(0);
    }
    bool fresh(std::uint64_t pn) const {
        if (pn == 0) return false;
        if (pn > top_) return true;
        if (top_ - pn >= kReplayWindow) return false;
        return !test(pn);
    }
    void mark(std::uint64_t pn) {
        if (pn > top_) {
            const std::uint64_t shift = pn - top_;
            if (shift >= kReplayWindow) {
                bits_.fill(0);
            } else {
                for (std::uint64_t p = top_ + 1; p < pn; ++p)
                    clear(p);
            }
            top_ = pn;
        }
        set(pn);
    }

  private:
    bool test(std::uint64_t pn) const {
        const std::size_t i = pn % kReplayWindow;
        return bits_[i / 64] >> (i % 64) & 1;
    }
    void set(std::uint64_t pn) {
        const std::size_t i = pn % kReplayWindow;
        bits_[i / 64] |= std::uint64_t(1) << (i % 64);
    }
    void clear(std::uint64_t pn) {
        const std::size_t i = pn % kReplayWindow;
        bits_[i / 64] &= ~(std::uint64_t(1) << (i % 64));
    }
    std::uint64_t top_ = 0;
    std::array<std::uint64_t, kReplayWindow / 64> bits_{};
};

struct TxChunk {
    Bytes data;
    bool end = false;
    bool acked = false;
    std::uint64_t last_pn = 0;  // packet number of its latest transmission
};

// The resend queue: a vector consumed from the front, compacted now and
// then (cheaper than a deque for the indexed access ACK processing does).
class ChunkQueue {
  public:
    std::size_t size() const { return v_.size() - head_; }
    bool empty() const { return size() == 0; }
    TxChunk& operator[](std::size_t i) { return v_[head_ + i]; }
    TxChunk& front() { return v_[head_]; }
    void push_back(TxChunk c) { v_.push_back(std::move(c)); }
    void pop_front() {
        v_[head_] = TxChunk();
        if (++head_ >= 4096 && head_ * 2 >= v_.size()) {
            v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }
    void clear() {
        v_.clear();
        head_ = 0;
    }
    auto begin() { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
    auto end() { return v_.end(); }

  private:
    std::vector<TxChunk> v_;
    std::size_t head_ = 0;
};

struct Flight {
    Time sent;
    std::vector<std::uint64_t> seqs;
    bool retransmission = false;
};

struct AckFrame {
    std::uint32_t epoch = 0;
    std::uint64_t largest_pn = 0;
    std::uint64_t cum = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;  // [first, last]
};

struct ChunkFrame {
    std::uint64_t seq = 0;
    bool end = false;
    BytesView data;
};

}  // namespace

struct SyncLink::Impl {
    SyncLinkConfig cfg;
    crypto::Random& rng;
    crypto::Prf prf{PrfId::HMAC_SHA2_256};
    std::vector<Bytes> prk;  // per cfg.keys entry

    std::uint64_t session = 0;
    std::uint64_t next_pn = 1;
    SyncLinkStats stats;

    // Handshake.
    std::uint64_t peer_session = 0;
    bool peer_knows_me = false;
    std::uint64_t challenge = 0;
    std::uint64_t peer_challenge = 0;  // latest challenge of peer_session
    bool reply_pending = false;
    std::uint64_t reply_echo = 0;
    Time next_hello;
    Duration hello_interval;
    bool peer_reset = false;

    std::unique_ptr<crypto::Aead> tx_hello;
    std::unique_ptr<crypto::Aead> tx_data;
    struct RxHello {
        std::uint64_t session = 0;
        std::unique_ptr<crypto::Aead> aead;
    };
    std::vector<RxHello> rx_hello;                       // per key
    std::vector<std::unique_ptr<crypto::Aead>> rx_data;  // per key, current sessions
    ReplayWindow replay;

    // Outbound reliable stream.
    std::uint32_t tx_epoch = 1;
    ChunkQueue tx_chunks;  // tx_chunks[0] has seq tx_base
    std::uint64_t tx_base = 1;
    std::uint64_t tx_next_new = 1;  // lowest seq never sent
    std::set<std::uint64_t> tx_retx;
    std::map<std::uint64_t, Flight> flights;  // by packet number
    std::size_t tx_records = 0;
    // Reliable records handed to send() in this stream, and how many of
    // them are acknowledged with everything before them (hold-until-synced
    // needs a prefix: a SACKed later record says nothing about a lost one).
    std::uint64_t tx_sent_total = 0;
    std::uint64_t tx_acked_in_order = 0;
    std::deque<Bytes> tx_unreliable;
    std::size_t chunk_max = 0;

    // RTT (RFC 6298).
    bool have_rtt = false;
    Duration srtt{0}, rttvar{0};
    Duration rto{0};
    unsigned backoff = 0;

    // Inbound reliable stream.
    std::uint32_t rx_epoch = 0;
    std::uint64_t rx_next = 1;
    std::uint64_t rx_highest = 0;
    std::map<std::uint64_t, std::pair<Bytes, bool>> rx_ooo;
    std::map<std::uint64_t, std::uint64_t> rx_ranges;  // rx_ooo as [first, last] runs
    Bytes rx_partial;
    bool rx_discarding = false;
    bool ack_pending = false;
    bool ack_now = false;
    Time ack_deadline = Time::max();
    std::size_t unacked_datagrams = 0;

    std::vector<Bytes> out;
    std::vector<Delivered> delivered;

    Impl(SyncLinkConfig c, crypto::Random& r) : cfg(std::move(c)), rng(r) {}

    bool established() const { return peer_session != 0 && peer_knows_me; }

    // HKDF-Expand (RFC 5869 §2.3) of one configured key to 36 octets.
    std::unique_ptr<crypto::Aead> derive(std::size_t key_index, BytesView info) {
        const Bytes& k = prk[key_index];
        const std::uint8_t one = 1, two = 2;
        Bytes t1 = prf.prf(k, {info, BytesView(&one, 1)});
        Bytes t2 = prf.prf(k, {t1, info, BytesView(&two, 1)});
        Bytes km = concat(t1, t2);
        km.resize(kKeyMaterial);
        auto a = crypto::Aead::create(EncrId::AES_GCM_16, 256, km);
        std::fill(km.begin(), km.end(), 0);
        // Cannot fail: AES-GCM-256 with 36 octets is always available.
        return a ? std::move(a.value()) : nullptr;
    }

    Bytes info(std::string_view label, std::size_t key_index, std::uint16_t from, std::uint16_t to,
               std::uint64_t from_session, std::optional<std::uint64_t> to_session) {
        Bytes b = to_bytes(label);
        Writer w(b);
        w.u8(cfg.keys[key_index].id);
        w.u16(from);
        w.u16(to);
        w.u64(from_session);
        if (to_session) w.u64(*to_session);
        return b;
    }

    std::unique_ptr<crypto::Aead> hello_key(std::size_t ki, std::uint16_t from, std::uint16_t to,
                                            std::uint64_t from_session) {
        return derive(ki, info("hello", ki, from, to, from_session, std::nullopt));
    }
    std::unique_ptr<crypto::Aead> data_key(std::size_t ki, std::uint16_t from, std::uint16_t to,
                                           std::uint64_t from_session, std::uint64_t to_session) {
        return derive(ki, info("data", ki, from, to, from_session, to_session));
    }

    Duration effective_rto() const {
        Duration r = rto;
        for (unsigned i = 0; i < backoff && r < cfg.rto_max; ++i)
            r *= 2;
        return std::min(r, cfg.rto_max);
    }

    // ---- stream resets -------------------------------------------------

    void reset_tx() {
        tx_chunks.clear();
        tx_retx.clear();
        flights.clear();
        tx_unreliable.clear();
        tx_base = tx_next_new = 1;
        tx_records = 0;
        tx_sent_total = 0;
        tx_acked_in_order = 0;
        ++tx_epoch;
        backoff = 0;
    }

    void reset_rx() {
        rx_epoch = 0;
        rx_next = 1;
        rx_highest = 0;
        rx_ooo.clear();
        rx_ranges.clear();
        rx_partial.clear();
        rx_discarding = false;
        ack_pending = ack_now = false;
        ack_deadline = Time::max();
        unacked_datagrams = 0;
    }

    void adopt(std::uint64_t s, bool knows_me) {
        const bool restarted = peer_session != 0;
        peer_session = s;
        peer_knows_me = knows_me;
        challenge = nonzero_u64(rng);
        peer_challenge = 0;
        replay.reset();
        for (auto& k : rx_data)
            k.reset();
        tx_data = data_key(0, cfg.self, cfg.peer, session, peer_session);
        reset_rx();
        if (restarted) {
            // Everything the old session had from us is gone with it.
            reset_tx();
            peer_reset = true;
        }
        // Tx state survives the first handshake, and the RTT estimate is
        // not a property of the peer's session.
        flights.clear();
        for (auto& c : tx_chunks)
            c.last_pn = 0;
        tx_retx.clear();
        tx_next_new = tx_base;
    }

    // ---- sending -------------------------------------------------------

    void emit(std::uint8_t type, BytesView plaintext, crypto::Aead& aead,
              std::uint64_t receiver_session) {
        Header h;
        h.type = type;
        h.key_id = cfg.keys[0].id;
        h.sender = cfg.self;
        h.receiver = cfg.peer;
        h.sender_session = session;
        h.receiver_session = receiver_session;
        h.pn = next_pn++;
        Bytes d;
        d.reserve(kOverhead + plaintext.size());
        write_header(d, h);
        d.resize(kHeaderSize + plaintext.size() + kTagSize);
        auto iv = be64(h.pn);
        aead.seal(crypto::Aead::Iv(iv), BytesView(d.data(), kHeaderSize), plaintext,
                  std::span<std::uint8_t>(d.data() + kHeaderSize, plaintext.size()),
                  crypto::Aead::Tag(d.data() + kHeaderSize + plaintext.size(), kTagSize));
        ++stats.datagrams_out;
        stats.bytes_out += d.size();
        out.push_back(std::move(d));
    }

    void send_hello(std::uint64_t echo) {
        Bytes pt;
        Writer w(pt);
        w.u64(challenge);
        w.u64(echo);
        w.u8(established() ? 1 : 0);
        emit(kTypeHello, pt, *tx_hello, peer_session);
    }

    void write_ack(Writer& w) {
        w.u8(kFrameAck);
        w.u32(rx_epoch);
        w.u64(replay.top());
        const std::uint64_t cum = rx_next - 1;
        w.u64(cum);
        std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
        for (const auto& range : rx_ranges) {
            if (ranges.size() == kMaxSackRanges) break;
            ranges.push_back(range);
        }
        w.u8(static_cast<std::uint8_t>(ranges.size()));
        for (auto [first, last] : ranges) {
            // Offsets stay below kMaxRxAhead, far inside 32 bits.
            w.u32(static_cast<std::uint32_t>(first - cum));
            w.u32(static_cast<std::uint32_t>(last - first));
        }
        ack_pending = ack_now = false;
        ack_deadline = Time::max();
        unacked_datagrams = 0;
    }

    bool window_open() const { return flights.size() < cfg.window; }
    bool new_chunk_ready() const {
        return tx_next_new < tx_base + tx_chunks.size() && tx_next_new < tx_base + kMaxRxAhead;
    }
    TxChunk& chunk(std::uint64_t seq) { return tx_chunks[seq - tx_base]; }

    // Packs and seals as many DATA datagrams as there is reason to send.
    void pump(Time now) {
        if (!established()) {
            if (reply_pending) {
                send_hello(reply_echo);
                reply_pending = false;
            }
            return;
        }
        if (reply_pending) {
            send_hello(reply_echo);
            reply_pending = false;
        }
        const std::size_t budget = cfg.max_datagram - kOverhead;
        for (;;) {
            // Drop retransmissions that got acknowledged meanwhile.
            while (!tx_retx.empty() &&
                   (*tx_retx.begin() < tx_base || chunk(*tx_retx.begin()).acked))
                tx_retx.erase(tx_retx.begin());
            const bool reliable = window_open() && (!tx_retx.empty() || new_chunk_ready());
            const bool ack_due = ack_pending && (ack_now || now >= ack_deadline);
            if (!reliable && !ack_due && tx_unreliable.empty()) return;

            Bytes pt;
            pt.reserve(budget);
            Writer w(pt);
            w.u32(tx_epoch);
            // A pending ACK rides along with whatever goes out (it always
            // fits an empty datagram: kMinDatagram); chunks that no longer
            // fit go in the next one.
            if (ack_pending) write_ack(w);
            Flight f;
            f.sent = now;
            if (reliable) {
                for (auto it = tx_retx.begin(); it != tx_retx.end();) {
                    const std::uint64_t seq = *it;
                    if (seq < tx_base || chunk(seq).acked) {
                        it = tx_retx.erase(it);
                        continue;
                    }
                    TxChunk& c = chunk(seq);
                    if (pt.size() + kChunkHeader + c.data.size() > budget) break;
                    write_chunk(w, seq, c);
                    f.seqs.push_back(seq);
                    f.retransmission = true;
                    ++stats.retransmits;
                    it = tx_retx.erase(it);
                }
                while (new_chunk_ready()) {
                    TxChunk& c = chunk(tx_next_new);
                    if (pt.size() + kChunkHeader + c.data.size() > budget) break;
                    write_chunk(w, tx_next_new, c);
                    f.seqs.push_back(tx_next_new);
                    ++tx_next_new;
                }
            }
            while (!tx_unreliable.empty() &&
                   pt.size() + kUnreliableHeader + tx_unreliable.front().size() <= budget) {
                w.u8(kFrameUnreliable);
                w.u16(static_cast<std::uint16_t>(tx_unreliable.front().size()));
                w.bytes(tx_unreliable.front());
                tx_unreliable.pop_front();
            }
            if (pt.size() == kEpochSize) return;  // nothing fit (cannot happen)
            const std::uint64_t pn = next_pn;
            for (std::uint64_t seq : f.seqs)
                chunk(seq).last_pn = pn;
            emit(kTypeData, pt, *tx_data, peer_session);
            if (!f.seqs.empty()) flights.emplace(pn, std::move(f));
        }
    }

    void write_chunk(Writer& w, std::uint64_t seq, const TxChunk& c) {
        w.u8(c.end ? kFrameChunkEnd : kFrameChunk);
        w.u64(seq);
        w.u16(static_cast<std::uint16_t>(c.data.size()));
        w.bytes(c.data);
    }

    // ---- timers --------------------------------------------------------

    void declare_lost(std::uint64_t pn, const Flight& f) {
        for (std::uint64_t seq : f.seqs) {
            if (seq < tx_base) continue;
            TxChunk& c = chunk(seq);
            if (!c.acked && c.last_pn == pn) tx_retx.insert(seq);
        }
    }

    void timer(Time now) {
        if (!established() && now >= next_hello) {
            send_hello(peer_challenge);
            reply_pending = false;
            next_hello = now + hello_interval;
            hello_interval = std::min(hello_interval * 2, cfg.rto_max);
        }
        if (!flights.empty()) {
            const Duration r = effective_rto();
            if (now >= flights.begin()->second.sent + r) {
                for (auto it = flights.begin(); it != flights.end();) {
                    if (it->second.sent + r > now) break;
                    declare_lost(it->first, it->second);
                    it = flights.erase(it);
                }
                if (backoff < 16) ++backoff;
            }
        }
        pump(now);
    }

    Time deadline() const {
        Time t = Time::max();
        if (!established()) t = std::min(t, next_hello);
        if (established() && ack_pending) t = std::min(t, ack_deadline);
        if (!flights.empty()) t = std::min(t, flights.begin()->second.sent + effective_rto());
        return t;
    }

    // ---- receiving -----------------------------------------------------

    void receive(Time now, BytesView d) {
        ++stats.datagrams_in;
        stats.bytes_in += d.size();
        if (d.size() < kOverhead) {
            ++stats.malformed;
            return;
        }
        Reader r(d);
        std::uint8_t version = 0, reserved = 0;
        Header h;
        // Cannot fail: the size was checked above.
        (void)(r.u8(version) && r.u8(h.type) && r.u8(h.key_id) && r.u8(reserved) &&
               r.u16(h.sender) && r.u16(h.receiver) && r.u64(h.sender_session) &&
               r.u64(h.receiver_session) && r.u64(h.pn));
        if (version != kVersion || reserved != 0 || (h.type != kTypeHello && h.type != kTypeData) ||
            h.sender != cfg.peer || h.receiver != cfg.self || h.sender_session == 0 || h.pn == 0) {
            ++stats.malformed;
            return;
        }
        std::optional<std::size_t> ki;
        for (std::size_t i = 0; i < cfg.keys.size(); ++i)
            if (cfg.keys[i].id == h.key_id) ki = i;
        if (!ki) {
            ++stats.auth_failures;
            return;
        }
        const BytesView aad = d.first(kHeaderSize);
        const BytesView sealed = d.subspan(kHeaderSize);
        const auto iv = be64(h.pn);
        if (h.type == kTypeHello) {
            RxHello& k = rx_hello[*ki];
            if (!k.aead || k.session != h.sender_session) {
                k.aead = hello_key(*ki, cfg.peer, cfg.self, h.sender_session);
                k.session = h.sender_session;
            }
            auto pt = k.aead->open(crypto::Aead::Iv(iv), aad, sealed);
            if (!pt) {
                ++stats.auth_failures;
                return;
            }
            on_hello(now, h, *pt);
        } else {
            if (h.sender_session != peer_session || h.receiver_session != session) {
                ++stats.stale_session;
                return;
            }
            if (!replay.fresh(h.pn)) {
                ++stats.replays;
                return;
            }
            auto& k = rx_data[*ki];
            if (!k) k = data_key(*ki, cfg.peer, cfg.self, peer_session, session);
            auto pt = k->open(crypto::Aead::Iv(iv), aad, sealed);
            if (!pt) {
                ++stats.auth_failures;
                return;
            }
            replay.mark(h.pn);
            on_data(now, *pt);
        }
        pump(now);
    }

    void on_hello(Time now, const Header& h, BytesView pt) {
        Reader r(pt);
        std::uint64_t peer_ch = 0, echo = 0;
        std::uint8_t flags = 0;
        if (pt.size() != kHelloPlaintext || !r.u64(peer_ch) || !r.u64(echo) || !r.u8(flags) ||
            peer_ch == 0 || (flags & ~1u) != 0) {
            ++stats.malformed;
            return;
        }
        const bool peer_established = flags & 1;
        const bool names_me = h.receiver_session == session;
        if (h.sender_session != peer_session) {
            // A session we do not know: adopt it only if the HELLO answers
            // our current challenge, which proves it is not a replay.
            if (echo == challenge) {
                adopt(h.sender_session, names_me);
                peer_challenge = peer_ch;
                if (!established()) arm_hello(now);
            }
            // Either way answer with our challenge (or confirm the adoption).
            reply_pending = true;
            reply_echo = peer_ch;
            return;
        }
        peer_challenge = peer_ch;
        // Knowledge of our session never regresses: a HELLO that does not
        // name us is an old one (a replay) unless the peer restarted, and a
        // restart comes with a new session of its own.
        if (names_me) peer_knows_me = true;
        if (!names_me || !peer_established) {
            reply_pending = true;
            reply_echo = peer_ch;
        }
    }

    void arm_hello(Time now) {
        hello_interval = cfg.rto_initial;
        next_hello = now + hello_interval;
    }

    bool parse_frames(BytesView pt, std::uint32_t& epoch, std::vector<ChunkFrame>& chunks,
                      std::vector<BytesView>& unreliable, std::optional<AckFrame>& ack) {
        Reader r(pt);
        if (!r.u32(epoch)) return false;
        while (!r.empty()) {
            std::uint8_t type = 0;
            r.u8(type);
            if (type == kFrameChunk || type == kFrameChunkEnd) {
                ChunkFrame c;
                std::uint16_t len = 0;
                if (!r.u64(c.seq) || !r.u16(len) || !r.bytes(len, c.data) || c.seq == 0)
                    return false;
                c.end = type == kFrameChunkEnd;
                chunks.push_back(c);
            } else if (type == kFrameUnreliable) {
                std::uint16_t len = 0;
                BytesView v;
                if (!r.u16(len) || !r.bytes(len, v)) return false;
                unreliable.push_back(v);
            } else if (type == kFrameAck) {
                if (ack) return false;  // one per datagram
                AckFrame a;
                std::uint8_t n = 0;
                if (!r.u32(a.epoch) || !r.u64(a.largest_pn) || !r.u64(a.cum) || !r.u8(n) ||
                    n > kMaxSackRanges)
                    return false;
                std::uint64_t floor = a.cum;  // ranges ascend, above cum, apart
                for (unsigned i = 0; i < n; ++i) {
                    std::uint32_t off = 0, len = 0;
                    if (!r.u32(off) || !r.u32(len)) return false;
                    const std::uint64_t first = a.cum + off;
                    const std::uint64_t last = first + len;
                    if (first < a.cum || first <= floor || last < first) return false;
                    a.ranges.emplace_back(first, last);
                    floor = last + 1;
                }
                ack = std::move(a);
            } else {
                return false;
            }
        }
        return true;
    }

    void on_data(Time now, BytesView pt) {
        std::uint32_t epoch = 0;
        std::vector<ChunkFrame> chunks;
        std::vector<BytesView> unreliable;
        std::optional<AckFrame> ack;
        if (!parse_frames(pt, epoch, chunks, unreliable, ack)) {
            // Authentic but not understood: a peer bug. Nothing of it is
            // applied, so no state is half-taken.
            ++stats.malformed;
            return;
        }
        // Authentic DATA is keyed by both sessions: the peer knows ours.
        peer_knows_me = true;
        if (ack) on_ack(now, *ack);
        for (BytesView u : unreliable) {
            delivered.push_back({false, to_bytes(u)});
            ++stats.records_delivered;
        }
        if (chunks.empty()) return;
        if (epoch > rx_epoch) {
            // A new stream of the peer (its queue overflowed, or it is the
            // first): what was half-received of the old one is void.
            reset_rx();
            rx_epoch = epoch;
        } else if (epoch < rx_epoch) {
            return;  // a late datagram of a stream that was reset
        }
        if (!ack_pending) ack_deadline = now + cfg.ack_delay;
        ack_pending = true;
        if (++unacked_datagrams >= kAckEvery) ack_now = true;
        for (const ChunkFrame& c : chunks) {
            if (c.seq < rx_next || rx_ooo.count(c.seq)) {
                ack_now = true;  // the sender missed our ACK
                continue;
            }
            if (c.seq >= rx_next + kMaxRxAhead) continue;  // beyond the buffer: resent later
            if (c.seq > rx_highest + 1 && c.seq > rx_next) ack_now = true;  // a new gap
            rx_highest = std::max(rx_highest, c.seq);
            if (c.seq == rx_next) {
                accept_chunk(c.data, c.end);
                ++rx_next;
                // The run that starts right here is now in order.
                if (!rx_ranges.empty() && rx_ranges.begin()->first == rx_next)
                    rx_ranges.erase(rx_ranges.begin());
                for (auto it = rx_ooo.begin(); it != rx_ooo.end() && it->first == rx_next;) {
                    accept_chunk(it->second.first, it->second.second);
                    ++rx_next;
                    it = rx_ooo.erase(it);
                }
            } else {
                rx_ooo.emplace(c.seq, std::make_pair(to_bytes(c.data), c.end));
                add_range(c.seq);
            }
        }
    }

    void add_range(std::uint64_t seq) {
        auto next = rx_ranges.upper_bound(seq);
        if (next != rx_ranges.begin()) {
            auto prev = std::prev(next);
            if (prev->second + 1 == seq) {
                prev->second = seq;
                if (next != rx_ranges.end() && next->first == seq + 1) {
                    prev->second = next->second;
                    rx_ranges.erase(next);
                }
                return;
            }
        }
        if (next != rx_ranges.end() && next->first == seq + 1) {
            const std::uint64_t last = next->second;
            rx_ranges.erase(next);
            rx_ranges.emplace(seq, last);
            return;
        }
        rx_ranges.emplace(seq, seq);
    }

    void accept_chunk(BytesView data, bool end) {
        if (!rx_discarding) {
            if (rx_partial.size() + data.size() > kMaxRecordSize) {
                ++stats.malformed;
                rx_partial.clear();
                rx_discarding = true;
            } else {
                rx_partial.insert(rx_partial.end(), data.begin(), data.end());
            }
        }
        if (end) {
            if (!rx_discarding) {
                delivered.push_back({true, std::move(rx_partial)});
                ++stats.records_delivered;
            }
            rx_partial = Bytes();
            rx_discarding = false;
        }
    }

    void mark_acked(std::uint64_t seq, bool& progress) {
        TxChunk& c = chunk(seq);
        if (c.acked) return;
        c.acked = true;
        progress = true;
        if (c.end && tx_records > 0) --tx_records;
    }

    void on_ack(Time now, const AckFrame& a) {
        if (a.epoch != tx_epoch) return;  // about a stream we reset
        // Nothing above what we sent can be acknowledged; an ACK claiming
        // so is a peer bug and is ignored whole.
        if (a.cum >= tx_next_new || a.largest_pn >= next_pn ||
            (!a.ranges.empty() && a.ranges.back().second >= tx_next_new)) {
            ++stats.malformed;
            return;
        }
        bool progress = false;
        for (std::uint64_t s = tx_base; s <= a.cum; ++s)
            mark_acked(s, progress);
        for (auto [first, last] : a.ranges)
            for (std::uint64_t s = std::max(first, tx_base); s <= last; ++s)
                mark_acked(s, progress);
        while (!tx_chunks.empty() && tx_chunks.front().acked) {
            if (tx_chunks.front().end) ++tx_acked_in_order;
            tx_chunks.pop_front();
            ++tx_base;
        }
        if (!progress) return;
        // Loss (QUIC-style packet threshold, RFC 9002 §6.1.1): a chunk is
        // lost when the peer had already received a packet sent
        // kReorderThreshold later, yet this ACK (which covers the chunk's
        // sequence number) does not list it. Chunks above what the ACK
        // covers (its SACK list is bounded) are left alone.
        const std::uint64_t covered = a.ranges.empty() ? a.cum : a.ranges.back().second;
        std::optional<Duration> sample;
        // Flights above the largest packet number the peer had seen cannot
        // have arrived yet (a retransmitted chunk acknowledged through an
        // older copy is tidied up by a later ACK).
        for (auto it = flights.begin(); it != flights.end() && it->first <= a.largest_pn;) {
            Flight& f = it->second;
            const bool late = it->first + kReorderThreshold <= a.largest_pn;
            bool pending = false, lost = false;
            for (std::uint64_t s : f.seqs) {
                if (s < tx_base || chunk(s).acked) continue;
                if (late && s <= covered) {
                    lost = true;
                    if (chunk(s).last_pn == it->first) tx_retx.insert(s);
                } else {
                    pending = true;
                }
            }
            if (pending) {
                ++it;
                continue;
            }
            // Karn's rule: only flights of first transmissions give samples.
            if (!lost && !f.retransmission) sample = now - f.sent;
            it = flights.erase(it);
        }
        backoff = 0;
        if (sample) rtt_sample(*sample);
    }

    void rtt_sample(Duration s) {
        // RFC 6298 §2.2/2.3 with alpha = 1/8, beta = 1/4.
        if (!have_rtt) {
            srtt = s;
            rttvar = s / 2;
            have_rtt = true;
        } else {
            const Duration diff = srtt > s ? srtt - s : s - srtt;
            rttvar = (3 * rttvar + diff) / 4;
            srtt = (7 * srtt + s) / 8;
        }
        const Duration g = std::chrono::milliseconds(1);
        rto = std::clamp(srtt + std::max(g, 4 * rttvar) + cfg.ack_delay, cfg.rto_min, cfg.rto_max);
    }
};

Result<SyncLink> SyncLink::create(SyncLinkConfig cfg, crypto::Random& rng, Time now) {
    if (cfg.keys.empty()) return make_error(0, "sync link: no cluster key configured");
    for (std::size_t i = 0; i < cfg.keys.size(); ++i) {
        if (cfg.keys[i].secret.size() < kMinSecretSize)
            return make_error(
                0, "sync link: cluster key " + std::to_string(cfg.keys[i].id) +
                       " has a secret of " + std::to_string(cfg.keys[i].secret.size()) +
                       " octets; at least " + std::to_string(kMinSecretSize) + " are needed");
        for (std::size_t j = 0; j < i; ++j)
            if (cfg.keys[j].id == cfg.keys[i].id)
                return make_error(0, "sync link: cluster key id " + std::to_string(cfg.keys[i].id) +
                                         " configured twice");
    }
    if (cfg.self == cfg.peer)
        return make_error(
            0, "sync link: self and peer are the same member (" + std::to_string(cfg.self) + ")");
    if (cfg.max_datagram < kMinDatagram || cfg.max_datagram > kMaxDatagram)
        return make_error(0, "sync link: max_datagram " + std::to_string(cfg.max_datagram) +
                                 " is outside 512..65507");
    if (cfg.window == 0 || cfg.max_queued == 0)
        return make_error(0, "sync link: window and max_queued must be positive");
    if (cfg.rto_min <= Duration::zero() || cfg.rto_min > cfg.rto_initial ||
        cfg.rto_initial > cfg.rto_max || cfg.ack_delay < Duration::zero())
        return make_error(0,
                          "sync link: need 0 < rto_min <= rto_initial <= rto_max, ack_delay >= 0");

    auto impl = std::make_unique<Impl>(std::move(cfg), rng);
    Impl& m = *impl;
    for (const ClusterKey& k : m.cfg.keys)
        m.prk.push_back(m.prf.prf(extract_salt(), k.secret));
    m.session = nonzero_u64(rng);
    m.challenge = nonzero_u64(rng);
    m.tx_hello = m.hello_key(0, m.cfg.self, m.cfg.peer, m.session);
    m.rx_hello.resize(m.cfg.keys.size());
    m.rx_data.resize(m.cfg.keys.size());
    m.rto = m.cfg.rto_initial;
    m.chunk_max = m.cfg.max_datagram - kOverhead - kEpochSize - kChunkHeader;
    // The first HELLO goes out at the first on_timer().
    m.next_hello = now;
    m.hello_interval = m.cfg.rto_initial;
    if (!m.tx_hello) return make_error(0, "sync link: AES-256-GCM unavailable");
    return SyncLink(std::move(impl));
}

SyncLink::SyncLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SyncLink::~SyncLink() = default;
SyncLink::SyncLink(SyncLink&&) noexcept = default;
SyncLink& SyncLink::operator=(SyncLink&&) noexcept = default;

Status SyncLink::send(Bytes record) {
    Impl& m = *impl_;
    if (record.size() > kMaxRecordSize)
        return make_error(0, "sync link: record of " + std::to_string(record.size()) +
                                 " octets exceeds " + std::to_string(kMaxRecordSize));
    if (m.tx_records >= m.cfg.max_queued) {
        // The peer is too far behind to catch up record by record: start a
        // new stream and let the replication layer send a snapshot.
        m.reset_tx();
        m.peer_reset = true;
        return make_error(0, "sync link: " + std::to_string(m.cfg.max_queued) +
                                 " records unacknowledged; stream reset");
    }
    if (record.size() <= m.chunk_max) {
        m.tx_chunks.push_back({std::move(record), true});
    } else {
        for (std::size_t off = 0; off < record.size(); off += m.chunk_max) {
            const std::size_t n = std::min(m.chunk_max, record.size() - off);
            TxChunk c;
            c.data.assign(record.begin() + off, record.begin() + off + n);
            c.end = off + n == record.size();
            m.tx_chunks.push_back(std::move(c));
        }
    }
    ++m.tx_records;
    ++m.tx_sent_total;
    ++m.stats.records_sent;
    return Ok{};
}

void SyncLink::send_unreliable(Bytes record) {
    Impl& m = *impl_;
    if (record.size() + kEpochSize + kUnreliableHeader > m.cfg.max_datagram - kOverhead ||
        m.tx_unreliable.size() >= kMaxUnreliableQueued) {
        ++m.stats.unreliable_dropped;
        return;
    }
    m.tx_unreliable.push_back(std::move(record));
    ++m.stats.records_sent;
}

void SyncLink::receive(Time now, BytesView datagram) {
    impl_->receive(now, datagram);
}
void SyncLink::on_timer(Time now) {
    impl_->timer(now);
}
Time SyncLink::next_deadline() const {
    return impl_->deadline();
}

void SyncLink::flush(Time now) {
    Impl& m = *impl_;
    if (!m.established()) {
        // Heartbeats are worthless once stale: do not hoard them.
        m.stats.unreliable_dropped += m.tx_unreliable.size();
        m.tx_unreliable.clear();
    }
    m.pump(now);
}

std::vector<Bytes> SyncLink::take_datagrams() {
    return std::exchange(impl_->out, {});
}
std::vector<SyncLink::Delivered> SyncLink::take_delivered() {
    return std::exchange(impl_->delivered, {});
}
bool SyncLink::take_peer_reset() {
    return std::exchange(impl_->peer_reset, false);
}
bool SyncLink::established() const {
    return impl_->established();
}
std::uint64_t SyncLink::stream() const {
    return impl_->tx_epoch;
}
std::uint64_t SyncLink::sent_records() const {
    return impl_->tx_sent_total;
}
std::uint64_t SyncLink::acked_records() const {
    return impl_->tx_acked_in_order;
}
std::size_t SyncLink::queued() const {
    return impl_->tx_records;
}
const SyncLinkStats& SyncLink::stats() const {
    return impl_->stats;
}
std::uint64_t SyncLink::session() const {
    return impl_->session;
}

}  // namespace ikecluster::cluster
