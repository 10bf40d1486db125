#!/usr/bin/env bash
# The Debian package, end to end, on this machine (CTest label `package`):
#   1. build it (packaging/build-deb.sh), check its contents, its Depends (from
#      dpkg-shlibdeps) against the libraries the binary needs, and lintian;
#   2. install it with apt-get, run `sipvsd --version` and --check-config on the
#      installed configuration, check the unit with `systemd-analyze verify`;
#      the API token made at install (256 bits, readable by sipvsd only);
#   3. start the installed binary the way the unit does (its ExecStartPre and
#      ExecStart, as its User with its capabilities only) in a network namespace
#      of its own, and call GET /healthz there; add a service through the API
#      (written to the state file in /var/lib/sipvsd) with the token, none
#      without it (401); deep JSON gets 400 from this optimized build; SIGHUP,
#      then SIGTERM;
#   3b. the unit itself under systemd as PID 1: this machine's root booted in a
#      container (systemd-nspawn --boot on an overlay, private network): the
#      unit starts at boot, answers /healthz, is ready (Type=notify) only once
#      its queue is bound and its API answers, shows its status line, reloads,
#      is restarted after a crash and, by the watchdog, after SIGSTOP, and
#      stops cleanly (skipped if the container cannot boot here);
#   4. upgrade to a rebuilt package with a higher version over a changed
#      conffile and a file in the state directory: both kept; it still starts
#      and still has the service added through the API before the upgrade;
#   5. remove (configuration kept), purge: nothing of the package is left.
#
# Why this machine and not a debootstrap chroot: CI runs as root on a machine
# thrown away after the run, so installing here is safe and fast, and it is the
# only way to run the daemon for real (NFQUEUE and a network namespace need the
# host kernel; a chroot would also need a mirror download of a whole base
# system on every run). The package is purged on every exit path.
#
# Needs root (else skipped, exit 77) and the tools scripts/install-deps.sh
# installs. Refuses to touch a sipvsd package it did not install itself.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
marker=/run/sipvsd-package-test.installed   # "this test installed the package"

log() { printf '[package] %s\n' "$*"; }
fail() { printf '[package] FAIL: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
  echo "[package] SKIP: needs root (installs the package on this machine)"
  exit 77
fi
for tool in dpkg-buildpackage dh lintian systemd-analyze curl ip setpriv apt-get dpkg-parsechangelog ldd readelf jq; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps.sh"
done

# Installed, or removed with its configuration left (status config-files).
installed() {
  local status
  status="$(dpkg-query -W -f='${db:Status-Status}' sipvsd 2>/dev/null || true)"
  [ -n "$status" ] && [ "$status" != not-installed ]
}
if installed; then
  if [ -e "$marker" ]; then
    log "purging the package left by an interrupted run of this test"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq sipvsd >/dev/null
    rm -f "$marker"
  else
    echo "[package] SKIP: a sipvsd package is installed on this machine and this test did not install it"
    exit 77
  fi
fi

work="$(mktemp -d /tmp/sipvsd-pkgtest.XXXXXX)"
ns="sipvsd-pkgtest-$$"
daemon_pid=""
nspawn_pid=""
nsroot="$work/nspawn"
cleanup() {
  local rc=$?
  set +e
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid"; sleep 2; kill -KILL "$nspawn_pid" 2>/dev/null; sleep 0.5
  fi
  mountpoint -q "$nsroot/root" && umount "$nsroot/root"
  mountpoint -q "$nsroot" && umount "$nsroot"
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"; sleep 1; kill -KILL "$daemon_pid" 2>/dev/null
  fi
  ip netns del "$ns" 2>/dev/null
  if [ -e "$marker" ]; then
    log "cleanup: purging the package"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq sipvsd >/dev/null 2>&1 || dpkg --purge sipvsd >/dev/null 2>&1
    rm -f "$marker"
  fi
  if [ "$rc" != 0 ]; then
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "---- $(basename "$f")"; tail -n 40 "$f"; }; done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. build
v1="$(dpkg-parsechangelog -l "$repo/packaging/debian/changelog" -SVersion)"
v2="$v1+pkgtest1"
upstream="${v1%%-*}"
log "building sipvsd $v1 (log: build1.log)"
"$repo/packaging/build-deb.sh" "$work/v1" >"$work/build1.log" 2>&1 || fail "package build failed"
deb1="$(ls "$work"/v1/sipvsd_"$v1"_*.deb)"
log "built $(basename "$deb1")"

dpkg-deb -c "$deb1" | awk '{print $6}' | sed 's|^\./|/|' >"$work/contents.txt"
has() { grep -qxF "$1" "$work/contents.txt" || fail "the package lacks $1"; }
has /usr/sbin/sipvsd
has /lib/systemd/system/sipvsd.service
has /etc/sipvsd/sipvsd.json
has /usr/share/man/man8/sipvsd.8.gz
has /usr/share/doc/sipvsd/copyright
# dh_compress gzips documents over 4 kB, but not the OpenAPI document (rules).
if [ -f "$repo/README.md" ] && ! grep -qxE '/usr/share/doc/sipvsd/README\.md(\.gz)?' "$work/contents.txt"; then
  fail "the package lacks /usr/share/doc/sipvsd/README.md"
fi
if [ -f "$repo/api/openapi.yaml" ]; then has /usr/share/doc/sipvsd/openapi.yaml; fi
# The guides the man page points to (high-availability.md, calls-both-ways.md...).
for guide in "$repo"/docs/*.md; do
  [ -f "$guide" ] || continue
  name=$(basename "$guide" .md)
  grep -qxE "/usr/share/doc/sipvsd/${name//./\\.}\\.md(\\.gz)?" "$work/contents.txt" ||
    fail "the package lacks /usr/share/doc/sipvsd/$name.md"
done
if [ -d "$repo/rules" ]; then
  while IFS= read -r -d '' f; do has "/usr/share/sipvsd/rules/${f#"$repo"/rules/}"; done \
    < <(find "$repo/rules" -type f -print0)
fi
has /usr/share/sipvsd/monitoring/sipvsd-alerts.yml
has /usr/share/sipvsd/monitoring/sipvsd-dashboard.json
dpkg-deb -I "$deb1" conffiles | grep -qxF /etc/sipvsd/sipvsd.json || fail "/etc/sipvsd/sipvsd.json is not a conffile"
log "contents: $(grep -c '[^/]$' "$work/contents.txt") files, conffile /etc/sipvsd/sipvsd.json"

log "lintian (errors and warnings fail; see packaging/lintian-notes.md)"
lint_rc=0
lintian --fail-on error,warning --info "$deb1" >"$work/lintian.log" 2>&1 || lint_rc=$?
grep -v 'running with root privileges' "$work/lintian.log" || true
[ "$lint_rc" = 0 ] || fail "lintian found errors or warnings (exit $lint_rc)"

# ---------------------------------------------------------------- 2. install
log "apt-get install $(basename "$deb1")"
touch "$marker"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb1" >"$work/install1.log" 2>&1 || fail "apt-get install failed"

# Every library the binary links directly (its DT_NEEDED entries) must come
# from a package the Depends line names (what dpkg-shlibdeps is for).
depends="$(dpkg-query -W -f='${Depends}' sipvsd)"
log "Depends: $depends"
dep_names="$(printf '%s\n' "$depends" | sed 's/[,|]/\n/g' | sed 's/^ *//; s/[ :(].*//')"
needed="$(readelf -d /usr/sbin/sipvsd | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
[ -n "$needed" ] || fail "readelf found no NEEDED entry in /usr/sbin/sipvsd"
while read -r soname _ path _; do
  grep -qxF "$soname" <<<"$needed" || continue
  case "$path" in /*) ;; *) continue ;; esac
  pkg="$(dpkg -S "/usr${path#/usr}" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)"
  pkg="${pkg%%:*}"
  [ -n "$pkg" ] || fail "no package owns $path ($soname)"
  grep -qxF "$pkg" <<<"$dep_names" || fail "$soname comes from $pkg, which Depends does not name"
done < <(ldd /usr/sbin/sipvsd | grep '=>')

out="$(sipvsd --version)"
[ "$out" = "sipvsd $upstream" ] || fail "sipvsd --version printed '$out', expected 'sipvsd $upstream'"
log "sipvsd --version: $out"
sipvsd --check-config /etc/sipvsd/sipvsd.json || fail "the installed configuration does not pass --check-config"
# Secure by default: the installation made a token only the daemon's user reads.
[ "$(stat -c '%U %a' /etc/sipvsd/token 2>/dev/null)" = "sipvsd 600" ] ||
  fail "/etc/sipvsd/token: expected owner sipvsd, mode 600: $(stat -c '%U %a' /etc/sipvsd/token 2>&1)"
grep -qxE '[0-9a-f]{64}' /etc/sipvsd/token || fail "/etc/sipvsd/token does not hold 256 random bits in hex"
token_sum="$(md5sum </etc/sipvsd/token)"
auth=(-H "Authorization: Bearer $(cat /etc/sipvsd/token)")
log "/etc/sipvsd/token: 256 bits, sipvsd 0600"

unit=/lib/systemd/system/sipvsd.service
systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify failed"; }
if grep -q sipvsd "$work/verify.log"; then cat "$work/verify.log"; fail "systemd-analyze verify warns about the unit"; fi
log "systemd-analyze verify: clean"
# The hardening must not regress: exposure 3.0 ("OK") at most.
systemd-analyze security --offline=true --threshold=30 "$unit" >"$work/security.log" 2>&1 ||
  { tail -n 5 "$work/security.log"; fail "systemd-analyze security: exposure above 3.0"; }
log "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$work/security.log")"

svc_user="$(sed -n 's/^User=//p' "$unit")"
svc_caps="$(sed -n 's/^AmbientCapabilities=//p' "$unit" | tr '[:upper:]' '[:lower:]' | sed 's/cap_//g; s/ \+/,/g')"
read -ra exec_pre <<<"$(sed -n 's/^ExecStartPre=//p' "$unit")"
read -ra exec_start <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
getent passwd "$svc_user" >/dev/null || fail "the unit's user $svc_user does not exist"
[ "$(stat -c %U /var/lib/sipvsd)" = "$svc_user" ] || fail "/var/lib/sipvsd is not owned by $svc_user"

# ---------------------------------------------------------------- 3. run
ip netns add "$ns"
ip -n "$ns" link set lo up
listen="$(grep -o '"listen"[^,}]*' /etc/sipvsd/sipvsd.json | sed 's/.*"\([^"]*\)"$/\1/')"
[ -n "$listen" ] || listen=127.0.0.1:8080

# As the unit runs it (systemd is not PID 1 here): its user, its capabilities
# as ambient and bounding set, no new privileges; in its own network namespace
# so that nothing but loopback there is touched. `ip netns exec` and setpriv
# exec, so the pid of the background job is the daemon's.
caps="+${svc_caps//,/,+}"
as_unit=(ip netns exec "$ns" setpriv --reuid="$svc_user" --regid="$svc_user" --init-groups
         --inh-caps="-all,$caps" --ambient-caps="-all,$caps" --bounding-set="-all,$caps" --no-new-privs)

# Running and not yet a zombie (kill -0 succeeds on an exited child until it is reaped).
alive() {
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$state" ] && [ "$state" != Z ]
}

# The README's example service, through the REST API in namespace/container $1.
api_add_service() {  # $1: nsenter target pid or "" for $ns; $2: name; $3: VIP; $4: mark
  local code
  local body='{"name": "'"$2"'", "vip": "'"$3"'", "port": 5060, "scheduler": "wrr",
    "persistence_timeout": 300, "pe": "sip", "servers": [ { "address": "198.18.1.21", "mark": '"$4"' } ] }'
  local run=(ip netns exec "$ns")
  [ -z "$1" ] || run=(nsenter -t "$1" -n)
  code="$("${run[@]}" curl -sS -m 5 -o "$work/api.out" -w '%{http_code}' -X POST "${auth[@]}" \
    -H 'Content-Type: application/json' -d "$body" "http://$listen/v1/services")" || code="curl failed"
  [ "$code" = 201 ] || fail "POST /v1/services ($2) answered $code: $(head -c 300 "$work/api.out")"
}

start_and_check() {  # $1: log name
  local logf="$work/$1.log"
  "${as_unit[@]}" "${exec_pre[@]}" >"$logf" 2>&1 || fail "ExecStartPre (${exec_pre[*]}) failed"
  "${as_unit[@]}" "${exec_start[@]}" >>"$logf" 2>&1 &
  daemon_pid=$!
  local up=0
  for _ in $(seq 1 100); do
    alive "$daemon_pid" || { wait "$daemon_pid" || true; fail "sipvsd exited at start ($1.log)"; }
    if ip netns exec "$ns" curl -fsS -m 2 -o "$work/healthz.out" "http://$listen/healthz" 2>/dev/null; then
      up=1
      break
    fi
    sleep 0.1
  done
  [ "$up" = 1 ] || fail "GET http://$listen/healthz did not answer 2xx within 10 s ($1.log)"
  log "GET /healthz: $(tr -s ' \n' ' ' <"$work/healthz.out" | head -c 200)"
  [ "$(stat -c %U "/proc/$daemon_pid")" = "$svc_user" ] || fail "sipvsd does not run as $svc_user"
  grep -q '^CapEff:[[:space:]]*0000008000001000$' "/proc/$daemon_pid/status" ||
    fail "sipvsd's effective capabilities are not CAP_NET_ADMIN and CAP_BPF alone: $(grep CapEff "/proc/$daemon_pid/status")"

  # SIGHUP replaces the services with the configuration file's (none), so the
  # service is added after it, and looked for before it after the upgrade.
  if [ "$1" != run1 ]; then
    ip netns exec "$ns" curl -fsS -m 5 -o /dev/null "${auth[@]}" "http://$listen/v1/services/sip" ||
      fail "the service added through the API before the upgrade is gone"
    log "GET /v1/services/sip: the service added before the upgrade is still there"
  fi

  kill -HUP "$daemon_pid"   # ExecReload
  sleep 0.5
  alive "$daemon_pid" || fail "sipvsd died on SIGHUP ($1.log)"
  ip netns exec "$ns" curl -fsS -m 2 -o /dev/null "http://$listen/healthz" || fail "no /healthz after SIGHUP"
  if [ "$1" = run1 ]; then
    code="$(ip netns exec "$ns" curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://$listen/v1/services")"
    [ "$code" = 401 ] || fail "GET /v1/services without the token answered $code, not 401"
    # The optimized build too survives JSON nested as deep as the body limit allows.
    n=$((1024 * 1024 / 2 - 16))
    { printf '{"a": '; head -c $n /dev/zero | tr '\0' '['; head -c $n /dev/zero | tr '\0' ']'; printf '}'; } >"$work/deep.json"
    code="$(ip netns exec "$ns" curl -sS -m 10 -o "$work/deep.out" -w '%{http_code}' -X POST "${auth[@]}" \
      -H 'Content-Type: application/json' --data-binary "@$work/deep.json" "http://$listen/v1/services")"
    [ "$code" = 400 ] && grep -q 'nested deeper than 32 levels' "$work/deep.out" ||
      fail "deeply nested JSON answered $code: $(head -c 300 "$work/deep.out")"
    alive "$daemon_pid" || fail "sipvsd died of deeply nested JSON"
    log "no token: 401; JSON nested 500 000 deep: 400, the daemon lives on"
    api_add_service "" sip 198.18.2.10 1
    grep -q '"sip"' /var/lib/sipvsd/state.json 2>/dev/null ||
      fail "the service added through the API is not in /var/lib/sipvsd/state.json"
    log "POST /v1/services: added, saved in /var/lib/sipvsd/state.json"
  fi

  kill -TERM "$daemon_pid"
  local rc=0
  for _ in $(seq 1 100); do alive "$daemon_pid" || break; sleep 0.1; done
  if alive "$daemon_pid"; then fail "sipvsd did not stop within 10 s of SIGTERM"; fi
  wait "$daemon_pid" || rc=$?
  daemon_pid=""
  [ "$rc" = 0 ] || fail "sipvsd exited with status $rc on SIGTERM ($1.log)"
  log "started as $svc_user with $svc_caps only, answered /healthz, reloaded on SIGHUP, stopped on SIGTERM"
}
start_and_check run1

# The eBPF fast path with the unit's capabilities alone: the program passes
# the verifier, its maps are pinned and it is attached, without root, CAP_SYS_ADMIN
# or CAP_PERFMON. On a bpffs of the test's own, to a veth in the namespace.
fast_path_check() {
  local bpffs="$work/bpffs" logf="$work/fast-path.log"
  chmod 711 "$work"  # the unit's user reads its configuration below
  mkdir -p "$bpffs"
  mount -t bpf bpf "$bpffs" || fail "cannot mount a bpffs for the fast path check"
  install -d -o "$svc_user" -g "$svc_user" -m 0700 "$bpffs/sipvsd"
  ip -n "$ns" link add fp0 type veth peer name fp1
  ip -n "$ns" link set fp0 up
  jq --arg pins "$bpffs/sipvsd" '.fast_path = {mode: "on", interfaces: ["fp0"], pin_dir: $pins} | .state_file = ""' \
    /etc/sipvsd/sipvsd.json >"$work/fast-path.json"
  chmod 644 "$work/fast-path.json"
  "${as_unit[@]}" /usr/sbin/sipvsd --config "$work/fast-path.json" >"$logf" 2>&1 &
  daemon_pid=$!
  local on=0
  for _ in $(seq 1 100); do
    grep -q 'fast path on: tc ingress of fp0' "$logf" && { on=1; break; }
    alive "$daemon_pid" || break
    sleep 0.1
  done
  kill -TERM "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=""
  [ "$on" = 1 ] || { cat "$logf"; umount "$bpffs"; fail "the fast path did not load with $svc_caps"; }
  for map in templates templates_short; do
    [ -e "$bpffs/sipvsd/$map" ] || { umount "$bpffs"; fail "the fast path pinned no $map map"; }
  done
  ip -n "$ns" link del fp0
  umount "$bpffs"
  log "fast path: loaded and attached as $svc_user with $svc_caps only"
}
fast_path_check

# ---------------------------------------------------------------- 3b. under systemd
# systemd is not PID 1 on this machine, but it can be in a container: boot this
# machine's own root (read-only below a tmpfs overlay, so nothing the container
# writes reaches the host) with a private network namespace. The package is
# installed, so the container has the unit, enabled.
in_ct() { nsenter -t "$ct_init" -a "$@"; }
unit_prop() { in_ct systemctl show -p "$1" --value sipvsd.service; }
wait_active_pid() {  # $1: a MainPID that does not count (0 or the old one); $2: seconds (default 20)
  local pid
  for _ in $(seq 1 $((${2:-20} * 5))); do
    pid="$(unit_prop MainPID)"
    if [ "$(unit_prop ActiveState)" = active ] && [ "$pid" != 0 ] && [ "$pid" != "$1" ]; then
      echo "$pid"; return 0
    fi
    sleep 0.2
  done
  return 1
}
stop_container() {
  if [ -n "$ct_init" ]; then in_ct systemctl poweroff --no-block >/dev/null 2>&1 || true; fi
  for _ in $(seq 1 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$nspawn_pid" 2>/dev/null; then kill -KILL "$nspawn_pid"; fi
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
  umount "$nsroot/root"
  umount "$nsroot"
}
systemd_stage() {
  command -v systemd-nspawn >/dev/null || { log "SKIP systemd stage: systemd-nspawn missing (systemd-container)"; return; }
  mkdir -p "$nsroot"
  mount -t tmpfs -o mode=0755 sipvsd-pkgtest "$nsroot"
  mkdir "$nsroot/upper" "$nsroot/work" "$nsroot/root"
  if ! mount -t overlay overlay -o "lowerdir=/,upperdir=$nsroot/upper,workdir=$nsroot/work" "$nsroot/root"; then
    umount "$nsroot"
    log "SKIP systemd stage: no overlay file system"; return
  fi
  systemd-nspawn -D "$nsroot/root" --boot --private-network --register=no --keep-unit --link-journal=no \
    --console=read-only -M sipvsd-pkgtest >"$work/nspawn.log" 2>&1 &
  nspawn_pid=$!
  ct_init=""
  for _ in $(seq 1 100); do
    ct_init="$(pgrep -P "$nspawn_pid" -x systemd | head -n 1 || true)"
    [ -n "$ct_init" ] && break
    sleep 0.1
  done
  # systemctl answers once the container's systemd has its private socket;
  # --wait then waits for the boot to finish.
  local state=""
  if [ -n "$ct_init" ]; then
    for _ in $(seq 1 120); do
      kill -0 "$nspawn_pid" 2>/dev/null || break
      state="$(timeout 120 nsenter -t "$ct_init" -a systemctl is-system-running --wait 2>/dev/null || true)"
      case "$state" in running|degraded|maintenance|stopping|offline) break ;; esac
      sleep 0.5
    done
  fi
  case "$state" in
    running|degraded) ;;
    *) log "SKIP systemd stage: the container did not boot (state '$state', see nspawn.log)"
       tail -n 20 "$work/nspawn.log"; stop_container; return ;;
  esac
  log "container booted with systemd as PID 1 (system state: $state)"

  local pid pid2
  pid="$(wait_active_pid 0)" ||
    { in_ct journalctl -u sipvsd --no-pager -n 30; fail "sipvsd.service is not active after boot"; }
  # The unit's CAP_NET_ADMIN and CAP_BPF, as far as the container's own
  # bounding set goes (systemd-nspawn keeps CAP_BPF from its containers).
  local bounding effective
  bounding="$(in_ct sed -n 's/^CapBnd:[[:space:]]*//p' /proc/1/status)"
  effective="$(in_ct sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$pid/status")"
  [ $((16#$effective)) = $((16#8000001000 & 16#$bounding)) ] ||
    fail "under systemd, sipvsd's capabilities ($effective) are not CAP_NET_ADMIN and CAP_BPF (within $bounding) alone"
  in_ct grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status" || fail "under systemd, NoNewPrivs is not set"
  in_ct grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status" || fail "under systemd, no system call filter"
  [ "$(in_ct stat -c %U "/proc/$pid")" = "$svc_user" ] || fail "under systemd, sipvsd does not run as $svc_user"
  local up=0
  for _ in $(seq 1 50); do
    if nsenter -t "$ct_init" -n curl -fsS -m 2 -o "$work/healthz.out" "http://$listen/healthz" 2>/dev/null; then
      up=1; break
    fi
    sleep 0.2
  done
  [ "$up" = 1 ] || { in_ct journalctl -u sipvsd --no-pager -n 30; fail "under systemd: no answer from /healthz"; }
  log "systemd: sipvsd.service active at boot as $svc_user, capabilities $effective only, seccomp on, /healthz answers"
  # Type=notify: `systemctl restart` returns once sipvsd said READY=1, so its
  # queue is bound and its API answers at once, with no retry.
  in_ct systemctl restart sipvsd.service || fail "systemctl restart sipvsd failed"
  nsenter -t "$ct_init" -n curl -fsS -m 2 -o /dev/null "http://$listen/healthz" ||
    fail "under systemd: READY=1 came before /healthz answered"
  in_ct awk '$1 == 0 && $2 != 0 { bound = 1 } END { exit !bound }' /proc/net/netfilter/nfnetlink_queue ||
    fail "under systemd: READY=1 came before queue 0 was bound"
  pid="$(unit_prop MainPID)"
  local status_text
  status_text="$(unit_prop StatusText)"
  echo "$status_text" |
    grep -Eq '^queues 0 \(1 of 1 bound\), [0-9]+ services?, [0-9]+ of [0-9]+ templates, [0-9]+ packets/s$' ||
    { in_ct ls -l /proc/net/netfilter/nfnetlink_queue; in_ct journalctl -u sipvsd --no-pager -n 20
      fail "under systemd: no status line from sipvsd (StatusText '$status_text')"; }
  log "systemd: after READY=1 queue 0 was bound and /healthz answered at the first try; status: $status_text"
  # The state directory is writable inside the sandbox (ProtectSystem=strict).
  api_add_service "$ct_init" sip-ct 198.18.2.11 2
  in_ct grep -q '"sip-ct"' /var/lib/sipvsd/state.json ||
    fail "under systemd, the API's change did not reach /var/lib/sipvsd/state.json"
  log "systemd: POST /v1/services saved in /var/lib/sipvsd/state.json through the sandbox"

  in_ct systemctl reload sipvsd.service || fail "systemctl reload sipvsd failed"
  sleep 0.5
  if [ "$(unit_prop MainPID)" != "$pid" ] || [ "$(unit_prop ActiveState)" != active ]; then
    fail "systemctl reload did not keep the same running process"
  fi
  in_ct systemctl kill -s SIGKILL sipvsd.service
  pid2="$(wait_active_pid "$pid")" ||
    { in_ct journalctl -u sipvsd --no-pager -n 30; fail "sipvsd.service was not restarted after SIGKILL"; }
  [ "$(unit_prop NRestarts)" -ge 1 ] || fail "NRestarts did not count the restart"
  nsenter -t "$ct_init" -n curl -fsS -m 2 -o /dev/null "http://$listen/healthz" ||
    { in_ct journalctl -u sipvsd --no-pager -n 30; fail "after its restart, sipvsd does not answer /healthz"; }
  log "systemd: reload kept pid $pid; killed, restarted as pid $pid2 (Restart=on-failure)"
  # The watchdog: a process that no longer comes round its loop (here all of
  # it, stopped) sends no WATCHDOG=1; systemd aborts and restarts it.
  local t0=$SECONDS pid3
  in_ct kill -STOP "$pid2"
  pid3="$(wait_active_pid "$pid2" 40)" ||
    { in_ct journalctl -u sipvsd --no-pager -n 30; fail "sipvsd stopped by SIGSTOP was not restarted"; }
  # systemd's line may reach the journal after the new process is up: wait for it (5 s at most).
  local said=0
  for _ in $(seq 1 25); do
    in_ct journalctl -u sipvsd --no-pager | grep -q 'Watchdog timeout' && { said=1; break; }
    sleep 0.2
  done
  [ "$said" = 1 ] ||
    { in_ct journalctl -u sipvsd --no-pager -n 30; fail "sipvsd stopped by SIGSTOP was restarted, but not by the watchdog"; }
  log "systemd: pid $pid2 stopped (SIGSTOP): watchdog timeout, restarted as pid $pid3 after $((SECONDS - t0)) s"
  in_ct systemctl stop sipvsd.service
  [ "$(unit_prop ActiveState)" = inactive ] || fail "systemctl stop left sipvsd.service $(unit_prop ActiveState)"
  [ "$(unit_prop ExecMainStatus)" = 0 ] || fail "sipvsd exited with status $(unit_prop ExecMainStatus) on stop"
  log "systemd: stopped with status 0"

  stop_container
}
systemd_stage

# ---------------------------------------------------------------- 4. upgrade
log "building sipvsd $v2 for the upgrade (log: build2.log)"
"$repo/packaging/build-deb.sh" --version "$v2" "$work/v2" >"$work/build2.log" 2>&1 || fail "second package build failed"
deb2="$(ls "$work"/v2/sipvsd_"$v2"_*.deb)"

sed -i 's/"debug_level": *[0-9]*/"debug_level": 3/' /etc/sipvsd/sipvsd.json
grep -q '"debug_level": 3' /etc/sipvsd/sipvsd.json || fail "could not change the conffile for the upgrade test"
conf_sum="$(md5sum </etc/sipvsd/sipvsd.json)"
echo keep >/var/lib/sipvsd/pkgtest-keep
chown "$svc_user:" /var/lib/sipvsd/pkgtest-keep

log "dpkg -i $(basename "$deb2") over a changed conffile"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb2" </dev/null >"$work/upgrade.log" 2>&1 || fail "dpkg -i (upgrade) failed"
[ "$(dpkg-query -W -f='${Version}' sipvsd)" = "$v2" ] || fail "not upgraded to $v2"
[ "$(md5sum </etc/sipvsd/sipvsd.json)" = "$conf_sum" ] || fail "the upgrade changed the operator's /etc/sipvsd/sipvsd.json"
[ "$(cat /var/lib/sipvsd/pkgtest-keep 2>/dev/null)" = keep ] || fail "the upgrade lost /var/lib/sipvsd's contents"
[ "$(md5sum </etc/sipvsd/token)" = "$token_sum" ] || fail "the upgrade changed the API token"
log "upgraded to $v2: conffile, token and state directory kept"
start_and_check run2

# ---------------------------------------------------------------- 5. remove, purge
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q sipvsd >"$work/remove.log" 2>&1 || fail "apt-get remove failed"
[ ! -e /usr/sbin/sipvsd ] || fail "remove left /usr/sbin/sipvsd"
[ "$(md5sum </etc/sipvsd/sipvsd.json)" = "$conf_sum" ] || fail "remove did not keep the configuration"
[ -e /var/lib/sipvsd/pkgtest-keep ] || fail "remove did not keep the state directory"
log "removed: binary gone, configuration and state kept"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sipvsd >"$work/purge.log" 2>&1 || fail "apt-get purge failed"
rm -f "$marker"
if dpkg -L sipvsd >/dev/null 2>&1; then fail "dpkg still knows files of sipvsd after purge"; fi
if installed; then fail "sipvsd is still in dpkg's database after purge"; fi
left=()
while IFS= read -r f; do
  case "$f" in */) continue ;; esac
  if [ -e "$f" ] || [ -L "$f" ]; then left+=("$f"); fi
done <"$work/contents.txt"
for d in /etc/sipvsd /var/lib/sipvsd /run/sipvsd /usr/share/sipvsd /usr/share/doc/sipvsd \
         /etc/systemd/system/multi-user.target.wants/sipvsd.service; do
  if [ -e "$d" ] || [ -L "$d" ]; then left+=("$d"); fi
done
while IFS= read -r f; do left+=("$f"); done < <(find /var/lib/systemd -name '*sipvsd*' 2>/dev/null)
# The system user stays (see packaging/debian/postrm), but owns nothing any more.
if getent passwd "$svc_user" >/dev/null; then
  while IFS= read -r f; do left+=("$f (owned by $svc_user)"); done \
    < <(find /etc /var /run /usr /tmp -xdev -user "$svc_user" 2>/dev/null)
fi
[ ${#left[@]} = 0 ] || fail "left after purge: ${left[*]}"
log "purged: no file, directory or systemd link of the package is left"
log "PASS"
