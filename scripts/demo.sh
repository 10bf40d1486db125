#!/usr/bin/env bash
# The demo: installs the dependencies (Debian 12, as root), builds sipvsd
# (the Debug build in build/, as scripts/test.sh makes it) and runs it as the director of a small network of
# namespaces: a SIPp client sends calls from one IP:port (like a SIP trunk) to
# a VIP; sipvsd spreads them by Call-ID over three SIPp servers with weights
# 1:1:2 (scheduler mh, persistence engine "sip"). Prints how many calls each
# server got and a few of sipvsd's templates with their Call-IDs.
#
#   scripts/demo.sh [CALLS] [RATE]     (default 300 calls at 100 calls/s)
#   SKIP_DEPS=1 scripts/demo.sh        (dependencies already installed)
#   BUILD_DIR=/path scripts/demo.sh    (another build directory)
#
# Everything happens in namespaces the demo creates and removes; the host's own
# routes and firewall are not touched. Addresses: 198.18.0.0/15 (benchmarking).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLS=${1:-300}
RATE=${2:-100}

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
if [ "${SKIP_DEPS:-0}" != 1 ]; then
  echo "== installing dependencies (scripts/install-deps.sh)"
  bash "$ROOT/scripts/install-deps.sh"
fi
BUILD=${BUILD_DIR:-$ROOT/build}
echo "== building sipvsd ($BUILD)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target sipvsd >/dev/null
SIPVSD=$BUILD/daemon/sipvsd

# shellcheck source=../tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
E2E_KEEP_ON_FAIL=0
e2e_init demo
echo "== network: client -- director (sipvsd) -- 3 backends, VIP $E2E_VIP4:5060"
e2e_topology 3
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
e2e_config "$CONF" mh 1 1 2
echo "== configuration ($CONF):"
sed 's/^/   /' "$CONF" | head -12
echo "   ..."
echo "== the kernel side, as \`sipvsd rules\` prints it for this configuration (excerpt):"
"$SIPVSD" rules --config "$CONF" | grep -E '^(iptables|ip rule|ip route)' | head -5 | sed 's/^/   /'
e2e_start_sipvsd "$SIPVSD" "$CONF"
for i in 1 2 3; do e2e_start_uas "b$i" $E2E_VIP4 "$E2E_DIR/b$i"; done
for i in 1 2 3; do e2e_wait_udp "b$i" 5060 || e2e_die "SIPp server $i did not start"; done

echo "== $CALLS calls at $RATE/s from $E2E_CLIENT4:5061 to $E2E_VIP4:5060 (SIPp, INVITE/ACK/BYE)"
rc=0
e2e_uac "$E2E_DIR/uac" $E2E_VIP4:5060 $E2E_CLIENT4 "$CALLS" "$RATE" 0 || rc=$?
ok=$(e2e_sipp_count "$E2E_DIR/uac/screen.log" "Successful call")
failed=$(e2e_sipp_count "$E2E_DIR/uac/screen.log" "Failed call")
echo "   client: $ok successful, $failed failed (SIPp exit $rc)"
sleep 0.5

declare -A A=()
while read -r k v; do [ "$k" != split ] && A[$k]=$v; done \
  < <(e2e_affinity "$E2E_UAC_PID" - "$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3")
echo "== calls per backend (from what each SIPp server received):"
for i in 1 2 3; do
  n=${A[calls.b$i]:-0}
  w=1
  [ "$i" = 3 ] && w=2
  printf '   backend %d (%s, weight %d): %4d calls  %5s %%\n' "$i" "$(e2e_backend4 "$i")" "$w" "$n" \
    "$(e2e_pct "$n" "${A[callids]:-0}")"
done
echo "   every message of a call on one backend: ${A[single]:-0} of ${A[callids]:-0} Call-IDs"

echo "== a few of sipvsd's templates (SIGRTMIN dumps them to its log):"
kill -RTMIN "$E2E_SIPVSD_PID"
sleep 0.5
# Two per real server, from the 20 the dump writes.
grep -o 'template service=.*' "$E2E_DIR/sipvsd.log" | awk '{ split($0, f, " server="); split(f[2], g, " "); if (n[g[1]]++ < 2) print }' |
  sed -E 's/template service=([^ ]*) client=([^ ]*) -> ([^ ]*) fwmark=[0-9]* server=([^ ]*) mark=([^ ]*) pe=([^ ]*) pe_data="([^"]*)" expires_in=(.*)/   Call-ID \7 -> \4 (mark \5, service \1, expires in \8)/'
echo "== sipvsd's counters:"
grep -E 'queue [0-9]+: packets|engine:' "$E2E_DIR/sipvsd.log" | tail -3 | sed -E 's/^(<[0-9]>)?/   /'
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || true
echo "== done; namespaces removed"
