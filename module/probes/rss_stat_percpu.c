// SPDX-License-Identifier: GPL-2.0
/* 6.2 turned mm->rss_stat from an array of atomic_long_t into percpu_counters. */
#include <linux/mm.h>

void probe(struct mm_struct *mm);
void probe(struct mm_struct *mm)
{
	percpu_counter_add(&mm->rss_stat[MM_FILEPAGES], 1);
}
