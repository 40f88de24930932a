#!/usr/bin/env bash
# What `iomux serve --collect-interval` trades: requests/s, server CPU per
# request and wrk's median latency, at several interval settings and
# connection counts, for `iomux serve --model epoll --mode edge --proto
# http` (1 thread) under `wrk -t1 -cC`.
#
# The server runs on CPU 1, wrk on CPU 0. For each connection count the
# intervals alternate within each round; the report gives the medians and
# each figure relative to interval 0 (no collecting).
#
# Usage: scripts/bench-collect.sh [rounds=3] [duration=5s] ["intervals"] ["connection counts"]
#   e.g. scripts/bench-collect.sh 3 5s "0 30us 100us 200us" "1 10 100"
# Env: IOMUX=path to a built binary (default: cargo build --release),
#      RT=1 (default when root) runs server and wrk SCHED_FIFO; RT=0 off.
set -euo pipefail

ROUNDS=${1:-3}
DURATION=${2:-5s}
read -r -a INTERVALS <<<"${3:-0 100us 200us}"
read -r -a CONNS <<<"${4:-1 10 100}"
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
source "$HERE/scripts/bench-lib.sh"
bench_setup bench-collect

need wrk wrk
IOMUX=${IOMUX:-$(build_iomux)}

# run CONNS INTERVAL -> prints "reqs_per_s cpu_us_per_req p50_us"
run() {
    local conns=$1 interval=$2 port out before after
    port=$(free_port)
    pin 1 "$IOMUX" serve --model epoll --mode edge --proto http --addr "127.0.0.1:$port" \
        --threads 1 --collect-interval "$interval" >"$WORK/iomux.out" 2>"$WORK/iomux.err" &
    SERVER_PID=$!
    wait_port "$port"
    before=$(cpu_ticks "$SERVER_PID")
    out=$(pin 0 wrk -t1 -c"$conns" -d"$DURATION" --latency "http://127.0.0.1:$port/plaintext")
    after=$(cpu_ticks "$SERVER_PID")
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    if grep -q "Socket errors\|Non-2xx" <<<"$out"; then
        echo "wrk reported errors at -c$conns, interval $interval:" >&2
        grep "Socket errors\|Non-2xx" <<<"$out" >&2
        exit 1
    fi
    local rps total p50
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    p50=$(wrk_p50 <<<"$out" | to_us)
    awk -v r="$rps" -v t="$total" -v d="$((after - before))" -v hz="$HZ" -v l="$p50" \
        'BEGIN { printf "%.0f %.3f %s\n", r, d / hz * 1e6 / t, l }'
}

echo "# iomux $("$IOMUX" --version) (epoll, edge, 1 thread), --collect-interval ${INTERVALS[*]}"
echo "# wrk -t1 -c{${CONNS[*]}} -d$DURATION; server on CPU 1, wrk on CPU 0 (SCHED_FIFO: $RT); $ROUNDS rounds, alternating"
echo "# kernel $(uname -r); $(date -u +%FT%TZ)"
for c in "${CONNS[@]}"; do
    for round in $(seq 1 "$ROUNDS"); do
        for i in "${INTERVALS[@]}"; do
            line=$(run "$c" "$i")
            echo "$line" >>"$WORK/c$c.i$i"
            read -r rps cpu p50 <<<"$line"
            printf 'c=%-4s round %d  interval %-6s %9s req/s  %7s us CPU/req  p50 %9s us\n' \
                "$c" "$round" "$i" "$rps" "$cpu" "$p50"
        done
    done
done
echo
printf '%-6s %-9s %10s %8s %11s %8s %10s %8s\n' conns interval req/s ratio "CPU us/req" ratio "p50 us" ratio
for c in "${CONNS[@]}"; do
    base=""
    for i in "${INTERVALS[@]}"; do
        r=$(cut -d' ' -f1 "$WORK/c$c.i$i" | median)
        u=$(cut -d' ' -f2 "$WORK/c$c.i$i" | median)
        l=$(cut -d' ' -f3 "$WORK/c$c.i$i" | median)
        [[ -z $base ]] && base="$r $u $l"
        read -r br bu bl <<<"$base"
        awk -v c="$c" -v i="$i" -v r="$r" -v u="$u" -v l="$l" -v br="$br" -v bu="$bu" -v bl="$bl" \
            'BEGIN { printf "%-6s %-9s %10.0f %7.2fx %11.3f %7.2fx %10.1f %7.2fx\n", c, i, r, r / br, u, u / bu, l, l / bl }'
    done
done
