#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The kernel-log checks of tests/lib/kernel-log.sh (TAP, host side): svm_crash, which lets a guest
# that crashed in KVM's VMRUN sequence be booted again, tells that crash (trimmed copies of the
# reports two 6.1 guests printed) from reports of any other kind.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/kernel-log.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/svm" <<'LOG'
[  304.946758] kvm [179]: vcpu0, guest rIP: 0xffffffff9767e744 Unhandled WRMSR(0xc0010007) = 0xffff
[  305.440271] BUG: TASK stack guard page was hit at ff34cdd44081fff8 (stack is ff34cdd440820000..ff34cdd440824000)
[  305.442431] stack guard page: 0000 [#1] PREEMPT SMP NOPTI
[  305.443347] RIP: 0010:asm_exc_page_fault+0x4/0x30
[  305.453801] Call Trace:
[  305.454852] RIP: 0010:exc_page_fault+0x15/0x170
[  305.455777]  asm_exc_page_fault+0x22/0x30
[  305.461728] RIP: 0010:irqentry_enter+0x9/0x50
[  305.462565]  sysvec_apic_timer_interrupt+0xa/0x90
[  305.462582]  asm_sysvec_apic_timer_interrupt+0x16/0x20
[  305.462591] RIP: 0010:__svm_vcpu_run+0x9c/0x210 [kvm_amd]
[  305.462726]  svm_vcpu_enter_exit+0x4a/0x80 [kvm_amd]
[  305.462753]  svm_vcpu_run+0x1cf/0x720 [kvm_amd]
[  305.577086] ---[ end trace 0000000000000000 ]---
[  305.577434] Kernel panic - not syncing: Fatal exception in interrupt
LOG
grep -v '__svm_vcpu_run' "$tmp/svm" > "$tmp/other"
cat > "$tmp/later" <<'LOG'
[    1.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008
[    1.000100] RIP: 0010:ksmdev_walk+0x1c/0x90 [ksm]
[    1.000200] ---[ end trace 0000000000000000 ]---
[    2.000000] RIP: 0010:__svm_vcpu_run+0x9c/0x210 [kvm_amd]
LOG
printf '[    1.000000] kvm [157]: vcpu0, guest rIP: 0x0 Unhandled WRMSR(0xc0010007) = 0xffff\n' > "$tmp/none"
# The second one: the dying CPU printed no trace.
cat > "$tmp/guard" <<'LOG'
[   13.929649] BUG: TASK stack guard page was hit at ff67eca2c083fff8 (stack is ff67eca2c0840000..ff67eca2c0844000)
[   13.932286] stack guard page: 0000 [#1] PREEMPT SMP NOPTI
[   13.933045] CPU: 0 PID: 243 Comm: qemu-system-x86 Tainted: G           OE      6.1.0-57-amd64 #1  Debian 6.1.192-3
[   13.933489] RIP: 0010:error_entry+0xb/0x130
[   13.935689] FS:  0000000000000000(0000) GS:ff3aa699fca00000(0000) knlGS:0000000000000000
[   91.698759] Kernel panic - not syncing: corrupted stack end detected inside scheduler
LOG
sed 's/Comm: qemu-system-x86/Comm: ksm-bench/' "$tmp/guard" > "$tmp/guard-other"
sed 's/RIP: 0010:error_entry+0xb/RIP: 0010:ksmdev_walk+0x1c/' "$tmp/guard" > "$tmp/guard-deep"

svm_crash "$tmp/svm"
ok $? "svm_crash: a crash that began with an interrupt taken in __svm_vcpu_run"
! svm_crash "$tmp/other"
ok $? "svm_crash: not the same report without the __svm_vcpu_run frame"
! svm_crash "$tmp/later"
ok $? "svm_crash: not a report elsewhere, with __svm_vcpu_run only after its end"
! svm_crash "$tmp/none"
ok $? "svm_crash: not a log with no report"
svm_crash "$tmp/guard"
ok $? "svm_crash: a stack guard page hit in a QEMU thread at an exception entry, with no trace"
! svm_crash "$tmp/guard-other"
ok $? "svm_crash: not the same in another program"
! svm_crash "$tmp/guard-deep"
ok $? "svm_crash: not a stack guard page hit in a QEMU thread elsewhere (a real recursion)"
tap_end
