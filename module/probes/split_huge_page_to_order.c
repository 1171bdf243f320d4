// SPDX-License-Identifier: GPL-2.0
/* 6.8 replaced split_huge_page_to_list() by split_huge_page_to_list_to_order(). */
#include <linux/mm.h>
#include <linux/huge_mm.h>

int probe(struct page *page);
int probe(struct page *page)
{
	return split_huge_page_to_list_to_order(page, NULL, 0);
}
