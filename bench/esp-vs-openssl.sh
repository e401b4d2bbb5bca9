#!/usr/bin/env bash
# Our in-process ESP seal and open rate at 1400-octet packets (AES-256-GCM,
# the suite the interop tests use) against `openssl speed -evp aes-256-gcm`
# on the same buffer size: the crypto ceiling. Prints both and the ratios.
#
#   bench/esp-vs-openssl.sh [BUILD_DIR]     (default build/release)
set -euo pipefail
build=${1:-build/release}
bench=$build/bench/esp_bench
[ -x "$bench" ] || { echo "no $bench: build the Release tree first (scripts/test does)" >&2; exit 1; }

# openssl speed prints "aes-256-gcm  <rate>k" in thousands of bytes per second.
ceiling_k=$(openssl speed -evp aes-256-gcm -bytes 1400 -seconds 3 2>/dev/null |
    awk 'tolower($1) == "aes-256-gcm" { v = $NF; sub(/k$/, "", v); print v }')
ceiling=$(awk -v k="$ceiling_k" 'BEGIN { printf "%.0f", k * 1000 }')

json=$("$bench" --benchmark_filter='Esp(Seal|Open)/AesGcm256/1400$' --benchmark_min_time=1 \
    --benchmark_format=json 2>/dev/null)
# esp_bench reports a "Gbit/s" counter (payload bits per CPU second).
seal=$(jq -r '.benchmarks[] | select(.name | startswith("EspSeal")) | .["Gbit/s"] * 1e9 / 8' <<<"$json")
open=$(jq -r '.benchmarks[] | select(.name | startswith("EspOpen")) | .["Gbit/s"] * 1e9 / 8' <<<"$json")

awk -v c="$ceiling" -v s="$seal" -v o="$open" 'BEGIN {
    printf "AES-256-GCM, 1400-octet packets, one core\n"
    printf "  openssl speed -evp aes-256-gcm : %7.2f Gbit/s (crypto ceiling)\n", c * 8 / 1e9
    printf "  ESP seal (OutboundSa::seal)    : %7.2f Gbit/s  = %.2f x ceiling\n", s * 8 / 1e9, s / c
    printf "  ESP open (InboundSa::open)     : %7.2f Gbit/s  = %.2f x ceiling\n", o * 8 / 1e9, o / c
}'
