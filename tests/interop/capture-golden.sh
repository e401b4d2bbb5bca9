#!/usr/bin/env bash
# Captures real IKEv2 exchanges between two strongSwan 5.9.8 daemons and writes
# golden files for the codec and crypto tests:
#
#   tests/interop/capture-golden.sh OUTDIR
#
# For each suite (aes256gcm16-prfsha256-x25519, aes128-sha256-modp2048) the
# client charon initiates one IKE SA to the gateway charon; tshark records the
# IKE datagrams on the veth, and the client's charon log (ike level 4) gives
# the Diffie-Hellman secret and the SK_* keys it derived. Each suite becomes
# OUTDIR/<suite>.txt with the messages in wire order (ports 500 and 4500, the
# non-ESP marker removed) and the logged secrets, so a test can decode,
# re-encode, derive the keys with our code and decrypt IKE_AUTH.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

OUT=${1:?usage: capture-golden.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SUITES=(aes256gcm16-prfsha256-x25519 aes128-sha256-modp2048)
ESP=(aes256gcm16 aes128-sha256)

lab_init golden
lab_ns gw cl
lab_link gw cl 198.51.100.1/24 198.51.100.2/24
ip -n "$NS_gw" addr add 203.0.113.1/32 dev lo
ip -n "$NS_cl" addr add 192.0.2.1/32 dev lo

PSK="golden-capture-psk-$(date +%s)"
CHARON_LOG='ike = 4
      lib = 1' charon_conf gw
CHARON_LOG='ike = 4
      lib = 1' charon_conf cl "reuse_ikesa = no"

conns() {  # local remote local_id remote_id local_ts remote_ts
    local i out=""
    for i in "${!SUITES[@]}"; do
        out+="
  c$i {
    version = 2
    local_addrs = $1
    remote_addrs = $2
    encap = yes
    proposals = ${SUITES[$i]}
    local { auth = psk
            id = $3 }
    remote { auth = psk
             id = $4 }
    children {
      net { local_ts = $5
            remote_ts = $6
            esp_proposals = ${ESP[$i]}
            start_action = none }
    }
  }"
    done
    echo "$out"
}
for side in gw cl; do
    if [ $side = gw ]; then
        c=$(conns 198.51.100.1 198.51.100.2 gw.golden.example cl.golden.example 203.0.113.0/24 192.0.2.0/24)
    else
        c=$(conns 198.51.100.2 198.51.100.1 cl.golden.example gw.golden.example 192.0.2.0/24 203.0.113.0/24)
    fi
    cat >"$LAB/$side/swanctl/swanctl.conf" <<CONF
connections {
$c
}
secrets {
  ike-golden {
    id-gw = gw.golden.example
    id-cl = cl.golden.example
    secret = "$PSK"
  }
}
CONF
done
# The gateway only accepts what the client offers for the suite at hand, so
# one gateway connection must accept both: give it both proposals.
sed -i -e "s/ proposals = ${SUITES[0]}\$/ proposals = ${SUITES[0]},${SUITES[1]}/" \
    -e "s/esp_proposals = ${ESP[0]}\$/esp_proposals = ${ESP[0]},${ESP[1]}/" "$LAB/gw/swanctl/swanctl.conf"

charon_start gw "$NS_gw"
charon_start cl "$NS_cl"
for n in gw cl; do
    sw $n --load-all --file "$LAB/$n/swanctl/swanctl.conf" >"$LAB/$n/load.out" 2>&1 ||
        { cat "$LAB/$n/load.out"; die "swanctl --load-all ($n)"; }
done

PCAP=$LAB/ike.pcap
ip netns exec "$NS_cl" tshark -q -i v-gw -f 'udp port 500 or udp port 4500' -w "$PCAP" \
    >"$LAB/tshark.out" 2>&1 </dev/null &
TSHARK=$!
lab_track tshark $TSHARK
for i in $(seq 100); do
    grep -q 'Capturing on' "$LAB/tshark.out" 2>/dev/null && break
    sleep 0.1
done
sleep 0.5

for i in "${!SUITES[@]}"; do
    log "initiating ${SUITES[$i]}"
    sw cl --initiate --child net --ike c$i --timeout 20 >"$LAB/init$i.out" 2>&1 ||
        { cat "$LAB/init$i.out"; die "initiate ${SUITES[$i]} failed"; }
    grep -q "CHILD_SA net{.*} established" "$LAB/init$i.out" ||
        { cat "$LAB/init$i.out"; die "no CHILD_SA for ${SUITES[$i]}"; }
done
sleep 0.5
kill -INT $TSHARK 2>/dev/null
wait $TSHARK 2>/dev/null

# One line per UDP datagram: srcport dstport payload-hex
tshark -r "$PCAP" -T fields -e udp.srcport -e udp.dstport -e udp.payload >"$LAB/datagrams.txt" 2>/dev/null ||
    die "tshark could not read the capture"

# Secrets the client's charon logged, in the order the IKE SAs were set up.
# A %B dump is "NAME => N bytes @ 0x..." followed by lines "  OFF: XX XX ...".
awk '
    / => [0-9]+ bytes @ / {
        name = $0; sub(/ => .*/, "", name); sub(/.*\[IKE\] /, "", name)
        want = $0; sub(/.* => /, "", want); sub(/ bytes.*/, "", want); want += 0; got = ""; next
    }
    want > 0 && /\[IKE\] +[0-9]+: / {
        line = $0; sub(/.*\[IKE\] +[0-9]+: /, "", line)
        n = split(substr(line, 1, 48), b, " ")
        for (k = 1; k <= n && length(got) / 2 < want; k++) got = got tolower(b[k])
        if (length(got) / 2 == want) { print name " = " got; want = 0 }
        next
    }
    { want = 0 }
' "$LAB/cl/charon.log" | grep -E '^(shared Diffie Hellman secret|SKEYSEED|Sk_[a-z]+ secret) = ' \
    >"$LAB/secrets.txt"

n_sets=$(grep -c '^SKEYSEED' "$LAB/secrets.txt")
[ "$n_sets" -ge ${#SUITES[@]} ] || { cat "$LAB/secrets.txt"; die "expected ${#SUITES[@]} key sets in the charon log, found $n_sets"; }

version=$(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null)
for i in "${!SUITES[@]}"; do
    f=$OUT/${SUITES[$i]}.txt
    {
        echo "# IKEv2 exchange captured from strongSwan $version (Debian) by"
        echo "# tests/interop/capture-golden.sh: client charon (initiator) -> gateway charon."
        echo "# msg lines: direction, UDP destination port, IKE message in hex (port 4500:"
        echo "# non-ESP marker removed). Secrets: from the client's charon log (ike level 4)."
        echo "suite = ${SUITES[$i]}"
        echo "esp = ${ESP[$i]}"
        echo "psk = $PSK"
        echo "id_i = cl.golden.example"
        echo "id_r = gw.golden.example"
        # the i-th set of secrets (each set starts with the DH secret)
        awk -v want=$((i + 1)) '/^shared Diffie Hellman secret/ { set++ } set == want' "$LAB/secrets.txt" |
            sed -e 's/^shared Diffie Hellman secret/dh_secret/' -e 's/^SKEYSEED/skeyseed/' \
                -e 's/^Sk_\([a-z]*\) secret/sk_\1/'
    } >"$f"
done

# Datagrams: IKE SA k (in order of first appearance of its SPIi) goes to suite k.
awk -v out="$OUT" -v s0="${SUITES[0]}" -v s1="${SUITES[1]}" '
    {
        sport = $1; dport = $2; hex = $3
        if (dport == 4500 || sport == 4500) {
            if (substr(hex, 1, 8) != "00000000") next   # ESP or keepalive
            hex = substr(hex, 9)
        }
        if (length(hex) < 56) next
        spi = substr(hex, 1, 16)
        if (!(spi in idx)) idx[spi] = n++
        if (idx[spi] > 1) next
        file = out "/" (idx[spi] == 0 ? s0 : s1) ".txt"
        flags = substr(hex, 39, 2)
        d = (flags == "08" || flags == "28") ? "i>r" : "r>i"
        print "msg = " d " " dport " " hex >> file
    }
' "$LAB/datagrams.txt"

for i in "${!SUITES[@]}"; do
    f=$OUT/${SUITES[$i]}.txt
    n=$(grep -c '^msg = ' "$f")
    log "$f: $n messages, $(grep -c '^sk_' "$f") keys"
    [ "$n" -ge 4 ] || die "expected at least 4 IKE messages for ${SUITES[$i]}, got $n"
done
log "capture done"
