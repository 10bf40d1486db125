#!/bin/bash
# The libFuzzer targets, built with clang (the main build uses g++, which has
# no libFuzzer) straight from the sources they need.
#   run_fuzz.sh build WORK_DIR
#     compiles every product source once (2 at a time) and links the targets
#     fuzz_packet, fuzz_engine, fuzz_loaders, fuzz_api, fuzz_sync and make_seeds;
#   run_fuzz.sh run TARGET SECONDS WORK_DIR
#     seeds TARGET's corpus (kept between runs: libFuzzer adds what it finds)
#     from the tests' inputs and from seeds/TARGET/ (regression inputs), then
#     fuzzes for SECONDS. Any crash, sanitizer report or trap fails the run.
# CXX via $FUZZ_CXX (default clang++).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cxx=${FUZZ_CXX:-clang++}
usage="usage: run_fuzz.sh build WORK_DIR | run TARGET SECONDS WORK_DIR"

flags=(-std=c++20 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
       -DBOOST_BEAST_USE_STD_STRING_VIEW
       -I"$root")

# OBJ.o exists and is newer than this script (its flags) and everything OBJ.d lists.
up_to_date() {
  local o=$1.o dep
  [ -f "$o" ] && [ -f "$1.d" ] && [ "$o" -nt "$here/run_fuzz.sh" ] || return 1
  for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$1.d"); do
    [ "$dep" -nt "$o" ] && return 1
  done
  return 0
}

# compile OBJ_DIR FLAGS... -- SOURCES...: each source whose object is not
# up to date, two at a time (compiling them all takes minutes).
compile() {
  local dir=$1 extra=() src stale=()
  shift
  while [ "$1" != -- ]; do extra+=("$1"); shift; done
  shift
  for src in "$@"; do up_to_date "$dir/$(basename "$src" .cpp)" || stale+=("$src"); done
  [ ${#stale[@]} -gt 0 ] || return 0
  printf '%s\n' "${stale[@]}" |
    FUZZ_OBJ=$dir xargs -P 2 -I{} sh -c \
      'o="$FUZZ_OBJ/$(basename {} .cpp)"; exec "$0" "$@" -MMD -MF "$o.d" -c {} -o "$o.o"' \
      "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link "${extra[@]}"
}

build() {
  local work=$1
  mkdir -p "$work/obj"
  local engine
  mapfile -t engine < <(find "$root/engine" -name '*.cpp' | sort)
  local core=("$root"/daemon/config/{api_config,config_field_error,config_file,config_json}.cpp
              "$root"/daemon/config/{daemon_checks,daemon_config,forwarding_config,health_check_json}.cpp
              "$root"/daemon/config/{json_fields,json_text,queue_spec,service_json}.cpp
              "$root"/daemon/config/{state_file,control_plane,sync_config,fast_path_config}.cpp
              "$root"/daemon/health/{health_check,server_health_agreement}.cpp "$root"/daemon/log.cpp)
  local api=("$root"/api/{router,routes,routes_config,routes_servers,routes_services,routes_stats,routes_templates}.cpp
             "$root"/api/{problem,rates,metrics,server_id,server_state,service_edit,auth}.cpp)
  local sync
  mapfile -t sync < <(find "$root/sync" -name '*.cpp' | sort)
  local tests=("$here"/{fuzz_packet,fuzz_engine,fuzz_loaders,fuzz_api,fuzz_sync,make_seeds}.cpp)
  # Product code is compiled as its own build does (no -Werror: clang warns
  # where g++ does not); the fuzz sources are held to -Werror.
  compile "$work/obj" -Wall -- "${engine[@]}" "${core[@]}" "${api[@]}" "${sync[@]}"
  compile "$work/obj" -Wall -Wextra -Werror -- "${tests[@]}"
  local o=$work/obj
  local engine_o=() core_o=() api_o=() sync_o=() f
  for f in "${engine[@]}"; do engine_o+=("$o/$(basename "$f" .cpp).o"); done
  for f in "${sync[@]}"; do sync_o+=("$o/$(basename "$f" .cpp).o"); done
  for f in "${core[@]}"; do core_o+=("$o/$(basename "$f" .cpp).o"); done
  for f in "${api[@]}"; do api_o+=("$o/$(basename "$f" .cpp).o"); done
  local link=("$cxx" "${flags[@]}" -pthread)
  "${link[@]}" -fsanitize=fuzzer "$o/fuzz_packet.o" "${engine_o[@]}" -o "$work/fuzz_packet"
  "${link[@]}" -fsanitize=fuzzer "$o/fuzz_engine.o" "${engine_o[@]}" -o "$work/fuzz_engine"
  "${link[@]}" -fsanitize=fuzzer "$o/fuzz_loaders.o" "${core_o[@]}" "${sync_o[@]}" "${engine_o[@]}" -lsodium \
    -o "$work/fuzz_loaders"
  "${link[@]}" -fsanitize=fuzzer "$o/fuzz_api.o" "${api_o[@]}" "${core_o[@]}" "${sync_o[@]}" "${engine_o[@]}" -lsodium \
    -o "$work/fuzz_api"
  "${link[@]}" -fsanitize=fuzzer "$o/fuzz_sync.o" "${sync_o[@]}" "${engine_o[@]}" -lsodium -o "$work/fuzz_sync"
  "${link[@]}" "$o/make_seeds.o" "${core_o[@]}" "${sync_o[@]}" "${engine_o[@]}" -lsodium -o "$work/make_seeds"
}

run() {
  local target=$1 seconds=$2 work=$3
  local corpus=$work/corpus/$target
  mkdir -p "$corpus" "$work/artifacts/$target"
  "$work/make_seeds" "$target" "$corpus" "$root/packaging/sipvsd.json"
  if [ -d "$here/seeds/$target" ]; then cp "$here/seeds/$target"/* "$corpus/"; fi
  # The loaders and the API log through stderr; libFuzzer keeps its own
  # output and the sanitizers' reports on a copy of it.
  local quiet=()
  case $target in loaders | api) quiet=(-close_fd_mask=2) ;; esac
  # Their scratch directories (state files, fsynced at every change) in memory when there is room.
  if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
  exec "$work/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 "${quiet[@]}" \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$target/" "$corpus"
}

case ${1:-} in
  build) [ $# -eq 2 ] || { echo "$usage" >&2; exit 2; }; build "$2" ;;
  run) [ $# -eq 4 ] || { echo "$usage" >&2; exit 2; }; run "$2" "$3" "$4" ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
