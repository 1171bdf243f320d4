// SPDX-License-Identifier: GPL-2.0
/* 5.11 added kmap_local_page() (before: kmap_atomic(), which also disables preemption). */
#include <linux/highmem.h>

int probe(struct page *page);
int probe(struct page *page)
{
	char *p = kmap_local_page(page);
	int c = p[0];

	kunmap_local(p);
	return c;
}
