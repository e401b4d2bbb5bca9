#!/usr/bin/env bash
# Hot-standby failover with real processes, invisible to an unmodified
# strongSwan 5.9.8 client (issue 5):
#
#   ns lan: bridge br0 joining everyone (L2 only)
#   m1 198.51.100.11  m2 198.51.100.12   members; the active one adds the
#                                        VIP 198.51.100.1 and announces it
#   cl 198.51.100.2, 192.0.2.1 on lo     strongSwan client, tunnel to the VIP
#   srv 198.51.100.20, 203.0.113.1 on lo the protected server behind the gateway
#
#   1. m1 (priority 200) becomes active, m2 (100) standby and synced.
#   2. strongSwan connects; a ping every 10 ms and a TCP stream (iperf3)
#      run through the tunnel.
#   3. kill -9 the active member. m2 takes over: traffic resumes, the TCP
#      stream survives, strongSwan still has the same IKE SA and the same
#      SPIs (no second IKE_SA_INIT), its log shows no replay or
#      authentication errors, and a Child SA and an IKE SA rekey succeed.
#   4. m1 restarts, resyncs as standby; kill -9 m2: m1 takes over, same checks.
#   5. With ROLE_CONTROL=external the same run uses keepalived (VRRP) to
#      pick the active member; its notify scripts call ikeclusterctl.
#   6. With RFC6311=1 (test-cluster-rfc6311.sh) the members run with the
#      test-only fault switch test_withhold_msgids: the active never
#      replicates message-ID updates, so after exchanges the standby lags
#      behind strongSwan. After each kill -9 the new active must
#      resynchronise with RFC 6311 (strongSwan logs "responder requested
#      MID sync"), and then exchanges in both directions work: strongSwan's
#      rekeys and an IKE SA rekey the gateway starts (its message ID is M2).
#
# Prints the traffic gap and the pings lost at each failover.
# Exit: 0 pass, 1 fail, 77 skip. Builds the programs unless IKEC_BUILD is set.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/lib.sh"
ROLE_CONTROL=${ROLE_CONTROL:-builtin}
RFC6311=${RFC6311:-0}
tools=(jq iperf3 ping)
[ "$ROLE_CONTROL" = external ] && tools+=(keepalived)
ikec_programs "$root" "${tools[@]}"
lab_init "cluster-$ROLE_CONTROL$([ "$RFC6311" = 1 ] && echo -6311)"
lab_ns lan m1 m2 cl srv
ip -n "$NS_lan" link add br0 type bridge
ip -n "$NS_lan" link set br0 up
join() {  # NAME ADDR
    local ns
    eval "ns=\$NS_$1"
    ip link add "eth0" netns "$ns" type veth peer name "p-$1" netns "$NS_lan" || die "veth $1"
    ip -n "$NS_lan" link set "p-$1" master br0 up
    ip -n "$ns" addr add "$2/24" dev eth0
    ip -n "$ns" link set eth0 up
}
join m1 198.51.100.11
join m2 198.51.100.12
join cl 198.51.100.2
join srv 198.51.100.20
ip -n "$NS_cl" addr add 192.0.2.1/32 dev lo
ip -n "$NS_srv" addr add 203.0.113.1/32 dev lo
ip -n "$NS_srv" route add 192.0.2.0/24 via 198.51.100.1
for m in m1 m2; do
    eval "ns=\$NS_$m"
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$ns" route add 203.0.113.1/32 via 198.51.100.20
done
VIP=198.51.100.1 CL=198.51.100.2
PSK="lab-psk-not-a-secret-$$"
KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
FAILS=0
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

member_conf() {  # NAME ID PRIORITY ADDR
    local d=$LAB/$1
    mkdir -p "$d"
    echo "$KEY" >"$d/cluster.key"
    chmod 600 "$d/cluster.key"
    cat >"$d/ikecluster.toml" <<CONF
[daemon]
listen = ["$VIP"]
control_socket = "$d/ctl.sock"

[log]
level = "info"
dp = "debug"

[dataplane]
tun_name = "ikec0"

[cluster]
member_id = $2
priority = $3
members = [ { id = 1, address = "198.51.100.11" }, { id = 2, address = "198.51.100.12" } ]
keys = [ { id = 1, secret_file = "$d/cluster.key" } ]
virtual_ips = ["$VIP/24"]
interface = "eth0"
role_control = "$ROLE_CONTROL"
$([ "$RFC6311" = 1 ] && echo 'test_withhold_msgids = true')

[connections.roadwarrior]
local_addrs = "$VIP"
remote_addrs = "%any"
local_id = "gw.lab.example"
remote_id = "client.lab.example"
psk = "$PSK"
proposals = "aes256gcm16-prfsha256-x25519"
dpd_delay = "0s"

[connections.roadwarrior.children.net]
local_ts = ["203.0.113.0/24"]
remote_ts = ["192.0.2.0/24"]
esp_proposals = "aes256gcm16"
rekey_time = "24h"
CONF
}

declare -A PIDS
start_member() {  # NAME
    local ns
    eval "ns=\$NS_$1"
    ikecd_start "$ns" "$LAB/$1"
    PIDS[$1]=$IKECD_PID
}
ctl() {  # NAME ARGS...
    local m=$1 ns
    eval "ns=\$NS_$m"
    shift
    ip netns exec "$ns" "$IKECTL" --socket "$LAB/$m/ctl.sock" "$@"
}
status() { ctl "$1" cluster status --json 2>/dev/null; }
wait_role() {  # NAME ROLE [synced]
    local i s
    for i in $(seq 100); do
        s=$(status "$1")
        if [ "$(jq -r .role <<<"$s" 2>/dev/null)" = "$2" ]; then
            [ -z "${3:-}" ] || [ "$(jq -r .synced <<<"$s")" = true ] && return 0
        fi
        sleep 0.1
    done
    fail "$1 did not become $2 ${3:-} (status: $s)"
    return 1
}

# ---- keepalived as the role controller ----------------------------------------------
keepalived_start() {  # NAME PRIORITY SELF_ADDR PEER_ADDR
    local m=$1 d=$LAB/$1 ns
    eval "ns=\$NS_$m"
    # The packaged example, pointed at this lab's programs and sockets.
    # Script security is off here because the lab lives under /tmp, which
    # keepalived rightly considers writable by others.
    cat >"$d/notify.sh" <<SH
#!/bin/sh
IKECLUSTERCTL=$IKECTL IKECLUSTER_SOCK=$d/ctl.sock exec $root/packaging/keepalived/ikecluster-keepalived-notify "\$@"
SH
    chmod 755 "$d/notify.sh"
    sed -e '/enable_script_security/d' \
        -e "s|^\( *\)router_id .*|\1router_id ikec-$m|" \
        -e "s|/usr/sbin/ikeclusterctl cluster status|$IKECTL --socket $d/ctl.sock cluster status|" \
        -e "s|/usr/sbin/ikecluster-keepalived-notify|$d/notify.sh|" \
        -e "s|priority 200 .*|priority $2|" \
        -e "s|unicast_src_ip .*|unicast_src_ip $3|" \
        -e "s|^\( *\)198.51.100.2\$|\1$4|" \
        "$root/packaging/keepalived/keepalived.conf" >"$d/keepalived.conf"
    ip netns exec "$ns" keepalived --dont-fork --log-console --no-syslog -f "$d/keepalived.conf" \
        -p "$d/keepalived.pid" -r "$d/vrrp.pid" >"$d/keepalived.log" 2>&1 </dev/null &
    lab_track keepalived "$!"
}

# ---- strongSwan client ------------------------------------------------------------------
charon_conf cl
cat >"$LAB/cl/swanctl/swanctl.conf" <<CONF
connections {
  gw {
    version = 2
    local_addrs = $CL
    remote_addrs = $VIP
    encap = yes
    proposals = aes256gcm16-prfsha256-x25519
    dpd_delay = 2s
    local { auth = psk
            id = client.lab.example }
    remote { auth = psk
             id = gw.lab.example }
    children {
      net {
        local_ts = 192.0.2.1/32
        remote_ts = 203.0.113.0/24
        esp_proposals = aes256gcm16
        start_action = none
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
charon_start cl "$NS_cl"
sw cl --load-all --file "$LAB/cl/swanctl/swanctl.conf" >"$LAB/cl/load.out" 2>&1 ||
    { cat "$LAB/cl/load.out"; die "swanctl --load-all"; }

# What strongSwan shows for the tunnel: IKE SPIs and Child SPIs, one line.
swan_sas() {
    sw cl --list-sas --raw 2>/dev/null | grep -o 'initiator-spi=[0-9a-f]* responder-spi=[0-9a-f]*\|spi-in=[0-9a-f]* spi-out=[0-9a-f]*' | tr '\n' ' '
}
# IKE rekeys also log "initiating IKE_SA gw[N]"; only a new handshake sends IKE_SA_INIT.
swan_ike_count() { grep -c "generating IKE_SA_INIT request" "$LAB/cl/charon.log"; }
swan_errors() {
    local re="replay(ed| detected| check)|authentication failed|MAC mismatch|verification failed|integrity check failed|invalid (IKE_SA|message ID)|received retransmit of response|NO_PROPOSAL|INVALID_SPI|INVAL_SPI|giving up|ignore .*MESSAGE_ID_SYNC|unexpected .*MESSAGE_ID_SYNC|encrypting .* failed"
    local out
    out=$(grep -iE "$re" "$LAB/cl/charon.log")
    # Every takeover resynchronises (peer_sync = "always"). Without the
    # fault switch the replica is current, so the member's P1 (one past the
    # request ID it expects, src/core/ike/ha_sync.cpp) moves strongSwan's
    # own next request ID on by exactly one ("initiating N+1[N]"); a replica
    # that lagged would leave it unchanged.
    if [ "$RFC6311" != 1 ]; then
        out+=$(grep -o "responder requested MID sync: initiating [0-9]*\[[0-9]*\]" "$LAB/cl/charon.log" |
            sed 's/.*initiating //; s/\[/ /; s/\]//' |
            awk '$1 != $2 + 1 { print "MID sync moved strongSwan by " $1 - $2 ", not 1: " $0 }')
    fi
    [ -n "$out" ] && printf '%s\n' "$out"
}
swan_mid_syncs() { grep -c "responder requested MID sync" "$LAB/cl/charon.log"; }

# ---- the run ------------------------------------------------------------------------
member_conf m1 1 200 198.51.100.11
member_conf m2 2 100 198.51.100.12
start_member m1
if [ "$ROLE_CONTROL" = external ]; then
    start_member m2
    keepalived_start m1 200 198.51.100.11 198.51.100.12
    sleep 1
    keepalived_start m2 100 198.51.100.12 198.51.100.11
else
    wait_role m1 active || die "no active member"
    start_member m2
fi
wait_role m1 active && wait_role m2 standby synced || die "cluster did not form"
log "cluster formed: m1 active, m2 standby and synced"

sw cl --initiate --child net --timeout 20 >"$LAB/cl/initiate.out" 2>&1 ||
    { cat "$LAB/cl/initiate.out"; die "swanctl --initiate"; }
ip netns exec "$NS_cl" ping -c 3 -W 2 -I 192.0.2.1 203.0.113.1 >/dev/null 2>&1 ||
    die "no traffic through the tunnel before any failover"
SAS0=$(swan_sas)
log "strongSwan: $SAS0"

ip netns exec "$NS_srv" iperf3 -s -B 203.0.113.1 -D --logfile "$LAB/iperf-server.log" \
    --pidfile "$LAB/iperf.pid" || die "iperf3 server"
sleep 0.3
lab_track iperf3 "$(cat "$LAB/iperf.pid")"

# failover KILL_ME NEW_ACTIVE: kill -9 the active member under traffic and
# measure the gap, from a 10 ms ping and a TCP stream that both run across it.
failover() {
    local dead=$1 new=$2 before after pingpid iperfpid gap lost t_kill
    before=$(swan_sas)
    ip netns exec "$NS_cl" ping -D -i 0.01 -W 1 -I 192.0.2.1 203.0.113.1 >"$LAB/ping-$dead.out" 2>&1 &
    pingpid=$!
    ip netns exec "$NS_cl" iperf3 -c 203.0.113.1 -B 192.0.2.1 -t 8 -b 20M -J \
        >"$LAB/iperf-$dead.json" 2>&1 &
    iperfpid=$!
    sleep 2
    t_kill=$(date +%s.%N)
    kill -9 "${PIDS[$dead]}"
    wait "${PIDS[$dead]}" 2>/dev/null
    log "kill -9 $dead at $t_kill"
    wait_role "$new" active || return
    sleep 3
    kill -INT "$pingpid"
    wait "$pingpid" 2>/dev/null
    wait "$iperfpid"
    local irc=$?
    # The gap: the longest silence between two replies, around the kill.
    gap=$(grep -o '^\[[0-9.]*\]' "$LAB/ping-$dead.out" | tr -d '[]' |
        awk 'NR > 1 { d = $1 - p; if (d > m) m = d } { p = $1 } END { printf "%d", m * 1000 }')
    lost=$(sed -n 's/.* \([0-9]*\) received.*/\1/p; s/^\([0-9]*\) packets transmitted.*/T\1/p' "$LAB/ping-$dead.out" | tr '\n' ' ')
    log "failover $dead -> $new: traffic gap ${gap} ms; ping: $(grep 'packets transmitted' "$LAB/ping-$dead.out")"
    echo "failover $dead->$new gap_ms=$gap $(grep 'packets transmitted' "$LAB/ping-$dead.out")" >>"$LAB/figures"
    [ "$irc" = 0 ] && jq -e '.end.sum_received.bytes > 0' "$LAB/iperf-$dead.json" >/dev/null ||
        fail "the TCP stream did not survive the failover ($(jq -r '.error // empty' "$LAB/iperf-$dead.json" 2>/dev/null))"
    # Built-in: 3 missed heartbeats (300 ms) and the takeover. keepalived:
    # VRRP's own detection (3 adverts of 1 s, plus the skew) comes first.
    local limit=3000
    [ "$ROLE_CONTROL" = external ] && limit=8000
    [ "${gap:-99999}" -lt "$limit" ] || fail "traffic gap ${gap} ms"
    after=$(swan_sas)
    [ "$before" = "$after" ] || fail "strongSwan's SAs changed: '$before' -> '$after'"
    if [ "$RFC6311" = 1 ]; then
        local syncs
        syncs=$(swan_mid_syncs)
        [ "$syncs" -ge "$SYNCS_EXPECTED" ] ||
            fail "strongSwan saw $syncs RFC 6311 message-ID syncs, expected $SYNCS_EXPECTED"
        log "strongSwan: $(grep 'responder requested MID sync' "$LAB/cl/charon.log" | tail -1 | sed 's/.*\] //')"
        SYNCS_EXPECTED=$((SYNCS_EXPECTED + 1))
    fi
    [ "$(swan_ike_count)" = 1 ] || fail "strongSwan sent another IKE_SA_INIT"
    if swan_errors >/dev/null; then
        fail "strongSwan logged errors:"
        swan_errors | head -5
    fi
    ip netns exec "$NS_cl" ping -c 3 -W 2 -I 192.0.2.1 203.0.113.1 >/dev/null 2>&1 ||
        fail "no traffic after the failover"
}

# rekey_both: a Child SA and an IKE SA rekey started by strongSwan, through
# the member that is active now.
rekey_both() {
    local before after
    before=$(swan_sas)
    sw cl --rekey --child net >/dev/null 2>&1 || fail "child rekey request"
    sleep 1.5
    sw cl --rekey --ike gw >/dev/null 2>&1 || fail "IKE rekey request"
    sleep 1.5
    after=$(swan_sas)
    [ "$before" != "$after" ] || fail "rekeys did not change the SPIs"
    [ "$(sw cl --list-sas --raw 2>/dev/null | grep -c 'state=ESTABLISHED')" = 1 ] ||
        fail "strongSwan does not have exactly one IKE SA after the rekeys"
    ip netns exec "$NS_cl" ping -c 3 -W 2 -I 192.0.2.1 203.0.113.1 >/dev/null 2>&1 ||
        fail "no traffic after the rekeys"
    log "rekeys after failover: $(swan_sas)"
}

# An IKE SA rekey the gateway starts: its request carries the message ID
# the RFC 6311 sync agreed on (M2), so strongSwan must accept it. Before it,
# a liveness check: with no traffic for its dpd_delay (2 s) strongSwan sends
# one on the synchronised IKE SA, and it must be answered (no retransmit).
gateway_rekey() {  # MEMBER
    local spis before dpd0 rt0
    dpd0=$(grep -c "sending DPD request" "$LAB/cl/charon.log")
    rt0=$(grep -c "retransmit" "$LAB/cl/charon.log")
    sleep 4.5
    [ "$(grep -c "sending DPD request" "$LAB/cl/charon.log")" -gt "$dpd0" ] ||
        fail "strongSwan sent no liveness check while the tunnel was idle"
    [ "$(grep -c "retransmit" "$LAB/cl/charon.log")" = "$rt0" ] ||
        fail "strongSwan had to retransmit after the RFC 6311 sync"
    spis=$(ctl "$1" list-sas --json 2>/dev/null | jq -r '.ike_sas[0].id // empty' 2>/dev/null)
    [ -n "$spis" ] || { fail "no IKE SA listed on $1"; return; }
    before=$(swan_sas)
    ctl "$1" rekey --ike "$spis" >/dev/null 2>&1 || fail "gateway IKE rekey request"
    sleep 1.5
    [ "$before" != "$(swan_sas)" ] || fail "the gateway's IKE rekey did not change the SPIs"
    [ "$(sw cl --list-sas --raw 2>/dev/null | grep -c 'state=ESTABLISHED')" = 1 ] ||
        fail "strongSwan does not have exactly one IKE SA after the gateway's rekey"
    ip netns exec "$NS_cl" ping -c 3 -W 2 -I 192.0.2.1 203.0.113.1 >/dev/null 2>&1 ||
        fail "no traffic after the gateway's rekey"
    log "gateway-initiated IKE rekey after failover: $(swan_sas)"
}
# Exchanges whose message-ID updates the standby never gets (an IKE rekey
# resets the counters; the Child SA rekey and its Delete after it move them
# on): the standby lags behind strongSwan by two requests.
lag_standby() {
    rekey_both
    sw cl --rekey --child net >/dev/null 2>&1 || fail "child rekey request"
    # strongSwan keeps listing the rekeyed inbound SA for delete_rekeyed_delay
    # (5 s); the failover compares SA lists, so let it go first.
    sleep 6
}
# A Child SA rekey only: the IKE SA then lives through the second failover
# too. strongSwan derives its IKE AEAD IVs from message IDs; once it has
# answered one message-ID sync (or any request of ours) on an IKE SA it
# cannot encrypt the answer to another one, and destroys the SA. The member
# must not ask it to (EngineConfig::msgid_sync_guard_sequential_ivs).
rekey_child() {
    local before
    before=$(swan_sas)
    sw cl --rekey --child net >/dev/null 2>&1 || fail "child rekey request"
    sleep 1.5
    [ "$before" != "$(swan_sas)" ] || fail "the Child SA rekey did not change the SPIs"
    ip netns exec "$NS_cl" ping -c 3 -W 2 -I 192.0.2.1 203.0.113.1 >/dev/null 2>&1 ||
        fail "no traffic after the Child SA rekey"
    # strongSwan lists the rekeyed inbound SA for delete_rekeyed_delay (5 s);
    # the next failover compares SA lists.
    sleep 5
    log "child rekey after failover: $(swan_sas)"
}
SYNCS_EXPECTED=1
[ "$RFC6311" = 1 ] && lag_standby
failover m1 m2
# With message-ID updates withheld the second takeover needs a sync, which
# strongSwan can answer only on a fresh IKE SA: rekey it there.
if [ "$RFC6311" = 1 ]; then rekey_both; else rekey_child; fi
[ "$RFC6311" = 1 ] && gateway_rekey m2
# The dead member comes back, resyncs from the new active and stands by.
start_member m1
wait_role m1 standby synced && log "m1 restarted and resynced as standby"
sleep 1
[ "$RFC6311" = 1 ] && lag_standby
failover m2 m1
rekey_both
[ "$RFC6311" = 1 ] && gateway_rekey m1

echo
cat "$LAB/figures" 2>/dev/null
if [ "$FAILS" != 0 ]; then
    echo "member logs:"
    tail -n 15 "$LAB/m1/ikeclusterd.log" "$LAB/m2/ikeclusterd.log"
    echo "$FAILS failure(s)"
    exit 1
fi
echo "PASS: cluster failover ($ROLE_CONTROL role control$([ "$RFC6311" = 1 ] && echo ', message-ID updates withheld, RFC 6311 resync'))"
