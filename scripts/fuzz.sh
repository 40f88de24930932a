#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time and prints, per target,
# the executions and the crashes (files in fuzz/artifacts/TARGET/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 30 s, every target)
#
# Needs the nightly toolchain; installs cargo-fuzz if it is missing. The
# corpus (fuzz/corpus/TARGET, not in git) starts from fuzz/seeds/TARGET
# and grows between runs. Built without a sanitizer (-s none): the code
# under test is safe Rust, and the targets assert what they check.
# FUZZ_JOBS=N runs N processes per target (libFuzzer -fork). Exits non-zero
# if any target crashed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
shift || true
cd "$root/fuzz"

if ! command -v rustup >/dev/null || ! rustup toolchain list | grep -q '^nightly'; then
    echo "installing the nightly toolchain" >&2
    rustup toolchain install nightly --profile minimal >&2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo +nightly install cargo-fuzz --locked >&2
fi

targets=("$@")
if [[ ${#targets[@]} == 0 ]]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Each target's own options: inputs kept short (the framing check is
# quadratic in the input), the poller sequences too.
options() {
    case $1 in
        http_framing) echo "-max_len=512 -dict=$root/fuzz/http.dict" ;;
        poller_ops) echo "-max_len=96 -timeout=30" ;;
        *) echo "" ;;
    esac
}

status=0
printf '%-14s %8s %12s %10s %8s\n' target seconds executions exec/s crashes
for t in "${targets[@]}"; do
    cargo +nightly fuzz build -s none "$t" >&2
    mkdir -p "corpus/$t" "artifacts/$t"
    if [[ -d seeds/$t ]]; then cp -n "seeds/$t"/* "corpus/$t/" 2>/dev/null || true; fi
    before=$(find "artifacts/$t" -type f | wc -l)
    log=$(mktemp)
    fork=()
    if [[ ${FUZZ_JOBS:-1} -gt 1 ]]; then fork=(-fork="$FUZZ_JOBS" -ignore_crashes=1); fi
    # shellcheck disable=SC2046 # the options are words
    cargo +nightly fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$seconds" \
        -print_final_stats=1 "${fork[@]}" $(options "$t") >"$log" 2>&1 || true
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [[ -z $execs ]]; then
        # -fork prints its totals on the last status line instead.
        execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    fi
    after=$(find "artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    rate=$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))
    printf '%-14s %8s %12s %10s %8s\n' "$t" "$seconds" "${execs:-?}" "$rate" "$crashes"
    if [[ $crashes -gt 0 ]] || grep -q "panicked at\|ERROR: libFuzzer" "$log"; then
        status=1
        grep -m1 -A3 "panicked at" "$log" >&2 || tail -20 "$log" >&2
        echo "artifacts in $root/fuzz/artifacts/$t; replay with: cargo +nightly fuzz run -s none $t FILE" >&2
    fi
    rm -f "$log"
done
exit $status
