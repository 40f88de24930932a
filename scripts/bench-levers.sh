#!/usr/bin/env bash
# Each io_uring lever of iomux::rt's completion driver turned off, one at a
# time, against rt-uring with every lever on, in the same rounds (issue 28):
# echo, 100 connections, 64 B and 1 KiB, server CPU per request and req/s.
# Levers (iomux::uring::Lever, env IOMUX_URING_OFF): defer_taskrun,
# registered_ring_fd, no_sqarray, fixed_files, multishot_recv, incremental,
# recv_bundle.
#
#   scripts/bench-levers.sh [ROUNDS=3] [DURATION=5s]
# Env: LEVERS (the list above), SIZES ("64 1024"), and bench-rt.sh's.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
LEVERS=${LEVERS:-"defer_taskrun registered_ring_fd no_sqarray fixed_files multishot_recv incremental recv_bundle"}
servers="rt-uring"
for l in $LEVERS; do servers+=" rt-uring-off-$l"; done
SERVERS=$servers FIXED=0 exec "$HERE/scripts/bench-rt.sh" "$@"
