#!/usr/bin/env bash
# UDP GRO forwarding on the director's ingress device, in the namespaces of
# lib.sh (client, director, three backends; IPv4 service "sip4", round robin).
# With `rx-udp-gro-forwarding` the kernel coalesces same-sized datagrams of
# one flow — one SIP trunk, one source IP:port — into one super-packet before
# the NFQUEUE rule sees it. bench/sipgen sends bursts of INVITEs, ACKs and
# BYEs of many calls from one IP:port; every message of a pass has the same
# size, so veth coalesces them once GRO is on. Proves:
#   1. GRO did coalesce here: the NFQUEUE rule matched fewer packets than
#      sipgen sent (if not, the kernel or veth cannot show it: skip, exit 77);
#   2. every datagram was decided on its own: each one, judged per Call-ID
#      from captures at the backends, reached the real server that its
#      call's template names, and every Call-ID has a template;
#   3. the kernel's own queue counters (/proc/net/netfilter/nfnetlink_queue)
#      appear per queue in /v1/stats and /metrics and move: one packet id per
#      datagram, none left waiting for a verdict (checked before point 1, so
#      also where GRO does not coalesce).
# Usage: e2e_gro.sh PATH/TO/sipvsd PATH/TO/sipgen   (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_gro.sh PATH/TO/sipvsd PATH/TO/sipgen}")
SIPGEN=$(realpath "${2:?usage: e2e_gro.sh PATH/TO/sipvsd PATH/TO/sipgen}")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_require curl iptables ethtool tcpdump tc

CALLS=1000   # 3000 datagrams: fits the queue (maxlen 8192) and sipvsd's socket buffer, so none fails open
e2e_init gro
e2e_topology 3
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
e2e_config "$CONF" rr 1 1 1
e2e_config_api "$CONF"
"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"

# GRO on the director's ingress veth. veth polls in the sender's own softirq
# right after each packet, so nothing would accumulate to coalesce; threaded
# NAPI lets a burst queue up first, as a busy NIC's ring does.
nsx d ethtool -K d0 gro on rx-udp-gro-forwarding on ||
  { echo "SKIP: ethtool cannot turn on GRO forwarding on veth here"; exit 77; }
nsx d sh -c 'echo 1 > /sys/class/net/d0/threaded' ||
  e2e_log "threaded NAPI unavailable on d0; GRO may not coalesce"
# A queue on the client's veth: when the director's ring is full, veth stops
# the queue instead of dropping (noqueue would drop), so every burst arrives.
nsx c tc qdisc replace dev c0 root pfifo limit 10000 || e2e_die "no pfifo qdisc on c0"
e2e_log "d0: $(nsx d ethtool -k d0 | grep -E '^(generic-receive-offload|rx-udp-gro-forwarding):' | tr '\n' ' ')"

e2e_start_sipvsd "$SIPVSD" "$CONF"
CAPTURES=()
for i in 1 2 3; do
  ip netns exec "$(e2e_ns "b$i")" tcpdump -i e0 --immediate-mode -U -B 32768 -s 0 -w "$E2E_DIR/b$i.pcap" "udp dst port 5060" >"$E2E_DIR/b$i.tcpdump.log" 2>&1 &
  E2E_PIDS+=($!)
  CAPTURES+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 50); do grep -q 'listening on' "$E2E_DIR/b$i.tcpdump.log" && break; sleep 0.1; done
  grep -q 'listening on' "$E2E_DIR/b$i.tcpdump.log" || e2e_die "tcpdump in b$i did not start"
done

# kernel_counters: "ids waiting packets" summed over both queues: the
# kernel's id_sequence and queue_total, sipvsd's own packets (/metrics);
# /v1/stats must show the kernel's counters of both queues too.
kernel_counters() {
  e2e_api GET /v1/stats
  [ "$(grep -c '"id_sequence": *[0-9]' "$E2E_DIR/api-body")" = 2 ] && ! grep -q '"kernel": *null' "$E2E_DIR/api-body" ||
    { echo "no kernel counters per queue in /v1/stats: $(tr -d ' \n' <"$E2E_DIR/api-body" | grep -o '"queues":\[[^]]*\]' | head -c 400)"; return 1; }
  e2e_api GET /metrics
  awk '/^sipvsd_queue_kernel_ids_total\{/ { ids += $2; n++ } /^sipvsd_queue_kernel_waiting\{/ { waiting += $2; w++ }
       /^sipvsd_queue_packets_total\{/ { packets += $2 }
       END { if (n != 2 || w != 2) { print "no kernel counters per queue in /metrics"; exit 1 } print ids, waiting, packets }' \
    "$E2E_DIR/api-body"
}

# The trunk's flow first, alone: a running trunk has a confirmed conntrack
# entry. Before the first verdict confirms it, every packet of the flow gets
# an unconfirmed entry of its own, shared by the segments of a GRO packet,
# and the kernel forwards only one of those segments.
nsx c "$SIPGEN" --dst $E2E_VIP4 --src $E2E_CLIENT4 --sport 5061 --calls 1 --count 1 --tag warm >/dev/null ||
  e2e_die "sipgen (the first datagram) failed"
sleep 1
K0=$(kernel_counters) || e2e_die "$K0"
read -r ids0 _ packets0 <<<"$K0"

# The NFQUEUE rule's packet counter: skbs, so a super-packet counts once.
queued_skbs() {
  nsx d iptables -t mangle -L PREROUTING -v -x -n | awk '/NFQUEUE/ && /udp/ { n += $1 } END { print n + 0 }'
}
skbs0=$(queued_skbs)
# INVITEs, then ACKs, then BYEs of CALLS calls, flat out, from 198.18.0.1:5061.
nsx c "$SIPGEN" --dst $E2E_VIP4 --src $E2E_CLIENT4 --sport 5061 --calls $CALLS --count $((3 * CALLS)) \
  --rate 0 --batch 64 --seconds 20 --tag gro >"$E2E_DIR/sipgen.out" 2>&1 || e2e_die "sipgen: $(cat "$E2E_DIR/sipgen.out")"
SENT=$(sed -n 's/.* sent=\([0-9]*\).*/\1/p' "$E2E_DIR/sipgen.out")
[ "$SENT" = $((3 * CALLS)) ] || e2e_die "sipgen sent $SENT of $((3 * CALLS)) datagrams: $(cat "$E2E_DIR/sipgen.out")"
sleep 2  # sipvsd works off its queue; the last packets reach the backends
SKBS=$(($(queued_skbs) - skbs0))
for pid in "${CAPTURES[@]}"; do e2e_stop_pid "$pid" INT || e2e_die "tcpdump did not stop"; done
e2e_log "sipgen sent $SENT datagrams; the NFQUEUE rule saw $SKBS packets"

# ---- 3: the kernel's counters ----
K1=$(kernel_counters) || e2e_die "$K1"
read -r ids1 waiting1 packets1 <<<"$K1"
e2e_log "kernel: $((ids1 - ids0)) packet ids given, $waiting1 packets waiting for a verdict; sipvsd gave $((packets1 - packets0)) verdicts"
[ $((ids1 - ids0)) = "$SENT" ] || e2e_die "the kernel queued $((ids1 - ids0)) packets for $SENT datagrams"
[ "$waiting1" = 0 ] || e2e_die "$waiting1 packets still wait for a verdict"
[ $((packets1 - packets0)) = "$SENT" ] || e2e_die "sipvsd gave $((packets1 - packets0)) verdicts for $SENT datagrams"

# ---- 1: GRO coalesced ----
if [ "$SKBS" -ge "$SENT" ]; then
  echo "SKIP: GRO did not coalesce on veth here ($SENT datagrams, $SKBS packets at the NFQUEUE rule): nothing to show"
  exit 77
fi

# ---- 2: per Call-ID, every datagram at its template's server ----
e2e_api GET "/v1/templates?format=text&service=sip4&limit=100000"
# "T <call-id> <backend>" per template, "D <call-id> <backend>" per datagram
# (one Call-ID header each, also inside a super-packet: tcpdump -A prints the
# whole payload), then the judge.
{
  awk 'NR > 1 { split($6, a, ":"); n = split(a[1], o, "."); print "T", $NF, "b" o[n] }' "$E2E_DIR/api-body"
  for i in 1 2 3; do
    tcpdump -r "$E2E_DIR/b$i.pcap" -A 2>/dev/null | grep -o 'Call-ID: gro-[^[:space:]]*' | awk -v b="b$i" '{ print "D", $2, b }'
  done
} >"$E2E_DIR/judge.in"
read -r datagrams placed misrouted untemplated < <(awk '
  $1 == "T" { server[$2] = $3; next }
  { n++; if (!($2 in server)) { none++; if (shown++ < 5) print "no template: " $2 " at " $3 > "/dev/stderr" }
    else if (server[$2] == $3) ok++
    else { bad++; if (shown++ < 5) print "misrouted: " $2 " at " $3 ", template " server[$2] > "/dev/stderr" } }
  END { print n + 0, ok + 0, bad + 0, none + 0 }' "$E2E_DIR/judge.in")
e2e_log "backends received $datagrams datagrams: $placed at their template's server, $misrouted elsewhere, $untemplated of calls without a template ($((SENT - SKBS)) datagrams arrived coalesced)"
[ "$datagrams" = "$SENT" ] || e2e_die "the backends received $datagrams of $SENT datagrams"
[ "$misrouted" = 0 ] && [ "$untemplated" = 0 ] || e2e_die "datagrams coalesced by GRO were not decided one by one"
e2e_log "PASS: $SENT datagrams of $CALLS calls from one IP:port, $((SENT - SKBS)) of them coalesced by GRO, each at its own call's server"
