// Cluster sync link throughput, single core: 600-octet records through a
// pair of SyncLinks in process (pack + seal on one side, open + deliver +
// ACK on the other, ACK processing back on the first), in batches of 256
// records per iteration with no loss. The replication layer needs 20,000
// records/s (a bulk snapshot of a large SA table); "x_20k" says how far
// above that this is.
//
// Run: build/release/bench/sync_bench
#include <benchmark/benchmark.h>

#include "cluster/sync_link.h"

using namespace ikecluster;
using namespace ikecluster::cluster;

namespace {

SyncLinkConfig config(std::uint16_t self, std::uint16_t peer) {
    SyncLinkConfig c;
    c.self = self;
    c.peer = peer;
    c.keys = {ClusterKey{1, Bytes(32, 0x5a)}};
    return c;
}

void records(benchmark::State& state) {
    const std::size_t size = static_cast<std::size_t>(state.range(0));
    constexpr int kBatch = 256;
    crypto::DeterministicRandom ra(1), rb(2);
    Time now = Time::from_ms(1000);
    auto a = std::move(SyncLink::create(config(1, 2), ra, now).value());
    auto b = std::move(SyncLink::create(config(2, 1), rb, now).value());
    a.on_timer(now);
    for (int i = 0; i < 8; ++i) {
        for (const Bytes& d : a.take_datagrams())
            b.receive(now, d);
        for (const Bytes& d : b.take_datagrams())
            a.receive(now, d);
    }
    if (!a.established() || !b.established()) return state.SkipWithError("no handshake");
    const Bytes record(size, 0x77);
    std::uint64_t delivered = 0;
    for (auto _ : state) {
        for (int i = 0; i < kBatch; ++i)
            (void)a.send(record);
        a.flush(now);
        // Until everything is acknowledged: virtual time moves past the ACK
        // delay each round so that b's last ACK of the batch goes out, and
        // ACKs open the window for the rest of a batch that did not fit.
        for (;;) {
            auto da = a.take_datagrams();
            for (const Bytes& d : da)
                b.receive(now, d);
            now = now + std::chrono::milliseconds(6);
            b.on_timer(now);
            auto db = b.take_datagrams();
            for (const Bytes& d : db)
                a.receive(now, d);
            if (da.empty() && db.empty()) break;
        }
        delivered += b.take_delivered().size();
    }
    if (a.queued() != 0 || delivered != std::uint64_t(state.iterations()) * kBatch)
        return state.SkipWithError("records lost or unacknowledged");
    const double n = static_cast<double>(delivered);
    const auto& sa = a.stats();
    const auto& sb = b.stats();
    state.counters["records/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
    state.counters["x_20k"] = benchmark::Counter(n / 20000.0, benchmark::Counter::kIsRate);
    state.counters["dgrams/rec"] = static_cast<double>(sa.datagrams_out + sb.datagrams_out) / n;
    state.counters["bytes/rec"] = static_cast<double>(sa.bytes_out + sb.bytes_out) / n;
}

BENCHMARK(records)->Arg(600)->Arg(100)->Arg(8000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
