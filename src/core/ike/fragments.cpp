#include "ike/fragments.h"

#include <algorithm>
#include <string>

#include "base/buffer.h"
#include "wire/constants.h"

namespace ikecluster::ike {

namespace {

std::string num(std::size_t n) {
    return std::to_string(n);
}

// An SKF (RFC 7383 §2.5) or SK (RFC 7296 §3.14) payload's fields that are
// not the body.
struct Outer {
    bool fragment = false;
    std::uint8_t next = 0;  // first inner payload type; 0 in SKF fragments after the first
    std::uint16_t number = 0;
    std::uint16_t total = 0;
};

// Builds one complete message: header | generic header [| counters] | body.
// The lengths are final before sealing because they are part of the AAD.
Bytes seal_one(const wire::Header& header, const Outer& o, BytesView piece, crypto::SkCipher& out,
               crypto::Random& rng) {
    const std::size_t counters = o.fragment ? 4 : 0;
    const std::size_t body_len = out.sealed_size(piece.size());
    Bytes msg(wire::kHeaderSize + wire::kGenericHeaderSize + counters);
    msg.reserve(msg.size() + body_len);

    wire::Header h = header;
    h.next_payload = std::uint8_t(o.fragment ? wire::PayloadType::SKF : wire::PayloadType::SK);
    h.length = std::uint32_t(msg.size() + body_len);
    wire::write_header(h, msg.data());

    std::uint8_t* p = msg.data() + wire::kHeaderSize;
    p[0] = o.next;
    p[1] = 0;  // critical bit clear, RESERVED zero (RFC 7296 §3.2)
    store_be16(p + 2, std::uint16_t(wire::kGenericHeaderSize + counters + body_len));
    if (o.fragment) {
        store_be16(p + 4, o.number);
        store_be16(p + 6, o.total);
    }

    const Bytes body = out.seal(msg, piece, rng);
    msg.insert(msg.end(), body.begin(), body.end());
    return msg;
}

}  // namespace

Result<std::vector<Bytes>> seal_fragmented(const wire::Header& header,
                                           const wire::EncodedChain& inner, crypto::SkCipher& out,
                                           crypto::Random& rng, std::size_t max_message_size) {
    // A UDP payload cannot exceed 65535 octets, nor can the SK/SKF payload
    // length field; clamping keeps every size below 16 bits.
    const std::size_t limit = std::min<std::size_t>(max_message_size, 65535);
    const BytesView data(inner.bytes);

    // RFC 7383 §2.4: fragment only messages that would not fit otherwise.
    if (kSkOverhead + out.sealed_size(data.size()) <= limit) {
        std::vector<Bytes> one;
        one.push_back(seal_one(header, Outer{false, inner.first, 0, 0}, data, out, rng));
        return one;
    }

    // Largest piece whose sealed fragment still fits: the room left after the
    // fixed overhead, rounded down to whole cipher blocks, less the pad length
    // octet every piece needs (RFC 7296 §3.14).
    const std::size_t fixed = kSkfOverhead + out.iv_size() + out.icv_size();
    const std::size_t block = std::max<std::size_t>(out.block_size(), 1);
    const std::size_t room = limit > fixed ? (limit - fixed) / block * block : 0;
    if (room < 2) {
        return make_error(0, "maximum message size " + num(max_message_size) +
                                 " leaves no room for SKF payload data (need at least " +
                                 num(fixed + (block < 2 ? 2 : block)) + ")");
    }
    const std::size_t max_piece = room - 1;

    // data is non-empty here: an empty chain fits an SK message whenever
    // room >= 2, since SK carries 4 octets less overhead than SKF.
    const std::size_t total = (data.size() + max_piece - 1) / max_piece;
    if (total > kMaxTotalFragments) {
        return make_error(0, "message of " + num(data.size()) + " octets needs " + num(total) +
                                 " fragments at maximum message size " + num(max_message_size) +
                                 "; Total Fragments is at most 65535");
    }

    // Spread the data evenly rather than leave a runt last fragment: the
    // first `extra` pieces carry one octet more. Each piece is at most
    // ceil(size / total) <= max_piece octets.
    const std::size_t base = data.size() / total;
    const std::size_t extra = data.size() % total;
    std::vector<Bytes> frags;
    frags.reserve(total);
    std::size_t pos = 0;
    for (std::size_t i = 0; i < total; ++i) {
        const std::size_t len = base + (i < extra ? 1 : 0);
        // §2.5: only fragment 1 names the first inner payload; the others
        // carry 0 there.
        const Outer o{true, i == 0 ? inner.first : std::uint8_t(0), std::uint16_t(i + 1),
                      std::uint16_t(total)};
        frags.push_back(seal_one(header, o, data.subspan(pos, len), out, rng));
        pos += len;
    }
    return frags;
}

// ---- receiving (RFC 7383 §2.6) -------------------------------------------------

void FragmentReassembler::reset() {
    active_ = false;
    message_id_ = 0;
    total_ = 0;
    exchange_ = 0;
    flags_ = 0;
    first_inner_ = 0;
    bytes_ = 0;
    pieces_.clear();
}

std::optional<std::uint32_t> FragmentReassembler::message_id() const {
    if (!active_) return std::nullopt;
    return message_id_;
}

Result<std::optional<wire::EncodedChain>> FragmentReassembler::add(const wire::Message& msg,
                                                                   BytesView datagram,
                                                                   crypto::SkCipher& in) {
    if (msg.payloads.size() != 1)
        return make_error(
            0, "not an SKF message: " + num(msg.payloads.size()) + " payloads, expected only SKF");
    const wire::SkfPayload* skf = msg.payloads.front().as<wire::SkfPayload>();
    if (!skf)
        return make_error(
            0, "not an SKF message: payload type " + num(std::size_t(msg.payloads.front().type)));

    const std::uint16_t n = skf->fragment_number;
    const std::uint16_t m = skf->total_fragments;
    const std::uint32_t id = msg.header.message_id;
    const std::string what =
        "SKF fragment " + num(n) + " of " + num(m) + " (message ID " + num(id) + ")";
    constexpr std::size_t kCountersAt = wire::kHeaderSize + wire::kGenericHeaderSize;

    // §2.5: numbering starts at 1 and never exceeds Total Fragments.
    if (n == 0 || n > m)
        return make_error(kCountersAt, "SKF fragment number " + num(n) + " of " + num(m) +
                                           " is out of range (message ID " + num(id) + ")");
    const std::size_t max_total = std::min(limits_.max_fragments, kMaxTotalFragments);
    if (m > max_total)
        return make_error(kCountersAt + 2, "SKF Total Fragments " + num(m) + " exceeds the limit " +
                                               num(max_total) + " (message ID " + num(id) + ")");

    // The AAD is taken from the datagram, so it must be the very one `msg`
    // was decoded from; otherwise a piece could be stored under another
    // fragment's number or header.
    auto raw_header = wire::decode_header(datagram);
    auto off = wire::encrypted_body_offset(datagram);
    if (!raw_header || !(*raw_header == msg.header) || !off || *off < 4 ||
        load_be16(datagram.data() + *off - 4) != n || load_be16(datagram.data() + *off - 2) != m ||
        !std::ranges::equal(datagram.subspan(*off), skf->body))
        return make_error(0, "not an SKF message: datagram does not match the decoded message");

    // Checks that only drop: done before the (costlier) decryption, and safe
    // to do on unauthenticated data because they change nothing.
    const bool same_message = active_ && id == message_id_;
    if (same_message && m < total_) {
        // §2.6: a smaller total is a stale fragment from before the sender
        // re-fragmented; it is dropped.
        return make_error(kCountersAt + 2, "SKF Total Fragments " + num(m) + " is less than " +
                                               num(total_) + " already collected (message ID " +
                                               num(id) + ")");
    }
    if (same_message && m == total_) {
        if (pieces_.count(n)) return make_error(kCountersAt, "duplicate " + what);
        if (msg.header.exchange != exchange_ || msg.header.flags != flags_)
            return make_error(0, "SKF fragment header differs from the fragments held: " + what);
    }

    // §2.6: every fragment is authenticated on its own, before it may change
    // anything; a forged one is dropped and the genuine ones stay.
    auto plain = in.open(datagram.first(*off), datagram.subspan(*off));
    if (!plain) return make_error(plain.error().offset, what + ": " + plain.error().what);

    if (!same_message || m > total_) {
        // A new message ID replaces the incomplete message (the peer has moved
        // on, so it will never complete); a larger total for the same one
        // means the sender re-fragmented with smaller pieces (§2.6) and the
        // pieces held so far no longer line up.
        reset();
        active_ = true;
        message_id_ = id;
        total_ = m;
        exchange_ = msg.header.exchange;
        flags_ = msg.header.flags;
    }

    if (plain->size() > limits_.max_bytes - bytes_) {
        const std::size_t would_be = bytes_ + plain->size();
        reset();
        return make_error(0, "SKF reassembly exceeds " + num(limits_.max_bytes) + " octets (" +
                                 num(would_be) + " with " + what + "); discarded");
    }

    // §2.5: only fragment 1's Next Payload names the first inner payload;
    // the others' is ignored.
    if (n == 1) first_inner_ = skf->first_inner;
    bytes_ += plain->size();
    pieces_.emplace(n, std::move(*plain));
    if (pieces_.size() < total_) return std::optional<wire::EncodedChain>();

    wire::EncodedChain chain;
    chain.first = first_inner_;
    chain.bytes.reserve(bytes_);
    for (const auto& [number, piece] : pieces_) {
        chain.bytes.insert(chain.bytes.end(), piece.begin(), piece.end());
    }
    reset();
    return std::optional<wire::EncodedChain>(std::move(chain));
}

}  // namespace ikecluster::ike
