// SPDX-License-Identifier: GPL-2.0
/*
 * Until 6.6, __mmu_notifier_invalidate_range_end() took an only_end flag (and
 * called the secondary-TLB invalidate_range() hook unless it was set).
 */
#include <linux/mm.h>
#include <linux/mmu_notifier.h>

void probe(struct mmu_notifier_range *r);
void probe(struct mmu_notifier_range *r)
{
	__mmu_notifier_invalidate_range_end(r, false);
}
