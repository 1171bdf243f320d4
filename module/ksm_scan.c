// SPDX-License-Identifier: GPL-2.0
/*
 * The scanner: walks the registered regions of every process page by page
 * from a cursor, and for each page looks for a twin - first among the kernel
 * pages (stable), then among the pages waiting in the hash table (unstable) -
 * merging on first sight, as the 2008 driver did. No global lock is held
 * across pages; each page is handled under its own busy bit.
 */
#include "ksm_internal.h"

#include <linux/sched/signal.h>

/* How many twins to try for one page, per table. */
#define KSMDEV_MAX_CANDIDATES 4

/* The SHA-1 of the page being scanned, computed at most once. */
struct ksmdev_digest {
	bool valid;
	u8 sha1[SHA1_DIGEST_SIZE];
};

static const u8 *ksmdev_digest_of(struct ksmdev_digest *d, struct page *page)
{
	if (!d->valid) {
		ksmdev_sha1_page(page, d->sha1);
		d->valid = true;
	}
	return d->sha1;
}

/* Count the outcome of a failed merge attempt. */
static void ksmdev_count_failure(int ret)
{
	if (ret == KSMDEV_DIFFERENT)
		ksmdev_count(memcmp_mismatch);
	else if (ret < 0)
		ksmdev_count_skip(KSMDEV_SKIP_REASON(ret));
}

/* Duration of the last complete pass of any scanner; written by scanners. */
u64 ksmdev_last_full_scan_ms;

/* When the per-CPU LRU batches were last drained (jiffies). */
static unsigned long ksmdev_last_drain;

/*
 * Pages still in a per-CPU LRU batch hold an extra reference, so they cannot
 * be merged yet. Drain the batches at each pass start, and otherwise at most
 * ten times a second: lru_add_drain_all() waits for work on every CPU.
 */
static void ksmdev_drain_lru(bool force)
{
	unsigned long last = READ_ONCE(ksmdev_last_drain);

	if (!force && time_before(jiffies, last + HZ / 10))
		return;
	WRITE_ONCE(ksmdev_last_drain, jiffies);
	ksmdev_call(lru_add_drain_all)();
}

void ksmdev_scanner_init(struct ksmdev_scanner *s)
{
	mutex_init(&s->lock);
	s->region = NULL;
	s->index = 0;
	s->region_id = 0;
	s->pass_start = 0;
	s->pass_fresh = true;
	s->last_pass_ms = 0;
}

/* Drop the cursor's region reference. The scanner is no longer used. */
void ksmdev_scanner_release(struct ksmdev_scanner *s)
{
	if (s->region)
		ksmdev_region_put(s->region);
	s->region = NULL;
}

/*
 * ksmdev_cursor_advance - move the cursor to the start of the next region
 *
 * From the current region if it is still registered, else from the first
 * region registered after it. Returns true when this passed the end of the
 * list (a full scan is complete). Caller holds @s->lock; takes
 * ksmdev_regions_lock.
 */
static bool ksmdev_cursor_advance(struct ksmdev_scanner *s)
{
	struct ksmdev_region *cur = s->region, *next = NULL, *r;
	bool wrapped = false;

	lockdep_assert_held(&s->lock);
	spin_lock(&ksmdev_regions_lock);
	if (cur && !list_empty(&cur->all_link)) {
		if (!list_is_last(&cur->all_link, &ksmdev_regions))
			next = list_next_entry(cur, all_link);
	} else {
		list_for_each_entry(r, &ksmdev_regions, all_link) {
			if (r->id > s->region_id) {
				next = r;
				break;
			}
		}
	}
	if (!next) {
		/* The end of the list: a pass ends, if one had begun. */
		wrapped = cur || s->region_id;
		if (!list_empty(&ksmdev_regions))
			next = list_first_entry(&ksmdev_regions, struct ksmdev_region, all_link);
	}
	if (next)
		ksmdev_region_get(next);
	spin_unlock(&ksmdev_regions_lock);

	if (cur)
		ksmdev_region_put(cur);
	s->region = next;
	s->region_id = next ? next->id : 0;
	s->index = 0;

	if (wrapped && s->pass_start) {
		s->last_pass_ms = div_u64(ktime_get_ns() - s->pass_start, NSEC_PER_MSEC);
		WRITE_ONCE(ksmdev_last_full_scan_ms, s->last_pass_ms);
	}
	if (wrapped || !s->pass_start) {
		s->pass_start = next ? ktime_get_ns() : 0;
		s->pass_fresh = true;
	}
	return wrapped;
}

/*
 * A page the scanner just merged (@flags: KSMDEV_PS_MERGED or _ZERO): record
 * it in its state and its region's counters. Busy bit held.
 */
static void ksmdev_page_merged(struct ksmdev_region *r, unsigned long index, u8 flags)
{
	ksmdev_page_state_set(r, index, flags);
	r->state[index].smart = 0;
	atomic_long_inc(&r->merges);
}

/*
 * ksmdev_kpage_matches - does @page seem to hold the content of @kp?
 * @collision: several kernel pages share @page's hash; tell them apart by
 *	the SHA-1 cache (one digest of @page, then 20 bytes per candidate)
 *	rather than by whole-page compares, which are slow for pages that
 *	differ only near their end
 *
 * A check without locks, to spare a doomed merge its page table work: @page
 * may still change, and only the compare under write protection in
 * ksmdev_replace_pte() decides.
 */
static bool ksmdev_kpage_matches(struct page *page, struct ksmdev_kpage *kp, bool collision,
				 struct ksmdev_digest *digest)
{
	const u8 *kp_sha1 = collision ? ksmdev_kpage_sha1(kp) : NULL;

	if (kp_sha1) {
		if (!memcmp(ksmdev_digest_of(digest, page), kp_sha1, SHA1_DIGEST_SIZE))
			return true;
		ksmdev_count(sha1_mismatch);
		return false;
	}
	if (ksmdev_pages_identical(page, kp->page))
		return true;
	ksmdev_count(memcmp_mismatch);
	return false;
}

/*
 * Try to map one of the kernel pages holding content @hash at @t instead of
 * its page. Returns the number of merges done (0 or 1).
 */
static int ksmdev_try_stable(struct ksmdev_target *t, u32 hash, int nid,
			     struct ksmdev_digest *digest)
{
	struct ksmdev_kpage *cands[KSMDEV_MAX_CANDIDATES];
	int n, i, merged = 0;

	n = ksmdev_stable_candidates(hash, t->region->domain, nid, cands, ARRAY_SIZE(cands));
	for (i = 0; i < n; i++) {
		struct ksmdev_kpage *kp = cands[i];
		int ret;

		if (merged || !ksmdev_kpage_matches(t->page, kp, n > 1, digest))
			goto put;
		ret = ksmdev_merge_into(t, kp);
		if (ret == KSMDEV_MERGED) {
			ksmdev_count(merges);
			merged = 1;
		} else {
			ksmdev_count_failure(ret);
		}
put:
		ksmdev_kpage_put(kp);
	}
	return merged;
}

/*
 * ksmdev_try_pair - merge @t and the unstable page @u into one kernel page
 * @kpp: the kernel page made by an earlier pair for this same @t, or NULL;
 *	set to the new one when this call makes it
 * @t_failed: set when @t itself could not be switched (no point in trying
 *	it with another twin)
 *
 * Checks that @u holds the same content as @t (or as the kernel page; else
 * files @u under the hash of what it holds now), copies @t into a new kernel
 * page, then switches @t and @u to it - each switch comparing the whole page
 * under write protection. Returns the number of merges done (0, 1 or 2).
 */
static int ksmdev_try_pair(struct ksmdev_target *t, struct ksmdev_target *u,
			   struct ksmdev_kpage **kpp, bool *t_failed)
{
	struct ksmdev_kpage *kp = *kpp;
	int merged = 0;
	int ret;

	ret = ksmdev_may_switch(u);
	if (ret) {
		ksmdev_count_failure(ret);
		return 0;
	}
	if (!ksmdev_pages_identical(kp ? kp->page : t->page, u->page)) {
		/* A hash collision, or @u changed since it was filed. */
		ksmdev_count(memcmp_mismatch);
		ksmdev_item_set(u->region, u->index, ksmdev_hash_page(u->page),
				ksmdev_merge_nid(u->page));
		return 0;
	}
	if (!kp) {
		kp = ksmdev_kpage_copy(t->page, t->region->domain);
		if (!kp) {
			*t_failed = true;
			return 0;
		}
		ret = ksmdev_merge_into(t, kp);
		if (ret != KSMDEV_MERGED) {
			ksmdev_count_failure(ret);
			ksmdev_kpage_put(kp);
			*t_failed = true;
			return 0;
		}
		ksmdev_count(merges);
		ksmdev_table_add_kpage(kp);
		*kpp = kp;
		merged++;
	}
	ret = ksmdev_merge_into(u, kp);
	if (ret == KSMDEV_MERGED) {
		ksmdev_count(merges);
		ksmdev_item_clear(u->region, u->index);
		ksmdev_page_merged(u->region, u->index, KSMDEV_PS_MERGED);
		return merged + 1;
	}
	ksmdev_count_failure(ret);
	if (merged) {
		/* @t alone on the page it just got saves nothing: give it back. */
		ksmdev_unmerge_target(t);
		ksmdev_count(merges_undone);
		*t_failed = true;
		merged = 0;
	}
	return merged;
}

/*
 * Look for @t's twins among the pages waiting in the hash table and merge
 * with as many as found. Returns the number of merges done.
 */
static int ksmdev_try_unstable(struct ksmdev_target *t, u32 hash, int nid, bool settled_only)
{
	struct ksmdev_region *regions[KSMDEV_MAX_CANDIDATES];
	unsigned long indexes[KSMDEV_MAX_CANDIDATES];
	struct ksmdev_kpage *kp = NULL;
	bool t_failed = false;
	int n, i, merged = 0;

	n = ksmdev_unstable_candidates(t->region, t->index, hash, t->region->domain, nid,
				       settled_only, regions, indexes, ARRAY_SIZE(regions));
	/* Split a huge @t before taking references to twins that may share its folio. */
	if (n && PageCompound(t->page)) {
		int ret = ksmdev_split_target(t);

		if (ret) {
			ksmdev_count_failure(ret);
			t_failed = true;
		}
	}
	for (i = 0; i < n; i++) {
		struct ksmdev_target u = { .region = regions[i], .index = indexes[i] };
		int ret = ksmdev_lookup(&u);

		if (ret == KSMDEV_FOUND_ANON) {
			if (!t_failed)
				merged += ksmdev_try_pair(t, &u, &kp, &t_failed);
			put_page(u.page);
		} else {
			/* Gone, merged meanwhile, or no longer mergeable. */
			ksmdev_item_clear(u.region, u.index);
		}
		ksmdev_page_unlock(u.region, u.index);
		ksmdev_region_put(u.region);
	}
	if (kp)
		ksmdev_kpage_put(kp);
	return merged;
}

/*
 * Smart scanning: a page that stayed unmerged with unchanged content on
 * several passes in a row is skipped for 1, 2, 4, then 8 passes.
 */
static void ksmdev_smart_fail(struct ksmdev_pstate *ps, bool unchanged)
{
	unsigned int fails = unchanged ? min(ps->smart >> 4, 14) + 1 : 0;
	unsigned int skip = fails >= 3 ? 1U << min(fails - 3, 3U) : 0;

	ps->smart = fails << 4 | skip;
}

/*
 * ksmdev_scan_page - look at page @index of @r and merge it if it has a twin
 *
 * Also keeps the page's state: notices when a page it merged was copied on
 * write since (cow_breaks) or unmapped, maps all-zero pages to the zero page
 * (use_zero_pages), leaves pages that changed since the last pass alone
 * (volatility_filter) and skips pages that keep failing (smart_scan).
 * Returns the number of merges done. Pages another scanner is working on are
 * left to it.
 */
static int ksmdev_scan_page(struct ksmdev_region *r, unsigned long index)
{
	struct ksmdev_target t = { .region = r, .index = index };
	struct ksmdev_digest digest = { .valid = false };
	bool volatility = READ_ONCE(ksmdev_cfg.volatility_filter);
	struct ksmdev_pstate *ps = &r->state[index];
	bool settled;
	int merged = 0;
	u32 hash;
	int ret, nid;

	if (!ksmdev_page_trylock(r, index)) {
		ksmdev_count_skip(KSM_SKIP_BUSY);
		return 0;
	}
	if (READ_ONCE(r->dead))
		goto unlock;
	if ((ps->smart & 0x0f) && READ_ONCE(ksmdev_cfg.smart_scan)) {
		ps->smart--;
		ksmdev_count(smart_skipped);
		goto unlock;
	}

	ret = ksmdev_lookup(&t);
	if (ret == KSMDEV_FOUND_KPAGE ||
	    (ret == KSMDEV_SKIP(KSM_SKIP_ZERO_PAGE) && (ps->flags & KSMDEV_PS_ZERO))) {
		/* Still merged (or moved here merged, by mremap). */
		ksmdev_item_clear(r, index);
		if (ret == KSMDEV_FOUND_KPAGE && !(ps->flags & KSMDEV_PS_MERGED))
			ksmdev_page_state_set(r, index, KSMDEV_PS_MERGED);
		goto unlock;
	}
	if (ret != KSMDEV_FOUND_ANON) {
		ksmdev_count_skip(KSMDEV_SKIP_REASON(ret));
		ksmdev_item_clear(r, index);
		if (ps->flags)
			ksmdev_page_state_set(r, index, 0);	/* unmapped since */
		goto unlock;
	}
	if (ps->flags) {
		/* It was merged, and now holds a private page: a write copied it. */
		ksmdev_page_state_set(r, index, 0);
		atomic_long_inc(&r->cow_breaks);
		ksmdev_count(cow_breaks);
	}

	if (READ_ONCE(ksmdev_cfg.use_zero_pages) && ksmdev_page_is_zero(t.page)) {
		ksmdev_item_clear(r, index);
		ret = ksmdev_merge_zero(&t);
		if (ret == KSMDEV_MERGED) {
			ksmdev_count(zero_pages);
			ksmdev_page_merged(r, index, KSMDEV_PS_ZERO);
			merged = 1;
		} else {
			ksmdev_count_failure(ret);
		}
		goto put;
	}

	hash = ksmdev_hash_page(t.page);
	nid = ksmdev_merge_nid(t.page);
	/* In the table first: a twin scanned meanwhile finds it. */
	settled = ksmdev_item_set(r, index, hash, nid);
	if (volatility && !settled) {
		ksmdev_count(volatile_skipped);
		goto put;
	}
	merged = ksmdev_try_stable(&t, hash, nid, &digest);
	if (!merged)
		merged = ksmdev_try_unstable(&t, hash, nid, volatility);
	if (merged) {
		ksmdev_item_clear(r, index);
		ksmdev_page_merged(r, index, KSMDEV_PS_MERGED);
	} else {
		ksmdev_smart_fail(ps, settled);
	}
put:
	put_page(t.page);
unlock:
	ksmdev_page_unlock(r, index);
	return merged;
}

/**
 * ksmdev_scan - scan up to @ctl->to_scan pages from cursor @s
 *
 * Stops early after @ctl->max_merge merges (when non-zero), when
 * @ctl->should_stop() says so (checked between pages), at the end of a pass
 * over all regions if @ctl->pass_end, or when no region is registered. Fills the out fields of @ctl. Each completed pass over all
 * regions gives back kernel pages nobody maps any more. Takes @s->lock;
 * returns 0 or -EINTR if a signal arrived while waiting for it.
 */
int ksmdev_scan(struct ksmdev_scanner *s, struct ksmdev_scan_ctl *ctl)
{
	if (mutex_lock_interruptible(&s->lock))
		return -EINTR;

	ksmdev_drain_lru(!s->region || s->pass_fresh);

	while (ctl->scanned < ctl->to_scan) {
		struct ksmdev_region *r = s->region;

		if (ctl->should_stop && ctl->should_stop())
			break;
		if (ctl->max_merge && ctl->merged >= ctl->max_merge)
			break;
		if (!r || READ_ONCE(r->dead) || s->index >= r->npages) {
			if (ksmdev_cursor_advance(s)) {
				ctl->full_scans++;
				ksmdev_count(full_scans);
				ksmdev_kpage_sweep();
				if (ctl->pass_end)
					break;
				ksmdev_drain_lru(true);
			}
			if (!s->region)
				break;
			continue;
		}
		s->pass_fresh = false;
		ctl->merged += ksmdev_scan_page(r, s->index);
		s->index++;
		ctl->scanned++;
		ksmdev_count(pages_scanned);
		cond_resched();
	}
	mutex_unlock(&s->lock);
	return 0;
}
