// The load generator's logic, without sockets or clocks: it opens N IKE SAs
// (one Child SA each) against one IKEv2 responder at a target rate and
// concurrency, and records what happened to each. main.cpp drives it from
// UDP sockets and the steady clock; tests drive it against an in-process
// responder engine.
//
// The IKEv2 work is done by ike::Engine as initiator (COOKIE, INVALID_KE
// retries and retransmission come with it). SAs are spread over `ports`
// engines; engine e owns two sockets, 2e (what the engine calls port 500) and
// 2e+1 (port 4500, reached after NAT detection). The shell binds them to
// ephemeral ports, so the responder sees many source ports, and, because the
// engine's NAT-D hash names port 500, it also sees a NAT and moves the SA to
// its port 4500 (RFC 7296 §2.23), as most remote-access clients do.
// Each SA has its own connection: its own identity (`id_fmt` with %d
// replaced by the SA's index) and its own inner address (`ts_base` + index),
// so responders that enforce unique identities or install a route per Child
// SA keep every SA.
//
// Probe mode (probe_interval > 0): the generator also carries traffic. For
// every Child SA it installs an outbound and an inbound esp:: SA from the
// engine's keys and, in turn, sends each tunnel an ICMP echo request from the
// tunnel's inner address to `probe_target` (behind the gateway), ESP-in-UDP
// (RFC 3948) from the engine's port-4500 socket. Replies are decrypted and
// counted per tunnel and per time bucket (the timeline). mark() notes a
// moment (the failover); recovery() then says when every tunnel that was up
// passed traffic again. With `reconnect`, a tunnel whose IKE SA died or that
// got no reply for `liveness` starts a new IKE SA (what a client behind a
// cold-standby gateway has to do); every IKE_SA_INIT sent is counted.
//
// Recovery sweep (sweep_rate > 0): one probe per interval per tunnel only
// says when a tunnel was back to within an interval (a second at 10,000
// tunnels). So once a reply to a probe sent after mark() ends a silence of
// at least one bucket (the gateway works again, for one tunnel at least),
// the generator also probes every tunnel that was up at the mark and has
// not answered since, cycling over those at sweep_rate probes/s in total
// (one probe per tunnel per cycle, a cycle 10 ms at least) until all have
// answered. The cycles shrink as tunnels come back, so the bounds in
// Recovery tighten to about one cycle.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/net.h"
#include "base/result.h"
#include "base/time.h"
#include "crypto/random.h"
#include "esp/esp_sa.h"
#include "ike/engine.h"

namespace ikecluster::load {

struct LoadOptions {
    Endpoint server;
    std::vector<IpAddress> locals;  // engines are spread over these round-robin
    std::size_t count = 1000;       // IKE SAs to open
    double rate = 0;                // new SAs per second; 0 = as fast as concurrency allows
    std::size_t concurrency = 100;  // handshakes in flight at most
    std::size_t ports = 64;         // engines = source port pairs
    std::string psk;
    std::string id_fmt = "client%d@load.example";
    std::string ike_proposals = "aes128gcm16-prfsha256-x25519";
    std::string esp_proposals = "aes128gcm16";
    IpAddress ts_base = *IpAddress::parse("198.18.0.0");  // RFC 2544 benchmarking range
    std::string remote_ts = "0.0.0.0/0";
    Duration timeout = std::chrono::seconds(30);  // a handshake not done by then failed
    Duration retransmit_timeout = std::chrono::seconds(2);
    int retransmit_tries = 3;
    // Probe mode (see above); 0 = off. Needs an IPv4 ts_base and target.
    Duration probe_interval{0};  // each tunnel gets one probe per interval
    IpAddress probe_target = *IpAddress::parse("203.0.113.1");
    Duration bucket = std::chrono::milliseconds(50);  // timeline resolution
    // Reconnect mode: a tunnel whose IKE SA was deleted (the engine gave up
    // retransmitting, or the peer deleted it) or, with probes, that answered
    // on its SA and then got no reply for `liveness` (0 = never) starts a
    // new IKE SA. The probe rounds drive it, so it needs probe mode.
    bool reconnect = false;
    Duration liveness{0};
    // Recovery sweep (see above): extra probes per second; 0 = off. Needs
    // probe mode.
    double sweep_rate = 0;
};

// Why an SA did not come up.
enum class Stage : std::uint8_t { INIT_SENT, COOKIE, INIT_DONE, AUTH_ANSWERED };

struct LoadStats {
    std::size_t launched = 0;
    std::size_t established = 0;
    std::size_t failed = 0;
    std::map<std::string, std::size_t> failures;  // reason -> count
    std::vector<double> latency_ms;               // per established SA, in order of completion
    Time first_launch = Time::max();
    Time last_established{};
    std::size_t cookies = 0;             // COOKIE requests answered (§2.6)
    std::size_t invalid_ke = 0;          // INVALID_KE_PAYLOAD answered (§1.2)
    std::size_t deleted_afterwards = 0;  // established, then deleted (by the responder or DPD)
    std::uint64_t retransmits = 0;       // requests the engines sent again
    std::uint64_t datagrams_out = 0;
    std::uint64_t datagrams_in = 0;
    // IKE_SA_INIT requests sent (first sends and retransmissions), in total
    // and since mark(); new IKE SAs started for tunnels that had one.
    std::uint64_t ike_sa_init_sent = 0;
    std::uint64_t ike_sa_init_after_mark = 0;
    std::uint64_t reconnects = 0;
    // RFC 6311 requests the responder sent and the engines answered/applied.
    std::uint64_t msgid_syncs = 0;
    std::uint64_t replay_syncs = 0;
    // Probe mode.
    std::uint64_t probes_sent = 0;
    std::uint64_t replies = 0;            // ICMP echo replies decrypted
    std::uint64_t esp_other = 0;          // decrypted, but not an echo reply for us
    std::uint64_t esp_dropped = 0;        // unknown SPI, failed ICV, replayed, malformed
    std::uint64_t probes_after_mark = 0;  // loss across the failover = these - the next
    std::uint64_t replies_after_mark = 0;
    // Recovery sweep probes sent (also counted in probes_sent and
    // probes_after_mark: they are ordinary probes).
    std::uint64_t sweep_probes = 0;
};

struct Percentiles {
    double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// One timeline bucket (LoadOptions::bucket wide, from the first probe).
struct Bucket {
    std::uint32_t tunnels = 0;  // tunnels with at least one reply in the bucket
    std::uint32_t replies = 0;
    std::uint32_t probes = 0;
    std::uint32_t ike_sa_init = 0;  // IKE_SA_INIT requests sent
};

// What happened to the tunnels that were up at mark().
struct Recovery {
    std::size_t tunnels = 0;    // up at mark()
    std::size_t recovered = 0;  // passed traffic again since
    // Time from mark() to each recovered tunnel's first reply: the last one
    // (every tunnel back) and percentiles; the resolution is one probe
    // interval (a tunnel is only probed that often), or about one sweep
    // cycle with the recovery sweep.
    double all_back_ms = 0;
    Percentiles back_ms;
    // The same for the send times of those first answered probes: the
    // tunnel worked again when that probe went out (a tighter bound; the
    // probe before it was lost or unanswered).
    double all_back_sent_ms = 0;
    // A lower bound: the latest probe sent after mark() that went
    // unanswered before a tunnel's first answered one (the tunnel's
    // previous probe, regular or sweep: each probe carries the send time of
    // the one before it), over all tunnels; 0 if none was lost.
    double all_back_lower_ms = 0;
    // When the recovery sweep started (the first reply to a probe sent after
    // mark() that ended a silence of a bucket or more); -1 if it did not.
    double sweep_start_ms = -1;
};

// Nearest-rank percentiles of `v` (copied and sorted); zeros when empty.
Percentiles percentiles(std::vector<double> v);

// `fmt` with the first "%d" replaced by `i` (appended when there is none).
std::string format_id(const std::string& fmt, std::size_t i);
// `base` + i as an IPv4 address (wrapping within 32 bits); IPv6: the last
// 32 bits plus i.
IpAddress offset_address(const IpAddress& base, std::uint32_t i);

// Probe packets: an IPv4 ICMP echo request from `src` to `dst` whose
// identifier and sequence carry the tunnel's index and the probe's number,
// its payload the index, the send time and the send time of the tunnel's
// previous probe (the reply echoes all three, so the first answered probe
// after a failover names the last one lost, however many went out between).
// Writes it to `out` and returns its length (0 if `out` is too small or an
// address is not IPv4).
std::size_t build_probe(std::span<std::uint8_t> out, const IpAddress& src, const IpAddress& dst,
                        std::uint32_t index, std::uint16_t seq, Time sent, Time previous = Time{});
struct ProbeReply {
    std::uint32_t index = 0;
    Time sent{};      // when the probe went out (echoed back)
    Time previous{};  // when the tunnel's probe before it went out (Time{}: none)
};
// What an IPv4 echo reply addressed to `to` carries; nullopt for anything
// else (another protocol or type, a bad checksum, truncated).
std::optional<ProbeReply> parse_probe_reply(BytesView packet, const IpAddress& to);

class Generator {
  public:
    struct Send {
        std::size_t socket;  // 2 * engine + (1 for the engine's port 4500)
        Endpoint to;
        Bytes data;
    };

    // Errors: bad proposals, selectors or identity format, no local address,
    // zero count / concurrency / ports.
    static Result<std::unique_ptr<Generator>> create(const LoadOptions& o, crypto::Random& rng);
    ~Generator();

    std::size_t socket_count() const { return 2 * engines_.size(); }
    const IpAddress& socket_address(std::size_t socket) const;

    // A datagram that arrived on `socket` from `from`.
    void receive(Time now, std::size_t socket, const Endpoint& from, BytesView data);
    // Launches what the rate and concurrency allow, runs due engine timers and
    // fails handshakes past the timeout.
    void tick(Time now);
    // When tick() has something to do next (Time::max() if nothing).
    Time next_wakeup() const;
    std::vector<Send> take_sends() { return std::move(sends_); }

    // Probe mode: notes the failover moment (and resets the recovery record).
    void mark(Time now);
    bool marked() const { return mark_ != Time::max(); }
    Recovery recovery() const;
    // Every tunnel up and every one answered at least one probe.
    bool all_answering() const { return answering_ == opt_.count; }
    const std::vector<Bucket>& timeline() const { return timeline_; }
    Time timeline_origin() const { return origin_; }
    Time mark_time() const { return mark_; }

    // Every SA launched and none in flight.
    // (Reconnections in flight do not count: reconnect mode never ends.)
    bool done() const { return stats_.launched == opt_.count && initial_in_flight_ == 0; }
    std::size_t in_flight() const { return pending_.size(); }
    std::size_t held() const { return up_.size(); }  // established and still up
    const LoadStats& stats() const;

  private:
    enum class TunnelState : std::uint8_t { IDLE, CONNECTING, UP };
    struct Tunnel {
        TunnelState state = TunnelState::IDLE;
        ike::IkeSpis spis;  // the current IKE SA (or handshake)
        std::optional<esp::OutboundSa> out;
        std::optional<esp::InboundSa> in;
        Endpoint peer;  // where its ESP goes
        Time up_since{};
        Time last_reply = Time::max();  // never
        Time first_reply_after_mark = Time::max();
        Time first_sent_after_mark = Time::max();
        Time lost_before_first = Time{};  // the probe before the first answered one
        Time last_probe = Time{};         // when its latest probe went out (Time{}: never)
        bool up_at_mark = false;
        std::int64_t last_bucket = -1;
        std::uint16_t seq = 0;
    };
    struct Pending {
        std::size_t index;
        std::size_t engine;
        Time started;
        bool initial = true;  // launched, not a reconnection
        std::uint64_t spi_r = 0;
        Stage stage = Stage::INIT_SENT;
    };
    Generator(const LoadOptions& o, crypto::Random& rng);
    void launch(Time now);
    void start(Time now, std::size_t index, bool initial);
    void drain(Time now, std::size_t engine);
    void fail(std::uint64_t spi_i, const std::string& reason);
    void install(const ike::InstallChildSa& in, std::size_t engine);
    void tunnel_down(std::size_t index);
    void on_esp(Time now, std::size_t engine, BytesView data);
    bool probe(Time now, std::size_t index);  // false: no SA to send it on
    void probe_round(Time now);
    void start_sweep(Time now);
    void sweep_round(Time now);
    Bucket& bucket_at(Time now);
    Time next_slot_time() const;

    LoadOptions opt_;
    [[maybe_unused]] crypto::Random& rng_;  // not used yet (clang -Wunused-private-field)
    std::vector<std::unique_ptr<ike::Engine>> engines_;
    std::vector<IpAddress> engine_addr_;
    std::unordered_map<std::uint64_t, Pending> pending_;    // by our (initiator) SPI
    std::deque<std::pair<Time, std::uint64_t>> deadlines_;  // launch order = deadline order
    std::unordered_map<std::uint64_t, std::size_t> up_;     // established: our SPI -> tunnel
    std::vector<Tunnel> tunnels_;
    std::unordered_map<std::uint32_t, std::size_t> by_spi_in_;  // ESP SPI -> tunnel
    std::size_t answering_ = 0;
    std::size_t initial_in_flight_ = 0;  // tunnels that answered a probe on their current SA
    // Probe slots: tunnel (slot mod count) is visited at origin_ + slot *
    // interval / count, so probes are spread evenly over the interval.
    Time origin_ = Time::max();
    std::uint64_t slots_done_ = 0;
    std::vector<Bucket> timeline_;
    Time mark_ = Time::max();
    // Recovery sweep: the tunnels still to answer since the mark, visited in
    // cycles; sweep_pos_ is the next one, sweep_next_ when it is due,
    // sweep_cycle_ when the current cycle began.
    bool sweep_started_ = false;
    Time sweep_start_ = Time::max();
    std::vector<std::size_t> sweep_;
    std::size_t sweep_pos_ = 0;
    Time sweep_next_ = Time::max();
    Time sweep_cycle_{};
    Duration sweep_step_{0};  // 1 / sweep_rate
    Time last_reply_any_{};   // the latest probe reply on any tunnel
    Bytes scratch_;
    std::vector<Send> sends_;
    mutable LoadStats stats_;
};

}  // namespace ikecluster::load
