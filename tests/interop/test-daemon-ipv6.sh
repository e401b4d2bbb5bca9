#!/usr/bin/env bash
# Tunnel endpoints on IPv6 (the outer header is IPv6), IPv4 and IPv6 inside:
#
#   part 1: ikeclusterd (ns gw) <-> strongSwan 5.9.8 kernel-libipsec (ns cl)
#           over 2001:db8:64::/64, ESP-in-UDP (kernel-libipsec always
#           encapsulates, also over IPv6), aes256gcm16: ping both inner
#           families and a 50 MB TCP transfer of each, checked byte for byte,
#           with strongSwan initiating and with us initiating; strongSwan's log
#           must show no errors.
#   part 2: ikeclusterd <-> ikeclusterd over IPv6 with raw ESP (next header 50
#           straight after the IPv6 header) and with ESP-in-UDP: ping and a
#           50 MB transfer of each inner family.
#
#   cl/cl2: 192.0.2.1, 2001:db8:c::1 (on lo)   gw: 203.0.113.1, 2001:db8:5::1 (on lo)
#   outer:  2001:db8:64::2 (cl)  <-- veth -->  2001:db8:64::1 (gw)
#           2001:db8:65::2 (cl2) <-- veth -->  2001:db8:65::1 (gw)
#
# Exit: 0 pass, 1 fail, 77 skip. Builds the programs unless IKEC_BUILD is set.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/lib.sh"
ikec_programs "$root" jq nc sha256sum
lab_init daemon-ipv6
lab_ns gw cl
lab_link gw cl 2001:db8:64::1/64 2001:db8:64::2/64
ip -n "$NS_cl" addr add 192.0.2.1/32 dev lo
ip -n "$NS_cl" addr add 2001:db8:c::1/128 dev lo
ip -n "$NS_gw" addr add 203.0.113.1/32 dev lo
ip -n "$NS_gw" addr add 2001:db8:5::1/128 dev lo
GW=2001:db8:64::1 CL=2001:db8:64::2
PSK="lab-psk-not-a-secret-$$"
FAILS=0
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

# ---- ikeclusterd ------------------------------------------------------------------
# ikec_conf DIR NAME LOCAL REMOTE LID RID SUITE ESP LTS RTS [EXTRA_CONN] [EXTRA_CHILD]
ikec_conf() {
    local d=$1
    mkdir -p "$d"
    cat >"$d/ikecluster.toml" <<CONF
[daemon]
listen = ["$3"]
control_socket = "$d/ctl.sock"

[log]
level = "info"

[connections.$2]
local_addrs = "$3"
remote_addrs = "$4"
local_id = "$5"
remote_id = "$6"
psk = "$PSK"
proposals = "$7"
${11:-}

[connections.$2.children.net]
local_ts = $9
remote_ts = ${10}
esp_proposals = "$8"
${12:-}
CONF
}

declare -A IKECD_PIDS
start_ikecd() {  # NS DIR
    ikecd_start "$1" "$2"
    IKECD_PIDS[$2]=$IKECD_PID
}
stop_ikecd() {  # DIR
    local d=$1 pid=${IKECD_PIDS[$1]:-} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do
        [ -e "/proc/$pid" ] || break
        sleep 0.1
    done
    wait "$pid" 2>/dev/null
    unset "IKECD_PIDS[$d]"
}
ctl() {  # NS DIR ARGS...
    local ns=$1 d=$2
    shift 2
    ip netns exec "$ns" "$IKECTL" --socket "$d/ctl.sock" "$@"
}

# ---- traffic checks ---------------------------------------------------------------
wait_for_child() {  # NS DIR what
    local i
    for i in $(seq 80); do
        [ "$(ctl "$1" "$2" list-sas --json 2>/dev/null | jq '[.ike_sas[].children[]] | length')" -ge 1 ] 2>/dev/null &&
            return 0
        sleep 0.25
    done
    fail "$3: no Child SA"
    return 1
}

pings() {  # FROM_NS what
    ip netns exec "$1" ping -c 3 -W 2 -I 192.0.2.1 203.0.113.1 >"$LAB/ping4.out" 2>&1 ||
        { fail "$2: IPv4 ping through the tunnel"; tail -3 "$LAB/ping4.out"; }
    ip netns exec "$1" ping -6 -c 3 -W 2 -I 2001:db8:c::1 2001:db8:5::1 >"$LAB/ping6.out" 2>&1 ||
        { fail "$2: IPv6 ping through the tunnel"; tail -3 "$LAB/ping6.out"; }
}

SEND=$LAB/send.bin
head -c $((50 * 1024 * 1024)) /dev/urandom >"$SEND"
SEND_SUM=$(sha256sum <"$SEND" | cut -d' ' -f1)

transfer() {  # FROM_NS what [v6]
    local src=192.0.2.1 dst=203.0.113.1 t0 t1
    [ "${3:-}" = v6 ] && src=2001:db8:c::1 dst=2001:db8:5::1
    rm -f "$LAB/recv.bin"
    ip netns exec "$NS_gw" timeout 60 nc -l -n "$dst" 5001 >"$LAB/recv.bin" 2>/dev/null &
    local server=$!
    sleep 0.3
    t0=$(date +%s.%N)
    ip netns exec "$1" timeout 60 nc -N -n -s "$src" "$dst" 5001 <"$SEND" ||
        fail "$2: TCP client failed"
    wait "$server"
    t1=$(date +%s.%N)
    local sum
    sum=$(sha256sum <"$LAB/recv.bin" | cut -d' ' -f1)
    if [ "$sum" = "$SEND_SUM" ]; then
        log "$2: 50 MB over TCP arrived intact ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f Mbit/s", 50 * 8 * 1.048576 / (b - a) }'))"
    else
        fail "$2: 50 MB TCP transfer corrupted or short ($(stat -c %s "$LAB/recv.bin") octets)"
    fi
}

# ---- part 1: strongSwan -----------------------------------------------------------
swan_conf() {  # suite esp extra_conn extra_child
    cat >"$LAB/cl/swanctl/swanctl.conf" <<CONF
connections {
  gw {
    version = 2
    local_addrs = $CL
    remote_addrs = $GW
    encap = yes
    proposals = $1
    ${3:-}
    local { auth = psk
            id = client.lab.example }
    remote { auth = psk
             id = gw.lab.example }
    children {
      net {
        local_ts = 192.0.2.0/24, 2001:db8:c::/64
        remote_ts = 203.0.113.0/24, 2001:db8:5::/64
        esp_proposals = $2
        start_action = none
        ${4:-}
      }
    }
  }
}
secrets {
  ike-lab {
    id-gw = gw.lab.example
    id-cl = client.lab.example
    secret = "$PSK"
  }
}
CONF
    sw cl --load-all --file "$LAB/cl/swanctl/swanctl.conf" >"$LAB/cl/load.out" 2>&1 ||
        { cat "$LAB/cl/load.out"; die "swanctl --load-all"; }
}

charon_conf cl
charon_start cl "$NS_cl"
GWD=$LAB/gw
suite=aes256gcm16-prfsha256-x25519 esp=aes256gcm16
log "=== strongSwan over IPv6, $suite / ESP $esp"
ikec_conf "$GWD" peer "$GW" "$CL" gw.lab.example client.lab.example "$suite" "$esp" \
    '["203.0.113.0/24", "2001:db8:5::/64"]' '["192.0.2.0/24", "2001:db8:c::/64"]'
swan_conf "$suite" "$esp"
start_ikecd "$NS_gw" "$GWD"
sw cl --initiate --child net --timeout 20 >"$LAB/cl/initiate.out" 2>&1 || fail "swanctl --initiate over IPv6"
if wait_for_child "$NS_gw" "$GWD" "strongSwan over IPv6"; then
    sas=$(ctl "$NS_gw" "$GWD" list-sas --json)
    echo "$sas" | jq -r '.ike_sas[0].remote' | grep -q "2001:db8:64::2" ||
        fail "strongSwan over IPv6: IKE SA not on the IPv6 endpoints: $(echo "$sas" | jq -c '.ike_sas[0] | {local, remote}')"
    pings "$NS_cl" "strongSwan over IPv6"
    transfer "$NS_cl" "strongSwan over IPv6, IPv4 inside"
    transfer "$NS_cl" "strongSwan over IPv6, IPv6 inside" v6
fi
sw cl --terminate --ike gw --timeout 10 >/dev/null 2>&1
log "ikeclusterd initiates over IPv6"
ctl "$NS_gw" "$GWD" initiate peer >/dev/null || fail "IPv6: ikeclusterctl initiate"
wait_for_child "$NS_gw" "$GWD" "IPv6 (we initiated)" && pings "$NS_cl" "IPv6 (we initiated)"
ctl "$NS_gw" "$GWD" terminate --conn peer >/dev/null
stop_ikecd "$GWD"

errors=$(grep -iE 'error|failed|invalid|unacceptable|NO_PROPOSAL|verification' "$LAB/cl/charon.log" || true)
if [ -n "$errors" ]; then
    fail "strongSwan's log shows errors:"
    echo "$errors" | head -20 | sed 's/^/    /'
fi

# ---- part 2: ikeclusterd <-> ikeclusterd -----------------------------------------------
lab_ns cl2
lab_link gw cl2 2001:db8:65::1/64 2001:db8:65::2/64 v-cl2 v-gw2
ip -n "$NS_cl2" addr add 192.0.2.1/32 dev lo
ip -n "$NS_cl2" addr add 2001:db8:c::1/128 dev lo
CLD=$LAB/cl2
for mode in raw encap; do
    extra=""
    [ $mode = encap ] && extra='encap = true'
    log "=== ikeclusterd <-> ikeclusterd over IPv6, $mode ESP"
    ikec_conf "$GWD" peer 2001:db8:65::1 2001:db8:65::2 gw.lab.example client.lab.example \
        aes256gcm16-prfsha256-x25519 aes256gcm16 \
        '["203.0.113.0/24", "2001:db8:5::/64"]' '["192.0.2.0/24", "2001:db8:c::/64"]'
    ikec_conf "$CLD" gw 2001:db8:65::2 2001:db8:65::1 client.lab.example gw.lab.example \
        aes256gcm16-prfsha256-x25519 aes256gcm16 \
        '["192.0.2.0/24", "2001:db8:c::/64"]' '["203.0.113.0/24", "2001:db8:5::/64"]' "$extra"
    start_ikecd "$NS_gw" "$GWD"
    start_ikecd "$NS_cl2" "$CLD"
    ctl "$NS_cl2" "$CLD" initiate gw >/dev/null || fail "IPv6 $mode: ikeclusterctl initiate"
    if wait_for_child "$NS_cl2" "$CLD" "IPv6 $mode"; then
        encap=$(ctl "$NS_cl2" "$CLD" list-sas --json | jq -r '.ike_sas[0].encap')
        if [ $mode = encap ] && [ "$encap" != true ]; then fail "IPv6 $mode: SA not encapsulated"; fi
        if [ $mode = raw ] && [ "$encap" != false ]; then fail "IPv6 $mode: SA encapsulated without NAT"; fi
        pings "$NS_cl2" "IPv6 $mode"
        transfer "$NS_cl2" "IPv6 $mode, IPv4 inside"
        transfer "$NS_cl2" "IPv6 $mode, IPv6 inside" v6
        sent=$(ctl "$NS_cl2" "$CLD" stats --json | jq -r '.data_plane.packets.esp_sent')
        [ "$sent" -ge 60000 ] 2>/dev/null || fail "IPv6 $mode: only $sent ESP packets sent"
    fi
    stop_ikecd "$CLD"
    stop_ikecd "$GWD"
done

if [ $FAILS = 0 ]; then
    echo "PASS: test-daemon-ipv6"
    exit 0
fi
echo "FAIL: test-daemon-ipv6 ($FAILS failed checks)"
exit 1
