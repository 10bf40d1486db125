#!/usr/bin/env bash
# End-to-end test of calls in both directions (issue 14), in e2e_sipp's
# namespaces: the director is the real servers' default gateway, so what they
# send towards the carrier passes it. Each of the three real servers places
# calls with a SIPp UAC bound to the VIP, port 5060, to a SIPp UAS on the trunk
# side that answers and then hangs up itself (its 200 OK and its BYE come back
# to the VIP); at the same time a trunk sends calls in to the other family's
# VIP, as in e2e_sipp. Both families take both roles, in two rounds. Judged per
# Call-ID from what each real server and the trunk received:
#   1. with sipvsd's rule for what comes from the VIP: every call the real
#      servers placed completes, and every response and in-dialog request of
#      it reached the server that placed it (100 %); every inbound call
#      completes on one server; sipvsd lists the learned templates;
#   2. the same traffic without that rule: how many placed calls break (the
#      scheduler places their answers, mostly on another server), which must
#      be some;
#   3. with no path through the director at all (the real servers reach the
#      carrier over a link of their own) and the sip-tag PE: the real servers
#      tag their Via (;sipvsd=sN) and Contact (a parameter on b1 and b2, the
#      user part sipvsd-s3 on b3), and every placed call completes with 100 %
#      of its messages on the server that placed it, inbound unaffected;
#      sipvsd counts tagged messages and saw nothing the servers sent.
# First, a single call b3 places the moment sipvsd has started, and another
# the moment the API adds b3 again, are each learned for b3.
# Usage: e2e_outbound.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_outbound.sh PATH/TO/sipvsd}")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_require sipp iptables curl python3

CALLS=30        # placed by each real server, per round
RATE=10         # calls per second, per real server
HOLD_MS=1000    # the callee hangs up this long after the ACK
IN_CALLS=90     # sent in by the trunk, per round
CARRIER4=198.18.0.2
CARRIER6=2001:2::2
# The carrier's address on the real servers' own link (point 3).
DIRECT4=198.18.3.2
DIRECT6=2001:2:0:3::2
T_START=$SECONDS
e2e_init outbound
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"

e2e_topology 3 --sources 2
ip -n "$(e2e_ns c)" addr add $CARRIER6/64 dev c0 nodad
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
e2e_config "$CONF" mh 1 1 1
e2e_config_api "$CONF"
# learning_rules add|delete: the rules for what the real servers send from the VIPs.
learning_rules() {
  local op=-A
  [ "$1" = delete ] && op=-D
  local ct="-m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED"
  # shellcheck disable=SC2086
  nsx d iptables -t mangle $op PREROUTING -p udp -s $E2E_VIP4 --sport 5060 $ct \
    -j NFQUEUE --queue-balance 0:1 --queue-bypass || e2e_die "iptables learning rule ($1)"
  # shellcheck disable=SC2086
  nsx d ip6tables -t mangle $op PREROUTING -p udp -s $E2E_VIP6 --sport 5060 $ct \
    -j NFQUEUE --queue-balance 0:1 --queue-bypass || e2e_die "ip6tables learning rule ($1)"
}

# first_call_learned WHEN: b3 places one call from the VIP the moment WHEN
# (sipvsd started, the API added b3); it is learned for b3, not sent to the
# scheduler as an unknown sender's. The director has sent b3 nothing before:
# sipvsd must resolve a server's link-layer address as soon as it is
# configured, not at housekeeping's next round.
FIRST_CALLS=0
first_call_learned() {
  local call_id="first-$FIRST_CALLS-$$@198.18.1.3"
  FIRST_CALLS=$((FIRST_CALLS + 1))
  nsx b3 python3 -c 'import socket, sys
vip, carrier, call_id = sys.argv[1:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((vip, 5060))
s.sendto(("INVITE sip:carrier@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK-%s\r\n"
          "From: <sip:rs@%s>;tag=1\r\nTo: <sip:carrier@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"
          "Content-Length: 0\r\n\r\n" % (carrier, vip, call_id, vip, carrier, call_id)).encode(), (carrier, 5060))' \
    "$E2E_VIP4" "$CARRIER4" "$call_id" || e2e_die "b3 could not send from the VIP"
  local n server=
  for n in $(seq 1 20); do
    e2e_api GET "/v1/templates?limit=1000"
    server=$(python3 -c 'import json, sys
print(" ".join(t["server"] + ("" if t["learned"] else "(scheduled)") for t in json.load(open(sys.argv[1]))["templates"]
               if t["pe_data"] == sys.argv[2]))' "$E2E_DIR/api-body" "$call_id")
    [ -n "$server" ] && break
    sleep 0.1
  done
  [ "$server" = 198.18.1.3:5060 ] || e2e_die "a call b3 placed the moment $1 was not learned for it: template ${server:-none}"
  SUMMARY+=("a call b3 placed the moment $1: learned for b3")
}

SUMMARY=()
learning_rules add
e2e_start_sipvsd "$SIPVSD" "$CONF"
first_call_learned "sipvsd started"
e2e_api DELETE /v1/services/sip4/servers/198.18.1.3:5060
sleep 1.5  # housekeeping's round: b3 is no server of sip4 in what it knows
e2e_api POST /v1/services/sip4/servers '{"address": "198.18.1.3", "port": 5060, "mark": '"$(e2e_mark4 3)"'}'
first_call_learned "the API added it"
learning_rules delete

# direct_link: a bridge in the carrier's namespace with a link from each real
# server, so that what they send the carrier's direct address never passes
# the director (what the carrier sends to the VIP still does).
direct_link() {
  local c i; c=$(e2e_ns c)
  # A fixed address: a bridge otherwise takes its lowest port's, which changes
  # as ports join, and a server that resolved the old one is not answered.
  ip -n "$c" link add bx address 02:00:c6:12:03:02 type bridge
  ip -n "$c" addr add $DIRECT4/24 dev bx
  ip -n "$c" addr add $DIRECT6/64 dev bx nodad
  ip -n "$c" link set bx up
  # The servers send from the VIP, which the carrier reaches through the director.
  nsx c sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.bx.rp_filter=0
  for i in 1 2 3; do
    ip link add e1 netns "$(e2e_ns "b$i")" type veth peer name "px$i" netns "$c"
    ip -n "$c" link set "px$i" master bx
    ip -n "$c" link set "px$i" up
    ip -n "$(e2e_ns "b$i")" addr add "198.18.3.$((10 + i))/24" dev e1
    ip -n "$(e2e_ns "b$i")" addr add "2001:2:0:3::$((10 + i))/64" dev e1 nodad
    ip -n "$(e2e_ns "b$i")" link set e1 up
    nsx "b$i" sysctl -qw net.ipv4.conf.e1.arp_ignore=1 net.ipv4.conf.e1.arp_announce=2 net.ipv4.conf.e1.rp_filter=0
  done
  for i in 1 2 3; do
    e2e_wait_ping "b$i" $DIRECT4 || e2e_die "no direct IPv4 link from b$i to the carrier"
    e2e_wait_ping "b$i" $DIRECT6 || e2e_die "no direct IPv6 link from b$i to the carrier"
  done
}

# tag_servers: both services read tags (pe sip-tag), server bN tagged sN.
tag_servers() {
  local svc i addr
  for svc in sip4 sip6; do
    e2e_api PATCH "/v1/services/$svc" '{"pe": "sip-tag"}'
    for i in 1 2 3; do
      if [ $svc = sip4 ]; then addr=$(e2e_backend4 "$i"); else addr=$(e2e_backend6 "$i"); fi
      e2e_api PATCH "/v1/services/$svc/servers/$addr" "{\"tag\": \"s$i\"}"
    done
  done
}

# placing_uac ROLE DIR VIP CARRIER TAGGED: a real server's UAC, bound to
# VIP:5060, placing CALLS calls to the carrier, tagging what it sends when
# TAGGED is 1; in the background (DIR/waiter: its pid).
placing_uac() {
  local role=$1 dir=$2 vip=$3 carrier=$4 tagged=$5
  local scenario=(-sf "$HERE/uac_callee_hangs_up.xml")
  if [ "$tagged" = 1 ]; then
    local n=${role#b}
    scenario=(-sf "$HERE/uac_tagged.xml" -key tag "s$n" -key contact_user rs -key contact_params ";sipvsd=s$n")
    [ "$n" = 3 ] && scenario=(-sf "$HERE/uac_tagged.xml" -key tag s3 -key contact_user sipvsd-s3
      -key contact_params ";transport=udp")
  fi
  mkdir -p "$dir"
  [[ $carrier == *:* ]] && carrier="[$carrier]"
  (cd "$dir" && exec ip netns exec "$(e2e_ns "$role")" sipp "${scenario[@]}" "$carrier:5060" \
    -i "$vip" -p 5060 -m $CALLS -r $RATE -nostdin -timeout 60s -timeout_error \
    -trace_msg -message_file "$dir/messages.log" -trace_err -error_file "$dir/errors.log" \
    -trace_screen -screen_file "$dir/screen.log" >"$dir/stdout.log" 2>&1) &
  e2e_track $!
  echo $! >"$dir/waiter"
}

# misplaced DIR PID: messages of calls that SIPp process PID did not make
# (Call-IDs "N-PID@host") that reached the UAC logging to DIR.
misplaced() {
  e2e_received "$1" | awk -F'\t' -v pid="$2" 'index($3, "-" pid "@") == 0 { n++ } END { print n + 0 }'
}

# round NAME OUT_FAMILY MODE: real servers place calls over OUT_FAMILY (4 or
# 6) while the trunk sends calls in over the other. MODE: learn (sipvsd's
# rule for what comes from the VIP), nolearn (without it), tag (tagged, over
# the direct link). Sets PLACED_OK, PLACED_BROKEN, MISPLACED, IN_OK.
round() {
  local name=$1 fam=$2 mode=$3 vip carrier in_vip in_from i learn=0 tagged=0
  [ "$mode" = learn ] && learn=1
  [ "$mode" = tag ] && tagged=1
  if [ "$fam" = 4 ]; then vip=$E2E_VIP4 carrier=$CARRIER4 in_vip=$E2E_VIP6 in_from=$E2E_CLIENT6
  else vip=$E2E_VIP6 carrier=$CARRIER6 in_vip=$E2E_VIP4 in_from=$E2E_CLIENT4; fi
  if [ $tagged = 1 ]; then
    carrier=$DIRECT4
    [ "$fam" = 6 ] && carrier=$DIRECT6
  fi
  local d=$E2E_DIR/$name
  mkdir -p "$d"
  [ "$learn" = 1 ] && learning_rules add
  # The trunk side: a UAS for the placed calls, a UAS per real server for the inbound ones.
  (cd "$d" && exec ip netns exec "$(e2e_ns c)" sipp -sf "$HERE/uas_hangs_up.xml" -i "$carrier" -p 5060 \
    -d $HOLD_MS -m $((3 * CALLS)) -nostdin -timeout 120s -trace_msg -message_file "$d/carrier-messages.log" \
    -trace_screen -screen_file "$d/carrier-screen.log" >"$d/carrier-stdout.log" 2>&1) &
  local carrier_pid=$!
  e2e_track $carrier_pid
  for i in 1 2 3; do e2e_start_uas "b$i" "$in_vip" "$d/in-b$i"; done
  e2e_wait_udp c 5060 || e2e_die "the carrier's UAS did not start"
  for i in 1 2 3; do
    nsx "b$i" ss -Hlun "sport = :5060" | grep -q . || e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"
  done

  local target="$in_vip:5060"
  [ "$fam" = 4 ] && target="[$in_vip]:5060"
  e2e_uac_start "$d/in" "$target" "$in_from" $IN_CALLS 30 500
  local in_waiter=$E2E_UAC_WAITER in_sipp=$E2E_UAC_SIPP
  for i in 1 2 3; do placing_uac "b$i" "$d/out-b$i" "$vip" "$carrier" $tagged; done
  for i in 1 2 3; do wait "$(cat "$d/out-b$i/waiter")" || true; done
  wait "$in_waiter" || true

  PLACED_OK=0 PLACED_BROKEN=0 MISPLACED=0
  for i in 1 2 3; do
    local ok failed pid wrong
    ok=$(e2e_sipp_count "$d/out-b$i/screen.log" "Successful call")
    failed=$(e2e_sipp_count "$d/out-b$i/screen.log" "Failed call")
    pid=$(sed -n 's/^Call-ID: *[0-9]*-\([0-9]*\)@.*/\1/p' "$d/out-b$i/messages.log" | head -1)
    [ -n "$pid" ] || e2e_die "$name: no Call-ID in b$i's UAC log"
    wrong=$(misplaced "$d/out-b$i" "$pid")
    e2e_log "$name: b$i placed $CALLS calls over IPv$fam: $ok successful, $failed failed; $wrong messages of other servers' calls reached it"
    PLACED_OK=$((PLACED_OK + ok)); PLACED_BROKEN=$((PLACED_BROKEN + CALLS - ok)); MISPLACED=$((MISPLACED + wrong))
  done
  local aff; aff=$(e2e_affinity "$in_sipp" - "$d/in-b1" "$d/in-b2" "$d/in-b3")
  IN_OK=$(awk '$1 == "complete" { print $2 }' <<<"$aff")
  e2e_log "$name: trunk sent $IN_CALLS calls in over the other family: $IN_OK complete on one server; carrier UAS: $(e2e_sipp_count "$d/carrier-screen.log" "Successful call") successful, $(e2e_sipp_count "$d/carrier-screen.log" "Failed call") failed"
  e2e_stop_pid $carrier_pid || true
  # The inbound UASs: the next round binds the other family's VIP.
  for i in 1 2 3; do e2e_stop_ns_processes "b$i"; done
  [ "$learn" = 1 ] && learning_rules delete
  return 0
}

# all_kept FAM POINT HOW: the round's placed calls all completed, each
# message on the server that placed the call, inbound unaffected; noted in SUMMARY.
all_kept() {
  local fam=$1 point=$2 how=$3 placed=$((3 * CALLS))
  [ "$PLACED_OK" = $placed ] || e2e_die "IPv$fam: $PLACED_BROKEN of $placed placed calls broke $how (point $point)"
  [ "$MISPLACED" = 0 ] || e2e_die "IPv$fam: $MISPLACED messages reached a server that did not place their call (point $point)"
  [ "$IN_OK" = $IN_CALLS ] || e2e_die "IPv$fam: inbound calls affected: $IN_OK of $IN_CALLS complete (point $point)"
  SUMMARY+=("IPv$fam placed calls $how: $PLACED_OK/$placed complete, 100 % of their messages on the placing server; inbound $IN_OK/$IN_CALLS")
}

for fam in 4 6; do
  round "learn-v$fam" $fam learn
  all_kept $fam 1 "with learning"
done
e2e_api GET "/v1/templates?limit=1000"
learned=$(python3 -c 'import json, sys; print(sum(t["learned"] for t in json.load(open(sys.argv[1]))["templates"]))' \
  "$E2E_DIR/api-body")
e2e_api GET /v1/stats
counted=$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))["services"]
print(" ".join("%s: %d outgoing, %d learned, %d unknown senders" % (x["name"], x["outgoing_packets"], x["templates_learned"], x["unknown_sender"]) for x in s))' \
  "$E2E_DIR/api-body")
e2e_log "sipvsd: $learned learned templates listed; $counted"
[ "$learned" -gt 0 ] || e2e_die "GET /v1/templates lists no learned template (point 1)"

for fam in 4 6; do
  round "nolearn-v$fam" $fam nolearn
  e2e_log "IPv$fam without learning: $PLACED_BROKEN of $((3 * CALLS)) placed calls broke, $MISPLACED messages reached another server"
  [ "$PLACED_BROKEN" -gt 0 ] || e2e_die "IPv$fam: no placed call broke without learning: the test shows nothing (point 2)"
  SUMMARY+=("IPv$fam placed calls without learning: $PLACED_OK/$((3 * CALLS)) complete ($PLACED_BROKEN broken)")
done

# stat NAME: the sum of a service counter over both services, from /v1/stats.
stat() {
  e2e_api GET /v1/stats
  python3 -c 'import json, sys; print(sum(x[sys.argv[2]] for x in json.load(open(sys.argv[1]))["services"]))' \
    "$E2E_DIR/api-body" "$1"
}

direct_link
tag_servers
outgoing_before=$(stat outgoing_packets)
for fam in 4 6; do
  round "tag-v$fam" $fam tag
  all_kept $fam 3 "tagged, with no path through the director"
done
tagged=$(stat tagged_packets) unknown=$(stat unknown_tag) outgoing_after=$(stat outgoing_packets)
e2e_log "sipvsd: $tagged tagged messages, $unknown unknown tags; $((outgoing_after - outgoing_before)) messages from the VIPs seen while tagging"
# Each placed call, in both families: the 180 and the 200 OK (tagged Via), the BYE (tagged Contact).
[ "$tagged" -ge $((2 * 3 * CALLS * 3)) ] || e2e_die "only $tagged tagged messages counted (point 3)"
[ "$unknown" = 0 ] || e2e_die "$unknown tags named no server (point 3)"
[ "$outgoing_after" = "$outgoing_before" ] || e2e_die "the servers' messages passed the director while tagging (point 3)"

for s in "${SUMMARY[@]}"; do e2e_log "$s"; done
e2e_log "PASS in $((SECONDS - T_START)) s"
