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
. "$here/traffic-lib.sh"
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
