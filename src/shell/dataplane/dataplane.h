// The gateway's userspace ESP data plane on Linux: a packet thread, apart
// from the IKE thread, that moves packets between the TUN device and the
// peers (ESP-in-UDP on the NAT-T port, RFC 3948, or raw ESP, IP protocol 50).
//
//   TUN --> SPD lookup (policy::Spd) --> OutboundSa::seal --> UDP 4500 / raw ESP
//   UDP 4500 / raw ESP --> SPI --> InboundSa::open --> selector check --> TUN
//
// Tunnel mode routes the remote selectors into the TUN device (main table).
// Transport mode (RFC 4303 §3.1.1) protects traffic between this host's
// address and the peer's: the peer's address is routed into the TUN device
// in a table of its own (`transport_table`), consulted through the rule
// `not fwmark <fwmark> lookup <transport_table>`, and every socket of the
// data plane carries that mark (SO_MARK), so the ESP packets themselves
// still leave through the main table. IKE from the daemon's own socket
// (UDP source port `ike_port`) gets a rule to the main table just before,
// as RFC 4301 §5.2 wants IKE to bypass IPsec. Outbound, the IP header of the
// local stack's packet is taken off and ESP carries the upper layer (Next
// Header = its protocol); inbound, the header is rebuilt from the SA's
// addresses (esp/transport.h).
//
// The packet thread owns every SA object, the SPD and the sockets' receive
// side; nothing on the fast path takes a lock or allocates. The IKE thread
// talks to it through install()/remove(), which queue commands and wake the
// thread (eventfd). Tunnel-mode routes are queued by install()/remove() and
// reach the kernel when the caller runs flush_routes(), many to a netlink
// send (a takeover of 10,000 SAs is a few sends, not 10,000 round trips);
// transport mode's host routes are set synchronously through rtnetlink.
// IKE messages that arrive on the NAT-T port are handed back to the IKE
// side through a callback; the IKE side sends on that port with send_udp().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/net.h"
#include "base/result.h"
#include "esp/esp_sa.h"
#include "ike/engine.h"
#include "net/prefixes.h"

namespace ikecluster::dp {

struct DataPlaneConfig {
    std::string tun_name = "ikec0";
    std::uint32_t mtu = 1400;
    std::size_t replay_window = 1024;  // packets, per inbound SA (RFC 6479 window)
    bool manage_routes = true;         // route remote selectors into the TUN device
    std::vector<IpAddress> listen;     // addresses for the NAT-T sockets (empty: any)
    std::uint16_t natt_port = 4500;
    bool freebind = false;  // bind `listen` addresses the host does not hold (cluster VIP)
    bool raw_esp = true;    // open raw ESP sockets (needs CAP_NET_RAW)
    // Outbound SAs ask for a rekey when this many sequence numbers remain
    // (0: the ESP default, 1/16 of the space; tests set it high).
    std::uint64_t rekey_margin = 0;
    // This member's outbound sequence-number stripes (esp::SeqStripes): in a
    // cluster, members never send the same number on one SA, even in a
    // split brain. Default: off.
    esp::SeqStripes stripes;
    // Transport mode's policy routing (see above). The rules are added with
    // the first transport-mode SA of a family and removed when the data plane
    // stops; rules with these priorities left by a daemon that was killed are
    // removed at start.
    std::uint32_t fwmark = 0x1ce5;
    std::uint32_t transport_table = 4500;
    std::uint32_t rule_priority = 4500;  // the IKE bypass rule takes rule_priority - 1
    std::uint16_t ike_port = 500;
    // TUN offloads (IFF_VNET_HDR, checksum offload and TSO): the local TCP
    // stack sends large segments that the packet thread cuts to the MTU
    // itself (net/offload.h); far fewer reads and much less work for the
    // stack. false: one plain packet per read.
    bool offload = true;
};

struct DataPlaneStats {
    std::uint64_t tun_packets = 0;        // read from TUN
    std::uint64_t esp_sent = 0;           // ESP packets out
    std::uint64_t esp_received = 0;       // ESP packets in (UDP or raw)
    std::uint64_t delivered = 0;          // inner packets written to TUN
    std::uint64_t no_policy = 0;          // TUN packets no Child SA covers
    std::uint64_t unknown_spi = 0;        // ESP on an SPI we do not have
    std::uint64_t rejected = 0;           // failed ICV, replay, malformed
    std::uint64_t selector_mismatch = 0;  // decrypted packet outside the SA's selectors
    std::uint64_t ike_on_natt = 0;        // IKE messages handed to the IKE side
    std::uint64_t send_errors = 0;
    // Transport mode: local packets it cannot carry (fragments, IPv6
    // extension headers, malformed; esp::transport_strip).
    std::uint64_t not_transportable = 0;
    std::uint64_t tun_errors = 0;
    std::uint64_t tun_merged = 0;  // delivered packets that went to TUN merged with others  // TUN
                                   // reads with a bad vnet header or too large to segment
    std::uint64_t installed = 0, removed = 0;
};

// What the packet thread saw per IKE SA since the last take_activity():
// authentic inbound ESP proves the peer is alive (Engine::note_inbound_traffic).
struct Activity {
    ike::IkeSpis ike;
};

// An outbound SA close to exhausting its sequence numbers (RFC 4303 §3.3.3:
// they must never wrap): the IKE side must rekey it now. Reported once.
struct RekeyRequest {
    ike::IkeSpis ike;
    std::uint32_t spi_in = 0;  // the Child SA, by our inbound SPI
};

class DataPlane {
  public:
    using IkeHandler =
        std::function<void(const Endpoint& local, const Endpoint& remote, Bytes datagram)>;

    // Opens the TUN device and the sockets and starts the packet thread.
    // `on_ike` runs on the packet thread for each IKE datagram on the NAT-T
    // port (the whole UDP payload, non-ESP marker included, as
    // Engine::receive takes it); it must hand it over quickly.
    static Result<std::unique_ptr<DataPlane>> start(const DataPlaneConfig& cfg, IkeHandler on_ike);
    ~DataPlane();

    // Thread-safe. Errors from building the SA objects (unsupported suite,
    // bad keys, unusable stripes) or from transport mode's route setup are
    // returned; the SA is then not used. Tunnel-mode routes to the remote
    // selectors are only queued: see flush_routes(). An SA taken over from
    // another member starts at its replicated counters
    // (InstallChildSa::out_next_seq, moved on to this member's stripe, and
    // in_highest for the replay window).
    Status install(const ike::InstallChildSa& c);
    void remove(const ike::RemoveChildSa& r);
    // Sends the route changes install() and remove() queued, in batches, and
    // returns those the kernel refused. Until then a new SA's traffic from
    // the local stack is not routed into the TUN device yet, and a removed
    // SA's still is (and dropped: no policy). Per prefix the last change
    // wins: added then deleted ends absent, deleted then added present.
    // Thread-safe; call it once a burst of installs and removals is done.
    struct RouteFailure {
        net::Prefix prefix;
        bool add = true;  // false: a delete
        int err = 0;      // errno
        std::string what;
    };
    std::vector<RouteFailure> flush_routes();
    // RFC 6311 moves counters of an installed SA (ike::AdjustChildCounters:
    // the outbound number jumps forward, the inbound window's floor rises).
    // Thread-safe; unknown SPIs are ignored.
    void adjust(const ike::AdjustChildCounters& a);
    // Sends one UDP datagram from the NAT-T socket bound to `local` (IKE on
    // port 4500 and NAT keepalives). Thread-safe.
    Status send_udp(const Endpoint& local, const Endpoint& remote, BytesView data);

    DataPlaneStats stats() const;
    std::vector<Activity> take_activity();
    std::vector<RekeyRequest> take_rekey_requests();
    // ESP that arrived on SPIs we have no SA for, since the last call: the
    // IKE side may tell the peer (INVALID_SPI, RFC 7296 §1.5). At most 16 per
    // call, so a flood of random SPIs costs the IKE thread nothing.
    struct UnknownSpi {
        IpAddress from;
        std::uint32_t spi = 0;
    };
    std::vector<UnknownSpi> take_unknown_spis();
    const std::string& tun_name() const;
    // Inbound replay high-water mark and outbound next sequence number of a
    // Child SA (by our inbound SPI), for checkpoints; nullopt when unknown.
    struct Counters {
        std::uint64_t out_next_seq = 0;
        std::uint64_t in_highest = 0;
    };
    std::optional<Counters> counters(std::uint32_t spi_in) const;

    struct Impl;

  private:
    explicit DataPlane(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ikecluster::dp
