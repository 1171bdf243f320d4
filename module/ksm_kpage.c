// SPDX-License-Identifier: GPL-2.0
/*
 * A kernel page's life: the page the module allocates, fills with a copy of
 * a process's page and maps read-only in place of every identical copy. Its
 * entry (struct ksmdev_kpage) holds one page reference from its allocation to
 * its release, so the module never keeps a stale pointer; the content table
 * (ksm_table.c) holds the entry while processes may still be mapped to it.
 *
 * Also the table of kernel pages by pfn, which tells the page-table code
 * whether a page it finds mapped is one of ours.
 */
#include "ksm_internal.h"

#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

static unsigned long ksmdev_sha1_hash_size;
module_param_named(sha1_hash_size, ksmdev_sha1_hash_size, ulong, 0444);
MODULE_PARM_DESC(sha1_hash_size,
		 "Buckets of the kernel-page table by pfn, the SHA-1 cache (0: RAM pages / 16; rounded up to a power of two)");

unsigned long ksmdev_max_kernel_pages;
module_param_named(max_kernel_pages, ksmdev_max_kernel_pages, ulong, 0444);
MODULE_PARM_DESC(max_kernel_pages,
		 "Most kernel pages (unswappable) the module may hold (0: half of the RAM pages)");

/* A bucket of the pfn table: kernel pages by page frame number. */
struct ksmdev_pfn_bucket {
	spinlock_t lock;
	struct hlist_head head;		/* ksmdev_kpage.pfn_node */
};

/* The pfn table: ksmdev_npfn_buckets (a power of two) buckets. Set at init. */
static struct ksmdev_pfn_bucket *ksmdev_pfn_buckets;
static unsigned long ksmdev_npfn_buckets;

static struct kmem_cache *ksmdev_kpage_cache;

/**
 * ksmdev_kpage_init - the pfn table and the entries' slab cache
 *
 * The table's size comes from the sha1_hash_size parameter or, when it is
 * zero, from the amount of RAM; max_kernel_pages defaults to half of RAM.
 * Returns 0 or -ENOMEM, with nothing left allocated.
 */
int ksmdev_kpage_init(void)
{
	unsigned long i, n;

	if (!ksmdev_max_kernel_pages)
		ksmdev_max_kernel_pages = totalram_pages() / 2;
	n = ksmdev_sha1_hash_size ? ksmdev_sha1_hash_size : totalram_pages() / 16;
	ksmdev_npfn_buckets = roundup_pow_of_two(clamp(n, 256UL, 1UL << 24));
	ksmdev_sha1_hash_size = ksmdev_npfn_buckets;

	ksmdev_pfn_buckets = vmalloc_array(ksmdev_npfn_buckets, sizeof(*ksmdev_pfn_buckets));
	ksmdev_kpage_cache = KMEM_CACHE(ksmdev_kpage, 0);
	if (!ksmdev_pfn_buckets || !ksmdev_kpage_cache) {
		ksmdev_kpage_exit();
		return -ENOMEM;
	}
	for (i = 0; i < ksmdev_npfn_buckets; i++) {
		spin_lock_init(&ksmdev_pfn_buckets[i].lock);
		INIT_HLIST_HEAD(&ksmdev_pfn_buckets[i].head);
	}
	return 0;
}

/* Free what ksmdev_kpage_init() set up; every entry is gone (ksmdev_table_exit()). */
void ksmdev_kpage_exit(void)
{
	kmem_cache_destroy(ksmdev_kpage_cache);
	ksmdev_kpage_cache = NULL;
	vfree(ksmdev_pfn_buckets);
	ksmdev_pfn_buckets = NULL;
}

static struct ksmdev_pfn_bucket *ksmdev_pfn_bucket_of(unsigned long pfn)
{
	return &ksmdev_pfn_buckets[hash_long(pfn, ilog2(ksmdev_npfn_buckets))];
}

/**
 * ksmdev_kpage_copy - a new kernel page holding a copy of @page
 * @page: a process's page (referenced by the caller)
 * @domain: the merge domain the kernel page serves
 *
 * On the node of @page. The copy may be torn if the process writes the page
 * meanwhile: every merge compares again, under write protection, so a torn
 * copy is never mapped. Computes the copy's content hash once, for the life
 * of the page (its SHA-1 is made on first use, ksmdev_kpage_sha1()). The
 * caller holds the entry's one reference; it is in no table yet. Returns
 * NULL when out of memory or when the max_kernel_pages limit is reached.
 */
struct ksmdev_kpage *ksmdev_kpage_copy(struct page *page, u32 domain)
{
	struct ksmdev_kpage *kp;
	struct page *kpage;

	if (ksmdev_kpages_held() >= ksmdev_max_kernel_pages)
		return NULL;
	/*
	 * Not __GFP_MOVABLE: nothing can migrate this page. __GFP_NORETRY: a
	 * merge is never worth an OOM kill; under pressure it is skipped.
	 */
	kpage = alloc_pages_node(page_to_nid(page), GFP_HIGHUSER | __GFP_NORETRY | __GFP_NOWARN, 0);
	if (!kpage)
		return NULL;
	copy_highpage(kpage, page);

	kp = kmem_cache_zalloc(ksmdev_kpage_cache, GFP_KERNEL);
	if (!kp) {
		put_page(kpage);
		return NULL;
	}
	kref_init(&kp->ref);
	kp->page = kpage;
	kp->hash = ksmdev_hash_page(kpage);
	kp->domain = domain;
	kp->nid = ksmdev_merge_nid(page);
	ksmdev_kpages_add(1);
	ksmdev_count(kpages_created);
	return kp;
}

static void ksmdev_kpage_release(struct kref *ref)
{
	struct ksmdev_kpage *kp = container_of(ref, struct ksmdev_kpage, ref);

	put_page(kp->page);
	kmem_cache_free(ksmdev_kpage_cache, kp);
	ksmdev_kpages_add(-1);
}

/* Drop a reference to @kp; the last one gives the page reference back. */
void ksmdev_kpage_put(struct ksmdev_kpage *kp)
{
	kref_put(&kp->ref, ksmdev_kpage_release);
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

/* Make @kp findable by pfn. Takes its pfn bucket lock (under a content-table bucket lock). */
void ksmdev_kpage_pfn_add(struct ksmdev_kpage *kp)
{
	struct ksmdev_pfn_bucket *pb = ksmdev_pfn_bucket_of(page_to_pfn(kp->page));

	spin_lock(&pb->lock);
	hlist_add_head(&kp->pfn_node, &pb->head);
	spin_unlock(&pb->lock);
}

/* Undo ksmdev_kpage_pfn_add(). */
void ksmdev_kpage_pfn_del(struct ksmdev_kpage *kp)
{
	struct ksmdev_pfn_bucket *pb = ksmdev_pfn_bucket_of(page_to_pfn(kp->page));

	spin_lock(&pb->lock);
	hlist_del(&kp->pfn_node);
	spin_unlock(&pb->lock);
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

/* Memory the pfn table and the kernel page entries take (for general_profit). */
size_t ksmdev_kpage_metadata_bytes(void)
{
	return ksmdev_npfn_buckets * sizeof(struct ksmdev_pfn_bucket) +
	       ksmdev_kpages_held() * sizeof(struct ksmdev_kpage);
}
