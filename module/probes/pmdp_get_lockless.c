// SPDX-License-Identifier: GPL-2.0
/* 6.5 added the generic pmdp_get_lockless() (before: pmd_read_atomic() and READ_ONCE). */
#include <linux/mm.h>
#include <linux/pgtable.h>

pmd_t probe(pmd_t *pmdp);
pmd_t probe(pmd_t *pmdp)
{
	return pmdp_get_lockless(pmdp);
}
