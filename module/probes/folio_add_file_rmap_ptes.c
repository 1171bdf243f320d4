// SPDX-License-Identifier: GPL-2.0
/* 6.8 replaced page_add_file_rmap(page, vma, compound) with folio_add_file_rmap_ptes(). */
#include <linux/mm.h>
#include <linux/rmap.h>

void probe(struct folio *folio, struct page *page, struct vm_area_struct *vma);
void probe(struct folio *folio, struct page *page, struct vm_area_struct *vma)
{
	folio_add_file_rmap_ptes(folio, page, 1, vma);
	folio_remove_rmap_ptes(folio, page, 1, vma);
}
