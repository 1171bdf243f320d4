// SPDX-License-Identifier: GPL-2.0
/* 6.3 dropped the vma argument of mmu_notifier_range_init(). */
#include <linux/mm.h>
#include <linux/mmu_notifier.h>

void probe(struct mmu_notifier_range *r, struct vm_area_struct *vma, struct mm_struct *mm);
void probe(struct mmu_notifier_range *r, struct vm_area_struct *vma, struct mm_struct *mm)
{
	mmu_notifier_range_init(r, MMU_NOTIFY_CLEAR, 0, vma, mm, 0, PAGE_SIZE);
}
