#!/usr/bin/env bash
# Every benchmark of issue 8 in one run: ikecluster and strongSwan 5.9.8 on
# the same machine, one after the other, each part printing its figures and
# the ratios; a summary of the headline ratios at the end.
#
#   1. handshakes and memory   bench/handshake-vs-charon.sh   (ikeclusterd vs charon)
#   2. failover at scale       bench/failover-at-scale.sh     (hot standby vs keepalived + charon)
#   3. tunnel throughput       bench/tunnel-throughput.sh     (ours vs kernel-libipsec)
#   4. the cluster itself      build/bench/cluster_bench      (takeover CPU, sync bytes per event,
#                                                              replication rate; no strongSwan
#                                                              counterpart: its HA plugin cannot
#                                                              run on current kernels)
#
#   bench/compare-strongswan.sh [BUILD_DIR]      (default build/release; builds what is missing)
#   env: HS_COUNT (10000) HS_MEM ("100000") FO_COUNTS ("1 1000 10000") TPUT_SECONDS (10)
#        PARTS ("handshake failover throughput cluster"), LOGDIR (where each part's output goes)
# Needs root (network namespaces) and about 15 minutes on 2 cores.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build/release}
parts=${PARTS:-handshake failover throughput cluster}
logdir=${LOGDIR:-$(mktemp -d /tmp/ikec-bench.XXXXXX)}
mkdir -p "$logdir"

if [ ! -x "$build/apps/ikeclusterd/ikeclusterd" ] || [ ! -x "$build/bench/cluster_bench" ]; then
    "$root/scripts/install-deps" || exit 1
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
fi
ninja -C "$build" ikeclusterd ikeclusterctl ikecluster-load crypto_bench handshake_bench \
    cluster_bench >/dev/null || exit 1

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
     "load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null)"
rc=0
part() {  # NAME COMMAND...
    local name=$1
    shift
    echo
    echo "==== $name ($(date -u +%H:%M:%S) UTC)"
    "$@" 2>&1 | tee "$logdir/$name.log"
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "$name: failed (rc ${PIPESTATUS[0]})"; rc=1; }
}
for p in $parts; do
    case $p in
    handshake) part handshake "$here/handshake-vs-charon.sh" "$build" "${HS_COUNT:-10000}" "${HS_MEM-100000}" ;;
    failover) part failover env KEEP_OUT="$logdir/failover-out" "$here/failover-at-scale.sh" "$build" ${FO_COUNTS:-1 1000 10000} ;;
    throughput) part throughput "$here/tunnel-throughput.sh" "$build" "${TPUT_SECONDS:-10}" ;;
    cluster) part cluster "$build/bench/cluster_bench" 3 ;;
    *) echo "unknown part $p"; rc=1 ;;
    esac
done

echo
echo "==== summary (full output in $logdir)"
[ -f "$logdir/handshake.log" ] && grep -E "ratio ikeclusterd|bytes/SA|crypto-only" "$logdir/handshake.log"
[ -f "$logdir/failover.log" ] && grep -E "^  (ikecluster hot standby|keepalived)" "$logdir/failover.log"
[ -f "$logdir/throughput.log" ] && grep -E "Mbit/s|warning" "$logdir/throughput.log" | tail -4
[ -f "$logdir/cluster.log" ] && sed -n '/^Summary/,$p' "$logdir/cluster.log"
exit $rc
