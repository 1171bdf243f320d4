// SPDX-License-Identifier: GPL-2.0
/*
 * Statistics as users see them: KSM_GET_STATS and the read-only sysfs files
 * of the misc device (/sys/class/misc/ksm/: one file per counter of the list
 * in uapi/linux/ksm_stat_list.h, the skipped/ group, and kksmd/'s settings).
 */
#include "ksm_internal.h"

#include <linux/device.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>

/*
 * Whether everyone may read the system-wide statistics (KSM_GET_STATS, the
 * counter files): they tell one tenant of another's merges, so by default
 * only CAP_SYS_ADMIN (the files are 0400). Set at load (modprobe.d).
 */
bool ksmdev_public_stats;
module_param_named(public_stats, ksmdev_public_stats, bool, 0444);
MODULE_PARM_DESC(public_stats,
		 "Let every user read the system-wide statistics (default: CAP_SYS_ADMIN only; they tell of other tenants' merges)");

/* The counter files' mode: readable by root only, unless public_stats. */
static umode_t ksmdev_stat_visible(struct kobject *kobj, struct attribute *attr, int n)
{
	return ksmdev_public_stats ? 0444 : 0400;
}

/**
 * ksmdev_stats_read - every counter, system wide, into @st
 *
 * The event counters, then the levels the module keeps as things happen:
 * constant time (per CPU for the events), whatever the size of the tables,
 * so that reading the sysfs files (root's, or everyone's with public_stats)
 * costs the kernel nothing.
 */
void ksmdev_stats_read(struct ksm_stats *st)
{
	memset(st, 0, sizeof(*st));
	ksmdev_stats_events(st);
	ksmdev_region_totals(&st->regions, &st->region_pages);
	ksmdev_table_fill(st);
	st->kpages_held = ksmdev_level(KSMDEV_LV_KPAGES);
	st->last_full_scan_ms = READ_ONCE(ksmdev_last_full_scan_ms);
	st->kpool_spare = ksmdev_kpool_spare();
	st->metadata_bytes = ksmdev_table_metadata_bytes() + ksmdev_kpage_metadata_bytes() +
			     ksmdev_item_metadata_bytes() + ksmdev_kpool_metadata_bytes();
	/* The spare pages of the blocks are memory the merging costs, like the metadata. */
	st->general_profit = (s64)((st->pages_sharing + ksmdev_level(KSMDEV_LV_ZERO)) * PAGE_SIZE) -
			     (s64)st->metadata_bytes - (s64)(st->kpool_spare * PAGE_SIZE);
}

/* A sysfs file showing one 64-bit field of struct ksm_stats. */
struct ksmdev_stat_attr {
	struct device_attribute attr;
	unsigned short offset;
	bool is_signed;
};

static ssize_t ksmdev_stat_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct ksmdev_stat_attr *sa = container_of(attr, struct ksmdev_stat_attr, attr);
	struct ksm_stats st;
	u64 v;

	ksmdev_stats_read(&st);
	v = *(u64 *)((char *)&st + sa->offset);
	if (sa->is_signed)
		return sysfs_emit(buf, "%lld\n", (s64)v);
	return sysfs_emit(buf, "%llu\n", v);
}

#define KSMDEV_STAT_ATTR(attr_name, field, sign) {				\
	.attr = __ATTR(attr_name, 0444, ksmdev_stat_show, NULL),		\
	.offset = offsetof(struct ksm_stats, field),				\
	.is_signed = sign,							\
}

/* One file per counter of the list... */
#define KSM_STAT(name, kind, ...) KSMDEV_STAT_ATTR(name, name, (kind) == KSM_STAT_SIGNED),
static struct ksmdev_stat_attr ksmdev_stat_files[KSMDEV_NR_STATS] = {
#include "uapi/linux/ksm_stat_list.h"
};

#define KSM_STAT(name, ...) (&ksmdev_stat_files[KSMDEV_STAT_##name].attr.attr),
static struct attribute *ksmdev_stat_attrs[] = {
#include "uapi/linux/ksm_stat_list.h"
	NULL,
};

static const struct attribute_group ksmdev_stat_group = {
	.attrs = ksmdev_stat_attrs,
	.is_visible = ksmdev_stat_visible,
};

/* ... and one per skip reason, in skipped/ (in the list's order). */
#define KSM_SKIP_REASON(name, ...) KSMDEV_SKIP_AT_##name,
enum {
#include "uapi/linux/ksm_stat_list.h"
	KSMDEV_NR_SKIP_FILES
};

static_assert((int)KSMDEV_NR_SKIP_FILES == (int)KSM_SKIP_NR);

#define KSM_SKIP_REASON(name, reason, ...) KSMDEV_STAT_ATTR(name, skipped[reason], false),
static struct ksmdev_stat_attr ksmdev_skip_files[KSM_SKIP_NR] = {
#include "uapi/linux/ksm_stat_list.h"
};

#define KSM_SKIP_REASON(name, ...) (&ksmdev_skip_files[KSMDEV_SKIP_AT_##name].attr.attr),
static struct attribute *ksmdev_skip_attrs[] = {
#include "uapi/linux/ksm_stat_list.h"
	NULL,
};

static const struct attribute_group ksmdev_skip_group = {
	.name = "skipped",
	.attrs = ksmdev_skip_attrs,
	.is_visible = ksmdev_stat_visible,
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
