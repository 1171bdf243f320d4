// SPDX-License-Identifier: GPL-2.0
/*
 * The pages kernel pages are made of, kept dense.
 *
 * A kernel page cannot be migrated (the kernel has no rmap for its
 * mappings), so wherever it sits, it keeps its pageblock from ever becoming
 * a huge page again. Allocated one by one, anywhere, a few hundred MiB of
 * them pin down many more pageblocks than they fill, and merging, copying on
 * write and unmerging for months scatter them further (issue 21: 45 huge
 * pages lost where the built-in KSM, whose pages migrate, lost 6).
 *
 * So they come from blocks of their own: 2 MiB (KSMDEV_KBLOCK_ORDER, the
 * pageblock of x86-64) allocated at once, an unmovable allocation of that
 * size taking a whole pageblock, and handed out page by page, fullest block
 * first. A page given back is kept for the next kernel page; a block with
 * nothing left in it goes back to the page allocator whole. A block that
 * churn leaves sparse is evacuated: no new kernel page is made in it, and
 * the scanners, as they pass its sharers, copy each of its kernel pages into
 * a fuller block and move the sharers over (ksmdev_table_move_kpage(),
 * ksmdev_move_target()); once empty it goes back whole too.
 *
 * A page comes back (ksmdev_kpool_free()) still charged to its cgroup when
 * its kernel page is released: nothing maps it, but a get_user_pages()
 * reference taken while it was mapped (an O_DIRECT write from a merged page,
 * say) may still read it, so it is uncharged and reused only once the
 * pool's reference is the last one; until then it waits in its slot, and
 * one that keeps waiting is left to its last holder to free. When no block
 * can be allocated (memory too fragmented already), a page is allocated on
 * its own, as before, and freed when its kernel page goes.
 *
 * One pool per NUMA node, each under its spinlock (taken with no other lock
 * of the module's nested inside, never while sleeping). Which block holds a
 * page is an xarray lookup (lock free for readers).
 */
#include "ksm_internal.h"

#include <linux/random.h>
#include <linux/slab.h>
#include <linux/xarray.h>

/* 2 MiB: the pageblock (and huge page) of x86-64, the only architecture the module builds for. */
#define KSMDEV_KBLOCK_ORDER	9
#define KSMDEV_KBLOCK_PAGES	(1 << KSMDEV_KBLOCK_ORDER)
#define KSMDEV_KBLOCK_LONGS	BITS_TO_LONGS(KSMDEV_KBLOCK_PAGES)
/* Partly used blocks are listed by used pages / (KSMDEV_KBLOCK_PAGES / CLASSES). */
#define KSMDEV_KPOOL_CLASSES	8
/* Blocks being evacuated at once, per node: bounds the copies in flight. */
#define KSMDEV_KPOOL_EVAC_MAX	16
/* Maintenance rounds (sweeps) a block may stay evacuating before it is used again. */
#define KSMDEV_KPOOL_EVAC_ROUNDS 16
/* Maintenance rounds a page may wait for its last outside reference before it is left to it. */
#define KSMDEV_KPOOL_WAIT_ROUNDS 64

/*
 * A block of KSMDEV_KBLOCK_PAGES pages (split into order-0 pages, each with
 * one reference the pool holds). A slot is free (in the pool), used (a
 * kernel page's, or waiting for outside references to go) or lost (its page
 * left to its last holder). All fields but the constants: the pool's lock.
 */
struct ksmdev_kblock {
	struct list_head list;		/* in one list of its pool (see struct ksmdev_kpool) */
	struct list_head wait_node;	/* in its pool's @waiting while nr_waiting > 0 */
	unsigned long pfn;		/* constant: the first page's */
	unsigned int nr_used;		/* used slots, lost ones included */
	unsigned int nr_lost;
	unsigned int nr_waiting;
	unsigned int rounds;		/* maintenance rounds spent evacuating */
	unsigned int wait_rounds;	/* maintenance rounds with waiting pages */
	bool evacuating;		/* no new kernel page here: being emptied */
	unsigned long used[KSMDEV_KBLOCK_LONGS];
	unsigned long lost[KSMDEV_KBLOCK_LONGS];
	unsigned long waiting[KSMDEV_KBLOCK_LONGS];
	struct rcu_head rcu;		/* freed after a grace period: see ksmdev_kpool_evacuating() */
};

/*
 * A node's blocks, each in exactly one list: @partial[c] (not evacuating,
 * some slot free, nr_used * CLASSES / PAGES == c), @full (no slot free),
 * @evacuating; those with waiting pages also in @waiting. Counts for the
 * statistics and the evacuation policy.
 */
struct ksmdev_kpool {
	spinlock_t lock;
	struct list_head partial[KSMDEV_KPOOL_CLASSES];
	struct list_head full;
	struct list_head evacuating;
	struct list_head waiting;
	unsigned long nr_blocks;	/* all blocks */
	unsigned long nr_used;		/* used slots of all blocks */
	unsigned long nr_free;		/* free slots of blocks not evacuating */
	unsigned int nr_evacuating;
};

static struct ksmdev_kpool *ksmdev_kpools;	/* [nr_node_ids], set at init */
/*
 * Block by pfn >> KSMDEV_KBLOCK_ORDER: stored before the block is in any list
 * (none of its pages handed out yet: nobody looks its pfns up), erased under
 * the pool lock, read locklessly.
 */
static DEFINE_XARRAY(ksmdev_kblocks);
/* Free slots of all pools, evacuating blocks included (what the pools hold unused). */
static atomic_long_t ksmdev_kpool_spare_pages = ATOMIC_LONG_INIT(0);

/* The list a block not evacuating belongs in, by how full it is. Pool lock held. */
static struct list_head *ksmdev_kblock_list(struct ksmdev_kpool *pool, struct ksmdev_kblock *b)
{
	if (b->evacuating)
		return &pool->evacuating;
	if (b->nr_used == KSMDEV_KBLOCK_PAGES)
		return &pool->full;
	return &pool->partial[b->nr_used * KSMDEV_KPOOL_CLASSES / KSMDEV_KBLOCK_PAGES];
}

/*
 * If @b holds nothing but lost slots (their pages left to their last
 * holders) and free ones, empty it as an evacuated block: the next
 * maintenance gives its free pages back (the lost ones go with their
 * holders). Else, on the full list or a partial one other than the emptiest,
 * where nothing looks for empty blocks, it would stay for ever, its lost
 * slots counted as used. Pool lock held.
 */
static void ksmdev_kblock_check_lost(struct ksmdev_kpool *pool, struct ksmdev_kblock *b)
{
	if (b->evacuating || !b->nr_lost || b->nr_used != b->nr_lost)
		return;
	b->evacuating = true;
	b->rounds = 0;
	pool->nr_evacuating++;
	pool->nr_free -= KSMDEV_KBLOCK_PAGES - b->nr_used;
	list_move(&b->list, &pool->evacuating);
}

/* Change @b's used count by @delta and keep it in the right list and counts. Pool lock held. */
static void ksmdev_kblock_used(struct ksmdev_kpool *pool, struct ksmdev_kblock *b, int delta)
{
	b->nr_used += delta;
	pool->nr_used += delta;
	if (!b->evacuating)
		pool->nr_free -= delta;
	atomic_long_sub(delta, &ksmdev_kpool_spare_pages);
	list_move(&b->list, ksmdev_kblock_list(pool, b));
	ksmdev_kblock_check_lost(pool, b);
}

/* Blocks a random slot is drawn from (ksmdev_kpool_take_random()). */
#define KSMDEV_KPOOL_RANDOM_BLOCKS 64

/* Take slot @slot (free) of @b. Pool lock held. */
static struct page *ksmdev_kblock_take(struct ksmdev_kpool *pool, struct ksmdev_kblock *b,
				       unsigned int slot)
{
	__set_bit(slot, b->used);
	ksmdev_kblock_used(pool, b, 1);
	return pfn_to_page(b->pfn + slot);
}

/*
 * Take a free slot drawn at random from those of up to
 * KSMDEV_KPOOL_RANDOM_BLOCKS blocks, the fullest first (so that where a
 * hardened domain's kernel page lands cannot be groomed by freeing chosen
 * pages, yet blocks stay dense); NULL if none. Pool lock held.
 */
static struct page *ksmdev_kpool_take_random(struct ksmdev_kpool *pool)
{
	struct ksmdev_kblock *b, *blocks[KSMDEV_KPOOL_RANDOM_BLOCKS];
	unsigned int n = 0, i, slot, free = 0, pick;
	int c;

	for (c = KSMDEV_KPOOL_CLASSES - 1; c >= 0 && n < ARRAY_SIZE(blocks); c--) {
		list_for_each_entry(b, &pool->partial[c], list) {
			blocks[n++] = b;
			free += KSMDEV_KBLOCK_PAGES - b->nr_used;
			if (n == ARRAY_SIZE(blocks))
				break;
		}
	}
	if (!free)
		return NULL;
	pick = reciprocal_scale(get_random_u32(), free);
	for (i = 0; pick >= KSMDEV_KBLOCK_PAGES - blocks[i]->nr_used; i++)
		pick -= KSMDEV_KBLOCK_PAGES - blocks[i]->nr_used;
	b = blocks[i];
	slot = find_first_zero_bit(b->used, KSMDEV_KBLOCK_PAGES);
	while (pick--)
		slot = find_next_zero_bit(b->used, KSMDEV_KBLOCK_PAGES, slot + 1);
	if (WARN_ON_ONCE(slot >= KSMDEV_KBLOCK_PAGES))
		return NULL;
	return ksmdev_kblock_take(pool, b, slot);
}

/* Take a free slot of the fullest block of @pool that has one; NULL if none. Pool lock held. */
static struct page *ksmdev_kpool_take(struct ksmdev_kpool *pool)
{
	int c;

	for (c = KSMDEV_KPOOL_CLASSES - 1; c >= 0; c--) {
		struct ksmdev_kblock *b;
		unsigned int slot;

		b = list_first_entry_or_null(&pool->partial[c], struct ksmdev_kblock, list);
		if (!b)
			continue;
		slot = find_first_zero_bit(b->used, KSMDEV_KBLOCK_PAGES);
		if (WARN_ON_ONCE(slot >= KSMDEV_KBLOCK_PAGES))
			return NULL;
		return ksmdev_kblock_take(pool, b, slot);
	}
	return NULL;
}

/*
 * A new block on node @nid, its page @slot taken: NULL when the allocator
 * has no free pageblock at hand. No direct reclaim or compaction, for the
 * block nor for its descriptor (the caller falls back to a single page; a
 * merge never reclaims, nor calls the OOM killer); the page allocator takes
 * a whole movable pageblock for an unmovable request this large rather than
 * mix. Takes the pool lock.
 */
static struct page *ksmdev_kpool_grow(struct ksmdev_kpool *pool, int nid, unsigned int slot)
{
	gfp_t gfp = (GFP_HIGHUSER | __GFP_THISNODE | __GFP_NOWARN | __GFP_NORETRY) &
		    ~__GFP_DIRECT_RECLAIM;
	struct ksmdev_kblock *b;
	struct page *page;

	b = kzalloc(sizeof(*b), (GFP_KERNEL | __GFP_NOWARN) & ~__GFP_DIRECT_RECLAIM);
	if (!b)
		return NULL;
	page = alloc_pages_node(nid, gfp, KSMDEV_KBLOCK_ORDER);
	if (!page) {
		kfree(b);
		return NULL;
	}
	split_page(page, KSMDEV_KBLOCK_ORDER);
	b->pfn = page_to_pfn(page);
	if (xa_err(xa_store(&ksmdev_kblocks, b->pfn >> KSMDEV_KBLOCK_ORDER, b,
			    (GFP_KERNEL | __GFP_NOWARN) & ~__GFP_DIRECT_RECLAIM))) {
		int i;

		for (i = 0; i < KSMDEV_KBLOCK_PAGES; i++)
			put_page(page + i);
		kfree(b);
		return NULL;
	}
	__set_bit(slot, b->used);
	b->nr_used = 1;
	spin_lock(&pool->lock);
	list_add(&b->list, ksmdev_kblock_list(pool, b));
	pool->nr_blocks++;
	pool->nr_used++;
	pool->nr_free += KSMDEV_KBLOCK_PAGES - 1;
	atomic_long_add(KSMDEV_KBLOCK_PAGES - 1, &ksmdev_kpool_spare_pages);
	spin_unlock(&pool->lock);
	return page + slot;
}

/* The block holding @pfn, or NULL. Stable while the pool's lock or rcu_read_lock() is held. */
static struct ksmdev_kblock *ksmdev_kblock_of(unsigned long pfn)
{
	return xa_load(&ksmdev_kblocks, pfn >> KSMDEV_KBLOCK_ORDER);
}

/*
 * Drop the pool's reference to @page, which leaves the pool: it goes with
 * its last reference, and its charge with it. A hardware-poisoned page may
 * never go (memory_failure() keeps the reference MADV_HWPOISON took, and on
 * 5.10 one it takes itself), and its charge would stay, in the cgroup's
 * parents once that is removed (on 5.10, keeping the cgroup itself): it is
 * uncharged now, as memory_failure() uncharges a poisoned page it takes off
 * the LRU. Any context that may take a spinlock.
 */
static void ksmdev_kpool_put(struct page *page)
{
	if (PageHWPoison(page))
		ksmdev_uncharge_kpage(page);
	put_page(page);
}

/* Give up slot @slot of @b: its page goes with its last reference. Pool lock held. */
static void ksmdev_kblock_lose_slot(struct ksmdev_kpool *pool, struct ksmdev_kblock *b,
				    unsigned int slot)
{
	__set_bit(slot, b->lost);
	b->nr_lost++;
	ksmdev_kpool_put(pfn_to_page(b->pfn + slot));
	ksmdev_kblock_check_lost(pool, b);
}

/**
 * ksmdev_kpool_alloc - a page for a new kernel page, on node @nid
 * @random: a slot drawn at random (for a hardened domain), not the first
 *
 * From the fullest block of the node's pool that has room, else from a new
 * block, else (no free pageblock) on its own. Not charged to any cgroup (the
 * caller charges it). May sleep (no reclaim). NULL when out of memory.
 */
struct page *ksmdev_kpool_alloc(int nid, bool random)
{
	struct ksmdev_kpool *pool;
	struct page *page;

	if (nid == NUMA_NO_NODE)
		nid = numa_mem_id();
	pool = &ksmdev_kpools[nid];
	spin_lock(&pool->lock);
	/* A free page found hardware-poisoned since it came back is never handed out. */
	while ((page = random ? ksmdev_kpool_take_random(pool) : ksmdev_kpool_take(pool)) &&
	       PageHWPoison(page)) {
		unsigned long pfn = page_to_pfn(page);
		struct ksmdev_kblock *b = ksmdev_kblock_of(pfn);

		ksmdev_kblock_lose_slot(pool, b, pfn - b->pfn);
	}
	spin_unlock(&pool->lock);
	if (page)
		return page;
	page = ksmdev_kpool_grow(pool, nid,
				 random ? reciprocal_scale(get_random_u32(), KSMDEV_KBLOCK_PAGES) : 0);
	if (page)
		return page;
	return alloc_pages_node(nid, (GFP_HIGHUSER | __GFP_NOWARN) & ~__GFP_DIRECT_RECLAIM, 0);
}

/* Slot @slot of @b is free again: its page uncharged, kept for the next kernel page. Pool lock held. */
static void ksmdev_kblock_release_slot(struct ksmdev_kpool *pool, struct ksmdev_kblock *b,
				       unsigned int slot)
{
	ksmdev_uncharge_kpage(pfn_to_page(b->pfn + slot));
	__clear_bit(slot, b->used);
	ksmdev_kblock_used(pool, b, -1);
}

/**
 * ksmdev_kpool_free - @page, mapped nowhere, is no kernel page any more
 *
 * @page is still charged: the charge goes when it is reused or freed (see
 * the top of this file), or when it leaves the pool poisoned.
 * A page of a block stays in the pool for the next kernel page once nobody
 * else holds a reference to it (until then it waits); a hardware-poisoned
 * one is never used again (its reference goes; the allocator keeps it out of
 * use). A page allocated on its own is freed, also when it lies in a block:
 * what makes a page the block's is its slot being used and not lost, not its
 * address. Any context that may take a spinlock.
 */
void ksmdev_kpool_free(struct page *page)
{
	unsigned long pfn = page_to_pfn(page);
	struct ksmdev_kpool *pool = &ksmdev_kpools[page_to_nid(page)];
	struct ksmdev_kblock *b;
	unsigned int slot;

	spin_lock(&pool->lock);
	b = ksmdev_kblock_of(pfn);
	slot = b ? pfn - b->pfn : 0;
	/*
	 * Not a slot in use: a page allocated on its own, which may be one of a
	 * block's lost pages, freed by its last holder and handed out again.
	 */
	if (!b || !test_bit(slot, b->used) || test_bit(slot, b->lost)) {
		spin_unlock(&pool->lock);
		ksmdev_kpool_put(page);
		return;
	}
	if (PageHWPoison(page)) {
		ksmdev_kblock_lose_slot(pool, b, slot);
	} else if (page_ref_count(page) != 1) {
		__set_bit(slot, b->waiting);
		if (!b->nr_waiting++)
			list_add(&b->wait_node, &pool->waiting);
	} else {
		ksmdev_kblock_release_slot(pool, b, slot);
	}
	spin_unlock(&pool->lock);
}

/*
 * Give block @b back to the page allocator: every page not lost (the
 * allocator merges them into the whole block again). Called without the
 * pool lock, the block out of its lists and the xarray.
 */
static void ksmdev_kblock_free(struct ksmdev_kblock *b)
{
	unsigned int i;

	for (i = 0; i < KSMDEV_KBLOCK_PAGES; i++)
		if (!test_bit(i, b->lost))
			put_page(pfn_to_page(b->pfn + i));
	kfree_rcu(b, rcu);
}

/* Take @b out of @pool (nothing used in it but lost slots). Pool lock held. */
static void ksmdev_kblock_remove(struct ksmdev_kpool *pool, struct ksmdev_kblock *b)
{
	unsigned int spare = KSMDEV_KBLOCK_PAGES - b->nr_used;

	list_del(&b->list);
	xa_erase(&ksmdev_kblocks, b->pfn >> KSMDEV_KBLOCK_ORDER);
	pool->nr_blocks--;
	pool->nr_used -= b->nr_used;
	if (b->evacuating)
		pool->nr_evacuating--;
	else
		pool->nr_free -= spare;
	atomic_long_sub(spare, &ksmdev_kpool_spare_pages);
}

/*
 * Waiting pages of @b whose outside references went are free now; waits
 * older than KSMDEV_KPOOL_WAIT_ROUNDS are given up. Pool lock held.
 */
static void ksmdev_kblock_recheck(struct ksmdev_kpool *pool, struct ksmdev_kblock *b)
{
	bool give_up = ++b->wait_rounds > KSMDEV_KPOOL_WAIT_ROUNDS;
	unsigned int slot;

	for_each_set_bit(slot, b->waiting, KSMDEV_KBLOCK_PAGES) {
		struct page *page = pfn_to_page(b->pfn + slot);

		if (PageHWPoison(page))
			ksmdev_kblock_lose_slot(pool, b, slot);
		else if (page_ref_count(page) == 1)
			ksmdev_kblock_release_slot(pool, b, slot);
		else if (give_up)
			ksmdev_kblock_lose_slot(pool, b, slot);
		else
			continue;
		__clear_bit(slot, b->waiting);
		b->nr_waiting--;
	}
	if (!b->nr_waiting) {
		list_del(&b->wait_node);
		b->wait_rounds = 0;
	}
}

/*
 * Pick the sparsest blocks of @pool to evacuate while, once the evacuations
 * under way are done, it would still hold more free slots than a block plus
 * a 32nd of what it uses; stop at half that slack. Evacuating a block
 * takes a block's worth of slots from the free ones (its own free slots,
 * and as many elsewhere as it has pages to move). Pool lock held.
 */
static void ksmdev_kpool_pick(struct ksmdev_kpool *pool)
{
	unsigned long slack = KSMDEV_KBLOCK_PAGES + pool->nr_used / 32;
	unsigned long free = pool->nr_free;
	struct ksmdev_kblock *b, *tmp;
	int c;

	list_for_each_entry(b, &pool->evacuating, list)
		free -= min_t(unsigned long, free, b->nr_used - b->nr_lost);
	if (free <= slack)
		return;
	for (c = 0; c < KSMDEV_KPOOL_CLASSES; c++) {
		list_for_each_entry_safe(b, tmp, &pool->partial[c], list) {
			if (free < slack / 2 + KSMDEV_KBLOCK_PAGES ||
			    pool->nr_evacuating >= KSMDEV_KPOOL_EVAC_MAX)
				return;
			if (b->nr_used == b->nr_lost)
				continue;	/* the empty block kept for new kernel pages */
			free -= KSMDEV_KBLOCK_PAGES;
			b->evacuating = true;
			b->rounds = 0;
			pool->nr_evacuating++;
			pool->nr_free -= KSMDEV_KBLOCK_PAGES - b->nr_used;
			list_move(&b->list, &pool->evacuating);
		}
	}
}

/*
 * One node's maintenance: waiting pages rechecked, empty blocks freed (but
 * one, kept for the next kernel pages), evacuations that do not finish given
 * up, new ones picked.
 */
static void ksmdev_kpool_maintain_one(struct ksmdev_kpool *pool)
{
	struct ksmdev_kblock *b, *tmp;
	bool keep_one = true;
	LIST_HEAD(dead);

	spin_lock(&pool->lock);
	list_for_each_entry_safe(b, tmp, &pool->waiting, wait_node)
		ksmdev_kblock_recheck(pool, b);
	list_for_each_entry_safe(b, tmp, &pool->evacuating, list) {
		if (b->nr_used != b->nr_lost && ++b->rounds > KSMDEV_KPOOL_EVAC_ROUNDS) {
			/* Sharers that are not scanned keep it: use it again. */
			b->evacuating = false;
			b->rounds = 0;
			pool->nr_evacuating--;
			pool->nr_free += KSMDEV_KBLOCK_PAGES - b->nr_used;
			list_move(&b->list, ksmdev_kblock_list(pool, b));
		}
	}
	/* Empty: nothing used but lost slots. Evacuated ones all go; of the others, all but one. */
	list_for_each_entry_safe(b, tmp, &pool->evacuating, list) {
		if (b->nr_used == b->nr_lost) {
			ksmdev_kblock_remove(pool, b);
			list_add(&b->list, &dead);
		}
	}
	list_for_each_entry_safe(b, tmp, &pool->partial[0], list) {
		if (b->nr_used != b->nr_lost)
			continue;
		if (keep_one && !b->nr_lost) {
			keep_one = false;
			continue;
		}
		ksmdev_kblock_remove(pool, b);
		list_add(&b->list, &dead);
	}
	ksmdev_kpool_pick(pool);
	spin_unlock(&pool->lock);

	list_for_each_entry_safe(b, tmp, &dead, list)
		ksmdev_kblock_free(b);
}

/**
 * ksmdev_kpool_maintain - the pools' periodic work (after each sweep)
 *
 * Reuses the pages whose outside references went, gives empty blocks back
 * to the page allocator and picks sparse blocks to evacuate. Takes each
 * pool's lock in turn. Process context.
 */
void ksmdev_kpool_maintain(void)
{
	int nid;

	for_each_node(nid)
		ksmdev_kpool_maintain_one(&ksmdev_kpools[nid]);
}

/**
 * ksmdev_kpool_evacuating - is the page at @pfn in a block being emptied?
 *
 * Its kernel page should move (ksmdev_table_move_kpage()). Any context; no
 * lock (the answer may be stale by the time it is used: moving a page is
 * never wrong, only a waste).
 */
bool ksmdev_kpool_evacuating(unsigned long pfn)
{
	struct ksmdev_kblock *b;
	bool ret;

	rcu_read_lock();
	b = ksmdev_kblock_of(pfn);
	ret = b && READ_ONCE(b->evacuating);
	rcu_read_unlock();
	return ret;
}

/* Free pages the pools hold for new kernel pages (a cost: statistics, general_profit). */
unsigned long ksmdev_kpool_spare(void)
{
	return atomic_long_read(&ksmdev_kpool_spare_pages);
}

/* Memory the block descriptors take (for metadata_bytes). */
size_t ksmdev_kpool_metadata_bytes(void)
{
	unsigned long blocks = 0;
	int nid;

	for_each_node(nid)
		blocks += READ_ONCE(ksmdev_kpools[nid].nr_blocks);
	return blocks * sizeof(struct ksmdev_kblock);
}

/* ksmdev_kpool_init - an empty pool per node. Returns 0 or -ENOMEM. */
int ksmdev_kpool_init(void)
{
	int nid, c;

	ksmdev_kpools = kcalloc(nr_node_ids, sizeof(*ksmdev_kpools), GFP_KERNEL);
	if (!ksmdev_kpools)
		return -ENOMEM;
	for (nid = 0; nid < nr_node_ids; nid++) {
		struct ksmdev_kpool *pool = &ksmdev_kpools[nid];

		spin_lock_init(&pool->lock);
		for (c = 0; c < KSMDEV_KPOOL_CLASSES; c++)
			INIT_LIST_HEAD(&pool->partial[c]);
		INIT_LIST_HEAD(&pool->full);
		INIT_LIST_HEAD(&pool->evacuating);
		INIT_LIST_HEAD(&pool->waiting);
	}
	return 0;
}

/*
 * ksmdev_kpool_exit - give every block back (unload: every kernel page is
 * released). Pages still waiting for outside references are left to their
 * holders.
 */
void ksmdev_kpool_exit(void)
{
	int nid, c;

	for (nid = 0; nid < nr_node_ids; nid++) {
		struct ksmdev_kpool *pool = &ksmdev_kpools[nid];
		struct list_head *lists[KSMDEV_KPOOL_CLASSES + 2];
		struct ksmdev_kblock *b, *tmp;
		LIST_HEAD(dead);
		int l;

		for (c = 0; c < KSMDEV_KPOOL_CLASSES; c++)
			lists[c] = &pool->partial[c];
		lists[c++] = &pool->full;
		lists[c++] = &pool->evacuating;
		spin_lock(&pool->lock);
		for (l = 0; l < c; l++) {
			list_for_each_entry_safe(b, tmp, lists[l], list) {
				unsigned int slot;

				/* Waiting ones (no kernel page is left): to their holders. */
				for_each_set_bit(slot, b->used, KSMDEV_KBLOCK_PAGES)
					if (!test_bit(slot, b->lost))
						ksmdev_kblock_lose_slot(pool, b, slot);
				if (b->nr_waiting)
					list_del(&b->wait_node);
				ksmdev_kblock_remove(pool, b);
				list_add(&b->list, &dead);
			}
		}
		spin_unlock(&pool->lock);
		list_for_each_entry_safe(b, tmp, &dead, list)
			ksmdev_kblock_free(b);
	}
	kfree(ksmdev_kpools);
	ksmdev_kpools = NULL;
}
