#!/usr/bin/env bash
# vm-test.sh WORK_DIR SIPVSD VMPROBE DOC
# The CTest entry (label vm): builds the image, boots it, and turns the
# guest's COMPARE| lines into the comparison table; checks that DOC
# (docs/ipvs-comparison.md) holds the table this run observed, and writes the
# observed one to WORK_DIR/ipvs-comparison-table.md. Ends with "N passed, N failed".
# Needs root, qemu-system-x86_64 and apt access; ~1.5 min on an idle 2-core machine.
set -uo pipefail
WORK=${1:?usage: vm-test.sh WORK_DIR SIPVSD VMPROBE DOC}
SIPVSD=$2
VMPROBE=$3
DOC=$4
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

# The table, from what the guest observed.
TABLE=$WORK/ipvs-comparison-table.md
{
  echo "| packets (same sequence to both, one client IP:port) | kernel \`ip_vs_pe_sip\` | sipvsd |"
  echo "| --- | --- | --- |"
  grep '^COMPARE|' "$LOG" | cut -d'|' -f2- | sed 's/|/ | /g; s/^/| /; s/$/ |/'
} >"$TABLE"
if [ "$(grep -c '^COMPARE|' "$LOG")" -lt 8 ]; then
  echo "FAIL: the guest reported no comparison"
  failed=$((failed + 1))
elif awk '/<!-- observed:begin -->/{on=1; next} /<!-- observed:end -->/{on=0} on' "$DOC" | cmp -s - "$TABLE"; then
  echo "PASS: $DOC holds the table this run observed"
  passed=$((passed + 1))
else
  echo "FAIL: $DOC differs from what this run observed; the observed table ($TABLE):"
  cat "$TABLE"
  failed=$((failed + 1))
fi
echo "vm-test: $((SECONDS - START)) s in all"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
