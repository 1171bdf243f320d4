// SPDX-License-Identifier: GPL-2.0
/*
 * A kernel page's life: the page the module allocates, fills with a copy of
 * a process's page and maps read-only in place of every identical copy. Its
 * entry (struct ksmdev_kpage) holds one page reference from its allocation to
 * its release, so the module never keeps a stale pointer; the content table
 * (ksm_table.c) holds the entry while processes may still be mapped to it.
 *
 * Also the table of kernel pages by pfn, which finds the entry of a page the
 * page-table code finds mapped: an rhashtable, which grows and shrinks with
 * the kernel pages, looked up under RCU. Whether a page is ours at all is
 * asked far more often (for every page an unmerge visits) and answered
 * without a lookup: page->private holds KSMDEV_KPAGE_TAG for exactly as long
 * as the page's entry is in the table.
 */
#include "ksm_internal.h"

#include <linux/highmem.h>
#include <linux/moduleparam.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>

/* The 2008 driver's size of its SHA-1 cache table: the pfn table sizes itself now. */
static unsigned long ksmdev_sha1_hash_size;
module_param_named(sha1_hash_size, ksmdev_sha1_hash_size, ulong, 0444);
MODULE_PARM_DESC(sha1_hash_size,
		 "Accepted for compatibility with the 2008 driver and unused: the kernel-page table grows with the kernel pages");

unsigned long ksmdev_max_kernel_pages;
module_param_named(max_kernel_pages, ksmdev_max_kernel_pages, ulong, 0444);
MODULE_PARM_DESC(max_kernel_pages,
		 "Most kernel pages (unswappable) the module may hold (0: half of the RAM pages)");

/* The pfn table: every kernel page entry alive, from ksmdev_kpage_new() to its release. */
static struct rhashtable ksmdev_pfn_table;

static const struct rhashtable_params ksmdev_pfn_params = {
	.key_len = sizeof(unsigned long),
	.key_offset = offsetof(struct ksmdev_kpage, pfn),
	.head_offset = offsetof(struct ksmdev_kpage, pfn_node),
	.automatic_shrinking = true,
};

static struct kmem_cache *ksmdev_kpage_cache;

/*
 * page->private of a kernel page while its entry is in the pfn table: the
 * address of that table, a value no other owner of a page writes there. The
 * page is the module's (not anonymous, in no file mapping, never in the swap
 * cache, not on the LRU), so nothing else uses that field meanwhile. Written
 * before the page is first mapped and cleared after it is mapped nowhere,
 * so a reader holding the PTE lock of a mapping sees it set.
 */
#define KSMDEV_KPAGE_TAG	((unsigned long)&ksmdev_pfn_table)

/**
 * ksmdev_kpage_init - the pfn table and the entries' slab cache
 *
 * max_kernel_pages defaults to half of RAM. Returns 0 or -ENOMEM, with
 * nothing left allocated.
 */
int ksmdev_kpage_init(void)
{
	int ret;

	if (!ksmdev_max_kernel_pages)
		ksmdev_max_kernel_pages = totalram_pages() / 2;
	if (ksmdev_sha1_hash_size)
		pr_info("sha1_hash_size is accepted for compatibility and unused\n");
	ksmdev_kpage_cache = KMEM_CACHE(ksmdev_kpage, 0);
	if (!ksmdev_kpage_cache)
		return -ENOMEM;
	ret = rhashtable_init(&ksmdev_pfn_table, &ksmdev_pfn_params);
	if (ret) {
		kmem_cache_destroy(ksmdev_kpage_cache);
		ksmdev_kpage_cache = NULL;
	}
	return ret;
}

/*
 * Free what ksmdev_kpage_init() set up, once every entry is released
 * (ksmdev_table_exit()): wait for the RCU callbacks that free them.
 */
void ksmdev_kpage_exit(void)
{
	rcu_barrier();
	rhashtable_destroy(&ksmdev_pfn_table);
	kmem_cache_destroy(ksmdev_kpage_cache);
	ksmdev_kpage_cache = NULL;
}

/**
 * ksmdev_kpage_new - a new kernel page, to be filled with the content of @page
 * @page: a process's page (referenced by the caller), of process @mm
 * @domain: the merge domain the kernel page serves
 * @nodes_gen: the generation of the node rule its twins were chosen by
 *	(ksmdev_merge_nid()): under another one, no kernel page
 *
 * On the node of @page, charged to the memory cgroup of @page (as mainline
 * KSM's page keeps the charge of the page that became it): when that cgroup
 * is at its limit, no kernel page and no merge. Its content is undefined
 * until ksmdev_merge_first() copies @page into it under write protection
 * (and computes its hash), or ksmdev_kpage_copy_kpage() copies a kernel
 * page into it. The entry is in the pfn table at once
 * (ksmdev_kpage_is_ours() knows it before it is mapped) and in no content
 * table yet; the caller holds its one reference.
 * Returns NULL when out of memory, over the cgroup's limit or the
 * max_kernel_pages limit, or when the node rule changed.
 */
struct ksmdev_kpage *ksmdev_kpage_new(struct page *page, struct mm_struct *mm, u64 domain,
				      unsigned int nodes_gen)
{
	struct ksmdev_kpage *kp = NULL;
	struct mem_cgroup *memcg, *old;
	struct page *kpage;

	if (ksmdev_level(KSMDEV_LV_KPAGES) >= ksmdev_max_kernel_pages || PageHWPoison(page))
		return NULL;
	kpage = ksmdev_kpool_alloc(page_to_nid(page), ksmdev_domain_hardened(domain));
	if (!kpage)
		return NULL;
	/* The entry is charged with the page, and like it never reclaims. */
	memcg = ksmdev_page_memcg(page);
	old = ksmdev_set_active_memcg(memcg);
	if (!ksmdev_charge_kpage(kpage, memcg, mm))
		kp = kmem_cache_zalloc(ksmdev_kpage_cache,
				       (GFP_KERNEL_ACCOUNT | __GFP_NOWARN) & ~__GFP_DIRECT_RECLAIM);
	else
		ksmdev_count(memcg_refused);
	ksmdev_set_active_memcg(old);
	mem_cgroup_put(memcg);
	if (!kp)
		goto free;
	kref_init(&kp->ref);
	kp->page = kpage;
	kp->pfn = page_to_pfn(kpage);
	kp->domain = domain;
	kp->nid = ksmdev_merge_nid(page, NULL);
	/* Counted only under the node rule its twins were chosen by. */
	if (!ksmdev_kpage_count(nodes_gen))
		goto free;
	if (rhashtable_insert_fast(&ksmdev_pfn_table, &kp->pfn_node, ksmdev_pfn_params)) {
		ksmdev_level_add(KSMDEV_LV_KPAGES, -1);
		goto free;
	}
	WRITE_ONCE(kpage->private, KSMDEV_KPAGE_TAG);
	ksmdev_count(kpages_created);
	return kp;

free:
	if (kp)
		kmem_cache_free(ksmdev_kpage_cache, kp);
	ksmdev_kpool_free(kpage);
	return NULL;
}

/*
 * Copy @src into the new kernel page @kp and hash the copy. With the
 * machine-check-safe copy: it stops, rather than take the machine down, at
 * hardware poison nobody had found (returns false: @kp is not to be used).
 * Any context; @kp is mapped nowhere yet.
 */
static bool ksmdev_kpage_fill(struct ksmdev_kpage *kp, struct page *src)
{
	if (!ksmdev_copy_page_mc(kp->page, src))
		return false;
	kp->hash = ksmdev_hash_page(kp->page);
	return true;
}

/**
 * ksmdev_kpage_copy_kpage - a copy of kernel page @kp, to move its sharers to
 * @mm: the process of the sharer about to move (5.10 charges its cgroup)
 *
 * Made like ksmdev_kpage_new() (from a block not being emptied, charged to
 * the cgroup @kp is charged to), with @kp's hash, domain and node, and
 * checked to hold the same bytes. Returns it with one reference, in no
 * content table yet, or NULL, or ERR_PTR(-EHWPOISON) if @kp's page holds
 * hardware poison (the copy stopped at a machine check; the page is queued
 * for memory_failure(), which marks it later): it is not to be read again.
 */
struct ksmdev_kpage *ksmdev_kpage_copy_kpage(struct ksmdev_kpage *kp, struct mm_struct *mm)
{
	struct ksmdev_kpage *copy;
	unsigned int gen;

	ksmdev_merge_rule(&gen);	/* the copy keeps @kp's node (below) */
	copy = ksmdev_kpage_new(kp->page, mm, kp->domain, gen);
	if (!copy)
		return NULL;
	if (!ksmdev_kpage_fill(copy, kp->page)) {
		ksmdev_kpage_put(copy);
		return ERR_PTR(-EHWPOISON);
	}
	if (copy->hash != kp->hash || !ksmdev_pages_identical(copy->page, kp->page)) {
		ksmdev_kpage_put(copy);
		return NULL;
	}
	copy->nid = kp->nid;
	return copy;
}

static void ksmdev_kpage_free_rcu(struct rcu_head *rcu)
{
	kmem_cache_free(ksmdev_kpage_cache, container_of(rcu, struct ksmdev_kpage, rcu));
}

/*
 * The last reference: out of the pfn table, the page given back to its pool;
 * the entry is freed after a grace period (pfn table lookups may still read
 * it).
 */
static void ksmdev_kpage_release(struct ksmdev_kpage *kp)
{
	WRITE_ONCE(kp->page->private, 0);
	rhashtable_remove_fast(&ksmdev_pfn_table, &kp->pfn_node, ksmdev_pfn_params);
	ksmdev_kpool_free(kp->page);
	ksmdev_level_add(KSMDEV_LV_KPAGES, -1);
	call_rcu(&kp->rcu, ksmdev_kpage_free_rcu);
}

/*
 * Drop a reference to @kp; the last one gives the page back, and drops the
 * reference @kp held to the copy its sharers moved to (a loop, not a
 * recursion, along a chain of moves). Process context.
 */
void ksmdev_kpage_put(struct ksmdev_kpage *kp)
{
	while (kp && refcount_dec_and_test(&kp->ref.refcount)) {
		struct ksmdev_kpage *next = kp->moved_to;

		ksmdev_kpage_release(kp);
		kp = next;
	}
}

/**
 * ksmdev_kpage_lookup - the entry of the kernel page at @pfn, referenced, or NULL
 *
 * NULL also when it is being released. Any context (an RCU lookup).
 */
struct ksmdev_kpage *ksmdev_kpage_lookup(unsigned long pfn)
{
	struct ksmdev_kpage *kp;

	rcu_read_lock();
	kp = rhashtable_lookup(&ksmdev_pfn_table, &pfn, ksmdev_pfn_params);
	if (kp && !kref_get_unless_zero(&kp->ref))
		kp = NULL;
	rcu_read_unlock();
	return kp;
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
 * ksmdev_kpage_is_ours - is @page one of the module's kernel pages?
 *
 * @page is a mapped page that is not anonymous; callers hold the PTE lock
 * of a mapping of it. Its tag says (KSMDEV_KPAGE_TAG): an rhashtable lookup
 * here cost 3% of an unmerge. Any context.
 */
bool ksmdev_kpage_is_ours(struct page *page)
{
	return READ_ONCE(page->private) == KSMDEV_KPAGE_TAG;
}

/* Memory the kernel page entries and the pfn table take (for general_profit). */
size_t ksmdev_kpage_metadata_bytes(void)
{
	/* The pfn table's buckets: one pointer per entry or so, as it resizes to fit. */
	return ksmdev_level(KSMDEV_LV_KPAGES) *
	       (kmem_cache_size(ksmdev_kpage_cache) + sizeof(void *));
}
