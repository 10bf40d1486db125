# shellcheck shell=bash
# Helpers of the tests with several directors (e2e_ha.sh, e2e_ecmp.sh),
# sourced after lib.sh: a switch namespace whose bridges join the
# namespaces, and the per-Call-ID verdicts those tests print.

# e2e_switch: namespace "sw" with two bridges, "lan" (clients' or router's
# side) and "srv" (the real servers' side). Fixed MACs: a bridge takes its
# lowest port's, which would change as ports come and go.
e2e_switch() {
  e2e_add_ns sw
  ip -n "$(e2e_ns sw)" link add lan address 02:00:5e:10:00:01 type bridge
  ip -n "$(e2e_ns sw)" link add srv address 02:00:5e:10:00:02 type bridge
  ip -n "$(e2e_ns sw)" link set lan up
  ip -n "$(e2e_ns sw)" link set srv up
}

# e2e_switch_port ROLE IFACE BRIDGE: a veth from ROLE's namespace to a port of BRIDGE.
e2e_switch_port() {
  ip link add "$2" netns "$(e2e_ns "$1")" type veth peer name "p$1$2" netns "$(e2e_ns sw)"
  ip -n "$(e2e_ns sw)" link set "p$1$2" master "$3" up
  ip -n "$(e2e_ns "$1")" link set "$2" up
}

# e2e_kill_ns ROLE: every process in ROLE's namespace SIGKILLed, as when its box dies.
e2e_kill_ns() {
  local pid
  for pid in $(ip netns pids "$(e2e_ns "$1")"); do kill -KILL "$pid" 2>/dev/null || true; done
}

# e2e_sync_key: a fresh shared sync key (mode 0600) in the work dir; prints its path.
e2e_sync_key() {
  local key=$E2E_DIR/sync.key
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key"
  chmod 600 "$key"
  echo "$key"
}

# e2e_wrr_services VIP [KEYS]: a configuration's "services" (the end of its
# object): sip4 on VIP:5060, wrr over b1..b3 with marks 1..3, persistence by
# Call-ID (E2E_PERSISTENCE seconds, 300 unless set); KEYS (e.g.
# '"health_check": {...},') go into the service.
e2e_wrr_services() {
  local i
  printf '  "services": [ { "name": "sip4", "vip": "%s", "port": 5060, "scheduler": "wrr",\n' "$1"
  printf '    "persistence_timeout": %s, "netmask": 0, "one_packet": true, "pe": "sip", %s\n' "${E2E_PERSISTENCE:-300}" "${2:-}"
  printf '    "servers": ['
  for i in 1 2 3; do
    [ "$i" -gt 1 ] && printf ','
    printf '\n      { "address": "%s", "port": 5060, "weight": 1, "mark": %s }' "$(e2e_backend4 "$i")" "$i"
  done
  printf ' ] } ] }\n'
}

# e2e_director_healthy N: director N's /healthz (API on 127.0.0.1:8080) says
# 200: running, and synced when sync is on.
e2e_director_healthy() { nsx "d$1" curl -fsS --max-time 1 -o /dev/null http://127.0.0.1:8080/healthz 2>/dev/null; }

# The verdicts the test wrote to $E2E_DIR/affinity: "key value" lines of
# e2e_affinity (summed over several UACs by the caller if need be).
e2e_aff() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$E2E_DIR/affinity"; }
# Calls in progress at the time given to e2e_affinity, on any of b1..b4.
e2e_spanning() { echo $(($(e2e_aff spanning.b1) + $(e2e_aff spanning.b2) + $(e2e_aff spanning.b3) + $(e2e_aff spanning.b4))); }
# Calls not seen whole (INVITE, ACK, BYE) by exactly one backend.
e2e_broken() { echo $(($(e2e_aff callids) - $(e2e_aff complete))); }
