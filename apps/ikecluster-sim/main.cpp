// ikecluster-sim: seeded runs of the cluster simulator (src/shell/sim).
//
//   ikecluster-sim --seeds 1000            seeds 1..1000, print failures
//   ikecluster-sim --replay 1038 --members 3
//                                          one seed with its timeline
//
// Each run puts M members and P peers on virtual time with faults (crashes
// of the active member, sync-network partitions, lossy links) and checks the
// invariants listed in sim/cluster_sim.h. A failing seed is printed with
// the command that replays it. Exit 0 when every seed held.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "sim/cluster_sim.h"

int main(int argc, char** argv) {
    using namespace ikecluster;
    CLI::App app{"Seeded fault-injection runs of an ikecluster hot-standby cluster"};
    sim::SimConfig cfg;
    std::uint64_t first = 1, seeds = 100;
    std::int64_t replay = -1;
    double seconds = 90;
    std::int64_t partition_ms = 3000, restart_ms = 8000;
    app.add_option("--first", first, "first seed");
    app.add_option("--seeds", seeds, "how many seeds to run");
    app.add_option("--replay", replay, "run one seed and print its timeline");
    app.add_option("--members", cfg.members, "cluster members")->check(CLI::Range(1, 16));
    app.add_option("--peers", cfg.peers, "peers (IKE clients)")->check(CLI::Range(1, 60000));
    app.add_option("--duration", seconds, "simulated seconds per run");
    app.add_option("--crashes", cfg.crashes, "crashes of the active member per run");
    app.add_option("--restart-ms", restart_ms, "a crashed member restarts after this");
    app.add_option("--partitions", cfg.partitions, "sync-network partitions per run");
    app.add_option("--partition-ms", partition_ms, "length of each partition");
    app.add_option("--sync-loss", cfg.sync_loss, "loss on the sync network (0..1)");
    app.add_option("--sync-dup", cfg.sync_duplicate, "duplication on the sync network");
    app.add_option("--peer-loss", cfg.peer_loss, "loss between peers and the cluster");
    app.add_flag("--withhold-msgids", cfg.withhold_msgids,
                 "the active never replicates message-ID updates (missing sync)");
    std::string peer_sync = "always";
    app.add_option("--peer-sync", peer_sync, "RFC 6311 after a takeover: always|suspected|never")
        ->check(CLI::IsMember({"always", "suspected", "never"}));
    std::int64_t jump_ms = 3000;
    app.add_option("--sync-reorder", cfg.sync_reorder, "sync datagrams held back 1-20 ms (0..1)");
    app.add_option("--sync-corrupt", cfg.sync_corrupt, "sync datagrams with a bit flipped (0..1)");
    app.add_option("--clock-jumps", cfg.clock_jumps, "forward jumps of a member's clock per run");
    app.add_option("--max-jump-ms", jump_ms, "largest clock jump");
    app.add_option("--storms", cfg.storms, "peer retransmission storms per run");
    app.add_option("--storm-copies", cfg.storm_copies, "copies each peer resends in a storm");
    app.add_option("--floods", cfg.floods, "half-open IKE_SA_INIT floods per run");
    app.add_option("--flood-size", cfg.flood_size, "spoofed IKE_SA_INIT requests per flood");
    CLI11_PARSE(app, argc, argv);
    cfg.peer_sync = peer_sync == "always"      ? sim::SimConfig::PeerSync::ALWAYS
                    : peer_sync == "suspected" ? sim::SimConfig::PeerSync::SUSPECTED
                                               : sim::SimConfig::PeerSync::NEVER;
    cfg.duration = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
    cfg.partition_length = std::chrono::milliseconds(partition_ms);
    cfg.restart_after = std::chrono::milliseconds(restart_ms);
    cfg.max_clock_jump = std::chrono::milliseconds(jump_ms);
    // The options of this run, for the replay line of a failing seed.
    std::string options;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--seeds" || a == "--first" || a == "--replay") {
            ++i;
            continue;
        }
        options += " " + a;
    }
    if (replay >= 0) {
        first = std::uint64_t(replay);
        seeds = 1;
        cfg.timeline = true;
    }

    std::uint64_t failed = 0, takeovers = 0, handshakes = 0, disruptions = 0, retries = 0,
                  syncs = 0;
    std::uint64_t corrupted = 0, flood = 0;
    std::size_t max_half_open = 0;
    std::int64_t worst_gap = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t s = first; s < first + seeds; ++s) {
        cfg.seed = s;
        sim::SimResult r = sim::run_cluster_sim(cfg);
        takeovers += r.takeovers;
        handshakes += r.peer_handshakes;
        disruptions += r.peer_disruptions;
        retries += r.handshake_retries;
        syncs += r.peer_syncs;
        if (r.max_gap_ms > worst_gap) worst_gap = r.max_gap_ms;
        corrupted += r.sync_corrupted;
        flood += r.flood_datagrams;
        if (r.max_half_open > max_half_open) max_half_open = r.max_half_open;
        for (const auto& line : r.timeline)
            std::printf("%s\n", line.c_str());
        if (!r.ok()) {
            ++failed;
            for (const auto& v : r.violations)
                std::printf("VIOLATION %s\n", v.c_str());
            std::printf("replay: %s --replay %llu%s\n", argv[0], static_cast<unsigned long long>(s),
                        options.c_str());
        }
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "%llu seed(s), %llu failed; %llu takeovers, %llu peer handshakes (%llu retried "
        "after a failover cut them), %llu peer disruptions (split brain only), longest "
        "ESP gap %lld ms; %llu RFC 6311 syncs answered by peers; %.1f s\n",
        static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(failed),
        static_cast<unsigned long long>(takeovers), static_cast<unsigned long long>(handshakes),
        static_cast<unsigned long long>(retries), static_cast<unsigned long long>(disruptions),
        static_cast<long long>(worst_gap), static_cast<unsigned long long>(syncs), wall);
    if (corrupted > 0 || flood > 0)
        std::printf(
            "%llu corrupted sync datagrams; %llu flood IKE_SA_INITs, at most %zu half-open\n",
            static_cast<unsigned long long>(corrupted), static_cast<unsigned long long>(flood),
            max_half_open);
    return failed == 0 ? 0 : 1;
}
