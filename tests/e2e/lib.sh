# shellcheck shell=bash
# Test library for sipvsd's end-to-end tests, the demo and the benchmark
# (bench/run.sh): a topology of network namespaces (client, director, backends)
# with veth links, addresses from the benchmarking ranges only (198.18.0.0/15,
# 2001:2::/48), SIPp on both ends, sipvsd on the director, and the tracking of
# every process started so that cleanup stops it. Source it, then call e2e_init.
#
#   client  c0 198.18.0.1/24 (.. 198.18.0.S with --sources S) 2001:2::1/64
#     |
#   director d0 198.18.0.254/24 2001:2::fe/64 | br0 198.18.1.254/24 2001:2:0:1::fe/64
#     |  (bridge)
#   backend i  e0 198.18.1.i/24 2001:2:0:1::i/64, VIP 198.18.2.100/32 and 2001:2:0:2::100/128 on lo
#
# Everything lives in namespaces named "<prefix>-<role>", the prefix unique per
# run; the root namespace's routes and firewall are never touched. Cleanup runs
# on every exit path (EXIT, INT, TERM) and every wait is bounded.

E2E_VIP4=198.18.2.100
E2E_VIP6=2001:2:0:2::100
E2E_CLIENT4=198.18.0.1
E2E_CLIENT6=2001:2::1
E2E_MARK_MASK=0x0000ffff
E2E_PIDS=()
E2E_NS=()
E2E_ON_EXIT=()
E2E_PASSED=0  # checks passed so far (e2e_pass)

e2e_log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
e2e_die() { e2e_log "FAIL: $*"; exit 1; }
e2e_pass() { e2e_log "PASS: $*"; E2E_PASSED=$((E2E_PASSED + 1)); }

# Backend i's addresses and marks (IPv4 marks 1..n, IPv6 marks 11..).
e2e_backend4() { echo "198.18.1.$1"; }
e2e_backend6() { echo "2001:2:0:1::$1"; }
e2e_mark4() { echo "$1"; }
e2e_mark6() { echo $((10 + $1)); }

# e2e_require TOOL...: skips the test (exit 77) unless every TOOL is installed.
e2e_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null && continue
    [ "$tool" = sipp ] && tool="sipp (package sip-tester)"
    echo "SKIP: $tool is not installed"
    exit 77
  done
}

# e2e_require_root: skips the test (exit 77) unless it runs as root.
e2e_require_root() {
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
}

# e2e_init [NAME]: a fresh prefix and work directory, cleanup traps.
e2e_init() {
  local name=${1:-e2e}
  e2e_require_root
  E2E_PREFIX="sv${name:0:3}$$$((RANDOM % 100))"
  E2E_DIR=$(mktemp -d "/tmp/sipvsd-$name.XXXXXX")
  trap e2e_cleanup EXIT
  trap 'e2e_log "interrupted"; exit 130' INT TERM HUP
  e2e_log "prefix $E2E_PREFIX, work dir $E2E_DIR"
  # E2E_FAST_PATH=1: sipvsd runs with its eBPF fast path on (e2e_config),
  # and the queue rules skip the packets it placed (e2e_nfqueue_rules).
  if [ "${E2E_FAST_PATH:-0}" = 1 ]; then
    e2e_bpffs
    e2e_log "the fast path is on, pinned in $E2E_BPFFS"
  fi
}

# e2e_track PID: cleanup stops PID. e2e_untrack PID: no longer (it has been
# waited for: its number may be reused).
e2e_track() { E2E_PIDS+=("$1"); }
e2e_untrack() {
  local keep=() pid
  for pid in "${E2E_PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  E2E_PIDS=("${keep[@]}")
}

# e2e_on_exit FUNCTION: cleanup also calls FUNCTION (after stopping the processes).
e2e_on_exit() { E2E_ON_EXIT+=("$1"); }

e2e_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM HUP
  local pid
  for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # Bounded wait for them to go, then force.
  local i
  for i in $(seq 1 20); do
    local alive=0
    for pid in "${E2E_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${E2E_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  # Whatever still runs inside our namespaces (e.g. a SIPp started by hand).
  local ns
  for ns in "${E2E_NS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for ns in "${E2E_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  local hook
  for hook in "${E2E_ON_EXIT[@]}"; do "$hook"; done
  if [ "${E2E_KEEP:-0}" = 1 ] || { [ $rc != 0 ] && [ "${E2E_KEEP_ON_FAIL:-1}" = 1 ]; }; then
    e2e_log "logs kept in $E2E_DIR"
  else
    rm -rf "$E2E_DIR"
  fi
  exit $rc
}

# e2e_bpffs: a bpffs of the test's own at $E2E_DIR/bpffs (E2E_BPFFS), for
# the fast path's pins: they go with it at exit, whatever happens.
e2e_bpffs() {
  E2E_BPFFS=$E2E_DIR/bpffs
  mkdir -p "$E2E_BPFFS"
  mount -t bpf bpf "$E2E_BPFFS" || e2e_die "cannot mount a bpffs (no BPF in this kernel?)"
  e2e_on_exit e2e_unmount_bpffs
}
e2e_unmount_bpffs() { umount "$E2E_BPFFS" 2>/dev/null || true; }
# e2e_fast_path_count INDEX [PIN_DIR]: a fast-path counter (fast_path_abi.h:
# 0 hits, 1 misses, ...) summed over the CPUs, read from the pinned map with
# bpftool as docs/fast-path.md shows operators.
e2e_fast_path_count() {
  bpftool -j map dump pinned "${2:-$E2E_BPFFS/sipvsd}/stats" |
    jq --argjson k "$1" '[.[] | select(.formatted.key == $k) | .formatted.values[].value] | add'
}

e2e_ns() { echo "$E2E_PREFIX-$1"; }
# nsx ROLE CMD...: runs CMD in the role's namespace.
nsx() { local r=$1; shift; ip netns exec "$(e2e_ns "$r")" "$@"; }

e2e_add_ns() {
  local ns; ns=$(e2e_ns "$1")
  ip netns add "$ns" || e2e_die "cannot create namespace $ns"
  E2E_NS+=("$ns")
  ip -n "$ns" link set lo up
  # No duplicate address detection: addresses are usable at once.
  nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# e2e_topology N [--sources S] [--static-neighbours] [--blackhole-unmarked]:
# client, director and N backends, routed, with fwmark policy routing on the
# director and the fallback route for unmarked packets to backend 1. No
# NFQUEUE rule yet (e2e_nfqueue_rules). The benchmark's options:
#   --sources S            the client holds 198.18.0.1 .. 198.18.0.S (S <= 250)
#   --static-neighbours    permanent IPv4 neighbour entries on every link: no ARP
#                          resolution inside a measurement
#   --blackhole-unmarked   unmarked packets for the VIPs are dropped instead (so
#                          that what a director fails open counts as lost)
e2e_topology() {
  local n=$1 sources=1 static_neighbours=0 blackhole=0 i
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --sources) sources=$2; shift 2 ;;
      --static-neighbours) static_neighbours=1; shift ;;
      --blackhole-unmarked) blackhole=1; shift ;;
      *) e2e_die "e2e_topology: unknown option $1" ;;
    esac
  done
  if [ "$sources" -lt 1 ] || [ "$sources" -gt 250 ]; then e2e_die "e2e_topology: --sources $sources is not in 1..250"; fi
  E2E_BACKENDS=$n
  e2e_add_ns c
  e2e_add_ns d
  for i in $(seq 1 "$n"); do e2e_add_ns "b$i"; done

  ip link add c0 netns "$(e2e_ns c)" type veth peer name d0 netns "$(e2e_ns d)"
  ip -n "$(e2e_ns c)" addr add $E2E_CLIENT4/24 dev c0
  for i in $(seq 2 "$sources"); do ip -n "$(e2e_ns c)" addr add "198.18.0.$i/24" dev c0; done
  ip -n "$(e2e_ns c)" addr add $E2E_CLIENT6/64 dev c0 nodad
  ip -n "$(e2e_ns c)" link set c0 up
  ip -n "$(e2e_ns c)" route add default via 198.18.0.254
  ip -n "$(e2e_ns c)" -6 route add default via 2001:2::fe

  local d; d=$(e2e_ns d)
  ip -n "$d" addr add 198.18.0.254/24 dev d0
  ip -n "$d" addr add 2001:2::fe/64 dev d0 nodad
  ip -n "$d" link set d0 up
  ip -n "$d" link add br0 type bridge
  ip -n "$d" link set br0 up
  ip -n "$d" addr add 198.18.1.254/24 dev br0
  ip -n "$d" addr add 2001:2:0:1::fe/64 dev br0 nodad
  nsx d sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

  for i in $(seq 1 "$n"); do
    local b; b=$(e2e_ns "b$i")
    ip link add e0 netns "$b" type veth peer name "pb$i" netns "$d"
    ip -n "$d" link set "pb$i" master br0
    ip -n "$d" link set "pb$i" up
    ip -n "$b" addr add "$(e2e_backend4 "$i")/24" dev e0
    ip -n "$b" addr add "$(e2e_backend6 "$i")/64" dev e0 nodad
    ip -n "$b" link set e0 up
    # Direct routing: the VIPs on loopback, never announced or answered in ARP.
    ip -n "$b" addr add $E2E_VIP4/32 dev lo
    ip -n "$b" addr add $E2E_VIP6/128 dev lo nodad
    nsx "b$i" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.conf.e0.arp_ignore=1 net.ipv4.conf.e0.arp_announce=2 \
      net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.e0.rp_filter=0
    ip -n "$b" route add default via 198.18.1.254
    ip -n "$b" -6 route add default via 2001:2:0:1::fe

    # Policy routing on the director: mark -> table -> the VIP via backend i.
    local m4 m6; m4=$(e2e_mark4 "$i"); m6=$(e2e_mark6 "$i")
    ip -n "$d" rule add fwmark "$m4/$E2E_MARK_MASK" lookup $((100 + i)) pref $((100 + i))
    ip -n "$d" route add $E2E_VIP4/32 via "$(e2e_backend4 "$i")" dev br0 table $((100 + i))
    ip -n "$d" -6 rule add fwmark "$m6/$E2E_MARK_MASK" lookup $((200 + i)) pref $((200 + i))
    ip -n "$d" -6 route add $E2E_VIP6/128 via "$(e2e_backend6 "$i")" dev br0 table $((200 + i))
  done
  [ $static_neighbours = 0 ] || e2e_static_neighbours "$sources"
  if [ $blackhole = 1 ]; then
    ip -n "$d" route add blackhole $E2E_VIP4/32
    ip -n "$d" -6 route add blackhole $E2E_VIP6/128
    for i in $(seq 1 "$n"); do
      e2e_wait_ping c "$(e2e_backend4 "$i")" || e2e_die "no IPv4 path from the client to backend $i"
      e2e_wait_ping c "$(e2e_backend6 "$i")" || e2e_die "no IPv6 path from the client to backend $i"
    done
    return
  fi
  # Fallback for unmarked packets (daemon down with --queue-bypass, fail-open).
  ip -n "$d" route add $E2E_VIP4/32 via "$(e2e_backend4 1)" dev br0
  ip -n "$d" -6 route add $E2E_VIP6/128 via "$(e2e_backend6 1)" dev br0
  e2e_wait_ping c $E2E_VIP4 || e2e_die "no IPv4 path from the client to the VIP"
  e2e_wait_ping c $E2E_VIP6 || e2e_die "no IPv6 path from the client to the VIP"
}

e2e_mac() { nsx "$1" cat "/sys/class/net/$2/address"; }  # ROLE IFACE

# e2e_static_neighbours SOURCES: every IPv4 neighbour of the topology, permanent.
e2e_static_neighbours() {
  local d; d=$(e2e_ns d)
  local client_mac dir_mac bridge_mac i
  client_mac=$(e2e_mac c c0); dir_mac=$(e2e_mac d d0); bridge_mac=$(e2e_mac d br0)
  ip -n "$(e2e_ns c)" neigh replace 198.18.0.254 lladdr "$dir_mac" dev c0 nud permanent
  for i in $(seq 1 "$1"); do ip -n "$d" neigh replace "198.18.0.$i" lladdr "$client_mac" dev d0 nud permanent; done
  for i in $(seq 1 "$E2E_BACKENDS"); do
    ip -n "$d" neigh replace "$(e2e_backend4 "$i")" lladdr "$(e2e_mac "b$i" e0)" dev br0 nud permanent
    ip -n "$(e2e_ns "b$i")" neigh replace 198.18.1.254 lladdr "$bridge_mac" dev e0 nud permanent
  done
}

# e2e_wait_ping ROLE ADDR: up to 5 s for one answer.
e2e_wait_ping() {
  local i
  for i in $(seq 1 25); do
    nsx "$1" ping -c1 -W1 -q "$2" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# e2e_nfqueue_rules [--no-conntrack]: the director's NFQUEUE rules (both
# families), as rules/iptables.rules has them. The conntrack match is what
# loads defragmentation; --no-conntrack leaves it out (to show the difference).
e2e_nfqueue_rules() {
  local ct="-m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED"
  [ "${1:-}" = --no-conntrack ] && ct=""
  [ "${E2E_FAST_PATH:-0}" = 1 ] && ct="-m mark --mark 0x0/$E2E_MARK_MASK $ct"
  # shellcheck disable=SC2086
  nsx d iptables -t mangle -A PREROUTING -p udp -d $E2E_VIP4 --dport 5060 $ct \
    -j NFQUEUE --queue-balance 0:1 --queue-bypass || e2e_die "iptables NFQUEUE rule"
  # shellcheck disable=SC2086
  nsx d ip6tables -t mangle -A PREROUTING -p udp -d $E2E_VIP6 --dport 5060 $ct \
    -j NFQUEUE --queue-balance 0:1 --queue-bypass || e2e_die "ip6tables NFQUEUE rule"
}

e2e_flush_rules() {
  nsx d iptables -t mangle -F PREROUTING
  nsx d ip6tables -t mangle -F PREROUTING
}

# e2e_config FILE SCHED WEIGHTS...: a sipvsd configuration with an IPv4 and an
# IPv6 service over the backends, with the given weights (one per backend).
e2e_config() {
  local file=$1 sched=$2; shift 2
  local weights=("$@") i
  {
    printf '{ "queues": "0-1", "mark_mask": "%s", "debug_level": %s,\n' "$E2E_MARK_MASK" "${E2E_DEBUG:-0}"
    [ "${E2E_FAST_PATH:-0}" = 1 ] && printf '  "fast_path": { "mode": "on", "pin_dir": "%s/sipvsd" },\n' "$E2E_BPFFS"
    printf '  "services": [\n'
    local fam
    for fam in 4 6; do
      local vip=$E2E_VIP4 name=sip4
      [ $fam = 6 ] && vip=$E2E_VIP6 name=sip6
      printf '    { "name": "%s", "vip": "%s", "port": 5060, "scheduler": "%s",\n' $name $vip "$sched"
      printf '      "persistence_timeout": 300, "netmask": 0, "one_packet": true, "pe": "sip",\n'
      printf '      "servers": ['
      for i in $(seq 1 "$E2E_BACKENDS"); do
        local addr mark
        if [ $fam = 4 ]; then addr=$(e2e_backend4 "$i"); mark=$(e2e_mark4 "$i"); else addr=$(e2e_backend6 "$i"); mark=$(e2e_mark6 "$i"); fi
        [ "$i" -gt 1 ] && printf ','
        printf '\n        { "address": "%s", "port": 5060, "weight": %s, "mark": %s }' "$addr" "${weights[$((i - 1))]:-1}" "$mark"
      done
      printf ' ] }'
      [ $fam = 4 ] && printf ','
      printf '\n'
    done
    printf '  ] }\n'
  } >"$file"
}

# e2e_config_api FILE: the REST API on the director's loopback (where e2e_api
# calls it) and a state file in the test's directory, added to a configuration.
e2e_config_api() {
  sed -i "1s|^{|{ \"state_file\": \"$E2E_DIR/state.json\", \"api\": { \"listen\": \"127.0.0.1:8080\" },|" "$1"
}

# e2e_start_sipvsd BINARY CONFIG [ARGS...]: starts sipvsd in the director and
# waits (bounded) until both queues are bound. Sets E2E_SIPVSD_PID.
e2e_start_sipvsd() {
  local bin=$1 config=$2; shift 2
  : >>"$E2E_DIR/sipvsd.log"
  # ip netns exec execs sipvsd: $! is sipvsd's own pid, to signal it.
  ip netns exec "$(e2e_ns d)" "$bin" --config "$config" "$@" >>"$E2E_DIR/sipvsd.log" 2>&1 &
  E2E_SIPVSD_PID=$!
  e2e_track "$E2E_SIPVSD_PID"
  local i
  for i in $(seq 1 100); do
    if ! kill -0 "$E2E_SIPVSD_PID" 2>/dev/null; then
      tail -20 "$E2E_DIR/sipvsd.log" >&2
      e2e_die "sipvsd exited at start"
    fi
    # This start's own "started with" (the log file spans restarts): it comes
    # after the queues are bound and the saved templates restored.
    if [ "$(grep -c 'queue [0-9]* bound' "$E2E_DIR/sipvsd.log")" -ge "$(e2e_bound_count)" ] &&
      [ "$(grep -c 'started with' "$E2E_DIR/sipvsd.log")" -ge "${E2E_SIPVSD_STARTS:-1}" ]; then
      return 0
    fi
    sleep 0.1
  done
  e2e_die "sipvsd did not bind its queues within 10 s"
}
e2e_bound_count() { echo $((2 * ${E2E_SIPVSD_STARTS:=1})); }

# e2e_setup_rr_api SIPVSD [EDIT]: three backends, each a SIPp UAS, and sipvsd
# on the director with e2e_config's services (round robin, weights 1) and its
# REST API, both queues bound; EDIT, a function, may first change the
# configuration file it is given. Sets E2E_CONF and E2E_UAS (the backends' log
# directories).
e2e_setup_rr_api() {
  local sipvsd=$1 edit=${2:-} i
  e2e_topology 3
  e2e_nfqueue_rules
  E2E_CONF=$E2E_DIR/sipvsd.json
  e2e_config "$E2E_CONF" rr 1 1 1
  e2e_config_api "$E2E_CONF"
  [ -z "$edit" ] || "$edit" "$E2E_CONF"
  "$sipvsd" --check-config "$E2E_CONF" >/dev/null || e2e_die "generated configuration rejected"
  e2e_start_sipvsd "$sipvsd" "$E2E_CONF"
  for i in 1 2 3; do e2e_start_uas "b$i" "$E2E_VIP4" "$E2E_DIR/b$i"; done
  for i in 1 2 3; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done
  E2E_UAS=("$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3")
}

# e2e_without_live_state IN OUT: a /v1/services body as configured, without
# each server's live state (its calls in progress, overloaded, drained).
e2e_without_live_state() { jq 'del(.services[].servers[] | .live_templates, .overloaded, .drained)' "$1" >"$2"; }

# e2e_api METHOD PATH [JSON]: one request to sipvsd's REST API on the
# director's loopback (127.0.0.1:8080, as the tests configure it), bounded by
# curl's --max-time; the body goes to $E2E_DIR/api-body. Anything but 2xx fails.
# e2e_api_at ROLE METHOD PATH [JSON]: the same in ROLE's namespace.
e2e_api() { e2e_api_at d "$@"; }
e2e_api_at() {
  local role=$1; shift
  local args=(-sS --max-time 5 -X "$1" -o "$E2E_DIR/api-body" -w '%{http_code}')
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  local code
  code=$(nsx "$role" curl "${args[@]}" "http://127.0.0.1:8080$2") || code=000
  case $code in
    2??) ;;
    *) e2e_die "API $1 $2 in $role: $code $(head -c 300 "$E2E_DIR/api-body")" ;;
  esac
}

# e2e_stop_pid PID [SIGNAL]: signal, then wait at most 10 s; then KILL and
# return 1. Untracks PID.
e2e_stop_pid() {
  local pid=$1 sig=${2:-TERM} i
  e2e_untrack "$pid"
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 1
}

# e2e_start_uas ROLE VIP DIR [SCENARIO]: a SIPp UAS (the default uas
# scenario, or the file SCENARIO) bound to the VIP,
# logging every message it receives or sends. Sets E2E_UAS_PID.
e2e_start_uas() {
  local role=$1 vip=$2 dir=$3 scenario=(-sn uas)
  [ -n "${4:-}" ] && scenario=(-sf "$4")
  mkdir -p "$dir"
  (cd "$dir" && exec ip netns exec "$(e2e_ns "$role")" sipp "${scenario[@]}" -i "$vip" -p 5060 -nostdin \
    -timeout 600s -trace_msg -message_file "$dir/messages.log" -trace_err -error_file "$dir/errors.log" \
    -trace_screen -screen_file "$dir/screen.log" >"$dir/stdout.log" 2>&1) &
  E2E_UAS_PID=$!
  e2e_track "$E2E_UAS_PID"
}

# e2e_stop_ns_processes ROLE: SIGTERM to every process in ROLE's namespace
# (a UAS whose address the next step binds), then until they are gone (at most 5 s).
e2e_stop_ns_processes() {
  local ns pid n
  ns=$(e2e_ns "$1")
  for pid in $(ip netns pids "$ns"); do kill -TERM "$pid" 2>/dev/null || true; done
  for n in $(seq 1 50); do [ -z "$(ip netns pids "$ns")" ] && break; sleep 0.1; done
}

# e2e_wait_udp ROLE PORT: until something listens on UDP PORT (at most 5 s).
e2e_wait_udp() {
  local i
  for i in $(seq 1 50); do
    nsx "$1" ss -Hlun "sport = :$2" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

# e2e_uac DIR TARGET LOCAL_IP CALLS RATE PAUSE_MS [-sf SCENARIO] [EXTRA SIPP ARGS]:
# runs a SIPp UAC (the default uac scenario, or SCENARIO) from LOCAL_IP:5061 — one source
# address and port for every call, like a SIP trunk — and waits for it (SIPp's
# own -timeout bounds it). Returns SIPp's exit code.
e2e_uac() {
  local dir=$1 target=$2 local_ip=$3 calls=$4 rate=$5 pause=$6; shift 6
  mkdir -p "$dir"
  local limit=$((calls / rate + pause / 1000 + 40))
  local scenario=(-sn uac)
  if [ "${1:-}" = -sf ]; then scenario=(-sf "$2"); shift 2; fi
  (cd "$dir" && exec ip netns exec "$(e2e_ns c)" sipp "${scenario[@]}" "$target" -i "$local_ip" -p 5061 \
    -m "$calls" -r "$rate" -d "$pause" -nostdin -timeout "${limit}s" -timeout_error \
    -trace_msg -message_file "$dir/messages.log" -trace_err -error_file "$dir/errors.log" \
    -trace_screen -screen_file "$dir/screen.log" -trace_stat -stf "$dir/stat.csv" "$@" \
    >"$dir/stdout.log" 2>&1) &
  E2E_UAC_PID=$!
  e2e_track "$E2E_UAC_PID"
  echo "$E2E_UAC_PID" >"$dir/pid"  # for callers that run e2e_uac in the background
  wait "$E2E_UAC_PID"
}

# e2e_uac_start DIR TARGET LOCAL_IP CALLS RATE PAUSE_MS [...]: e2e_uac in the
# background. Sets E2E_UAC_WAITER (wait for it) and E2E_UAC_SIPP (SIPp's pid,
# which its Call-IDs carry: "N-PID@host").
e2e_uac_start() {
  (e2e_uac "$@" >/dev/null 2>&1 || true) &
  E2E_UAC_WAITER=$!
  e2e_track "$E2E_UAC_WAITER"
  local i
  for i in $(seq 1 50); do [ -s "$1/pid" ] && break; sleep 0.1; done
  [ -s "$1/pid" ] || e2e_die "the SIPp UAC in $1 did not start"
  E2E_UAC_SIPP=$(cat "$1/pid")
}

# Successful calls in a SIPp screen log.
e2e_sipp_count() { # FILE "Successful call"|"Failed call"|"Total Calls created"
  awk -F'|' -v k="$2" '{ sub(/^ +/, "", $1) } index($1, k) == 1 { gsub(/ /, "", $3); v = $3 } END { print v + 0 }' "$1"
}

# e2e_received DIR: "epoch method call-id" for every request a SIPp received,
# from its -trace_msg log.
e2e_received() {
  awk '
    /^----------------------------------------------- / { ts = $2 " " $3; inmsg = 0; next }
    /message received \[[0-9]+\] bytes/ { inmsg = 1; first = 1; method = ""; next }
    inmsg && first && NF > 0 { method = $1; first = 0; next }
    inmsg && tolower($1) ~ /^(call-id|i):/ { sub(/^[^:]*:[ \t]*/, ""); sub(/\r$/, ""); print ts "\t" method "\t" $0; inmsg = 0 }
  ' "$1/messages.log"
}

# e2e_affinity PID SINCE DIR...: what the backends (one SIPp log directory each)
# received of the calls whose Call-ID SIPp process PID made ("N-PID@host").
# SINCE is a "YYYY-mm-dd HH:MM:SS.ffffff" time (or "-"): INVITEs at or after it
# are counted apart, as are calls that began before it and ended after it.
# Prints one "key value" line each:
#   callids N         Call-IDs seen by any backend
#   single N          ... by exactly one backend (affinity)
#   complete N        ... whose INVITE, ACK and BYE all reached that one backend
#   calls.DIR N       calls (INVITEs) per backend
#   late.DIR N        calls per backend whose INVITE came at or after SINCE
#                     (with E2E_SENT_TIMES, a file of e2e_first_sent lines:
#                     whose INVITE the UAC first sent at or after SINCE)
#   spanning.DIR N    calls per backend with INVITE before SINCE and BYE after
#   split CALLID      (at most 5) Call-IDs seen by more than one backend
e2e_affinity() {
  local pid=$1 since=$2 d; shift 2
  for d in "$@"; do e2e_received "$d" | sed "s|^|$(basename "$d")\t|"; done |
    awk -F'\t' -v pid="$pid" -v since="$since" -v sent_times="${E2E_SENT_TIMES:-}" '
    BEGIN { if (sent_times != "") while ((getline l < sent_times) > 0) { split(l, a, "\t"); first_sent[a[1]] = a[2] } }
    index($4, "-" pid "@") == 0 { next }
    {
      b = $1; ts = $2; m = $3; id = $4
      if (!((id, b) in seen)) { seen[id, b] = 1; nb[id]++; where[id] = b }
      if (m == "INVITE" && !((id, "I") in got)) { got[id, "I"] = 1; inv_ts[id] = ts; inv_b[id] = b }
      if (m == "ACK") got[id, "A"] = 1
      if (m == "BYE") { got[id, "B"] = 1; bye_ts[id] = ts }
      ids[id] = 1; backends[b] = 1
    }
    END {
      for (b in backends) { calls[b] = 0; late[b] = 0; spanning[b] = 0 }
      for (id in ids) {
        n++
        if (nb[id] == 1) {
          single++
          if ((id, "I") in got && (id, "A") in got && (id, "B") in got) complete++
        } else if (shown++ < 5) print "split " id
        if ((id, "I") in got) {
          calls[inv_b[id]]++
          began = (id in first_sent) ? first_sent[id] : inv_ts[id]
          if (since != "-" && began >= since) late[inv_b[id]]++
          if (since != "-" && inv_ts[id] < since && (id in bye_ts) && bye_ts[id] >= since) spanning[inv_b[id]]++
        }
      }
      print "callids " n + 0; print "single " single + 0; print "complete " complete + 0
      for (b in backends) { print "calls." b " " calls[b]; print "late." b " " late[b]; print "spanning." b " " spanning[b] }
    }'
}

# e2e_first_sent UAC_DIR: "Call-ID<TAB>time" of each INVITE the UAC (a SIPp
# log directory) sent first, from its messages.log.
e2e_first_sent() {
  awk '
    /^----------------------------------------------- / { ts = $2 " " $3; sent = 0; next }
    /message sent/ { sent = 1; first = 1; method = ""; next }
    sent && first && NF > 0 { method = $1; first = 0; next }
    sent && tolower($1) ~ /^(call-id|i):/ { sub(/^[^:]*:[ \t]*/, ""); sub(/\r$/, "")
      if (method == "INVITE" && !($0 in seen)) { seen[$0] = 1; print $0 "\t" ts }; sent = 0 }
  ' "$1/messages.log"
}

# e2e_calls PID DIR...: one line per Call-ID of SIPp process PID, from the
# backends' logs (directories named for the backend): the backend and time of
# its INVITE, how many backends saw the call, whether INVITE, ACK and BYE all
# reached that one backend (1/0), and the time of the BYE.
e2e_calls() {
  local pid=$1 d; shift
  sleep 0.5  # the last BYE's log line
  for d in "$@"; do e2e_received "$d" | sed "s|^|$(basename "$d")\t|"; done | awk -F'\t' -v pid="$pid" '
    index($4, "-" pid "@") == 0 { next }
    {
      b = $1; ts = $2; m = $3; id = $4; ids[id] = 1
      if (!((id, b) in seen)) { seen[id, b] = 1; nb[id]++ }
      if (m == "INVITE" && !(id in inv_b)) { inv_b[id] = b; inv_ts[id] = ts }
      if (m == "ACK") ack[id, b] = 1
      if (m == "BYE") { bye[id, b] = 1; bye_ts[id] = ts }
    }
    END {
      for (id in ids) {
        b = (id in inv_b) ? inv_b[id] : "-"
        ok = nb[id] == 1 && (id, b) in ack && (id, b) in bye
        gsub(/ /, "T", inv_ts[id]); gsub(/ /, "T", bye_ts[id])
        print id, b, (id in inv_ts) ? inv_ts[id] : "-", nb[id], ok ? 1 : 0, (id in bye_ts) ? bye_ts[id] : "-"
      }
    }'
}
# e2e_count FILE AWK-CONDITION: calls of an e2e_calls file matching the condition
# ($2 backend, $3 INVITE time, $4 backends, $5 complete, $6 BYE time; times
# with "T" for the space, as e2e_stamp gives them).
e2e_count() { awk "$2 { n++ } END { print n + 0 }" "$1"; }
e2e_stamp() { e2e_now | tr ' ' T; }

# e2e_judge PID MOVING DIR...: for the calls of SIPp process PID, from the
# backends' logs (directories named for the backend): "stayed broken moved" —
# calls whose INVITE reached a backend other than MOVING, how many of those
# were not seen whole (INVITE, ACK, BYE) by that backend alone (the first 5
# named on stderr), and calls whose INVITE reached MOVING and whose later
# messages reached another backend.
e2e_judge() {
  local pid=$1 moving=$2 d; shift 2
  for d in "$@"; do e2e_received "$d" | sed "s|^|$(basename "$d")\t|"; done | awk -F'\t' -v pid="$pid" -v moving="$moving" '
    index($4, "-" pid "@") == 0 { next }
    { id = $4; b = $1; m = $3
      if (!((id, b) in seen)) { seen[id, b] = 1; nb[id]++ }
      if (m == "INVITE" && !(id in inv)) inv[id] = b
      got[id, m] = 1; ids[id] = 1 }
    END {
      for (id in ids) {
        if (!(id in inv)) continue
        if (inv[id] == moving) { if (nb[id] > 1) moved++; continue }
        stayed++
        if (nb[id] != 1 || !((id, "ACK") in got) || !((id, "BYE") in got)) {
          broken++
          if (shown++ < 5) print "broken " id " (on " nb[id] " backends)" > "/dev/stderr"
        }
      }
      print stayed + 0, broken + 0, moved + 0
    }'
}

# e2e_pct PART TOTAL: PART/TOTAL in percent, one decimal.
e2e_pct() { awk -v p="$1" -v t="$2" 'BEGIN { printf "%.1f", t ? 100 * p / t : 0 }'; }

# e2e_within VALUE EXPECTED TOLERANCE: |VALUE - EXPECTED| <= TOLERANCE.
e2e_within() { awk -v v="$1" -v e="$2" -v t="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= t) }'; }

e2e_now() { date '+%Y-%m-%d %H:%M:%S.%6N'; }
e2e_now_ms() { date +%s%3N; }

# e2e_wait_ms LIMIT_S COMMAND...: until COMMAND succeeds (every 20 ms, at
# most LIMIT_S seconds); prints the milliseconds it took.
e2e_wait_ms() {
  local limit=$1 t0 i; shift
  t0=$(e2e_now_ms)
  for i in $(seq 1 $((limit * 50))); do
    if "$@"; then echo $(($(e2e_now_ms) - t0)); return 0; fi
    sleep 0.02
  done
  return 1
}

# e2e_capture_start ROLE IFACE FILE: tcpdump in ROLE's namespace (all IP
# traffic of IFACE; "any" gives Linux cooked SLL2 frames). Sets E2E_CAPTURE_PID.
e2e_capture_start() {
  local role=$1 iface=$2 file=$3 i
  ip netns exec "$(e2e_ns "$role")" tcpdump -i "$iface" --immediate-mode -U -s 0 -w "$file" 'ip or ip6' >"$file.log" 2>&1 &
  E2E_CAPTURE_PID=$!
  e2e_track "$E2E_CAPTURE_PID"
  for i in $(seq 1 50); do
    grep -q 'listening on' "$file.log" 2>/dev/null && return 0
    sleep 0.1
  done
  e2e_die "tcpdump did not start: $(cat "$file.log")"
}

e2e_capture_stop() {
  sleep 1  # the last packets
  e2e_stop_pid "$E2E_CAPTURE_PID" INT || e2e_die "tcpdump did not stop"
}

# e2e_replay_compare PID REPLAY_OUTPUT DIRS...: for the calls of SIPp process
# PID, the real server `sipvsd replay` chose (from its "call-id=... server=ADDR:PORT"
# lines) against the backend that received the call's INVITE live. The
# backends' directories are named b<i> and backend i has address 198.18.1.i.
# Prints "calls N", "same N", "differ N".
e2e_replay_compare() {
  local pid=$1 out=$2 d; shift 2
  {
    for d in "$@"; do e2e_received "$d" | sed "s|^|live\t$(basename "$d")\t|"; done
    awk '/ call-id=/ && / server=/ {
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^call-id=/) id = substr($i, 9)
        if ($i ~ /^server=/) { s = substr($i, 8); sub(/:[0-9]+$/, "", s); n = split(s, o, "."); srv = "b" o[n] }
      }
      print "replay\t" srv "\t-\t-\t" id }' "$out"
  } | awk -F'\t' -v pid="$pid" '
    index($5, "-" pid "@") == 0 { next }
    $1 == "live" && $4 == "INVITE" && !($5 in live) { live[$5] = $2 }
    $1 == "replay" && !($5 in rep) { rep[$5] = $2 }
    END {
      for (id in live) { n++; if (rep[id] == live[id]) same++; else differ++ }
      print "calls " n + 0; print "same " same + 0; print "differ " differ + 0
    }'
}
