# Running ikeclusterd instances in a test's namespaces, by config directory:
# start_ikecd NS DIR, stop_ikecd DIR (SIGTERM, waits up to 5 s), ctl NS DIR
# ARGS... (ikeclusterctl on that instance), wait_for_child NS DIR WHAT (up to
# 20 s for a Child SA; calls the script's fail on timeout). Sourced after
# lib.sh by test-daemon-traffic.sh, test-daemon-ipv6.sh (via traffic-lib.sh)
# and test-daemon-transport.sh.
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
