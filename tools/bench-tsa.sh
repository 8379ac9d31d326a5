#!/usr/bin/env bash
# TSA throughput over HTTPS with keep-alive, beside OpenSSL's raw ECDSA P-256 signing rate on the
# same machine in the same run (issue #3, "Benchmarks"; figures go to docs/performance.md).
#
# What it does:
#  1. builds `assize` and `tools/loadgen` in release mode (skip with BENCH_NO_BUILD=1);
#  2. starts a real `assize serve` on a fresh data directory (SQLite, development PKI), pinned to
#     CPU $SERVER_CPU with taskset;
#  3. checks one token end to end with `openssl ts -query` → curl → `openssl ts -verify`;
#  4. for each connection count in $CONNECTIONS, runs the load generator pinned to CPU
#     $CLIENT_CPU for $BENCH_SECONDS seconds and reads the server's CPU time (utime + stime from
#     /proc/PID/stat) before and after;
#  5. runs `openssl speed -seconds $BENCH_SECONDS ecdsap256` pinned to CPU $SERVER_CPU (one core, as
#     the server has);
#  6. prints tokens/s, server CPU per token, and the ratios to the raw signing rate: wall-clock
#     (tokens/s ÷ signs/s) and per server CPU-second (tokens per CPU-second ÷ signs/s).
#
# Usage: tools/bench-tsa.sh            (defaults: CONNECTIONS="32 128" BENCH_SECONDS=12)
#        CONNECTIONS="32" BENCH_SECONDS=10 SERVER_CPU=0 CLIENT_CPU=1 tools/bench-tsa.sh
#        BENCH_ASSIZE=/path/to/other/assize BENCH_NO_BUILD=1 tools/bench-tsa.sh   (compare builds)
set -euo pipefail

CONNECTIONS=${CONNECTIONS:-"32 128"}
SECONDS_PER_RUN=${BENCH_SECONDS:-12}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18443}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release -p assize-server --bin assize -p assize-loadgen --bin loadgen
fi
assize=${BENCH_ASSIZE:-$target/release/assize}
loadgen=${BENCH_LOADGEN:-$target/release/loadgen}

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

ASSIZE_DATA_DIR=$work/data ASSIZE_HTTP__LISTEN=127.0.0.1:$PORT ASSIZE_LOG__LEVEL=warn \
  taskset -c "$SERVER_CPU" "$assize" serve >"$work/server.log" 2>&1 &
server_pid=$!
ca=$work/data/pki/ca.crt
url=https://127.0.0.1:$PORT/tsa
for _ in $(seq 1 100); do
  if [ -f "$ca" ] && curl -sf --cacert "$ca" "$url/certs.pem" -o "$work/tsa-chain.pem"; then
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "the server exited" >&2; exit 1; }
  sleep 0.2
done
[ -s "$work/tsa-chain.pem" ] || { cat "$work/server.log" >&2; echo "the server did not come up on $url" >&2; exit 1; }

# One token, checked by an independent implementation.
echo "benchmark document" >"$work/doc"
openssl ts -query -data "$work/doc" -sha256 -cert -out "$work/q.tsq" 2>/dev/null
curl -sf --cacert "$ca" -H 'Content-Type: application/timestamp-query' \
  --data-binary @"$work/q.tsq" "$url" -o "$work/r.tsr"
openssl ts -verify -in "$work/r.tsr" -queryfile "$work/q.tsq" -CAfile "$ca" >"$work/verify.txt" 2>&1 \
  || { cat "$work/verify.txt" >&2; echo "openssl ts -verify refused the server's token" >&2; exit 1; }
echo "openssl ts -verify: $(cat "$work/verify.txt")"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server pinned to CPU $SERVER_CPU, load generator to CPU $CLIENT_CPU, $SECONDS_PER_RUN s per run"

declare -a results=()
for c in $CONNECTIONS; do
  before=$(cpu_ticks)
  line=$(taskset -c "$CLIENT_CPU" "$loadgen" --url "$url" --ca "$ca" --connections "$c" \
    --seconds "$SECONDS_PER_RUN" --threads 1)
  after=$(cpu_ticks)
  echo "loadgen: $line"
  tokens=$(sed -E 's/.* tokens=([0-9]+).*/\1/' <<<"$line")
  elapsed=$(sed -E 's/.* seconds=([0-9.]+).*/\1/' <<<"$line")
  results+=("$c $tokens $elapsed $((after - before))")
done

speed=$(taskset -c "$SERVER_CPU" openssl speed -seconds "$SECONDS_PER_RUN" ecdsap256 2>/dev/null \
  | awk '/ecdsa \(nistp256\)/ { print $(NF-1) }')
[ -n "$speed" ] || { echo "could not read openssl speed output" >&2; exit 1; }
echo "openssl speed -seconds $SECONDS_PER_RUN ecdsap256 (CPU $SERVER_CPU): $speed signs/s"

printf '\n%-12s %10s %16s %18s %12s %14s\n' connections tokens/s "server CPU (s)" "CPU µs per token" "ratio wall" "ratio per CPU"
for r in "${results[@]}"; do
  read -r c tokens elapsed dticks <<<"$r"
  awk -v c="$c" -v n="$tokens" -v t="$elapsed" -v d="$dticks" -v hz="$ticks" -v s="$speed" 'BEGIN {
    cpu = d / hz; rate = n / t;
    per_cpu = (cpu > 0) ? n / cpu : 0;
    printf "%-12s %10.0f %16.2f %18.1f %12.3f %14.3f\n", c, rate, cpu, (n > 0) ? cpu * 1e6 / n : 0, rate / s, per_cpu / s
  }'
done
