// SPDX-License-Identifier: GPL-2.0
/*
 * 5.18 gave page_add_file_rmap() and page_remove_rmap() the VMA (for
 * mlock accounting); before: (page, compound). 6.8 replaced both by the
 * folio_*_rmap_ptes() calls (probe folio_add_file_rmap_ptes).
 */
#include <linux/mm.h>
#include <linux/rmap.h>

void probe(struct page *page, struct vm_area_struct *vma);
void probe(struct page *page, struct vm_area_struct *vma)
{
	page_add_file_rmap(page, vma, false);
	page_remove_rmap(page, vma, false);
}
