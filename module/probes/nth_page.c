// SPDX-License-Identifier: GPL-2.0
/*
 * nth_page() stepped through struct pages that need not be contiguous
 * (SPARSEMEM without VMEMMAP); 7.2 no longer has it, as a folio's struct
 * pages are contiguous wherever folios can be large.
 */
#include <linux/mm.h>

struct page *probe(struct page *page);
struct page *probe(struct page *page)
{
	return nth_page(page, 1);
}
