# lib.sh: what the VM's guest tests share (sourced by ipvs-test.sh and nft-test.sh).
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
