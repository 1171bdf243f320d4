// SPDX-License-Identifier: GPL-2.0
/* Until 6.2, mm_trace_rss_stat() took the new counter value as a third argument. */
#include <linux/mm.h>

void probe(struct mm_struct *mm);
void probe(struct mm_struct *mm)
{
	mm_trace_rss_stat(mm, MM_FILEPAGES, 0L);
}
