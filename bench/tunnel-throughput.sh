#!/usr/bin/env bash
# Single-stream iperf3 TCP throughput through a tunnel between two network
# namespaces, same machine, same run:
#
#   1. strongSwan 5.9.8 <-> strongSwan 5.9.8, kernel-libipsec (userspace ESP)
#   2. ikeclusterd      <-> ikeclusterd, userspace ESP data plane
#   3. ikeclusterd      <-> strongSwan (what a strongSwan client sees)
#
# All ESP-in-UDP with AES-256-GCM (kernel-libipsec always encapsulates, so
# ours does too for a fair comparison). Prints Mbit/s and the ratio to case 1.
#
#   bench/tunnel-throughput.sh [BUILD_DIR] [SECONDS]   (defaults build/release, 10)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build/release}
secs=${2:-10}
IKECD=$build/apps/ikeclusterd/ikeclusterd
IKECTL=$build/apps/ikeclusterctl/ikeclusterctl
[ -x "$IKECD" ] || { echo "no $IKECD: build the Release tree first (scripts/demo or scripts/test)"; exit 1; }

. "$root/tests/interop/lib.sh"
lab_init tput
lab_ns a b
lab_link a b 198.51.100.2/24 198.51.100.1/24
ip -n "$NS_a" addr add 192.0.2.1/32 dev lo
ip -n "$NS_b" addr add 203.0.113.1/32 dev lo
PSK="bench-psk-$$-not-secret"

swan() {  # NAME LOCAL REMOTE LID RID LTS RTS
    charon_conf "$1"
    cat >"$LAB/$1/swanctl/swanctl.conf" <<CONF
connections {
  c {
    version = 2
    local_addrs = $2
    remote_addrs = $3
    encap = yes
    proposals = aes256gcm16-prfsha256-x25519
    local { auth = psk
            id = $4 }
    remote { auth = psk
             id = $5 }
    children {
      net {
        local_ts = $6
        remote_ts = $7
        esp_proposals = aes256gcm16
      }
    }
  }
}
secrets { ike { id-a = $4
                id-b = $5
                secret = "$PSK" } }
CONF
}
ikec() {  # DIR LOCAL REMOTE LID RID LTS RTS
    mkdir -p "$1"
    cat >"$1/ikecluster.toml" <<CONF
[daemon]
listen = ["$2"]
control_socket = "$1/ctl.sock"
[log]
level = "warn"
[connections.c]
local_addrs = "$2"
remote_addrs = "$3"
local_id = "$4"
remote_id = "$5"
psk = "$PSK"
proposals = "aes256gcm16-prfsha256-x25519"
encap = true
[connections.c.children.net]
local_ts = "$6"
remote_ts = "$7"
esp_proposals = "aes256gcm16"
CONF
}
start_ikec() {  # NS DIR
    ip netns exec "$1" "$IKECD" --config "$2/ikecluster.toml" --foreground >"$2/log" 2>&1 </dev/null &
    lab_track "$IKECD" "$!"
    for i in $(seq 50); do [ -S "$2/ctl.sock" ] && return 0; sleep 0.1; done
    die "ikeclusterd did not start"
}
stop_all() {
    local entry
    for entry in "${LAB_PIDS[@]}"; do lab_stop_pid "${entry%%:*}" "${entry##*:}"; done
    LAB_PIDS=()
    sleep 0.5
}
measure() {  # label -> prints Mbit/s
    # Bounded: a server whose client never connected (tunnel down) must not
    # hang the benchmark.
    ip netns exec "$NS_b" timeout $((secs + 30)) iperf3 -s -1 -B 203.0.113.1 >/dev/null 2>&1 &
    local srv=$!
    sleep 0.5
    local bps
    bps=$(ip netns exec "$NS_a" iperf3 -c 203.0.113.1 -B 192.0.2.1 -t "$secs" -J 2>/dev/null |
        jq -r '.end.sum_received.bits_per_second // 0')
    wait "$srv" 2>/dev/null
    awk -v b="$bps" 'BEGIN { printf "%.0f", b / 1e6 }'
}
ping_ok() { ip netns exec "$NS_a" ping -c 2 -W 2 -I 192.0.2.1 203.0.113.1 >/dev/null 2>&1; }

# 1. strongSwan <-> strongSwan
swan sa 198.51.100.2 198.51.100.1 a.bench b.bench 192.0.2.0/24 203.0.113.0/24
swan sb 198.51.100.1 198.51.100.2 b.bench a.bench 203.0.113.0/24 192.0.2.0/24
charon_start sa "$NS_a"
charon_start sb "$NS_b"
sw sa --load-all --file "$LAB/sa/swanctl/swanctl.conf" >/dev/null 2>&1
sw sb --load-all --file "$LAB/sb/swanctl/swanctl.conf" >/dev/null 2>&1
sw sa --initiate --child net --timeout 20 >/dev/null 2>&1
ping_ok || echo "warning: no ping through the strongSwan tunnel"
swan_mbps=$(measure)
stop_all

# 2. ikeclusterd <-> ikeclusterd
ikec "$LAB/ia" 198.51.100.2 198.51.100.1 a.bench b.bench 192.0.2.0/24 203.0.113.0/24
ikec "$LAB/ib" 198.51.100.1 198.51.100.2 b.bench a.bench 203.0.113.0/24 192.0.2.0/24
start_ikec "$NS_a" "$LAB/ia"
start_ikec "$NS_b" "$LAB/ib"
ip netns exec "$NS_a" "$IKECTL" --socket "$LAB/ia/ctl.sock" initiate c >/dev/null
sleep 1
ping_ok || echo "warning: no ping through the ikeclusterd tunnel"
ours_mbps=$(measure)
stop_all

# 3. strongSwan (a) <-> ikeclusterd (b)
rm -rf "$LAB/sa/run"/*
charon_start sa "$NS_a"
sw sa --load-all --file "$LAB/sa/swanctl/swanctl.conf" >/dev/null 2>&1
start_ikec "$NS_b" "$LAB/ib"
sw sa --initiate --child net --timeout 20 >/dev/null 2>&1
if ! ping_ok; then
    # Seen once (2026-12-04, right after the failover benchmark), not reproduced
    # since: leave what is needed to tell why.
    echo "warning: no ping through the mixed tunnel; the last lines of both logs:"
    tail -15 "$LAB/ib/log" "$LAB/sa/charon.log" "$LAB/sa/stdout" 2>/dev/null | sed 's/^/    /'
    sw sa --list-sas 2>&1 | sed 's/^/    /' | head -20
fi
mixed_mbps=$(measure)
stop_all

echo "single-stream iperf3 TCP, ${secs} s, AES-256-GCM ESP-in-UDP, $(nproc) cores"
awk -v s="$swan_mbps" -v o="$ours_mbps" -v m="$mixed_mbps" 'BEGIN {
    printf "  strongSwan  <-> strongSwan  (kernel-libipsec): %6d Mbit/s\n", s
    printf "  ikeclusterd <-> ikeclusterd                  : %6d Mbit/s  = %.2f x strongSwan\n", o, (s > 0 ? o / s : 0)
    printf "  strongSwan  <-> ikeclusterd                  : %6d Mbit/s  = %.2f x strongSwan\n", m, (s > 0 ? m / s : 0)
}'
