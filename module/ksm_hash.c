// SPDX-License-Identifier: GPL-2.0
/*
 * Hashing: the content hash table (ksmdev_checksum() of a page -> the unstable pages
 * waiting for a twin and the kernel pages already shared), the table of
 * kernel pages by pfn (their SHA-1 cache), SHA-1 digests, and the sweep that
 * gives back kernel pages nobody maps any more.
 */
#include "ksm_internal.h"
#include "ksm_compat.h"

#include <crypto/hash.h>
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

/* A bucket of the pfn table: kernel pages by page frame number. */
struct ksmdev_pfn_bucket {
	spinlock_t lock;
	struct hlist_head head;		/* ksmdev_kpage.pfn_node */
};

/* The content hash table: ksmdev_nbuckets (a power of two) buckets. Set at init. */
static struct ksmdev_bucket *ksmdev_buckets;
static unsigned long ksmdev_nbuckets;

/* The pfn table (the SHA-1 cache of kernel pages). Set at init. */
static struct ksmdev_pfn_bucket *ksmdev_pfn_buckets;
static unsigned long ksmdev_npfn_buckets;

/* Random hash seed, so that nobody can aim pages at one bucket. Set at init. */
static u32 ksmdev_hash_seed;

static struct kmem_cache *ksmdev_item_cache;
static struct kmem_cache *ksmdev_kpage_cache;
static struct crypto_shash *ksmdev_sha1_tfm;

/* Kernel pages held (entries alive) and unstable items: for the stats. */
static atomic_long_t ksmdev_nr_kpages = ATOMIC_LONG_INIT(0);
static atomic_long_t ksmdev_nr_items = ATOMIC_LONG_INIT(0);

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

static struct ksmdev_pfn_bucket *ksmdev_pfn_bucket_of(unsigned long pfn)
{
	return &ksmdev_pfn_buckets[hash_long(pfn, ilog2(ksmdev_npfn_buckets))];
}

/* A table size: the parameter rounded up to a power of two, or a share of RAM. */
static unsigned long ksmdev_table_size(unsigned long param, unsigned long ram_div,
				       unsigned long min, unsigned long max)
{
	unsigned long n = param ? param : totalram_pages() / ram_div;

	return roundup_pow_of_two(clamp(n, min, max));
}

/**
 * ksmdev_hash_init - allocate the tables, slab caches and the SHA-1 transform
 *
 * Sizes come from the page_hash_size and sha1_hash_size parameters or, when
 * they are zero, from the amount of RAM. Returns 0 or a negative errno, with
 * nothing left allocated.
 */
int ksmdev_hash_init(void)
{
	unsigned long i;

	ksmdev_nbuckets = ksmdev_table_size(ksmdev_page_hash_size, 4, 1024, 1UL << 26);
	ksmdev_npfn_buckets = ksmdev_table_size(ksmdev_sha1_hash_size, 16, 256, 1UL << 24);
	ksmdev_page_hash_size = ksmdev_nbuckets;
	ksmdev_sha1_hash_size = ksmdev_npfn_buckets;
	ksmdev_hash_seed = get_random_u32();

	ksmdev_buckets = vmalloc_array(ksmdev_nbuckets, sizeof(*ksmdev_buckets));
	ksmdev_pfn_buckets = vmalloc_array(ksmdev_npfn_buckets, sizeof(*ksmdev_pfn_buckets));
	ksmdev_item_cache = KMEM_CACHE(ksmdev_item, 0);
	ksmdev_kpage_cache = KMEM_CACHE(ksmdev_kpage, 0);
	if (!ksmdev_buckets || !ksmdev_pfn_buckets || !ksmdev_item_cache || !ksmdev_kpage_cache)
		goto nomem;

	ksmdev_sha1_tfm = crypto_alloc_shash("sha1", 0, 0);
	if (IS_ERR(ksmdev_sha1_tfm)) {
		int ret = PTR_ERR(ksmdev_sha1_tfm);

		pr_err("cannot allocate the sha1 transform: %d\n", ret);
		ksmdev_sha1_tfm = NULL;
		ksmdev_hash_exit();
		return ret;
	}

	for (i = 0; i < ksmdev_nbuckets; i++) {
		spin_lock_init(&ksmdev_buckets[i].lock);
		INIT_HLIST_HEAD(&ksmdev_buckets[i].stable);
		INIT_HLIST_HEAD(&ksmdev_buckets[i].unstable);
	}
	for (i = 0; i < ksmdev_npfn_buckets; i++) {
		spin_lock_init(&ksmdev_pfn_buckets[i].lock);
		INIT_HLIST_HEAD(&ksmdev_pfn_buckets[i].head);
	}
	return 0;

nomem:
	ksmdev_hash_exit();
	return -ENOMEM;
}

/* Drop a kpage entry from both tables. Caller holds its bucket's lock. */
static void ksmdev_kpage_unhash(struct ksmdev_kpage *kp)
{
	struct ksmdev_pfn_bucket *pb = ksmdev_pfn_bucket_of(page_to_pfn(kp->page));

	hlist_del(&kp->node);
	spin_lock(&pb->lock);
	hlist_del(&kp->pfn_node);
	spin_unlock(&pb->lock);
	kp->hashed = false;
}

/**
 * ksmdev_hash_exit - free everything ksmdev_hash_init() set up
 *
 * Called at unload, when no region is left (so no unstable item) and no
 * scanner runs. Kernel pages still mapped by processes live on: dropping the
 * module's reference leaves them to the mappings, and the last unmap frees
 * them like any page.
 */
void ksmdev_hash_exit(void)
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
			ksmdev_kpage_unhash(kp);
			spin_unlock(&b->lock);
			ksmdev_kpage_put(kp);
		}
		if (!(i % 4096))
			cond_resched();
	}
	if (ksmdev_sha1_tfm)
		crypto_free_shash(ksmdev_sha1_tfm);
	ksmdev_sha1_tfm = NULL;
	kmem_cache_destroy(ksmdev_kpage_cache);
	kmem_cache_destroy(ksmdev_item_cache);
	ksmdev_kpage_cache = NULL;
	ksmdev_item_cache = NULL;
	vfree(ksmdev_pfn_buckets);
	vfree(ksmdev_buckets);
	ksmdev_pfn_buckets = NULL;
	ksmdev_buckets = NULL;
}

/* ksmdev_hash_page - the content hash (ksmdev_checksum()) of @page. */
u32 ksmdev_hash_page(struct page *page)
{
	void *addr = ksmdev_kmap(page);
	u32 hash = ksmdev_checksum(addr, ksmdev_hash_seed);

	ksmdev_kunmap(addr);
	return hash;
}

/* ksmdev_sha1_page - SHA-1 digest of the whole content of @page. */
void ksmdev_sha1_page(struct page *page, u8 *digest)
{
	void *addr = ksmdev_kmap(page);

	crypto_shash_tfm_digest(ksmdev_sha1_tfm, addr, PAGE_SIZE, digest);
	ksmdev_kunmap(addr);
	ksmdev_count(sha1_computed);
}

/*
 * Are the contents of two pages identical? Any context. Equality is all we
 * need, so compare a cache line at a time with no branch per word: half the
 * instructions of memcmp(), which orders too.
 */
bool ksmdev_pages_identical(struct page *a, struct page *b)
{
	const u64 *pa = ksmdev_kmap(a);
	const u64 *pb = ksmdev_kmap(b);
	bool same = true;
	unsigned int i;

	for (i = 0; i < PAGE_SIZE / sizeof(u64); i += 8) {
		if ((pa[i] ^ pb[i]) | (pa[i + 1] ^ pb[i + 1]) |
		    (pa[i + 2] ^ pb[i + 2]) | (pa[i + 3] ^ pb[i + 3]) |
		    (pa[i + 4] ^ pb[i + 4]) | (pa[i + 5] ^ pb[i + 5]) |
		    (pa[i + 6] ^ pb[i + 6]) | (pa[i + 7] ^ pb[i + 7])) {
			same = false;
			break;
		}
	}
	ksmdev_kunmap(pb);
	ksmdev_kunmap(pa);
	return same;
}

/**
 * ksmdev_kpage_sha1 - the SHA-1 cache entry of @kp, computed on first use
 *
 * The digest only pays for itself when several kernel pages share a hash
 * (one digest of the scanned page then tells them apart); making it for every
 * kernel page cost most of the merge time (docs/performance.md). Returns NULL
 * while another task computes it: the caller compares the pages instead.
 * Any context; no locks needed.
 */
const u8 *ksmdev_kpage_sha1(struct ksmdev_kpage *kp)
{
	/* Pairs with the release below: VALID means the digest is all written. */
	int state = smp_load_acquire(&kp->sha1_state);

	if (state == KSMDEV_SHA1_VALID)
		return kp->sha1;
	if (state != KSMDEV_SHA1_NONE ||
	    cmpxchg(&kp->sha1_state, KSMDEV_SHA1_NONE, KSMDEV_SHA1_BUSY) != KSMDEV_SHA1_NONE)
		return NULL;
	ksmdev_sha1_page(kp->page, kp->sha1);
	/* Publish the digest before the state that says it is there. */
	smp_store_release(&kp->sha1_state, KSMDEV_SHA1_VALID);
	return kp->sha1;
}

/**
 * ksmdev_kpage_create - make a kernel page entry for a freshly filled page
 * @page: a page the caller allocated (refcount 1), not anonymous, whose
 *	content will never change again; the entry takes over the reference
 * @domain: the merge domain it serves
 * @nid: the node whose pages may map it, or -1 for any
 *
 * Computes the page's content hash once, for the life of the page (its SHA-1 is
 * made on first use, ksmdev_kpage_sha1()). The entry is not in the tables
 * yet (ksmdev_kpage_insert()) and the caller holds its one reference. Returns NULL (and frees @page) when out of memory.
 */
struct ksmdev_kpage *ksmdev_kpage_create(struct page *page, u32 domain, int nid)
{
	struct ksmdev_kpage *kp = kmem_cache_zalloc(ksmdev_kpage_cache, GFP_KERNEL);

	if (!kp) {
		put_page(page);
		return NULL;
	}
	kref_init(&kp->ref);
	kp->page = page;
	kp->hash = ksmdev_hash_page(page);
	kp->domain = domain;
	kp->nid = nid;
	kp->bucket = ksmdev_bucket_index(kp->hash, nid);
	atomic_long_inc(&ksmdev_nr_kpages);
	ksmdev_count(kpages_created);
	return kp;
}

/* Make @kp findable by content and by pfn; the tables take a reference. */
void ksmdev_kpage_insert(struct ksmdev_kpage *kp)
{
	struct ksmdev_bucket *b = &ksmdev_buckets[kp->bucket];
	struct ksmdev_pfn_bucket *pb = ksmdev_pfn_bucket_of(page_to_pfn(kp->page));

	kref_get(&kp->ref);
	spin_lock(&b->lock);
	hlist_add_head(&kp->node, &b->stable);
	spin_lock(&pb->lock);
	hlist_add_head(&kp->pfn_node, &pb->head);
	spin_unlock(&pb->lock);
	kp->hashed = true;
	spin_unlock(&b->lock);
}

static void ksmdev_kpage_release(struct kref *ref)
{
	struct ksmdev_kpage *kp = container_of(ref, struct ksmdev_kpage, ref);

	put_page(kp->page);
	kmem_cache_free(ksmdev_kpage_cache, kp);
	atomic_long_dec(&ksmdev_nr_kpages);
}

/* Drop a reference to @kp; the last one gives the page reference back. */
void ksmdev_kpage_put(struct ksmdev_kpage *kp)
{
	kref_put(&kp->ref, ksmdev_kpage_release);
}

/**
 * ksmdev_kpage_is_ours - is @page one of the module's kernel pages?
 *
 * Any context (takes a pfn bucket spinlock; callers hold a PTE lock).
 */
bool ksmdev_kpage_is_ours(struct page *page)
{
	struct ksmdev_pfn_bucket *pb = ksmdev_pfn_bucket_of(page_to_pfn(page));
	struct ksmdev_kpage *kp;
	bool found = false;

	spin_lock(&pb->lock);
	hlist_for_each_entry(kp, &pb->head, pfn_node) {
		if (kp->page == page) {
			found = true;
			break;
		}
	}
	spin_unlock(&pb->lock);
	return found;
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
			ksmdev_kpage_unhash(kp);
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
void ksmdev_kpage_sweep_cancel(void)
{
	atomic_set(&ksmdev_sweep_rounds, 0);
	cancel_delayed_work_sync(&ksmdev_sweep_work);
}

/* Memory the tables and their entries take (for general_profit). */
size_t ksmdev_hash_metadata_bytes(void)
{
	return ksmdev_nbuckets * sizeof(struct ksmdev_bucket) +
	       ksmdev_npfn_buckets * sizeof(struct ksmdev_pfn_bucket) +
	       atomic_long_read(&ksmdev_nr_items) * sizeof(struct ksmdev_item) +
	       atomic_long_read(&ksmdev_nr_kpages) * sizeof(struct ksmdev_kpage);
}

/* Number of kernel pages the module holds a reference to. */
unsigned long ksmdev_kpages_held(void)
{
	return atomic_long_read(&ksmdev_nr_kpages);
}

/*
 * ksmdev_hash_fill - table statistics for KSM_GET_STATS and sysfs
 *
 * Walks every bucket (under its lock, one at a time): pages_shared and
 * pages_sharing are counted from the kernel pages' current map counts, since
 * mappings go away (COW, unmap) without telling the module.
 */
void ksmdev_hash_fill(struct ksm_stats *st)
{
	unsigned long i;

	st->hash_buckets = ksmdev_nbuckets;
	st->unstable_pages = atomic_long_read(&ksmdev_nr_items);
	st->kpages_held = atomic_long_read(&ksmdev_nr_kpages);
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
