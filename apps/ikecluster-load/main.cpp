// ikecluster-load: opens N IKE SAs (one Child SA each) against any IKEv2
// responder and reports how fast they came up.
//
//   ikecluster-load --server 198.51.100.1 --psk secret --count 10000
//                   --concurrency 200 [--rate 2000] [--json] [--hold 60]
//
// Failover runs (bench/failover-at-scale.sh): --probe-interval MS sends every
// tunnel an ICMP echo through its Child SA once per interval; SIGUSR1 marks
// the failover; --timeline FILE writes the per-bucket CSV at the end, and a
// second JSON line reports the recovery. --ready-file is created once every
// tunnel answers; --settle ends the run that long after every tunnel is back.
// --sweep-rate R probes the tunnels not back yet R times per second in
// total once the gateway answers again, so "every tunnel back" is known to
// much better than one probe interval.
//
// The IKEv2 logic is generator.h over the sans-IO engine; this file is the
// shell: UDP sockets (two per source port pair), one epoll loop, the steady
// clock, and the report with the generator's own CPU time (getrusage), so a
// figure limited by the generator is recognisable as such.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/random.h"
#include "generator.h"

namespace {

using namespace ikecluster;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_mark = 0;
void on_signal(int) {
    g_stop = 1;
}
void on_mark(int) {
    g_mark = 1;
}

Time now() {
    return Time{std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch())};
}

socklen_t to_sockaddr(const Endpoint& ep, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    BytesView b = ep.addr.bytes();
    if (ep.addr.is_v4()) {
        auto* s = reinterpret_cast<sockaddr_in*>(&ss);
        s->sin_family = AF_INET;
        s->sin_port = htons(ep.port);
        std::memcpy(&s->sin_addr, b.data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(ep.port);
    std::memcpy(&s->sin6_addr, b.data(), 16);
    return sizeof(sockaddr_in6);
}

Endpoint from_sockaddr(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) {
        auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
        std::array<std::uint8_t, 4> a{};
        std::memcpy(a.data(), &s->sin_addr, 4);
        return Endpoint{IpAddress::v4(a), ntohs(s->sin_port)};
    }
    auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
    std::array<std::uint8_t, 16> a{};
    std::memcpy(a.data(), &s->sin6_addr, 16);
    return Endpoint{IpAddress::v6(a), ntohs(s->sin6_port)};
}

// The address the kernel would send from to reach `server`.
std::optional<IpAddress> route_source(const Endpoint& server) {
    int fd = socket(server.addr.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0) return std::nullopt;
    sockaddr_storage ss;
    socklen_t len = to_sockaddr(server, ss);
    std::optional<IpAddress> out;
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
        len = sizeof ss;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
            out = from_sockaddr(ss).addr;
    }
    close(fd);
    return out;
}

double cpu_seconds(const timeval& t) {
    return double(t.tv_sec) + double(t.tv_usec) / 1e6;
}

struct Shell {
    load::Generator& gen;
    std::vector<int> fds;
    int epfd = -1;
    std::uint64_t send_errors = 0;

    void flush() {
        for (auto& s : gen.take_sends()) {
            sockaddr_storage ss;
            socklen_t len = to_sockaddr(s.to, ss);
            if (sendto(fds[s.socket], s.data.data(), s.data.size(), 0,
                       reinterpret_cast<sockaddr*>(&ss), len) < 0)
                ++send_errors;  // a full socket buffer: the engine retransmits
        }
    }

    // One pass: timers and launches, then whatever arrives within `max_wait`.
    void step(Duration max_wait) {
        Time t = now();
        gen.tick(t);
        flush();
        Time next = gen.next_wakeup();
        Duration wait = next <= t ? Duration{0} : std::min(max_wait, next - t);
        int ms = int(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
        epoll_event evs[64];
        int n = epoll_wait(epfd, evs, 64, ms);
        std::uint8_t buf[65536];
        for (int i = 0; i < n; ++i) {
            const std::size_t sock = evs[i].data.u64;
            for (int k = 0; k < 64; ++k) {
                sockaddr_storage from;
                socklen_t flen = sizeof from;
                ssize_t r = recvfrom(fds[sock], buf, sizeof buf, 0,
                                     reinterpret_cast<sockaddr*>(&from), &flen);
                if (r < 0) break;
                gen.receive(now(), sock, from_sockaddr(from), BytesView(buf, std::size_t(r)));
                flush();
            }
        }
    }
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Opens many IKEv2 SAs against a responder and reports the handshake rate"};
    load::LoadOptions o;
    std::string server, ts_base = "198.18.0.0";
    std::uint16_t port = 500;
    std::vector<std::string> locals;
    double timeout_s = 30, retransmit_s = 2, hold_s = 0;
    bool json = false, quiet = false;
    double probe_ms = 0, liveness_ms = 0, bucket_ms = 50, settle_s = 2;
    std::string probe_target = "203.0.113.1", timeline_path, ready_path;
    app.add_option("--server", server, "the responder's address")->required();
    app.add_option("--port", port, "the responder's IKE port");
    app.add_option("--count,-n", o.count, "IKE SAs to open")->check(CLI::PositiveNumber);
    app.add_option("--rate", o.rate, "new SAs per second (0: as fast as --concurrency allows)");
    app.add_option("--concurrency,-c", o.concurrency, "handshakes in flight at most")
        ->check(CLI::PositiveNumber);
    app.add_option("--ports", o.ports, "source port pairs (one engine each)")
        ->check(CLI::Range(1, 4096));
    app.add_option("--psk", o.psk, "pre-shared key (at least 8 characters)")->required();
    app.add_option("--id-fmt", o.id_fmt, "our identity per SA; %d is the SA's index");
    app.add_option("--local", locals, "local address(es) to send from (comma-separated)")
        ->delimiter(',');
    app.add_option("--proposals", o.ike_proposals, "IKE proposals");
    app.add_option("--esp-proposals", o.esp_proposals, "ESP proposals");
    app.add_option("--ts-base", ts_base, "inner address of SA 0 (SA i gets base + i)");
    app.add_option("--remote-ts", o.remote_ts, "the selectors we ask for on the responder's side");
    app.add_option("--timeout", timeout_s, "seconds after which a handshake counts as failed");
    app.add_option("--retransmit", retransmit_s, "seconds before the first retransmission");
    app.add_option("--tries", o.retransmit_tries, "retransmissions before giving up");
    app.add_option("--hold", hold_s,
                   "keep the SAs up this many seconds after the run (-1: until a signal)");
    app.add_option("--probe-interval", probe_ms,
                   "ms between two probes (ICMP echo through ESP) on each tunnel; 0: none");
    app.add_option("--probe-target", probe_target, "the address behind the gateway probes ping");
    app.add_flag("--reconnect", o.reconnect,
                 "start a new IKE SA for a tunnel whose SA died (needs probes)");
    app.add_option("--liveness", liveness_ms,
                   "with --reconnect: ms without a reply after which a tunnel reconnects");
    app.add_option("--sweep-rate", o.sweep_rate,
                   "after the failover mark, once the first tunnel answers: extra probes/s "
                   "cycling over the tunnels not back yet (0: off)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--bucket", bucket_ms, "timeline bucket in ms");
    app.add_option("--timeline", timeline_path, "write the probe timeline (CSV) here at the end");
    app.add_option("--ready-file", ready_path, "create this file once every tunnel answers probes");
    app.add_option("--settle", settle_s,
                   "after SIGUSR1 (the failover mark): stop this many seconds after every "
                   "tunnel is back");
    app.add_flag("--json", json, "print the report as one JSON object");
    app.add_flag("--quiet,-q", quiet, "no progress lines on stderr");
    CLI11_PARSE(app, argc, argv);

    auto srv = IpAddress::parse(server);
    auto base = IpAddress::parse(ts_base);
    if (!srv || !base) {
        std::fprintf(stderr, "bad address: %s\n", srv ? ts_base.c_str() : server.c_str());
        return 2;
    }
    o.server = Endpoint{*srv, port};
    o.ts_base = *base;
    for (const auto& l : locals) {
        auto a = IpAddress::parse(l);
        if (!a) {
            std::fprintf(stderr, "bad local address: %s\n", l.c_str());
            return 2;
        }
        o.locals.push_back(*a);
    }
    if (o.locals.empty()) {
        auto a = route_source(o.server);
        if (!a) {
            std::fprintf(stderr, "no route to %s\n", server.c_str());
            return 2;
        }
        o.locals.push_back(*a);
    }
    o.timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(timeout_s));
    o.retransmit_timeout =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(retransmit_s));

    auto ms = [](double v) {
        return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(v));
    };
    o.probe_interval = ms(probe_ms);
    o.liveness = ms(liveness_ms);
    o.bucket = ms(bucket_ms);
    if (auto t = IpAddress::parse(probe_target)) {
        o.probe_target = *t;
    } else {
        std::fprintf(stderr, "bad probe target: %s\n", probe_target.c_str());
        return 2;
    }

    crypto::SystemRandom rng;
    auto gen = load::Generator::create(o, rng);
    if (!gen) {
        std::fprintf(stderr, "ikecluster-load: %s\n", gen.error().what.c_str());
        return 2;
    }
    Shell sh{**gen, {}, epoll_create1(EPOLL_CLOEXEC)};
    for (std::size_t s = 0; s < (*gen)->socket_count(); ++s) {
        const IpAddress& a = (*gen)->socket_address(s);
        int fd =
            socket(a.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        // Room for a burst of responses: the generator must not be where
        // datagrams are lost. The FORCE variants pass net.core.rmem_max
        // when we may (root); otherwise the capped size has to do.
        int big = 4 << 20;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        sockaddr_storage ss;
        socklen_t len = to_sockaddr(Endpoint{a, 0}, ss);
        if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
            std::fprintf(stderr, "ikecluster-load: socket on %s: %s\n", a.to_string().c_str(),
                         std::strerror(errno));
            return 1;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = s;
        epoll_ctl(sh.epfd, EPOLL_CTL_ADD, fd, &ev);
        sh.fds.push_back(fd);
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGUSR1, on_mark);

    rusage ru0{};
    getrusage(RUSAGE_SELF, &ru0);
    const auto wall0 = Clock::now();
    auto last_progress = wall0;
    const load::Generator& g = **gen;
    while (!g.done() && !g_stop) {
        sh.step(std::chrono::milliseconds(100));
        if (!quiet && Clock::now() - last_progress >= std::chrono::seconds(1)) {
            last_progress = Clock::now();
            std::fprintf(stderr, "  %zu established, %zu in flight, %zu failed\n",
                         g.stats().established, g.in_flight(), g.stats().failed);
        }
    }
    const double wall = std::chrono::duration<double>(Clock::now() - wall0).count();
    rusage ru1{};
    getrusage(RUSAGE_SELF, &ru1);
    const double user = cpu_seconds(ru1.ru_utime) - cpu_seconds(ru0.ru_utime);
    const double sys = cpu_seconds(ru1.ru_stime) - cpu_seconds(ru0.ru_stime);

    const load::LoadStats& st = g.stats();
    const double span =
        st.established == 0 || st.first_launch == Time::max()
            ? 0
            : std::chrono::duration<double>(st.last_established - st.first_launch).count();
    const double rate = span > 0 ? double(st.established) / span : 0;
    const load::Percentiles p = load::percentiles(st.latency_ms);
    if (json) {
        std::printf(
            "{\"count\": %zu, \"established\": %zu, \"failed\": %zu, \"seconds\": %.3f, "
            "\"sas_per_s\": %.1f, \"latency_ms\": {\"p50\": %.2f, \"p90\": %.2f, "
            "\"p99\": %.2f, \"max\": %.2f}, \"failures\": {",
            o.count, st.established, st.failed, span, rate, p.p50, p.p90, p.p99, p.max);
        bool first = true;
        for (const auto& [why, n] : st.failures) {
            std::printf("%s\"%s\": %zu", first ? "" : ", ", why.c_str(), n);
            first = false;
        }
        std::printf(
            "}, \"cookies\": %zu, \"invalid_ke\": %zu, \"retransmits\": %llu, "
            "\"deleted_afterwards\": %zu, \"datagrams_out\": %llu, \"datagrams_in\": %llu, "
            "\"send_errors\": %llu, \"cpu_user_s\": %.3f, \"cpu_sys_s\": %.3f, "
            "\"wall_s\": %.3f, \"cpu_share\": %.3f}\n",
            st.cookies, st.invalid_ke, (unsigned long long)st.retransmits, st.deleted_afterwards,
            (unsigned long long)st.datagrams_out, (unsigned long long)st.datagrams_in,
            (unsigned long long)sh.send_errors, user, sys, wall,
            wall > 0 ? (user + sys) / wall : 0);
    } else {
        std::printf(
            "%zu IKE SAs against %s:%u, %s / ESP %s, concurrency %zu, rate %s, %zu source "
            "port pairs\n",
            o.count, server.c_str(), unsigned(port), o.ike_proposals.c_str(),
            o.esp_proposals.c_str(), o.concurrency,
            o.rate > 0 ? std::to_string(o.rate).c_str() : "unlimited", std::min(o.ports, o.count));
        std::printf("established %zu in %.3f s = %.1f SAs/s; failed %zu\n", st.established, span,
                    rate, st.failed);
        std::printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p.p50, p.p90, p.p99,
                    p.max);
        for (const auto& [why, n] : st.failures)
            std::printf("  failed: %zu x %s\n", n, why.c_str());
        std::printf(
            "cookies %zu, INVALID_KE %zu, retransmits %llu, deleted afterwards %zu, "
            "send errors %llu\n",
            st.cookies, st.invalid_ke, (unsigned long long)st.retransmits, st.deleted_afterwards,
            (unsigned long long)sh.send_errors);
        std::printf(
            "generator CPU: %.2f s user + %.2f s sys over %.2f s wall = %.0f %% of one "
            "core\n",
            user, sys, wall, wall > 0 ? 100 * (user + sys) / wall : 0);
    }
    std::fflush(stdout);

    // Keep the SAs up (answering the responder's liveness checks) so its
    // memory can be measured; no Delete is ever sent. With probes: mark the
    // failover on SIGUSR1 and end `settle_s` after every tunnel is back.
    if (hold_s != 0 && !g_stop) {
        const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(hold_s));
        const bool probing = o.probe_interval > Duration{0};
        bool ready = false;
        auto last_check = Clock::now();
        auto all_back = Clock::time_point::max();
        while (!g_stop && (hold_s < 0 || Clock::now() < until)) {
            sh.step(probing ? std::chrono::milliseconds(5) : std::chrono::milliseconds(200));
            if (g_mark) {
                g_mark = 0;
                (*gen)->mark(now());
                if (!quiet) std::fprintf(stderr, "failover mark\n");
            }
            if (!ready && !ready_path.empty() && g.all_answering()) {
                ready = true;
                if (FILE* f = std::fopen(ready_path.c_str(), "w")) std::fclose(f);
            }
            if (probing && g.marked() &&
                Clock::now() - last_check >= std::chrono::milliseconds(100)) {
                last_check = Clock::now();
                const load::Recovery r = g.recovery();
                if (!quiet)
                    std::fprintf(stderr, "  %zu of %zu tunnels back, %llu IKE_SA_INIT since\n",
                                 r.recovered, r.tunnels,
                                 (unsigned long long)g.stats().ike_sa_init_after_mark);
                if (r.recovered == r.tunnels && all_back == Clock::time_point::max())
                    all_back = Clock::now();
                if (Clock::now() - all_back >= std::chrono::duration<double>(settle_s)) break;
            }
        }
        if (!quiet)
            std::fprintf(stderr, "held: %zu SAs still up, %zu deleted by the responder\n", g.held(),
                         g.stats().deleted_afterwards);
    }
    if (o.probe_interval > Duration{0}) {
        const load::LoadStats& s2 = g.stats();
        const load::Recovery r = g.recovery();
        const Time zero = g.marked() ? g.mark_time() : g.timeline_origin();
        if (!timeline_path.empty()) {
            if (FILE* f = std::fopen(timeline_path.c_str(), "w")) {
                std::fprintf(f, "t_ms,tunnels_with_reply,replies,probes,ike_sa_init\n");
                const auto& tl = g.timeline();
                for (std::size_t k = 0; k < tl.size(); ++k) {
                    const Time at = g.timeline_origin() + o.bucket * std::int64_t(k);
                    std::fprintf(f, "%.1f,%u,%u,%u,%u\n",
                                 std::chrono::duration<double, std::milli>(at - zero).count(),
                                 tl[k].tunnels, tl[k].replies, tl[k].probes, tl[k].ike_sa_init);
                }
                std::fclose(f);
            }
        }
        std::printf(
            "{\"failover\": {\"marked\": %s, \"tunnels\": %zu, \"recovered\": %zu, "
            "\"all_back_ms\": %.1f, \"all_back_sent_ms\": %.1f, \"all_back_lower_ms\": %.1f, "
            "\"sweep_rate\": %.1f, \"sweep_start_ms\": %.1f, \"sweep_probes\": %llu, "
            "\"back_ms\": {\"p50\": %.1f, "
            "\"p90\": %.1f, \"p99\": %.1f, "
            "\"max\": %.1f}, \"probe_interval_ms\": %.1f, \"probes_after_mark\": %llu, "
            "\"replies_after_mark\": %llu, \"esp_lost\": %lld, \"ike_sa_init_after_mark\": %llu, "
            "\"reconnects\": %llu, \"msgid_syncs\": %llu, \"replay_syncs\": %llu, "
            "\"probes_sent\": %llu, \"replies\": %llu, \"esp_dropped\": %llu, "
            "\"esp_other\": %llu, \"ike_sa_init_sent\": %llu, \"held\": %zu}}\n",
            g.marked() ? "true" : "false", r.tunnels, r.recovered, r.all_back_ms,
            r.all_back_sent_ms, r.all_back_lower_ms, o.sweep_rate, r.sweep_start_ms,
            (unsigned long long)s2.sweep_probes, r.back_ms.p50, r.back_ms.p90, r.back_ms.p99,
            r.back_ms.max, probe_ms, (unsigned long long)s2.probes_after_mark,
            (unsigned long long)s2.replies_after_mark,
            (long long)s2.probes_after_mark - (long long)s2.replies_after_mark,
            (unsigned long long)s2.ike_sa_init_after_mark, (unsigned long long)s2.reconnects,
            (unsigned long long)s2.msgid_syncs, (unsigned long long)s2.replay_syncs,
            (unsigned long long)s2.probes_sent, (unsigned long long)s2.replies,
            (unsigned long long)s2.esp_dropped, (unsigned long long)s2.esp_other,
            (unsigned long long)s2.ike_sa_init_sent, g.held());
        std::fflush(stdout);
    }
    for (int fd : sh.fds)
        close(fd);
    close(sh.epfd);
    // Reconnect mode establishes more SAs than --count, and failed
    // reconnection attempts count as failures.
    return st.failed == 0 && st.established >= o.count ? 0 : 3;
}
