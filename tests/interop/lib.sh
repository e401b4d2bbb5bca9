# Shared helpers for ikecluster's interop tests (sourced, not run).
#
# Each test builds its own lab: network namespaces it creates itself, joined by
# veth pairs, using only documentation address ranges (RFC 5737 / RFC 3849).
# Every process a test starts is recorded with its PID and stopped by PID at
# exit; namespaces and the temp directory are removed. Nothing else on the
# machine is touched.
#
#   lab_init NAME           temp dir $LAB, EXIT trap for cleanup
#   lab_ns NS...            create namespaces (names get a per-run suffix: $NS_<name>)
#   lab_link A B ADDR_A ADDR_B   veth between namespaces A and B (/24 or /64)
#   lab_track KIND PID      remember a process to stop at exit
#   charon_conf NAME EXTRA  write $LAB/NAME/strongswan.conf (+ swanctl dirs)
#   charon_start NAME NS    run charon with that config inside NS
#   sw NAME ARGS...         swanctl against that charon's vici socket

set -uo pipefail

LAB=""
LAB_NS=()
LAB_PIDS=()
LAB_KEEP=${KEEP_LOGS:-0}
CHARON=/usr/lib/ipsec/charon

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
die() {
    echo "FAIL: $*" >&2
    exit 1
}

need_root() { [ "$(id -u)" = 0 ] || die "interop tests need root (network namespaces)"; }

lab_init() {
    need_root
    [ -x "$CHARON" ] || die "strongSwan not installed: run scripts/install-deps"
    [ -c /dev/net/tun ] || die "/dev/net/tun missing (strongSwan's kernel-libipsec needs TUN)"
    LAB=$(mktemp -d "/tmp/ikec-$1.XXXXXX")
    LAB_SUFFIX=$(basename "$LAB" | sed 's/.*\.//' | tr 'A-Z' 'a-z' | cut -c1-5)
    trap lab_cleanup EXIT
    trap 'exit 130' INT TERM
}

lab_track() { LAB_PIDS+=("$1:$2"); }

# Stops a PID only if its command line still names what we started.
lab_stop_pid() {
    local kind=$1 pid=$2 i
    [ -r "/proc/$pid/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$kind" || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do
        [ -e "/proc/$pid" ] || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    return 0
}

lab_cleanup() {
    local rc=$? entry ns
    for entry in "${LAB_PIDS[@]}"; do lab_stop_pid "${entry%%:*}" "${entry##*:}"; done
    for ns in "${LAB_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ -n "$LAB" ] && [ -d "$LAB" ]; then
        if [ "$LAB_KEEP" = 1 ] || [ $rc != 0 ]; then
            echo "logs kept in $LAB"
        else
            rm -rf "$LAB"
        fi
    fi
    return $rc
}

# lab_ns gw client  ->  NS_gw=ikgw-xxxxx NS_client=ikclient-xxxxx
lab_ns() {
    local n ns
    for n in "$@"; do
        ns="ik${n}-${LAB_SUFFIX}"
        ip netns add "$ns" || die "ip netns add $ns"
        LAB_NS+=("$ns")
        ip -n "$ns" link set lo up
        eval "NS_$n=$ns"
    done
}

# lab_link gw client 198.51.100.1/24 198.51.100.2/24 [IF_A IF_B]
lab_link() {
    local a=$1 b=$2 addr_a=$3 addr_b=$4 ns_a ns_b if_a if_b
    eval "ns_a=\$NS_$a; ns_b=\$NS_$b"
    if_a=${5:-v-$b}
    if_b=${6:-v-$a}
    ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b" || die "veth"
    ip -n "$ns_a" addr add "$addr_a" dev "$if_a" nodad 2>/dev/null || ip -n "$ns_a" addr add "$addr_a" dev "$if_a"
    ip -n "$ns_b" addr add "$addr_b" dev "$if_b" nodad 2>/dev/null || ip -n "$ns_b" addr add "$addr_b" dev "$if_b"
    ip -n "$ns_a" link set "$if_a" up
    ip -n "$ns_b" link set "$if_b" up
}

# charon_conf NAME "extra charon options"  (log levels via CHARON_LOG, default ike=2)
charon_conf() {
    local n=$1 extra=${2:-} d=$LAB/$1 s
    mkdir -p "$d/run" "$d/swanctl"
    for s in x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12; do
        mkdir -p "$d/swanctl/$s"
    done
    cat >"$d/strongswan.conf" <<CONF
charon {
  $extra
  # kernel-libipsec before kernel-netlink: userspace ESP over TUN, since this
  # kernel has no XFRM ESP.
  load = random nonce openssl aes sha1 sha2 hmac gcm curve25519 gmp kdf pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici updown
  ikesa_table_size = 1024
  ikesa_table_segments = 16
  block_threshold = 100000
  install_virtual_ip = no
  filelog {
    lab {
      path = $d/charon.log
      time_format = %T
      default = 1
      ${CHARON_LOG:-ike = 2}
      flush_line = yes
    }
  }
  syslog { daemon { default = -1 } }
  plugins { vici { socket = unix://$d/charon.vici } }
}
CONF
}

# charon's pid file path is fixed (/run/charon.pid): give each instance its own
# /run through a bind mount inside the namespace's private mount namespace.
charon_start() {
    local n=$1 ns=$2 d=$LAB/$1 pid i
    STRONGSWAN_CONF=$d/strongswan.conf \
        ip netns exec "$ns" sh -c "mount --bind '$d/run' /run && exec $CHARON" \
        >"$d/stdout" 2>&1 </dev/null &
    pid=$!
    lab_track "$CHARON" "$pid"
    for i in $(seq 100); do
        [ -S "$d/charon.vici" ] && return 0
        sleep 0.1
    done
    tail -20 "$d/stdout" "$d/charon.log" 2>/dev/null
    die "charon $n did not start"
}

sw() {
    local n=$1
    shift
    STRONGSWAN_CONF=$LAB/$n/strongswan.conf swanctl "$@" --uri "unix://$LAB/$n/charon.vici"
}

# ikec_programs ROOT TOOL...: skips (exit 77) unless root, strongSwan and each
# TOOL are there; sets IKECD and IKECTL, building the Release tree unless
# IKEC_BUILD names a build directory (scripts/test sets it).
ikec_programs() {
    local root=$1 t build
    shift
    [ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
    [ -x "$CHARON" ] && command -v swanctl >/dev/null ||
        { echo "SKIP: strongSwan not installed (scripts/install-deps)"; exit 77; }
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "SKIP: $t missing (scripts/install-deps)"; exit 77; }
    done
    build=${IKEC_BUILD:-}
    if [ -z "$build" ]; then
        build=$root/build/release
        cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
            cmake --build "$build" --target ikeclusterd ikeclusterctl >/dev/null ||
            { echo "FAIL: build"; exit 1; }
    fi
    build=$(cd "$build" && pwd)  # absolute: keepalived runs our scripts from /
    IKECD=$build/apps/ikeclusterd/ikeclusterd
    IKECTL=$build/apps/ikeclusterctl/ikeclusterctl
    [ -x "$IKECD" ] && [ -x "$IKECTL" ] || { echo "FAIL: $IKECD / $IKECTL not built"; exit 1; }
}

# ikecd_start NS DIR: runs ikeclusterd inside NS on DIR/ikecluster.toml
# (whose control_socket must be DIR/ctl.sock), logging to
# DIR/ikeclusterd.log, and waits for its control socket; sets IKECD_PID.
# A socket left by a process killed with -9 is removed first, so the wait
# sees the new daemon's.
ikecd_start() {
    local ns=$1 d=$2 i
    rm -f "$d/ctl.sock"
    ip netns exec "$ns" "$IKECD" --config "$d/ikecluster.toml" --foreground \
        >>"$d/ikeclusterd.log" 2>&1 </dev/null &
    IKECD_PID=$!
    lab_track "$IKECD" "$IKECD_PID"
    for i in $(seq 50); do
        [ -S "$d/ctl.sock" ] && return 0
        sleep 0.1
    done
    tail -20 "$d/ikeclusterd.log"
    die "ikeclusterd did not start ($d)"
}
