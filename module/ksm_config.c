// SPDX-License-Identifier: GPL-2.0
/*
 * Engine settings (KSM_GET_CONFIG / KSM_SET_CONFIG): NUMA, zero pages, the
 * volatility filter, smart scanning and kksmd's advisor. Readers on the scan
 * path read single fields with READ_ONCE(); writers hold ksmdev_config_lock.
 */
#include "ksm_internal.h"

/* Serialises KSM_SET_CONFIG. */
static DEFINE_MUTEX(ksmdev_config_lock);

/*
 * The generation of the node rule (merge_across_nodes): even, two more at
 * each change of the rule, odd while a change is being decided. A scan
 * reads it with the rule (ksmdev_merge_rule()); a kernel page made for
 * pages chosen under that rule is counted only while it is still the same
 * even number (ksmdev_kpage_count()). A change, which needs no kernel page
 * to exist, makes it odd and then counts them: a kernel page is either
 * counted before (the change fails) or not counted at all, so none is ever
 * made under a rule that is not the current one. Written under
 * ksmdev_config_lock, read locklessly.
 */
static unsigned int ksmdev_nodes_gen;

/* The settings; fields are read locklessly (READ_ONCE), written under the lock. */
struct ksm_config ksmdev_cfg = {
	.merge_across_nodes = 1,
	.use_zero_pages = 0,
	.volatility_filter = 0,
	.smart_scan = 0,
	.advisor_mode = KSM_ADVISOR_NONE,
	.advisor_target_scan_ms = 200 * MSEC_PER_SEC,
	.advisor_max_cpu = 70,
	.advisor_min_pages_to_scan = 500,
	.advisor_max_pages_to_scan = 30000,
};

/*
 * The node rule (merge_across_nodes) and, in *@gen, its generation, for
 * ksmdev_kpage_count(). Any context.
 */
bool ksmdev_merge_rule(unsigned int *gen)
{
	*gen = READ_ONCE(ksmdev_nodes_gen);
	smp_rmb();	/* pairs with the smp_wmb() of ksmdev_config_set() */
	return READ_ONCE(ksmdev_cfg.merge_across_nodes);
}

/**
 * ksmdev_kpage_count - count one more kernel page, made under the node rule
 * of generation @gen
 *
 * Returns false, having counted nothing, when that rule is no longer the
 * current one or is being changed: the page must not be used. Any context.
 */
bool ksmdev_kpage_count(unsigned int gen)
{
	ksmdev_level_add(KSMDEV_LV_KPAGES, 1);
	smp_mb__after_atomic();	/* pairs with the smp_mb() of ksmdev_config_set() */
	if (!(gen & 1) && READ_ONCE(ksmdev_nodes_gen) == gen)
		return true;
	ksmdev_level_add(KSMDEV_LV_KPAGES, -1);
	return false;
}

/* ksmdev_config_get - KSM_GET_CONFIG: a consistent copy of the settings. */
void ksmdev_config_get(struct ksm_config *cfg)
{
	mutex_lock(&ksmdev_config_lock);
	*cfg = ksmdev_cfg;
	mutex_unlock(&ksmdev_config_lock);
}

static bool ksmdev_is_bool(u32 v)
{
	return v <= 1;
}

/**
 * ksmdev_config_set - KSM_SET_CONFIG
 *
 * Every field is checked: booleans are 0 or 1, advisor_mode a KSM_ADVISOR_*,
 * the target scan time 1 s .. 1 h, the CPU share 1 .. 100 percent, the page
 * bounds >= 1 and min <= max, reserved fields zero: -EINVAL otherwise.
 * merge_across_nodes cannot change while the module holds kernel pages
 * (-EBUSY): they were merged under the other rule; and no kernel page is
 * made for twins chosen under the old rule once it changed (the generation
 * above). Returns 0 on success.
 */
int ksmdev_config_set(const struct ksm_config *cfg)
{
	unsigned int gen;
	int ret = 0;

	if (!ksmdev_is_bool(cfg->merge_across_nodes) || !ksmdev_is_bool(cfg->use_zero_pages) ||
	    !ksmdev_is_bool(cfg->volatility_filter) || !ksmdev_is_bool(cfg->smart_scan))
		return -EINVAL;
	if (cfg->advisor_mode > KSM_ADVISOR_SCAN_TIME ||
	    cfg->advisor_target_scan_ms < MSEC_PER_SEC ||
	    cfg->advisor_target_scan_ms > 3600 * MSEC_PER_SEC ||
	    !cfg->advisor_max_cpu || cfg->advisor_max_cpu > 100 ||
	    !cfg->advisor_min_pages_to_scan ||
	    cfg->advisor_min_pages_to_scan > cfg->advisor_max_pages_to_scan)
		return -EINVAL;
	if (cfg->reserved0 || memchr_inv(cfg->reserved, 0, sizeof(cfg->reserved)))
		return -EINVAL;

	mutex_lock(&ksmdev_config_lock);
	if (cfg->merge_across_nodes != ksmdev_cfg.merge_across_nodes) {
		gen = ksmdev_nodes_gen;
		/* Odd: no kernel page is counted from here on (ksmdev_kpage_count()). */
		WRITE_ONCE(ksmdev_nodes_gen, gen + 1);
		smp_mb();	/* pairs with the one in ksmdev_kpage_count() */
		if (ksmdev_level(KSMDEV_LV_KPAGES)) {
			/* Even again, but new: pages being made under the rule fail. */
			WRITE_ONCE(ksmdev_nodes_gen, gen + 2);
			ret = -EBUSY;
			goto unlock;
		}
		WRITE_ONCE(ksmdev_cfg.merge_across_nodes, cfg->merge_across_nodes);
		smp_wmb();	/* the rule before the generation that says it is valid */
		WRITE_ONCE(ksmdev_nodes_gen, gen + 2);
	}
	WRITE_ONCE(ksmdev_cfg.use_zero_pages, cfg->use_zero_pages);
	WRITE_ONCE(ksmdev_cfg.volatility_filter, cfg->volatility_filter);
	WRITE_ONCE(ksmdev_cfg.smart_scan, cfg->smart_scan);
	WRITE_ONCE(ksmdev_cfg.advisor_target_scan_ms, cfg->advisor_target_scan_ms);
	WRITE_ONCE(ksmdev_cfg.advisor_max_cpu, cfg->advisor_max_cpu);
	WRITE_ONCE(ksmdev_cfg.advisor_min_pages_to_scan, cfg->advisor_min_pages_to_scan);
	WRITE_ONCE(ksmdev_cfg.advisor_max_pages_to_scan, cfg->advisor_max_pages_to_scan);
	WRITE_ONCE(ksmdev_cfg.advisor_mode, cfg->advisor_mode);
unlock:
	mutex_unlock(&ksmdev_config_lock);
	return ret;
}

