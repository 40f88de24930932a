#!/usr/bin/env bash
# Compares `iomux serve --model epoll --proto http` (1 thread) with nginx
# (1 process, access_log off, `return 200 "Hello, World!"`) under wrk
# -t1 -c100, without pipelining and with 16-deep pipelining.
#
# The server runs on CPU 1, wrk on CPU 0. Runs alternate A B A B; the
# report gives each run and the medians: requests/s, and server CPU time
# per request (utime+stime from /proc/PID/stat around the wrk run).
#
# Also reports wrk's own CPU time per request: wrk -t1 saturates its core
# first, so requests/s is set by what each request costs wrk.
#
# Usage: scripts/bench-nginx.sh [rounds=3] [duration=10s] [connections=100]
# Env: MODE=edge|level (iomux trigger mode, default edge),
#      IOMUX=path to a built binary (default: cargo build --release),
#      IOMUX_ARGS="..." extra `iomux serve` flags (e.g. "--collect-interval 200us"),
#      RT=1 (default when root) runs server and wrk SCHED_FIFO, so that
#      other work on the machine (builds) does not preempt them; RT=0 off.
set -euo pipefail

ROUNDS=${1:-3}
DURATION=${2:-10s}
CONNS=${3:-100}
MODE=${MODE:-edge}
read -r -a EXTRA <<<"${IOMUX_ARGS:-}"
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
source "$HERE/scripts/bench-lib.sh"
bench_setup bench-nginx

need nginx nginx-light
need wrk wrk
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

IOMUX=${IOMUX:-$(build_iomux)}

cat >"$WORK/pipeline.lua" <<'LUA'
-- 16 requests per write; wrk counts each response.
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/plaintext") end
  req = table.concat(r)
end
request = function() return req end
LUA

start_iomux() {
    local port=$1
    pin 1 "$IOMUX" serve --model epoll --mode "$MODE" --proto http \
        --addr "127.0.0.1:$port" --threads 1 "${EXTRA[@]}" >"$WORK/iomux.out" 2>"$WORK/iomux.err" &
    SERVER_PID=$!
    wait_port "$port"
}

start_nginx() {
    local port=$1
    write_nginx_conf "$WORK/nginx" "127.0.0.1:$port"
    pin 1 "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx.err" &
    SERVER_PID=$!
    wait_port "$port"
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# run SERVER SCENARIO -> prints "reqs_per_s cpu_us_per_req wrk_cpu_us_per_req p50_latency errors"
run() {
    local server=$1 scenario=$2 port script=()
    port=$(free_port)
    "start_$server" "$port"
    [[ $scenario == pipeline16 ]] && script=(-s "$WORK/pipeline.lua")
    local before after out wrk_cpu
    before=$(cpu_ticks "$SERVER_PID")
    # wrk's own CPU time too: when it is saturated, its CPU per request
    # sets requests/s, whichever server answers.
    wrk_cpu=$( (pin 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "${script[@]}" \
        "http://127.0.0.1:$port/plaintext" >"$WORK/wrk.out"); children_cpu_s)
    out=$(<"$WORK/wrk.out")
    after=$(cpu_ticks "$SERVER_PID")
    stop_server
    local rps total errors p50
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(wrk_p50 <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    errors=$(awk '/Socket errors|Non-2xx/ {printf "%s; ", $0}' <<<"$out")
    awk -v r="$rps" -v t="$total" -v d="$((after - before))" -v hz="$HZ" -v w="$wrk_cpu" -v l="${p50:-?}" -v e="${errors:-none}" \
        'BEGIN { printf "%.0f %.3f %.3f %s %s\n", r, d / hz * 1e6 / t, w * 1e6 / t, l, (e == "" ? "none" : e) }' | tr -s ' ' ' '
}

echo "# iomux $("$IOMUX" --version) (epoll, $MODE, 1 thread${IOMUX_ARGS:+, $IOMUX_ARGS}) vs $("$NGINX" -v 2>&1 | sed 's/.*: //') (1 process)"
echo "# wrk -t1 -c$CONNS -d$DURATION; server on CPU 1, wrk on CPU 0 (SCHED_FIFO: $RT); $ROUNDS rounds, alternating"
echo "# kernel $(uname -r); $(date -u +%FT%TZ)"
for scenario in plain pipeline16; do
    : >"$WORK/iomux.$scenario" ; : >"$WORK/nginx.$scenario"
    for round in $(seq 1 "$ROUNDS"); do
        for server in iomux nginx; do
            line=$(run "$server" "$scenario")
            echo "$line" >>"$WORK/$server.$scenario"
            read -r rps cpu wrk p50 errs <<<"$line"
            printf '%-11s round %d  %-6s %10s req/s  %7s us CPU/req  wrk %7s us CPU/req  p50 %8s  errors: %s\n' \
                "$scenario" "$round" "$server" "$rps" "$cpu" "$wrk" "$p50" "$errs"
        done
    done
done
echo
printf '%-11s %14s %14s %8s %14s %14s %8s %16s %16s\n' scenario "iomux req/s" "nginx req/s" ratio \
    "iomux us/req" "nginx us/req" ratio "wrk us/req (i)" "wrk us/req (n)"
for scenario in plain pipeline16; do
    ir=$(cut -d' ' -f1 "$WORK/iomux.$scenario" | median)
    nr=$(cut -d' ' -f1 "$WORK/nginx.$scenario" | median)
    ic=$(cut -d' ' -f2 "$WORK/iomux.$scenario" | median)
    nc=$(cut -d' ' -f2 "$WORK/nginx.$scenario" | median)
    iw=$(cut -d' ' -f3 "$WORK/iomux.$scenario" | median)
    nw=$(cut -d' ' -f3 "$WORK/nginx.$scenario" | median)
    awk -v s="$scenario" -v ir="$ir" -v nr="$nr" -v ic="$ic" -v nc="$nc" -v iw="$iw" -v nw="$nw" \
        'BEGIN { printf "%-11s %14.0f %14.0f %7.2fx %14.3f %14.3f %7.2fx %16.3f %16.3f\n", s, ir, nr, ir / nr, ic, nc, ic / nc, iw, nw }'
done
