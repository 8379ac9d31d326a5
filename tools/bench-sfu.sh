#!/usr/bin/env bash
# SFU forwarding under load, against Janus in the same run, and the SFU's memory over many
# connect/disconnect cycles (issue #5, items 7 and 8; figures go to docs/performance.md, "SFU
# forwarding under load").
#
# What it does:
#  1. builds the `sfu_load` benchmark (tests/benches/sfu_load.rs) in release mode (skip with
#     BENCH_NO_BUILD=1);
#  2. runs it pinned to CPU $CLIENT_CPU: it is the load generator, and it starts each server in a
#     process of its own pinned to CPU $SERVER_CPU — Assize (the benchmark re-executed in `serve`
#     mode: the real TLS signaling and SFU) and then Janus (`janus`, videoroom plugin, generated
#     configuration) — and reads the server's CPU time and RSS from /proc;
#  3. prints one row per step (rooms of 6, each forwarding 60 tracks) and the Assize/Janus ratios.
#
# Usage: tools/bench-sfu.sh                   the load, Assize then Janus
#        tools/bench-sfu.sh soak              the soak: server RSS every 50 of 500 cycles
#        ASSIZE_BENCH_ROOMS="1 2 4" ASSIZE_BENCH_SECONDS=10 ASSIZE_BENCH_TARGETS=assize tools/bench-sfu.sh
#        ASSIZE_BENCH_IP=192.0.2.2 tools/bench-sfu.sh   (ICE on this address)
# ICE runs on the machine's first global IPv4 address (traffic to it stays in the kernel, as on
# loopback), for both servers alike: Janus gathers no candidate on 127.0.0.1 (its publishers'
# connections never come up there).
# Janus: `apt-get install -y janus` (Debian 12: 1.1.2). Not needed in CI: CI runs no benchmark.
set -euo pipefail

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ " ${ASSIZE_BENCH_TARGETS:-assize janus} " == *" janus "* && "${1:-}" != soak ]]; then
  command -v janus >/dev/null || { echo "janus is not installed: apt-get install -y janus" >&2; exit 1; }
fi
command -v taskset >/dev/null || { echo "taskset is missing (util-linux)" >&2; exit 1; }

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo bench -p assize-tests --bench sfu_load --no-run
fi
exe=$(cargo bench -p assize-tests --bench sfu_load --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*sfu_load[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$exe" ] || { echo "could not find the sfu_load benchmark binary" >&2; exit 1; }

if [ -z "${ASSIZE_BENCH_IP:-}" ]; then
  ASSIZE_BENCH_IP=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ print $4 }' | cut -d/ -f1 | head -1)
  ASSIZE_BENCH_IP=${ASSIZE_BENCH_IP:-127.0.0.1}
fi
export ASSIZE_BENCH_IP

echo "uptime: $(uptime)"
echo "command: ASSIZE_BENCH_IP=$ASSIZE_BENCH_IP ASSIZE_BENCH_SERVER_CPU=$SERVER_CPU taskset -c $CLIENT_CPU $(basename "$exe") $*"
ASSIZE_BENCH_SERVER_CPU=$SERVER_CPU taskset -c "$CLIENT_CPU" "$exe" "$@"
echo "uptime: $(uptime)"
