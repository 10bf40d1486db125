#!/usr/bin/env bash
# vm-test.sh WORK_DIR SIPVSD VMPROBE DOC NFT_DOC
# The CTest entry (label vm): builds the image, boots it, and turns the
# guest's COMPARE| lines into the comparison table and its NFT| lines into the
# nftables results table; checks that DOC (docs/ipvs-comparison.md) and
# NFT_DOC (rules/README.md) hold the tables this run observed, and writes the
# observed ones to WORK_DIR/ipvs-comparison-table.md and WORK_DIR/nft-table.md.
# Ends with "N passed, N failed".
# Needs root, qemu-system-x86_64 and apt access; ~3 min on an idle 2-core machine.
set -uo pipefail
WORK=${1:?usage: vm-test.sh WORK_DIR SIPVSD VMPROBE DOC NFT_DOC}
SIPVSD=$2
VMPROBE=$3
DOC=$4
NFT_DOC=${5:?usage: vm-test.sh WORK_DIR SIPVSD VMPROBE DOC NFT_DOC}
HERE=$(cd "$(dirname "$0")" && pwd)
START=$SECONDS
# Exit 77 (skipped) where it cannot run at all; scripts/install-deps.sh provides both.
[ "$(id -u)" = 0 ] || { echo "SKIP: the VM test needs root (apt-get update and download)"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"; exit 77; }
mkdir -p "$WORK"
if ! bash "$HERE/build-image.sh" "$WORK/image" "$SIPVSD" "$VMPROBE"; then
  echo "vm-test: image build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
bash "$HERE/run-vm.sh" "$WORK/image" "${SIPVSD_VM_TIMEOUT:-400}" >/dev/null
RC=$?
LOG=$WORK/image/serial.log
grep -E '^(PASS|FAIL):' "$LOG"
passed=$(grep -c '^PASS:' "$LOG")
failed=$(grep -c '^FAIL:' "$LOG")
if [ "$RC" != 0 ] && [ "$failed" = 0 ]; then
  echo "vm-test: the guest did not finish (status $RC); last console lines:"
  tail -n 40 "$LOG"
  failed=1
fi

# observed_table PREFIX MIN_ROWS DOC OUT HEADER...: the guest's PREFIX| lines
# as a markdown table in OUT; passes when DOC holds it between its
# <!-- observed:begin --> and <!-- observed:end --> lines.
observed_table() {
  local prefix=$1 min=$2 doc=$3 out=$4 h
  shift 4
  {
    printf '|'; for h in "$@"; do printf ' %s |' "$h"; done; echo
    printf '|'; for _ in "$@"; do printf ' --- |'; done; echo
    grep "^$prefix|" "$LOG" | cut -d'|' -f2- | sed 's/|/ | /g; s/^/| /; s/$/ |/'
  } >"$out"
  if [ "$(grep -c "^$prefix|" "$LOG")" -lt "$min" ]; then
    echo "FAIL: the guest reported fewer than $min $prefix| rows"
    failed=$((failed + 1))
  elif awk '/<!-- observed:begin -->/{on=1; next} /<!-- observed:end -->/{on=0} on' "$doc" | cmp -s - "$out"; then
    echo "PASS: $doc holds the table this run observed"
    passed=$((passed + 1))
  else
    echo "FAIL: $doc differs from what this run observed; the observed table ($out):"
    cat "$out"
    failed=$((failed + 1))
  fi
}
observed_table COMPARE 8 "$DOC" "$WORK/ipvs-comparison-table.md" \
  'packets (same sequence to both, one client IP:port)' 'kernel `ip_vs_pe_sip`' sipvsd
observed_table NFT 10 "$NFT_DOC" "$WORK/nft-table.md" \
  forwarding traffic 'packets delivered' 'datagrams reassembled by the real servers' \
  'calls whole on one real server' 'real servers used'
echo "vm-test: $((SECONDS - START)) s in all"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
