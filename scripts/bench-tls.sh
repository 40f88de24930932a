#!/usr/bin/env bash
# HTTPS on iomux::rt against the same rustls + hyper code on tokio's
# current_thread runtime (issue 30).
#
# Servers (each prints `listening on ADDR`; the same certificate, ECDSA
# P-256, made here with openssl):
#   rt-epoll  iomux/examples/https_hello.rs --driver epoll
#   rt-uring  iomux/examples/https_hello.rs --driver uring
#   tokio     bench/tls https-tokio (iomux/examples/support/https.rs, the
#             example's own server code, on tokio current_thread)
# Cells, client bench/tls tls-load (rustls on tokio current_thread, no
# certificate verification, no session resumption):
#   handshake  a new connection per request: connect, full TLS 1.3
#              handshake, `GET /plaintext` with `Connection: close`, the
#              server's close. Handshakes per second.
#   keepalive  CONNS_KA connections, each handshakes once, then
#              `GET /plaintext` after `GET /plaintext`. Requests per second.
#   handshake-rate, keepalive-rate
#              the same at a fixed offered load (RATE_HS handshakes/s,
#              RATE_KA requests/s, about half of what the servers can do):
#              the server's CPU per operation, with the client far from
#              its own limit. The client costs about what the server does
#              per operation (each side makes and decrypts the same TLS
#              records and syscalls; in a handshake the client skips the
#              certificate check but does its half of the key exchange), so
#              in the first two cells both cores are busy and the rate is
#              set by the two together; these two cells compare the servers
#              alone.
#
# Each server runs on CPU 1, the client on CPU 0 (SCHED_FIFO as root, as
# in bench-rt.sh; RT=0 turns it off). Every round runs each cell on each
# server, in an order that rotates between rounds (A B C, B C A, ...); the
# summary gives medians over the rounds and the ratios against tokio (the
# issue's target: >= 1.0x on both cells). The client core % says which side
# set the rate: a client near 100 % means read the server CPU per
# operation instead.
#
#   scripts/bench-tls.sh [ROUNDS=3] [DURATION=5]
# Env: ROUNDS, DURATION (seconds; the arguments win), WARMUP=1 (seconds),
#      SERVERS="rt-epoll rt-uring tokio",
#      CELLS="handshake keepalive handshake-rate keepalive-rate",
#      CONNS_HS=32, CONNS_KA=50, RATE_HS=2000, RATE_KA=40000, RAW=path (keep the per-run lines there),
#      HTTPS_HELLO=path (a prebuilt example: then it is not built here).
set -euo pipefail
ROUNDS=${1:-${ROUNDS:-3}}
DURATION=${2:-${DURATION:-5}}
WARMUP=${WARMUP:-1}
SERVERS=${SERVERS:-"rt-epoll rt-uring tokio"}
CELLS=${CELLS:-"handshake keepalive handshake-rate keepalive-rate"}
CONNS_HS=${CONNS_HS:-32}
CONNS_KA=${CONNS_KA:-50}
RATE_HS=${RATE_HS:-2000}
RATE_KA=${RATE_KA:-40000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
source "$HERE/scripts/bench-lib.sh"
bench_setup bench-tls

need openssl openssl
need taskset util-linux
PEERS=$HERE/bench/tls/target/release
echo "# building bench/tls (https-tokio, tls-load) and the https_hello example (release)" >&2
(cd "$HERE/bench/tls" && cargo build --release -q) >&2
if [[ -z ${HTTPS_HELLO:-} ]]; then
    (cd "$HERE" && cargo build --release -q -p iomux --features example-tls --example https_hello) >&2
    HTTPS_HELLO=$HERE/target/release/examples/https_hello
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
TLS_ARGS="--cert $WORK/cert.pem --key $WORK/key.pem"

server_cmd() {
    case $1 in
        rt-epoll | rt-uring) echo "$HTTPS_HELLO --driver ${1#rt-} $TLS_ARGS" ;;
        tokio) echo "$PEERS/https-tokio $TLS_ARGS" ;;
        *) echo "unknown server $1" >&2; exit 2 ;;
    esac
}

# Starts server $1 on CPU 1 at 127.0.0.1:0 and waits (10 s at most) for its
# `listening on ADDR` line. Sets SERVER_PID and ADDR; returns 1 when it dies
# or stays silent.
start_server() {
    start_server_cmd "$(server_cmd "$1")"
}

# One run on a started server: cell -> "rate server_cpu_us/op
# client_cpu_us/op server_core% client_core% errors".
measure() {
    local cell=$1 mode=${1%-rate} conns rate=() before after client_s t0 t1
    conns=$([[ $mode == handshake ]] && echo "$CONNS_HS" || echo "$CONNS_KA")
    if [[ $cell == *-rate ]]; then
        rate=(--rate "$([[ $mode == handshake ]] && echo "$RATE_HS" || echo "$RATE_KA")")
    fi
    t0=$(date +%s.%N)
    before=$(cpu_ticks "$SERVER_PID")
    client_s=$( (pin 0 "$PEERS/tls-load" --addr "$ADDR" --mode "$mode" --conns "$conns" "${rate[@]}" \
        --duration "$DURATION" --warmup "$WARMUP" >"$WORK/client.out" 2>"$WORK/client.err"); children_cpu_s)
    after=$(cpu_ticks "$SERVER_PID")
    t1=$(date +%s.%N)
    python3 - "$WORK/client.out" "$((after - before))" "$HZ" "$client_s" "$t0" "$t1" "$DURATION" "$WARMUP" <<'PY'
import json, sys
path, ticks, hz, client_s, t0, t1, duration, warmup = sys.argv[1:]
r = json.loads(open(path).read().strip().splitlines()[-1])
wall = float(t1) - float(t0)
server_s = int(ticks) / int(hz)
# CPU is counted over the whole run (warm-up and window): so are the
# operations, at the window's rate.
ops = max(r["rate"] * (float(duration) + float(warmup)), 1)
print("%.0f %.2f %.2f %.0f %.0f %d" % (
    r["rate"], server_s * 1e6 / ops, float(client_s) * 1e6 / ops,
    100 * server_s / wall, 100 * float(client_s) / wall, r["errors"]))
PY
}

read -r -a servers <<<"$SERVERS"
read -r -a cells <<<"$CELLS"
echo "# bench-tls: $ROUNDS rounds of ${DURATION}s (+${WARMUP}s warm-up); handshake: $CONNS_HS clients at once, keepalive: $CONNS_KA connections; fixed rates $RATE_HS handshakes/s, $RATE_KA requests/s; servers on CPU 1, client on CPU 0 (SCHED_FIFO: $RT)"
echo "# kernel $(uname -r); $(date -u +%FT%TZ); rustls $(grep -A1 '^name = "rustls"$' "$HERE/bench/tls/Cargo.lock" | sed -n 's/version = //p' | tr -d '"') (aws-lc-rs), hyper $(grep -A1 '^name = "hyper"$' "$HERE/bench/tls/Cargo.lock" | sed -n 's/version = //p' | tr -d '"')"
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n * 0.75) }'; then
    echo "# warning: load average $load on $(nproc) CPUs before the runs: other work shares the cores, the figures are noisy"
fi
echo "# columns: round cell server | ops/s, server CPU µs/op, client CPU µs/op, server core %, client core %, errors"
raw=${RAW:-$WORK/raw.txt}
: >"$raw"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    for cell in "${cells[@]}"; do
        for ((k = 0; k < ${#servers[@]}; k++)); do
            name=${servers[(k + ROUND) % ${#servers[@]}]}
            run_on_server "$ROUND" "$cell" "$name" client.err
        done
    done
done

python3 - "$raw" "$ROUNDS" "$DURATION" <<'PY'
import statistics, sys
raw, rounds, duration = sys.argv[1:]
rows = {}
for line in open(raw):
    rnd, cell, name, *vals = line.split()
    rows.setdefault(cell, {}).setdefault(name, []).append([float(v) for v in vals])
med = lambda runs, i: statistics.median(r[i] for r in runs)
titles = {"handshake": "TLS handshakes/s (a new connection per request)",
          "keepalive": "HTTPS requests/s on keep-alive connections",
          "handshake-rate": "Server CPU per handshake at a fixed rate",
          "keepalive-rate": "Server CPU per keep-alive request at a fixed rate"}
print(f"\nmedians over {rounds} rounds of {duration}s (min-max of the rate over the rounds)")
for cell in titles:
    if cell not in rows:
        continue
    by = rows[cell]
    print(f"\n### {titles[cell]}\n")
    print("| server | ops/s | min-max | server CPU µs/op | client CPU µs/op | server core % | client core % | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    fixed = cell.endswith("-rate")
    order = (lambda kv: med(kv[1], 1)) if fixed else (lambda kv: -med(kv[1], 0))
    for name, runs in sorted(by.items(), key=order):
        lo, hi = min(r[0] for r in runs), max(r[0] for r in runs)
        print(f"| {name} | {med(runs,0):.0f} | {lo:.0f}-{hi:.0f} | {med(runs,1):.2f} | {med(runs,2):.2f} | "
              f"{med(runs,3):.0f} | {med(runs,4):.0f} | {int(max(r[5] for r in runs))} |")
    print()
    for num in ("rt-epoll", "rt-uring"):
        if num in by and "tokio" in by:
            c = med(by[num], 1) / med(by["tokio"], 1)
            if fixed:
                x = med(by["tokio"], 1) / med(by[num], 1)
                verdict = "less CPU than tokio" if x >= 1.0 else "more CPU than tokio"
                print(f"- {num}/tokio {cell}: tokio's server CPU/op over {num}'s: {x:.3f}x ({verdict})")
            else:
                x = med(by[num], 0) / med(by["tokio"], 0)
                verdict = "met" if x >= 1.0 else "MISSED"
                print(f"- {num}/tokio {cell}: {x:.3f}x (target >= 1.00x: {verdict}); server CPU/op {c:.3f}x")
PY
