#!/bin/bash
# Lists every product function longer than 60 lines, as clang-tidy's
# readability-function-size counts them (whitespace and comments included),
# from the build's compile_commands.json; exits 1 when there is one.
#   scripts/function-lengths.sh [BUILD_DIR]     (default: build)
# The tests' own sources are not product code and are not read.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
[ -f "$build/compile_commands.json" ] ||
  { echo "function-lengths: no $build/compile_commands.json: configure with cmake first" >&2; exit 2; }
command -v clang-tidy >/dev/null ||
  { echo "function-lengths: clang-tidy is missing: run scripts/install-deps.sh" >&2; exit 2; }
mapfile -t sources < <(cd "$root" && git ls-files 'engine/*.cpp' 'daemon/*.cpp' 'api/*.cpp' 'bench/*.cpp')
config='{Checks: "-*,readability-function-size",
  CheckOptions: [{key: readability-function-size.LineThreshold, value: 60}]}'
# "FILE:LINE:COL: warning: function 'NAME' exceeds..." is followed by
# "FILE:LINE:COL: note: N lines including whitespace and comments".
long=$(cd "$root" && printf '%s\n' "${sources[@]}" |
  xargs -P 2 -n 4 clang-tidy -p "$build" --quiet --config="$config" 2>/dev/null |
  sed -nE "s|^$root/||; s|^([^:]+:[0-9]+):[0-9]+: warning: function '([^']+)' exceeds.*|\1 \2|p;
           s|^[^:]+:[0-9]+:[0-9]+: note: ([0-9]+) lines including.*|\1|p" |
  paste -d' ' - - | sort) || true
if [ -n "$long" ]; then
  echo "functions over 60 lines (FILE:LINE NAME LINES):"
  echo "$long"
  exit 1
fi
echo "function-lengths: no product function over 60 lines (${#sources[@]} files read)"
