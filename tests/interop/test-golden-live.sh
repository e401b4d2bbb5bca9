#!/usr/bin/env bash
# Live interop check of the codec and crypto against a real strongSwan 5.9.8:
# captures fresh IKE_SA_INIT + IKE_AUTH exchanges between two charons (one per
# suite), then golden_check decodes every message, re-encodes it byte-exactly,
# derives SKEYSEED and SK_* from the DH secret, nonces and SPIs and compares them
# with what charon logged, decrypts both IKE_AUTH messages and verifies both
# AUTH payloads with the PSK. Needs root; builds golden_check if IKEC_BUILD is
# not set (scripts/test sets it to the Release build).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

build=${IKEC_BUILD:-}
if [ -z "$build" ]; then
    "$root/scripts/install-deps" >/dev/null || exit 1
    build=$root/build/release
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$build" --target golden_check >/dev/null || { echo "FAIL: build"; exit 1; }
fi
checker=$build/tests/golden/golden_check
[ -x "$checker" ] || { echo "FAIL: $checker not built"; exit 1; }

out=$(mktemp -d /tmp/ikec-golden-live.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$here/capture-golden.sh" "$out" || { echo "FAIL: capture from strongSwan"; exit 1; }
"$checker" "$out"/*.txt
