#!/bin/sh
# fast-path-test.sh: the eBPF fast path on Debian's kernel (6.1: the oldest
# verifier it must pass), after nft-test.sh, in the topology ipvs-test.sh made
# (client cl behind v-cl, real servers rs1..rs4 logging to /tmp/sink.log).
#
# sipvsd with `fast_path: on` on v-cl's tc ingress, behind the nft ruleset
# `sipvsd rules --format nft` prints for it (whose queue rule skips what the
# program marked), forwarding route. The packet sequence of nft-test.sh:
#   1. sent once: every call whole on one real server, and the program
#      placed the calls' later messages (its hits, from sipvsd's counters);
#   2. sipvsd stopped, the same Call-IDs sent again: with no program on the
#      queues, the pinned program and map still send every call to the real
#      server it had, where without them all would take the fallback route.
# Prints PASS:/FAIL: lines. Exit status: the number of failures.
. /vmtest/lib.sh

VIP=198.18.2.103  # as nft-test.sh's route VIP: the real servers hold it
CFG=/tmp/sipvsd-fast.json
RULES=/tmp/sipvsd-rules-fast.nft
LOG=/tmp/sipvsd-fast.log

step "fast path: modules, bpffs, configuration, ruleset"
# clsact is sch_ingress's, the direct-action filter cls_bpf's: modules on Debian.
for m in sch_ingress cls_bpf; do modprobe "$m" || fail "modprobe $m"; done
mount -t bpf bpf /sys/fs/bpf || fail "mount bpffs"
cat >$CFG <<EOF
{ "queues": "0-1", "mark_mask": "0xffffffff", "forwarding": "route",
  "api": { "listen": "127.0.0.1:8082" },
  "fast_path": { "mode": "on", "interfaces": ["v-cl"] },
  "services": [
    { "name": "sip4", "vip": "$VIP", "port": 5060, "scheduler": "rr", "persistence_timeout": 60, "pe": "sip",
      "servers": [ { "address": "198.18.3.2", "mark": 71 }, { "address": "198.18.4.2", "mark": 72 },
                   { "address": "198.18.5.2", "mark": 73 } ] } ] }
EOF
load_rules
grep -q 'meta mark & 0xffffffff == 0' $RULES || fail "sipvsd rules: the queue rule does not skip marked packets"
# As the packaged unit runs it: not root, CAP_BPF and CAP_NET_ADMIN alone
# (6.1's verifier refuses more without CAP_PERFMON than it does as root).
mkdir -p /sys/fs/bpf/sipvsd && chown 65534:65534 /sys/fs/bpf/sipvsd
AS="/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+bpf,+net_admin
  --ambient-caps=-all,+bpf,+net_admin --bounding-set=-all,+bpf,+net_admin"
start_sipvsd $LOG || exit $fails
if grep -q "fast path on: tc ingress of v-cl" $LOG; then
  pass "fast path: the program passed $(uname -r)'s verifier without root, CAP_SYS_ADMIN or CAP_PERFMON, and is on v-cl's ingress"
else
  fail "fast path: not on ($(grep -i 'fast path\|verifier\|libbpf' $LOG | head -5))"
  grep -A40 'BEGIN PROG LOAD LOG' $LOG | tail -40
  exit $fails
fi

# servers TAG: "group server" for each call of the sequence, from the sinks'
# log ("-" for a call split over servers).
servers() {
  awk -v dst=$VIP 'FNR == NR { grp[$1] = $2; next }
    $2 == dst && ($3 in grp) && grp[$3] ~ /^call-/ { g = grp[$3]; if (!(g in on)) on[g] = $1; else if (on[g] != $1) on[g] = "-" }
    END { for (g in on) print g, on[g] }' /tmp/cases /tmp/sink.log | sort
}
# counter NAME: sipvsd's fast-path counter, as it logs its counters at stop.
counter() { grep -o "fast path: hits=.*" $LOG | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

step "fast path, sipvsd running: the sequence once"
: >/tmp/sink.log
ip netns exec cl vmprobe send 198.18.1.2 5062 $VIP 5060 20 fast >/dev/null
settle
servers >/tmp/fast-first
calls=$(wc -l </tmp/fast-first)
whole=$(grep -vc ' -$' /tmp/fast-first)
used=$(cut -d' ' -f2 /tmp/fast-first | sort -u | grep -vc '^-$')
echo "calls on their servers: $(tr '\n' ' ' </tmp/fast-first)"
check "fast path: each of the $calls calls whole on one real server, over $used servers" \
  '[ "$calls" -ge 6 ] && [ "$whole" = "$calls" ] && [ "$used" -ge 2 ]'

step "fast path, sipvsd stopped: the same calls again"
stop_sipvsd
hits=$(counter hits)
# Each call's first message went to NFQUEUE, its three others hit.
check "fast path: the program placed the calls' later messages ($hits hits, want at least $((3 * calls)))" \
  '[ "${hits:-0}" -ge $((3 * calls)) ]'
: >/tmp/sink.log
ip netns exec cl vmprobe send 198.18.1.2 5062 $VIP 5060 20 fast >/dev/null
settle
servers >/tmp/fast-again
echo "with sipvsd stopped: $(tr '\n' ' ' </tmp/fast-again)"
check "fast path: with sipvsd stopped every call still reached its own real server" \
  'cmp -s /tmp/fast-first /tmp/fast-again'
check "sipvsd (fast path) logged no sanitizer error" '! grep -q "ERROR: AddressSanitizer\|runtime error:" $LOG'

step "fast path off: removes it"
AS=
sed -i 's/"mode": "on"/"mode": "off"/' $CFG
start_sipvsd /tmp/sipvsd-fast-off.log || exit $fails
stop_sipvsd
check "fast path off: its filter taken off v-cl, its pins removed" \
  'grep -q "fast path: removed from v-cl" /tmp/sipvsd-fast-off.log && [ ! -e /sys/fs/bpf/sipvsd/templates ]'
nft delete table inet sipvsd

echo
echo "$fails failure(s)"
exit $fails
