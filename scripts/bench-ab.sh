#!/usr/bin/env bash
# Compares two builds of `iomux serve --model epoll --proto http` (1 thread)
# under wrk -t1, alternating A B A B, without pipelining and with 16-deep
# pipelining: requests/s and server CPU time per request, medians and B/A
# ratios measured in one run. For "did this change cost anything" checks.
#
# The server runs on CPU 1, wrk on CPU 0 (SCHED_FIFO when root, see
# bench-lib.sh).
#
# Usage: scripts/bench-ab.sh A_BINARY B_BINARY [rounds=3] [duration=10s] [connections=100]
# Env: MODE=edge|level (default edge).
set -euo pipefail

A=${1:?usage: bench-ab.sh A_BINARY B_BINARY [rounds] [duration] [connections]}
B=${2:?usage: bench-ab.sh A_BINARY B_BINARY [rounds] [duration] [connections]}
ROUNDS=${3:-3}
DURATION=${4:-10s}
CONNS=${5:-100}
MODE=${MODE:-edge}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
source "$HERE/scripts/bench-lib.sh"
bench_setup bench-ab
need wrk wrk

cat >"$WORK/pipeline.lua" <<'LUA'
-- 16 requests per write; wrk counts each response.
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/plaintext") end
  req = table.concat(r)
end
request = function() return req end
LUA

# run BINARY SCENARIO -> prints "reqs_per_s cpu_us_per_req"
run() {
    local bin=$1 scenario=$2 port script=()
    port=$(free_port)
    pin 1 "$bin" serve --model epoll --mode "$MODE" --proto http \
        --addr "127.0.0.1:$port" --threads 1 >/dev/null 2>"$WORK/server.err" &
    SERVER_PID=$!
    wait_port "$port"
    [[ $scenario == pipeline16 ]] && script=(-s "$WORK/pipeline.lua")
    local before after
    before=$(cpu_ticks "$SERVER_PID")
    (pin 0 wrk -t1 -c"$CONNS" -d"$DURATION" "${script[@]}" \
        "http://127.0.0.1:$port/plaintext" >"$WORK/wrk.out")
    after=$(cpu_ticks "$SERVER_PID")
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    awk -v d="$((after - before))" -v hz="$HZ" '
        /^Requests\/sec:/ { r = $2 } /requests in/ { t = $1 }
        END { printf "%.0f %.3f\n", r, d / hz * 1e6 / t }' "$WORK/wrk.out"
}

echo "# A: $A"
echo "# B: $B"
echo "# epoll, $MODE, 1 thread; wrk -t1 -c$CONNS -d$DURATION; server on CPU 1, wrk on CPU 0 (SCHED_FIFO: $RT); $ROUNDS rounds, alternating"
echo "# kernel $(uname -r); $(date -u +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for scenario in plain pipeline16; do
    : >"$WORK/A.$scenario"
    : >"$WORK/B.$scenario"
    for round in $(seq 1 "$ROUNDS"); do
        for side in A B; do
            bin=$A
            [[ $side == B ]] && bin=$B
            line=$(run "$bin" "$scenario")
            echo "$line" >>"$WORK/$side.$scenario"
            read -r rps cpu <<<"$line"
            printf '%-11s round %d  %s %10s req/s  %7s us CPU/req\n' "$scenario" "$round" "$side" "$rps" "$cpu"
        done
    done
done
echo
printf '%-11s %12s %12s %7s %10s %10s %7s\n' scenario "A req/s" "B req/s" "B/A" "A us/req" "B us/req" "B/A"
for scenario in plain pipeline16; do
    ar=$(cut -d' ' -f1 "$WORK/A.$scenario" | median)
    br=$(cut -d' ' -f1 "$WORK/B.$scenario" | median)
    ac=$(cut -d' ' -f2 "$WORK/A.$scenario" | median)
    bc=$(cut -d' ' -f2 "$WORK/B.$scenario" | median)
    awk -v s="$scenario" -v ar="$ar" -v br="$br" -v ac="$ac" -v bc="$bc" \
        'BEGIN { printf "%-11s %12.0f %12.0f %6.2fx %10.3f %10.3f %6.2fx\n", s, ar, br, br / ar, ac, bc, bc / ac }'
done
