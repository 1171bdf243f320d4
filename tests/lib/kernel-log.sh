# SPDX-License-Identifier: GPL-2.0
# The kernel-log lines that fail a guest run or a test, whatever the tests said (source it): BUG:,
# WARNING:, Oops, Bad rss-counter, bad page, soft lockup, hung task, RCU stall, panic, a freed page
# found written to (page_poison=1: "pagealloc: memory corruption") and SLUB's reports of a damaged slab
# object or cache (slub_debug: "BUG ksmdev_item (Tainted: ...): Redzone overwritten"). An extended regex.
bad='BUG:|WARNING:|Oops|Bad rss-counter|[Bb]ad page|soft lockup|blocked for more than|detected (expedited )?stalls? on|kthread starved|Kernel panic|pagealloc: (single bit error|memory corruption)|BUG [^ :]+ \('

# svm_crash LOG: did kernel log LOG's first report (up to its end) begin in KVM's VMRUN sequence?
# There the host runs on the VM's segment state until it reloads its own, with interrupts held off by
# the CPU (GIF). TCG's emulated SVM twice let an interrupt in there (6.1 guests): the handler's
# per-CPU accesses faulted on the VM's GS base, each fault's entry faulted again, down to the stack
# guard page. The report then either shows the exception taken in __svm_vcpu_run, or (when the
# dying CPU printed no trace) is a stack guard page hit in a QEMU thread, at an exception entry.
# tests/vm/run treats either as that emulation's flake.
svm_crash() {
	awk -v bad="$bad" '!on && $0 ~ bad { on = 1; guard = /stack guard page was hit/ }
		on && /RIP: 0010:__svm_vcpu_run\+/ { found = 1; exit }
		on && /Comm: qemu-system-x86/ { qemu = 1 }
		on && !rip && /RIP: 0010:/ { rip = 1; entry = /RIP: 0010:(error_entry|asm_exc_page_fault|exc_page_fault)\+/ }
		on && /---\[ end trace|Kernel panic/ { exit }
		END { exit !(found || (guard && qemu && entry)) }' "$1"
}

# Hardware memory errors, real or injected. A test that injects none must leave no such line; the
# ones that inject them (listed in memory_failure_tests) may leave exactly the lines memory_failure(),
# soft_offline_page() and the fault handler print for what they inject, in those words, and no other.
# (A kernel page in a range mlock()ed since is marked mlocked, which memory_failure() reads as a
# "clean mlocked LRU page".)
memory_failure='Memory failure: |Injecting memory failure|Soft offlining pfn|soft_offline_page: |MCE: Killing|[Hh][Ww][Pp]oison'
memory_failure_tests='features/poison features/memcg'
# Not an event: the count of poisoned pages in every OOM report (show_mem()) once any page was poisoned.
memory_failure_report='^\[ *[0-9.]+\] [0-9]+ pages hwpoisoned$'
memory_failure_expected='^\[ *[0-9.]+\] (Injecting memory failure for pfn 0x[0-9a-f]+ at process virtual address 0x[0-9a-f]+|Soft offlining pfn 0x[0-9a-f]+ at process virtual address 0x[0-9a-f]+|soft_offline_page: 0x[0-9a-f]+: unknown page type: [0-9a-f]+ ?\(.*\)|MCE: Killing [^ ]+:[0-9]+ due to hardware memory corruption fault at [0-9a-f]+|Memory failure: 0x[0-9a-f]+: (Unknown page state|unknown page still referenced by [0-9]+ users|unhandlable page\.|Sending SIGBUS to [^ ]+:[0-9]+ due to hardware memory corruption|recovery action for (unknown page|get hwpoison page|dirty LRU page|clean LRU page|clean mlocked LRU page): (Failed|Ignored|Recovered)))$'
