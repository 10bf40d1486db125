#!/bin/bash
# Builds the libFuzzer target with clang (the main build uses g++, which has
# no libFuzzer) straight from the engine sources it needs, seeds a corpus and
# fuzzes for SECONDS. Any crash, sanitizer report or trap fails the run.
# Usage: run_fuzz.sh SECONDS [WORK_DIR]   (CXX via $FUZZ_CXX, default clang++)
set -euo pipefail

seconds=${1:?usage: run_fuzz.sh SECONDS [WORK_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
engine=$here/../../daemon/engine
work=${2:-$PWD/fuzz-work}
cxx=${FUZZ_CXX:-clang++}

mkdir -p "$work/corpus" "$work/artifacts"
"$cxx" -std=c++20 -g -O1 -Wall -Wextra -Werror \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$engine" "$here/fuzz_packet.cpp" \
  "$engine/packet_view.cpp" "$engine/sip_header.cpp" "$engine/ip_address.cpp" \
  -o "$work/fuzz_packet"
"$cxx" -std=c++20 -O1 -Wall -Wextra -Werror "$here/make_seeds.cpp" -o "$work/make_seeds"
# The corpus is kept between runs (libFuzzer adds what it finds to it).
"$work/make_seeds" "$work/corpus"

exec "$work/fuzz_packet" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus"
