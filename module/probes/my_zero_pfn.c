// SPDX-License-Identifier: GPL-2.0
/* my_zero_pfn(addr) is the zero page's pfn up to 6.x; 7.2 renamed it zero_pfn(addr). */
#include <linux/mm.h>
#include <linux/pgtable.h>

unsigned long probe(unsigned long addr);
unsigned long probe(unsigned long addr)
{
	return my_zero_pfn(addr);
}
