# lib.sh: what the VM's guest tests share (sourced by ipvs-test.sh, nft-test.sh and fast-path-test.sh).
# busybox's ash prefers its own applets: iproute2's ip is needed for netns.
ip() { /sbin/ip "$@"; }
fails=0
step() { echo; echo "=== [$(cut -d' ' -f1 /proc/uptime) s] $*"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
# wait_for SECONDS CONDITION: polls ten times a second, bounded.
wait_for() {
  n=$(($1 * 10))
  while [ $n -gt 0 ]; do
    eval "$2" && return 0
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}
# settle: until the sinks' log stops growing for a second (at most 15 s).
settle() {
  last=-1
  n=0
  while [ $n -lt 15 ]; do
    now=$(wc -l </tmp/sink.log)
    [ "$now" = "$last" ] && return 0
    last=$now
    sleep 1
    n=$((n + 1))
  done
}

# sipvsd and its nft ruleset: these read $CFG (sipvsd's configuration) and
# $RULES (where the printed ruleset goes).

# load_rules: the ruleset exactly as `sipvsd rules --format nft` prints it,
# and the fallback routes it prints as comments (`ip route replace VIP via R`).
load_rules() {
  sipvsd rules --format nft --config $CFG >$RULES || { fail "sipvsd rules --format nft"; return 1; }
  if ! nft -f $RULES; then
    fail "nft -f refused what sipvsd rules --format nft printed"
    cat $RULES
    return 1
  fi
  sed -n 's/^#   \(ip\( -6\)\? route replace [^ ]* via [^ ]*\)$/\1/p' $RULES >/tmp/fallback.sh
  echo "fallback routes, from the comments:"
  cat /tmp/fallback.sh
  while read -r command; do eval "$command" || fail "$command"; done </tmp/fallback.sh
}

start_sipvsd() {  # start_sipvsd LOG; $AS, if set, runs it (setpriv ...)
  $AS sipvsd --config $CFG >"$1" 2>&1 &
  SIPVSD=$!
  # Until it says so, or exits (a refused configuration or program: no use waiting).
  wait_for 60 "grep -q 'started with' $1 || ! kill -0 $SIPVSD 2>/dev/null"
  if ! grep -q 'started with' "$1"; then
    fail "sipvsd did not start"
    cat "$1"
    return 1
  fi
}

stop_sipvsd() {
  kill -TERM $SIPVSD
  wait $SIPVSD
}

