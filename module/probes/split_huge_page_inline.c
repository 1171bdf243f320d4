// SPDX-License-Identifier: GPL-2.0
/*
 * In 7.2 split_huge_page_to_list_to_order() (6.8) is an inline wrapper
 * around __split_huge_page_to_list_to_order(), the function to resolve.
 */
#include <linux/mm.h>
#include <linux/huge_mm.h>

int probe(struct page *page);
int probe(struct page *page)
{
	return __split_huge_page_to_list_to_order(page, NULL, 0);
}
