#!/usr/bin/env bash
# The monitoring files shipped in packaging/monitoring, against a real sipvsd:
#   1. sipvsd-alerts.yml passes `promtool check rules`, and its unit tests
#      (sipvsd-alerts.test.yml, next to this script) pass `promtool test rules`;
#      every alert has a for:, a severity label, a summary and a description;
#   2. sipvsd-dashboard.json is JSON, a Grafana dashboard (schemaVersion 36-39)
#      with a ${datasource} Prometheus variable and an instance variable, and
#      every panel has a target, on ${datasource};
#   3. sipvsd runs in a network namespace of its own with every feature that
#      adds metric families (a service with pe sip and two servers, a health
#      check, template sync with a peer on the namespace's loopback, the API on
#      127.0.0.1 with a bearer token): /metrics answers 401 without the token,
#      200 with it; and every metric name (sipvsd_...) of every alert rule and
#      of every dashboard query and variable is one that scrape exposes; a
#      name it does not expose fails the test.
# Usage: ops_monitoring.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SIPVSD=$(realpath "${1:?usage: ops_monitoring.sh PATH/TO/sipvsd}")
ALERTS=$REPO/packaging/monitoring/sipvsd-alerts.yml
DASHBOARD=$REPO/packaging/monitoring/sipvsd-dashboard.json
RULE_TESTS=$HERE/sipvsd-alerts.test.yml

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespace, NFQUEUE)"; exit 77; }
for tool in promtool jq curl ip; do
  command -v $tool >/dev/null || { echo "SKIP: $tool is not installed (scripts/install-deps.sh)"; exit 77; }
done

NS="sipvsd-mon-$$"
DIR=$(mktemp -d /tmp/sipvsd-mon.XXXXXX)
PID=""
URL=http://127.0.0.1:8080
CHECKS=0

log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
die() {
  log "FAIL: $*"
  exit 1
}
pass() {
  CHECKS=$((CHECKS + 1))
  log "PASS: $*"
}
cleanup() {
  local rc=$? p
  set +e
  trap - EXIT INT TERM
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
  for p in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  if [ $rc != 0 ]; then
    if [ -f "$DIR/sipvsd.log" ]; then
      log "sipvsd log (kept with the rest in $DIR):"
      tail -30 "$DIR/sipvsd.log" >&2
    fi
  else
    rm -rf "$DIR"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# ---------------------------------------------------------------- 1. alert rules
promtool check rules "$ALERTS" >"$DIR/promtool-check.log" 2>&1 || { cat "$DIR/promtool-check.log" >&2; die "promtool check rules"; }
pass "promtool check rules: $(grep -o '[0-9]* rules found' "$DIR/promtool-check.log")"
promtool test rules "$RULE_TESTS" >"$DIR/promtool-test.log" 2>&1 || { cat "$DIR/promtool-test.log" >&2; die "promtool test rules"; }
pass "promtool test rules $(basename "$RULE_TESTS")"

# Each alert (from its "- alert:" line to the next) has for:, a severity
# label and both annotations. Comment lines do not count.
awk '
  /^[[:space:]]*#/ { next }
  /^[[:space:]]*- alert:/ { flush(); name = $3; seen = ""; next }
  name != "" && /^[[:space:]]*for:/ { seen = seen " for" }
  name != "" && /^[[:space:]]*severity:[[:space:]]*(critical|warning|info)[[:space:]]*$/ { seen = seen " severity" }
  name != "" && /^[[:space:]]*summary:/ { seen = seen " summary" }
  name != "" && /^[[:space:]]*description:/ { seen = seen " description" }
  /^[[:space:]]*- name:/ { flush(); name = "" }
  function flush(  k, n, need) {
    if (name == "") return
    n = split("for severity summary description", need, " ")
    for (k = 1; k <= n; k++) if (index(seen " ", " " need[k] " ") == 0) { print name ": no " need[k]; bad = 1 }
    count++
  }
  END { flush(); print count " alerts" > "/dev/stderr"; exit bad }
' "$ALERTS" 2>"$DIR/alert-count" || die "alerts without for:, severity (critical, warning or info), summary or description (above)"
pass "every alert has for:, a severity, a summary and a description ($(cat "$DIR/alert-count"))"

# ---------------------------------------------------------------- 2. dashboard
jq empty "$DASHBOARD" || die "$DASHBOARD is not JSON"
# Every panel, those inside rows too; rows themselves hold no query.
PANELS='def panels: [.panels[] | ., (.panels[]?)] | map(select(.type != "row"));'
# A variable's query: a string, or an object with the string in .query.
VARQ='def varq: .query | if type == "object" then .query else . end;'
jq -e '.schemaVersion >= 36 and .schemaVersion <= 39' "$DASHBOARD" >/dev/null || die "schemaVersion is not 36-39"
jq -e '.templating.list | any(.name == "datasource" and .type == "datasource" and .query == "prometheus")' "$DASHBOARD" >/dev/null ||
  die "no datasource variable of type prometheus"
jq -e "$VARQ"'.templating.list | any(.name == "instance" and .type == "query" and
        (varq | gsub(" "; "") == "label_values(sipvsd_packets_total,instance)"))' "$DASHBOARD" >/dev/null ||
  die "no instance variable from label_values(sipvsd_packets_total, instance)"
jq -r "$PANELS"'panels[] | select((.targets // []) | map(select((.expr // "") != "")) | length == 0) | .title' \
  "$DASHBOARD" >"$DIR/no-target"
[ ! -s "$DIR/no-target" ] || die "panels without a query: $(paste -sd, "$DIR/no-target")"
jq -r "$PANELS"'panels[] | select(.datasource.uid != "${datasource}" or any(.targets[]; .datasource.uid != "${datasource}")) | .title' \
  "$DASHBOARD" >"$DIR/other-ds"
[ ! -s "$DIR/other-ds" ] || die "panels not on \${datasource}: $(paste -sd, "$DIR/other-ds")"
jq -e "$PANELS"'panels | map(.id) | length == (unique | length)' "$DASHBOARD" >/dev/null || die "two panels share an id"
# Every query is PromQL: promtool parses each as a recording rule, once
# Grafana's variables have values.
{
  echo 'groups: [ { name: dashboard, rules: ['
  jq -r "$PANELS"'panels[] | .targets[] | .expr | gsub("\\$__rate_interval"; "5m") | gsub("\\$instance"; ".*") |
         "  { record: \"dashboard:query\", expr: " + tojson + " },"' "$DASHBOARD"
  echo '] } ]'
} >"$DIR/dashboard-rules.yml"
promtool check rules "$DIR/dashboard-rules.yml" >"$DIR/promtool-dashboard.log" 2>&1 ||
  { cat "$DIR/promtool-dashboard.log" >&2; die "a dashboard query is not PromQL (above; as parsed: $DIR/dashboard-rules.yml)"; }
pass "dashboard: JSON, schemaVersion $(jq .schemaVersion "$DASHBOARD"), \${datasource} and instance variables, $(jq "$PANELS"'panels | length' "$DASHBOARD") panels with a query each, all PromQL"

# ---------------------------------------------------------------- 3. a real sipvsd
"$SIPVSD" --version >/dev/null || die "$SIPVSD does not run"
log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $(promtool --version 2>&1 | head -1)"
ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
ip -n "$NS" link set lo up
# A link to the real servers' subnet: the health probes go out (and time out).
ip -n "$NS" link add m0 type veth peer name m1
ip -n "$NS" addr add 198.18.1.254/24 dev m0
ip -n "$NS" link set m0 up
ip -n "$NS" link set m1 up

TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
(umask 077 && printf '%s\n' "$TOKEN" >"$DIR/token" && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/sync.key")
CONF=$DIR/sipvsd.json
cat >"$CONF" <<EOF
{ "queues": "0", "state_file": "$DIR/state.json",
  "api": { "listen": "127.0.0.1:8080", "token_file": "$DIR/token" },
  "sync": { "listen": "127.0.0.1:8848", "peers": ["127.0.0.2:8848"], "node_id": 1, "sync_id": 7,
            "key_file": "$DIR/sync.key" },
  "services": [
    { "name": "sip", "vip": "198.18.2.100", "port": 5060, "scheduler": "wrr", "persistence_timeout": 300,
      "netmask": 0, "one_packet": true, "pe": "sip",
      "health_check": { "interval_ms": 500, "timeout_ms": 400, "failures": 2, "successes": 1 },
      "servers": [ { "address": "198.18.1.1", "port": 5060, "weight": 1, "mark": 1 },
                   { "address": "198.18.1.2", "port": 5060, "weight": 1, "mark": 2 } ] } ] }
EOF
"$SIPVSD" --check-config "$CONF" >"$DIR/check-config.log" 2>&1 || { cat "$DIR/check-config.log" >&2; die "configuration rejected"; }

# ip netns exec execs sipvsd: $! is sipvsd itself.
ip netns exec "$NS" "$SIPVSD" --config "$CONF" >"$DIR/sipvsd.log" 2>&1 &
PID=$!
# The API answers /healthz (200, or 503 while syncing) within 10 s.
up=0
for _ in $(seq 1 100); do
  kill -0 "$PID" 2>/dev/null || die "sipvsd exited at start"
  code=$(nsx curl -sS --max-time 1 -o /dev/null -w '%{http_code}' "$URL/healthz" 2>/dev/null) || code=000
  if [ "$code" != 000 ]; then up=1; break; fi
  sleep 0.1
done
[ $up = 1 ] || die "the API did not answer within 10 s"
# And the queue is bound (its kernel counters are among the samples), within 5 s.
bound=0
for _ in $(seq 1 50); do
  if nsx grep -q '^ *0 ' /proc/net/netfilter/nfnetlink_queue 2>/dev/null; then bound=1; break; fi
  sleep 0.1
done
[ $bound = 1 ] || die "queue 0 was not bound within 5 s"

code=$(nsx curl -sS --max-time 5 -o "$DIR/metrics-noauth" -w '%{http_code}' "$URL/metrics") || code=000
[ "$code" = 401 ] || die "GET /metrics without the token: $code, not 401"
code=$(nsx curl -sS --max-time 5 -o "$DIR/metrics" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/metrics") || code=000
[ "$code" = 200 ] || die "GET /metrics with the token: $code"
pass "GET /metrics: 401 without the bearer token, 200 with it ($(grep -c '^# TYPE sipvsd_' "$DIR/metrics") families)"

# Every optional feature is on: its samples are there.
for want in 'sipvsd_server_up{service="sip",server="198.18.1.1:5060"}' 'sipvsd_server_up{service="sip",server="198.18.1.2:5060"}' \
  'sipvsd_service_pe_fallbacks_total{service="sip",reason="absent"}' 'sipvsd_sync_synced ' \
  'sipvsd_sync_peer_alive{peer="127.0.0.2:8848"}' 'sipvsd_queue_kernel_ids_total{queue="0"}' \
  'sipvsd_queue_kernel_dropped_total{queue="0",reason="socket_full"}'; do
  grep -qF "$want" "$DIR/metrics" || die "the scrape lacks $want"
done
pass "the scrape has the service's two servers, pe fallbacks, the kernel queue counters and the sync peer"

# The names the scrape exposes: each family (# TYPE), each sample's name, and
# for a histogram or summary its _bucket, _count and _sum.
awk '
  /^# TYPE sipvsd_/ { print $3; if ($4 == "histogram" || $4 == "summary") print $3 "_bucket\n" $3 "_count\n" $3 "_sum"; next }
  /^sipvsd_/ { n = $1; sub(/[{ ].*/, "", n); print n }
' "$DIR/metrics" | sort -u >"$DIR/exposed"

# unknown_names FILE: FILE has "where<TAB>text" lines; prints "where: name"
# for each sipvsd_ name in the text that the scrape does not expose.
unknown_names() {
  awk -F '\t' '
    FNR == NR { exposed[$0] = 1; next }
    {
      text = $2
      while (match(text, /sipvsd_[a-z0-9_]+/)) {
        name = substr(text, RSTART, RLENGTH)
        text = substr(text, RSTART + RLENGTH)
        if (!(name in exposed)) print $1 ": " name
      }
    }' "$DIR/exposed" "$1"
}
# The checker itself: a made-up name is caught.
printf 'self-test\trate(sipvsd_no_such_metric_total[5m]) / sipvsd_packets_total\n' >"$DIR/self-test"
[ "$(unknown_names "$DIR/self-test")" = "self-test: sipvsd_no_such_metric_total" ] || die "the name checker misses a made-up name"

# Alert rules: every line but comments, each labelled with its alert (the
# expressions, and the names the annotations mention).
awk '
  /^[[:space:]]*#/ { next }
  /^[[:space:]]*- alert:/ { name = $3 }
  /^[[:space:]]*- name:/ { name = "group " $3 }
  name != "" { print "alert " name "\t" $0 }
' "$ALERTS" >"$DIR/alert-lines"
grep -q 'sipvsd_' "$DIR/alert-lines" || die "no sipvsd_ name found in the alert rules"
# Dashboard: every target's expr and every variable's query.
jq -r "$PANELS$VARQ"'(panels[] | .title as $t | .targets[] | ["panel " + $t, .expr]),
       (.templating.list[] | select(.type == "query") | ["variable " + .name, varq + " " + (.definition // "")])
       | map(gsub("[\t\n]"; " ")) | join("\t")' "$DASHBOARD" >"$DIR/dashboard-lines"
[ "$(wc -l <"$DIR/dashboard-lines")" -gt 0 ] || die "no query found in the dashboard"

unknown_names "$DIR/alert-lines" | sort -u >"$DIR/unknown-alerts"
unknown_names "$DIR/dashboard-lines" | sort -u >"$DIR/unknown-dashboard"
if [ -s "$DIR/unknown-alerts" ] || [ -s "$DIR/unknown-dashboard" ]; then
  cat "$DIR/unknown-alerts" "$DIR/unknown-dashboard" | sed 's/^/  not in \/metrics: /' >&2
  die "the monitoring files name metrics sipvsd does not expose (above)"
fi
used=$(cat "$DIR/alert-lines" "$DIR/dashboard-lines" | grep -o 'sipvsd_[a-z0-9_]*' | sort -u)
pass "every metric of the alert rules and the dashboard is in /metrics ($(wc -w <<<"$used") names, $(wc -l <"$DIR/dashboard-lines") dashboard queries)"
unused=$(comm -23 <(sed -n 's/^# TYPE \(sipvsd_[a-z0-9_]*\) .*/\1/p' "$DIR/metrics" | sort -u) <(echo "$used"))
[ -z "$unused" ] || log "families used by neither file (for information): $(paste -sd " " <<<"$unused")"

kill -0 "$PID" 2>/dev/null || die "sipvsd died during the test"
# SIGTERM: a clean stop within 10 s.
kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && die "sipvsd did not stop within 10 s of SIGTERM"
wait "$PID" || die "sipvsd exited with $? on SIGTERM"
PID=""
log "ops_monitoring: $CHECKS checks passed"
