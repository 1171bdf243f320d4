// SPDX-License-Identifier: GPL-2.0
/*
 * The content table: by content hash (ksmdev_checksum() of a page, and its
 * node when merging per node), the kernel pages already shared ("stable")
 * and the pages waiting for a twin ("unstable"). Also the sweep that takes
 * kernel pages nobody maps any more out of the table and gives them back.
 */
#include "ksm_internal.h"

#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

static unsigned long ksmdev_page_hash_size;
module_param_named(page_hash_size, ksmdev_page_hash_size, ulong, 0444);
MODULE_PARM_DESC(page_hash_size,
		 "Buckets of the page content hash table (0: a quarter of the RAM pages; rounded up to a power of two)");

/* A bucket of the content table. */
struct ksmdev_bucket {
	spinlock_t lock;
	struct hlist_head stable;	/* ksmdev_kpage.node */
	struct hlist_head unstable;	/* ksmdev_item.node */
};

/* The content table: ksmdev_nbuckets (a power of two) buckets. Set at init. */
static struct ksmdev_bucket *ksmdev_buckets;
static unsigned long ksmdev_nbuckets;

static struct kmem_cache *ksmdev_item_cache;

/* Unstable items in the table: for the stats. */
static atomic_long_t ksmdev_nr_items = ATOMIC_LONG_INIT(0);

static void ksmdev_kpage_sweep_cancel(void);

/*
 * The bucket of content @hash for pages of node @nid (-1: any node). With
 * merge_across_nodes off, each node's pages chain in buckets of their own: in
 * effect one table per node.
 */
static u32 ksmdev_bucket_index(u32 hash, int nid)
{
	if (nid >= 0)
		hash ^= hash_32(nid + 1, 32);
	return hash & (ksmdev_nbuckets - 1);
}

/**
 * ksmdev_table_init - allocate the content table and the items' slab cache
 *
 * The size comes from the page_hash_size parameter or, when it is zero, from
 * the amount of RAM. Returns 0 or -ENOMEM, with nothing left allocated.
 */
int ksmdev_table_init(void)
{
	unsigned long i, n;

	n = ksmdev_page_hash_size ? ksmdev_page_hash_size : totalram_pages() / 4;
	ksmdev_nbuckets = roundup_pow_of_two(clamp(n, 1024UL, 1UL << 26));
	ksmdev_page_hash_size = ksmdev_nbuckets;

	ksmdev_buckets = vmalloc_array(ksmdev_nbuckets, sizeof(*ksmdev_buckets));
	ksmdev_item_cache = KMEM_CACHE(ksmdev_item, 0);
	if (!ksmdev_buckets || !ksmdev_item_cache) {
		ksmdev_table_exit();
		return -ENOMEM;
	}
	for (i = 0; i < ksmdev_nbuckets; i++) {
		spin_lock_init(&ksmdev_buckets[i].lock);
		INIT_HLIST_HEAD(&ksmdev_buckets[i].stable);
		INIT_HLIST_HEAD(&ksmdev_buckets[i].unstable);
	}
	return 0;
}

/* Take kernel page @kp out of bucket @b and the pfn table. Bucket lock held. */
static void ksmdev_kpage_unhash(struct ksmdev_bucket *b, struct ksmdev_kpage *kp)
{
	lockdep_assert_held(&b->lock);
	hlist_del(&kp->node);
	ksmdev_kpage_pfn_del(kp);
	kp->hashed = false;
}

/**
 * ksmdev_table_exit - free everything ksmdev_table_init() set up
 *
 * Called at unload, when no region is left (so no unstable item) and no
 * scanner runs. Kernel pages still mapped by processes live on: dropping the
 * module's reference leaves them to the mappings, and the last unmap frees
 * them like any page.
 */
void ksmdev_table_exit(void)
{
	unsigned long i;

	ksmdev_kpage_sweep_cancel();
	for (i = 0; ksmdev_buckets && i < ksmdev_nbuckets; i++) {
		struct ksmdev_bucket *b = &ksmdev_buckets[i];
		struct ksmdev_kpage *kp;
		struct hlist_node *tmp;

		WARN_ON_ONCE(!hlist_empty(&b->unstable));
		hlist_for_each_entry_safe(kp, tmp, &b->stable, node) {
			spin_lock(&b->lock);
			ksmdev_kpage_unhash(b, kp);
			spin_unlock(&b->lock);
			ksmdev_kpage_put(kp);
		}
		if (!(i % 4096))
			cond_resched();
	}
	kmem_cache_destroy(ksmdev_item_cache);
	ksmdev_item_cache = NULL;
	vfree(ksmdev_buckets);
	ksmdev_buckets = NULL;
}

/*
 * ksmdev_table_add_kpage - make @kp findable by content and by pfn
 *
 * The table takes a reference, which the sweep drops once no process maps
 * the page any more.
 */
void ksmdev_table_add_kpage(struct ksmdev_kpage *kp)
{
	struct ksmdev_bucket *b;

	kp->bucket = ksmdev_bucket_index(kp->hash, kp->nid);
	b = &ksmdev_buckets[kp->bucket];
	kref_get(&kp->ref);
	spin_lock(&b->lock);
	hlist_add_head(&kp->node, &b->stable);
	ksmdev_kpage_pfn_add(kp);
	kp->hashed = true;
	spin_unlock(&b->lock);
}

/*
 * ksmdev_stable_candidates - kernel pages that may hold the content @hash
 * @nid: only pages on this node, or -1 for any node
 *
 * Fills @out with up to @max referenced entries (ksmdev_kpage_put() each).
 */
int ksmdev_stable_candidates(u32 hash, u32 domain, int nid,
			     struct ksmdev_kpage **out, int max)
{
	struct ksmdev_bucket *b = &ksmdev_buckets[ksmdev_bucket_index(hash, nid)];
	struct ksmdev_kpage *kp;
	int n = 0;

	spin_lock(&b->lock);
	hlist_for_each_entry(kp, &b->stable, node) {
		if (kp->hash != hash || kp->domain != domain || kp->nid != nid)
			continue;
		kref_get(&kp->ref);
		out[n++] = kp;
		if (n == max)
			break;
	}
	spin_unlock(&b->lock);
	return n;
}

/*
 * ksmdev_unstable_candidates - pages waiting in the table with content @hash
 * @self, @self_index: the page being scanned, which is not its own twin
 * @nid: the node they must be on, or -1 for any
 * @settled_only: only pages whose content was the same on two passes
 *
 * Each page returned is busy-locked for the caller (ksmdev_page_unlock()) and
 * its region referenced (ksmdev_region_put()); pages another scanner holds
 * are left out. Returns how many were put in @regions / @indexes (at most
 * @max).
 */
int ksmdev_unstable_candidates(struct ksmdev_region *self, unsigned long self_index,
			       u32 hash, u32 domain, int nid, bool settled_only,
			       struct ksmdev_region **regions, unsigned long *indexes,
			       int max)
{
	struct ksmdev_bucket *b = &ksmdev_buckets[ksmdev_bucket_index(hash, nid)];
	struct ksmdev_item *it;
	int n = 0;

	spin_lock(&b->lock);
	hlist_for_each_entry(it, &b->unstable, node) {
		struct ksmdev_region *r = it->region;

		if (it->hash != hash || r->domain != domain || it->nid != nid ||
		    (settled_only && !it->settled))
			continue;
		if ((r == self && it->index == self_index) || READ_ONCE(r->dead))
			continue;
		if (!ksmdev_page_trylock(r, it->index))
			continue;
		ksmdev_region_get(r);
		regions[n] = r;
		indexes[n] = it->index;
		if (++n == max)
			break;
	}
	spin_unlock(&b->lock);
	return n;
}

/*
 * ksmdev_item_clear - take page @index of @r out of the unstable table
 *
 * Caller holds the page's busy bit.
 */
void ksmdev_item_clear(struct ksmdev_region *r, unsigned long index)
{
	struct ksmdev_item *it = r->items[index];
	struct ksmdev_bucket *b;

	if (!it)
		return;
	b = &ksmdev_buckets[it->bucket];
	spin_lock(&b->lock);
	hlist_del(&it->node);
	spin_unlock(&b->lock);
	r->items[index] = NULL;
	kmem_cache_free(ksmdev_item_cache, it);
	atomic_long_dec(&ksmdev_nr_items);
}

/*
 * ksmdev_item_set - record page @index of @r in the unstable table as @hash
 * @nid: the node its twins must be on, or -1 for any
 *
 * Moves it if it was there under another hash or node. Caller holds the
 * page's busy bit. Returns whether the page was already there with this same
 * content (it is then marked settled: unchanged for two passes).
 */
bool ksmdev_item_set(struct ksmdev_region *r, unsigned long index, u32 hash, int nid)
{
	struct ksmdev_item *it = r->items[index];
	u32 bucket = ksmdev_bucket_index(hash, nid);
	struct ksmdev_bucket *b;

	if (it && it->hash == hash && it->bucket == bucket) {
		/* Written under the bucket lock: candidate lookups read it there. */
		if (!it->settled) {
			b = &ksmdev_buckets[bucket];
			spin_lock(&b->lock);
			it->settled = true;
			spin_unlock(&b->lock);
		}
		return true;
	}
	ksmdev_item_clear(r, index);

	it = kmem_cache_alloc(ksmdev_item_cache, GFP_KERNEL);
	if (!it)
		return false;	/* then the page is simply not in the table */
	it->region = r;
	it->index = index;
	it->hash = hash;
	it->bucket = bucket;
	it->nid = nid;
	it->settled = false;
	b = &ksmdev_buckets[bucket];
	spin_lock(&b->lock);
	hlist_add_head(&it->node, &b->unstable);
	spin_unlock(&b->lock);
	r->items[index] = it;
	atomic_long_inc(&ksmdev_nr_items);
	return false;
}

/**
 * ksmdev_kpage_sweep - give back the kernel pages that nobody maps any more
 *
 * A kernel page loses mappings without the module hearing of it (a write
 * copies it, munmap or exit drops it). One that has no mapping left and is
 * not in use by a merge is taken out of the tables and its reference dropped,
 * which frees it. Takes each bucket lock in turn; may sleep between buckets.
 */
void ksmdev_kpage_sweep(void)
{
	unsigned long i;

	for (i = 0; i < ksmdev_nbuckets; i++) {
		struct ksmdev_bucket *b = &ksmdev_buckets[i];
		struct ksmdev_kpage *kp;
		struct hlist_node *tmp;
		HLIST_HEAD(dead);

		if (hlist_empty(&b->stable))
			continue;
		spin_lock(&b->lock);
		hlist_for_each_entry_safe(kp, tmp, &b->stable, node) {
			/* Only the tables' reference: no merge can map it now. */
			if (kref_read(&kp->ref) != 1 || ksmdev_small_mapcount(kp->page))
				continue;
			ksmdev_kpage_unhash(b, kp);
			hlist_add_head(&kp->node, &dead);
		}
		spin_unlock(&b->lock);
		hlist_for_each_entry_safe(kp, tmp, &dead, node) {
			ksmdev_count(kpages_freed);
			ksmdev_kpage_put(kp);
		}
		if (!(i % 4096))
			cond_resched();
	}
}

/*
 * Deferred sweeps after regions go away. A process's pages are unmapped after
 * its regions are removed (exit_mmap() calls ->release first), so the sweep
 * runs a few times with growing delays: 0.1 s, 0.5 s, 2.5 s.
 */
static atomic_t ksmdev_sweep_rounds = ATOMIC_INIT(0);

static void ksmdev_sweep_workfn(struct work_struct *work);
static DECLARE_DELAYED_WORK(ksmdev_sweep_work, ksmdev_sweep_workfn);

static void ksmdev_sweep_workfn(struct work_struct *work)
{
	int left;

	ksmdev_kpage_sweep();
	left = atomic_dec_if_positive(&ksmdev_sweep_rounds);
	if (left > 0)
		schedule_delayed_work(&ksmdev_sweep_work, HZ / 10 * (left == 2 ? 5 : 25));
}

/* Regions went away: give back the kernel pages their processes stop mapping. */
void ksmdev_kpage_sweep_soon(void)
{
	atomic_set(&ksmdev_sweep_rounds, 3);
	mod_delayed_work(system_wq, &ksmdev_sweep_work, HZ / 10);
}

/* Wait for a pending deferred sweep (unload). */
static void ksmdev_kpage_sweep_cancel(void)
{
	atomic_set(&ksmdev_sweep_rounds, 0);
	cancel_delayed_work_sync(&ksmdev_sweep_work);
}

/* Memory the content table and its items take (for general_profit). */
size_t ksmdev_table_metadata_bytes(void)
{
	return ksmdev_nbuckets * sizeof(struct ksmdev_bucket) +
	       atomic_long_read(&ksmdev_nr_items) * sizeof(struct ksmdev_item);
}

/*
 * ksmdev_table_fill - table statistics for KSM_GET_STATS and sysfs
 *
 * Walks every bucket (under its lock, one at a time): pages_shared and
 * pages_sharing are counted from the kernel pages' current map counts, since
 * mappings go away (COW, unmap) without telling the module.
 */
void ksmdev_table_fill(struct ksm_stats *st)
{
	unsigned long i;

	st->hash_buckets = ksmdev_nbuckets;
	st->unstable_pages = atomic_long_read(&ksmdev_nr_items);
	for (i = 0; i < ksmdev_nbuckets; i++) {
		struct ksmdev_bucket *b = &ksmdev_buckets[i];
		struct ksmdev_kpage *kp;
		struct ksmdev_item *it;
		u64 chain = 0;

		if (hlist_empty(&b->stable) && hlist_empty(&b->unstable))
			continue;
		spin_lock(&b->lock);
		hlist_for_each_entry(kp, &b->stable, node) {
			int maps = ksmdev_small_mapcount(kp->page);

			if (maps > 0) {
				st->pages_shared++;
				st->pages_sharing += maps - 1;
			}
			chain++;
		}
		hlist_for_each_entry(it, &b->unstable, node)
			chain++;
		spin_unlock(&b->lock);
		if (chain)
			st->hash_used++;
		st->hash_max_chain = max(st->hash_max_chain, chain);
		if (!(i % 4096))
			cond_resched();
	}
}
