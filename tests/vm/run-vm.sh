#!/usr/bin/env bash
# run-vm.sh IMAGE_DIR [TIMEOUT_SECONDS]
# Boots IMAGE_DIR/vmlinuz + initramfs.gz (from build-image.sh) with qemu:
# TCG (software emulation: Debian's kernel needs no KVM, and a paravirtual
# /dev/kvm cannot run it), no network card at all (-nic none), the serial
# console as the only I/O, a hard time limit. The console goes to
# IMAGE_DIR/serial.log and to stdout; the exit status is the guest test's
# (VMTEST-RESULT rc=N), 124 on timeout, 125 without a result line.
set -uo pipefail
IMG=${1:?usage: run-vm.sh IMAGE_DIR [TIMEOUT_SECONDS]}
LIMIT=${2:-300}
LOG=$IMG/serial.log
command -v qemu-system-x86_64 >/dev/null || { echo "run-vm: qemu-system-x86_64 not installed (apt-get install qemu-system-x86)" >&2; exit 125; }
START=$SECONDS
timeout --kill-after=10 "$LIMIT" qemu-system-x86_64 \
  -accel tcg,thread=multi -cpu max -smp 2 -m 1024 \
  -machine q35 -nodefaults -no-user-config -nographic -no-reboot \
  -serial stdio -nic none \
  -kernel "$IMG/vmlinuz" -initrd "$IMG/initramfs.gz" \
  -append "console=ttyS0 panic=-1 loglevel=3" </dev/null 2>&1 | tr -d '\r' | tee "$LOG"
QRC=${PIPESTATUS[0]}
echo "run-vm: qemu exit status $QRC after $((SECONDS - START)) s"
[ "$QRC" = 124 ] || [ "$QRC" = 137 ] && { echo "run-vm: timed out after $LIMIT s" >&2; exit 124; }
RC=$(sed -n 's/^VMTEST-RESULT rc=\([0-9]*\).*/\1/p' "$LOG" | tail -1)
[ -n "$RC" ] || { echo "run-vm: no VMTEST-RESULT line in $LOG" >&2; exit 125; }
exit "$RC"
