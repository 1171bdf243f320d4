// SPDX-License-Identifier: GPL-2.0
/*
 * Not a feature: it must always compile. If it does not, the probes cannot be
 * trusted (broken headers, wrong compiler) and conftest.sh fails the build.
 */
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/huge_mm.h>
#include <linux/mmu_notifier.h>

int probe(struct page *page);
int probe(struct page *page)
{
	return page_to_nid(page);
}
