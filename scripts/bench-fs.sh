#!/usr/bin/env bash
# File throughput (issue 30): iomux::rt::fs on the epoll driver (the
# blocking pool) and the io_uring driver (reads and writes as requests of the
# runtime's ring) against tokio::fs
# (current_thread), one 256 MiB file written then read back sequentially in
# 1 MiB chunks, rounds alternating the engines' order; medians and ratios.
#
#   scripts/bench-fs.sh [ROUNDS=5] [MIB=256]
# Env: CHUNK_KIB=1024, DIR=/tmp (where the file goes), FSYNC=1 (sync_all at
#      the end of each write pass: then the disk is measured too),
#      NICE=0 (niceness of the run), CPU= (taskset cores, e.g. 1 or 0,1;
#      empty, the default: not pinned, the runtime and the pool threads
#      spread over the cores as they would in use).
set -euo pipefail
ROUNDS=${1:-${ROUNDS:-5}}
MIB=${2:-${MIB:-256}}
CHUNK_KIB=${CHUNK_KIB:-1024}
DIR=${DIR:-${TMPDIR:-/tmp}}
NICE=${NICE:-0}
CPU=${CPU:-}
cd "$(dirname "$0")/.."
cargo build --release -q -p iomux --example bench_fs
args=(--rounds "$ROUNDS" --mib "$MIB" --chunk-kib "$CHUNK_KIB" --dir "$DIR")
[ "${FSYNC:-0}" = 1 ] && args+=(--fsync)
pin=()
[ -n "$CPU" ] && command -v taskset >/dev/null && pin=(taskset -c "$CPU")
date -u +"# %Y-%m-%dT%H:%MZ $(uname -r)"
exec nice -n "$NICE" "${pin[@]}" target/release/examples/bench_fs "${args[@]}"
