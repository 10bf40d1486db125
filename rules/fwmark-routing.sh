#!/bin/sh
# Direct routing by packet mark, for sipvsd: the director routes each marked
# packet to the real server that owns the mark, keeping the VIP as the
# destination (the real servers hold the VIP on loopback).
#
#   fwmark-routing.sh director VIP MASK MARK=SERVER [MARK=SERVER...]
#       on the director: per real server, an ip rule "fwmark MARK/MASK lookup T"
#       and in table T the route "VIP via SERVER"; plus the fallback route for
#       unmarked packets (sipvsd stopped with --queue-bypass, queue full with
#       fail-open, unplaced packets with unplaced=accept) in the main table,
#       to the first SERVER (FALLBACK=address to choose another).
#   fwmark-routing.sh remove VIP MASK MARK=SERVER [MARK=SERVER...]
#       undoes "director" (not the fallback route).
#
# Both touch only what "director" adds: a rule is deleted only when its
# fwmark/mask, table and priority all match, a route only when its
# destination, gateway and table match. Other rules at the same priorities
# and other routes in the same tables stay; a table is never flushed.
#   fwmark-routing.sh real-server VIP [VIP...]
#       on each real server: the VIPs on loopback; IPv4 ARP neither answered
#       nor announced for them (arp_ignore=1, arp_announce=2), so that only
#       the director receives traffic for the VIP.
#
# Tables and rule priorities are TABLE_BASE+1, +2, ... (default 100), one per
# MARK=SERVER pair, in order. The marks and MASK must match sipvsd's
# configuration: `sipvsd rules --config FILE` prints these commands for it.
# An IPv6 VIP (it contains ':') gives "ip -6" rules and routes. The real
# servers must be on a network the director is directly connected to.
#
# Example: fwmark-routing.sh director 198.18.2.100 0xffff 1=198.18.1.1 2=198.18.1.2
set -eu

usage() {
  sed -n '2,30p' "$0" >&2
  exit 2
}

[ $# -ge 2 ] || usage
mode=$1
shift
TABLE_BASE=${TABLE_BASE:-100}

family() { case $1 in *:*) echo "-6" ;; *) echo "-4" ;; esac; }
host_prefix() { case $1 in *:*) echo "$1/128" ;; *) echo "$1/32" ;; esac; }

case $mode in
director | remove)
  [ $# -ge 3 ] || usage
  vip=$1 mask=$2
  shift 2
  fam=$(family "$vip")
  dst=$(host_prefix "$vip")
  n=0
  first=""
  for pair in "$@"; do
    mark=${pair%%=*} server=${pair#*=}
    [ "$mark" != "$pair" ] && [ -n "$server" ] || usage
    n=$((n + 1))
    table=$((TABLE_BASE + n))
    [ -z "$first" ] && first=$server
    rule="fwmark $mark/$mask lookup $table pref $table"
    # Run again, "director" replaces its own rule and route rather than
    # duplicating them; "remove" does the deleting half only.
    # shellcheck disable=SC2086 # $rule is words on purpose
    ip "$fam" rule del $rule 2>/dev/null || true
    ip "$fam" route del "$dst" via "$server" table "$table" 2>/dev/null || true
    if [ "$mode" = director ]; then
      # shellcheck disable=SC2086
      ip "$fam" rule add $rule
      ip "$fam" route add "$dst" via "$server" table "$table" ||
        { echo "fwmark-routing.sh: table $table already routes $dst via another gateway, left as it is (an earlier run with another server? run remove with its pairs first)" >&2; exit 1; }
    fi
  done
  if [ "$mode" = director ]; then
    ip "$fam" route replace "$dst" via "${FALLBACK:-$first}"
    if [ "$fam" = -4 ]; then
      sysctl -qw net.ipv4.ip_forward=1
    else
      sysctl -qw net.ipv6.conf.all.forwarding=1
    fi
  fi
  ;;
real-server)
  for vip in "$@"; do
    ip "$(family "$vip")" addr replace "$(host_prefix "$vip")" dev lo
  done
  sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  ;;
*)
  usage
  ;;
esac
