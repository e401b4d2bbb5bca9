#!/usr/bin/env bash
# ikeclusterd against a real strongSwan 5.9.8 (kernel-libipsec), control plane
# only (no data plane yet, so no traffic):
#
#   ns "gw"  198.51.100.1  ikeclusterd  <== veth ==>  charon  198.51.100.2  ns "cl"
#
# For each suite (aes256gcm16-prfsha256-x25519 with a socket bound to the
# address, aes128-sha256-modp2048 with wildcard sockets, then the first again
# over IPv6 with wildcard sockets):
# strongSwan initiates; both sides must agree on the IKE SPIs and the Child
# SPIs (in/out swapped); IKE and Child SA rekeys from each side, compared
# again; swanctl --terminate empties our list; ikeclusterctl initiate, then
# ikeclusterctl terminate empties strongSwan's; finally SIGTERM on ikeclusterd
# must delete its IKE SA at strongSwan. charon's log must show no errors.
#
# Exit: 0 pass, 1 fail, 77 skip (not root, no strongSwan). Builds the two
# programs if IKEC_BUILD is not set (scripts/test sets it).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/lib.sh"
ikec_programs "$root" jq
lab_init daemon-ike
lab_ns gw cl
lab_link gw cl 198.51.100.1/24 198.51.100.2/24
# charon installs its route to the remote subnet with a source address from
# its own local_ts, so that subnet needs a host here (on lo, as in the notes).
ip -n "$NS_cl" addr add 192.0.2.1/32 dev lo
ip -n "$NS_gw" addr add 203.0.113.1/32 dev lo
# IPv6 on the same link for the last run (outer addresses only; the
# selectors stay IPv4).
ip -n "$NS_gw" addr add 2001:db8::1/64 dev v-cl nodad
ip -n "$NS_cl" addr add 2001:db8::2/64 dev v-gw nodad
GW4=198.51.100.1 CL4=198.51.100.2
GW6=2001:db8::1 CL6=2001:db8::2
GW=$GW4 CL=$CL4
PSK="lab-psk-not-a-secret-$$"
CTL_SOCK=$LAB/ikec/ctl.sock
mkdir -p "$LAB/ikec"
FAILS=0

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
ctl() { ip netns exec "$NS_gw" "$IKECTL" --socket "$CTL_SOCK" "$@"; }

# ---- configs ------------------------------------------------------------------
write_ikec_conf() {  # suite listen-line
    cat >"$LAB/ikec/ikecluster.toml" <<CONF
[daemon]
$2
control_socket = "$CTL_SOCK"

[log]
level = "info"
ike = "debug"

[connections.peer]
local_addrs = "$GW"
remote_addrs = "$CL"
local_id = "gw.lab.example"
remote_id = "client.lab.example"
psk = "$PSK"
proposals = "$1"
rekey_time = "4h"

[connections.peer.children.net]
local_ts = "203.0.113.0/24"
remote_ts = "192.0.2.0/24"
esp_proposals = "aes256gcm16, aes128-sha256"
CONF
}

write_swan_conf() {  # suite
    cat >"$LAB/cl/swanctl/swanctl.conf" <<CONF
connections {
  gw {
    version = 2
    local_addrs = $CL
    remote_addrs = $GW
    encap = yes
    proposals = $1
    local { auth = psk
            id = client.lab.example }
    remote { auth = psk
             id = gw.lab.example }
    children {
      net {
        local_ts = 192.0.2.0/24
        remote_ts = 203.0.113.0/24
        esp_proposals = aes256gcm16,aes128-sha256
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
}

IKECD_PID=""
start_ikecd() { ikecd_start "$NS_gw" "$LAB/ikec"; }

stop_ikecd() {  # SIGTERM; ikeclusterd deletes its SAs (at most ~2 s) and exits
    [ -n "$IKECD_PID" ] || return 0
    kill -TERM "$IKECD_PID" 2>/dev/null
    local i
    for i in $(seq 50); do
        [ -e "/proc/$IKECD_PID" ] || break
        sleep 0.1
    done
    wait "$IKECD_PID" 2>/dev/null
    local rc=$?
    [ -e "/proc/$IKECD_PID" ] && fail "ikeclusterd did not exit within 5 s of SIGTERM"
    [ "$rc" = 0 ] || fail "ikeclusterd exited with $rc after SIGTERM"
    IKECD_PID=""
}

# ---- views of both sides ------------------------------------------------------
# One line per established IKE SA: "SPI_I SPI_R CHILD_IN/CHILD_OUT ..." with
# the child pairs sorted; Child SPIs written from ikeclusterd's side (so
# strongSwan's in/out are swapped before comparing).
ours() {
    ctl list-sas --json | jq -r '.ike_sas[] |
        "\(.spi_i) \(.spi_r)" + ([.children[] | " \(.spi_in)/\(.spi_out)"] | sort | join(""))' |
        sort
}
# strongSwan's vici tree (--pretty): keep ESTABLISHED IKE SAs and INSTALLED
# children; ignore SAs that are still being rekeyed or deleted.
theirs() {
    sw cl --list-sas --pretty 2>/dev/null | awk '
        function flush_child() { if (cstate == "INSTALLED" && cin != "") kids = kids " " cout "/" cin; cin = cout = cstate = "" }
        function flush_ike() { flush_child(); if (istate == "ESTABLISHED" && si != "") print si " " sr "|" kids; si = sr = istate = kids = "" }
        /^  [^ ].* \{$/ { flush_ike() }
        /^      [^ ].* \{$/ { flush_child() }
        /^    state = / { istate = $3 }
        /^    initiator-spi = / { si = $3 }
        /^    responder-spi = / { sr = $3 }
        /^        state = / { cstate = $3 }
        /^        spi-in = / { cin = $3 }
        /^        spi-out = / { cout = $3 }
        END { flush_ike() }' |
        while IFS='|' read -r spis kids; do
            echo "$spis$(echo "$kids" | tr ' ' '\n' | sed '/^$/d' | sort | sed 's/^/ /' | tr -d '\n')"
        done | sort
}

# Waits until both sides show the same non-empty SA set (or both empty with
# "empty"); prints it. Rekeys finish asynchronously, hence the polling.
agree() {  # what [empty]
    local what=$1 want=${2:-} i o t
    for i in $(seq 60); do
        o=$(ours)
        t=$(theirs)
        if [ "$o" = "$t" ]; then
            if [ "$want" = empty ] && [ -z "$o" ]; then
                log "$what: both sides have no SAs"
                return 0
            fi
            # exactly one IKE SA, with exactly one Child SA pair
            if [ "$want" != empty ] && [ -n "$o" ] && [ "$(echo "$o" | wc -l)" = 1 ] &&
                [ "$(echo "$o" | tr ' ' '\n' | grep -c /)" = 1 ]; then
                log "$what: agree on $o"
                AGREED=$o
                return 0
            fi
        fi
        sleep 0.25
    done
    fail "$what: ikeclusterd and strongSwan disagree"
    echo "  ikeclusterd: ${o:-<none>}"
    echo "  strongSwan:  ${t:-<none>}"
    sw cl --list-sas 2>/dev/null | sed 's/^/    /'
    return 1
}

swan_state_ok() {  # what
    local l
    l=$(sw cl --list-sas 2>/dev/null)
    case $l in *ESTABLISHED*) ;; *) fail "$1: strongSwan reports no ESTABLISHED IKE SA" ;; esac
    case $l in *INSTALLED*) ;; *) fail "$1: strongSwan reports no INSTALLED CHILD SA" ;; esac
}

ike_spis() { echo "$1" | cut -d' ' -f1-2; }
child_spis() { echo "$1" | cut -d' ' -f3-; }

# ---- one suite ------------------------------------------------------------------
# run_suite SUITE GW CL LISTEN: LISTEN "bound" binds the one address,
# "wildcard" binds 0.0.0.0 and :: and relies on IP_PKTINFO/IPV6_RECVPKTINFO.
run_suite() {
    local suite=$1 before listen
    GW=$2 CL=$3
    listen="listen = [\"$GW\"]"
    [ "$4" = wildcard ] && listen="# no listen: wildcard sockets"
    log "=== suite $suite, $GW <-> $CL, $4 sockets"
    write_ikec_conf "$suite" "$listen"
    write_swan_conf "$suite"
    sw cl --load-all --file "$LAB/cl/swanctl/swanctl.conf" >"$LAB/cl/load.out" 2>&1 ||
        { cat "$LAB/cl/load.out"; die "swanctl --load-all"; }
    start_ikecd

    log "strongSwan initiates"
    sw cl --initiate --child net --timeout 20 >"$LAB/cl/initiate.out" 2>&1 ||
        fail "$suite: swanctl --initiate failed"
    swan_state_ok "$suite initiated by strongSwan"
    agree "$suite initiated by strongSwan" || return

    before=$AGREED
    log "strongSwan rekeys the IKE SA"
    sw cl --rekey --ike gw >/dev/null 2>&1 || fail "$suite: swanctl --rekey --ike"
    sleep 1
    agree "$suite IKE rekey by strongSwan" || return
    [ "$(ike_spis "$AGREED")" != "$(ike_spis "$before")" ] || fail "$suite: IKE SPIs unchanged after strongSwan's rekey"

    before=$AGREED
    log "strongSwan rekeys the Child SA"
    sw cl --rekey --child net >/dev/null 2>&1 || fail "$suite: swanctl --rekey --child"
    sleep 1
    agree "$suite Child rekey by strongSwan" || return
    [ "$(child_spis "$AGREED")" != "$(child_spis "$before")" ] || fail "$suite: Child SPIs unchanged after strongSwan's rekey"

    before=$AGREED
    log "ikeclusterd rekeys the IKE SA"
    ctl rekey --ike "$(ike_spis "$AGREED" | tr ' ' '_')" >/dev/null || fail "$suite: ikeclusterctl rekey --ike"
    sleep 1
    agree "$suite IKE rekey by ikeclusterd" || return
    [ "$(ike_spis "$AGREED")" != "$(ike_spis "$before")" ] || fail "$suite: IKE SPIs unchanged after our rekey"

    before=$AGREED
    log "ikeclusterd rekeys the Child SA"
    ctl rekey --child "$(child_spis "$AGREED" | cut -d/ -f1)" >/dev/null || fail "$suite: ikeclusterctl rekey --child"
    sleep 1
    agree "$suite Child rekey by ikeclusterd" || return
    [ "$(child_spis "$AGREED")" != "$(child_spis "$before")" ] || fail "$suite: Child SPIs unchanged after our rekey"
    swan_state_ok "$suite after rekeys"

    log "strongSwan terminates"
    sw cl --terminate --ike gw --timeout 10 >/dev/null 2>&1 || fail "$suite: swanctl --terminate"
    agree "$suite terminated by strongSwan" empty || return

    log "ikeclusterd initiates"
    ctl initiate peer >/dev/null || fail "$suite: ikeclusterctl initiate"
    agree "$suite initiated by ikeclusterd" || return
    swan_state_ok "$suite initiated by ikeclusterd"

    log "ikeclusterd terminates"
    ctl terminate --conn peer >/dev/null || fail "$suite: ikeclusterctl terminate"
    agree "$suite terminated by ikeclusterd" empty || return

    log "SIGTERM deletes our IKE SA at strongSwan"
    ctl initiate peer >/dev/null || fail "$suite: ikeclusterctl initiate (2)"
    agree "$suite initiated by ikeclusterd again" || return
    stop_ikecd
    local i gone=0
    for i in $(seq 20); do
        case "$(sw cl --list-sas 2>/dev/null)" in *ESTABLISHED*) sleep 0.2 ;; *) gone=1; break ;; esac
    done
    [ $gone = 1 ] || fail "$suite: strongSwan still has the IKE SA after ikeclusterd's SIGTERM"
    [ -S "$CTL_SOCK" ] && fail "$suite: control socket left behind after exit"
    log "suite $suite done"
}

charon_conf cl
charon_start cl "$NS_cl"

run_suite aes256gcm16-prfsha256-x25519 $GW4 $CL4 bound
stop_ikecd
run_suite aes128-sha256-modp2048 $GW4 $CL4 wildcard
stop_ikecd
run_suite aes256gcm16-prfsha256-x25519 $GW6 $CL6 wildcard
stop_ikecd

# strongSwan must not have complained about anything we did.
errors=$(grep -iE 'error|failed|invalid|unacceptable|NO_PROPOSAL|retransmit|verification' "$LAB/cl/charon.log" || true)
if [ -n "$errors" ]; then
    fail "strongSwan's log shows errors:"
    echo "$errors" | head -20 | sed 's/^/    /'
fi
ike_lines=$(grep -cE 'IKE SA (established|rekeyed|deleted)|Child SA (added|rekeyed|deleted)' "$LAB/ikec/ikeclusterd.log")
log "ikeclusterd logged $ike_lines SA event lines"

if [ $FAILS = 0 ]; then
    echo "PASS: test-daemon-ike"
    exit 0
fi
echo "FAIL: test-daemon-ike ($FAILS failed checks)"
exit 1
