// SPDX-License-Identifier: GPL-2.0
/*
 * Event counters: per CPU (no shared cache line on the scan path), summed on
 * demand; they are the counters of the list in uapi/linux/ksm_stat_list.h
 * whose kind is KSM_STAT_EVENT. And the levels the module keeps as things
 * happen (kernel pages held, items, zero pages mapped), so that reading the
 * statistics never walks a table.
 */
#include "ksm_internal.h"

#include <linux/build_bug.h>
#include <linux/percpu.h>

DEFINE_PER_CPU(struct ksmdev_pcpu_stats, ksmdev_pcpu_stats);

/* The levels of enum ksmdev_level. */
static atomic_long_t ksmdev_levels[KSMDEV_NR_LEVELS];

/*
 * The list names every field of struct ksm_stats before skipped[], once
 * each: names are unique (they make enum ksmdev_stat), each is a 64-bit
 * field (checked below), and there are as many as those fields.
 */
static_assert(KSMDEV_NR_STATS * sizeof(u64) == offsetof(struct ksm_stats, skipped));

/* Where each counter of the list lives in struct ksm_stats, and whether it is an event. */
#define KSM_STAT(name, kind, ...) {						\
	.offset = offsetof(struct ksm_stats, name) +				\
		  BUILD_BUG_ON_ZERO(sizeof(((struct ksm_stats *)0)->name) != 8),	\
	.event = (kind) == KSM_STAT_EVENT,					\
},
static const struct {
	unsigned short offset;
	bool event;
} ksmdev_stat_desc[KSMDEV_NR_STATS] = {
#include "uapi/linux/ksm_stat_list.h"
};

/**
 * ksmdev_stats_events - the event counters, system wide, into @st
 *
 * Adds every CPU's counts into the event fields and skipped[] of @st (which
 * the caller zeroed). Unlocked: each 64-bit read is atomic on the 64-bit
 * machines the module builds for; a count may be a few events behind.
 */
void ksmdev_stats_events(struct ksm_stats *st)
{
	int cpu, i;

	for_each_possible_cpu(cpu) {
		struct ksmdev_pcpu_stats *p = per_cpu_ptr(&ksmdev_pcpu_stats, cpu);

		for (i = 0; i < KSMDEV_NR_STATS; i++) {
			if (ksmdev_stat_desc[i].event)
				*(u64 *)((char *)st + ksmdev_stat_desc[i].offset) +=
					READ_ONCE(p->count[i]);
		}
		for (i = 0; i < KSM_SKIP_NR; i++)
			st->skipped[i] += READ_ONCE(p->skipped[i]);
	}
}

/* Add @n (which may be negative) to level @lv. Any context. */
void ksmdev_level_add(enum ksmdev_level lv, long n)
{
	atomic_long_add(n, &ksmdev_levels[lv]);
}

/* The current value of level @lv. Any context. */
unsigned long ksmdev_level(enum ksmdev_level lv)
{
	return atomic_long_read(&ksmdev_levels[lv]);
}
