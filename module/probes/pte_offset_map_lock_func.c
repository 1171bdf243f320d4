// SPDX-License-Identifier: GPL-2.0
/*
 * 6.5 turned pte_offset_map_lock() into a wrapper of the out-of-line
 * __pte_offset_map_lock(), which may fail (returns NULL) when the page table
 * went away; before, it was an inline macro that could not fail.
 */
#include <linux/mm.h>

pte_t *probe(struct mm_struct *mm, pmd_t *pmd, unsigned long addr, spinlock_t **ptl);
pte_t *probe(struct mm_struct *mm, pmd_t *pmd, unsigned long addr, spinlock_t **ptl)
{
	return __pte_offset_map_lock(mm, pmd, addr, ptl);
}
