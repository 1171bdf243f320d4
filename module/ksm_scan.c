// SPDX-License-Identifier: GPL-2.0
/*
 * The scanner: walks the registered regions of every process from a cursor,
 * visiting only the pages that are there (ksmdev_find_present() skips what
 * has no page table entry), and for each page looks for a twin - first among
 * the kernel pages (stable), then among the pages waiting in the content
 * table (unstable) - merging on first sight, as the 2008 driver did. No
 * global lock is held across pages; a batch of a region's pages is handled
 * under the region's lock, whose items follow the pages found.
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

/* Pages looked at under one hold of a region's lock. */
#define KSMDEV_BATCH 64

/**
 * ksmdev_scanner_init - a cursor at the start
 * @owner: NULL to scan every region; else the mm of the process the cursor
 *	works for (held with mmgrab() until ksmdev_scanner_release()): it
 *	scans only the merge domains that process has regions in
 */
void ksmdev_scanner_init(struct ksmdev_scanner *s, struct mm_struct *owner)
{
	mutex_init(&s->lock);
	s->owner = owner;
	if (owner)
		mmgrab(owner);
	s->nr_domains = 0;
	s->domains_gen = 0;
	s->region = NULL;
	s->domain = 0;
	s->index = 0;
	s->seek = NULL;
	s->seek_gen = 0;
	s->region_id = 0;
	s->pass_start = 0;
	s->pass_fresh = true;
	s->pass_scanned = 0;
	s->last_pass_ms = 0;
}

/* Drop the cursor's region reference and its owner. The scanner is no longer used. */
void ksmdev_scanner_release(struct ksmdev_scanner *s)
{
	if (s->region)
		ksmdev_region_put(s->region);
	s->region = NULL;
	if (s->owner)
		mmdrop(s->owner);
	s->owner = NULL;
}

/*
 * The merge domains @s's owner has regions in (the KSMDEV_SCAN_DOMAINS of
 * lowest key), by increasing key, copied again when its regions changed (not
 * when anyone else's did) from what its process keeps of them
 * (ksmdev_mm.domains): no walk of its regions under the lock every cursor
 * takes. But no hardened domain (they are not kept there): a tenant who chose
 * when pages are scanned, and counted the merges, would learn what the
 * hardened mode hides. ksmdev_regions_lock held.
 */
static void ksmdev_owner_domains(struct ksmdev_scanner *s)
{
	struct ksmdev_mm *kmm = ksmdev_mm_find(s->owner);
	struct rb_node *n;

	lockdep_assert_held(&ksmdev_regions_lock);
	if (kmm && kmm->gen == s->domains_gen)
		return;
	s->nr_domains = 0;
	s->domains_gen = kmm ? kmm->gen : 0;
	if (!kmm)
		return;
	for (n = rb_first(&kmm->domains); n && s->nr_domains < KSMDEV_SCAN_DOMAINS; n = rb_next(n))
		s->domains[s->nr_domains++] = rb_entry(n, struct ksmdev_mm_domain, node)->key;
}

/*
 * The region after @s's place among its owner's domains (@restart: the
 * first of them): the next one of the domain it is in (registration order;
 * if its region was removed, the first registered after it, found in the
 * domain's tree by id, not by walking the domain's regions, which in a
 * shared domain are other tenants' too), else the first of the next domain
 * by key. NULL at the end of the last domain. ksmdev_regions_lock held.
 */
static struct ksmdev_region *ksmdev_owner_next(struct ksmdev_scanner *s, bool restart)
{
	struct ksmdev_region *cur = s->region, *r;
	struct ksmdev_domain *dom;
	unsigned int i;

	lockdep_assert_held(&ksmdev_regions_lock);
	restart = restart || !s->region_id;
	for (i = 0; i < s->nr_domains; i++) {
		if (!restart && s->domains[i] < s->domain)
			continue;
		dom = ksmdev_domain_find(s->domains[i]);
		if (!dom)
			continue;
		if (restart || s->domains[i] > s->domain)
			return list_first_entry(&dom->regions, struct ksmdev_region, dom_link);
		if (cur && !list_empty(&cur->dom_link)) {
			if (!list_is_last(&cur->dom_link, &dom->regions))
				return list_next_entry(cur, dom_link);
			continue;
		}
		r = ksmdev_region_after_id(&dom->by_id, s->region_id, true);
		if (r)
			return r;
	}
	return NULL;
}

/*
 * The region after @s's place in the list of all regions (@restart: the
 * first): after its region if that is still registered, else the first one
 * registered after it (by id, in O(log n)). NULL at the end.
 * ksmdev_regions_lock held.
 */
static struct ksmdev_region *ksmdev_all_next(struct ksmdev_scanner *s, bool restart)
{
	struct ksmdev_region *cur = s->region;

	lockdep_assert_held(&ksmdev_regions_lock);
	if (restart || !s->region_id)
		return list_first_entry_or_null(&ksmdev_regions, struct ksmdev_region, all_link);
	if (cur && !list_empty(&cur->all_link))
		return list_is_last(&cur->all_link, &ksmdev_regions) ? NULL :
			list_next_entry(cur, all_link);
	return ksmdev_region_after_id(&ksmdev_regions_by_id, s->region_id, false);
}

/*
 * ksmdev_cursor_advance - move the cursor to the start of the next region
 *
 * The next region @s may scan: of any domain without an owner, else of its
 * owner's domains (ksmdev_owner_next()). Returns true when this passed the
 * end (a full scan is complete). Caller holds @s->lock; takes
 * ksmdev_regions_lock.
 */
static bool ksmdev_cursor_advance(struct ksmdev_scanner *s)
{
	struct ksmdev_region *cur = s->region, *next;
	bool wrapped = false;

	lockdep_assert_held(&s->lock);
	spin_lock(&ksmdev_regions_lock);
	if (s->owner)
		ksmdev_owner_domains(s);
	next = s->owner ? ksmdev_owner_next(s, false) : ksmdev_all_next(s, false);
	if (!next) {
		/* The end: a pass ends, if one had begun. */
		wrapped = cur || s->region_id;
		next = s->owner ? ksmdev_owner_next(s, true) : ksmdev_all_next(s, true);
	}
	if (next)
		ksmdev_region_get(next);
	spin_unlock(&ksmdev_regions_lock);

	if (cur)
		ksmdev_region_put(cur);
	s->region = next;
	s->region_id = next ? next->id : 0;
	s->domain = next ? next->domain : 0;
	s->index = 0;
	s->seek = NULL;

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
 * ksmdev_cursor_resume - take up the cursor's region again, at the start of
 * a scan call: the region of id @s->region_id if it is still registered
 * (referenced again), else none, and the cursor goes on after that id
 * (ksmdev_cursor_advance()). Caller holds @s->lock; takes
 * ksmdev_regions_lock.
 */
static void ksmdev_cursor_resume(struct ksmdev_scanner *s)
{
	struct ksmdev_region *r;

	if (s->region || !s->region_id)
		return;
	spin_lock(&ksmdev_regions_lock);
	r = ksmdev_region_after_id(&ksmdev_regions_by_id, s->region_id - 1, false);
	if (r && r->id == s->region_id)
		ksmdev_region_get(r);
	else
		r = NULL;
	spin_unlock(&ksmdev_regions_lock);
	s->region = r;
}

/*
 * ksmdev_cursor_park - at the end of a scan call, the cursor keeps its place
 * (region id, index) but not its region: a cursor nobody moves (a scan fd
 * left idle, kksmd stopped) must not keep a removed region, and with it its
 * process's mm and its memory cgroup (dying, once removed), for ever.
 * Caller holds @s->lock.
 */
static void ksmdev_cursor_park(struct ksmdev_scanner *s)
{
	if (s->region)
		ksmdev_region_put(s->region);
	s->region = NULL;
}

/*
 * A page the scanner just merged (@state: KSMDEV_IT_MERGED or _ZERO): record
 * it in its item and its region's counters. Region lock held.
 */
static void ksmdev_item_merged(struct ksmdev_item *it, u8 state)
{
	ksmdev_item_set_state(it, state);
	it->smart = 0;
	atomic_long_inc(&it->region->merges);
}

/*
 * ksmdev_kpage_matches - does @page seem to hold the content of @kp, one of
 * several kernel pages sharing @page's hash?
 *
 * Tells them apart by the SHA-1 cache (one digest of @page, then 20 bytes
 * per candidate) rather than by whole-page compares, which are slow for
 * pages that differ only near their end; by a compare while another task
 * computes the digest of @kp.
 *
 * A check without locks, to spare a doomed merge its page table work: @page
 * may still change, and only the compare under write protection in
 * ksmdev_replace_pte() decides.
 */
static bool ksmdev_kpage_matches(struct page *page, struct ksmdev_kpage *kp,
				 struct ksmdev_digest *digest)
{
	const u8 *kp_sha1 = ksmdev_kpage_sha1(kp);

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
 * @t maps the kernel page at @t->kpfn, whose block is being emptied: map the
 * copy that takes over from it instead (making the copy if this is its
 * first sharer to move). Region lock held.
 */
static void ksmdev_move_sharer(struct ksmdev_target *t)
{
	struct ksmdev_kpage *kp = ksmdev_kpage_lookup(t->kpfn), *to;
	int ret;

	if (!kp)
		return;
	to = ksmdev_table_move_kpage(kp, t->region->mm);
	if (IS_ERR(to)) {
		ksmdev_count_skip(KSM_SKIP_HWPOISON);
	} else if (to) {
		ret = ksmdev_move_target(t, kp, to);
		if (ret != KSMDEV_MERGED)
			ksmdev_count_failure(ret);
		ksmdev_kpage_put(to);
	}
	ksmdev_kpage_put(kp);
}

/*
 * Try to map one of the kernel pages holding content @hash at @t instead of
 * its page; one in a block being emptied hands over to its copy first.
 * Several candidates are told apart first (ksmdev_kpage_matches()); a lone
 * one is not compared before the switch: the compare under write protection
 * decides anyway, a candidate with the right hash almost always matches,
 * and one that does not costs a PTE cleared and put back, where the extra
 * compare cost a whole-page compare on every merge (a sixth of merge-dups,
 * docs/performance.md). Returns the number of merges done (0 or 1).
 */
static int ksmdev_try_stable(struct ksmdev_target *t, u32 hash, int nid,
			     struct ksmdev_digest *digest)
{
	struct ksmdev_kpage *cands[KSMDEV_MAX_CANDIDATES];
	int n, i, merged = 0;

	n = ksmdev_stable_candidates(hash, t->region->domain, nid, cands, ARRAY_SIZE(cands));
	for (i = 0; i < n; i++) {
		struct ksmdev_kpage *kp = cands[i], *to;
		int ret;

		if (merged || (n > 1 && !ksmdev_kpage_matches(t->page, kp, digest)))
			goto put;
		if (ksmdev_kpool_evacuating(kp->pfn)) {
			to = ksmdev_table_move_kpage(kp, t->region->mm);
			if (IS_ERR(to)) {
				/* Its page met a machine check: not to be compared. */
				ksmdev_count_skip(KSM_SKIP_HWPOISON);
				goto put;
			}
			if (to) {
				ksmdev_kpage_put(kp);
				kp = cands[i] = to;
			}
		}
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
 * Switch @t to a new kernel page filled from it under write protection, and
 * put that page in the content table. Returns it (the caller holds a
 * reference) or NULL.
 */
static struct ksmdev_kpage *ksmdev_merge_new(struct ksmdev_target *t)
{
	struct ksmdev_kpage *kp;
	int ret;

	kp = ksmdev_kpage_new(t->page, t->region->mm, t->region->domain, t->nodes_gen);
	if (!kp)
		return NULL;
	ret = ksmdev_merge_first(t, kp);
	if (ret != KSMDEV_MERGED) {
		ksmdev_count_failure(ret);
		ksmdev_kpage_put(kp);
		return NULL;
	}
	ksmdev_count(merges);
	ksmdev_table_add_kpage(kp);
	return kp;
}

/*
 * ksmdev_try_pair - merge @t and the unstable page @u into one kernel page
 * @u_it: @u's item (its region locked by the caller)
 * @kpp: the kernel page made by an earlier pair for this same @t, or NULL;
 *	set to the new one when this call makes it
 * @t_failed: set when @t itself could not be switched (no point in trying
 *	it with another twin)
 *
 * Checks that @u holds the same content as @t (else files @u under the hash
 * of what it holds now), switches @t to a new kernel page filled from it
 * under write protection, then @u - comparing the whole page under write
 * protection. With the kernel page already made, @u goes straight to that
 * compare (as in ksmdev_try_stable()) and is filed anew if it fails; if @u
 * cannot be switched, @t stays on its kernel page alone.
 * Returns the number of merges done (0, 1 or 2).
 */
static int ksmdev_try_pair(struct ksmdev_target *t, struct ksmdev_target *u,
			   struct ksmdev_item *u_it, struct ksmdev_kpage **kpp, bool *t_failed)
{
	struct ksmdev_kpage *kp = *kpp;
	int merged = 0;
	int ret;

	lockdep_assert_held(&u->region->lock);
	ret = ksmdev_may_switch(u);
	if (ret) {
		ksmdev_count_failure(ret);
		return 0;
	}
	if (!kp && !ksmdev_pages_identical(t->page, u->page)) {
		/* A hash collision, or @u changed since it was filed. */
		ksmdev_count(memcmp_mismatch);
		ksmdev_item_file(u_it, ksmdev_hash_page(u->page), ksmdev_merge_nid(u->page, NULL));
		return 0;
	}
	if (!kp) {
		kp = ksmdev_merge_new(t);
		if (!kp) {
			*t_failed = true;
			return 0;
		}
		*kpp = kp;
		merged++;
	}
	ret = ksmdev_merge_into(u, kp);
	if (ret == KSMDEV_MERGED) {
		ksmdev_count(merges);
		ksmdev_item_unfile(u_it);
		ksmdev_item_merged(u_it, KSMDEV_IT_MERGED);
		return merged + 1;
	}
	ksmdev_count_failure(ret);
	if (ret == KSMDEV_DIFFERENT) {
		/* The same collision or change, found by the compare itself. */
		ksmdev_item_file(u_it, ksmdev_hash_page(u->page), ksmdev_merge_nid(u->page, NULL));
	}
	/*
	 * @t stays alone on the kernel page it just got, in the table, where
	 * @u and later twins find it on their visits. It costs what its own
	 * page did (that page is freed, its charge with it); giving it a copy
	 * back would allocate and charge a page under region locks: reclaim,
	 * even an OOM kill in a cgroup at its limit, because of a merge.
	 */
	if (merged)
		ksmdev_count(merges_undone);
	return merged;
}

/*
 * Look for the twins of @t (item @t_it) among the pages waiting in the
 * content table and merge with as many as found. Region lock of @t held.
 * Returns the number of merges done.
 */
static int ksmdev_try_unstable(struct ksmdev_target *t, struct ksmdev_item *t_it, u32 hash,
			       int nid, bool settled_only)
{
	struct ksmdev_cand cands[KSMDEV_MAX_CANDIDATES];
	struct ksmdev_kpage *kp = NULL;
	bool t_failed = false;
	int n, i, merged = 0;

	n = ksmdev_unstable_candidates(t_it, hash, nid, settled_only, cands, ARRAY_SIZE(cands));
	/* Split a huge @t before taking references to twins that may share its folio. */
	if (n && PageCompound(t->page)) {
		int ret = ksmdev_split_target(t);

		if (ret) {
			ksmdev_count_failure(ret);
			t_failed = true;
		}
	}
	for (i = 0; i < n; i++) {
		struct ksmdev_item *u_it = cands[i].it;
		struct ksmdev_region *u_r = cands[i].region;
		struct ksmdev_target u = { .region = u_r, .index = u_it->index };
		int ret;

		/* Removed since: its remover waits for the lock, then drops the items. */
		if (READ_ONCE(u_r->dead))
			continue;
		ret = ksmdev_lookup(&u);
		if (ret == KSMDEV_FOUND_ANON) {
			if (!t_failed)
				merged += ksmdev_try_pair(t, &u, u_it, &kp, &t_failed);
			put_page(u.page);
		} else {
			/* Gone, merged meanwhile, or no longer mergeable. */
			ksmdev_item_unfile(u_it);
		}
	}
	/*
	 * Only now: a later candidate of a region locked for an earlier one
	 * relies on that lock (its item could be freed without it).
	 */
	for (i = 0; i < n; i++) {
		if (cands[i].locked)
			mutex_unlock(&cands[i].region->lock);
		ksmdev_region_put(cands[i].region);
	}
	if (kp)
		ksmdev_kpage_put(kp);
	return merged;
}

/*
 * In a hardened domain a page is a candidate once unchanged on this many
 * visits after the first unchanged one (smart-scan's count of unchanged
 * passes), and again only so long after a write copied it.
 */
#define KSMDEV_HARDENED_IDLE_PASSES 2

/*
 * ksmdev_try_alone - give @t a kernel page of its own
 *
 * For an idle page of a hardened domain that no kernel page holds the
 * content of: merged either way, a write to it then takes the same fault and
 * the same copy, so its owner can tell from nothing it measures whether
 * another process holds the same content (docs/security.md). Twins waiting
 * in the table are not used: a page merged as another's twin would merge on
 * that page's visit, not its own, and when it merged would tell. The new
 * kernel page (placed at random in the pool) goes into the content table,
 * where its twins find it on their own visits. Region lock of @t held.
 * Returns the number of merges done (0 or 1).
 */
static int ksmdev_try_alone(struct ksmdev_target *t)
{
	struct ksmdev_kpage *kp;
	int ret;

	ret = ksmdev_may_switch(t);
	if (ret) {
		ksmdev_count_failure(ret);
		return 0;
	}
	kp = ksmdev_merge_new(t);
	if (!kp)
		return 0;
	ksmdev_count(hardened_alone);
	ksmdev_kpage_put(kp);
	return 1;
}

/*
 * Smart scanning: a page that stayed unmerged with unchanged content on
 * several passes in a row is skipped for 1, 2, 4, then 8 passes.
 */
static void ksmdev_smart_fail(struct ksmdev_item *it, bool unchanged)
{
	unsigned int fails = unchanged ? min(it->smart >> 4, 14) + 1 : 0;
	unsigned int skip = fails >= 3 ? 1U << min(fails - 3, 3U) : 0;

	it->smart = fails << 4 | skip;
}

/*
 * ksmdev_scan_page - look at the page of item @it and merge it if it has a
 * twin
 *
 * Also keeps the item's state: notices when a page it merged was copied on
 * write since (cow_breaks) or unmapped, maps all-zero pages to the zero page
 * (use_zero_pages), leaves pages that changed since the last pass alone
 * (volatility_filter, and always in a hardened domain, where an idle page
 * merges on its own visit only: into the kernel page of its content, or one
 * of its own) and skips pages that keep failing (smart_scan). Region lock
 * held. Returns the number of merges done.
 */
static int ksmdev_scan_page(struct ksmdev_item *it)
{
	struct ksmdev_region *r = it->region;
	struct ksmdev_target t = { .region = r, .index = it->index };
	struct ksmdev_digest digest = { .valid = false };
	bool hardened = ksmdev_domain_hardened(r->domain);
	bool volatility = READ_ONCE(ksmdev_cfg.volatility_filter) || hardened;
	u8 state = it->flags & (KSMDEV_IT_MERGED | KSMDEV_IT_ZERO);
	bool settled;
	int merged = 0;
	u32 hash;
	int ret, nid;

	if ((it->smart & 0x0f) && READ_ONCE(ksmdev_cfg.smart_scan)) {
		it->smart--;
		ksmdev_count(smart_skipped);
		return 0;
	}

	ret = ksmdev_lookup(&t);
	if (ret == KSMDEV_FOUND_KPAGE ||
	    (ret == KSMDEV_SKIP(KSM_SKIP_ZERO_PAGE) && (state & KSMDEV_IT_ZERO))) {
		/* Still merged (or moved here merged, by mremap). */
		ksmdev_item_unfile(it);
		if (ret == KSMDEV_FOUND_KPAGE && !(state & KSMDEV_IT_MERGED))
			ksmdev_item_set_state(it, KSMDEV_IT_MERGED);
		if (ret == KSMDEV_FOUND_KPAGE && ksmdev_kpool_evacuating(t.kpfn))
			ksmdev_move_sharer(&t);
		return 0;
	}
	if (ret == KSMDEV_FOUND_POISONED) {
		/* memory_failure() cannot unmap our page: do it (and drop it from the table). */
		ksmdev_poison_target(&t);
		ksmdev_kpage_sweep_soon();
		ret = KSMDEV_SKIP(KSM_SKIP_HWPOISON);
	}
	if (ret != KSMDEV_FOUND_ANON) {
		ksmdev_count_skip(KSMDEV_SKIP_REASON(ret));
		ksmdev_item_unfile(it);
		if (state)
			ksmdev_item_set_state(it, 0);	/* unmapped since */
		return 0;
	}
	if (state) {
		/* It was merged, and now holds a private page: a write copied it. */
		ksmdev_item_set_state(it, 0);
		it->smart = 0;	/* written: not idle, nor failing */
		atomic_long_inc(&r->cow_breaks);
		ksmdev_count(cow_breaks);
	}

	if (READ_ONCE(ksmdev_cfg.use_zero_pages) && ksmdev_page_is_zero(t.page)) {
		ksmdev_item_unfile(it);
		ret = ksmdev_merge_zero(&t);
		if (ret == KSMDEV_MERGED) {
			ksmdev_count(zero_pages);
			ksmdev_item_merged(it, KSMDEV_IT_ZERO);
			merged = 1;
		} else {
			ksmdev_count_failure(ret);
		}
		goto put;
	}

	hash = ksmdev_hash_page(t.page);
	nid = ksmdev_merge_nid(t.page, &t.nodes_gen);
	/* In the table first: a twin scanned meanwhile finds it. */
	settled = ksmdev_item_file(it, hash, nid);
	if (volatility && !settled) {
		ksmdev_count(volatile_skipped);
		if (hardened)
			ksmdev_smart_fail(it, false);
		goto put;
	}
	if (hardened && (it->smart >> 4) < KSMDEV_HARDENED_IDLE_PASSES) {
		/* Not idle long enough yet: a page merged while in use costs a fault. */
		ksmdev_smart_fail(it, true);
		goto put;
	}
	merged = ksmdev_try_stable(&t, hash, nid, &digest);
	if (!merged)
		merged = hardened ? ksmdev_try_alone(&t) :
			 ksmdev_try_unstable(&t, it, hash, nid, volatility);
	if (merged) {
		ksmdev_item_unfile(it);
		ksmdev_item_merged(it, KSMDEV_IT_MERGED);
	} else {
		ksmdev_smart_fail(it, settled);
	}
put:
	put_page(t.page);
	return merged;
}

/* Does @it hold nothing worth keeping (not filed, not merged, no smart-scan history)? */
static bool ksmdev_item_empty(struct ksmdev_item *it)
{
	return !(it->flags & (KSMDEV_IT_MERGED | KSMDEV_IT_ZERO | KSMDEV_IT_FILED)) && !it->smart;
}

/* Drop the item at *@link: its page is no longer there. Region lock held. */
static void ksmdev_item_drop(struct ksmdev_region *r, struct ksmdev_item **link)
{
	ksmdev_item_unfile(*link);
	ksmdev_item_del(r, link);
}

/* Should the scan stop before the next page? */
static bool ksmdev_scan_done(struct ksmdev_scan_ctl *ctl)
{
	return ctl->scanned >= ctl->to_scan || (ctl->should_stop && ctl->should_stop()) ||
	       (ctl->max_merge && ctl->merged >= ctl->max_merge);
}

/*
 * ksmdev_scan_batch - look at the next pages of the cursor's region
 *
 * Under the region's lock: finds up to KSMDEV_BATCH pages present from the
 * cursor on, walks the region's items alongside (adding an item for a page
 * that has none, dropping the items of pages no longer there) and scans each
 * page; moves the cursor past them. Caller holds @s->lock.
 */
static void ksmdev_scan_batch(struct ksmdev_scanner *s, struct ksmdev_scan_ctl *ctl)
{
	struct ksmdev_region *r = s->region;
	unsigned long found[KSMDEV_BATCH], next;
	struct ksmdev_item **link;
	int n, i;

	/*
	 * A pass begins: drain the per-CPU LRU batches, where a page holds an
	 * extra reference and cannot be merged. lru_add_drain_all() waits for
	 * work on every CPU: once per pass, as mainline KSM does.
	 */
	if (s->pass_fresh) {
		ksmdev_call(lru_add_drain_all)();
		s->pass_fresh = false;
	}
	mutex_lock(&r->lock);
	if (READ_ONCE(r->dead)) {
		s->index = r->npages;
		goto unlock;
	}
	n = ksmdev_find_present(r, s->index,  found,
				min_t(unsigned long, KSMDEV_BATCH, ctl->to_scan - ctl->scanned),
				&next);
	if (n < 0) {
		/* Exiting: its regions go soon, and their items with them. */
		s->index = r->npages;
		goto unlock;
	}
	link = ksmdev_items_seek(r, s->index, s->seek, s->seek_gen);
	for (i = 0; i < n; i++) {
		struct ksmdev_item *it;

		if (ksmdev_scan_done(ctl)) {
			next = found[i];
			break;
		}
		while (*link && (*link)->index < found[i])
			ksmdev_item_drop(r, link);
		it = *link;
		if (!it || it->index != found[i])
			it = ksmdev_item_add(r, link, found[i]);
		if (it) {
			ctl->merged += ksmdev_scan_page(it);
			if (ksmdev_item_empty(it))
				ksmdev_item_del(r, link);
			else
				link = &it->next;
		}
		ctl->scanned++;
		s->pass_scanned++;
		ksmdev_count(pages_scanned);
		cond_resched();
	}
	while (*link && (*link)->index < next)
		ksmdev_item_drop(r, link);
	s->index = next;
	s->seek = link == &r->items ? NULL : container_of(link, struct ksmdev_item, next);
	s->seek_gen = r->items_gen;
unlock:
	mutex_unlock(&r->lock);
}

/**
 * ksmdev_scan - scan up to @ctl->to_scan pages from cursor @s
 *
 * Counts the pages looked at (present ones; ranges with nothing there cost
 * a page-table walk and are not counted). Stops early after @ctl->max_merge
 * merges (when non-zero), when @ctl->should_stop() says so (checked between
 * pages), at the end of a pass over all regions if @ctl->pass_end or if the
 * pass found no page at all, or when no region is registered. Fills the out
 * fields of @ctl. Each completed pass gives back kernel pages nobody maps
 * any more: at once when it went over every region (kksmd, a scan fd of
 * CAP_SYS_ADMIN's), else by a deferred sweep, since a sweep walks the whole
 * table and a pass over one tenant's domains may be as short as a page.
 * Takes @s->lock; returns 0 or -ERESTARTSYS if a signal arrived while
 * waiting for it (nothing done: the call may be restarted).
 */
int ksmdev_scan(struct ksmdev_scanner *s, struct ksmdev_scan_ctl *ctl)
{
	if (mutex_lock_interruptible(&s->lock))
		return -ERESTARTSYS;

	ksmdev_cursor_resume(s);
	while (!ksmdev_scan_done(ctl)) {
		struct ksmdev_region *r = s->region;

		if (!r || READ_ONCE(r->dead) || s->index >= r->npages) {
			unsigned long pass_scanned = s->pass_scanned;

			if (ksmdev_cursor_advance(s)) {
				s->pass_scanned = 0;
				ctl->full_scans++;
				ksmdev_count(full_scans);
				if (s->owner)
					ksmdev_kpage_sweep_later();
				else
					ksmdev_kpage_sweep();
				if (ctl->pass_end || !pass_scanned)
					break;
			}
			if (!s->region)
				break;
			continue;
		}
		ksmdev_scan_batch(s, ctl);
	}
	ksmdev_cursor_park(s);
	mutex_unlock(&s->lock);
	return 0;
}
