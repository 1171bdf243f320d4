// SPDX-License-Identifier: GPL-2.0
/*
 * 6.19 introduced softleaf_t and <linux/leafops.h> for non-present page
 * table entries and then removed the swp_entry_t tests (is_migration_entry(),
 * is_device_private_entry(), non_swap_entry(), ...).
 */
#include <linux/mm.h>
#include <linux/swap.h>
#include <linux/leafops.h>

bool probe(pte_t pte);
bool probe(pte_t pte)
{
	softleaf_t entry = softleaf_from_pte(pte);

	return softleaf_is_swap(entry) || softleaf_is_migration(entry) ||
	       softleaf_is_device_private(entry) || softleaf_is_device_exclusive(entry);
}
