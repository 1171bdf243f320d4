// SPDX-License-Identifier: GPL-2.0
/* pmd_devmap() (DAX huge mappings) is gone by 7.2 (ZONE_DEVICE pages lost the devmap bit). */
#include <linux/mm.h>
#include <linux/pgtable.h>

int probe(pmd_t pmd);
int probe(pmd_t pmd)
{
	return pmd_devmap(pmd);
}
