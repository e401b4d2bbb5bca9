// libFuzzer target: the responder's whole state machine (ike::Engine), not
// only the codec. Every input gets fresh engines, fresh DeterministicRandoms
// with constant seeds and virtual time from a constant start, so what a run
// does depends on its input alone. Only the engine configurations are built
// once; they are const afterwards.
//
// The first input octet: bits 0-1 pick the mode, bit 2 the port (4500 with
// the non-ESP marker instead of 500), bits 3-4 the IKE suite (AES-GCM,
// AES-CBC + HMAC, ChaCha20-Poly1305; always Curve25519 to stay fast).
//
//  0     raw: the rest is datagrams, each <length: 2 octets, big-endian>
//        <octets>, received by a fresh responder from the initiator's
//        address; then its timers fire at a few advancing times.
//  1, 3  established: an initiator engine and the responder complete
//        IKE_SA_INIT + IKE_AUTH in-process, then every record
//          <exchange> <id> <first inner payload> <options> <length: 2> <chain>
//        is encrypted here with the initiator's SK_ei/SK_ai (from its
//        IkeSaEstablished event), the way the engine seals its own messages,
//        and delivered to the responder. The fuzzer thus writes the decrypted
//        payload chains of the established state. What either engine sends
//        goes to the other one, so both sides run.
//  2     mid-handshake: this harness plays the IKE_SA_INIT initiator itself
//        (the engine shows no keys before IKE_AUTH completes), leaving the
//        responder in INIT_DONE; then every record
//          <first inner payload> <options> <length: 2> <chain>
//        becomes an encrypted IKE_AUTH request with message ID 1.
//
// <exchange>: below 0xf0, INFORMATIONAL / CREATE_CHILD_SA / IKE_AUTH /
//   IKE_SA_INIT by its low 2 bits; 0xf0-0xff give 32-47 (other and reserved
//   exchange types).
// <id>: bits 0-2 pick the message ID relative to the one the responder
//   expects next (+0 +0 +0 +1 -1 +2 -2 +0x7fffffff); bit 5 delivers the
//   message twice (a retransmission); bit 6 sets the R flag and makes the ID
//   relative to the responder's last request instead; bit 7 clears the I flag.
// <options>: bits 0-1 let time pass after the exchange (0 none, 1 by
//   1-32 s from bits 3-7, 2 up to the earlier engine deadline, 3 by 0-310
//   min from bits 3-7). Bit 2, mode 2 only: if the chain decodes and has an
//   IDi, put the correct PSK AUTH payload into it, so the fuzzer gets past
//   authentication into Child SA negotiation.
//
// The seed corpus fuzz/corpus/ike_responder is written by this program:
//   fuzz_ike_responder --write-seeds fuzz/corpus/ike_responder
// The mode 0 handshake seed holds a real IKE_AUTH request, valid only while
// the responder draws its randomness in the same order; rewrite the seeds
// when the engine changes that.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "crypto/dh.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/sk_cipher.h"
#include "ike/engine.h"
#include "ike/negotiate.h"
#include "wire/esp.h"
#include "wire/message.h"
#include "wire/notify.h"

using namespace ikecluster;
using namespace std::chrono_literals;
using wire::Payload;
using wire::PayloadType;

namespace {

constexpr std::uint16_t kIkePort = 500;
constexpr std::uint16_t kNattPort = 4500;
constexpr std::uint64_t kInitiatorSeed = 1;
constexpr std::uint64_t kResponderSeed = 2;
constexpr std::uint64_t kHarnessSeed = 3;  // IVs, and mode 2's own IKE_SA_INIT
constexpr std::uint64_t kHarnessSpi = 0x1f2e3d4c5b6a7988ull;
constexpr std::uint8_t kMaxRounds = 16;  // exchanges between the engines per step
const Time kStart = Time::from_ms(1000);
constexpr const char* kPsk = "a shared secret for the fuzzer";

const IpAddress kInitiatorAddr = *IpAddress::parse("198.51.100.2");
const IpAddress kResponderAddr = *IpAddress::parse("198.51.100.1");

// One per suite the first octet can pick; the responder accepts them all.
constexpr std::array<const char*, 3> kSuites = {
    "aes256gcm16-prfsha256-x25519", "aes128-sha256-x25519", "chacha20poly1305-prfsha512-x25519"};
constexpr std::array<const char*, 3> kConnNames = {"gcm", "cbc", "chacha"};

ike::ChildConfig child(const char* name, const char* local_ts, const char* remote_ts,
                       ike::IpsecMode mode) {
    ike::ChildConfig c;
    c.name = name;
    c.local_ts = *ike::parse_ts_list(local_ts);
    c.remote_ts = *ike::parse_ts_list(remote_ts);
    c.esp_proposals = *ike::parse_proposals("aes256gcm16,aes128-sha256", ike::ProposalKind::ESP);
    c.mode = mode;
    return c;
}

struct Configs {
    ike::EngineConfig initiator, responder;
};

Configs make_configs() {
    Configs c;
    for (std::size_t i = 0; i < kSuites.size(); ++i) {
        ike::ConnectionConfig k;
        k.name = kConnNames[i];
        k.local_addrs = {kInitiatorAddr};
        k.remote_addrs = {kResponderAddr};
        k.local_id = *ike::Identity::parse("client.example");
        k.remote_id = *ike::Identity::parse("gw.example");
        k.psk = to_bytes(kPsk);
        k.ike_proposals = *ike::parse_proposals(kSuites[i], ike::ProposalKind::IKE);
        k.children.push_back(
            child("net", "192.0.2.0/24", "203.0.113.0/24", ike::IpsecMode::TUNNEL));
        c.initiator.connections.push_back(std::move(k));
    }
    ike::ConnectionConfig r;
    r.name = "road";
    r.local_addrs = {kResponderAddr};
    r.remote_addrs = {kInitiatorAddr};
    r.local_id = *ike::Identity::parse("gw.example");
    r.remote_id = *ike::Identity::parse("client.example");
    r.psk = to_bytes(kPsk);
    r.ike_proposals = *ike::parse_proposals(
        std::string(kSuites[0]) + "," + kSuites[1] + "," + kSuites[2], ike::ProposalKind::IKE);
    r.children.push_back(child("net", "203.0.113.0/24", "192.0.2.0/24", ike::IpsecMode::TUNNEL));
    r.children.push_back(
        child("v6", "2001:db8:1::/64", "2001:db8:2::/64", ike::IpsecMode::TRANSPORT));
    c.responder.connections.push_back(std::move(r));
    return c;
}

// Immutable after the first call: no state carries over between inputs.
const Configs& configs() {
    static const Configs c = make_configs();
    return c;
}

// Reads the input front to back; past the end it yields zeros and empty spans.
class Input {
  public:
    explicit Input(BytesView d) : d_(d) {}
    bool empty() const { return d_.empty(); }
    std::uint8_t u8() {
        if (d_.empty()) return 0;
        std::uint8_t v = d_[0];
        d_ = d_.subspan(1);
        return v;
    }
    BytesView take(std::size_t n) {
        n = std::min(n, d_.size());
        BytesView v = d_.first(n);
        d_ = d_.subspan(n);
        return v;
    }
    // <length: 2 octets, big-endian> <octets>, cut short at the end.
    BytesView chunk() {
        std::size_t n = std::size_t(u8()) << 8;
        n |= u8();
        return take(n);
    }

  private:
    BytesView d_;
};

struct ModeOctet {
    int mode;
    bool natt;
    std::size_t suite;
    explicit ModeOctet(std::uint8_t b)
        : mode(b & 3), natt(b & 4), suite(std::size_t((b >> 3) & 3) % kSuites.size()) {}
};

std::uint8_t pick_exchange(std::uint8_t b) {
    constexpr std::uint8_t kCommon[] = {
        std::uint8_t(ExchangeType::INFORMATIONAL), std::uint8_t(ExchangeType::CREATE_CHILD_SA),
        std::uint8_t(ExchangeType::IKE_AUTH), std::uint8_t(ExchangeType::IKE_SA_INIT)};
    return b < 0xf0 ? kCommon[b & 3] : std::uint8_t(32 + (b & 0x0f));
}

std::uint32_t pick_message_id(std::uint8_t b, std::uint32_t expected) {
    constexpr std::int64_t kDelta[8] = {0, 0, 0, 1, -1, 2, -2, 0x7fffffff};
    return std::uint32_t(std::int64_t(expected) + kDelta[b & 7]);
}

// How far time moves after a record (options bits 0-1 and 3-7); nullopt to
// jump to the next deadline.
std::optional<Duration> pick_delay(std::uint8_t opt) {
    const int n = opt >> 3;
    switch (opt & 3) {
        case 1:
            return std::chrono::seconds(1 + n);
        case 2:
            return std::nullopt;
        case 3:
            return std::chrono::minutes(10 * n);
        default:
            return Duration(0);
    }
}

// What the engine hands to the shell for sending, without the non-ESP marker.
BytesView ike_octets(const ike::SendDatagram& d) {
    BytesView v = d.data;
    if (d.local.port == kNattPort && v.size() >= wire::kNonEspMarkerSize)
        v = v.subspan(wire::kNonEspMarkerSize);
    return v;
}

// An SK-protected message as the engine builds one (RFC 7296 §3.14): IKE
// header | SK generic header | body, the AAD being everything before the body.
Bytes seal(crypto::SkCipher& cipher, crypto::Random& rng, std::uint64_t spi_i, std::uint64_t spi_r,
           std::uint8_t exchange, std::uint8_t flags, std::uint32_t id, std::uint8_t first_inner,
           BytesView inner) {
    const std::size_t body_len = cipher.sealed_size(inner.size());
    Bytes out;
    Writer w(out);
    w.u64(spi_i);
    w.u64(spi_r);
    w.u8(std::uint8_t(PayloadType::SK));
    w.u8(0x20);  // IKEv2.0
    w.u8(exchange);
    w.u8(flags);
    w.u32(id);
    w.u32(std::uint32_t(wire::kHeaderSize + wire::kGenericHeaderSize + body_len));
    w.u8(first_inner);
    w.u8(0);
    w.u16(std::uint16_t(wire::kGenericHeaderSize + body_len));
    Bytes body = cipher.seal(out, inner, rng);
    w.bytes(body);
    return out;
}

Endpoint responder_at(bool natt) {
    return Endpoint{kResponderAddr, natt ? kNattPort : kIkePort};
}
Endpoint initiator_at(bool natt) {
    return Endpoint{kInitiatorAddr, natt ? kNattPort : kIkePort};
}

Bytes framed(bool natt, Bytes message) {
    return natt ? wire::with_non_esp_marker(message) : message;
}

// ---- mode 0 -------------------------------------------------------------------

void fuzz_raw(const ModeOctet& m, Input& in) {
    crypto::DeterministicRandom rng(kResponderSeed);
    ike::Engine resp(configs().responder, rng);
    Time now = kStart;
    while (!in.empty()) {
        resp.receive(now, responder_at(m.natt), initiator_at(m.natt), in.chunk());
        (void)resp.take_outputs();
        now = now + 100ms;
    }
    // Past the first retransmission, the half-open timeout and the IKE lifetime.
    for (Duration d : {Duration(1s), Duration(10s), Duration(31s), Duration(5h)}) {
        resp.on_timer(now + d);
        (void)resp.take_outputs();
    }
}

// ---- mode 1 -------------------------------------------------------------------

// The initiator engine and the responder under test, wired back to back.
class EnginePair {
  public:
    EnginePair()
        : rng_i_(kInitiatorSeed),
          rng_r_(kResponderSeed),
          init_(configs().initiator, rng_i_),
          resp_(configs().responder, rng_r_) {}

    // IKE_SA_INIT + IKE_AUTH; false if the engines did not establish.
    bool handshake(std::size_t suite) {
        if (!init_.initiate(now_, kConnNames[suite])) return false;
        shuttle();
        return sa_.has_value();
    }

    // Moves datagrams both ways until both engines are quiet (bounded).
    void shuttle() {
        for (int round = 0; round < kMaxRounds; ++round) {
            auto from_i = init_.take_outputs();
            auto from_r = resp_.take_outputs();
            if (from_i.empty() && from_r.empty()) return;
            for (auto& o : from_i) {
                if (auto* d = std::get_if<ike::SendDatagram>(&o)) {
                    if (log_) log_->push_back(d->data);
                    resp_.receive(now_, d->remote, d->local, d->data);
                } else if (auto* e = std::get_if<ike::Event>(&o)) {
                    if (auto* est = std::get_if<ike::IkeSaEstablished>(e); est && !sa_)
                        sa_ = est->sa;
                }
            }
            for (auto& o : from_r) {
                auto* d = std::get_if<ike::SendDatagram>(&o);
                if (!d) continue;
                observe_responder(*d);
                init_.receive(now_, d->remote, d->local, d->data);
            }
        }
    }

    void advance(std::optional<Duration> by) {
        if (by && by->count() == 0) return;
        Time next = by ? now_ + *by : std::min(init_.next_deadline(), resp_.next_deadline());
        if (next == Time::max()) return;
        now_ = std::max(now_, next);
        init_.on_timer(now_);
        resp_.on_timer(now_);
        shuttle();
    }

    void deliver(bool natt, const Bytes& message) {
        resp_.receive(now_, responder_at(natt), initiator_at(natt), framed(natt, message));
        shuttle();
    }

    const std::optional<ike::IkeSaState>& sa() const { return sa_; }
    std::uint32_t expected_id() const { return expected_id_; }
    std::uint32_t last_request_id() const { return last_request_id_; }
    void log_initiator(std::vector<Bytes>* log) { log_ = log; }

  private:
    // Follows the responder's message IDs: its responses tell which request
    // ID it expects next, its requests what a response must carry.
    void observe_responder(const ike::SendDatagram& d) {
        auto h = wire::decode_header(ike_octets(d));
        if (!h) return;
        if (h->is_response()) {
            expected_id_ = std::max(expected_id_, h->message_id + 1);
        } else {
            last_request_id_ = h->message_id;
        }
    }

    crypto::DeterministicRandom rng_i_, rng_r_;
    ike::Engine init_, resp_;
    Time now_ = kStart;
    std::optional<ike::IkeSaState> sa_;  // the initiator's view
    std::uint32_t expected_id_ = 0;
    std::uint32_t last_request_id_ = 0;
    std::vector<Bytes>* log_ = nullptr;
};

void fuzz_established(const ModeOctet& m, Input& in) {
    EnginePair p;
    if (!p.handshake(m.suite)) {
        // Deterministic: the same for every input, so a broken handshake
        // shows up at once rather than as a coverage drop.
        std::fprintf(stderr, "fuzz_ike_responder: the in-process handshake failed\n");
        std::abort();
    }
    const ike::IkeSaState& sa = *p.sa();
    auto cipher = crypto::SkCipher::create(sa.suite.encr.id, sa.suite.encr.key_bits, sa.suite.integ,
                                           sa.keys.sk_ei, sa.keys.sk_ai);
    if (!cipher) std::abort();
    crypto::DeterministicRandom rng(kHarnessSeed);
    while (!in.empty()) {
        const std::uint8_t exchange = pick_exchange(in.u8());
        const std::uint8_t idb = in.u8();
        const std::uint8_t first = in.u8();
        const std::uint8_t opt = in.u8();
        BytesView chain = in.chunk();
        const bool response = idb & 0x40;
        std::uint8_t flags = (idb & 0x80) ? 0 : wire::kFlagInitiator;
        if (response) flags |= wire::kFlagResponse;
        std::uint32_t id = pick_message_id(idb, response ? p.last_request_id() : p.expected_id());
        Bytes msg =
            seal(**cipher, rng, sa.spis.spi_i, sa.spis.spi_r, exchange, flags, id, first, chain);
        p.deliver(m.natt, msg);
        if (idb & 0x20) p.deliver(m.natt, msg);
        p.advance(pick_delay(opt));
    }
    p.advance(std::nullopt);
    p.advance(std::nullopt);
    p.advance(Duration(5h));
    p.advance(std::nullopt);
}

// ---- mode 2 -------------------------------------------------------------------

// What this harness, as the initiator, knows after IKE_SA_INIT.
struct HalfOpen {
    std::uint64_t spi_r = 0;
    ike::IkeSuite suite;
    crypto::IkeKeys keys;
    Bytes init_request, nr;
};

std::optional<HalfOpen> init_exchange(ike::Engine& resp, crypto::Random& rng, std::size_t suite,
                                      Time now) {
    const auto& offer = configs().initiator.connections[suite].ike_proposals;
    auto kx = crypto::make_key_exchange(DhId::CURVE25519, rng);
    if (!kx) return std::nullopt;
    Bytes ni = rng.bytes(32);
    wire::Message req;
    req.header.spi_i = kHarnessSpi;
    req.header.exchange = std::uint8_t(ExchangeType::IKE_SA_INIT);
    req.header.flags = wire::kFlagInitiator;
    req.payloads.push_back(wire::make_payload(PayloadType::SA, ike::make_sa_payload(offer, {})));
    req.payloads.push_back(wire::make_payload(
        PayloadType::KE, wire::KePayload{std::uint16_t(DhId::CURVE25519), (*kx)->public_value()}));
    req.payloads.push_back(wire::make_payload(PayloadType::NONCE, wire::NoncePayload{ni}));
    HalfOpen h;
    h.init_request = wire::encode_message(req);
    resp.receive(now, responder_at(false), initiator_at(false), h.init_request);
    for (auto& o : resp.take_outputs()) {
        auto* d = std::get_if<ike::SendDatagram>(&o);
        if (!d) continue;
        auto r = wire::decode_message(d->data);
        if (!r) return std::nullopt;
        auto* sap = r->find(PayloadType::SA);
        auto* kep = r->find(PayloadType::KE);
        auto* np = r->find(PayloadType::NONCE);
        if (!sap || !kep || !np) return std::nullopt;
        auto chosen = ike::accept_ike(*sap->as<wire::SaPayload>(), offer);
        auto secret = (*kx)->shared_secret(kep->as<wire::KePayload>()->data);
        if (!chosen || !secret) return std::nullopt;
        h.spi_r = r->header.spi_r;
        h.suite = chosen->suite;
        h.nr = np->as<wire::NoncePayload>()->nonce;
        const auto& s = h.suite;
        auto keys = crypto::derive_ike_keys(
            crypto::CipherSuite{s.encr.id, s.encr.key_bits, s.integ, s.prf, s.dh}, *secret, ni,
            h.nr, kHarnessSpi, h.spi_r);
        if (!keys) return std::nullopt;
        h.keys = std::move(*keys);
        return h;
    }
    return std::nullopt;
}

// Puts the correct shared-key AUTH (RFC 7296 §2.15) for the chain's IDi into
// the chain; a chain that does not decode or has no IDi stays as it is.
Bytes with_valid_auth(const HalfOpen& h, std::uint8_t& first, BytesView chain) {
    auto ps = wire::decode_payloads(first, chain);
    if (!ps) return to_bytes(chain);
    auto idi = std::find_if(ps->begin(), ps->end(),
                            [](const Payload& p) { return p.type == PayloadType::IDi; });
    if (idi == ps->end()) return to_bytes(chain);
    Bytes id_body;
    wire::encode_body(*idi, id_body);
    Bytes so = crypto::signed_octets(h.suite.prf, h.init_request, h.nr, h.keys.sk_pi, id_body);
    wire::AuthPayload auth{std::uint8_t(wire::AuthMethod::SHARED_KEY_MIC),
                           crypto::psk_auth(h.suite.prf, to_bytes(kPsk), so)};
    auto old = std::find_if(ps->begin(), ps->end(),
                            [](const Payload& p) { return p.type == PayloadType::AUTH; });
    if (old != ps->end()) {
        old->body = auth;
    } else {
        ps->insert(idi + 1, wire::make_payload(PayloadType::AUTH, auth));
    }
    wire::EncodedChain c = wire::encode_payloads(*ps);
    first = c.first;
    return c.bytes;
}

void fuzz_mid_handshake(const ModeOctet& m, Input& in) {
    crypto::DeterministicRandom rng_r(kResponderSeed), rng(kHarnessSeed);
    ike::Engine resp(configs().responder, rng_r);
    Time now = kStart;
    auto h = init_exchange(resp, rng, m.suite, now);
    if (!h) {
        std::fprintf(stderr, "fuzz_ike_responder: IKE_SA_INIT with the responder failed\n");
        std::abort();
    }
    auto cipher = crypto::SkCipher::create(h->suite.encr.id, h->suite.encr.key_bits, h->suite.integ,
                                           h->keys.sk_ei, h->keys.sk_ai);
    if (!cipher) std::abort();
    while (!in.empty()) {
        std::uint8_t first = in.u8();
        const std::uint8_t opt = in.u8();
        BytesView raw = in.chunk();
        Bytes chain = (opt & 4) ? with_valid_auth(*h, first, raw) : to_bytes(raw);
        Bytes msg = seal(**cipher, rng, kHarnessSpi, h->spi_r, std::uint8_t(ExchangeType::IKE_AUTH),
                         wire::kFlagInitiator, 1, first, chain);
        resp.receive(now, responder_at(m.natt), initiator_at(m.natt), framed(m.natt, msg));
        (void)resp.take_outputs();
        auto d = pick_delay(opt);
        Time next = d ? now + *d : resp.next_deadline();
        if (next != Time::max() && next > now) {
            now = next;
            resp.on_timer(now);
            (void)resp.take_outputs();
        }
    }
    for (Duration d : {Duration(31s), Duration(5h)}) {
        resp.on_timer(now + d);
        (void)resp.take_outputs();
    }
}

// ---- seed corpus ----------------------------------------------------------------

void put_chunk(Bytes& out, BytesView v) {
    Writer w(out);
    w.u16(std::uint16_t(v.size()));
    w.bytes(v);
}

// A mode 1 record; `exchange` and `id` are the raw selector octets.
Bytes established_record(std::uint8_t exchange, std::uint8_t id, std::uint8_t opt,
                         const std::vector<Payload>& inner) {
    wire::EncodedChain c = wire::encode_payloads(inner);
    Bytes out{exchange, id, c.first, opt};
    put_chunk(out, c.bytes);
    return out;
}

Bytes auth_record(std::uint8_t opt, const std::vector<Payload>& inner) {
    wire::EncodedChain c = wire::encode_payloads(inner);
    Bytes out{c.first, opt};
    put_chunk(out, c.bytes);
    return out;
}

Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

constexpr std::uint8_t kSelInformational = 0, kSelCreateChild = 1;

Bytes be32(std::uint32_t v) {
    Bytes b(4);
    store_be32(b.data(), v);
    return b;
}

wire::TsPayload ts(std::vector<wire::TsEntry> entries) {
    return wire::TsPayload{std::move(entries)};
}
wire::TsEntry v4_range(Bytes from, Bytes to) {
    return wire::TsEntry{
        wire::TsType::IPV4_ADDR_RANGE, 0, 0, 65535, std::move(from), std::move(to)};
}

// SA, Nonce, TSi, TSr for a new Child SA (RFC 7296 §1.3.1), the SA carrying
// our ESP proposals with `spi`.
std::vector<Payload> new_child_payloads(std::uint32_t spi) {
    const auto& esp = configs().initiator.connections[0].children[0].esp_proposals;
    return {
        wire::make_payload(PayloadType::SA, ike::make_sa_payload(esp, be32(spi))),
        wire::make_payload(PayloadType::NONCE, wire::NoncePayload{Bytes(32, 0x4e)}),
        wire::make_payload(PayloadType::TSi, ts({v4_range({192, 0, 2, 0}, {192, 0, 2, 255})})),
        wire::make_payload(PayloadType::TSr, ts({v4_range({203, 0, 113, 0}, {203, 0, 113, 255})}))};
}

std::vector<std::pair<std::string, Bytes>> seeds() {
    std::vector<std::pair<std::string, Bytes>> out;
    // A real handshake with the fuzzer's seeds: the initiator's datagrams.
    EnginePair p;
    std::vector<Bytes> sent;
    p.log_initiator(&sent);
    if (!p.handshake(0) || sent.size() < 2) {
        std::fprintf(stderr, "the handshake for the seeds failed\n");
        std::exit(1);
    }
    const std::uint32_t child_spi = p.sa()->children.at(0).spi_in;

    Bytes a{0x00};
    put_chunk(a, sent[0]);
    out.emplace_back("raw-ike-sa-init.bin", a);
    put_chunk(a, sent[1]);
    out.emplace_back("raw-handshake.bin", a);
    Bytes a4{0x04};
    put_chunk(a4, wire::with_non_esp_marker(sent[0]));
    out.emplace_back("raw-ike-sa-init-4500.bin", a4);

    auto est = [&](const char* name, std::vector<Bytes> records) {
        Bytes b{0x01};
        for (const Bytes& r : records)
            b.insert(b.end(), r.begin(), r.end());
        out.emplace_back(name, b);
    };
    // INFORMATIONAL {} --> : a liveness check (§1.4).
    est("est-dpd.bin", {established_record(kSelInformational, 0, 0, {})});
    // Two liveness checks an hour apart, the second one retransmitted.
    est("est-dpd-twice.bin", {established_record(kSelInformational, 0, 3 | (6 << 3), {}),
                              established_record(kSelInformational, 0x20, 2, {})});
    // INFORMATIONAL {D(IKE)} --> : close the IKE SA (§1.4.1).
    est("est-delete-ike.bin",
        {established_record(kSelInformational, 0, 0,
                            {wire::make_payload(PayloadType::DELETE,
                                                wire::DeletePayload{ProtocolId::IKE, 0, {}})})});
    // INFORMATIONAL {D(ESP, our inbound SPI)} --> : close the Child SA.
    est("est-delete-child.bin",
        {established_record(
            kSelInformational, 0, 0,
            {wire::make_payload(PayloadType::DELETE,
                                wire::DeletePayload{ProtocolId::ESP, 4, {be32(child_spi)}})})});
    // INFORMATIONAL {N(IKEV2_MESSAGE_ID_SYNC)} --> (RFC 6311 §4.2).
    est("est-notify-msgid-sync.bin",
        {established_record(kSelInformational, 0, 0,
                            {wire::notify_message_id_sync(wire::MessageIdSync{0x5eed, 5, 7})})});
    // INFORMATIONAL {N(INITIAL_CONTACT)} --> .
    est("est-notify.bin", {established_record(kSelInformational, 0, 0,
                                              {wire::notify(wire::NotifyType::INITIAL_CONTACT)})});
    // CREATE_CHILD_SA {SA, Ni, TSi, TSr} --> : a new Child SA (§1.3.1).
    est("est-create-child.bin",
        {established_record(kSelCreateChild, 0, 0, new_child_payloads(0xc0ffee01))});
    // CREATE_CHILD_SA {N(REKEY_SA), SA, Ni, TSi, TSr} --> : rekey it (§1.3.3).
    std::vector<Payload> rekey = new_child_payloads(0xc0ffee02);
    rekey.insert(rekey.begin(), wire::notify_rekey_sa(ProtocolId::ESP, child_spi));
    est("est-rekey-child.bin", {established_record(kSelCreateChild, 0, 0, rekey)});
    // CREATE_CHILD_SA {SA, Ni, KEi} --> : rekey the IKE SA (§1.3.2).
    crypto::DeterministicRandom krng(kHarnessSeed);
    auto kx = crypto::make_key_exchange(DhId::CURVE25519, krng);
    Bytes new_spi(8, 0x5a);
    est("est-rekey-ike.bin",
        {established_record(
            kSelCreateChild, 0, 0,
            {wire::make_payload(
                 PayloadType::SA,
                 ike::make_sa_payload(configs().initiator.connections[0].ike_proposals, new_spi)),
             wire::make_payload(PayloadType::NONCE, wire::NoncePayload{Bytes(32, 0x4f)}),
             wire::make_payload(PayloadType::KE, wire::KePayload{std::uint16_t(DhId::CURVE25519),
                                                                 (*kx)->public_value()})})});
    // <-- INFORMATIONAL {} answered: a response to the responder's request.
    est("est-response.bin", {established_record(kSelInformational, 0x40, 0, {})});

    // Mode 2: IKE_AUTH requests (§1.2), AUTH filled in by the harness (bit 2).
    auto idi = wire::make_payload(
        PayloadType::IDi,
        wire::IdPayload{std::uint8_t(wire::IdType::FQDN), to_bytes("client.example")});
    auto auth = wire::make_payload(
        PayloadType::AUTH,
        wire::AuthPayload{std::uint8_t(wire::AuthMethod::SHARED_KEY_MIC), Bytes(32, 0)});
    std::vector<Payload> full{idi, wire::notify(wire::NotifyType::INITIAL_CONTACT), auth};
    for (Payload& q : new_child_payloads(0xc1c2c3c4))
        if (q.type != PayloadType::NONCE) full.push_back(q);
    full.push_back(wire::notify(wire::NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED));
    full.push_back(wire::notify(wire::NotifyType::IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED));
    out.emplace_back("auth-ok.bin", cat({0x02}, auth_record(4, full)));
    out.emplace_back("auth-bad-psk.bin", cat({0x02}, auth_record(0, full)));
    out.emplace_back("auth-no-child.bin", cat({0x02}, auth_record(4, {idi, auth})));
    // Transport mode over 4500 for the IPv6 child, with extras a client may send.
    std::vector<Payload> extras{
        idi,
        wire::make_payload(PayloadType::CERTREQ, wire::CertPayload{4, Bytes(20, 0x11)}),
        wire::make_payload(PayloadType::IDr, wire::IdPayload{std::uint8_t(wire::IdType::FQDN),
                                                             to_bytes("gw.example")}),
        auth,
        wire::make_payload(
            PayloadType::CP,
            wire::CpPayload{1, {wire::CpAttribute{1, {}}, wire::CpAttribute{8, {}}}}),
        wire::notify(wire::NotifyType::USE_TRANSPORT_MODE)};
    const auto& esp = configs().initiator.connections[0].children[0].esp_proposals;
    extras.push_back(
        wire::make_payload(PayloadType::SA, ike::make_sa_payload(esp, be32(0xc5c6c7c8))));
    wire::TsEntry v6{wire::TsType::IPV6_ADDR_RANGE, 6, 443, 443, Bytes(16, 0), Bytes(16, 0xff)};
    extras.push_back(wire::make_payload(PayloadType::TSi, ts({v6})));
    extras.push_back(wire::make_payload(PayloadType::TSr, ts({v6})));
    out.emplace_back("auth-transport-4500.bin", cat({0x06}, auth_record(4, extras)));
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    // fuzz_ike_responder --write-seeds DIR: write the seed corpus and exit
    // (before libFuzzer parses its own flags).
    for (int i = 1; i + 1 < *argc; ++i) {
        if (std::strcmp((*argv)[i], "--write-seeds") != 0) continue;
        std::filesystem::path dir = (*argv)[i + 1];
        std::filesystem::create_directories(dir);
        for (const auto& [name, bytes] : seeds()) {
            std::ofstream f(dir / name, std::ios::binary);
            f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
            if (!f.good()) {
                std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
                std::exit(1);
            }
            std::printf("%s (%zu octets)\n", (dir / name).c_str(), bytes.size());
        }
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(BytesView(data, size));
    if (in.empty()) return 0;
    const ModeOctet m(in.u8());
    switch (m.mode) {
        case 0:
            fuzz_raw(m, in);
            break;
        case 2:
            fuzz_mid_handshake(m, in);
            break;
        default:
            fuzz_established(m, in);
            break;
    }
    return 0;
}
