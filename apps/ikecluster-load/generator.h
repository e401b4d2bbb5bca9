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
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/net.h"
#include "base/result.h"
#include "base/time.h"
#include "crypto/random.h"
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
};

struct Percentiles {
    double p50 = 0, p90 = 0, p99 = 0, max = 0;
};
// Nearest-rank percentiles of `v` (copied and sorted); zeros when empty.
Percentiles percentiles(std::vector<double> v);

// `fmt` with the first "%d" replaced by `i` (appended when there is none).
std::string format_id(const std::string& fmt, std::size_t i);
// `base` + i as an IPv4 address (wrapping within 32 bits); IPv6: the last
// 32 bits plus i.
IpAddress offset_address(const IpAddress& base, std::uint32_t i);

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

    // Every SA launched and none in flight.
    bool done() const { return stats_.launched == opt_.count && pending_.empty(); }
    std::size_t in_flight() const { return pending_.size(); }
    std::size_t held() const { return up_.size(); }  // established and still up
    const LoadStats& stats() const;

  private:
    struct Pending {
        std::size_t engine;
        Time started;
        std::uint64_t spi_r = 0;
        Stage stage = Stage::INIT_SENT;
    };
    Generator(const LoadOptions& o, crypto::Random& rng);
    void launch(Time now);
    void drain(Time now, std::size_t engine);
    void fail(std::uint64_t spi_i, const std::string& reason);

    LoadOptions opt_;
    [[maybe_unused]] crypto::Random& rng_;  // not used yet (clang -Wunused-private-field)
    std::vector<std::unique_ptr<ike::Engine>> engines_;
    std::vector<IpAddress> engine_addr_;
    std::unordered_map<std::uint64_t, Pending> pending_;    // by our (initiator) SPI
    std::deque<std::pair<Time, std::uint64_t>> deadlines_;  // launch order = deadline order
    std::unordered_set<std::uint64_t> up_;                  // established, by our SPI
    std::vector<Send> sends_;
    mutable LoadStats stats_;
};

}  // namespace ikecluster::load
