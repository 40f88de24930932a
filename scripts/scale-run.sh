#!/usr/bin/env bash
# A big multi-process run: `iomux serve --workers W` (epoll, echo) pinned to
# CPU 1 and `iomux load --procs P --conns N --active K` pinned to CPU 0 (as
# in the other benchmarks), with
# /proc/meminfo and /proc/net/sockstat sampled before and while the
# connections are up (the peak of a 1 s sampler).
#
#   scripts/scale-run.sh N [W] [P] [K]     e.g. scripts/scale-run.sh 1000000 60 60 100
#
# Each process may hold 20,000 fds here, so W and P must each be at least
# N / 19,936 (the reuseport hash is uneven: leave the workers some room).
set -euo pipefail
N=${1:?connections}
W=${2:-$(( (N + 15999) / 16000 ))}
P=${3:-$W}
K=${4:-100}
BIN=${BIN:-target/release/iomux}
[ -x "$BIN" ] || cargo build --release -p iomux-cli
OUT=$(mktemp -d)
mem() { awk '/^(MemAvailable|Slab|SUnreclaim):/ {printf "%s %d kB  ", $1, $2}' /proc/meminfo; \
        awk '/^TCP:/ {printf "TCP inuse %d mem %d pages", $3, $11}' /proc/net/sockstat; echo; }
echo "before:  $(mem)"
taskset -c 1 "$BIN" serve --workers "$W" --model epoll --proto echo --addr 127.0.0.1:0 \
    >"$OUT/serve.out" 2>"$OUT/serve.err" &
SERVE=$!
for _ in $(seq 300); do grep -q '^listening on' "$OUT/serve.out" && break; sleep 0.1; done
ADDR=$(sed -n 's/^listening on //p' "$OUT/serve.out")
[ -n "$ADDR" ] || { echo "no ready line"; cat "$OUT/serve.err"; kill "$SERVE"; exit 1; }
( while sleep 1; do
    inuse=$(awk '/^TCP:/ {print $3}' /proc/net/sockstat)
    echo "$inuse $(mem)"
  done ) >"$OUT/samples" &
SAMPLER=$!
start=$(date +%s.%N)
taskset -c 0 "$BIN" load --addr "$ADDR" --proto echo --procs "$P" --conns "$N" --active "$K" \
    --connect-rate 30000 --warmup 2 --duration 10 --progress 2>"$OUT/load.err" | tee "$OUT/load.out" || echo "load failed: $(tail -1 "$OUT/load.err")"
end=$(date +%s.%N)
kill "$SAMPLER"
echo "peak:    $(sort -n "$OUT/samples" | tail -1 | cut -d' ' -f2-)"
echo "load wall time: $(echo "$end - $start" | bc) s"
grep -v '^iomux: connected' "$OUT/load.err" | tail -5 || true
kill -TERM "$SERVE"; wait "$SERVE" || true
tail -1 "$OUT/serve.err"
echo "after:   $(mem)"
echo "logs in $OUT"
