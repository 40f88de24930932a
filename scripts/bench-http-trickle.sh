#!/usr/bin/env bash
# Server CPU for trickled HTTP requests: a chunked body of 1-byte chunks
# (128 KiB .. 1 MiB) sent in 4 KiB pieces, and a head (8 .. 64 KiB) sent a
# byte at a time, each piece read on its own by the server (the client waits
# for the server's receive queue to drain). Prints CPU per byte at each size:
# a flat column means linear work, a column that doubles with the size means
# the request is re-parsed from its start on every read.
#
#   scripts/bench-http-trickle.sh [IOMUX_BINARY...]   (default: a release build)
#
# With several binaries (e.g. one built from an older commit, then this
# one), each runs in turn with the same client; rows are labelled by
# position (bin1, bin2, ...). Server on CPU 0, client on CPU 1.
# Environment: BODY_KIB, HEAD_KIB (comma lists, empty to skip), BODY_PIECE
# (bytes), MAX_HEADER_BYTES (the server's limit; raise it for heads over 64 KiB).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench-lib.sh
source "$here/bench-lib.sh"
RT=0 # the client busy-polls /proc: no real-time class for it
bench_setup http-trickle

bins=("$@")
if [[ ${#bins[@]} == 0 ]]; then
    bins=("$(build_iomux)")
fi

header=1
for i in "${!bins[@]}"; do
    bin=${bins[$i]}
    # Port 0 and the port the server reports: a port picked beforehand can
    # be taken meanwhile on a busy host.
    (pin 0 "$bin" serve --model epoll --proto http --addr 127.0.0.1:0 \
        --max-header-bytes "${MAX_HEADER_BYTES:-$((72 * 1024))}" --max-body-bytes $((1100 * 1024)) \
        --header-timeout 600s >"$WORK/server.out") &
    SERVER_PID=$!
    port=""
    for _ in $(seq 1 200); do
        port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/server.out")
        [[ -n $port ]] && break
        sleep 0.05
    done
    [[ -n $port ]] || { echo "server did not report its port" >&2; exit 1; }
    echo "# bin$((i + 1)) = $bin" >&2
    (pin 1 python3 "$here/http-trickle-client.py" --port "$port" --pid "$SERVER_PID" \
        --label "bin$((i + 1))" --body-kib "${BODY_KIB-128,256,512,1024}" \
        --head-kib "${HEAD_KIB-8,16,32,64}" --body-piece "${BODY_PIECE:-4096}") |
        if [[ $header == 1 ]]; then cat; else tail -n +2; fi
    header=0
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
done
