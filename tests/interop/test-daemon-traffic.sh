#!/usr/bin/env bash
# Traffic through ikeclusterd's userspace ESP data plane:
#
#   part 1: ikeclusterd (ns gw) <-> strongSwan 5.9.8 kernel-libipsec (ns cl),
#           ESP-in-UDP (kernel-libipsec always encapsulates), for both suites
#           (aes256gcm16-prfsha256-x25519 + ESP aes256gcm16, aes128-sha256-modp2048
#           + ESP aes128-sha256), IPv4 and IPv6 selectors: ping both families,
#           a 50 MB TCP transfer checked byte for byte; then short lifetimes so
#           both sides rekey the Child and IKE SAs on their own while a ping runs,
#           and liveness checks; strongSwan's log must show no errors.
#   part 2: ikeclusterd <-> ikeclusterd over raw ESP (no NAT) and over
#           ESP-in-UDP (encap = true) with ESN: ping and a 50 MB transfer each.
#
#   cl/cl2: 192.0.2.1, 2001:db8:c::1 (on lo)   gw: 203.0.113.1, 2001:db8:5::1 (on lo)
#   outer:  198.51.100.2 (cl)  <-- veth -->  198.51.100.1 (gw)
#
# Exit: 0 pass, 1 fail, 77 skip. Builds the programs unless IKEC_BUILD is set.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/lib.sh"
ikec_programs "$root" jq nc sha256sum
lab_init daemon-traffic
lab_ns gw cl
lab_link gw cl 198.51.100.1/24 198.51.100.2/24
ip -n "$NS_cl" addr add 192.0.2.1/32 dev lo
ip -n "$NS_cl" addr add 2001:db8:c::1/128 dev lo
ip -n "$NS_gw" addr add 203.0.113.1/32 dev lo
ip -n "$NS_gw" addr add 2001:db8:5::1/128 dev lo
GW=198.51.100.1 CL=198.51.100.2
. "$here/traffic-lib.sh"

for pair in "aes256gcm16-prfsha256-x25519 aes256gcm16" "aes128-sha256-modp2048 aes128-sha256"; do
    set -- $pair
    suite=$1 esp=$2
    log "=== strongSwan, $suite / ESP $esp"
    ikec_conf "$GWD" peer "$GW" "$CL" gw.lab.example client.lab.example "$suite" "$esp" \
        '["203.0.113.0/24", "2001:db8:5::/64"]' '["192.0.2.0/24", "2001:db8:c::/64"]'
    swan_conf "$suite" "$esp"
    start_ikecd "$NS_gw" "$GWD"
    sw cl --initiate --child net --timeout 20 >"$LAB/cl/initiate.out" 2>&1 ||
        fail "$suite: swanctl --initiate"
    wait_for_child "$NS_gw" "$GWD" "$suite" && {
        pings "$NS_cl" "$suite"
        transfer "$NS_cl" "$suite IPv4"
        transfer "$NS_cl" "$suite IPv6" v6
    }
    sw cl --terminate --ike gw --timeout 10 >/dev/null 2>&1
    log "ikeclusterd initiates"
    ctl "$NS_gw" "$GWD" initiate peer >/dev/null || fail "$suite: ikeclusterctl initiate"
    wait_for_child "$NS_gw" "$GWD" "$suite (we initiated)" && pings "$NS_cl" "$suite (we initiated)"
    ctl "$NS_gw" "$GWD" terminate --conn peer >/dev/null
    stop_ikecd "$GWD"
done

# strongSwan's Child SAs rekey first (10 s against our 20 s) and our IKE SA
# first (24 s against strongSwan's 40 s): each side starts rekeys on its own.
log "=== short lifetimes: both sides rekey on their own while a ping runs, DPD on"
ikec_conf "$GWD" peer "$GW" "$CL" gw.lab.example client.lab.example \
    aes256gcm16-prfsha256-x25519 aes256gcm16 \
    '["203.0.113.0/24", "2001:db8:5::/64"]' '["192.0.2.0/24", "2001:db8:c::/64"]' \
    'rekey_time = "24s"
life_time = "40s"
rand_time = "4s"
dpd_delay = "3s"' 'rekey_time = "20s"
life_time = "30s"
rand_time = "2s"'
swan_conf aes256gcm16-prfsha256-x25519 aes256gcm16 'rekey_time = 40s
    dpd_delay = 3s' 'rekey_time = 10s'
start_ikecd "$NS_gw" "$GWD"
sw cl --initiate --child net --timeout 20 >/dev/null 2>&1 || fail "lifetimes: swanctl --initiate"
if wait_for_child "$NS_gw" "$GWD" lifetimes; then
    ip netns exec "$NS_cl" ping -q -i 0.1 -c 600 -W 1 -I 192.0.2.1 203.0.113.1 >"$LAB/ping-rekey.out" 2>&1
    loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$LAB/ping-rekey.out")
    log "60 s of pings across rekeys: ${loss:-?}% loss"
    awk -v l="${loss:-100}" 'BEGIN { exit !(l <= 2) }' || fail "lifetimes: ${loss:-?}% ping loss across rekeys"
    ours_rekeys=$(grep -cE 'Child SA rekeyed|IKE SA rekeyed' "$GWD/ikeclusterd.log")
    swan_rekeys=$(grep -cE 'rekeying (IKE|CHILD)_SA|CHILD_SA .* rekeyed|IKE_SA .* rekeyed' "$LAB/cl/charon.log")
    log "rekey events: ikeclusterd logged $ours_rekeys, strongSwan logged $swan_rekeys"
    [ "$ours_rekeys" -ge 4 ] || fail "lifetimes: only $ours_rekeys rekeys logged by ikeclusterd in 60 s"
    theirs=$(grep -c "generating CREATE_CHILD_SA request" "$LAB/cl/charon.log")
    ours_ike=$(grep -c "IKE SA rekeyed .*role=initiator" "$GWD/ikeclusterd.log")
    ours_dpd=$(grep -c "parsed INFORMATIONAL request [0-9]* \[ \]" "$LAB/cl/charon.log")
    log "strongSwan started $theirs CREATE_CHILD_SA exchanges, ikeclusterd $ours_ike IKE rekeys as initiator, $ours_dpd liveness checks answered by strongSwan"
    [ "$theirs" -ge 2 ] || fail "lifetimes: strongSwan never started a rekey itself"
    [ "$ours_ike" -ge 1 ] || fail "lifetimes: ikeclusterd never rekeyed the IKE SA itself"
    pings "$NS_cl" "after rekeys"
fi
sw cl --terminate --ike gw --timeout 10 >/dev/null 2>&1
stop_ikecd "$GWD"

errors=$(grep -iE 'error|failed|invalid|unacceptable|NO_PROPOSAL|verification' "$LAB/cl/charon.log" || true)
if [ -n "$errors" ]; then
    fail "strongSwan's log shows errors:"
    echo "$errors" | head -20 | sed 's/^/    /'
fi

# ---- part 2: ikeclusterd <-> ikeclusterd -----------------------------------------------
lab_ns cl2
lab_link gw cl2 198.51.100.17/28 198.51.100.18/28 v-cl2 v-gw2
ip -n "$NS_cl2" addr add 192.0.2.1/32 dev lo
ip -n "$NS_cl2" addr add 2001:db8:c::1/128 dev lo
CLD=$LAB/cl2
# The encapsulated run also uses Extended Sequence Numbers (RFC 4303 §2.2.1),
# which strongSwan's kernel-libipsec cannot do ("IPsec SA: ESN not supported").
for mode in raw encap; do
    extra="" esp=aes256gcm16
    [ $mode = encap ] && extra='encap = true' esp=aes256gcm16-esn
    log "=== ikeclusterd <-> ikeclusterd, $mode ESP ($esp)"
    ikec_conf "$GWD" peer 198.51.100.17 198.51.100.18 gw.lab.example client.lab.example \
        aes256gcm16-prfsha256-x25519 "$esp" \
        '["203.0.113.0/24", "2001:db8:5::/64"]' '["192.0.2.0/24", "2001:db8:c::/64"]'
    ikec_conf "$CLD" gw 198.51.100.18 198.51.100.17 client.lab.example gw.lab.example \
        aes256gcm16-prfsha256-x25519 "$esp" \
        '["192.0.2.0/24", "2001:db8:c::/64"]' '["203.0.113.0/24", "2001:db8:5::/64"]' "$extra"
    start_ikecd "$NS_gw" "$GWD"
    start_ikecd "$NS_cl2" "$CLD"
    ctl "$NS_cl2" "$CLD" initiate gw >/dev/null || fail "$mode: ikeclusterctl initiate"
    if wait_for_child "$NS_cl2" "$CLD" "$mode"; then
        encap=$(ctl "$NS_cl2" "$CLD" list-sas --json | jq -r '.ike_sas[0].encap')
        if [ $mode = encap ] && [ "$encap" != true ]; then fail "$mode: SA not encapsulated"; fi
        if [ $mode = raw ] && [ "$encap" != false ]; then fail "$mode: SA encapsulated without NAT"; fi
        esn=$(ctl "$NS_cl2" "$CLD" list-sas --json | jq -r '.ike_sas[0].children[0].esn')
        if [ $mode = encap ] && [ "$esn" != true ]; then fail "$mode: ESN not negotiated"; fi
        pings "$NS_cl2" "$mode"
        transfer "$NS_cl2" "$mode IPv4"
        if [ $mode = encap ]; then
            # RFC 3948 §2.3: with forced encapsulation we keep the NAT mapping
            # alive with one-octet keepalives every 20 s.
            ka=0
            for i in $(seq 26); do
                ka=$(ctl "$NS_cl2" "$CLD" stats --json | jq -r '.data_plane.nat_keepalives_sent // 0')
                [ "$ka" -ge 1 ] 2>/dev/null && break
                sleep 1
            done
            [ "$ka" -ge 1 ] 2>/dev/null && log "$mode: NAT keepalives sent: $ka" ||
                fail "$mode: no NAT keepalive within 26 s"
        fi
    fi
    stop_ikecd "$CLD"
    stop_ikecd "$GWD"
done

if [ $FAILS = 0 ]; then
    echo "PASS: test-daemon-traffic"
    exit 0
fi
echo "FAIL: test-daemon-traffic ($FAILS failed checks)"
exit 1
