#!/usr/bin/env bash
# The REST API of the real sipvsd, driven with curl. sipvsd runs in a network
# namespace of its own (its NFQUEUE and port 8080 are private to the test);
# SIP packets sent from inside it to a VIP on its loopback pass the OUTPUT
# NFQUEUE rule, so the templates are made by the real data path. Proves:
#   1. services and servers: create, read, change, delete (201/200/204, Location);
#   2. every error status with a problem+json body (400 names the field, 401,
#      404, 405 with Allow, 409, 413, 415, 431), and that none changed anything;
#   3. the config round trip: GET, PUT it back, GET again: the same bytes;
#   4. the Unix socket; debug level; /metrics and /v1/stats count the packets;
#   5. quiescing keeps a server's templates, removing it drops them;
#   6. a restart (SIGTERM, start) comes back with the same services and the
#      same templates (Call-ID -> real server) from the state files;
#   7. the bearer token (and a token file others may read stops the start);
#   8. a slowloris client is cut off at the 5 s header deadline while others
#      are served; 64 idle connections from one address get the next a 503
#      while the Unix socket still serves; malformed HTTP gets 400 and
#      nothing breaks;
#   9. hostile requests: a body smuggled behind Transfer-Encoding: gzip does
#      not run, a foreign Host gets 421 (DNS rebinding), JSON nested as deep
#      as the body limit allows gets 400 on every route that takes JSON, and
#      10 000 servers are refused at once while /healthz answers.
# Usage: api_daemon.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
# Conditions read "A && B || die": die is meant to run when either fails.
# shellcheck disable=SC2015
set -euo pipefail
SIPVSD=$(realpath "${1:?usage: api_daemon.sh PATH/TO/sipvsd}")
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespace, NFQUEUE)"; exit 77; }
for tool in curl iptables; do
  command -v $tool >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

NS="svapid$$"
DIR=$(mktemp -d /tmp/sipvsd-api.XXXXXX)
PID=""
HELPERS=()
URL=http://127.0.0.1:8080
VIP=198.18.2.100

log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
die() {
  log "FAIL: $*"
  exit 1
}
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
  for p in "${HELPERS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  if [ $rc != 0 ]; then
    log "sipvsd log (kept with the rest in $DIR):"
    tail -30 "$DIR/sipvsd.log" >&2
  else
    rm -rf "$DIR"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

nsx() { ip netns exec "$NS" "$@"; }

# req METHOD PATH [CURL ARGS...]: sets CODE; the body is in $DIR/body, the
# response header in $DIR/headers.
req() {
  local method=$1 path=$2
  shift 2
  CODE=$(nsx curl -sS --max-time 5 -X "$method" -D "$DIR/headers" -o "$DIR/body" -w '%{http_code}' "$@" "$URL$path") ||
    CODE=000
}
# send METHOD PATH JSON [CURL ARGS...]: a JSON body.
send() {
  local method=$1 path=$2 body=$3
  shift 3
  req "$method" "$path" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
body() { cat "$DIR/body"; }
header() { tr -d '\r' <"$DIR/headers" | awk -v h="$1" 'BEGIN { IGNORECASE = 1 } index(tolower($0), tolower(h) ":") == 1 { sub(/^[^:]*: */, ""); print }'; }
# expect STATUS [FIELD]: the last response had STATUS; an error is problem+json
# naming FIELD when given.
CHECKS=0
expect() {
  CHECKS=$((CHECKS + 1))
  [ "$CODE" = "$1" ] || die "expected $1, got $CODE: $(body)"
  if [ "${1:0:1}" = 4 ] || [ "${1:0:1}" = 5 ]; then
    [ "$(header Content-Type)" = application/problem+json ] || die "$1 without problem+json"
    grep -q "\"status\": $1" "$DIR/body" || die "problem body without status $1: $(body)"
    grep -q '"detail": ' "$DIR/body" || die "problem body without detail"
  fi
  if [ $# -ge 2 ]; then
    grep -qF "\"field\": \"$2\"" "$DIR/body" || die "expected field $2: $(body)"
  fi
}

write_config() { # FILE [TOKEN_FILE]
  cat >"$1" <<EOF
{ "queues": 0, "state_file": "$DIR/state.json",
  "api": { "listen": "127.0.0.1:8080", "unix_socket": "$DIR/api.sock", "token_file": "${2:-}" },
  "services": [
    { "name": "sip", "vip": "$VIP", "port": 5060, "scheduler": "rr", "persistence_timeout": 300,
      "netmask": 0, "one_packet": true, "pe": "sip",
      "servers": [ { "address": "198.18.1.1", "port": 5060, "mark": 1 },
                   { "address": "198.18.1.2", "port": 5060, "mark": 2 },
                   { "address": "198.18.1.3", "port": 5060, "mark": 3 } ] } ] }
EOF
}

# start: sipvsd in the namespace, until its API listens (at most 10 s).
start() {
  local before _
  : >>"$DIR/sipvsd.log"
  before=$(grep -c 'api: listening on 127.0.0.1:8080' "$DIR/sipvsd.log" || true)
  # ip netns exec execs sipvsd: $! is sipvsd itself.
  ip netns exec "$NS" "$SIPVSD" --config "$CONF" >>"$DIR/sipvsd.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    kill -0 "$PID" 2>/dev/null || die "sipvsd exited at start"
    [ "$(grep -c 'api: listening on 127.0.0.1:8080' "$DIR/sipvsd.log")" -gt "$before" ] && return 0
    sleep 0.1
  done
  die "the API did not listen within 10 s"
}
# stop: SIGTERM, at most 10 s to exit cleanly.
stop() {
  kill -TERM "$PID"
  local _
  for _ in $(seq 1 100); do
    if ! kill -0 "$PID" 2>/dev/null; then
      wait "$PID" || die "sipvsd exited with $? on SIGTERM"
      PID=""
      return 0
    fi
    sleep 0.1
  done
  die "sipvsd did not stop within 10 s of SIGTERM"
}

# calls FIRST LAST: one INVITE per Call-ID "call-N@198.18.0.1", through NFQUEUE.
# Each message goes out in one write (cat of a file): bash's printf would
# write it line by line, one datagram each.
calls() {
  nsx bash -c '
    for ((i = $1; i <= $2; i++)); do
      printf "INVITE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-%d\r\nMax-Forwards: 70\r\nFrom: <sip:alice@198.18.0.1>;tag=%d\r\nTo: <sip:bob@%s>\r\nCall-ID: call-%d@198.18.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n" \
        "$3" "$i" "$i" "$3" "$i" >"$4"
      cat "$4" >/dev/udp/$3/5060
    done' _ "$1" "$2" "$VIP" "$DIR/invite"
}
# placement: "call-id server" per template, sorted (from the text listing).
placement() {
  req GET "/v1/templates?format=text&limit=1000"
  expect 200
  awk 'NR > 1 { print $NF, $6 }' "$DIR/body" | sort
}

ip netns add "$NS"
nsx ip link set lo up
nsx ip addr add $VIP/32 dev lo
nsx iptables -t mangle -A OUTPUT -p udp -d $VIP --dport 5060 -j NFQUEUE --queue-num 0 --queue-bypass
CONF=$DIR/sipvsd.json
write_config "$CONF"
start
log "sipvsd $PID listening in namespace $NS"

# ---- 1. services and servers ----
req GET /healthz
expect 200
send POST /v1/services '{"name": "b", "vip": "198.18.2.101", "port": 5060, "scheduler": "wrr",
  "servers": [{"address": "198.18.1.5", "mark": 5}]}'
expect 201
[ "$(header Location)" = /v1/services/b ] || die "Location: $(header Location)"
req GET /v1/services
expect 200
[ "$(grep -c '"name": ' "$DIR/body")" = 2 ] || die "two services expected: $(body)"
send PATCH /v1/services/b '{"persistence_timeout": 60, "pe": "sip"}' -H 'Content-Type: application/merge-patch+json'
expect 200
grep -q '"persistence_timeout": 60' "$DIR/body" || die "patch not applied"
send POST /v1/services/b/servers '{"address": "198.18.1.6", "port": 5060, "weight": 3, "mark": "0x6"}'
expect 201
[ "$(header Location)" = /v1/services/b/servers/198.18.1.6:5060 ] || die "Location: $(header Location)"
send PATCH /v1/services/b/servers/198.18.1.6:5060 '{"weight": 0}'
expect 200
req GET /v1/services/b/servers/198.18.1.6
expect 200
grep -q '"weight": 0' "$DIR/body" || die "weight 0 not kept: $(body)"
req DELETE /v1/services/b/servers/198.18.1.5
expect 204
send PUT /v1/services/b '{"vip": "198.18.2.102", "port": 5080, "servers": [{"address": "198.18.1.7", "mark": 7}]}'
expect 200
req GET /v1/services/b/servers
grep -q '198.18.1.7' "$DIR/body" && ! grep -q '198.18.1.6' "$DIR/body" || die "PUT did not replace the servers"
req DELETE /v1/services/b
expect 204
req GET /v1/services/b
expect 404
log "1. create/read/change/delete: ok"

# ---- 2. errors change nothing ----
req GET /v1/config
expect 200
cp "$DIR/body" "$DIR/config-before"
send POST /v1/services '{"name": "x", "vip": '
expect 400 ""
send POST /v1/services '{"name": "x", "vip": "198.18.2.9", "port": 5060, "servers": [{"address": "198.18.1.9", "weight": "x", "mark": 9}]}'
expect 400 "servers[0].weight"
send POST /v1/services '{"name": "x", "vip": "198.18.2.9", "port": 5060, "scheduler": "nope"}'
expect 400 scheduler
send POST /v1/services '{"name": "sip", "vip": "198.18.2.9", "port": 5060}'
expect 409 name
send POST /v1/services/sip/servers '{"address": "198.18.1.9", "mark": 2}'
expect 409 mark
send PUT /v1/config '{"queues": "0-3"}'
expect 409 queues
req POST /v1/services -d 'name=x'
expect 415
req DELETE /v1/services
expect 405
[ "$(header Allow)" = "GET, POST" ] || die "Allow: $(header Allow)"
req GET /v1/nothing-here
expect 404
req GET "/v1/templates?calid=1"
expect 400 query.calid
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$DIR/big.json"
req POST /v1/services -H 'Content-Type: application/json' --data-binary "@$DIR/big.json"
expect 413
req GET /v1/services -H "X-Padding: $(head -c 9000 /dev/zero | tr '\0' a)"
expect 431
req GET /v1/config
cmp -s "$DIR/body" "$DIR/config-before" || die "a rejected request changed the configuration"
log "2. errors 400/404/405/409/413/415/431 with problem+json; nothing changed: ok"

# ---- 3. config round trip ----
req PUT /v1/config -H 'Content-Type: application/json' --data-binary "@$DIR/config-before"
expect 200
req GET /v1/config
cmp -s "$DIR/body" "$DIR/config-before" || die "config round trip differs: $(diff "$DIR/config-before" "$DIR/body")"
log "3. config round trip: ok"

# ---- 4. Unix socket, debug level, counters ----
CODE=$(curl -sS --max-time 5 --unix-socket "$DIR/api.sock" -o "$DIR/body" -w '%{http_code}' http://sipvsd/v1/services)
[ "$CODE" = 200 ] && grep -q '"name": "sip"' "$DIR/body" || die "Unix socket: $CODE"
[ "$(stat -c %a "$DIR/api.sock")" = 660 ] || die "socket mode $(stat -c %a "$DIR/api.sock")"
send PUT /v1/debug-level '{"level": 3}'
expect 200
req GET /v1/debug-level
grep -q '"level": 3' "$DIR/body" || die "debug level not set"
send PUT /v1/debug-level '{"level": 0}'
CALLS=30
calls 1 $CALLS
# The packets reach the engine asynchronously; wait (bounded) for all templates.
for _ in $(seq 1 50); do
  req GET "/v1/templates?limit=1000"
  [ "$(grep -c '"pe_data": ' "$DIR/body")" = $CALLS ] && break
  sleep 0.1
done
[ "$(grep -c '"pe_data": ' "$DIR/body")" = $CALLS ] || die "expected $CALLS templates: $(body | head -40)"
req GET /metrics
expect 200
[ "$(header Content-Type)" = "text/plain; version=0.0.4; charset=utf-8" ] || die "metrics type $(header Content-Type)"
grep -q "^sipvsd_service_packets_total{service=\"sip\"} $CALLS\$" "$DIR/body" || die "metrics: $(grep service_packets "$DIR/body")"
grep -q '^sipvsd_templates '$CALLS'$' "$DIR/body" || die "metrics: templates"
req GET /v1/stats
expect 200
grep -q '"templates_created": '$CALLS "$DIR/body" || die "stats: $(head -30 "$DIR/body")"
log "4. Unix socket, debug level, metrics and stats ($CALLS calls): ok"

# ---- 5. quiesce keeps templates, removal drops them ----
placement >"$DIR/placement-0"
on() { grep -c " $1:5060\$" "$DIR/placement-$2" || true; }
n1=$(on 198.18.1.1 0) n2=$(on 198.18.1.2 0) n3=$(on 198.18.1.3 0)
log "templates per server: $n1 $n2 $n3"
[ $((n1 + n2 + n3)) = $CALLS ] && [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || die "rr did not spread the calls"
send PATCH /v1/services/sip/servers/198.18.1.1 '{"weight": 0}'
expect 200
req DELETE /v1/services/sip/servers/198.18.1.2
expect 204
placement >"$DIR/placement-1"
[ "$(on 198.18.1.1 1)" = "$n1" ] || die "quiescing lost templates"
[ "$(on 198.18.1.2 1)" = 0 ] || die "removing did not drop templates"
grep -v ' 198.18.1.2:5060$' "$DIR/placement-0" | cmp -s - "$DIR/placement-1" || die "other templates moved"
log "5. quiesce kept $n1 templates, removal dropped $n2: ok"

# ---- 6. restart: same services, same templates ----
req GET /v1/services
cp "$DIR/body" "$DIR/services-before"
stop
grep -q "saved $((CALLS - n2)) templates" "$DIR/sipvsd.log" || die "templates not saved at SIGTERM"
start
req GET /v1/services
cmp -s "$DIR/body" "$DIR/services-before" || die "services differ after restart: $(diff "$DIR/services-before" "$DIR/body")"
placement >"$DIR/placement-2"
cmp -s "$DIR/placement-1" "$DIR/placement-2" || die "templates differ after restart: $(diff "$DIR/placement-1" "$DIR/placement-2" | head)"
# A new packet of a restored call is placed by its template, not scheduled anew.
call=$(head -1 "$DIR/placement-2" | sed 's/^call-\([0-9]*\)@.*/\1/')
calls "$call" "$call"
for _ in $(seq 1 50); do
  req GET /v1/stats
  grep -q '^  "packets": 1,$' "$DIR/body" && break
  sleep 0.1
done
grep -q '^  "packets": 1,$' "$DIR/body" || die "the packet did not arrive: $(head -20 "$DIR/body")"
grep -q '"templates_created": 0' "$DIR/body" && ! grep -q '"templates_created": 1' "$DIR/body" ||
  die "a restored call was scheduled anew"
log "6. restart: same services, $((CALLS - n2)) templates on the same servers: ok"

# ---- 7. bearer token ----
printf 's3cret-token\n' >"$DIR/token"
chmod 600 "$DIR/token"
write_config "$CONF" "$DIR/token"
stop
start
req GET /healthz
expect 200
req GET /v1/services
expect 401
[ "$(header WWW-Authenticate)" = 'Bearer realm="sipvsd"' ] || die "WWW-Authenticate: $(header WWW-Authenticate)"
req GET /v1/services -H 'Authorization: Bearer wrong'
expect 401
req GET /v1/services -H 'Authorization: Bearer s3cret-token'
expect 200
stop
chmod 644 "$DIR/token"
rc=0
timeout 10 ip netns exec "$NS" "$SIPVSD" --config "$CONF" >>"$DIR/sipvsd.log" 2>&1 || rc=$?
[ $rc != 0 ] && [ $rc != 124 ] || die "started with a token file others can read (exit $rc)"
grep -q 'chmod 600' "$DIR/sipvsd.log" || die "no reason given for the token file"
# --check-config (systemd's ExecStartPre) refuses what a start refuses.
refused() {  # NAME API_JSON: neither --check-config nor a start accepts it
  local conf=$DIR/refused.json rc=0
  sed "s|\"api\": {[^}]*}|\"api\": $2|" "$CONF" >"$conf"
  "$SIPVSD" --check-config "$conf" >"$DIR/check.log" 2>&1 && die "--check-config accepted $1: $(cat "$DIR/check.log")"
  grep -q "$conf" "$DIR/check.log" || die "--check-config did not name the file for $1: $(cat "$DIR/check.log")"
  timeout 10 ip netns exec "$NS" "$SIPVSD" --config "$conf" >"$DIR/start.log" 2>&1 || rc=$?
  [ $rc != 0 ] && [ $rc != 124 ] || die "started with $1 (exit $rc)"
}
mkdir "$DIR/token-dir"
: >"$DIR/token-empty"
printf 'x\n' >"$DIR/token-0640"
chmod 600 "$DIR/token-empty"
chmod 640 "$DIR/token-0640"
refused "a name for an address" '{ "listen": "localhost:8080" }'
refused "port 99999" '{ "listen": "127.0.0.1:99999" }'
refused "no listener" '{ "listen": "" }'
refused "a missing socket directory" "{ \"listen\": \"\", \"unix_socket\": \"$DIR/none/api.sock\" }"
refused "a token file of mode 0644" "{ \"listen\": \"127.0.0.1:8080\", \"token_file\": \"$DIR/token\" }"
refused "a token file of mode 0640" "{ \"listen\": \"127.0.0.1:8080\", \"token_file\": \"$DIR/token-0640\" }"
refused "an empty token file" "{ \"listen\": \"127.0.0.1:8080\", \"token_file\": \"$DIR/token-empty\" }"
refused "a directory as token file" "{ \"listen\": \"127.0.0.1:8080\", \"token_file\": \"$DIR/token-dir\" }"
refused "a missing token file" "{ \"listen\": \"127.0.0.1:8080\", \"token_file\": \"$DIR/none\" }"
refused "a non-loopback listener without a token" '{ "listen": "0.0.0.0:8080" }'
grep -q 'api.token_file: required: api.listen 0.0.0.0:8080 is not a loopback address' "$DIR/check.log" ||
  die "no reason given for the open listener: $(cat "$DIR/check.log")"
write_config "$CONF"
"$SIPVSD" --check-config "$CONF" >/dev/null || die "--check-config refused a good configuration"
start
log "7. bearer token; bad token files, listeners and socket directories stop --check-config and the start: ok"

# ---- 8. slowloris, connection limit, malformed HTTP ----
# One header byte a second; prints when the server closed the connection.
nsx bash -c '
  exec 3<>/dev/tcp/127.0.0.1/8080
  start=$SECONDS
  msg="GET /v1/services HTTP/1.1\r\nHost: sipvsd\r\nX-Slow: $(printf "%060d" 0)"
  for ((i = 0; i < 60; i++)); do
    printf "%s" "${msg:$i:1}" >&3 2>/dev/null || break
    read -r -t 1 -u 3 line
    rc=$?
    [ $rc -le 128 ] && break  # data or end of stream: closed (or answered)
  done
  echo $((SECONDS - start))' >"$DIR/slowloris" 2>&1 &
SLOW=$!
HELPERS+=("$SLOW")
sleep 3
t0=$(date +%s%N)
req GET /healthz
expect 200
[ $((($(date +%s%N) - t0) / 1000000)) -lt 1000 ] || die "a request took over 1 s during slowloris"
wait "$SLOW"
slow=$(cat "$DIR/slowloris")
[ "$slow" -ge 4 ] && [ "$slow" -le 7 ] || die "slowloris connection lasted $slow s (header deadline 5 s)"

nsx bash -c 'for ((i = 0; i < 64; i++)); do exec {fd}<>/dev/tcp/127.0.0.1/8080 || exit 1; done; sleep 3' &
IDLE=$!
HELPERS+=("$IDLE")
sleep 1
req GET /healthz
expect 503
# The Unix socket has a budget of its own.
CODE=$(curl -sS --max-time 5 --unix-socket "$DIR/api.sock" -o "$DIR/body" -w '%{http_code}' http://sipvsd/healthz)
[ "$CODE" = 200 ] || die "Unix socket during the idle TCP connections: $CODE"
wait "$IDLE" || die "could not open 64 connections"
req GET /healthz
expect 200

for bad in 'BLAH\r\n\r\n' 'GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n' 'GET /healthz HTTP/9.9\r\n\r\n' \
  'POST /v1/services HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n'; do
  first=$(nsx timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080; printf "$1" >&3; head -1 <&3' _ "$bad" | tr -d '\r')
  [ "$first" = "HTTP/1.1 400 Bad Request" ] || die "malformed request $bad: got '$first'"
done
head -c 4096 /dev/urandom >"$DIR/noise"
nsx timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080; cat "$1" >&3; cat <&3 >/dev/null' _ "$DIR/noise" || true
kill -0 "$PID" || die "sipvsd died"
req GET /healthz
expect 200
log "8. slowloris cut after $slow s while others were served; idle connections: 503, Unix socket served; malformed HTTP 400: ok"

# ---- 9. hostile requests ----
templates_now() {
  req GET "/v1/templates?limit=1000"
  grep -c '"pe_data": ' "$DIR/body" || true
}
before=$(templates_now)
[ "$before" -gt 0 ] || die "no templates to lose"
hidden='DELETE /v1/templates HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
for coding in gzip 'gzip, chunked'; do
  first=$(nsx timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080
    printf "POST /v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: $1\r\n\r\n$2" >&3
    cat <&3' _ "$coding" "$hidden" | tr -d '\r' | grep '^HTTP/' | tr '\n' '|')
  [ "$first" = "HTTP/1.1 400 Bad Request|" ] || die "Transfer-Encoding: $coding: got '$first'"
done
[ "$(templates_now)" = "$before" ] || die "a smuggled DELETE /v1/templates ran"
req GET /v1/services -H 'Host: rebound.example:8080'
expect 421
req GET /v1/services -H 'Host: localhost:8080'
expect 200
# Nested one level per byte, up to the 1 MiB body limit: 400, not a crash.
n=$((1024 * 1024 / 2 - 16))
{ printf '{"a": '; head -c $n /dev/zero | tr '\0' '['; head -c $n /dev/zero | tr '\0' ']'; printf '}'; } >"$DIR/deep.json"
deep_field="a$(printf '[0]%.0s' $(seq 31))"  # the root object and 31 arrays are open at the 33rd level
for route in "POST /v1/services" "PATCH /v1/services/sip" "PUT /v1/config" "POST /v1/services/sip/servers"; do
  req ${route% *} "${route#* }" -H 'Content-Type: application/json' --data-binary "@$DIR/deep.json"
  expect 400 "$deep_field"
  grep -q 'nested deeper than 32 levels' "$DIR/body" || die "$route: $(head -c 300 "$DIR/body")"
done
kill -0 "$PID" || die "sipvsd died of deep JSON"
awk 'BEGIN { printf "{\"name\": \"many\", \"vip\": \"198.18.2.200\", \"port\": 5060, \"servers\": ["
  for (i = 0; i < 10000; i++)
    printf "%s{\"address\": \"198.18.%d.%d\", \"mark\": %d}", i ? ", " : "", 10 + int(i / 250), 1 + i % 250, 1000 + i
  print "]}" }' >"$DIR/many.json"
t0=$(date +%s%N)
req POST /v1/services -H 'Content-Type: application/json' --data-binary "@$DIR/many.json"
expect 400 servers
grep -q '10000 real servers, the engine holds at most 4096' "$DIR/body" || die "10 000 servers: $(body)"
[ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ] || die "10 000 servers took over 3 s to refuse"
kill -0 "$PID" || die "sipvsd died"
log "9. smuggling refused, 421 for a foreign Host, deep JSON 400 on 4 routes, 10 000 servers refused at once: ok"

stop
log "PASS: $CHECKS status checks"
