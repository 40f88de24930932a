#!/usr/bin/env bash
# The dispatch chain (libevent's test/bench.c method, `iomux pipes`) for
# iomux's four backends against mio 1.x, polling 3.x, libevent 2.1 and
# libev 4, all on epoll for the peers; same pairs, active pairs and writes;
# interleaved rounds; medians over the rounds and ratios to iomux epoll.
#
#   scripts/bench-pipes-peers.sh [ROUNDS] [RUNS]    (defaults 5, 5)
#
# Every program runs pinned to CPU 1 (SCHED_FIFO as root, like the wrk
# benchmarks). A round runs every cell once for every implementation, in an
# order that rotates between rounds. Each invocation makes RUNS runs of
# 10,000 writes and prints the median µs/event (re-adding every watch and
# the dispatch, as bench.c counts it). poll and select make one run per
# invocation (one run at 5,000 pairs and 1 active takes ~10 s on them).
# CELLS (default "100:1 100:100 1000:1 1000:100 5000:1 5000:100") and
# WRITES (default 10000) can be set in the environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/bench-lib.sh"
rounds=${1:-5}
runs=${2:-5}
writes=${WRITES:-10000}
cells=${CELLS:-"100:1 100:100 1000:1 1000:100 5000:1 5000:100"}
bench_setup bench-pipes-peers

if ! [[ -f /usr/include/ev.h && -f /usr/include/event2/event.h ]]; then
    echo "installing libevent-dev libev-dev" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libevent-dev libev-dev >/dev/null
fi
iomux=$(build_iomux)
peers=$root/bench/peers
gcc -O2 -Wall -Wextra -o "$WORK/chain-libevent" "$peers/chain-libevent.c" -levent
gcc -O2 -Wall -Wextra -o "$WORK/chain-libev" "$peers/chain-libev.c" -lev
(cd "$peers/chain-rust" && cargo build --release -q) >&2
rust_bins=$peers/chain-rust/target/release

impls=(iomux-epoll iomux-poll iomux-select iomux-uring mio polling libevent libev)
run_impl() { # impl pairs active -> one report line
    local impl=$1 n=$2 a=$3
    case $impl in
        iomux-poll | iomux-select)
            (pin 1 "$iomux" pipes --backends "${impl#iomux-}" --fds "$n" --active "$a" --writes "$writes" --runs 1) | tail -1 ;;
        iomux-*)
            (pin 1 "$iomux" pipes --backends "${impl#iomux-}" --fds "$n" --active "$a" --writes "$writes" --runs "$runs") | tail -1 ;;
        mio | polling) (pin 1 "$rust_bins/chain-$impl" "$n" "$a" "$writes" "$runs") ;;
        *) (pin 1 "$WORK/chain-$impl" "$n" "$a" "$writes" "$runs") ;;
    esac
}

raw=$WORK/raw.txt
echo "bench-pipes-peers: $rounds rounds, $runs runs per invocation, $writes writes, $(date -u +%FT%TZ), $(uname -r)"
for ((r = 0; r < rounds; r++)); do
    for cell in $cells; do
        n=${cell%%:*} a=${cell##*:}
        for ((k = 0; k < ${#impls[@]}; k++)); do
            impl=${impls[(k + r) % ${#impls[@]}]}
            line=$(run_impl "$impl" "$n" "$a")
            echo "$impl $n $a $(awk '{print $4, $5}' <<<"$line")" >>"$raw"
        done
    done
    echo "round $((r + 1)) of $rounds done" >&2
done

python3 - "$raw" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    impl, n, a, total, dispatch = line.split()
    rows.setdefault((int(n), int(a)), {}).setdefault(impl, []).append((float(total), float(dispatch)))
impls = ["iomux-epoll", "iomux-poll", "iomux-select", "iomux-uring", "mio", "polling", "libevent", "libev"]
peers = ["mio", "polling", "libevent", "libev"]
for col, what in ((0, "µs/event as bench.c counts it (re-adding every watch, then the dispatch)"),
                  (1, "dispatch µs/event (the chain alone)")):
    print(f"\n{what}: median over rounds (ratio to iomux-epoll)")
    print(f"{'pairs':>6} {'active':>6} " + " ".join(f"{i:>19}" for i in impls) + f" {'best peer':>10} {'epoll/best':>10} {'≤0.9x':>6}")
    misses = 0
    for (n, a) in sorted(rows):
        med = {i: statistics.median(v[col] for v in runs) for i, runs in rows[(n, a)].items()}
        base = med["iomux-epoll"]
        cells = " ".join(f"{med[i]:>10.3f} ({med[i] / base:>5.2f}x)" for i in impls)
        best = min(peers, key=lambda p: med[p])
        ratio = base / med[best]
        ok = ratio <= 0.9
        misses += not ok
        print(f"{n:>6} {a:>6} {cells} {best:>10} {ratio:>9.3f}x {'met' if ok else 'missed':>6}")
    print(f"target iomux epoll <= 0.9x the best peer: met in {len(rows) - misses} of {len(rows)} cells")
PY
