// SPDX-License-Identifier: GPL-2.0
/*
 * The content table: by content hash (ksmdev_checksum() of a page), merge
 * domain and node (when merging per node), the kernel pages already shared
 * ("stable") and the pages waiting for a twin ("unstable" items). Also the
 * sweep that takes kernel pages nobody maps any more out of the table and
 * gives them back, and the table's statistics.
 *
 * The table grows and shrinks with what is in it: it starts at its smallest
 * (256 buckets, or page_hash_size), and a work item resizes it to about two
 * entries per bucket (rehashing everything under ksmdev_table_sem held for
 * writing) when the entries per bucket leave [1/4, 4]: a bucket costs 12
 * bytes per entry, which with the 48 bytes of an item keeps a tracked page
 * within the 64 bytes of mainline's rmap_item. Every access holds the
 * semaphore for reading, which costs a per-CPU increment.
 */
#include "ksm_internal.h"

#include <linux/jhash.h>
#include <linux/log2.h>
#include <linux/moduleparam.h>
#include <linux/percpu-rwsem.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

/* The table's size limits, as powers of two: 256 buckets (6 KiB) up to 2^24. */
#define KSMDEV_TABLE_MIN_BITS	8
#define KSMDEV_TABLE_MAX_BITS	24

/*
 * The 2008 driver's page_hash_size fixed the table's size; here it is the
 * smallest size the table shrinks to (default and least: 256 buckets).
 */
static unsigned long ksmdev_page_hash_size;
module_param_named(page_hash_size, ksmdev_page_hash_size, ulong, 0444);
MODULE_PARM_DESC(page_hash_size,
		 "Smallest size of the content table, which grows with what it holds (default 256 buckets; rounded up to a power of two)");

/* The least number of bits: from page_hash_size, set at init. */
static unsigned int ksmdev_table_min_bits = KSMDEV_TABLE_MIN_BITS;

/* A bucket of the content table. */
struct ksmdev_bucket {
	spinlock_t lock;		/* the lists and the count */
	unsigned int nr_unstable;	/* items in @unstable: no walk to count them */
	struct hlist_head stable;	/* ksmdev_kpage.node */
	struct hlist_head unstable;	/* ksmdev_item.node */
};

/* Read for any access to the buckets, written to resize them. */
static struct percpu_rw_semaphore ksmdev_table_sem;

/* The buckets: 1 << ksmdev_table_bits of them. ksmdev_table_sem. */
static struct ksmdev_bucket *ksmdev_buckets;
static unsigned int ksmdev_table_bits;

/* Entries (kernel pages and filed items) in the table, and filed items alone. */
static atomic_long_t ksmdev_table_entries = ATOMIC_LONG_INIT(0);
static atomic_long_t ksmdev_nr_filed = ATOMIC_LONG_INIT(0);

static void ksmdev_table_resize_workfn(struct work_struct *work);
static DECLARE_WORK(ksmdev_table_resize_work, ksmdev_table_resize_workfn);

/*
 * What the last sweep counted (a full pass ends with one), for the
 * statistics: reading them must not walk the table. Written by the sweep
 * under ksmdev_snap_lock, read under it.
 */
static DEFINE_SPINLOCK(ksmdev_snap_lock);
static struct {
	u64 pages_shared;
	u64 pages_sharing;
	u64 hash_used;
	u64 hash_max_chain;
} ksmdev_snap;

/*
 * When the last sweep ended and how long it took (jiffies), for
 * ksmdev_sweep_schedule(). Written by each sweep, read without a lock (sweeps
 * may run at once: an approximate value is enough).
 */
static unsigned long ksmdev_sweep_end, ksmdev_sweep_len;

/*
 * Kernel pages marked hardware-poisoned, out of the content table (no new
 * process may map one) but not yet unmapped everywhere: the scanner unmaps
 * them from the regions it knows (ksmdev_poison_target()), and the sweep
 * drops each one once nothing maps it. Each holds the table's reference.
 * ksmdev_poisoned_lock.
 */
static DEFINE_SPINLOCK(ksmdev_poisoned_lock);
static HLIST_HEAD(ksmdev_poisoned);

static void ksmdev_kpage_sweep_cancel(void);
static void ksmdev_sweep_idle_arm(void);

/*
 * The bucket of content @hash in @domain for pages of node @nid (-1: any
 * node): each domain, and with merge_across_nodes off each node, chains in
 * buckets of its own. ksmdev_table_sem held.
 */
static struct ksmdev_bucket *ksmdev_bucket_of(u32 hash, u64 domain, int nid)
{
	return &ksmdev_buckets[jhash_3words(hash, (u32)domain, (u32)nid, (u32)(domain >> 32)) >>
			       (32 - ksmdev_table_bits)];
}

static struct ksmdev_bucket *ksmdev_kpage_bucket(struct ksmdev_kpage *kp)
{
	return ksmdev_bucket_of(kp->hash, kp->domain, kp->nid);
}

static struct ksmdev_bucket *ksmdev_item_bucket(struct ksmdev_item *it)
{
	return ksmdev_bucket_of(it->hash, it->region->domain, it->nid);
}

/* A bucket array of 1 << @bits empty buckets, or NULL. */
static struct ksmdev_bucket *ksmdev_buckets_alloc(unsigned int bits)
{
	struct ksmdev_bucket *b;
	unsigned long i;

	b = kvmalloc_array(1UL << bits, sizeof(*b), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!b)
		return NULL;
	for (i = 0; i < (1UL << bits); i++) {
		spin_lock_init(&b[i].lock);
		INIT_HLIST_HEAD(&b[i].stable);
		INIT_HLIST_HEAD(&b[i].unstable);
		b[i].nr_unstable = 0;
	}
	return b;
}

/**
 * ksmdev_table_init - the content table at its smallest
 *
 * Returns 0 or -ENOMEM, with nothing left allocated.
 */
int ksmdev_table_init(void)
{
	int ret = percpu_init_rwsem(&ksmdev_table_sem);

	if (ret)
		return ret;
	ksmdev_table_min_bits = clamp_t(unsigned int, order_base_2(ksmdev_page_hash_size),
					KSMDEV_TABLE_MIN_BITS, KSMDEV_TABLE_MAX_BITS);
	ksmdev_page_hash_size = 1UL << ksmdev_table_min_bits;
	ksmdev_table_bits = ksmdev_table_min_bits;
	ksmdev_buckets = ksmdev_buckets_alloc(ksmdev_table_bits);
	if (!ksmdev_buckets) {
		percpu_free_rwsem(&ksmdev_table_sem);
		return -ENOMEM;
	}
	return 0;
}

/* Take kernel page @kp out of bucket @b. Bucket lock held. */
static void ksmdev_kpage_unhash(struct ksmdev_bucket *b, struct ksmdev_kpage *kp)
{
	lockdep_assert_held(&b->lock);
	hlist_del(&kp->node);
	kp->hashed = false;
}

/**
 * ksmdev_table_exit - free everything ksmdev_table_init() set up
 *
 * Called at unload, when no region is left (so no filed item) and no
 * scanner runs. Kernel pages still mapped by processes live on: dropping the
 * module's reference leaves them to the mappings, and the last unmap frees
 * them like any page.
 */
void ksmdev_table_exit(void)
{
	struct ksmdev_kpage *kp;
	struct hlist_node *tmp;
	unsigned long i;

	ksmdev_kpage_sweep_cancel();
	cancel_work_sync(&ksmdev_table_resize_work);
	for (i = 0; i < (1UL << ksmdev_table_bits); i++) {
		struct ksmdev_bucket *b = &ksmdev_buckets[i];

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
	hlist_for_each_entry_safe(kp, tmp, &ksmdev_poisoned, node) {
		hlist_del(&kp->node);
		ksmdev_kpage_put(kp);
	}
	kvfree(ksmdev_buckets);
	ksmdev_buckets = NULL;
	percpu_free_rwsem(&ksmdev_table_sem);
}

/*
 * ksmdev_table_resize_workfn - resize the table to about two entries per bucket
 *
 * Allocates the new buckets first, then rehashes every entry with
 * ksmdev_table_sem held for writing (table accesses wait meanwhile).
 */
static void ksmdev_table_resize_workfn(struct work_struct *work)
{
	unsigned long n = atomic_long_read(&ksmdev_table_entries), i;
	struct ksmdev_bucket *old, *new;
	unsigned int bits, old_bits;

	bits = clamp_t(unsigned int, n > 1 ? order_base_2(n / 2) : 0,
		       ksmdev_table_min_bits, KSMDEV_TABLE_MAX_BITS);
	if (bits == READ_ONCE(ksmdev_table_bits))
		return;
	new = ksmdev_buckets_alloc(bits);
	if (!new)
		return;		/* keep the table as it is: longer chains, nothing worse */

	percpu_down_write(&ksmdev_table_sem);
	old = ksmdev_buckets;
	old_bits = ksmdev_table_bits;
	ksmdev_buckets = new;
	ksmdev_table_bits = bits;
	for (i = 0; i < (1UL << old_bits); i++) {
		struct ksmdev_kpage *kp;
		struct ksmdev_item *it;
		struct hlist_node *tmp;

		hlist_for_each_entry_safe(kp, tmp, &old[i].stable, node) {
			hlist_del(&kp->node);
			hlist_add_head(&kp->node, &ksmdev_kpage_bucket(kp)->stable);
		}
		hlist_for_each_entry_safe(it, tmp, &old[i].unstable, node) {
			struct ksmdev_bucket *b = ksmdev_item_bucket(it);

			hlist_del(&it->node);
			hlist_add_head(&it->node, &b->unstable);
			b->nr_unstable++;
		}
		if (!(i % 4096))
			cond_resched();	/* up to 2^24 buckets; the semaphore sleeps */
	}
	percpu_up_write(&ksmdev_table_sem);
	kvfree(old);
}

/*
 * An entry came in (@n = 1) or went (@n = -1): ask for a resize when the
 * entries per bucket leave [1/4, 4]. ksmdev_table_sem held for reading.
 */
static void ksmdev_table_count(long n)
{
	long entries = atomic_long_add_return(n, &ksmdev_table_entries);
	unsigned long size = 1UL << ksmdev_table_bits;

	if ((entries > 4 * size && ksmdev_table_bits < KSMDEV_TABLE_MAX_BITS) ||
	    (entries < size / 4 && ksmdev_table_bits > ksmdev_table_min_bits))
		queue_work(system_unbound_wq, &ksmdev_table_resize_work);
}

/*
 * ksmdev_table_add_kpage - make @kp findable by content
 *
 * The table takes a reference, which the sweep drops once no process maps
 * the page any more.
 */
void ksmdev_table_add_kpage(struct ksmdev_kpage *kp)
{
	struct ksmdev_bucket *b;

	kref_get(&kp->ref);
	percpu_down_read(&ksmdev_table_sem);
	b = ksmdev_kpage_bucket(kp);
	spin_lock(&b->lock);
	hlist_add_head(&kp->node, &b->stable);
	kp->hashed = true;
	spin_unlock(&b->lock);
	ksmdev_table_count(1);
	percpu_up_read(&ksmdev_table_sem);
}

/**
 * ksmdev_table_move_kpage - the kernel page that takes over from @kp, whose
 * block is being emptied (ksmdev_kpool_evacuating())
 * @mm: the process of the sharer about to move (5.10 charges its cgroup)
 *
 * On the first call, a copy of @kp in a fuller block takes @kp's place in
 * the table: new sharers go to the copy, @kp's own move over as the scanners
 * pass them (ksmdev_move_target()), and @kp, still in its bucket's list but
 * no candidate any more, is swept once none is left. If the copy is let go
 * of while @kp lives on (ksmdev_kpage_let_copy_go()), @kp is a candidate
 * again and the next call makes a new copy. Returns the copy,
 * referenced, or NULL when @kp is out of the table (poisoned) or no copy can
 * be made now (memory, the cgroup's limit): then nothing moves; or
 * ERR_PTR(-EHWPOISON) when making the copy met hardware poison in @kp
 * (ksmdev_kpage_copy_kpage()): nothing is to read or map @kp any more.
 * Takes the bucket lock; may sleep (outside it) to make the copy.
 */
struct ksmdev_kpage *ksmdev_table_move_kpage(struct ksmdev_kpage *kp, struct mm_struct *mm)
{
	struct ksmdev_kpage *to = NULL, *copy = NULL;
	struct ksmdev_bucket *b;
	bool hashed;

	for (;;) {
		percpu_down_read(&ksmdev_table_sem);
		b = ksmdev_kpage_bucket(kp);
		spin_lock(&b->lock);
		hashed = kp->hashed && !PageHWPoison(kp->page);
		to = kp->moved_to;
		if (!to && copy && hashed) {
			/* The copy's first reference is @kp's; one more for the table. */
			kp->moved_to = copy;
			kref_get(&copy->ref);
			hlist_add_head(&copy->node, &b->stable);
			copy->hashed = true;
			to = copy;
			copy = NULL;
			ksmdev_count(kpages_moved);
			ksmdev_table_count(1);
		}
		if (to)
			kref_get(&to->ref);
		spin_unlock(&b->lock);
		percpu_up_read(&ksmdev_table_sem);
		if (to || copy || !hashed)
			break;
		copy = ksmdev_kpage_copy_kpage(kp, mm);
		if (IS_ERR_OR_NULL(copy))
			return copy;
	}
	if (copy)
		ksmdev_kpage_put(copy);	/* another task moved it first, or it left */
	return to;
}

/*
 * ksmdev_stable_candidates - kernel pages that may hold the content @hash
 * @nid: only pages on this node, or -1 for any node
 *
 * Fills @out with up to @max referenced entries (ksmdev_kpage_put() each).
 */
int ksmdev_stable_candidates(u32 hash, u64 domain, int nid,
			     struct ksmdev_kpage **out, int max)
{
	struct ksmdev_bucket *b;
	struct ksmdev_kpage *kp;
	int n = 0;

	percpu_down_read(&ksmdev_table_sem);
	b = ksmdev_bucket_of(hash, domain, nid);
	spin_lock(&b->lock);
	hlist_for_each_entry(kp, &b->stable, node) {
		if (kp->hash != hash || kp->domain != domain || kp->nid != nid ||
		    kp->moved_to || PageHWPoison(kp->page))
			continue;
		kref_get(&kp->ref);
		out[n++] = kp;
		if (n == max)
			break;
	}
	spin_unlock(&b->lock);
	percpu_up_read(&ksmdev_table_sem);
	return n;
}

/*
 * ksmdev_unstable_candidates - pages waiting in the table with content @hash
 * @self: the item of the page being scanned (its region locked by the
 *	caller), which is not its own twin
 * @nid: the node they must be on, or -1 for any
 * @settled_only: only pages whose content was the same on two passes
 *
 * Each candidate's region is referenced (ksmdev_region_put()) and locked for
 * the caller: taken here (@out[i].locked; the caller unlocks it) unless it is
 * @self's region or one an earlier candidate took. Candidates whose region
 * another task holds are left out. Returns how many were put in @out (at most
 * @max).
 */
int ksmdev_unstable_candidates(struct ksmdev_item *self, u32 hash, int nid, bool settled_only,
			       struct ksmdev_cand *out, int max)
{
	u64 domain = self->region->domain;
	struct ksmdev_bucket *b;
	struct ksmdev_item *it;
	int n = 0, i;

	percpu_down_read(&ksmdev_table_sem);
	b = ksmdev_bucket_of(hash, domain, nid);
	spin_lock(&b->lock);
	hlist_for_each_entry(it, &b->unstable, node) {
		struct ksmdev_region *r = it->region;
		bool held = r == self->region;

		if (it == self || it->hash != hash || r->domain != domain || it->nid != nid ||
		    (settled_only && !(READ_ONCE(it->flags) & KSMDEV_IT_SETTLED)) ||
		    READ_ONCE(r->dead))
			continue;
		for (i = 0; i < n && !held; i++)
			held = out[i].it->region == r;
		if (!held && !mutex_trylock(&r->lock))
			continue;
		ksmdev_region_get(r);
		out[n].it = it;
		out[n].region = r;
		out[n].locked = !held;
		if (++n == max)
			break;
	}
	spin_unlock(&b->lock);
	percpu_up_read(&ksmdev_table_sem);
	return n;
}

/*
 * ksmdev_item_unfile - take @it out of the content table, if it is there
 *
 * Region lock held.
 */
void ksmdev_item_unfile(struct ksmdev_item *it)
{
	struct ksmdev_bucket *b;

	lockdep_assert_held(&it->region->lock);
	if (!(it->flags & KSMDEV_IT_FILED))
		return;
	percpu_down_read(&ksmdev_table_sem);
	b = ksmdev_item_bucket(it);
	spin_lock(&b->lock);
	hlist_del(&it->node);
	b->nr_unstable--;
	WRITE_ONCE(it->flags, it->flags & ~(KSMDEV_IT_FILED | KSMDEV_IT_SETTLED));
	spin_unlock(&b->lock);
	ksmdev_table_count(-1);
	percpu_up_read(&ksmdev_table_sem);
	atomic_long_dec(&ksmdev_nr_filed);
}

/*
 * ksmdev_item_file - file @it in the content table as @hash
 * @nid: the node its twins must be on, or -1 for any
 *
 * Moves it if it was there under another hash or node. Region lock held.
 * Returns whether it was already there with this same content (it is then
 * marked settled: unchanged for two passes).
 */
bool ksmdev_item_file(struct ksmdev_item *it, u32 hash, int nid)
{
	struct ksmdev_bucket *b;

	lockdep_assert_held(&it->region->lock);
	if ((it->flags & KSMDEV_IT_FILED) && it->hash == hash && it->nid == nid) {
		if (!(it->flags & KSMDEV_IT_SETTLED))
			WRITE_ONCE(it->flags, it->flags | KSMDEV_IT_SETTLED);
		return true;
	}
	ksmdev_item_unfile(it);
	it->hash = hash;
	it->nid = nid;
	percpu_down_read(&ksmdev_table_sem);
	b = ksmdev_item_bucket(it);
	spin_lock(&b->lock);
	hlist_add_head(&it->node, &b->unstable);
	b->nr_unstable++;
	WRITE_ONCE(it->flags, it->flags | KSMDEV_IT_FILED);
	spin_unlock(&b->lock);
	ksmdev_table_count(1);
	percpu_up_read(&ksmdev_table_sem);
	atomic_long_inc(&ksmdev_nr_filed);
	return false;
}

/* Drop the poisoned kernel pages nothing maps any more (the allocator keeps them out of use). */
static void ksmdev_poisoned_sweep(void)
{
	struct ksmdev_kpage *kp;
	struct hlist_node *tmp;
	HLIST_HEAD(dead);

	spin_lock(&ksmdev_poisoned_lock);
	hlist_for_each_entry_safe(kp, tmp, &ksmdev_poisoned, node) {
		if (kref_read(&kp->ref) == 1 && !ksmdev_small_mapcount(kp->page)) {
			hlist_del(&kp->node);
			hlist_add_head(&kp->node, &dead);
		}
	}
	spin_unlock(&ksmdev_poisoned_lock);
	hlist_for_each_entry_safe(kp, tmp, &dead, node) {
		ksmdev_count(kpages_freed);
		ksmdev_kpage_put(kp);
	}
}

/*
 * @kp, which nothing uses any more, left its bucket (ksmdev_kpage_unhash()):
 * count it freed and drop the table's reference, which gives the page back
 * once no lookup holds it. ksmdev_table_sem held for reading.
 */
static void ksmdev_kpage_drop(struct ksmdev_kpage *kp)
{
	ksmdev_count(kpages_freed);
	ksmdev_table_count(-1);
	ksmdev_kpage_put(kp);
}

/*
 * ksmdev_kpage_unused - whether @kp is mapped nowhere and referenced only
 * @refs times (the table's reference, and its original's for a copy, or the
 * caller's lookup): no merge is mapping it now. The map count is stored in
 * *@maps. The count is read first: a merge maps the page before it drops the
 * reference it took (a release), so a map count read after seeing that drop
 * sees the mapping.
 * Bucket lock held: no content-table lookup takes a reference meanwhile (a
 * pfn-table lookup may, for a page still mapped: the map count tells).
 */
static bool ksmdev_kpage_unused(struct ksmdev_kpage *kp, unsigned int refs, int *maps)
{
	bool unused = kref_read(&kp->ref) == refs;

	smp_rmb();	/* the count before the map count: above */
	*maps = ksmdev_small_mapcount(kp->page);
	return unused && !*maps;
}

/*
 * ksmdev_kpage_let_copy_go - @kp's sharers moved to a copy (@kp->moved_to,
 * ksmdev_table_move_kpage()) that nothing uses any more but @kp's own
 * reference: its sharers all went (written to, unmapped, or moved on to a
 * copy of the copy when its block was emptied in turn). @kp lets go of it,
 * so that the copy is swept like any unused kernel page instead of being
 * kept, with its block, for as long as @kp lives (a sharer that is never
 * scanned, a fork child without a region, keeps @kp). A sharer of @kp found
 * later gets a new copy. A copy no sharer ever joined (the first move
 * failed) is kept: let go, it would be made again on every pass. Bucket
 * lock held: a copy is filed in the bucket of its original (same hash,
 * domain and node), and the table's reference keeps it alive.
 */
static void ksmdev_kpage_let_copy_go(struct ksmdev_kpage *kp)
{
	struct ksmdev_kpage *copy = kp->moved_to;
	int maps;

	if (!copy || (!READ_ONCE(copy->joined) && !copy->moved_to) ||
	    !ksmdev_kpage_unused(copy, 2, &maps))
		return;
	kp->moved_to = NULL;
	refcount_dec(&copy->ref.refcount);	/* @kp's; the table's is left */
}

/**
 * ksmdev_kpage_sweep - give back the kernel pages that nobody maps any more
 *
 * A kernel page loses mappings without the module hearing of it (a write
 * copies it, munmap or exit drops it). One that has no mapping left and is
 * not in use by a merge is taken out of the table and its reference dropped,
 * which frees it. One marked hardware-poisoned leaves the table at once (no
 * new sharer) and goes once its last mapping does. A copy made to empty a
 * block is let go by its original once unused (ksmdev_kpage_let_copy_go()).
 * Also counts what the statistics show of the table (pages shared and
 * sharing from the kernel pages' map counts, buckets used, longest chain).
 * Takes each bucket lock in turn; may sleep between buckets.
 */
void ksmdev_kpage_sweep(void)
{
	u64 shared = 0, sharing = 0, used = 0, max_chain = 0;
	unsigned long i, start = jiffies;

	percpu_down_read(&ksmdev_table_sem);
	for (i = 0; i < (1UL << ksmdev_table_bits); i++) {
		struct ksmdev_bucket *b = &ksmdev_buckets[i];
		struct ksmdev_kpage *kp;
		struct hlist_node *tmp;
		HLIST_HEAD(dead);
		u64 chain = 0;

		if (!(i % 4096))
			cond_resched();	/* also over a long run of empty buckets */
		if (hlist_empty(&b->stable) && hlist_empty(&b->unstable))
			continue;
		spin_lock(&b->lock);
		hlist_for_each_entry_safe(kp, tmp, &b->stable, node) {
			bool unused;
			int maps;

			ksmdev_kpage_let_copy_go(kp);
			unused = ksmdev_kpage_unused(kp, 1, &maps);

			if (PageHWPoison(kp->page)) {
				ksmdev_count(kpages_poisoned);
				ksmdev_kpage_unhash(b, kp);
				if (!unused) {
					ksmdev_table_count(-1);	/* out of the buckets */
					spin_lock(&ksmdev_poisoned_lock);
					hlist_add_head(&kp->node, &ksmdev_poisoned);
					spin_unlock(&ksmdev_poisoned_lock);
					continue;
				}
			}
			if (unused) {
				if (kp->hashed)
					ksmdev_kpage_unhash(b, kp);
				hlist_add_head(&kp->node, &dead);
				continue;
			}
			if (maps > 0) {
				shared++;
				sharing += maps - 1;
			}
			chain++;
		}
		chain += b->nr_unstable;
		spin_unlock(&b->lock);
		hlist_for_each_entry_safe(kp, tmp, &dead, node)
			ksmdev_kpage_drop(kp);
		used += chain > 0;
		max_chain = max(max_chain, chain);
	}
	percpu_up_read(&ksmdev_table_sem);

	spin_lock(&ksmdev_snap_lock);
	ksmdev_snap.pages_shared = shared;
	ksmdev_snap.pages_sharing = sharing;
	ksmdev_snap.hash_used = used;
	ksmdev_snap.hash_max_chain = max_chain;
	spin_unlock(&ksmdev_snap_lock);

	ksmdev_poisoned_sweep();
	ksmdev_kpool_maintain();
	WRITE_ONCE(ksmdev_sweep_len, jiffies - start);
	WRITE_ONCE(ksmdev_sweep_end, jiffies);
	ksmdev_sweep_idle_arm();
}

/*
 * Would one sweep cost less than giving back @pages kernel pages one by one
 * (ksmdev_kpages_unmapped())? When they are a quarter of the table's entries
 * or more: the sweep then costs a few times the work that unmapped them, and
 * walking the buckets in order is cheaper per entry than a lookup for each.
 */
bool ksmdev_sweep_cheaper(unsigned long pages)
{
	return pages >= atomic_long_read(&ksmdev_table_entries) / 4;
}

/**
 * ksmdev_kpages_unmapped - an unmerge took mappings of kernel pages away
 * @pfns: the kernel pages whose last mapping it took (@n of them)
 * @sharing: the mappings it took of kernel pages still mapped elsewhere
 *
 * Gives back at once those of @pfns that nothing uses any more, as the sweep
 * would, and takes what went off the statistics of the last sweep: an
 * unmerge shows at once and costs what it unmerged, not a walk of the whole
 * table. Takes each page's bucket lock in turn; process context.
 */
void ksmdev_kpages_unmapped(const unsigned long *pfns, unsigned int n, unsigned long sharing)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct ksmdev_kpage *kp = ksmdev_kpage_lookup(pfns[i]);
		struct ksmdev_bucket *b;
		bool unused;
		int maps;

		if (!kp)
			continue;
		percpu_down_read(&ksmdev_table_sem);
		b = ksmdev_kpage_bucket(kp);
		spin_lock(&b->lock);
		/* The table's reference and the lookup's only: no merge can map it now. */
		unused = kp->hashed && !PageHWPoison(kp->page) && ksmdev_kpage_unused(kp, 2, &maps);
		if (unused)
			ksmdev_kpage_unhash(b, kp);
		spin_unlock(&b->lock);
		if (unused)
			ksmdev_kpage_drop(kp);
		percpu_up_read(&ksmdev_table_sem);
		ksmdev_kpage_put(kp);	/* the lookup's, which frees it if it went */
	}
	spin_lock(&ksmdev_snap_lock);
	ksmdev_snap.pages_shared -= min_t(u64, ksmdev_snap.pages_shared, n);
	ksmdev_snap.pages_sharing -= min_t(u64, ksmdev_snap.pages_sharing, sharing);
	spin_unlock(&ksmdev_snap_lock);
}

/*
 * Deferred sweeps, in a work item. After regions go away: a process's pages
 * are unmapped after its regions are removed (exit_mmap() calls ->release
 * first), so the sweep runs a few times (@ksmdev_sweep_rounds) with growing
 * delays: 0.1 s, 0.5 s, 2.5 s. After a pass of a scan fd that scans only its
 * owner's domains: once. Callers cannot make them run more often than
 * ksmdev_sweep_schedule() allows.
 *
 * And while kernel pages are alive, at the latest KSMDEV_IDLE_SWEEP after
 * the last sweep: a kernel page can lose its last mapping when no pass is
 * there to notice (the last region went, and a fork child or an exit slower
 * than those rounds unmaps it later; kksmd stopped), and would stay, charged
 * and pinning its block, until some later pass. Where passes run, their
 * sweeps make these unneeded and they are skipped.
 */
#define KSMDEV_IDLE_SWEEP (10 * HZ)

static atomic_t ksmdev_sweep_rounds = ATOMIC_INIT(0);
/* A caller asked for the next run (ksmdev_sweep_schedule()), not only the idle timer. */
static atomic_t ksmdev_sweep_asked = ATOMIC_INIT(0);

static void ksmdev_sweep_workfn(struct work_struct *work);
static DECLARE_DELAYED_WORK(ksmdev_sweep_work, ksmdev_sweep_workfn);

/* The least time between the end of a sweep and the next: ten times its length. */
static unsigned long ksmdev_sweep_gap(void)
{
	return 10 * READ_ONCE(ksmdev_sweep_len);
}

/*
 * Have the deferred sweep run in @delay jiffies or later: not before ten
 * times the last sweep's duration has passed since it ended, so that what
 * callers ask for costs at most about a tenth of a CPU however often they
 * ask; and no later than it is due already, so that asking again and again
 * does not hold it off. That run sweeps (@ksmdev_sweep_asked). Any process
 * context.
 */
static void ksmdev_sweep_schedule(unsigned long delay)
{
	unsigned long now = jiffies, due = now + delay;
	unsigned long earliest = READ_ONCE(ksmdev_sweep_end) + ksmdev_sweep_gap();

	atomic_set(&ksmdev_sweep_asked, 1);
	if (time_after(earliest, due))
		due = earliest;
	/* Pending and due no later (or its timer fired already): leave it. */
	if (delayed_work_pending(&ksmdev_sweep_work) &&
	    !time_after(READ_ONCE(ksmdev_sweep_work.timer.expires), due))
		return;
	mod_delayed_work(system_wq, &ksmdev_sweep_work, due - now);
}

/*
 * When the idle sweep is due: KSMDEV_IDLE_SWEEP after the last sweep ended,
 * or ten times its duration if that is longer (as ksmdev_sweep_schedule()).
 */
static unsigned long ksmdev_sweep_idle_due(void)
{
	return READ_ONCE(ksmdev_sweep_end) + max_t(unsigned long, KSMDEV_IDLE_SWEEP, ksmdev_sweep_gap());
}

/*
 * While kernel pages are alive and no run is pending, have one run when the
 * idle sweep is due (called at the end of each sweep). Any process context.
 */
static void ksmdev_sweep_idle_arm(void)
{
	unsigned long due = ksmdev_sweep_idle_due(), now = jiffies;

	if (ksmdev_level(KSMDEV_LV_KPAGES) && !delayed_work_pending(&ksmdev_sweep_work))
		queue_delayed_work(system_wq, &ksmdev_sweep_work,
				   time_after(due, now) ? due - now : 0);
}

static void ksmdev_sweep_workfn(struct work_struct *work)
{
	int left;

	/* The idle timer, and a pass swept since: nothing to catch up on yet. */
	if (!atomic_xchg(&ksmdev_sweep_asked, 0) &&
	    time_before(jiffies, ksmdev_sweep_idle_due())) {
		ksmdev_sweep_idle_arm();
		return;
	}
	ksmdev_kpage_sweep();
	left = atomic_dec_if_positive(&ksmdev_sweep_rounds);
	if (left > 0)
		ksmdev_sweep_schedule(HZ / 10 * (left == 2 ? 5 : 25));
}

/* Regions went away: give back the kernel pages their processes stop mapping. */
void ksmdev_kpage_sweep_soon(void)
{
	atomic_set(&ksmdev_sweep_rounds, 3);
	ksmdev_sweep_schedule(HZ / 10);
}

/*
 * A scan fd limited to its owner's domains ended a pass: its owner's merges
 * show and the kernel pages they stopped mapping go by a sweep soon, which
 * its calls cannot make run more often (a synchronous one walked every
 * tenant's entries at each of them).
 */
void ksmdev_kpage_sweep_later(void)
{
	ksmdev_sweep_schedule(HZ / 10);
}

/* Wait for a pending deferred sweep (unload). */
static void ksmdev_kpage_sweep_cancel(void)
{
	atomic_set(&ksmdev_sweep_rounds, 0);
	cancel_delayed_work_sync(&ksmdev_sweep_work);
}

/* Memory the content table's buckets take (for general_profit). */
size_t ksmdev_table_metadata_bytes(void)
{
	return (1UL << READ_ONCE(ksmdev_table_bits)) * sizeof(struct ksmdev_bucket);
}

/*
 * ksmdev_table_fill - the table's statistics for KSM_GET_STATS and sysfs
 *
 * In constant time: the counts kept as entries come and go, and what the
 * last sweep found (pages_shared and pages_sharing come from the kernel
 * pages' map counts, since mappings go away - COW, unmap - without telling
 * the module; every full pass ends with a sweep).
 */
void ksmdev_table_fill(struct ksm_stats *st)
{
	st->hash_buckets = 1UL << READ_ONCE(ksmdev_table_bits);
	st->unstable_pages = atomic_long_read(&ksmdev_nr_filed);
	spin_lock(&ksmdev_snap_lock);
	st->pages_shared = ksmdev_snap.pages_shared;
	st->pages_sharing = ksmdev_snap.pages_sharing;
	st->hash_used = ksmdev_snap.hash_used;
	st->hash_max_chain = ksmdev_snap.hash_max_chain;
	spin_unlock(&ksmdev_snap_lock);
}
