#!/usr/bin/env bash
# HTTP servers side by side, measured by a client that costs less than they
# do: `iomux load --engine uring` (io_uring, multishot receive, batched
# sends). Same answer everywhere: `Hello, World!`, text/plain.
#
#   iomux serve --model epoll --mode level | --mode edge, --model uring
#   nginx (1 process, access_log off), hyper 1.x on tokio current_thread,
#   actix-web (1 worker), may-minihttp (1 thread)
#
# Each server runs on CPU 1, the client on CPU 0 (SCHED_FIFO as root, as in
# bench-nginx.sh). A round runs every cell for every server, in an order
# that rotates between rounds; the summary gives medians over the rounds.
# Cells: 100 and 1,000 connections × 1- and 16-deep pipelining, each
#   - at saturation: requests/s, server CPU per request (utime + stime of
#     the server's process from /proc/PID/stat around the run), the
#     client's own CPU per request;
#   - at a fixed rate (RATE req/s, default 50,000: below every server's
#     saturation): p50 and p99 latency;
# and wrk -t1 -c100 (client-bound: wrk saturates its core first), with
# wrk's own CPU per request, so the two clients' costs stand side by side.
#
#   scripts/bench-servers.sh [ROUNDS=3] [DURATION=5s]
# Env: SERVERS="iomux-level iomux-edge iomux-uring nginx hyper actix may"
#      CONNS="100 1000", DEPTHS="1 16", RATE=50000,
#      PROFILE=1: perf record of the iomux servers and nginx at 100 connections,
#      1 deep, in the first round (top symbols printed at the end).
set -euo pipefail
ROUNDS=${1:-3}
DURATION=${2:-5s}
SERVERS=${SERVERS:-"iomux-level iomux-edge iomux-uring nginx hyper actix may"}
CONNS=${CONNS:-"100 1000"}
DEPTHS=${DEPTHS:-"1 16"}
RATE=${RATE:-50000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
source "$HERE/scripts/bench-lib.sh"
bench_setup bench-servers

need nginx nginx-light
need wrk wrk
[[ ${PROFILE:-0} == 1 ]] && need perf linux-perf
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
IOMUX=${IOMUX:-$(build_iomux)}
(cd "$HERE/bench/servers" && cargo build --release -q) >&2
PEERS=$HERE/bench/servers/target/release

start_server() { # name port
    local name=$1 port=$2 addr=127.0.0.1:$2
    case $name in
        iomux-level | iomux-edge)
            pin 1 "$IOMUX" serve --model epoll --mode "${name#iomux-}" --proto http --addr "$addr" --threads 1 ;;
        iomux-uring) pin 1 "$IOMUX" serve --model uring --proto http --addr "$addr" --threads 1 ;;
        nginx)
            write_nginx_conf "$WORK/nginx" "$addr"
            pin 1 "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" ;;
        hyper) pin 1 "$PEERS/hyper-tokio" "$addr" ;;
        actix) pin 1 "$PEERS/actix" "$addr" ;;
        may) pin 1 "$PEERS/may-minihttp" "$addr" ;;
        *) echo "unknown server $name" >&2; exit 2 ;;
    esac
}

# One run: server, kind (sat|rate|wrk), connections, depth ->
# "rps server_cpu_us client_cpu_us p50_us p99_us errors"
run() {
    local name=$1 kind=$2 conns=$3 depth=$4 port
    port=$(free_port)
    (start_server "$name" "$port" >"$WORK/server.out" 2>"$WORK/server.err") &
    SERVER_PID=$!
    wait_port "$port"
    local before after json prof=""
    if [[ ${PROFILE:-0} == 1 && $kind == sat && $conns == 100 && $depth == 1 && $ROUND == 1 ]] &&
        [[ $name == iomux-* || $name == nginx ]]; then
        # cpu-clock: this VM has no hardware sampling events; under RT the
        # recorder must outrank the pinned FIFO programs or it never drains.
        local rt_perf=()
        [[ $RT == 1 ]] && rt_perf=(chrt -f 20)
        "${rt_perf[@]}" perf record -q -e cpu-clock -F 999 -g -o "$WORK/$name.perf" -p "$SERVER_PID" 2>/dev/null &
        prof=$!
    fi
    before=$(cpu_ticks "$SERVER_PID")
    if [[ $kind == wrk ]]; then
        local wrk_cpu out total
        wrk_cpu=$( (pin 0 wrk -t1 -c"$conns" -d"$DURATION" --latency "http://$port_host:$port/plaintext" >"$WORK/wrk.out"); children_cpu_s)
        after=$(cpu_ticks "$SERVER_PID")
        out=$(<"$WORK/wrk.out")
        total=$(awk '/requests in/ {print $1}' <<<"$out")
        awk -v r="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" -v t="$total" -v d="$((after - before))" -v hz="$HZ" \
            -v w="$wrk_cpu" -v p50="$(wrk_p50 <<<"$out" | to_us)" -v p99="$(awk '$1 == "99%" {print $2}' <<<"$out" | to_us)" \
            -v e="$(awk '/Socket errors|Non-2xx/' <<<"$out" | wc -l)" \
            'BEGIN { printf "%.0f %.3f %.3f %s %s %d\n", r, d / hz * 1e6 / t, w * 1e6 / t, p50, p99, e }'
    else
        local rate=()
        [[ $kind == rate ]] && rate=(--rate "$RATE")
        json=$( (pin 0 "$IOMUX" load --engine uring --proto http --addr "127.0.0.1:$port" --conns "$conns" \
            --active "$conns" --pipeline "$depth" --duration "$DURATION" --warmup 0 --json "${rate[@]}") )
        after=$(cpu_ticks "$SERVER_PID")
        python3 -c 'import json, sys
r = json.loads(sys.argv[1]); ticks, hz = int(sys.argv[2]), int(sys.argv[3])
print("%.0f %.3f %.3f %.1f %.1f %d" % (r["rps"], ticks / hz * 1e6 / max(r["requests"], 1),
      r.get("client_cpu_us_per_req", 0), r["p50_us"], r["p99_us"], r["errors"]))' "$json" "$((after - before))" "$HZ"
    fi
    [[ -n $prof ]] && { kill -INT "$prof"; wait "$prof" 2>/dev/null || true; }
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
port_host=127.0.0.1

read -r -a servers <<<"$SERVERS"
cells=()
for c in $CONNS; do for d in $DEPTHS; do cells+=("sat:$c:$d" "rate:$c:$d"); done; done
cells+=("wrk:100:1")
echo "# bench-servers: $ROUNDS rounds of $DURATION; servers on CPU 1, client on CPU 0 (SCHED_FIFO: $RT); rate cells at $RATE req/s"
echo "# iomux $("$IOMUX" --version); $("$NGINX" -v 2>&1 | sed 's/.*: //'); kernel $(uname -r); $(date -u +%FT%TZ)"
echo "# columns: req/s, server CPU µs/req, client CPU µs/req, p50 µs, p99 µs, error count"
raw=$WORK/raw.txt
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    for cell in "${cells[@]}"; do
        IFS=: read -r kind conns depth <<<"$cell"
        for ((k = 0; k < ${#servers[@]}; k++)); do
            name=${servers[(k + ROUND) % ${#servers[@]}]}
            line=$(run "$name" "$kind" "$conns" "$depth")
            echo "$ROUND $kind $conns $depth $name $line" | tee -a "$raw"
        done
    done
done

python3 - "$raw" "$RATE" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, kind, conns, depth, name, *vals = line.split()
    rows.setdefault((kind, int(conns), int(depth)), {}).setdefault(name, []).append([float(v) for v in vals])
def med(runs, i):
    return statistics.median(r[i] for r in runs)
peers = ["hyper", "actix", "may"]
print()
print("medians over the rounds")
for (kind, conns, depth), by in sorted(rows.items(), key=lambda kv: (kv[0][0] != "sat", kv[0][0], kv[0][1], kv[0][2])):
    if kind == "rate":
        title = f"fixed rate {sys.argv[2]} req/s, {conns} connections, {depth} deep: latency"
    elif kind == "wrk":
        title = f"wrk -t1 -c{conns} (client-bound), 1 deep"
    else:
        title = f"saturation, {conns} connections, {depth} deep (server-bound)"
    print(f"\n## {title}")
    print(f"{'server':<12} {'req/s':>10} {'CPU µs/req':>11} {'client µs/req':>14} {'p50 µs':>9} {'p99 µs':>9} {'errors':>7}")
    for name, runs in sorted(by.items(), key=lambda kv: -med(kv[1], 0)):
        print(f"{name:<12} {med(runs,0):>10.0f} {med(runs,1):>11.3f} {med(runs,2):>14.3f} {med(runs,3):>9.1f} {med(runs,4):>9.1f} {int(max(r[5] for r in runs)):>7}")
    if kind == "rate":
        continue
    ng = by.get("nginx")
    best_peer = max((p for p in peers if p in by), key=lambda p: med(by[p], 0), default=None)
    for me in ("iomux-level", "iomux-edge", "iomux-uring"):
        if me not in by:
            continue
        parts = []
        if ng:
            parts.append(f"{med(by[me],0) / med(ng,0):.2f}x nginx req/s, {med(by[me],1) / med(ng,1):.2f}x nginx CPU/req")
        if best_peer:
            parts.append(f"{med(by[me],0) / med(by[best_peer],0):.2f}x {best_peer} (best Rust peer) req/s")
        print(f"  {me}: " + "; ".join(parts))
PY

if [[ ${PROFILE:-0} == 1 ]]; then
    for name in iomux-level iomux-edge iomux-uring nginx; do
        [[ -f $WORK/$name.perf ]] || continue
        echo
        echo "## perf profile of $name (saturation, 100 connections, 1 deep): top symbols"
        perf report -i "$WORK/$name.perf" --no-children --sort dso --stdio 2>/dev/null | grep '%' | grep -v '^#' | head -6
        perf report -i "$WORK/$name.perf" --no-children --sort sym --stdio -g none 2>/dev/null | grep '%' | grep -v '^#' | head -20
    done
fi
