// SPDX-License-Identifier: GPL-2.0
/*
 * 6.2 made mainline's break_ksm() an unsharing fault (FAULT_FLAG_UNSHARE),
 * once "mm: extend FAULT_FLAG_UNSHARE support to anything in a COW mapping"
 * had made it break COW of any page of a COW mapping; in 5.19-6.1 it
 * unshared anonymous pages only, and did nothing on one of our kernel pages.
 * No declaration changed with that; the same series removed VM_FAULT_WRITE,
 * which break_ksm() no longer needed: this compiles only where it is gone.
 */
#include <linux/mm.h>

bool probe(struct vm_area_struct *vma, unsigned long addr);

/* A redeclaration, an error, where the kernel still has it. */
enum { VM_FAULT_WRITE = 1 };

bool probe(struct vm_area_struct *vma, unsigned long addr)
{
	return handle_mm_fault(vma, addr, FAULT_FLAG_UNSHARE | FAULT_FLAG_REMOTE, NULL) &
	       VM_FAULT_ERROR & ~VM_FAULT_WRITE;
}
