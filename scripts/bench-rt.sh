#!/usr/bin/env bash
# iomux::rt against tokio and monoio (issue 18).
#
# Echo, 100 connections all active, 64 B and 1 KiB messages, client
# `iomux load --engine uring --proto echo` (ECHO_ENGINE; the io_uring engine
# costs about 25 % less CPU per request than the Poller one, so the server,
# not the client, sets the pace: compare the core % columns):
#   rt-epoll   iomux/examples/rt_echo.rs --driver epoll   (iomux::rt, readiness)
#   rt-uring   iomux/examples/rt_echo.rs --driver uring   (iomux::rt, completions)
#   tokio      bench/servers tokio-echo   (tokio current_thread)
#   monoio     bench/servers monoio-echo  (monoio, 1 thread, io_uring driver)
#   reactor-uring   iomux serve --model uring --proto echo --threads 1
#                   (the reactor on its completion driver, issue 29)
#   reactor-epoll   iomux serve --model epoll --proto echo --threads 1
#                   (the reactor on the readiness driver, for comparison)
# HTTP, 100 connections, `GET /plaintext` -> `Hello, World!`, hyper 1.x
# http1 on each runtime, measured by `wrk -t1 -c100` (client-bound: wrk
# saturates its core first) and by `iomux load --engine uring --proto http`
# (the server-bound client of bench-servers.sh):
#   hyper-rt-epoll  iomux/examples/hyper_hello.rs --driver epoll
#   hyper-rt-uring  iomux/examples/hyper_hello.rs --driver uring
#   hyper-tokio     bench/servers hyper-tokio (the same hyper code on tokio)
#
# Lever variants: `rt-uring-off-LEVER` is rt-uring with IOMUX_URING_OFF=LEVER
# (an io_uring feature turned off: defer_taskrun, registered_ring_fd,
# no_sqarray, fixed_files, multishot_recv, incremental, recv_bundle; see
# iomux::uring::Lever),
# compared with rt-uring in the same rounds (scripts/bench-levers.sh).
#
# Fixed rate: after the saturation rounds, every echo cell runs again at
# RATE_FRACTION (0.5) of the saturated req/s of RATE_OF (tokio), paced by
# `iomux load --rate`: the same load for every server, CPU per request
# compared where no server is saturated (FIXED=0 skips it).
#
# Each server runs on CPU 1, the client on CPU 0 (SCHED_FIFO as root, as in
# bench-servers.sh; RT=0 turns it off). A round runs every cell for every
# server, in an order that rotates between rounds (A B, B A, ...); the
# summary gives medians over the rounds and the ratios of the issue's
# targets. A server whose binary does not build or does not print its
# `listening on ADDR` line is skipped with a message, the rest still run.
#
#   scripts/bench-rt.sh [ROUNDS=3] [DURATION=5s]
# Env: ROUNDS, DURATION (the arguments win), WARMUP=1 (seconds, iomux load),
#      SERVERS="rt-epoll rt-uring tokio monoio hyper-rt-epoll hyper-rt-uring hyper-tokio",
#      SIZES="64 1024" (echo message sizes), CONNS=100, ECHO_ENGINE=uring,
#      HTTP_CLIENTS="wrk uring",
#      RT_FEATURES="" / HYPER_FEATURES="hyper" (cargo features of the iomux
#      examples), IOMUX=path (a prebuilt iomux CLI), RAW=path (keep the raw
#      per-run lines there), RT_ECHO=path / HYPER_HELLO=path (prebuilt
#      examples, e.g. from another worktree: then they are not built here),
#      PEERS=dir (prebuilt tokio-echo, monoio-echo and hyper-tokio, likewise).
set -euo pipefail
ROUNDS=${1:-${ROUNDS:-3}}
DURATION=${2:-${DURATION:-5s}}
WARMUP=${WARMUP:-1}
SERVERS=${SERVERS:-"rt-epoll rt-uring tokio monoio hyper-rt-epoll hyper-rt-uring hyper-tokio"}
FIXED=${FIXED:-1}
RATE_OF=${RATE_OF:-tokio}
RATE_FRACTION=${RATE_FRACTION:-0.5}
SIZES=${SIZES:-"64 1024"}
CONNS=${CONNS:-100}
HTTP_CLIENTS=${HTTP_CLIENTS:-"wrk uring"}
ECHO_ENGINE=${ECHO_ENGINE:-uring}
RT_FEATURES=${RT_FEATURES:-}
HYPER_FEATURES=${HYPER_FEATURES:-hyper}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
source "$HERE/scripts/bench-lib.sh"
bench_setup bench-rt

need wrk wrk
IOMUX=${IOMUX:-$(build_iomux)}
PEERS_PREBUILT=${PEERS:-}
PEERS=${PEERS:-$HERE/bench/servers/target/release}
EXAMPLES=$HERE/target/release/examples

# Builds what SERVERS needs; a build that fails leaves its servers out.
build_ok_peers=0 build_ok_rt=0 build_ok_hyper=0
RT_ECHO_BUILT=$EXAMPLES/rt_echo HYPER_HELLO_BUILT=$EXAMPLES/hyper_hello
wants() { [[ " $SERVERS " == *" $1 "* ]]; }
if [[ -n $PEERS_PREBUILT ]]; then
    build_ok_peers=1
elif wants tokio || wants monoio || wants hyper-tokio; then
    if (cd "$HERE/bench/servers" && cargo build --release -q) >"$WORK/build-peers.log" 2>&1; then
        build_ok_peers=1
    else
        echo "# skip: bench/servers does not build (tokio, monoio, hyper-tokio):" >&2
        tail -5 "$WORK/build-peers.log" >&2
    fi
fi
# build_example EXAMPLE FEATURES SERVERS...: 0 when the iomux example
# builds, else 1 with the reason for its servers.
build_example() {
    local example=$1 features=$2
    shift 2
    if (cd "$HERE" && cargo build --release -q -p iomux ${features:+--features "$features"} --example "$example") \
        >"$WORK/build-$example.log" 2>&1; then
        return 0
    fi
    echo "# skip: the $example example does not build ($*):" >&2
    grep -m 3 '^error' "$WORK/build-$example.log" >&2 || tail -n 5 "$WORK/build-$example.log" >&2
    return 1
}
if [[ -n ${RT_ECHO:-} ]]; then
    build_ok_rt=1
elif wants rt-epoll || wants rt-uring || [[ " $SERVERS " == *" rt-uring-off-"* ]]; then
    build_example rt_echo "$RT_FEATURES" rt-epoll rt-uring && build_ok_rt=1
fi
if [[ -n ${HYPER_HELLO:-} ]]; then
    build_ok_hyper=1
elif wants hyper-rt-epoll || wants hyper-rt-uring; then
    build_example hyper_hello "$HYPER_FEATURES" hyper-rt-epoll hyper-rt-uring && build_ok_hyper=1
fi

# The command line of a server (without the pinning), or nothing when its
# build failed.
server_cmd() {
    case $1 in
        rt-epoll | rt-uring) [[ $build_ok_rt == 1 ]] && echo "${RT_ECHO:-$RT_ECHO_BUILT} --driver ${1#rt-}" ;;
        rt-uring-off-*)
            [[ $build_ok_rt == 1 ]] && echo "env IOMUX_URING_OFF=${1#rt-uring-off-} ${RT_ECHO:-$RT_ECHO_BUILT} --driver uring" ;;
        hyper-rt-epoll | hyper-rt-uring)
            [[ $build_ok_hyper == 1 ]] && echo "${HYPER_HELLO:-$HYPER_HELLO_BUILT} --driver ${1#hyper-rt-}" ;;
        tokio) [[ $build_ok_peers == 1 ]] && echo "$PEERS/tokio-echo" ;;
        monoio) [[ $build_ok_peers == 1 ]] && echo "$PEERS/monoio-echo" ;;
        hyper-tokio) [[ $build_ok_peers == 1 ]] && echo "$PEERS/hyper-tokio" ;;
        reactor-uring | reactor-epoll) echo "$IOMUX serve --model ${1#reactor-} --proto echo --threads 1" ;;
        *) echo "unknown server $1" >&2; exit 2 ;;
    esac
    return 0
}
proto_of() { [[ $1 == hyper-* ]] && echo http || echo echo; }

# Starts server $1 on CPU 1 at 127.0.0.1:0 and waits (10 s at most) for its
# `listening on ADDR` line. Sets SERVER_PID and ADDR; returns 1 (server
# stopped, SERVER_PID empty, the reason in $WORK/server.err) when it dies
# or stays silent.
start_server() {
    start_server_cmd "$(server_cmd "$1")"
}

# One run on a started server: cell -> "rps server_cpu_us client_cpu_us
# server_core_pct client_core_pct p50_us p99_us errors".
measure() {
    local cell=$1 before after client_s t0 t1 size rate
    t0=$(date +%s.%N)
    before=$(cpu_ticks "$SERVER_PID")
    case $cell in
        echo:*)
            # echo:SIZE, or echo:SIZE@RATE at a fixed rate
            size=${cell#echo:} rate=
            if [[ $size == *@* ]]; then rate=${size#*@} size=${size%@*}; fi
            client_s=$( (pin 0 "$IOMUX" load --engine "$ECHO_ENGINE" --proto echo --addr "$ADDR" --conns "$CONNS" --active "$CONNS" \
                --size "$size" ${rate:+--rate "$rate"} --duration "$DURATION" --warmup "$WARMUP" --json >"$WORK/client.out"); children_cpu_s)
            ;;
        http-uring)
            client_s=$( (pin 0 "$IOMUX" load --engine uring --proto http --addr "$ADDR" --conns "$CONNS" \
                --active "$CONNS" --duration "$DURATION" --warmup "$WARMUP" --json >"$WORK/client.out"); children_cpu_s)
            ;;
        http-wrk)
            client_s=$( (pin 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://$ADDR/plaintext" >"$WORK/client.out"); children_cpu_s)
            ;;
    esac
    after=$(cpu_ticks "$SERVER_PID")
    t1=$(date +%s.%N)
    python3 - "$cell" "$WORK/client.out" "$((after - before))" "$HZ" "$client_s" "$DURATION" "$WARMUP" "$t0" "$t1" <<'PY'
import json, re, sys
cell, path, ticks, hz, client_s, duration, warmup, t0, t1 = sys.argv[1:]
wall = float(t1) - float(t0)  # the client's whole run: connects, warm-up, window
text = open(path).read()
def secs(d):
    m = re.fullmatch(r"([\d.]+)(ms|s|m)?", d)
    v = float(m.group(1)); u = m.group(2) or "s"
    return v / 1e3 if u == "ms" else v * 60 if u == "m" else v
def us(v):  # wrk's 950.00us / 1.02ms / 1.50s
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
server_s = int(ticks) / int(hz)
if cell == "http-wrk":
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1))
    total = int(re.search(r"^\s*(\d+) requests in", text, re.M).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
    p50, p99 = us(lat["50"]), us(lat["99"])
    errors = len(re.findall(r"Socket errors|Non-2xx", text))
else:
    r = json.loads(text.strip().splitlines()[-1])
    rps, total, p50, p99 = r["rps"], r["requests"], r["p50_us"], r["p99_us"]
    errors = r["errors"] + r.get("bad_replies", 0) + r.get("connect_errors", 0)
    # the CPU is counted over warm-up and window alike: so are the requests
    total = rps * (secs(duration) + secs(warmup))
total = max(total, 1)
print("%.0f %.3f %.3f %.0f %.0f %.1f %.1f %d" % (
    rps, server_s * 1e6 / total, float(client_s) * 1e6 / total,
    100 * server_s / wall, 100 * float(client_s) / wall, p50, p99, errors))
PY
}

read -r -a wanted <<<"$SERVERS"
# A first start of each server: those that do not come up are left out.
servers=()
declare -A note
for name in "${wanted[@]}"; do
    if [[ -z $(server_cmd "$name") ]]; then
        echo "# skip $name: its binary did not build" >&2
        continue
    fi
    if ! start_server "$name"; then
        echo "# skip $name: it did not start: $(tr '\n' ' ' <"$WORK/server.err" | cut -c1-300)" >&2
        continue
    fi
    note[$name]=$(head -n 3 "$WORK/server.err" | tr '\n' ' ')
    stop_server
    servers+=("$name")
done
echo_servers=() http_servers=()
for name in "${servers[@]}"; do
    if [[ $(proto_of "$name") == echo ]]; then echo_servers+=("$name"); else http_servers+=("$name"); fi
done
cells=()
if ((${#echo_servers[@]})); then for s in $SIZES; do cells+=("echo:$s"); done; fi
if ((${#http_servers[@]})); then for c in $HTTP_CLIENTS; do cells+=("http-$c"); done; fi
if ((${#cells[@]} == 0)); then
    echo "# bench-rt: no server to run" >&2
    exit 1
fi

echo "# bench-rt: $ROUNDS rounds of $DURATION (+${WARMUP}s warm-up for iomux load); $CONNS connections; servers on CPU 1, client on CPU 0 (SCHED_FIFO: $RT)"
echo "# iomux $("$IOMUX" --version); $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2); kernel $(uname -r); $(date -u +%FT%TZ)"
echo "# servers: ${servers[*]}"
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n * 0.75) }'; then
    echo "# warning: load average $load on $(nproc) CPUs before the runs: other work shares the cores, the figures are noisy${RT:+ (SCHED_FIFO: $RT)}"
fi
for name in "${servers[@]}"; do
    if [[ -n ${note[$name]} ]]; then echo "#   $name says: ${note[$name]}"; fi
done
echo "# columns: round cell server | req/s, server CPU µs/req, client CPU µs/req, server core %, client core %, p50 µs, p99 µs, errors"
raw=${RAW:-$WORK/raw.txt}
: >"$raw"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    for cell in "${cells[@]}"; do
        if [[ $cell == echo:* ]]; then group=("${echo_servers[@]}"); else group=("${http_servers[@]}"); fi
        for ((k = 0; k < ${#group[@]}; k++)); do
            name=${group[(k + ROUND) % ${#group[@]}]}
            run_on_server "$ROUND" "$cell" "$name" client.out
        done
    done
done

# The fixed-rate rounds: RATE_FRACTION of RATE_OF's saturated echo req/s.
if [[ $FIXED == 1 ]] && ((${#echo_servers[@]})) && [[ " ${echo_servers[*]} " == *" $RATE_OF "* ]]; then
    fixed_cells=()
    for s in $SIZES; do
        rate=$(python3 -c 'import statistics, sys
c, n, f, raw = sys.argv[1:]
v = [float(l.split()[3]) for l in open(raw) if l.split()[1:3] == [c, n]]
print(int(statistics.median(v) * float(f)) if v else "")' "echo:$s" "$RATE_OF" "$RATE_FRACTION" "$raw")
        [[ -n $rate ]] && fixed_cells+=("echo:$s@$rate")
    done
    echo "# fixed rate: ${RATE_FRACTION} of $RATE_OF's saturated req/s: ${fixed_cells[*]}"
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
        for cell in "${fixed_cells[@]}"; do
            for ((k = 0; k < ${#echo_servers[@]}; k++)); do
                name=${echo_servers[(k + ROUND) % ${#echo_servers[@]}]}
                run_on_server "$ROUND" "$cell" "$name" client.out
            done
        done
    done
fi

python3 - "$raw" "$CONNS" "$DURATION" "$ROUNDS" <<'PY'
import statistics, sys
raw, conns, duration, rounds = sys.argv[1:]
rows = {}
for line in open(raw):
    rnd, cell, name, *vals = line.split()
    rows.setdefault(cell, {}).setdefault(name, []).append([float(v) for v in vals])
def med(runs, i):
    return statistics.median(r[i] for r in runs)
titles = {
    "http-wrk": f"HTTP, wrk -t1 -c{conns} (client-bound)",
    "http-uring": f"HTTP, iomux load --engine uring --proto http, {conns} connections (server-bound)",
}
# Issue 28's targets: (numerator, denominator, metric, bound) where metric
# "rps" must be >= bound and "cpu" (server CPU per request) <= bound.
echo_targets = [("reactor-uring", "tokio", "cpu", 0.88),
                ("rt-uring", "tokio", "cpu", 0.90), ("rt-uring", "tokio", "rps", 1.08),
                ("rt-uring", "monoio", "cpu", 0.95), ("rt-epoll", "tokio", "cpu", 1.00)]
fixed_targets = [("rt-uring", "tokio", "cpu", 1.00), ("rt-epoll", "tokio", "cpu", 1.00),
                 ("rt-uring", "monoio", "cpu", 0.95)]
http_targets = [("hyper-rt-uring", "hyper-tokio", "cpu", 0.92), ("hyper-rt-uring", "hyper-tokio", "rps", 1.05),
                ("hyper-rt-epoll", "hyper-tokio", "cpu", 1.00)]
def order(cell):
    if cell.startswith("echo:"):
        size, _, rate = cell[5:].partition("@")
        return (0, rate != "", int(size))
    return (1, cell != "http-wrk", 0)
print()
print(f"medians over {rounds} rounds of {duration} (min-max of req/s over the rounds)")
print("a client core % near 100 means the client, not the server, set the req/s: then read server CPU µs/req")
for cell in sorted(rows, key=order):
    by = rows[cell]
    targets = []
    if cell.startswith("echo:"):
        size, _, rate = cell[5:].partition("@")
        if rate:
            title = f"Echo, {conns} connections, {size} B messages, at a fixed {rate} req/s (iomux load --engine uring --proto echo --rate)"
            targets = fixed_targets
        else:
            title = f"Echo, {conns} connections, {size} B messages, saturation (iomux load --engine uring --proto echo)"
            targets = echo_targets
        # Each lever variant against rt-uring with every lever on.
        targets = targets + [(n, "rt-uring", "cpu", None) for n in sorted(by) if n.startswith("rt-uring-off-")]
    else:
        title, targets = titles[cell], http_targets
    print(f"\n### {title}\n")
    print("| server | req/s | min-max | server CPU µs/req | client CPU µs/req | server core % | client core % | p50 µs | p99 µs | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in sorted(by.items(), key=lambda kv: -med(kv[1], 0)):
        lo, hi = min(r[0] for r in runs), max(r[0] for r in runs)
        print(f"| {name} | {med(runs,0):.0f} | {lo:.0f}-{hi:.0f} | {med(runs,1):.2f} | {med(runs,2):.2f} | "
              f"{med(runs,3):.0f} | {med(runs,4):.0f} | {med(runs,5):.1f} | {med(runs,6):.1f} | {int(max(r[7] for r in runs))} |")
    print()
    for num, den, metric, bound in targets:
        if num not in by or den not in by:
            missing = " and ".join(n for n in (num, den) if n not in by)
            print(f"- {num}/{den}: n/a ({missing} not run)")
            continue
        x = med(by[num], 0) / med(by[den], 0)
        c = med(by[num], 1) / med(by[den], 1)
        if bound is None:
            print(f"- {num}/{den}: server CPU/req {c:.3f}x, req/s {x:.3f}x")
        elif metric == "cpu":
            verdict = "met" if c <= bound else "MISSED"
            print(f"- {num}/{den} server CPU/req: {c:.3f}x (target <= {bound:.2f}x: {verdict}); req/s {x:.3f}x")
        else:
            verdict = "met" if x >= bound else "MISSED"
            print(f"- {num}/{den} req/s: {x:.3f}x (target >= {bound:.2f}x: {verdict}); server CPU/req {c:.3f}x")
PY
