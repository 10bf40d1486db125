#!/bin/sh
# IPVS instead of policy routing, on kernels with IPVS (module ip_vs): one
# fwmark virtual service per sipvsd mark, holding that mark's real server.
#
#   ipvs-fwmark.sh add MARK=SERVER [MARK=SERVER...]
#   ipvs-fwmark.sh remove MARK=SERVER [MARK=SERVER...]
#
# -o, one-packet scheduling: IPVS looks a UDP packet's connection up by its
#   5-tuple before it looks at the mark; without -o every call of a SIP trunk
#   (one source IP:port) would follow the first call's connection entry.
# -g, direct routing (or -i, tunnelling; FORWARD=-i). Masquerading (-m) does
#   not work with -o: no connection entry is kept, so replies are not
#   translated back.
# IPVS only sees packets addressed to the director itself: put the VIPs on the
# director's loopback too. It matches the whole mark, so sipvsd's mark_mask
# bits must be the only ones set (or use fwmark-routing.sh, which masks).
# An IPv6 SERVER (it contains ':') gives an IPv6 fwmark service (-6).
#
# Example: ipvs-fwmark.sh add 1=198.18.1.1 2=198.18.1.2
set -eu

usage() {
  sed -n '2,18p' "$0" >&2
  exit 2
}

[ $# -ge 2 ] || usage
mode=$1
shift
command -v ipvsadm >/dev/null || { echo "ipvsadm is not installed" >&2; exit 1; }

for pair in "$@"; do
  mark=${pair%%=*} server=${pair#*=}
  [ "$mark" != "$pair" ] && [ -n "$server" ] || usage
  case $server in
  *:*) six="-6" rs="[$server]" ;;
  *) six="" rs=$server ;;
  esac
  case $mode in
  add)
    # shellcheck disable=SC2086
    ipvsadm -A -f "$mark" $six -s rr -o
    # shellcheck disable=SC2086
    ipvsadm -a -f "$mark" $six -r "$rs" "${FORWARD:--g}"
    ;;
  remove)
    # shellcheck disable=SC2086
    ipvsadm -D -f "$mark" $six
    ;;
  *) usage ;;
  esac
done
