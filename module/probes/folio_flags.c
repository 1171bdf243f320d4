// SPDX-License-Identifier: GPL-2.0
/*
 * Folios (5.16) with the tests the module makes on a mapped page:
 * folio_test_swapcache() (5.16), folio_maybe_dma_pinned() (5.19) and
 * folio_test_ksm() (6.0). Before: PageSwapCache(), page_maybe_dma_pinned(),
 * PageKsm().
 */
#include <linux/mm.h>
#include <linux/page-flags.h>

bool probe(struct page *page);
bool probe(struct page *page)
{
	struct folio *folio = page_folio(page);

	return folio_test_swapcache(folio) || folio_maybe_dma_pinned(folio) || folio_test_ksm(folio);
}
