// SPDX-License-Identifier: GPL-2.0
/*
 * A region object: its lifetime (a kref) and its items, the per-page state
 * the module keeps for the pages present in it, in a list by page index
 * under the region's lock. Registering and removing regions is
 * ksm_registry.c's; filing items in the content table is ksm_table.c's.
 */
#include "ksm_internal.h"

#include <linux/slab.h>

/*
 * An item is the metadata of one tracked page: with its share of the content
 * table (12 bytes) it stays within mainline's 64-byte rmap_item.
 */
static_assert(sizeof(struct ksmdev_item) <= 48);

static struct kmem_cache *ksmdev_item_cache;

/* The items' slab cache. Returns 0 or -ENOMEM. */
int ksmdev_region_init(void)
{
	ksmdev_item_cache = KMEM_CACHE(ksmdev_item, 0);
	return ksmdev_item_cache ? 0 : -ENOMEM;
}

/* At unload, when every region (so every item) is gone. */
void ksmdev_region_exit(void)
{
	kmem_cache_destroy(ksmdev_item_cache);
	ksmdev_item_cache = NULL;
}

/* @r's node in a tree of regions by id: the domain's (@dom) or that of all regions. */
static struct rb_node *ksmdev_region_id_node(struct ksmdev_region *r, bool dom)
{
	return dom ? &r->dom_id_node : &r->all_id_node;
}

static struct ksmdev_region *ksmdev_region_of_id_node(struct rb_node *n, bool dom)
{
	return dom ? rb_entry(n, struct ksmdev_region, dom_id_node) :
		     rb_entry(n, struct ksmdev_region, all_id_node);
}

/*
 * Add @r to @root, a tree of regions by id (@dom: a domain's, else that of
 * all regions). Its lock (ksmdev_regions_lock) held. Ids only grow, so the
 * new region goes last.
 */
void ksmdev_region_id_insert(struct rb_root *root, struct ksmdev_region *r, bool dom)
{
	struct rb_node **link = &root->rb_node, *parent = NULL;

	while (*link) {
		parent = *link;
		if (r->id < ksmdev_region_of_id_node(parent, dom)->id)
			link = &parent->rb_left;
		else
			link = &parent->rb_right;
	}
	rb_link_node(ksmdev_region_id_node(r, dom), parent, link);
	rb_insert_color(ksmdev_region_id_node(r, dom), root);
}

/*
 * The first region of @root (as above) registered after region @id, which
 * may be gone: where a cursor whose region was removed goes on, in
 * O(log n) of the tree's regions. NULL if none. The tree's lock held.
 */
struct ksmdev_region *ksmdev_region_after_id(struct rb_root *root, u64 id, bool dom)
{
	struct rb_node *n = root->rb_node, *best = NULL;

	while (n) {
		if (ksmdev_region_of_id_node(n, dom)->id > id) {
			best = n;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	return best ? ksmdev_region_of_id_node(best, dom) : NULL;
}

void ksmdev_region_get(struct ksmdev_region *r)
{
	kref_get(&r->ref);
}

/* The last reference: the registry already took every item out (ksmdev_region_finish()). */
static void ksmdev_region_release(struct kref *ref)
{
	struct ksmdev_region *r = container_of(ref, struct ksmdev_region, ref);

	WARN_ON_ONCE(r->items);
	mutex_destroy(&r->lock);
	mmu_notifier_put(&r->kmm->mn);
	kfree(r);
}

/* Drop a reference; the last one frees the region. Process context. */
void ksmdev_region_put(struct ksmdev_region *r)
{
	kref_put(&r->ref, ksmdev_region_release);
}

/**
 * ksmdev_items_seek - where the items of @r from page @index on begin
 * @hint: an item of @r before @index to start from, or NULL for the head;
 *	used only if no item was added or removed since @hint_gen was read
 *	from @r->items_gen (so @hint is still in the list)
 *
 * Returns the link (the head, or an item's next) that points at the first
 * item at or after @index, or at NULL. Region lock held; the link stays
 * valid until the lock holder itself changes the list there.
 */
struct ksmdev_item **ksmdev_items_seek(struct ksmdev_region *r, unsigned long index,
				       struct ksmdev_item *hint, unsigned long hint_gen)
{
	struct ksmdev_item **link = &r->items;

	lockdep_assert_held(&r->lock);
	if (hint && hint_gen == r->items_gen && hint->index < index)
		link = &hint->next;
	while (*link && (*link)->index < index)
		link = &(*link)->next;
	return link;
}

/**
 * ksmdev_item_add - a new item for page @index of @r, put in at @link
 *
 * @link comes from ksmdev_items_seek() for @index (and no item is at @index
 * yet). The item is charged to the memory cgroup the process of @r is in
 * now (as its pages are charged where it is when they fault: a process
 * moved to another cgroup charges its new items there, and the region does
 * not keep the old one), without reclaim: at its limit the page is not
 * tracked (and so not merged). Returns the item, or NULL. Region lock held.
 */
struct ksmdev_item *ksmdev_item_add(struct ksmdev_region *r, struct ksmdev_item **link,
				    unsigned long index)
{
	struct mem_cgroup *memcg = get_mem_cgroup_from_mm(r->mm), *old;
	struct ksmdev_item *it;

	lockdep_assert_held(&r->lock);
	old = ksmdev_set_active_memcg(memcg);
	it = kmem_cache_zalloc(ksmdev_item_cache,
			       (GFP_KERNEL_ACCOUNT | __GFP_NOWARN) & ~__GFP_DIRECT_RECLAIM);
	ksmdev_set_active_memcg(old);
	mem_cgroup_put(memcg);
	if (!it)
		return NULL;
	it->region = r;
	it->index = index;
	it->nid = NUMA_NO_NODE;
	it->next = *link;
	*link = it;
	r->nr_items++;
	r->items_gen++;
	ksmdev_level_add(KSMDEV_LV_ITEMS, 1);
	return it;
}

/**
 * ksmdev_item_del - take the item at *@link out of @r's list and free it
 *
 * It must not be filed in the content table (ksmdev_item_unfile()). Its
 * merged and zero state goes with it (the region's counters follow).
 * Region lock held.
 */
void ksmdev_item_del(struct ksmdev_region *r, struct ksmdev_item **link)
{
	struct ksmdev_item *it = *link;

	lockdep_assert_held(&r->lock);
	WARN_ON_ONCE(it->flags & KSMDEV_IT_FILED);
	ksmdev_item_set_state(it, 0);
	*link = it->next;
	r->nr_items--;
	r->items_gen++;
	kmem_cache_free(ksmdev_item_cache, it);
	ksmdev_level_add(KSMDEV_LV_ITEMS, -1);
}

/*
 * Set what the module mapped at @it's page (@state: KSMDEV_IT_MERGED,
 * KSMDEV_IT_ZERO or 0), and the counters that follow it. Region lock held.
 */
void ksmdev_item_set_state(struct ksmdev_item *it, u8 state)
{
	struct ksmdev_region *r = it->region;
	u8 old = it->flags & (KSMDEV_IT_MERGED | KSMDEV_IT_ZERO);

	if ((old ^ state) & KSMDEV_IT_MERGED)
		atomic_long_add(state & KSMDEV_IT_MERGED ? 1 : -1, &r->merged_pages);
	if ((old ^ state) & KSMDEV_IT_ZERO) {
		long n = state & KSMDEV_IT_ZERO ? 1 : -1;

		atomic_long_add(n, &r->zero_pages);
		ksmdev_level_add(KSMDEV_LV_ZERO, n);
	}
	WRITE_ONCE(it->flags, (it->flags & ~(KSMDEV_IT_MERGED | KSMDEV_IT_ZERO)) | state);
}

/* Memory the items take (for metadata_bytes): their slab objects. */
size_t ksmdev_item_metadata_bytes(void)
{
	return ksmdev_level(KSMDEV_LV_ITEMS) * kmem_cache_size(ksmdev_item_cache);
}
