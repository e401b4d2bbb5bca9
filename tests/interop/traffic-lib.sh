# Shared by test-daemon-traffic.sh and test-daemon-ipv6.sh, which differ in
# the outer addresses only up to here: sourced after lab_init with GW, CL and
# the namespaces set. Defines PSK, FAILS, fail() and the helpers that write
# configurations, start daemons, wait for Child SAs and move traffic; then
# starts strongSwan in ns cl and sets GWD.
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

. "$here/daemon-lib.sh"

# ---- traffic checks ---------------------------------------------------------------

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
