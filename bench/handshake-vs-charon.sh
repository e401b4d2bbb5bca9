#!/usr/bin/env bash
# IKE handshake rate and memory per SA: ikeclusterd against strongSwan 5.9.8
# (charon, kernel-libipsec), same machine, same run, same load generator
# (ikecluster-load) in a second network namespace.
#
# Both responders: aes128gcm16-prfsha256-x25519, ESP aes128gcm16, PSK, any
# remote identity; each SA has its own identity (client%d@load.example) and
# inner address (198.18.0.0/15, RFC 2544), so each keeps its Child SA.
# Cookies and per-peer half-open limits are lifted on both (all SAs come
# from one address); logging is off on both.
#
#   1. handshake rate: COUNT SAs against each responder, SAs/s and the ratio,
#      and the ratio to the crypto-only ceiling (crypto_bench) and the
#      in-process engine rate (handshake_bench);
#   2. memory: VmRSS of the responder before and after MEM SAs, divided by
#      the SAs it holds, for each MEM in MEM_COUNTS (COUNT's run counts too).
#
#   bench/handshake-vs-charon.sh [BUILD_DIR] [COUNT] [MEM_COUNTS]
#     defaults: build/release 10000 "100000"; e.g. a quick run: build/release 1000 ""
#   env: REPEAT (1) rate runs per responder, alternating; the median is shown,
#        CONCURRENCY (100), PORTS (64 source port pairs), CHARON_MEM=0 skips
#        charon at MEM_COUNTS, MEM_TIMEOUT (600 s per memory run)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(cd "${1:-$root/build/release}" && pwd)
count=${2:-10000}
mem_counts=${3-100000}
conc=${CONCURRENCY:-100}
ports=${PORTS:-64}
IKECD=$build/apps/ikeclusterd/ikeclusterd
LOADGEN=$build/apps/ikecluster-load/ikecluster-load
for b in "$IKECD" "$LOADGEN" "$build/bench/crypto_bench" "$build/bench/handshake_bench"; do
    [ -x "$b" ] || { echo "no $b: build the Release tree (ninja -C $build ikeclusterd ikecluster-load crypto_bench handshake_bench)"; exit 1; }
done
command -v jq >/dev/null || { echo "needs jq"; exit 1; }

. "$root/tests/interop/lib.sh"
lab_init hsk
lab_ns gw ld
lab_link gw ld 198.51.100.1/24 198.51.100.2/24
PSK="bench-psk-$$-not-secret"
GW=198.51.100.1

ikec_conf() {  # DIR
    mkdir -p "$1"
    cat >"$1/ikecluster.toml" <<CONF
[daemon]
listen = ["$GW"]
control_socket = "$1/ctl.sock"
[log]
level = "warn"
[ike]
cookie_threshold = 10000000
half_open_limit = 10000000
half_open_per_peer = 10000000
[connections.rw]
local_addrs = "$GW"
remote_addrs = "%any"
local_id = "gw.load.example"
remote_id = "%any"
psk = "$PSK"
proposals = "aes128gcm16-prfsha256-x25519"
dpd_delay = 0
[connections.rw.children.net]
local_ts = "203.0.113.0/24"
remote_ts = "198.18.0.0/15"
esp_proposals = "aes128gcm16"
CONF
}
swan_conf() {  # NAME
    CHARON_LOG="default = -1" charon_conf "$1" "
  dos_protection = no
  cookie_threshold = 10000000
  cookie_threshold_ip = 10000000
  init_limit_half_open = 0
  half_open_timeout = 60
  threads = 16"
    # charon_conf sizes the IKE SA table for a handful of SAs: 1024 buckets
    # of linked lists would be scanned on every message at 100,000 SAs.
    sed -i -e 's/ikesa_table_size = 1024/ikesa_table_size = 65536/' \
        -e 's/ikesa_table_segments = 16/ikesa_table_segments = 64/' \
        -e 's/block_threshold = 100000/block_threshold = 10000000/' \
        -e 's/default = 1$/default = -1/' "$LAB/$1/strongswan.conf"
    cat >"$LAB/$1/swanctl/swanctl.conf" <<CONF
connections {
  rw {
    version = 2
    local_addrs = $GW
    proposals = aes128gcm16-prfsha256-x25519
    local { auth = psk
            id = gw.load.example }
    remote { auth = psk
             id = %any }
    children {
      net {
        local_ts = 203.0.113.0/24
        remote_ts = 198.18.0.0/15
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets { ike-any { secret = "$PSK" } }
CONF
}
# UDP datagrams the kernel dropped in the responder's namespace for want of
# socket buffer space (a responder that falls behind loses handshakes there)
udp_drops() { ip netns exec "$NS_gw" awk '/^Udp:/ { if (++n == 2) print $6 }' /proc/net/snmp; }
# CPU seconds (user + system, all threads) the responder has used so far
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
thread_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "$1/stat"; }
# CPU seconds of the responder's busiest thread: one IKE thread (ours) is
# bound by this one, however many cores are free
cpu_top() {
    local t best=0 v
    for t in /proc/$1/task/*; do
        v=$(thread_cpu "$t" 2>/dev/null || echo 0)
        v=$(awk -v a="$v" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
        best=$v
    done
    echo "$best"
}
rss() { awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$1/status"; }
stop_all() {
    local entry
    for entry in "${LAB_PIDS[@]}"; do lab_stop_pid "${entry%%:*}" "${entry##*:}"; done
    LAB_PIDS=()
    sleep 0.5
}

# start_responder ours|charon -> RESP_PID
start_responder() {
    case $1 in
    ours)
        ikec_conf "$LAB/ikec"
        ikecd_start "$NS_gw" "$LAB/ikec"
        RESP_PID=$IKECD_PID ;;
    charon)
        rm -rf "$LAB/swan"
        swan_conf swan
        charon_start swan "$NS_gw"
        sw swan --load-all --file "$LAB/swan/swanctl/swanctl.conf" >/dev/null 2>&1 ||
            die "swanctl --load-all"
        # charon_start tracked the PID it started; that is the charon process.
        RESP_PID=${LAB_PIDS[-1]##*:} ;;
    esac
    sleep 1
}
# held SAs as the responder reports them
held() {
    case $1 in
    ours) ip netns exec "$NS_gw" "$build/apps/ikeclusterctl/ikeclusterctl" --socket "$LAB/ikec/ctl.sock" \
        stats --json 2>/dev/null | jq -r '.ike_sas // 0' ;;
    charon) sw swan --stats 2>/dev/null | awk '/^IKE_SAs:/ { print $2 }' ;;
    esac
}

# run WHO N TIMEOUT -> one line of JSON: generator report + rss_before/after + held
run() {
    local who=$1 n=$2 tmo=$3 before after out h d0 d1 c0 c1 t0 t1
    start_responder "$who"
    before=$(rss "$RESP_PID")
    d0=$(udp_drops)
    c0=$(cpu "$RESP_PID")
    t0=$(cpu_top "$RESP_PID")
    out=$(timeout "$tmo" ip netns exec "$NS_ld" "$LOADGEN" --server "$GW" --psk "$PSK" \
        --count "$n" --concurrency "$conc" --ports "$ports" --json --quiet)
    sleep 2
    after=$(rss "$RESP_PID")
    h=$(held "$who")
    d1=$(udp_drops)
    c1=$(cpu "$RESP_PID")
    t1=$(cpu_top "$RESP_PID")
    # How long the responder takes to exit on SIGTERM with every SA up
    # (lab_stop_pid sends SIGKILL after 5 s: a figure of 5 means it did).
    local s0 s1
    s0=$(date +%s.%N)
    stop_all
    s1=$(date +%s.%N)
    [ -n "$out" ] || out='{"established": 0, "sas_per_s": 0, "failed": -1}'
    echo "$out" | jq -c --arg who "$who" --argjson n "$n" --argjson b "${before:-0}" \
        --argjson a "${after:-0}" --argjson h "${h:-0}" \
        --argjson rcpu "$(awk -v a="${c0:-0}" -v b="${c1:-0}" 'BEGIN { print b - a }')" \
        --argjson tcpu "$(awk -v a="${t0:-0}" -v b="${t1:-0}" 'BEGIN { print b - a }')" \
        --argjson drops "$(( ${d1:-0} - ${d0:-0} ))" \
        --argjson stop "$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a - 0.5 }')" \
        '. + {who: $who, stop_s: $stop, n: $n, rss_before: $b, rss_after: $a, held: $h, responder_udp_drops: $drops, responder_cpu_s: $rcpu, responder_busiest_thread_cpu_s: $tcpu,
              responder_cpu_us_per_sa: (if .established > 0 then ($rcpu * 1e6 / .established | round) else 0 end),
              bytes_per_sa: (if $h > 0 then (($a - $b) / $h | floor) else 0 end)}'
}

log "crypto ceiling and in-process engine rate"
crypto_ns=$("$build/bench/crypto_bench" --benchmark_filter='BM_HandshakeCryptoOneSide$' \
    --benchmark_format=json 2>/dev/null | jq '.benchmarks[0].real_time')
engine_us=$("$build/bench/handshake_bench" --benchmark_filter=BM_EngineHandshake \
    --benchmark_format=json 2>/dev/null | jq '.benchmarks[0].real_time')

results=()
for rep in $(seq "${REPEAT:-1}"); do  # alternating, so drifting background load hits both
    log "handshake rate: ikeclusterd, $count SAs (run $rep)"
    results+=("$(run ours "$count" 600)")
    log "handshake rate: charon, $count SAs (run $rep)"
    results+=("$(run charon "$count" 900)")
done
for m in $mem_counts; do
    log "memory: ikeclusterd, $m SAs"
    results+=("$(run ours "$m" "${MEM_TIMEOUT:-600}")")
    if [ "${CHARON_MEM:-1}" = 1 ]; then
        log "memory: charon, $m SAs"
        results+=("$(run charon "$m" "${MEM_TIMEOUT:-600}")")
    fi
done

printf '%s\n' "${results[@]}" >"$LAB/results.jsonl"
echo
echo "raw results (one JSON object per run):"
cat "$LAB/results.jsonl"
echo
echo "IKE SA + 1 Child SA, aes128gcm16-prfsha256-x25519 / ESP aes128gcm16, PSK, $(nproc) cores"
echo "generator: concurrency $conc, $ports source port pairs, one address"
jq -rs --argjson cns "$crypto_ns" --argjson eus "$engine_us" --argjson n "$count" '
  # the run with the median rate (of REPEAT runs) stands for each responder
  def r(w): map(select(.who == w and .n == $n)) | sort_by(.sas_per_s) | .[length / 2 | floor];
  def f(x): (x * 10 | round) / 10;
  (r("ours")) as $o | (r("charon")) as $c |
  (1e9 / $cns) as $ceil | (2e6 / $eus) as $eng |
  "handshakes, \($n) SAs (median of \(map(select(.who == "ours" and .n == $n)) | length) runs; all rates: ikeclusterd \(map(select(.who == "ours" and .n == $n) | .sas_per_s)), charon \(map(select(.who == "charon" and .n == $n) | .sas_per_s)))",
  "  ikeclusterd: \(f($o.sas_per_s)) SAs/s (\($o.established) up, \($o.failed) failed), latency p50/p90/p99/max \($o.latency_ms.p50)/\($o.latency_ms.p90)/\($o.latency_ms.p99)/\($o.latency_ms.max) ms, generator CPU \(f($o.cpu_share * 100)) % of a core, \($o.retransmits) retransmits, \($o.responder_udp_drops) UDP drops at the responder; responder CPU \($o.responder_cpu_s) s = \($o.responder_cpu_us_per_sa) us/SA (busiest thread \($o.responder_busiest_thread_cpu_s) s)",
  "  charon     : \(f($c.sas_per_s)) SAs/s (\($c.established) up, \($c.failed) failed), latency p50/p90/p99/max \($c.latency_ms.p50)/\($c.latency_ms.p90)/\($c.latency_ms.p99)/\($c.latency_ms.max) ms, generator CPU \(f($c.cpu_share * 100)) % of a core, \($c.retransmits) retransmits, \($c.responder_udp_drops) UDP drops at the responder; responder CPU \($c.responder_cpu_s) s = \($c.responder_cpu_us_per_sa) us/SA (busiest thread \($c.responder_busiest_thread_cpu_s) s)",
  "  ratio ikeclusterd / charon: \(if $c.sas_per_s > 0 then (($o.sas_per_s / $c.sas_per_s * 100 | round) / 100) else "n/a" end) x (target >= 1.5)",
  "  crypto-only ceiling (BM_HandshakeCryptoOneSide, one core): \(f($ceil)) /s; ikeclusterd reaches \((($o.sas_per_s / $ceil) * 100 | round) / 100) of it",
  "  in-process engine, responder half (2 / BM_EngineHandshake): \(f($eng)) /s; ikeclusterd reaches \((($o.sas_per_s / $eng) * 100 | round) / 100) of it",
  "memory, VmRSS after - before, per SA held:",
  (.[] | "  \(.who | if . == "ours" then "ikeclusterd" else "charon     " end) \(.n) SAs: \(.held) held, \(.rss_before) -> \(.rss_after) bytes = \(.bytes_per_sa) bytes/SA; exit after SIGTERM \(.stop_s) s\(if .stop_s >= 4.9 then " (killed at 5 s)" else "" end)")
' "$LAB/results.jsonl"
