// Route installation cost: N /32 routes into a TUN device, added and then
// deleted, one synchronous netlink request per route (Netlink::add_route,
// one send and one ACK read each, as the data plane did per Child SA) against
// Netlink::route_batch (up to 200 requests per send, ACKs matched by sequence
// number). Then the data plane's own path: N Child SAs installed and removed
// with DataPlane::flush_routes() after every SA (what one handshake at a
// time costs) against one flush for all of them (what a takeover does).
//
// It changes the routing table, so run it in a scratch network namespace
// (root):
//   ip netns add ikec-rbench
//   ip netns exec ikec-rbench build/rel/bench/route_bench [routes] [reps]
//   ip netns del ikec-rbench
// Wall time (the kernel does the work on this thread, inside the send).
// Each figure is the median of `reps` runs (default 5).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "dataplane/dataplane.h"
#include "net/netlink.h"
#include "net/tun.h"

using namespace ikecluster;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

net::Prefix host(std::size_t i) {
    return {IpAddress::v4({10, std::uint8_t(i >> 16), std::uint8_t(i >> 8), std::uint8_t(i)}), 32};
}

void row(const char* what, std::size_t n, double ms) {
    std::printf("  %-44s %9.1f ms  %7.2f us/route\n", what, ms, ms * 1000.0 / double(n));
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "route_bench: %s\n", what.c_str());
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
    if (n == 0 || n > (1u << 24) || reps < 1) die("usage: route_bench [routes] [reps]");

    {
        auto tun = net::Tun::open({"ikecrb0", 1, false, true});
        if (!tun) die(tun.error().what);
        auto nl = net::Netlink::open();
        if (!nl) die(nl.error().what);
        if (auto st = nl->link_up(tun->ifindex()); !st) die(st.error().what);
        const int ifx = tun->ifindex();
        std::vector<net::RouteRequest> adds(n), dels(n);
        for (std::size_t i = 0; i < n; ++i) {
            adds[i] = {true, host(i), ifx, std::nullopt, 254, 0};
            dels[i] = {false, host(i), ifx, std::nullopt, 254, 0};
        }
        std::vector<double> add1, del1, addb, delb;
        for (int r = 0; r < reps; ++r) {
            auto t0 = Clock::now();
            for (std::size_t i = 0; i < n; ++i) {
                if (!nl->add_route(host(i), ifx)) die("add_route failed");
            }
            add1.push_back(ms_since(t0));
            t0 = Clock::now();
            for (std::size_t i = 0; i < n; ++i) {
                if (!nl->del_route(host(i), ifx)) die("del_route failed");
            }
            del1.push_back(ms_since(t0));
            t0 = Clock::now();
            if (nl->route_batch(adds).failed) die("batched add failed");
            addb.push_back(ms_since(t0));
            t0 = Clock::now();
            if (nl->route_batch(dels).failed) die("batched delete failed");
            delb.push_back(ms_since(t0));
        }
        std::printf("%zu /32 routes into a TUN device, median of %d:\n", n, reps);
        row("add, one request per route", n, median(add1));
        row("add, batched (route_batch)", n, median(addb));
        row("delete, one request per route", n, median(del1));
        row("delete, batched (route_batch)", n, median(delb));
    }

    // The data plane: N tunnel-mode Child SAs with a /32 remote selector each.
    dp::DataPlaneConfig cfg;
    cfg.tun_name = "ikecrb1";
    cfg.raw_esp = false;
    cfg.offload = false;
    cfg.natt_port = 14500;
    auto d = dp::DataPlane::start(cfg, [](const Endpoint&, const Endpoint&, Bytes) {});
    if (!d) die(d.error().what);
    std::vector<ike::InstallChildSa> sas(n);
    for (std::size_t i = 0; i < n; ++i) {
        ike::InstallChildSa& c = sas[i];
        c.ike = {i + 1, i + 2};
        c.child.config_name = "net";
        c.child.spi_in = std::uint32_t(0x100000 + 2 * i);
        c.child.spi_out = std::uint32_t(0x100001 + 2 * i);
        c.child.encr = {EncrId::AES_GCM_16, 256};
        c.child.keys.encr_in = Bytes(36, 1);
        c.child.keys.encr_out = Bytes(36, 2);
        c.child.ts_local = *ike::parse_ts_list("10.255.0.0/16");
        c.child.ts_remote = *ike::parse_ts_list(host(i).to_string());
        c.local = {*IpAddress::parse("192.0.2.1"), 4500};
        c.remote = {*IpAddress::parse("198.51.100.2"), 4500};
        c.encap = true;
    }
    auto run = [&](bool each) {
        auto t0 = Clock::now();
        for (const auto& c : sas) {
            if (!(*d)->install(c)) die("install failed");
            if (each && !(*d)->flush_routes().empty()) die("route add failed");
        }
        if (!(*d)->flush_routes().empty()) die("route add failed");
        const double in = ms_since(t0);
        t0 = Clock::now();
        for (const auto& c : sas) {
            (*d)->remove({c.ike, c.child.spi_in, c.child.spi_out});
            if (each && !(*d)->flush_routes().empty()) die("route delete failed");
        }
        if (!(*d)->flush_routes().empty()) die("route delete failed");
        return std::make_pair(in, ms_since(t0));
    };
    std::vector<double> in1, out1, inb, outb;
    for (int r = 0; r < reps; ++r) {
        auto [a, b] = run(true);
        in1.push_back(a);
        out1.push_back(b);
        auto [c, e] = run(false);
        inb.push_back(c);
        outb.push_back(e);
    }
    std::printf("DataPlane: %zu Child SAs, median of %d (install includes the SA objects):\n", n,
                reps);
    row("install, flush after each SA", n, median(in1));
    row("install, one flush for all", n, median(inb));
    row("remove, flush after each SA", n, median(out1));
    row("remove, one flush for all", n, median(outb));
    return 0;
}
