#!/usr/bin/env bash
# Malformed and hostile UDP to the VIP, through the real NFQUEUE, while SIPp
# calls run (tests/e2e/lib.sh's topology, three backends). From the client,
# one source port per kind, KINDS x PER_KIND packets interleaved:
#   truncated     a request cut inside its headers, no Call-ID   -> fallback "absent"
#   huge_header   a 1200-byte header line, no Call-ID            -> fallback "absent"
#   empty_callid  "Call-ID:" with nothing after it               -> fallback "empty"
#   long_callid   a 300-byte Call-ID (the limit is 255)          -> fallback "too_long"
#   many_callids  40 Call-ID headers, all different              -> fallback "conflicting"
#   non_sip       binary bytes with NULs, not a SIP start line   -> fallback "wrong_protocol"
#   empty_udp     a UDP datagram without payload                 -> fallback "wrong_protocol"
#   nul_callid    a Call-ID with NUL bytes in it: a valid key    -> placed by Call-ID
# Each backend counts them by source port (an iptables rule that also drops
# them, so that SIPp never sees them). Proves:
#   1. nothing is lost: every hostile packet reached a backend;
#   2. each is counted by reason: /v1/stats's pe_fallbacks_by_reason equals
#      what was sent of each kind (SIPp's calls never fall back);
#   3. the daemon neither crashed nor stopped serving: the SIPp calls all
#      succeeded, each on one backend with INVITE, ACK and BYE; /healthz answers.
# Timing is reported, not judged (these machines are shared).
# Usage: ops_hostile.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: ops_hostile.sh PATH/TO/sipvsd}")
# shellcheck source=../e2e/lib.sh
source "$HERE/../e2e/lib.sh"
e2e_require sipp curl iptables python3

PER_KIND=${PER_KIND:-2000}
KINDS=(truncated huge_header empty_callid long_callid many_callids non_sip empty_udp nul_callid)
BASE_PORT=40000    # kind k comes from client port BASE_PORT + k (SIPp takes 6000 for media)
RATE=20            # SIPp calls per second
PAUSE_MS=1000
CALLS=$((RATE * 12))

e2e_init hostile
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); ${#KINDS[@]} kinds x $PER_KIND packets"
e2e_topology 3
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
e2e_config "$CONF" wrr 1 1 1
e2e_config_api "$CONF"
"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"
LAST_PORT=$((BASE_PORT + ${#KINDS[@]} - 1))
for i in 1 2 3; do
  nsx "b$i" iptables -A INPUT -p udp -d $E2E_VIP4 --dport 5060 --sport "$BASE_PORT:$LAST_PORT" -j DROP ||
    e2e_die "counting rule in b$i"
done
e2e_start_sipvsd "$SIPVSD" "$CONF"
for i in 1 2 3; do e2e_start_uas "b$i" $E2E_VIP4 "$E2E_DIR/b$i"; done
for i in 1 2 3; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done

UAC=$E2E_DIR/uac
e2e_uac_start "$UAC" $E2E_VIP4:5060 $E2E_CLIENT4 $CALLS $RATE $PAUSE_MS
UAC_WAITER=$E2E_UAC_WAITER UAC_PID=$E2E_UAC_SIPP
sleep 2

# The sender: interleaved kinds, paced to about 4000 packets/s so that the
# calls share the queue with them; bounded by count and by 60 s.
T0=$(date +%s%3N)
nsx c timeout 60 python3 - "$E2E_CLIENT4" "$E2E_VIP4" "$BASE_PORT" "$PER_KIND" "${KINDS[@]}" <<'PY' ||
import socket, sys, time
client, vip, base, per_kind, kinds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
head = "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.1:%d;branch=z9hG4bK-h%d\r\n"
def build(kind, port, n):
    h = head % (port, n)
    tail = "From: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    if kind == "truncated": return (h + "From: <sip:a@x>;ta")[: 60 + n % 40].encode()
    if kind == "huge_header": return (h + "X-Pad: " + "p" * 1200 + "\r\n" + tail).encode()
    if kind == "empty_callid": return (h + "Call-ID:   \r\n" + tail).encode()
    if kind == "long_callid": return (h + "Call-ID: " + "L%06d" % n + "x" * 293 + "\r\n" + tail).encode()
    if kind == "many_callids": return (h + "".join("i: c%d-%d\r\n" % (n, k) for k in range(40)) + tail).encode()
    if kind == "non_sip": return bytes([0, 1, 2, 0, 0xff, n % 256]) * 20
    if kind == "empty_udp": return b""
    if kind == "nul_callid": return (h + "Call-ID: nul\0in\0the\0id-%d\r\n" % n + tail).encode()
    raise SystemExit("unknown kind " + kind)
socks = []
for k, kind in enumerate(kinds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((client, base + k))
    socks.append((s, kind, base + k))
start = time.monotonic()
sent = 0
for n in range(per_kind):
    for s, kind, port in socks:
        s.sendto(build(kind, port, n), (vip, 5060))
        sent += 1
    # Pace: about 4000 packets per second in all.
    ahead = sent / 4000.0 - (time.monotonic() - start)
    if ahead > 0: time.sleep(ahead)
print("sent %d packets in %.2f s" % (sent, time.monotonic() - start), file=sys.stderr)
PY
  e2e_die "the hostile sender failed"
SEND_MS=$(($(date +%s%3N) - T0))

# arrived PORT: hostile packets from PORT counted by the three backends.
arrived() {
  local i total=0 n
  for i in 1 2 3; do
    n=$(nsx "b$i" iptables -L INPUT -n -v -x | awk '$3 == "DROP" { print $1 }')
    total=$((total + ${n:-0}))
  done
  echo "$total"
}
EXPECTED=$((PER_KIND * ${#KINDS[@]}))
for i in $(seq 1 50); do
  [ "$(arrived)" -ge "$EXPECTED" ] && break
  sleep 0.2
done
ARRIVED=$(arrived)
wait "$UAC_WAITER" || true
kill -0 "$E2E_SIPVSD_PID" 2>/dev/null || e2e_die "sipvsd died: $(tail -5 "$E2E_DIR/sipvsd.log")"
e2e_api GET /healthz
e2e_api GET /v1/stats

# Expected fallbacks by reason, from the kinds sent.
python3 - "$E2E_DIR/api-body" "$PER_KIND" <<'PY' || e2e_die "fallbacks by reason differ from what was sent"
import json, sys
stats, per_kind = json.load(open(sys.argv[1])), int(sys.argv[2])
want = {"absent": 2 * per_kind, "empty": per_kind, "too_long": per_kind, "conflicting": per_kind,
        "wrong_protocol": 2 * per_kind}
svc = next(s for s in stats["services"] if s["name"] == "sip4")
got = {k: v for k, v in svc["pe_fallbacks_by_reason"].items() if v}
print("  pe_fallbacks_by_reason: %s (expected %s); drops: %s" % (got, want, json.dumps(stats["drops"])), file=sys.stderr)
sys.exit(0 if got == want else 1)
PY

OK=$(e2e_sipp_count "$UAC/screen.log" "Successful call")
FAILED=$(e2e_sipp_count "$UAC/screen.log" "Failed call")
declare -A AFF
while read -r k v; do AFF[$k]=$v; done < <(e2e_affinity "$UAC_PID" - "$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3")
e2e_log "hostile: $EXPECTED sent in $SEND_MS ms, $ARRIVED reached a backend; UAC: $OK successful, $FAILED failed of $CALLS"
e2e_log "calls: ${AFF[callids]} Call-IDs, ${AFF[single]} on one backend, ${AFF[complete]} complete"
[ "$ARRIVED" = "$EXPECTED" ] || e2e_die "$ARRIVED of $EXPECTED hostile packets reached a backend"
[ "$OK" = "$CALLS" ] || e2e_die "$OK of $CALLS calls succeeded"
[ "${AFF[callids]}" = "$CALLS" ] && [ "${AFF[single]}" = "$CALLS" ] && [ "${AFF[complete]}" = "$CALLS" ] ||
  e2e_die "calls disturbed: ${AFF[single]}/${AFF[complete]} of ${AFF[callids]} whole on one backend"
e2e_log "PASS: $EXPECTED hostile packets of ${#KINDS[@]} kinds all forwarded and counted by reason; $OK/$CALLS calls whole"
