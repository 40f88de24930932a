#!/usr/bin/env bash
# io_uring vs epoll (edge) echo: requests/s and server CPU per request.
#
# Each run starts `iomux serve` pinned to CPU 1 and `iomux load` pinned to
# CPU 0 (server and load never share a core), for N connections all active,
# at each N in CONNS. Runs alternate between the two models, so that drift in
# the machine's load hits both alike; the table gives medians over RUNS, and
# the ratio line the median of the per-pair ratios (each uring run against
# the epoll run right after it), which cancels most of that drift.
# Server CPU is utime+stime from /proc/PID/stat, sampled over the
# measurement window only (after the warm-up).
#
# Usage: scripts/bench-uring.sh [RUNS] [DURATION_S]
#   CONNS="1000 10" SIZE=64 NICE=-10 CLIENT=load|uring scripts/bench-uring.sh 5 5
# CLIENT=load (default) drives the servers with `iomux load` (epoll, two
# system calls per request); CLIENT=uring with examples/uring_echo_client.rs
# (io_uring, none per request), a cheaper client that leaves the servers,
# not itself, as the bottleneck.
# NICE (root only) raises both processes' priority alike, which shields
# the measurement from other work on the machine (e.g. parallel builds).
set -euo pipefail

RUNS=${1:-5}
DURATION=${2:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-"1000 10"}
SIZE=${SIZE:-64}
BIN=${BIN:-target/release/iomux}
CLIENT=${CLIENT:-load}
UCLIENT=target/release/examples/uring_echo_client
NICE=${NICE:-0}
TICK=$(getconf CLK_TCK)

cd "$(dirname "$0")/.."
if [[ ! -x $BIN || ${BUILD:-1} == 1 ]]; then
    cargo build --release -q -p iomux-cli
fi
if [[ $CLIENT == uring ]]; then
    cargo build --release -q -p iomux-cli --example uring_echo_client
elif [[ $CLIENT != load ]]; then
    echo "CLIENT must be load or uring" >&2
    exit 2
fi

WORK=$(mktemp -d)
SERVER=
cleanup() {
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cpu_ticks() { # utime + stime of PID; fields counted after the ")" of comm
    local rest
    rest=$(sed 's/.*) //' "/proc/$1/stat")
    awk '{ print $12 + $13 }' <<<"$rest"
}

json_field() { # json_field NAME < line
    grep -o "\"$1\":[0-9.e+-]*" | head -1 | cut -d: -f2
}

# One run: prints "rps cpu_us_per_request server_cpu_percent".
run_one() {
    local model=$1 conns=$2 out="$WORK/serve.out"
    local args=(serve --proto echo --addr 127.0.0.1:0)
    case $model in
        uring) args+=(--model uring) ;;
        epoll-edge) args+=(--model epoll --mode edge) ;;
    esac
    nice -n "$NICE" taskset -c 1 "$BIN" "${args[@]}" >"$out" 2>"$WORK/serve.err" &
    SERVER=$!
    local addr=
    for _ in $(seq 200); do
        addr=$(sed -n 's/^listening on //p' "$out")
        [[ -n $addr ]] && break
        sleep 0.05
    done
    [[ -n $addr ]] || { echo "no ready line from $model" >&2; cat "$WORK/serve.err" >&2; exit 1; }
    if [[ $CLIENT == uring ]]; then
        # Its warm-up is one second, like the default WARMUP.
        nice -n "$NICE" taskset -c 0 "$UCLIENT" "$addr" "$conns" "$DURATION" "$SIZE" >"$WORK/load.out" &
    else
        nice -n "$NICE" taskset -c 0 "$BIN" load --addr "$addr" --proto echo --conns "$conns" --active "$conns" \
            --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" --json >"$WORK/load.out" &
    fi
    local load=$!
    # The load connects, warms up, then measures for DURATION seconds.
    sleep "$WARMUP"
    local t0 c0 t1 c1
    t0=$(date +%s.%N); c0=$(cpu_ticks "$SERVER")
    sleep "$DURATION"
    t1=$(date +%s.%N); c1=$(cpu_ticks "$SERVER")
    local ok=0
    wait "$load" || ok=$?
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
    SERVER=
    if [[ $ok != 0 ]]; then
        echo "$model, $conns conns: the load failed (status $ok)" >&2
        return 1
    fi
    local rps errors
    if [[ $CLIENT == uring ]]; then
        # The client fails (non-zero status) on any error or wrong length.
        rps=$(sed -n 's/ requests\/s$//p' "$WORK/load.out")
    else
        rps=$(json_field rps <"$WORK/load.out")
        errors=$(json_field errors <"$WORK/load.out")
        [[ $errors == 0 ]] || { echo "$model: $errors errors" >&2; cat "$WORK/load.out" >&2; }
    fi
    awk -v rps="$rps" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v tick="$TICK" 'BEGIN {
        cpu = (c1 - c0) / tick; wall = t1 - t0
        printf "%.0f %.2f %.0f\n", rps, cpu / (rps * wall) * 1e6, 100 * cpu / wall
    }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "runs=$RUNS duration=${DURATION}s warmup=${WARMUP}s size=${SIZE}B nice=$NICE client=$CLIENT server=CPU1 load=CPU0 $(uname -r)"
echo
echo "| conns (all active) | model | req/s (median) | server CPU µs/req (median) | server CPU % | runs (req/s) |"
echo "|---:|---|---:|---:|---:|---|"
for conns in $CONNS; do
    : >"$WORK/uring"; : >"$WORK/epoll-edge"
    for _ in $(seq "$RUNS"); do
        for model in uring epoll-edge; do
            # A run that fails (e.g. a connect timing out on a busy
            # machine) is retried, up to twice.
            run_one "$model" "$conns" >>"$WORK/$model" ||
                run_one "$model" "$conns" >>"$WORK/$model" ||
                run_one "$model" "$conns" >>"$WORK/$model"
        done
    done
    for model in uring epoll-edge; do
        rps=$(cut -d' ' -f1 "$WORK/$model" | median)
        us=$(cut -d' ' -f2 "$WORK/$model" | median)
        pct=$(cut -d' ' -f3 "$WORK/$model" | median)
        all=$(cut -d' ' -f1 "$WORK/$model" | paste -sd' ')
        echo "| $conns | $model | $rps | $us | $pct | $all |"
    done
    rps_ratio=$(paste -d' ' "$WORK/uring" "$WORK/epoll-edge" | awk '{ printf "%.3f\n", $1 / $4 }' | median)
    cpu_ratio=$(paste -d' ' "$WORK/uring" "$WORK/epoll-edge" | awk '{ printf "%.3f\n", $2 / $5 }' | median)
    echo "|  | **uring / epoll-edge at $conns, median of pairs** | **${rps_ratio}×** | **${cpu_ratio}×** | | |"
done
