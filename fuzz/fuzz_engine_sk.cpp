// libFuzzer target: decrypted SK payload processing (RFC 7296 §3.14) in
// every state an IKE SA of ike::Engine can be in, not just the established
// idle one fuzz_ike_responder reaches.
//
// Each input gets two fresh engines (an initiator and a responder, constant
// DeterministicRandom seeds, virtual time from a constant start) that this
// harness drives, back to back, into the state the first input octet picks;
// the engine in that state is the target, the other one is "the peer". The
// rest of the input is records, each sealed with the IKE SA's real SK_e/SK_a
// keys of the peer's direction and delivered to the target with a message ID
// the target accepts (or one next to it), so the fuzzer writes the inner
// payload chains the post-decryption parsers and exchange handlers see.
//
// First octet: bits 0-3 the state (below), bits 4-5 the IKE suite (AES-GCM,
// AES-CBC + HMAC-SHA2, ChaCha20-Poly1305; always Curve25519 to stay fast).
//
//   state  target     what the target is doing
//    0     responder  answered IKE_SA_INIT, awaits IKE_AUTH (half-open)
//    1     initiator  sent IKE_AUTH, awaits its response
//    2     responder  established, idle
//    3     initiator  established, idle
//    4     initiator  CREATE_CHILD_SA (new Child SA) outstanding
//    5     initiator  CREATE_CHILD_SA (Child SA rekey) outstanding
//    6     initiator  CREATE_CHILD_SA (IKE SA rekey) outstanding
//    7     initiator  INFORMATIONAL Delete of the Child SA outstanding
//    8     initiator  INFORMATIONAL Delete of the IKE SA outstanding
//    9     initiator  liveness check (empty INFORMATIONAL) outstanding
//   10     responder  its own Child SA rekey outstanding
//   11     responder  its own IKE SA rekey outstanding
//   12     responder  its own Delete of the IKE SA outstanding
//   13     responder  the IKE SA after a completed IKE SA rekey (new keys)
//   14     responder  answered the initiator's IKE SA rekey, the answer lost
//                     (target: the old IKE SA, now replaced)
//   15     initiator  Child SA rekey outstanding while the responder's
//                     rekey of the same Child SA was answered (§2.8.1)
//
// The outstanding request in states 4-12 and 15 never reaches the peer; a
// response record answers it.
//
// Record: <sel> <first inner payload> <length: 2 octets, big-endian> <chain>
//   sel bits 0-1: exchange INFORMATIONAL / CREATE_CHILD_SA / IKE_AUTH /
//                 IKE_SA_INIT
//       bit 2:    a response (R flag; message ID of the target's last
//                 request) rather than a request (the ID the target expects)
//       bits 3-4: message ID delta +0 +0 +1 -1
//       bit 5:    deliver twice (a retransmission)
//       bit 6:    afterwards let the engines talk (the target's answers reach
//                 the peer and back); otherwise what the target sends is lost
//       bit 7:    afterwards advance time to the next deadline
// After the last record time runs on past the retransmission give-up and
// the IKE SA lifetimes.
//
// Seeds: fuzz_engine_sk --write-seeds fuzz/corpus/engine_sk writes, per
// state and suite, the message the real peer would have sent next (its
// response to the outstanding request, or a request of its own), decrypted.
// They rely on the engines drawing randomness in the same order; rewrite
// them when the engine changes that.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "crypto/random.h"
#include "crypto/sk_cipher.h"
#include "ike/engine.h"
#include "wire/header.h"
#include "wire/message.h"

using namespace ikecluster;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kInitiatorSeed = 1;
constexpr std::uint64_t kResponderSeed = 2;
constexpr std::uint64_t kHarnessSeed = 3;
constexpr int kMaxRounds = 16;
const Time kStart = Time::from_ms(1000);
constexpr const char* kPsk = "a shared secret for the fuzzer";
constexpr std::size_t kStates = 16;

const IpAddress kInitiatorAddr = *IpAddress::parse("198.51.100.2");
const IpAddress kResponderAddr = *IpAddress::parse("198.51.100.1");
const Endpoint kInitiatorAt{kInitiatorAddr, 500};
const Endpoint kResponderAt{kResponderAddr, 500};

constexpr std::array<const char*, 3> kSuites = {
    "aes256gcm16-prfsha256-x25519", "aes128-sha256-x25519", "chacha20poly1305-prfsha512-x25519"};
constexpr std::array<const char*, 3> kConnNames = {"gcm", "cbc", "chacha"};
constexpr std::array<ExchangeType, 4> kExchanges = {
    ExchangeType::INFORMATIONAL, ExchangeType::CREATE_CHILD_SA, ExchangeType::IKE_AUTH,
    ExchangeType::IKE_SA_INIT};

ike::ChildConfig child(const char* local_ts, const char* remote_ts) {
    ike::ChildConfig c;
    c.name = "net";
    c.local_ts = *ike::parse_ts_list(local_ts);
    c.remote_ts = *ike::parse_ts_list(remote_ts);
    c.esp_proposals = *ike::parse_proposals("aes256gcm16,aes128-sha256", ike::ProposalKind::ESP);
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
        k.children.push_back(child("192.0.2.0/24", "203.0.113.0/24"));
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
    r.children.push_back(child("203.0.113.0/24", "192.0.2.0/24"));
    c.responder.connections.push_back(std::move(r));
    return c;
}

// Immutable after the first call: no state carries over between inputs.
const Configs& configs() {
    static const Configs c = make_configs();
    return c;
}

[[noreturn]] void setup_failed(const char* what, std::size_t state) {
    // Deterministic: the same for every input of that state, so a harness
    // the engine outgrew shows up at once rather than as lost coverage.
    std::fprintf(stderr, "fuzz_engine_sk: state %zu: %s\n", state, what);
    std::abort();
}

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
    BytesView chunk() {
        std::size_t n = std::size_t(u8()) << 8;
        n |= u8();
        n = std::min(n, d_.size());
        BytesView v = d_.first(n);
        d_ = d_.subspan(n);
        return v;
    }

  private:
    BytesView d_;
};

// The IKE SA the records go to, as the target sees it.
struct Target {
    ike::IkeSpis spis;
    ike::IkeSuite suite;
    ike::IkeKeys keys;
    bool target_is_sa_initiator = false;  // the I flag is the peer's iff not
};

Target target_of(const ike::IkeSaState& st) {
    return Target{st.spis, st.suite, st.keys, st.initiator};
}

// The two engines and what they said.
class Pair {
  public:
    explicit Pair(std::size_t suite)
        : suite_(suite),
          rng_i_(kInitiatorSeed),
          rng_r_(kResponderSeed),
          init_(configs().initiator, rng_i_),
          resp_(configs().responder, rng_r_) {}

    ike::Engine& engine(bool initiator) { return initiator ? init_ : resp_; }
    Time now() const { return now_; }

    // Lets datagrams flow both ways until both engines are quiet (bounded);
    // `lose` may drop some, seeing (datagram, sent by the initiator).
    void shuttle(const std::function<bool(BytesView, bool)>& lose = {}) {
        for (int round = 0; round < kMaxRounds; ++round) {
            auto from_i = collect(true);
            auto from_r = collect(false);
            if (from_i.empty() && from_r.empty()) return;
            for (const Bytes& d : from_i)
                if (!lose || !lose(d, true)) resp_.receive(now_, kResponderAt, kInitiatorAt, d);
            for (const Bytes& d : from_r)
                if (!lose || !lose(d, false)) init_.receive(now_, kInitiatorAt, kResponderAt, d);
        }
    }
    // An engine's datagrams (its events recorded on the way).
    std::vector<Bytes> collect(bool initiator) {
        std::vector<Bytes> out;
        for (auto& o : engine(initiator).take_outputs()) {
            if (auto* d = std::get_if<ike::SendDatagram>(&o)) {
                if (auto h = wire::decode_header(d->data); h && !h->is_response())
                    (initiator ? last_request_i_ : last_request_r_) = h->message_id;
                out.push_back(std::move(d->data));
            } else if (auto* e = std::get_if<ike::Event>(&o)) {
                auto& view = initiator ? sa_i_ : sa_r_;
                if (auto* est = std::get_if<ike::IkeSaEstablished>(e)) {
                    view = est->sa;
                } else if (auto* rk = std::get_if<ike::IkeSaRekeyed>(e)) {
                    view = rk->sa;
                }
            }
        }
        return out;
    }
    void deliver_to(bool initiator, BytesView d) {
        if (initiator) {
            init_.receive(now_, kInitiatorAt, kResponderAt, d);
        } else {
            resp_.receive(now_, kResponderAt, kInitiatorAt, d);
        }
    }
    void advance_to_deadline() {
        Time next = std::min(init_.next_deadline(), resp_.next_deadline());
        if (next == Time::max()) return;
        advance_to(next);
    }
    void advance_to(Time t) {
        now_ = std::max(now_, t);
        init_.on_timer(now_);
        resp_.on_timer(now_);
    }
    bool start() { return init_.initiate(now_, kConnNames[suite_]).ok(); }

    // Each side's latest view of its current IKE SA (from its own events).
    const std::optional<ike::IkeSaState>& sa(bool initiator) const {
        return initiator ? sa_i_ : sa_r_;
    }

  private:
    std::size_t suite_;
    crypto::DeterministicRandom rng_i_, rng_r_;
    ike::Engine init_, resp_;
    Time now_ = kStart;
    std::optional<ike::IkeSaState> sa_i_, sa_r_;
    std::uint32_t last_request_i_ = 0, last_request_r_ = 0;

  public:
    // The message ID of the last request an engine sent (a response to it
    // is what it waits for).
    std::uint32_t last_request(bool initiator) const {
        return initiator ? last_request_i_ : last_request_r_;
    }
};

bool is_exchange(BytesView d, ExchangeType ex, bool response) {
    auto h = wire::decode_header(d);
    return h && h->exchange == std::uint8_t(ex) && h->is_response() == response;
}

// The responder's view of the IKE SA `suite` sets up, from a complete
// handshake with the same seeds: state 0 stops before the responder shows
// its keys, and the keys depend on IKE_SA_INIT alone.
const Target& half_open_keys(std::size_t suite) {
    static std::array<std::optional<Target>, kSuites.size()> cache;
    if (!cache[suite]) {
        Pair p(suite);
        if (!p.start()) setup_failed("initiate", 0);
        p.shuttle();
        if (!p.sa(false)) setup_failed("the probe handshake did not establish", 0);
        cache[suite] = target_of(*p.sa(false));
    }
    return *cache[suite];
}

// A state reached: the target, its IKE SA, and the request it has
// outstanding (held back from the peer), if any.
struct Reached {
    bool target_initiator = false;
    Target sa;
    std::optional<Bytes> held;       // the target's outstanding request
    std::optional<Bytes> peer_next;  // for seeds: the peer's real next message
};

// Takes the target's outputs after a command: its request is held back.
Bytes hold_request(Pair& p, bool initiator, std::size_t state) {
    auto out = p.collect(initiator);
    if (out.size() != 1) setup_failed("the command sent no single request", state);
    return out.front();
}

// Drives a fresh pair into `state`. With `for_seed`, also finds what the
// peer would have sent next (that disturbs the pair; seeds only).
Reached reach(Pair& p, std::size_t state, std::size_t suite, bool for_seed) {
    Reached r;
    if (!p.start()) setup_failed("initiate", state);
    if (state == 0) {
        // IKE_SA_INIT only: the initiator's IKE_AUTH request is held.
        std::optional<Bytes> auth;
        p.shuttle([&](BytesView d, bool from_i) {
            if (from_i && is_exchange(d, ExchangeType::IKE_AUTH, false)) {
                auth = to_bytes(d);
                return true;
            }
            return false;
        });
        if (!auth) setup_failed("no IKE_AUTH request", state);
        r.target_initiator = false;
        r.sa = half_open_keys(suite);
        auto h = wire::decode_header(*auth);
        if (!h || h->spi_i != r.sa.spis.spi_i || h->spi_r != r.sa.spis.spi_r)
            setup_failed("the probe handshake set up other SPIs", state);
        r.peer_next = auth;
        return r;
    }
    if (state == 1) {
        std::optional<Bytes> answer;
        p.shuttle([&](BytesView d, bool from_i) {
            if (!from_i && is_exchange(d, ExchangeType::IKE_AUTH, true)) {
                answer = to_bytes(d);
                return true;
            }
            return false;
        });
        if (!answer || !p.sa(false)) setup_failed("no IKE_AUTH response", state);
        r.target_initiator = true;
        r.sa = target_of(*p.sa(false));
        r.sa.target_is_sa_initiator = true;
        r.peer_next = answer;
        return r;
    }
    p.shuttle();
    if (!p.sa(true) || !p.sa(false)) setup_failed("the handshake did not establish", state);
    const ike::IkeSpis spis = p.sa(true)->spis;
    const std::uint32_t child_i = p.sa(true)->children.at(0).spi_in;
    const std::uint32_t child_r = p.sa(false)->children.at(0).spi_in;
    const bool ti = state == 1 || (state >= 3 && state <= 9) || state == 15;
    r.target_initiator = ti;
    ike::Engine& t = p.engine(ti);
    ike::Engine& peer = p.engine(!ti);
    const Time now = p.now();
    Status st = Ok{};
    switch (state) {
        case 2:
        case 3:
            break;
        case 4:
            st = t.create_child(now, spis, "net");
            break;
        case 5:
        case 10:
            st = t.rekey_child(now, spis, ti ? child_i : child_r);
            break;
        case 6:
        case 11:
            st = t.rekey_ike(now, spis);
            break;
        case 7:
            st = t.delete_child(now, spis, child_i);
            break;
        case 8:
        case 12:
            st = t.delete_ike(now, spis);
            break;
        case 9:
            st = t.check_liveness(now, spis);
            break;
        case 13:
            st = p.engine(true).rekey_ike(now, spis);
            p.shuttle();
            if (p.sa(false)->spis == spis) setup_failed("the IKE SA rekey did not complete", state);
            break;
        case 14: {
            st = p.engine(true).rekey_ike(now, spis);
            Bytes req = hold_request(p, true, state);
            p.deliver_to(false, req);
            (void)p.collect(false);  // the answer is lost
            break;
        }
        case 15: {
            st = t.rekey_child(now, spis, child_i);
            if (!st) break;
            r.held = hold_request(p, true, state);
            if (!peer.rekey_child(now, spis, child_r)) setup_failed("peer rekey_child", state);
            for (const Bytes& d : p.collect(false))
                p.deliver_to(true, d);
            (void)p.collect(true);  // the initiator's answer is lost
            break;
        }
        default:
            break;
    }
    if (!st) setup_failed(st.error().what.c_str(), state);
    if (state >= 4 && state <= 12) r.held = hold_request(p, ti, state);
    if (state == 14) {
        // The responder's view moved to the new SA when it answered; the
        // target is the old one, whose keys the initiator still shows.
        r.sa = target_of(*p.sa(true));
        r.sa.target_is_sa_initiator = false;
    } else {
        r.sa = target_of(*p.sa(ti));
    }
    if (for_seed) {
        if (r.held) {
            p.deliver_to(!ti, *r.held);
            auto out = p.collect(!ti);
            if (!out.empty()) r.peer_next = out.front();
        } else {
            // A request of the peer's own: a liveness check.
            if (peer.find(r.sa.spis) && peer.check_liveness(now, r.sa.spis)) {
                auto out = p.collect(!ti);
                if (!out.empty()) r.peer_next = out.front();
            }
        }
    }
    return r;
}

// The peer's direction of the target's IKE SA: SK_ei/SK_ai if the peer is
// the SA's original initiator (§2.14), else SK_er/SK_ar.
std::unique_ptr<crypto::SkCipher> peer_cipher(const Target& t) {
    const bool peer_is_i = !t.target_is_sa_initiator;
    const ike::IkeKeys& k = t.keys;
    auto c = crypto::SkCipher::create(t.suite.encr.id, t.suite.encr.key_bits, t.suite.integ,
                                      peer_is_i ? k.sk_ei : k.sk_er, peer_is_i ? k.sk_ai : k.sk_ar);
    if (!c) setup_failed("the SA's keys do not make a cipher", kStates);
    return std::move(*c);
}

// An SK-protected message as the engine builds one (RFC 7296 §3.14): IKE
// header | SK generic header | body, the AAD being everything before the body.
Bytes seal(crypto::SkCipher& cipher, crypto::Random& rng, const Target& t, ExchangeType ex,
           bool response, std::uint32_t id, std::uint8_t first_inner, BytesView inner) {
    const std::size_t body_len = cipher.sealed_size(inner.size());
    std::uint8_t flags = t.target_is_sa_initiator ? 0 : wire::kFlagInitiator;
    if (response) flags |= wire::kFlagResponse;
    Bytes out;
    Writer w(out);
    w.u64(t.spis.spi_i);
    w.u64(t.spis.spi_r);
    w.u8(std::uint8_t(wire::PayloadType::SK));
    w.u8(0x20);  // IKEv2.0
    w.u8(std::uint8_t(ex));
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

// The message IDs the target accepts now: a request's, and a response's
// (that of its own last request).
std::pair<std::uint32_t, std::uint32_t> ids_now(Pair& p, const Reached& r) {
    const ike::IkeSaState* s = p.engine(r.target_initiator).find(r.sa.spis);
    const std::uint32_t resp = p.last_request(r.target_initiator);
    if (!s) return {1, resp};  // not established: IKE_AUTH has ID 1
    return {s->msgids.next_request_in, resp};
}

// FUZZ_ENGINE_SK_VERBOSE=1: say per record whether the target took it (a
// check that the harness still reaches the parsers after engine changes).
bool verbose() {
    static const bool v = std::getenv("FUZZ_ENGINE_SK_VERBOSE") != nullptr;
    return v;
}

void run(std::size_t state, std::size_t suite, Input& in) {
    Pair p(suite);
    Reached r = reach(p, state, suite, false);
    auto cipher = peer_cipher(r.sa);
    crypto::DeterministicRandom rng(kHarnessSeed);
    const bool ti = r.target_initiator;
    while (!in.empty()) {
        const std::uint8_t sel = in.u8();
        const std::uint8_t first = in.u8();
        BytesView chain = in.chunk();
        const bool response = sel & 4;
        auto [req_id, resp_id] = ids_now(p, r);
        constexpr std::int64_t kDelta[4] = {0, 0, 1, -1};
        const std::uint32_t id =
            std::uint32_t(std::int64_t(response ? resp_id : req_id) + kDelta[(sel >> 3) & 3]);
        Bytes msg = seal(*cipher, rng, r.sa, kExchanges[sel & 3], response, id, first, chain);
        const std::uint64_t dropped = p.engine(ti).stats().dropped;
        p.deliver_to(ti, msg);
        if (sel & 0x20) p.deliver_to(ti, msg);
        if (verbose())
            std::fprintf(stderr, "state %zu: %s %u (exchange %u, first %u, %zu octets): %s\n",
                         state, response ? "response" : "request", id, unsigned(sel & 3),
                         unsigned(first), chain.size(),
                         p.engine(ti).stats().dropped == dropped ? "taken" : "dropped");
        if (sel & 0x40) {
            p.shuttle();
        } else {
            (void)p.collect(ti);
        }
        if (sel & 0x80) {
            p.advance_to_deadline();
            p.shuttle();
        }
    }
    for (Duration d : {Duration(1s), Duration(10s), Duration(40s), Duration(5min), Duration(5h)}) {
        p.advance_to(p.now() + d);
        p.shuttle();
    }
}

// ---- seeds --------------------------------------------------------------------

// Opens a message the peer sent: (exchange index, response, first, chain).
std::optional<Bytes> record_of(const Reached& r, BytesView msg) {
    auto h = wire::decode_header(msg);
    if (!h || msg.size() < wire::kHeaderSize + wire::kGenericHeaderSize) return std::nullopt;
    auto cipher = peer_cipher(r.sa);
    const std::size_t aad = wire::kHeaderSize + wire::kGenericHeaderSize;
    auto inner = cipher->open(msg.first(aad), msg.subspan(aad));
    if (!inner) return std::nullopt;
    std::uint8_t sel = 0;
    for (std::uint8_t i = 0; i < kExchanges.size(); ++i)
        if (std::uint8_t(kExchanges[i]) == h->exchange) sel = i;
    if (h->is_response()) sel |= 4;
    sel |= 0x40;
    Bytes rec{sel, msg[wire::kHeaderSize], std::uint8_t(inner->size() >> 8),
              std::uint8_t(inner->size())};
    rec.insert(rec.end(), inner->begin(), inner->end());
    return rec;
}

int write_seeds(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    int n = 0;
    for (std::size_t state = 0; state < kStates; ++state) {
        for (std::size_t suite = 0; suite < kSuites.size(); ++suite) {
            Pair p(suite);
            Reached r = reach(p, state, suite, true);
            Bytes seed{std::uint8_t(state | (suite << 4))};
            if (r.peer_next) {
                if (auto rec = record_of(r, *r.peer_next)) {
                    seed.insert(seed.end(), rec->begin(), rec->end());
                } else {
                    std::fprintf(stderr, "state %zu suite %zu: cannot open the peer's message\n",
                                 state, suite);
                }
            }
            // And an empty INFORMATIONAL request after it (a liveness check).
            for (std::uint8_t b : {0x40, 0, 0, 0})
                seed.push_back(b);
            char name[64];
            std::snprintf(name, sizeof name, "state%02zu-suite%zu.bin", state, suite);
            std::ofstream f(dir / name, std::ios::binary);
            f.write(reinterpret_cast<const char*>(seed.data()), std::streamsize(seed.size()));
            if (!f.good()) {
                std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
                return 1;
            }
            ++n;
        }
    }
    std::printf("%d seeds in %s\n", n, dir.c_str());
    return 0;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    // fuzz_engine_sk --write-seeds DIR: write the seed corpus and exit
    // (before libFuzzer parses its own flags).
    for (int i = 1; i + 1 < *argc; ++i)
        if (std::strcmp((*argv)[i], "--write-seeds") == 0) std::exit(write_seeds((*argv)[i + 1]));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(BytesView(data, size));
    if (in.empty()) return 0;
    const std::uint8_t b = in.u8();
    run(b & 0x0f, std::size_t((b >> 4) & 3) % kSuites.size(), in);
    return 0;
}
