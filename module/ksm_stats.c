// SPDX-License-Identifier: GPL-2.0
/*
 * Statistics: per-CPU event counters (no shared cache line on the scan path),
 * summed on demand with the table and region totals, for KSM_GET_STATS and
 * the read-only sysfs attributes of the misc device
 * (/sys/class/misc/ksm/: the counters, and the skipped/ and kksmd/ groups).
 */
#include "ksm_internal.h"

#include <linux/device.h>
#include <linux/percpu.h>
#include <linux/sysfs.h>

DEFINE_PER_CPU(struct ksmdev_pcpu_stats, ksmdev_pcpu_stats);

/**
 * ksmdev_stats_read - every counter, system wide, into @st
 *
 * Sums the per-CPU counters (unlocked; each 64-bit read is atomic), then walks
 * the hash table and the registry for the rest. May sleep.
 */
void ksmdev_stats_read(struct ksm_stats *st)
{
	int cpu, i;

	memset(st, 0, sizeof(*st));
	for_each_possible_cpu(cpu) {
		struct ksmdev_pcpu_stats *p = per_cpu_ptr(&ksmdev_pcpu_stats, cpu);

		st->pages_scanned += READ_ONCE(p->pages_scanned);
		st->full_scans += READ_ONCE(p->full_scans);
		st->merges += READ_ONCE(p->merges);
		st->kpages_created += READ_ONCE(p->kpages_created);
		st->kpages_freed += READ_ONCE(p->kpages_freed);
		st->sha1_computed += READ_ONCE(p->sha1_computed);
		st->sha1_mismatch += READ_ONCE(p->sha1_mismatch);
		st->memcmp_mismatch += READ_ONCE(p->memcmp_mismatch);
		st->thp_split += READ_ONCE(p->thp_split);
		st->merges_undone += READ_ONCE(p->merges_undone);
		st->zero_pages += READ_ONCE(p->zero_pages);
		st->cow_breaks += READ_ONCE(p->cow_breaks);
		st->unmerged += READ_ONCE(p->unmerged);
		st->smart_skipped += READ_ONCE(p->smart_skipped);
		st->volatile_skipped += READ_ONCE(p->volatile_skipped);
		for (i = 0; i < KSM_SKIP_NR; i++)
			st->skipped[i] += READ_ONCE(p->skipped[i]);
	}
	ksmdev_region_totals(&st->regions, &st->region_pages);
	ksmdev_hash_fill(st);
	st->last_full_scan_ms = READ_ONCE(ksmdev_last_full_scan_ms);
	/* Per page of a region: its item pointer, its state, its busy bit. */
	st->metadata_bytes = ksmdev_hash_metadata_bytes() +
			     st->region_pages * (sizeof(struct ksmdev_item *) +
						 sizeof(struct ksmdev_pstate)) +
			     st->region_pages / BITS_PER_BYTE;
	st->general_profit = (s64)((st->pages_sharing + ksmdev_regions_zero_pages()) * PAGE_SIZE) -
			     (s64)st->metadata_bytes;
}

/* A sysfs file showing one u64 of struct ksm_stats. */
struct ksmdev_stat_attr {
	struct device_attribute attr;
	size_t offset;
};

static ssize_t ksmdev_stat_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct ksmdev_stat_attr *sa = container_of(attr, struct ksmdev_stat_attr, attr);
	struct ksm_stats st;

	ksmdev_stats_read(&st);
	return sysfs_emit(buf, "%llu\n", *(u64 *)((char *)&st + sa->offset));
}

static ssize_t ksmdev_profit_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct ksm_stats st;

	ksmdev_stats_read(&st);
	return sysfs_emit(buf, "%lld\n", st.general_profit);
}

static struct ksmdev_stat_attr ksmdev_stat_general_profit = {
	.attr = __ATTR(general_profit, 0444, ksmdev_profit_show, NULL),
};

#define KSMDEV_STAT(name, field)						\
	static struct ksmdev_stat_attr ksmdev_stat_##name = {			\
		.attr = __ATTR(name, 0444, ksmdev_stat_show, NULL),		\
		.offset = offsetof(struct ksm_stats, field),			\
	}

KSMDEV_STAT(pages_shared, pages_shared);
KSMDEV_STAT(pages_sharing, pages_sharing);
KSMDEV_STAT(pages_scanned, pages_scanned);
KSMDEV_STAT(full_scans, full_scans);
KSMDEV_STAT(merges, merges);
KSMDEV_STAT(kpages_created, kpages_created);
KSMDEV_STAT(kpages_freed, kpages_freed);
KSMDEV_STAT(kpages_held, kpages_held);
KSMDEV_STAT(regions, regions);
KSMDEV_STAT(region_pages, region_pages);
KSMDEV_STAT(unstable_pages, unstable_pages);
KSMDEV_STAT(hash_buckets, hash_buckets);
KSMDEV_STAT(hash_used, hash_used);
KSMDEV_STAT(hash_max_chain, hash_max_chain);
KSMDEV_STAT(sha1_computed, sha1_computed);
KSMDEV_STAT(sha1_mismatch, sha1_mismatch);
KSMDEV_STAT(memcmp_mismatch, memcmp_mismatch);
KSMDEV_STAT(thp_split, thp_split);
KSMDEV_STAT(merges_undone, merges_undone);
KSMDEV_STAT(zero_pages, zero_pages);
KSMDEV_STAT(cow_breaks, cow_breaks);
KSMDEV_STAT(unmerged, unmerged);
KSMDEV_STAT(smart_skipped, smart_skipped);
KSMDEV_STAT(volatile_skipped, volatile_skipped);
KSMDEV_STAT(last_full_scan_ms, last_full_scan_ms);
KSMDEV_STAT(metadata_bytes, metadata_bytes);

static struct attribute *ksmdev_stat_attrs[] = {
	&ksmdev_stat_pages_shared.attr.attr,
	&ksmdev_stat_pages_sharing.attr.attr,
	&ksmdev_stat_pages_scanned.attr.attr,
	&ksmdev_stat_full_scans.attr.attr,
	&ksmdev_stat_merges.attr.attr,
	&ksmdev_stat_kpages_created.attr.attr,
	&ksmdev_stat_kpages_freed.attr.attr,
	&ksmdev_stat_kpages_held.attr.attr,
	&ksmdev_stat_regions.attr.attr,
	&ksmdev_stat_region_pages.attr.attr,
	&ksmdev_stat_unstable_pages.attr.attr,
	&ksmdev_stat_hash_buckets.attr.attr,
	&ksmdev_stat_hash_used.attr.attr,
	&ksmdev_stat_hash_max_chain.attr.attr,
	&ksmdev_stat_sha1_computed.attr.attr,
	&ksmdev_stat_sha1_mismatch.attr.attr,
	&ksmdev_stat_memcmp_mismatch.attr.attr,
	&ksmdev_stat_thp_split.attr.attr,
	&ksmdev_stat_merges_undone.attr.attr,
	&ksmdev_stat_zero_pages.attr.attr,
	&ksmdev_stat_cow_breaks.attr.attr,
	&ksmdev_stat_unmerged.attr.attr,
	&ksmdev_stat_smart_skipped.attr.attr,
	&ksmdev_stat_volatile_skipped.attr.attr,
	&ksmdev_stat_last_full_scan_ms.attr.attr,
	&ksmdev_stat_metadata_bytes.attr.attr,
	&ksmdev_stat_general_profit.attr.attr,
	NULL,
};

static const struct attribute_group ksmdev_stat_group = {
	.attrs = ksmdev_stat_attrs,
};

#define KSMDEV_SKIP_STAT(name, reason) KSMDEV_STAT(name, skipped[reason])

KSMDEV_SKIP_STAT(absent, KSM_SKIP_ABSENT);
KSMDEV_SKIP_STAT(no_vma, KSM_SKIP_NO_VMA);
KSMDEV_SKIP_STAT(swapped, KSM_SKIP_SWAPPED);
KSMDEV_SKIP_STAT(migrating, KSM_SKIP_MIGRATING);
KSMDEV_SKIP_STAT(device, KSM_SKIP_DEVICE);
KSMDEV_SKIP_STAT(zero_page, KSM_SKIP_ZERO_PAGE);
KSMDEV_SKIP_STAT(pinned, KSM_SKIP_PINNED);
KSMDEV_SKIP_STAT(builtin_ksm, KSM_SKIP_BUILTIN_KSM);
KSMDEV_SKIP_STAT(locked, KSM_SKIP_LOCKED);
KSMDEV_SKIP_STAT(busy, KSM_SKIP_BUSY);
KSMDEV_SKIP_STAT(swapcache, KSM_SKIP_SWAPCACHE);
KSMDEV_SKIP_STAT(exiting, KSM_SKIP_EXITING);
KSMDEV_SKIP_STAT(thp, KSM_SKIP_THP);
KSMDEV_SKIP_STAT(other, KSM_SKIP_OTHER);

static struct attribute *ksmdev_skip_attrs[] = {
	&ksmdev_stat_absent.attr.attr,
	&ksmdev_stat_no_vma.attr.attr,
	&ksmdev_stat_swapped.attr.attr,
	&ksmdev_stat_migrating.attr.attr,
	&ksmdev_stat_device.attr.attr,
	&ksmdev_stat_zero_page.attr.attr,
	&ksmdev_stat_pinned.attr.attr,
	&ksmdev_stat_builtin_ksm.attr.attr,
	&ksmdev_stat_locked.attr.attr,
	&ksmdev_stat_busy.attr.attr,
	&ksmdev_stat_swapcache.attr.attr,
	&ksmdev_stat_exiting.attr.attr,
	&ksmdev_stat_thp.attr.attr,
	&ksmdev_stat_other.attr.attr,
	NULL,
};

static const struct attribute_group ksmdev_skip_group = {
	.name = "skipped",
	.attrs = ksmdev_skip_attrs,
};

/* A sysfs file showing one field of the kksmd settings. */
struct ksmdev_kthread_attr {
	struct device_attribute attr;
	size_t offset;
};

static ssize_t ksmdev_kthread_show(struct device *dev, struct device_attribute *attr,
				   char *buf)
{
	struct ksmdev_kthread_attr *ka = container_of(attr, struct ksmdev_kthread_attr, attr);
	struct ksm_kthread_info info;

	ksmdev_kthread_get(&info);
	return sysfs_emit(buf, "%u\n", *(u32 *)((char *)&info + ka->offset));
}

#define KSMDEV_KTHREAD_ATTR(name, field)					\
	static struct ksmdev_kthread_attr ksmdev_kthread_##name = {		\
		.attr = __ATTR(name, 0444, ksmdev_kthread_show, NULL),		\
		.offset = offsetof(struct ksm_kthread_info, field),		\
	}

KSMDEV_KTHREAD_ATTR(running, running);
KSMDEV_KTHREAD_ATTR(sleep_usecs, sleep);
KSMDEV_KTHREAD_ATTR(pages_to_scan, pages_to_scan);
KSMDEV_KTHREAD_ATTR(max_pages_to_merge, max_pages_to_merge);

static struct attribute *ksmdev_kthread_attrs[] = {
	&ksmdev_kthread_running.attr.attr,
	&ksmdev_kthread_sleep_usecs.attr.attr,
	&ksmdev_kthread_pages_to_scan.attr.attr,
	&ksmdev_kthread_max_pages_to_merge.attr.attr,
	NULL,
};

static const struct attribute_group ksmdev_kthread_group = {
	.name = "kksmd",
	.attrs = ksmdev_kthread_attrs,
};

/* The misc device's attribute groups (miscdevice.groups). */
const struct attribute_group *ksmdev_attr_groups[] = {
	&ksmdev_stat_group,
	&ksmdev_skip_group,
	&ksmdev_kthread_group,
	NULL,
};
