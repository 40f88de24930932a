#!/usr/bin/env bash
# The soak of issue #21: `iomux soak` against select, poll, epoll and uring
# in turn, 19,000 connections each (echo clients, slowloris peers, RST
# storms, half-closes, a peer that never reads its 50 MB echo), then
# SIGTERM under load. The server runs on CPU 1, the client processes on
# CPU 0 (the command pins them). Exits non-zero if any check fails.
#
# Usage: scripts/soak.sh [DURATION=60s] [more `iomux soak` flags]
#   scripts/soak.sh                      # the full run, ~6 minutes
#   scripts/soak.sh 10s --conns 2000     # the short run CI makes
# Writes target/soak/soak.txt (the summary) and target/soak/rss.csv (the
# server's RSS, one sample a second: model,t_s,rss_kib).
# Env: IOMUX=path to a built binary (default: cargo build --release).
set -euo pipefail

DURATION=${1:-60s}
shift || true
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${IOMUX:-} ]]; then
    (cd "$HERE" && cargo build --release -q -p iomux-cli)
    IOMUX=$HERE/target/release/iomux
fi
OUT=$HERE/target/soak
mkdir -p "$OUT"
echo "iomux soak --duration $DURATION $* ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg))" | tee "$OUT/soak.txt"
set +e
"$IOMUX" soak --duration "$DURATION" --csv "$OUT/rss.csv" "$@" 2>&1 | tee -a "$OUT/soak.txt"
status=${PIPESTATUS[0]}
set -e
exit "$status"
