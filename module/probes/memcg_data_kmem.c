// SPDX-License-Identifier: GPL-2.0
/*
 * 5.11 moved a page's memory cgroup into page->memcg_data, a kmem charge
 * flagged MEMCG_DATA_KMEM there (before: a page type overlaying _mapcount,
 * so a __GFP_ACCOUNT page could not be mapped into user page tables), and
 * exported int_active_memcg, which set_active_memcg() uses.
 */
#include <linux/memcontrol.h>

unsigned long probe(void);
unsigned long probe(void)
{
	return MEMCG_DATA_KMEM;
}
