#!/usr/bin/env bash
# Smoke run of the packet benchmark (bench/run.sh), so that it cannot break
# unnoticed: every configuration (kernel-only, null-queue, sipvsd mh / rr with
# one and two queues, sipvsd with its fast path, kamailio) for a second, in
# each phase (flood, latency, fixed rate), with this build's binaries (no
# Release build of its own), results under the build directory. Proves only
# that each configuration ran and delivered packets; no figure or ratio is
# judged (a Debug build on a shared machine says nothing about speed).
# Usage: bench_smoke.sh PATH/TO/sipvsd DIR/OF/sipgen,sipsink,nullqueue OUT_DIR
# (as root; exit 77 = skipped: not root, or kamailio missing).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIPVSD=$(realpath "${1:?usage: bench_smoke.sh PATH/TO/sipvsd BENCH_BIN_DIR OUT_DIR}")
BENCH_BIN=$(realpath "${2:?usage: bench_smoke.sh PATH/TO/sipvsd BENCH_BIN_DIR OUT_DIR}")
OUT=${3:?usage: bench_smoke.sh PATH/TO/sipvsd BENCH_BIN_DIR OUT_DIR}
# shellcheck source=../e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
e2e_require_root
e2e_require kamailio iptables ip ss pgrep

CONFIGS=(kernel-only null-queue sipvsd-1q sipvsd-fast sipvsd-rr-1q sipvsd-2q sipvsd-rr-2q kamailio)
mkdir -p "$OUT"
RESULTS=$OUT/RESULTS.md
rm -f "$RESULTS"
# One run of each, one second of flood and one of latency at half that rate;
# no template memory figures (bench_engine, the 1 M-call feed); a small
# template table, as the Debug build's sanitizers make a big one slow to fill.
# Normal priority: the bench's nice -10 is for measurements, not for a test.
NO_BUILD=1 SIPVSD="$SIPVSD" BENCH_BIN="$BENCH_BIN" BUILD_DIR="$OUT" RESULTS="$RESULTS" \
  QUICK=1 RUNS=1 FLOOD_SECONDS=1 LAT_RUNS=1 LAT_SECONDS=1 FIXED_RUNS=1 FIXED_SECONDS=1 ENGINE_MEM=0 MAX_TEMPLATES=100000 \
  BENCH_NICE=0 ONLY="${CONFIGS[*]}" \
  "$ROOT/bench/run.sh" || e2e_die "bench/run.sh failed (its last lines above name the configuration)"

[ -s "$RESULTS" ] || e2e_die "bench/run.sh wrote no $RESULTS"
for cfg in "${CONFIGS[@]}"; do
  for phase in flood lat fixed; do
    grep -Eq "^cfg=$cfg phase=$phase .* delivered=[1-9][0-9]* " "$RESULTS" ||
      e2e_die "configuration $cfg: no $phase run that delivered packets in $RESULTS"
  done
done
e2e_log "every configuration ran and delivered packets: ${CONFIGS[*]} (results: $RESULTS)"
