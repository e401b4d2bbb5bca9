#!/usr/bin/env bash
# Transport mode (RFC 4303 §3.1.1) through ikeclusterd's userspace data plane:
# host-to-host traffic between the two daemons' own addresses, protected
# without any tunnel addresses: the local stack's packets to the peer reach
# the TUN device through a policy rule (the daemon's own sockets are marked
# and keep using the main table), ESP carries TCP/ICMP directly.
#
#   part 1: ikeclusterd <-> ikeclusterd, mode = "transport", for IPv4 and IPv6
#           host addresses, over raw ESP and over ESP-in-UDP: ping, a 50 MB
#           TCP transfer checked byte for byte, and a check that the TCP
#           stream really went through the SA (ESP counters) and that IKE
#           (UDP 500) did not. When the daemons stop, their policy rules go.
#   part 2: strongSwan 5.9.8 initiates a transport-mode Child SA to
#           ikeclusterd: both sides agree on transport mode
#           (USE_TRANSPORT_MODE, RFC 7296 §1.3.1). strongSwan's kernel-libipsec
#           has no transport mode ("IPsec SA: unsupported mode") and this kernel
#           has no XFRM ESP, so strongSwan cannot carry the traffic here; the
#           check stops at the negotiation and says so.
#
#   gw: 198.51.100.1, 2001:db8:64::1     cl: 198.51.100.2, 2001:db8:64::2
#
# Exit: 0 pass, 1 fail, 77 skip. Builds the programs unless IKEC_BUILD is set.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/lib.sh"
ikec_programs "$root" jq nc sha256sum
lab_init daemon-transport
lab_ns gw cl
lab_link gw cl 198.51.100.1/24 198.51.100.2/24
ip -n "$NS_gw" addr add 2001:db8:64::1/64 dev v-cl nodad
ip -n "$NS_cl" addr add 2001:db8:64::2/64 dev v-gw nodad
PSK="lab-psk-not-a-secret-$$"
FAILS=0
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

# ikec_conf DIR NAME LOCAL REMOTE LID RID ESP [EXTRA_CONN]
ikec_conf() {
    local d=$1 ts_l=$3 ts_r=$4
    case $3 in *:*) ts_l=$3/128 ts_r=$4/128 ;; *) ts_l=$3/32 ts_r=$4/32 ;; esac
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
proposals = "aes256gcm16-prfsha256-x25519"
${8:-}

[connections.$2.children.host]
mode = "transport"
local_ts = ["$ts_l"]
remote_ts = ["$ts_r"]
esp_proposals = "$7"
CONF
}

. "$here/daemon-lib.sh"
dp_stat() {  # NS DIR FIELD
    ctl "$1" "$2" stats --json | jq -r ".data_plane.packets.$3 // 0"
}

SEND=$LAB/send.bin
head -c $((50 * 1024 * 1024)) /dev/urandom >"$SEND"
SEND_SUM=$(sha256sum <"$SEND" | cut -d' ' -f1)

transfer() {  # FROM_NS SRC DST what
    local src=$2 dst=$3 t0 t1 sum
    rm -f "$LAB/recv.bin"
    ip netns exec "$NS_gw" timeout 60 nc -l -n "$dst" 5001 >"$LAB/recv.bin" 2>/dev/null &
    local server=$!
    sleep 0.3
    t0=$(date +%s.%N)
    ip netns exec "$1" timeout 60 nc -N -n -s "$src" "$dst" 5001 <"$SEND" || fail "$4: TCP client failed"
    wait "$server"
    t1=$(date +%s.%N)
    sum=$(sha256sum <"$LAB/recv.bin" | cut -d' ' -f1)
    if [ "$sum" = "$SEND_SUM" ]; then
        log "$4: 50 MB over TCP arrived intact ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f Mbit/s", 50 * 8 * 1.048576 / (b - a) }'))"
    else
        fail "$4: 50 MB TCP transfer corrupted or short ($(stat -c %s "$LAB/recv.bin") octets)"
    fi
}

# ---- part 1: ikeclusterd <-> ikeclusterd ------------------------------------------
GWD=$LAB/gw CLD=$LAB/cl2
for fam in 4 6; do
    for mode in raw encap; do
        if [ $fam = 4 ]; then G=198.51.100.1 C=198.51.100.2; else G=2001:db8:64::1 C=2001:db8:64::2; fi
        extra="" esp=aes256gcm16
        [ $mode = encap ] && extra='encap = true' esp=aes128-sha256
        what="transport IPv$fam $mode ESP ($esp)"
        log "=== ikeclusterd <-> ikeclusterd, $what"
        ikec_conf "$GWD" peer "$G" "$C" gw.lab.example client.lab.example "$esp"
        ikec_conf "$CLD" gw "$C" "$G" client.lab.example gw.lab.example "$esp" "$extra"
        start_ikecd "$NS_gw" "$GWD"
        start_ikecd "$NS_cl" "$CLD"
        ctl "$NS_cl" "$CLD" initiate gw >/dev/null || fail "$what: ikeclusterctl initiate"
        if wait_for_child "$NS_cl" "$CLD" "$what"; then
            sas=$(ctl "$NS_cl" "$CLD" list-sas --json)
            [ "$(echo "$sas" | jq -r '.ike_sas[0].children[0].mode')" = transport ] ||
                fail "$what: Child SA not in transport mode"
            want_encap=false
            [ $mode = encap ] && want_encap=true
            [ "$(echo "$sas" | jq -r '.ike_sas[0].encap')" = $want_encap ] || fail "$what: encap is not $want_encap"
            ip netns exec "$NS_cl" ping -$fam -c 3 -W 2 "$G" >"$LAB/ping.out" 2>&1 ||
                { fail "$what: ping"; tail -3 "$LAB/ping.out"; }
            sent0=$(dp_stat "$NS_cl" "$CLD" esp_sent)
            transfer "$NS_cl" "$C" "$G" "$what"
            sent1=$(dp_stat "$NS_cl" "$CLD" esp_sent)
            # ~36000 segments of 1400 octets: all of them as ESP, not in the clear.
            [ $((sent1 - sent0)) -ge 30000 ] ||
                fail "$what: only $((sent1 - sent0)) ESP packets for 50 MB: traffic bypassed the SA"
            # IKE stays outside the SA (RFC 4301 §5.2): a liveness check
            # crosses while the Child SA is up and leaves the TUN counter alone.
            tun0=$(dp_stat "$NS_cl" "$CLD" tun_packets)
            rules=$(ip -n "$NS_cl" -$fam rule show)
            echo "$rules" | grep -q "not from all fwmark 0x1ce5 lookup 4500" ||
                fail "$what: policy rule missing: $rules"
            rk0=$(grep -c "IKE SA rekeyed" "$CLD/ikeclusterd.log")
            ctl "$NS_cl" "$CLD" rekey --conn gw >/dev/null || fail "$what: ikeclusterctl rekey"
            for i in $(seq 40); do
                [ "$(grep -c "IKE SA rekeyed" "$CLD/ikeclusterd.log")" -gt "$rk0" ] && break
                sleep 0.1
            done
            [ "$(grep -c "IKE SA rekeyed" "$CLD/ikeclusterd.log")" -gt "$rk0" ] ||
                fail "$what: IKE rekey did not complete while the transport SA was up"
            tun1=$(dp_stat "$NS_cl" "$CLD" tun_packets)
            [ "$tun1" = "$tun0" ] || fail "$what: IKE went into the TUN device ($tun0 -> $tun1)"
            ip netns exec "$NS_cl" ping -$fam -c 2 -W 2 "$G" >/dev/null 2>&1 || fail "$what: ping after IKE rekey"
        fi
        ctl "$NS_cl" "$CLD" terminate --conn gw >/dev/null 2>&1
        stop_ikecd "$CLD"
        stop_ikecd "$GWD"
        if ip -n "$NS_cl" -$fam rule show | grep -q "lookup 4500"; then
            fail "$what: policy rule left behind after the daemon stopped"
        fi
    done
done

# ---- part 2: strongSwan negotiates transport mode with us ---------------------------
log "=== strongSwan initiates a transport-mode Child SA (negotiation only)"
charon_conf cl
charon_start cl "$NS_cl"
cat >"$LAB/cl/swanctl/swanctl.conf" <<CONF
connections {
  gw {
    version = 2
    local_addrs = 198.51.100.2
    remote_addrs = 198.51.100.1
    proposals = aes256gcm16-prfsha256-x25519
    local { auth = psk
            id = client.lab.example }
    remote { auth = psk
             id = gw.lab.example }
    children {
      host {
        mode = transport
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
sw cl --load-all --file "$LAB/cl/swanctl/swanctl.conf" >"$LAB/cl/load.out" 2>&1 ||
    { cat "$LAB/cl/load.out"; die "swanctl --load-all"; }
ikec_conf "$GWD" peer 198.51.100.1 198.51.100.2 gw.lab.example client.lab.example aes256gcm16
start_ikecd "$NS_gw" "$GWD"
sw cl --initiate --child host --timeout 20 >"$LAB/cl/initiate.out" 2>&1
if grep -q "received USE_TRANSPORT_MODE\|USE_TRANSPORT_MODE" "$LAB/cl/charon.log" &&
    grep -q "IKE_AUTH response .*N(USE_TRANSP)" "$LAB/cl/charon.log"; then
    log "strongSwan received our USE_TRANSPORT_MODE in the IKE_AUTH response"
else
    fail "strongSwan: no USE_TRANSPORT_MODE in our IKE_AUTH response"
    grep -E "IKE_AUTH|CHILD_SA|mode" "$LAB/cl/charon.log" | head -10 | sed 's/^/    /'
fi
if grep -q "IPsec SA: unsupported mode" "$LAB/cl/charon.log"; then
    log "as expected here, strongSwan's kernel-libipsec cannot install a transport-mode SA"
    log "(no XFRM ESP in this kernel): the data path is checked ours <-> ours above"
fi
grep -qiE "NO_PROPOSAL_CHOSEN|TS_UNACCEPTABLE|AUTHENTICATION_FAILED" "$LAB/cl/charon.log" &&
    fail "strongSwan's log shows a negotiation error"
stop_ikecd "$GWD"

if [ $FAILS = 0 ]; then
    echo "PASS: test-daemon-transport"
    exit 0
fi
echo "FAIL: test-daemon-transport ($FAILS failed checks)"
exit 1
