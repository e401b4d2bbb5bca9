#include "dataplane/dataplane.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "base/buffer.h"
#include "esp/esp_sa.h"
#include "esp/transport.h"
#include "net/batch.h"
#include "net/netlink.h"
#include "net/offload.h"
#include "net/prefixes.h"
#include "net/tun.h"
#include "policy/spd.h"
#include "wire/esp.h"

namespace ikecluster::dp {

namespace {

constexpr std::size_t kBatch = 64;
constexpr std::size_t kBufferSize = 2048 + 128;  // MTU-sized packets plus headers and trailers
constexpr std::size_t kRingHeadroom = 64;        // >= esp::kHeadroom
constexpr std::size_t kMaxUnknown = 16;

struct OutEntry {
    esp::OutboundSa sa;
    Endpoint local, remote;
    bool encap = false;
    ike::IkeSpis ike;
    bool rekey_requested = false;
    bool transport = false;
};

struct InEntry {
    esp::InboundSa sa;
    ike::TsList ts_local, ts_remote;
    ike::IkeSpis ike;
    std::uint32_t spi_out = 0;
    std::uint64_t seen_epoch = 0;
    // Transport mode: the rebuilt IP header goes from `remote` to `local`
    // (the SA's addresses); after ESP-in-UDP the upper-layer checksum is
    // recomputed (a NAT may have changed the addresses it covers).
    bool transport = false;
    bool encap = false;
    IpAddress local, remote;
};

// Route keys: hashing the address bytes and the length is much cheaper than
// formatting "192.0.2.0/24" for every lookup.
struct PrefixHash {
    std::size_t operator()(const net::Prefix& p) const noexcept {
        std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
        for (std::uint8_t b : p.addr.bytes())
            h = (h ^ b) * 0x100000001b3ull;
        h = (h ^ p.len) * 0x100000001b3ull;
        return std::size_t(h ^ (p.addr.is_v6() ? 0x9e3779b97f4a7c15ull : 0));
    }
};

struct Sock {
    net::BatchSocket s;
    bool udp = false;
    IpAddress bound;   // UDP: the address bound (0.0.0.0 / :: for any)
    bool gro = false;  // UDP GRO on: read with receive_large()
};

}  // namespace

struct DataPlane::Impl {
    DataPlaneConfig cfg;
    IkeHandler on_ike;
    net::Tun tun;
    std::optional<net::Netlink> nl;
    std::vector<Sock> socks;
    int wake_fd = -1;
    std::atomic<bool> stopping{false};
    std::thread thread;

    // Everything below `mu` is shared between the packet thread (which holds
    // it while it works on one batch) and the IKE thread's calls.
    mutable std::mutex mu;
    std::unordered_map<std::uint32_t, InEntry> ins;    // by our inbound SPI
    std::unordered_map<std::uint32_t, OutEntry> outs;  // by our inbound SPI (the child's id)
    std::vector<policy::SpdEntry> spd_entries;         // in no order (each has its priority)
    // Where each id's entry is in spd_entries: removal swaps with the last
    // entry instead of scanning (a scan per removal made stopping a daemon
    // with 100,000 SAs quadratic, minutes long).
    std::unordered_map<std::uint64_t, std::size_t> spd_pos;
    policy::Spd spd;
    bool spd_dirty = false;
    std::uint32_t install_seq = 0;
    std::uint64_t epoch = 1;
    std::vector<Activity> activity;
    std::vector<RekeyRequest> rekeys;
    std::vector<DataPlane::UnknownSpi> unknown;  // bounded: kMaxUnknown
    DataPlaneStats st;

    // Routes are shared by the SAs that cover a prefix (a rekey installs the
    // same selectors again); counted so the last one removes the route.
    // Changes wait in `pending_routes` until flush_routes() sends them to the
    // kernel in batches (one netlink round trip per route was a third of a
    // 10,000-SA takeover). Per prefix, only the state it must end in goes
    // out, so an add and a delete of one prefix in one flush end as the
    // later of the two asked.
    std::mutex route_mu;
    std::unordered_map<net::Prefix, int, PrefixHash> routes;
    struct PendingRoute {
        bool present_before = false;  // in the kernel (as far as we know) before the first change
        bool want = false;            // after the last change
    };
    std::unordered_map<net::Prefix, PendingRoute, PrefixHash> pending_routes;
    std::vector<net::Prefix> pending_order;  // first-change order, so a flush is deterministic
    // Transport mode: host routes into the TUN device in cfg.transport_table,
    // by peer address (counted like `routes`), and whether each family's
    // rules are in place. `marked`: every data-plane socket carries
    // cfg.fwmark, without which transport mode would loop its own ESP.
    // These stay synchronous (not batched): a transport SA whose host route
    // fails is refused at install(), and they are one per peer, not per
    // selector.
    std::unordered_map<net::Prefix, int, PrefixHash> host_routes;
    bool rules[2] = {false, false};
    bool marked = false;

    net::PacketRing rx{kBatch, kBufferSize, kRingHeadroom};
    // TUN offloads: one large segment (64 KiB plus its vnet header).
    // Decrypted packets of the current receive batch, for TUN (offloads on).
    std::array<std::span<std::uint8_t>, kBatch> pending;
    std::size_t npending = 0;
    // UDP GRO receive buffers (64 KiB each), allocated once.
    std::vector<net::LargePacket> large = std::vector<net::LargePacket>(8);
    std::vector<std::uint8_t> gro_buf = std::vector<std::uint8_t>(65535 + net::VnetHdr::kSize + 64);
    std::vector<std::uint8_t> gso_buf =
        std::vector<std::uint8_t>(65535 + 40 + 64 + net::VnetHdr::kSize);

    Impl(const DataPlaneConfig& c, IkeHandler h, net::Tun t)
        : cfg(c), on_ike(std::move(h)), tun(std::move(t)) {}
    ~Impl() {
        if (wake_fd >= 0) ::close(wake_fd);
    }

    void run();
    void from_tun();
    void seal_and_send(std::size_t got);              // rx slots [0, got) from TUN
    void to_tun_flush();                              // `pending` into TUN
    void process_received(Sock& s, std::size_t got);  // rx slots [0, got) from a socket
    void from_sock(Sock& s);
    void deliver(net::Packet& p);
    Sock* udp_for(const IpAddress& local);
    Sock* raw_for(bool v6);
    void routes_add(const ike::TsList& remote);
    void spd_erase(std::uint64_t id) {  // with `mu` held
        auto it = spd_pos.find(id);
        if (it == spd_pos.end()) return;
        const std::size_t i = it->second;
        spd_pos.erase(it);
        if (i + 1 != spd_entries.size()) {
            spd_entries[i] = std::move(spd_entries.back());
            spd_pos[spd_entries[i].id] = i;
        }
        spd_entries.pop_back();
    }
    void routes_del(const ike::TsList& remote);
    void queue_route(const net::Prefix& p, bool add);  // under route_mu
    Status transport_add(const IpAddress& local, const IpAddress& remote);
    void transport_del(const IpAddress& remote);
    std::array<net::Netlink::Rule, 2> rules_for(bool v6) const;
    void rules_del(bool v6);
};

DataPlane::DataPlane(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DataPlane::~DataPlane() {
    if (!impl_) return;
    impl_->stopping = true;
    std::uint64_t one = 1;
    [[maybe_unused]] auto w = ::write(impl_->wake_fd, &one, sizeof one);
    if (impl_->thread.joinable()) impl_->thread.join();
    // Routes go with the TUN device when it closes; the rules do not.
    for (bool v6 : {false, true}) {
        if (impl_->rules[v6]) impl_->rules_del(v6);
    }
}

Result<std::unique_ptr<DataPlane>> DataPlane::start(const DataPlaneConfig& cfg, IkeHandler on_ike) {
    auto tun = net::Tun::open({cfg.tun_name, 1, cfg.offload, true});
    if (!tun) return tun.error();
    auto impl = std::make_unique<Impl>(cfg, std::move(on_ike), std::move(*tun));
    auto nl = net::Netlink::open();
    if (!nl) return nl.error();
    if (auto up = nl->link_up(impl->tun.ifindex(), cfg.mtu); !up) return up.error();
    impl->nl.emplace(std::move(*nl));
    std::vector<IpAddress> listen = cfg.listen;
    if (listen.empty()) listen = {IpAddress{}, IpAddress::v6({})};
    for (const IpAddress& a : listen) {
        auto s = net::BatchSocket::udp({a, cfg.natt_port}, false, cfg.freebind);
        if (!s) return s.error();
        // With offloads, UDP GRO too: a peer's UDP GSO burst arrives as one
        // buffer instead of dozens of datagrams.
        const bool gro = cfg.offload && s->enable_gro().ok();
        impl->socks.push_back(Sock{std::move(*s), true, a, gro});
    }
    if (cfg.raw_esp) {
        for (bool v6 : {false, true}) {
            auto s = net::BatchSocket::raw_esp(v6);
            if (!s) return s.error();
            impl->socks.push_back(Sock{std::move(*s), false, IpAddress{}});
        }
    }
    // Every socket of ours carries the mark, so transport mode's rule sends
    // our own ESP (and IKE on the NAT-T port) through the main table. Without
    // CAP_NET_ADMIN this fails; only transport-mode SAs need it.
    impl->marked = true;
    for (Sock& s : impl->socks) {
        if (!s.s.set_mark(cfg.fwmark)) impl->marked = false;
    }
    // Rules a killed daemon left behind would route the peers of transport
    // SAs it no longer has into a table that no longer leads anywhere (the
    // lookup falls through, so harmless, but not ours to keep).
    for (bool v6 : {false, true})
        impl->rules_del(v6);
    impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (impl->wake_fd < 0) return Error{0, std::string("eventfd: ") + std::strerror(errno)};
    Impl* raw = impl.get();
    impl->thread = std::thread([raw] { raw->run(); });
    return std::unique_ptr<DataPlane>(new DataPlane(std::move(impl)));
}

const std::string& DataPlane::tun_name() const {
    return impl_->tun.name();
}

// ---- commands (IKE thread) ------------------------------------------------------------

void DataPlane::Impl::queue_route(const net::Prefix& p, bool add) {
    auto [it, fresh] = pending_routes.try_emplace(p);
    if (fresh) {
        // The count just went 0 -> 1 (add) or 1 -> 0 (delete), so the
        // kernel had the route exactly when this is a delete.
        it->second.present_before = !add;
        pending_order.push_back(p);
    }
    it->second.want = add;
}

void DataPlane::Impl::routes_add(const ike::TsList& remote) {
    if (!cfg.manage_routes) return;
    std::lock_guard lock(route_mu);
    for (const ike::TrafficSelector& t : remote) {
        for (const net::Prefix& p : net::range_to_prefixes(t.start, t.end)) {
            if (routes[p]++ == 0) queue_route(p, true);
        }
    }
}

void DataPlane::Impl::routes_del(const ike::TsList& remote) {
    if (!cfg.manage_routes) return;
    std::lock_guard lock(route_mu);
    for (const ike::TrafficSelector& t : remote) {
        for (const net::Prefix& p : net::range_to_prefixes(t.start, t.end)) {
            auto it = routes.find(p);
            if (it == routes.end()) continue;
            if (--it->second == 0) {
                routes.erase(it);
                queue_route(p, false);
            }
        }
    }
}

std::vector<DataPlane::RouteFailure> DataPlane::flush_routes() {
    std::vector<RouteFailure> failed;
    // Held while the batches go out: a change queued meanwhile by another
    // thread must not reach the kernel before this one.
    std::lock_guard lock(impl_->route_mu);
    if (impl_->pending_order.empty()) return failed;
    std::vector<net::RouteRequest> reqs;
    reqs.reserve(impl_->pending_order.size());
    const int ifindex = impl_->tun.ifindex();
    for (const net::Prefix& p : impl_->pending_order) {
        const auto& pr = impl_->pending_routes.at(p);
        // Added and deleted again before the kernel saw it: nothing to do.
        if (!pr.want && !pr.present_before) continue;
        net::RouteRequest r;
        r.add = pr.want;
        r.dst = p;
        r.ifindex = ifindex;
        reqs.push_back(r);
    }
    impl_->pending_routes.clear();
    impl_->pending_order.clear();
    if (reqs.empty()) return failed;
    net::BatchResult res = impl_->nl->route_batch(reqs);
    if (res.failed == 0) return failed;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        if (res.err[i] != 0)
            failed.push_back(
                RouteFailure{reqs[i].dst, reqs[i].add, res.err[i], res.status(i).error().what});
    }
    return failed;
}

std::array<net::Netlink::Rule, 2> DataPlane::Impl::rules_for(bool v6) const {
    net::Netlink::Rule ike;  // IKE from the daemon's own socket: main table (RFC 4301 §5.2 bypass)
    ike.v6 = v6;
    ike.priority = cfg.rule_priority - 1;
    ike.table = 254;
    ike.ip_proto = IPPROTO_UDP;
    ike.sport = cfg.ike_port;
    net::Netlink::Rule unmarked;  // everything not sent by the data plane
    unmarked.v6 = v6;
    unmarked.priority = cfg.rule_priority;
    unmarked.table = cfg.transport_table;
    unmarked.fwmark = cfg.fwmark;
    unmarked.fwmask = 0xffffffffu;
    unmarked.invert = true;
    return {ike, unmarked};
}

void DataPlane::Impl::rules_del(bool v6) {
    for (const net::Netlink::Rule& r : rules_for(v6)) {
        // Several copies if daemons were killed more than once; bounded.
        for (int i = 0; i < 16 && nl->del_rule(r); ++i) {
        }
    }
    rules[v6] = false;
}

Status DataPlane::Impl::transport_add(const IpAddress& local, const IpAddress& remote) {
    if (!marked)
        return Error{0,
                     "transport mode needs the data plane's sockets marked (SO_MARK, "
                     "CAP_NET_ADMIN), or its ESP would loop into the TUN device"};
    if (local.is_unspecified() || remote.is_unspecified() || local.is_v6() != remote.is_v6())
        return Error{0, "transport mode needs a local and a remote address of one family"};
    std::lock_guard lock(route_mu);
    const bool v6 = remote.is_v6();
    if (!rules[v6]) {
        for (const net::Netlink::Rule& r : rules_for(v6)) {
            if (auto st = nl->add_rule(r); !st && nl->last_errno() != EEXIST)
                return Error{0, "transport mode policy rule: " + st.error().what};
        }
        rules[v6] = true;
    }
    net::Prefix host{remote, std::uint8_t(v6 ? 128 : 32)};
    int& count = host_routes[host];
    if (count == 0) {
        if (auto st = nl->add_route(host, tun.ifindex(), &local, cfg.transport_table); !st) {
            host_routes.erase(host);
            return Error{0, "transport mode route to " + host.to_string() + ": " + st.error().what};
        }
    }
    ++count;
    return Ok{};
}

void DataPlane::Impl::transport_del(const IpAddress& remote) {
    std::lock_guard lock(route_mu);
    net::Prefix host{remote, std::uint8_t(remote.is_v6() ? 128 : 32)};
    auto it = host_routes.find(host);
    if (it == host_routes.end()) return;
    if (--it->second == 0) {
        (void)nl->del_route(host, tun.ifindex(), cfg.transport_table);
        host_routes.erase(it);
    }
}

Status DataPlane::install(const ike::InstallChildSa& c) {
    esp::SaOptions opts;
    opts.replay_window = impl_->cfg.replay_window;
    opts.rekey_margin = impl_->cfg.rekey_margin;
    opts.stripes = impl_->cfg.stripes;
    // Key setup happens here, on the caller's thread, not on the packet path.
    auto out = esp::OutboundSa::create(c.child, opts);
    if (!out) return out.error();
    auto in = esp::InboundSa::create(c.child, opts);
    if (!in) return in.error();
    // A takeover resumes the failed member's counters (RFC 6027 §3.4: they
    // must never go backwards). A checkpoint past the end of a 32-bit space
    // leaves the SA exhausted, so the next packet asks for a rekey, rather
    // than refusing the SA.
    if (c.out_next_seq > 1) {
        const std::uint64_t next =
            c.child.esn ? c.out_next_seq : std::min<std::uint64_t>(c.out_next_seq, 1ull << 32);
        if (auto r = out->set_next_seq(next); !r.ok()) return r.error().to_error();
    }
    if (c.in_highest > 0) (void)in->window().raise_highest(c.in_highest);
    const bool transport = c.child.mode == ike::IpsecMode::TRANSPORT;
    if (transport) {
        // Host to host: only the peer's address goes into the TUN device.
        if (auto st = impl_->transport_add(c.local.addr, c.remote.addr); !st) return st;
    } else {
        impl_->routes_add(c.child.ts_remote);
    }
    Endpoint remote = c.remote;
    if (!c.encap) remote.port = 0;
    std::lock_guard lock(impl_->mu);
    impl_->outs.insert_or_assign(c.child.spi_in, OutEntry{std::move(*out), c.local, remote, c.encap,
                                                          c.ike, false, transport});
    impl_->ins.insert_or_assign(
        c.child.spi_in,
        InEntry{std::move(*in), c.child.ts_local, c.child.ts_remote, c.ike, c.child.spi_out, 0,
                transport, c.encap, c.local.addr, c.remote.addr});
    // The newest SA for the same selectors wins (after a rekey traffic moves
    // to the new SA at once, RFC 7296 §2.8): lower priority value first.
    policy::SpdEntry entry{c.child.ts_local, c.child.ts_remote, c.child.spi_in,
                           0xffffffffu - ++impl_->install_seq};
    auto [pos, fresh] = impl_->spd_pos.try_emplace(entry.id, impl_->spd_entries.size());
    if (fresh)
        impl_->spd_entries.push_back(std::move(entry));
    else
        impl_->spd_entries[pos->second] = std::move(entry);  // the same SPI installed again
    impl_->spd_dirty = true;
    ++impl_->st.installed;
    return Ok{};
}

void DataPlane::remove(const ike::RemoveChildSa& r) {
    ike::TsList remote;
    std::optional<IpAddress> transport_peer;
    {
        std::lock_guard lock(impl_->mu);
        auto it = impl_->ins.find(r.spi_in);
        if (it == impl_->ins.end()) return;
        remote = it->second.ts_remote;
        if (it->second.transport) transport_peer = it->second.remote;
        impl_->ins.erase(it);
        impl_->outs.erase(r.spi_in);
        impl_->spd_erase(r.spi_in);
        impl_->spd_dirty = true;
        ++impl_->st.removed;
    }
    if (transport_peer)
        impl_->transport_del(*transport_peer);
    else
        impl_->routes_del(remote);
}

void DataPlane::adjust(const ike::AdjustChildCounters& a) {
    std::lock_guard lock(impl_->mu);
    if (a.out_advance) {
        if (auto o = impl_->outs.find(a.spi_in); o != impl_->outs.end()) {
            esp::OutboundSa& sa = o->second.sa;
            // Past the end of the space the SA is exhausted and asks for a
            // rekey on its next packet (set_next_seq), never wraps.
            const std::uint64_t cur = sa.next_seq();
            const std::uint64_t next =
                a.out_advance > ~std::uint64_t{0} - cur ? ~std::uint64_t{0} : cur + a.out_advance;
            (void)sa.set_next_seq(next);
        }
    }
    if (a.in_floor) {
        if (auto i = impl_->ins.find(a.spi_in); i != impl_->ins.end())
            (void)i->second.sa.window().raise_highest(a.in_floor);
    }
}

Status DataPlane::send_udp(const Endpoint& local, const Endpoint& remote, BytesView data) {
    Sock* s = impl_->udp_for(local.addr);
    if (!s) return Error{0, "no NAT-T socket for " + local.to_string()};
    // sendmsg on a UDP socket is safe next to the packet thread's sendmmsg.
    // On a wildcard socket the source address is named (IP_PKTINFO): the peer
    // expects the answer from the address it sent to.
    sockaddr_storage to;
    socklen_t len = net::to_sockaddr(remote, to);
    iovec iov{const_cast<std::uint8_t*>(data.data()), data.size()};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) std::uint8_t control[net::kPktinfoSpace];
    if (s->bound.is_unspecified() && !local.addr.is_unspecified())
        net::set_source_address(msg, control, local.addr);
    if (::sendmsg(s->s.fd(), &msg, 0) < 0)
        return Error{0, std::string("sendmsg: ") + std::strerror(errno)};
    return Ok{};
}

DataPlaneStats DataPlane::stats() const {
    std::lock_guard lock(impl_->mu);
    return impl_->st;
}

std::vector<Activity> DataPlane::take_activity() {
    std::lock_guard lock(impl_->mu);
    ++impl_->epoch;
    return std::exchange(impl_->activity, {});
}

std::vector<DataPlane::UnknownSpi> DataPlane::take_unknown_spis() {
    std::lock_guard lock(impl_->mu);
    return std::exchange(impl_->unknown, {});
}

std::vector<RekeyRequest> DataPlane::take_rekey_requests() {
    std::lock_guard lock(impl_->mu);
    return std::exchange(impl_->rekeys, {});
}

std::optional<DataPlane::Counters> DataPlane::counters(std::uint32_t spi_in) const {
    std::lock_guard lock(impl_->mu);
    auto i = impl_->ins.find(spi_in);
    auto o = impl_->outs.find(spi_in);
    if (i == impl_->ins.end() || o == impl_->outs.end()) return std::nullopt;
    return Counters{o->second.sa.next_seq(), i->second.sa.window().highest()};
}

// ---- packet thread --------------------------------------------------------------------

Sock* DataPlane::Impl::udp_for(const IpAddress& local) {
    Sock* any = nullptr;
    for (Sock& s : socks) {
        if (!s.udp || s.bound.is_v6() != local.is_v6()) continue;
        if (s.bound == local) return &s;
        if (s.bound.is_unspecified()) any = &s;  // on the packet path: no parsing here
    }
    return any;
}

Sock* DataPlane::Impl::raw_for(bool v6) {
    for (Sock& s : socks) {
        if (!s.udp && s.s.v6() == v6) return &s;
    }
    return nullptr;
}

void DataPlane::Impl::run() {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd, POLLIN, 0});
    fds.push_back({tun.fd(), POLLIN, 0});
    for (Sock& s : socks)
        fds.push_back({s.s.fd(), POLLIN, 0});
    // The policy table is rebuilt at most every kSpdBatch, from a copy and
    // outside the lock: rebuilding it on every install, under the lock
    // install() also takes, made the IKE thread wait O(SAs) per handshake
    // (180 us per install at 30,000 SAs). A new SA's traffic may wait up to
    // kSpdBatch before the table names it. A rebuild costs O(SAs) (tens of
    // ms at 100,000), so the pause after one is at least kSpdPauseFactor
    // times what it took: during an SA storm at that scale a fixed 10 ms
    // kept this thread rebuilding without pause, taking the CPU the IKE
    // thread needed (1,018 handshakes/s at 100,000 SAs against 4,600 at
    // 10,000). The cost: a new SA's return traffic may wait about 3 times
    // a rebuild before the table names it.
    constexpr auto kSpdBatch = std::chrono::milliseconds(10);
    constexpr int kSpdPauseFactor = 3;
    auto next_spd = std::chrono::steady_clock::now();
    bool dirty_seen = false;
    while (!stopping) {
        int n = ::poll(fds.data(), fds.size(), dirty_seen ? 10 : 200);
        if (n < 0 && errno != EINTR) break;
        if (fds[0].revents) {
            std::uint64_t v;
            [[maybe_unused]] auto r = ::read(wake_fd, &v, sizeof v);
        }
        const auto clock = std::chrono::steady_clock::now();
        std::optional<std::vector<policy::SpdEntry>> fresh;
        {
            std::lock_guard lock(mu);
            dirty_seen = spd_dirty;
            if (spd_dirty && clock >= next_spd) {
                fresh = spd_entries;
                spd_dirty = false;
                dirty_seen = false;
            }
        }
        if (fresh) {
            policy::Spd built(std::move(*fresh));
            const auto done = std::chrono::steady_clock::now();
            next_spd = done + std::max<std::chrono::steady_clock::duration>(
                                  kSpdBatch, kSpdPauseFactor * (done - clock));
            std::lock_guard lock(mu);
            spd = std::move(built);
        }
        std::lock_guard lock(mu);
        if (fds[1].revents & POLLIN) from_tun();
        for (std::size_t i = 0; i < socks.size(); ++i) {
            if (fds[i + 2].revents & POLLIN) from_sock(socks[i]);
        }
    }
}

void DataPlane::Impl::from_tun() {
    if (!tun.vnet_hdr()) {
        std::size_t got = 0;
        for (; got < kBatch; ++got) {
            rx.reset(got);
            net::Packet& p = rx[got];
            auto r = tun.read(std::span<std::uint8_t>(p.data, p.tailroom - esp::kTailroom));
            if (!r || *r == 0) break;
            p.len = *r;
        }
        seal_and_send(got);
        return;
    }
    // With TSO the stack hands over large TCP segments: read each into
    // `gso_buf` and cut it into ring slots (what the kernel's GSO would do
    // for a real device), sending whenever the ring is full.
    std::size_t got = 0;
    for (std::size_t reads = 0; reads < kBatch; ++reads) {
        auto r = tun.read(gso_buf);
        if (!r || *r == 0) break;
        if (*r < net::VnetHdr::kSize) {
            ++st.tun_errors;
            continue;
        }
        const net::VnetHdr h = net::VnetHdr::load(gso_buf.data());
        std::span<std::uint8_t> pkt(gso_buf.data() + net::VnetHdr::kSize, *r - net::VnetHdr::kSize);
        auto plan = net::gso_plan(h, pkt);
        const std::size_t room = rx.buffer_size() - rx.headroom() - esp::kTailroom;
        if (!plan || plan->max_segment() > room) {
            ++st.tun_errors;
            continue;
        }
        if (plan->hdr_len == 0 && (h.flags & net::VnetHdr::kNeedsCsum) &&
            !net::complete_checksum(pkt, h.csum_start, h.csum_offset)) {
            ++st.tun_errors;
            continue;
        }
        for (std::size_t i = 0; i < plan->segments; ++i) {
            if (got == kBatch) {
                seal_and_send(got);
                got = 0;
            }
            rx.reset(got);
            net::Packet& p = rx[got++];
            if (plan->hdr_len == 0) {
                std::memcpy(p.data, pkt.data(), pkt.size());
                p.len = pkt.size();
            } else {
                p.len = net::gso_segment(*plan, pkt, i, std::span<std::uint8_t>(p.data, room));
            }
        }
    }
    if (got) seal_and_send(got);
}

void DataPlane::Impl::seal_and_send(std::size_t got) {
    std::array<std::uint32_t, kBatch> udp_slots{}, raw4{}, raw6{};
    std::size_t nu = 0, n4 = 0, n6 = 0;
    Sock* udp_sock = nullptr;
    st.tun_packets += got;
    for (std::size_t i = 0; i < got; ++i) {
        net::Packet& p = rx[i];
        auto key = policy::packet_key(std::span<const std::uint8_t>(p.data, p.len));
        const policy::SpdEntry* e = key ? spd.lookup_outbound(*key) : nullptr;
        auto it = e ? outs.find(std::uint32_t(e->id)) : outs.end();
        if (it == outs.end()) {
            ++st.no_policy;
            continue;
        }
        OutEntry& o = it->second;
        esp::SaResult<std::span<std::uint8_t>> sealed = esp::SaFailure{};
        if (o.transport) {
            // RFC 4303 §3.1.1: ESP goes after the IP header, which the socket
            // writes again on the way out; seal the upper layer in place.
            auto s = esp::transport_strip(BytesView(p.data, p.len));
            if (!s.ok) {
                ++st.not_transportable;
                continue;
            }
            const std::size_t hl = s.value.header_len;
            std::span<std::uint8_t> buf(p.data + hl - esp::kHeadroom,
                                        esp::kHeadroom + p.tailroom - hl);
            sealed = o.sa.seal(buf, s.value.payload_len, s.value.next_header);
        } else {
            std::span<std::uint8_t> buf(p.data - esp::kHeadroom, esp::kHeadroom + p.tailroom);
            sealed = o.sa.seal(buf, p.len);
        }
        if (!o.rekey_requested && o.sa.needs_rekey()) {
            o.rekey_requested = true;
            rekeys.push_back(RekeyRequest{o.ike, it->first});
        }
        if (!sealed) {
            ++st.send_errors;
            continue;
        }
        p.data = sealed->data();
        p.len = sealed->size();
        p.peer = o.remote;
        p.local = o.local.addr;
        p.has_local = true;
        if (o.encap) {
            // One UDP socket per batch in practice (a gateway usually has one
            // address per family); a packet for another one is sent alone.
            Sock* s = udp_for(o.local.addr);
            if (!s) {
                ++st.send_errors;
                continue;
            }
            if (udp_sock && s != udp_sock) {
                std::uint32_t one = std::uint32_t(i);
                if (!s->s.send(rx, std::span<const std::uint32_t>(&one, 1)))
                    ++st.send_errors;
                else
                    ++st.esp_sent;
                continue;
            }
            udp_sock = s;
            udp_slots[nu++] = std::uint32_t(i);
        } else if (o.remote.addr.is_v6()) {
            raw6[n6++] = std::uint32_t(i);
        } else {
            raw4[n4++] = std::uint32_t(i);
        }
    }
    auto flush = [&](Sock* s, const std::array<std::uint32_t, kBatch>& slots, std::size_t n) {
        if (!s || n == 0) {
            st.send_errors += n;
            return;
        }
        auto r = s->s.send(rx, std::span<const std::uint32_t>(slots.data(), n));
        std::size_t sent = r ? *r : 0;
        st.esp_sent += sent;
        st.send_errors += n - sent;
    };
    if (nu) flush(udp_sock, udp_slots, nu);
    if (n4) flush(raw_for(false), raw4, n4);
    if (n6) flush(raw_for(true), raw6, n6);
}

void DataPlane::Impl::from_sock(Sock& s) {
    if (s.gro) {
        // Coalesced datagrams (UDP GRO): cut each into its datagrams, one
        // ring slot each, and process a ring-full at a time.
        auto got = s.s.receive_large(large);
        if (!got) return;
        std::size_t k = 0;
        for (std::size_t i = 0; i < *got; ++i) {
            const net::LargePacket& l = large[i];
            const std::size_t seg = l.segment ? l.segment : l.len;
            const std::size_t room = rx.buffer_size() - rx.headroom();
            for (std::size_t off = 0; off < l.len && seg > 0; off += seg) {
                const std::size_t n = std::min(seg, l.len - off);
                if (n > room) break;  // larger than any ESP packet we take
                if (k == kBatch) {
                    process_received(s, k);
                    k = 0;
                }
                rx.reset(k);
                net::Packet& p = rx[k++];
                std::memcpy(p.data, l.buf.data() + off, n);
                p.len = n;
                p.peer = l.peer;
                p.local = l.local;
                p.has_local = l.has_local;
            }
        }
        if (k) process_received(s, k);
        return;
    }
    auto got = s.s.receive(rx, kBatch);
    if (!got) return;
    process_received(s, *got);
}

void DataPlane::Impl::process_received(Sock& s, std::size_t got) {
    for (std::size_t i = 0; i < got; ++i) {
        net::Packet& p = rx[i];
        if (p.len == 0) continue;
        if (s.udp) {
            auto c = wire::classify_udp_encap(BytesView(p.data, p.len));
            if (!c || c->kind == wire::UdpEncapKind::NAT_KEEPALIVE) continue;
            if (c->kind == wire::UdpEncapKind::IKE) {
                ++st.ike_on_natt;
                Endpoint local{p.has_local ? p.local : s.bound, cfg.natt_port};
                // The whole datagram, marker included: that is what
                // Engine::receive expects on the NAT-T port.
                on_ike(local, p.peer, Bytes(p.data, p.data + p.len));
                continue;
            }
        }
        deliver(p);
    }
    if (npending) to_tun_flush();
}

void DataPlane::Impl::to_tun_flush() {
    // Runs of segments that continue one TCP stream go to TUN as one large
    // segment (net::gro_*); everything else as it is, behind a zero vnet
    // header. The packets stay in the ring until the next receive.
    std::array<BytesView, kBatch> run;
    std::size_t i = 0;
    while (i < npending) {
        BytesView first(pending[i].data(), pending[i].size());
        auto f = net::gro_candidate(first);
        std::size_t n = 1, payload = f ? f->payload : 0;
        run[0] = first;
        if (f) {
            net::TcpSegment last = *f;
            while (i + n < npending) {
                BytesView next(pending[i + n].data(), pending[i + n].size());
                auto c = net::gro_candidate(next);
                if (!c || !net::gro_continues(first, *f, last, next, *c, payload)) break;
                run[n++] = next;
                payload += c->payload;
                last = *c;
            }
        }
        std::size_t len = 0;
        if (f) {
            len = net::gro_merge(std::span<const BytesView>(run.data(), n), *f, gro_buf);
        } else {
            std::memset(gro_buf.data(), 0, net::VnetHdr::kSize);
            std::memcpy(gro_buf.data() + net::VnetHdr::kSize, first.data(), first.size());
            len = net::VnetHdr::kSize + first.size();
        }
        if (!tun.write(std::span<const std::uint8_t>(gro_buf.data(), len))) st.send_errors += n;
        if (n > 1) st.tun_merged += n;
        i += n;
    }
    npending = 0;
}

void DataPlane::Impl::deliver(net::Packet& p) {
    ++st.esp_received;
    if (p.len < wire::kEspHeaderSize) {
        ++st.rejected;
        return;
    }
    std::uint32_t spi = load_be32(p.data);
    auto it = ins.find(spi);
    if (it == ins.end()) {
        ++st.unknown_spi;
        if (unknown.size() < kMaxUnknown) unknown.push_back({p.peer.addr, spi});
        return;
    }
    InEntry& e = it->second;
    auto opened = e.sa.open(std::span<std::uint8_t>(p.data, p.len));
    if (!opened) {
        ++st.rejected;
        return;
    }
    if (opened->next_header == esp::kNextHeaderDummy) return;  // RFC 4303 §2.6
    std::span<std::uint8_t> packet = opened->payload;
    if (e.transport) {
        // Rebuild the IP header in the room the outer headers and the ESP
        // header leave in front of the payload.
        std::span<std::uint8_t> region(p.data - p.headroom, p.headroom + p.len);
        const std::size_t at = std::size_t(opened->payload.data() - region.data());
        auto r = esp::transport_rebuild(region, at, opened->payload.size(), e.remote, e.local,
                                        opened->next_header);
        if (!r.ok) {
            ++st.rejected;
            return;
        }
        packet = r.packet;
        // RFC 3948 §3.1.2: through a NAT the peer's checksum covers other
        // addresses; ESP authenticated the payload, so recompute it.
        if (e.encap) esp::transport_fix_checksum(packet);
    }
    // RFC 4301 §5.2: the inner packet must be one this SA may carry.
    auto key = policy::packet_key(packet);
    if (!key || !policy::within(e.ts_remote, e.ts_local, *key)) {
        ++st.selector_mismatch;
        return;
    }
    if (tun.vnet_hdr()) {
        // Written when the batch is done, merged with its neighbours where
        // they continue one TCP stream (to_tun_flush).
        pending[npending++] = packet;
    } else if (!tun.write(packet)) {
        ++st.send_errors;
        return;
    }
    ++st.delivered;
    if (e.seen_epoch != epoch) {
        e.seen_epoch = epoch;
        activity.push_back(Activity{e.ike});
    }
}

}  // namespace ikecluster::dp
