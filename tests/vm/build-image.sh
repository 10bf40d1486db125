#!/usr/bin/env bash
# build-image.sh OUT_DIR SIPVSD VMPROBE
# Builds what the VM test boots: OUT_DIR/vmlinuz (Debian's kernel, which has
# IPVS and nft_queue as modules) and OUT_DIR/initramfs.gz holding busybox,
# iproute2's ip, iptables (legacy), nft, ipvsadm, the kernel modules the tests
# load, sipvsd and vmprobe with their shared libraries, and the guest scripts.
#
# Debian packages come from `apt-get download` into a cache directory
# ($SIPVSD_VM_CACHE, default /var/cache/sipvsd-vm) that speeds up later runs;
# a missing, unwritable or stale cache only means downloading again.
set -euo pipefail

OUT=${1:?usage: build-image.sh OUT_DIR SIPVSD VMPROBE}
SIPVSD=${2:?sipvsd binary}
VMPROBE=${3:?vmprobe binary}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SIPVSD_VM_CACHE:-/var/cache/sipvsd-vm}
T0=$SECONDS
say() { printf '[build-image %3ds] %s\n' $((SECONDS - T0)) "$*"; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if ! mkdir -p "$CACHE" 2>/dev/null || ! [ -w "$CACHE" ]; then
  CACHE=$OUT/debs
  mkdir -p "$CACHE"
  say "cache directory not writable: downloading into $CACHE"
fi

# 1. The packages: the kernel that linux-image-amd64 currently depends on,
# busybox-static, ipvsadm and the libraries ipvsadm needs.
kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
KPKG=$(kernel_package)
if [ -z "$KPKG" ]; then
  say "apt lists have no linux-image-amd64: apt-get update"
  apt-get update -qq
  KPKG=$(kernel_package)
fi
[ -n "$KPKG" ] || { echo "build-image: cannot find the kernel package linux-image-amd64 depends on" >&2; exit 1; }
KVER=${KPKG#linux-image-}
PKGS=("$KPKG" busybox-static ipvsadm libnl-3-200 libnl-genl-3-200 libpopt0)

# The candidate versions, all at once (apt-cache is slow to start).
declare -A CANDIDATE
candidates() {
  while read -r p v; do CANDIDATE[$p]=$v; done < <(apt-cache policy "${PKGS[@]}" 2>/dev/null |
    awk '/^[^ ].*:$/ {sub(/:$/, ""); p = $1} /Candidate:/ {print p, $2}')
}
candidates
have_deb() {  # a complete .deb of the package's candidate version in the cache
  local v f
  v=$(echo "${CANDIDATE[$1]:-none}" | sed 's/:/%3a/')
  for f in "$CACHE/$1_${v}_"*.deb; do
    [ -f "$f" ] && dpkg-deb --info "$f" >/dev/null 2>&1 && { echo "$f"; return 0; }
  done
  return 1
}
fetch() {
  (cd "$CACHE" && apt-get download -q "$@" 2>&1 | grep -v -e 'unsandboxed' -e '^Get:' || true)
}
MISSING=()
for p in "${PKGS[@]}"; do have_deb "$p" >/dev/null || MISSING+=("$p"); done
if [ ${#MISSING[@]} -gt 0 ]; then
  say "apt-get download ${MISSING[*]}"
  fetch "${MISSING[@]}"
  STILL=()
  for p in "${MISSING[@]}"; do have_deb "$p" >/dev/null || STILL+=("$p"); done
  if [ ${#STILL[@]} -gt 0 ]; then  # stale lists: the candidate's file is gone from the mirror
    say "retrying after apt-get update: ${STILL[*]}"
    apt-get update -qq
    candidates
    fetch "${STILL[@]}"
  fi
fi
for p in "${PKGS[@]}"; do have_deb "$p" >/dev/null || { echo "build-image: no .deb for $p" >&2; exit 1; }; done
# Kernels of earlier runs are 70 MB each: keep the current one only.
find "$CACHE" -maxdepth 1 -name 'linux-image-*.deb' ! -name "${KPKG}_*" -delete 2>/dev/null || true
say "packages ready ($KPKG)"

# 2. Unpack: only vmlinuz and the module trees the test needs from the kernel.
X=$OUT/x
rm -rf "$X" && mkdir -p "$X"
MODDIRS=(kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter
         kernel/net/sched/sch_ingress.ko kernel/net/sched/cls_bpf.ko
         kernel/drivers/net/veth.ko kernel/lib/libcrc32c.ko kernel/crypto/crc32c_generic.ko
         kernel/arch/x86/crypto/crc32c-intel.ko)
PATTERNS=("./boot/vmlinuz-$KVER")
for m in "${MODDIRS[@]}"; do PATTERNS+=("./lib/modules/$KVER/$m"); done
dpkg-deb --fsys-tarfile "$(have_deb "$KPKG")" | tar -x -C "$X" --wildcards "${PATTERNS[@]}" \
  "./lib/modules/$KVER/modules.builtin" "./lib/modules/$KVER/modules.order" 2>/dev/null || true
[ -f "$X/boot/vmlinuz-$KVER" ] || { echo "build-image: no vmlinuz in $KPKG" >&2; exit 1; }
for p in busybox-static ipvsadm libnl-3-200 libnl-genl-3-200 libpopt0; do dpkg -x "$(have_deb "$p")" "$X"; done
for m in ip_vs ip_vs_rr ip_vs_pe_sip; do
  [ -f "$X/lib/modules/$KVER/kernel/net/netfilter/ipvs/$m.ko" ] || { echo "build-image: $KPKG has no $m.ko" >&2; exit 1; }
done
cp "$X/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
say "kernel $KVER unpacked"

# 3. The root file system.
R=$OUT/root
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,var,usr/bin,usr/sbin,usr/lib,lib/x86_64-linux-gnu,lib64,vmtest}
ln -s ../run "$R/var/run"
cp "$X/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
# The kernel loads schedulers on demand through /sbin/modprobe.
for a in modprobe insmod rmmod lsmod depmod; do ln -sf ../bin/busybox "$R/sbin/$a"; done
rm -f "$R/bin/ip"  # busybox's ip has no netns: iproute2's goes to /sbin

MD=$R/lib/modules/$KVER
mkdir -p "$MD"
cp -a "$X/lib/modules/$KVER/." "$MD/"
"$R/bin/busybox" depmod -b "$R" "$KVER"

LIBDIRS="$X/lib/x86_64-linux-gnu:$X/usr/lib/x86_64-linux-gnu"
copy_with_libs() {  # copy_with_libs BINARY DEST_DIR: the binary and its ldd closure
  cp -L "$1" "$R$2/"
  LD_LIBRARY_PATH=$LIBDIRS ldd "$1" | awk '/=> \// {print $3} /^[ \t]*\/lib64\// {print $1}' |
    while read -r lib; do
      case $lib in
        /lib64/*) cp -Ln "$lib" "$R/lib64/" ;;
        *) cp -Ln "$lib" "$R/lib/x86_64-linux-gnu/" ;;
      esac
    done
}
copy_with_libs "$X/sbin/ipvsadm" /sbin
copy_with_libs "$(command -v ip)" /sbin
# util-linux setpriv (busybox's has no --reuid): the fast path test runs sipvsd with the packaged unit's capabilities alone.
copy_with_libs "$(command -v setpriv)" /usr/bin
# iptables-legacy: one binary, its extensions are plugins loaded at run time.
XT=$(command -v xtables-legacy-multi || true)
[ -n "$XT" ] || { echo "build-image: xtables-legacy-multi not found (install iptables)" >&2; exit 1; }
copy_with_libs "$XT" /sbin
for a in iptables ip6tables iptables-save; do ln -sf xtables-legacy-multi "$R/sbin/$a"; done
XTDIR=/usr/lib/x86_64-linux-gnu/xtables
mkdir -p "$R$XTDIR"
cp -L "$XTDIR"/libxt_standard.so "$XTDIR"/libxt_NFQUEUE.so "$XTDIR"/libxt_udp.so "$XTDIR"/libxt_mark.so \
  "$XTDIR"/libxt_MARK.so "$XTDIR"/libipt_*.so "$XTDIR"/libip6t_*.so "$R$XTDIR/" 2>/dev/null || true
for lib in "$XTDIR"/libxt_NFQUEUE.so; do
  ldd "$lib" | awk '/=> \// {print $3}' | while read -r l; do cp -Ln "$l" "$R/lib/x86_64-linux-gnu/"; done
done
# nft from this machine's nftables package (Debian 12's, as is the guest's kernel).
NFT=$(command -v nft || true)
[ -n "$NFT" ] || { echo "build-image: nft not found (install nftables)" >&2; exit 1; }
copy_with_libs "$NFT" /usr/sbin
copy_with_libs "$SIPVSD" /usr/sbin
copy_with_libs "$VMPROBE" /usr/bin
if command -v curl >/dev/null; then copy_with_libs "$(command -v curl)" /usr/bin; fi
echo /lib/x86_64-linux-gnu > "$R/etc/ld.so.conf"
ldconfig -r "$R" 2>/dev/null || true
mkdir -p "$R/etc/iproute2"
cp -a /etc/iproute2/. "$R/etc/iproute2/" 2>/dev/null || true
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
printf '127.0.0.1 localhost\n' > "$R/etc/hosts"
printf 'ip 0 IP\nudp 17 UDP\ntcp 6 TCP\nipv6-icmp 58 IPv6-ICMP\n' > "$R/etc/protocols"
install -m 755 "$HERE/guest/init" "$R/init"
install -m 755 "$HERE/guest/ipvs-test.sh" "$R/vmtest/ipvs-test.sh"
install -m 755 "$HERE/guest/nft-test.sh" "$R/vmtest/nft-test.sh"
install -m 755 "$HERE/guest/fast-path-test.sh" "$R/vmtest/fast-path-test.sh"
install -m 644 "$HERE/guest/lib.sh" "$R/vmtest/lib.sh"

# 4. Pack (newc cpio, gzip -1: fast to make, the kernel unpacks it quickly).
(cd "$R" && find . -print0 | "$R/bin/busybox" cpio -o -0 -H newc 2>/dev/null) | gzip -1 > "$OUT/initramfs.gz"
rm -rf "$X"
say "image ready: $(du -h "$OUT/initramfs.gz" | cut -f1) initramfs, $(du -sh "$R" | cut -f1) unpacked"
