/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksm: the /dev/ksm page-merging module - shared definitions.
 *
 * Files, and the direction of calls: each file calls only into files listed
 * above it here (scripts/module-deps checks it on the built objects):
 *
 *   ksm_syms.c      resolving the unexported kernel functions (ksm_syms.h)
 *   ksm_stats.c     event counters (the list: uapi/linux/ksm_stat_list.h)
 *   ksm_config.c    the engine's settings
 *   ksm_page.c      page contents: hash, SHA-1, compare, zero test
 *   ksm_kpage.c     a kernel page's life: allocation, copy, references, pfn table
 *   ksm_region.c    a region object: lifetime, per-page busy bits and state
 *   ksm_table.c     the content table (stable and unstable), the sweep
 *   ksm_merge.c     page-table work: look up, switch, split, unmerge one page
 *   ksm_registry.c  registering and removing regions, unmerging them
 *   ksm_scan.c      the scanner
 *   ksm_kthread.c   kksmd
 *   ksm_sysfs.c     KSM_GET_STATS and the sysfs files
 *   ksm_dev.c       /dev/ksm, SMA and scan fds: the ioctls
 *   ksm_main.c      load and unload
 *
 * Locking, outermost first (a lock may only be taken while holding ones above
 * it in this list; lockdep_assert_held() marks the functions that rely on one):
 *
 *   ksmdev_kthread_lock (mutex)    kksmd's settings, its start and stop; held
 *                                  while waiting for the thread to stop
 *   ksmdev_registry_lock (mutex)   regions, SMAs and per-mm lists
 *   ksmdev_config_lock (mutex)     the settings, written only under it
 *   scanner->lock (mutex)          one scan at a time per cursor
 *   region busy bit (bit lock)     one scanner per page; a second page's bit
 *                                  is only ever *tried* (never waited for)
 *                                  while one is held, also under a bucket
 *                                  lock (ksmdev_unstable_candidates())
 *   mm->mmap_lock (read)           one mm at a time, never nested
 *   page lock (trylock only)       to split a THP
 *   PTE / PMD lock (spinlock)
 *   bucket->lock (spinlock)        a content-table bucket
 *   pfn bucket lock (spinlock)     taken inside a bucket lock when a kernel
 *                                  page enters or leaves the tables
 *   ksmdev_regions_lock (spinlock) the all-regions list, for cursors; taken
 *                                  with no other spinlock held
 *
 * Nothing sleeps under a spinlock. Removing a region waits for the busy bits
 * of its pages; nobody waits for ksmdev_registry_lock while holding a busy bit.
 */
#ifndef KSMDEV_INTERNAL_H
#define KSMDEV_INTERNAL_H

#include <linux/kernel.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include "uapi/linux/ksm.h"

/* The module's name for itself in messages and in the kthread's name. */
#define KSMDEV_NAME "ksm"

/*
 * Per process state: one per mm that has registered regions. Allocated by
 * mmu_notifier_get() (so that the mm's exit reaches us through ->release) and
 * freed by the mmu-notifier core after the last mmu_notifier_put(), which each
 * region does when it is freed.
 */
struct ksmdev_mm {
	struct mmu_notifier mn;
	struct list_head regions;	/* ksmdev_region.mm_link, registry lock */
	unsigned int nr_regions;	/* registry lock */
};

/*
 * A shared memory area: what an SMA fd refers to. A set of regions, which may
 * belong to several processes if the fd was passed around.
 */
struct ksmdev_sma {
	struct list_head regions;	/* ksmdev_region.sma_link, registry lock */
	unsigned int nr_regions;	/* registry lock */
	u32 domain;			/* merge domain of its regions */
};

/*
 * A registered range of one process's memory. Lifetime: a kref, held by the
 * registry while registered, by scanner cursors and by in-flight merges.
 * Unstable items in the hash table point to their region without a reference:
 * removal unhashes them (under the bucket locks) before dropping its own.
 */
struct ksmdev_region {
	struct kref ref;
	struct list_head all_link;	/* ksmdev_regions, ksmdev_regions_lock */
	struct list_head sma_link;	/* registry lock */
	struct list_head mm_link;	/* registry lock */
	struct ksmdev_sma *sma;		/* registry lock; NULL once removed */
	struct ksmdev_mm *kmm;		/* constant; holds an mmu_notifier_get() */
	struct mm_struct *mm;		/* constant: kmm->mn.mm (mmgrab'ed by it) */
	unsigned long start;		/* constant: first address */
	unsigned long npages;		/* constant */
	u64 id;				/* constant: registration order */
	u32 domain;			/* constant: the SMA's merge domain */
	bool dead;			/* set once under registry lock, then read locklessly */
	/*
	 * Per page: the unstable item of that page, or NULL. Only the holder of
	 * the page's busy bit reads or changes an entry.
	 */
	struct ksmdev_item **items;
	unsigned long *busy;		/* per page bit lock: see the top of this file */
	/* Per page: what the scanner last did there; busy-bit holder only. */
	struct ksmdev_pstate *state;
	/* Counters of this region (KSM_SMA_GET_STATS, KSM_GET_PROCESS_STATS). */
	atomic_long_t merged_pages;	/* pages whose state says MERGED */
	atomic_long_t zero_pages;	/* pages whose state says ZERO */
	atomic_long_t merges;		/* merges done here */
	atomic_long_t cow_breaks;	/* merged pages later found private again */
	atomic_long_t unmerged;		/* merged pages given back by an unmerge */
};

/* What the scanner knows of one page of a region. */
struct ksmdev_pstate {
	u8 flags;			/* KSMDEV_PS_* */
	u8 smart;			/* smart scan: failed passes (high nibble), passes to skip (low) */
};

#define KSMDEV_PS_MERGED	0x01	/* the module mapped a kernel page here */
#define KSMDEV_PS_ZERO		0x02	/* the module mapped the zero page here */

/*
 * A page waiting in the content hash table for a twin ("unstable": its
 * content may change at any time; it is re-checked before any use).
 */
struct ksmdev_item {
	struct hlist_node node;		/* bucket->unstable, bucket->lock */
	struct ksmdev_region *region;	/* constant */
	unsigned long index;		/* constant: page index in region */
	u32 hash;			/* constant: content hash (ksmdev_checksum()) when inserted */
	u32 bucket;			/* constant: its bucket (hash, and node if per node) */
	int nid;			/* constant: node to match, or -1 for any */
	bool settled;			/* the same hash was seen on two passes in a row */
};

/*
 * A kernel-owned page that processes map read-only in place of their own
 * identical pages ("stable": its content never changes). The entry holds one
 * page reference for its whole life, so the page pointer is never stale; the
 * page is given back once no process maps it any more (ksmdev_kpage_sweep()).
 */
struct ksmdev_kpage {
	struct hlist_node node;		/* bucket->stable, bucket->lock */
	struct hlist_node pfn_node;	/* pfn table, its bucket lock */
	struct kref ref;		/* one for the tables, one per user */
	struct page *page;		/* constant, referenced */
	u32 hash;			/* constant: content hash (ksmdev_checksum()) */
	u32 bucket;			/* its bucket, set when it enters the table */
	u32 domain;			/* constant */
	int nid;			/* constant: node to match, or -1 for any */
	bool hashed;			/* in the tables; bucket->lock */
	int sha1_state;			/* KSMDEV_SHA1_*: cmpxchg, then release */
	u8 sha1[SHA1_DIGEST_SIZE];	/* the SHA-1 cache entry, once SHA1_VALID */
};

/*
 * ksmdev_kpage.sha1_state: the digest is computed on first use (only hash
 * collisions need it), by the one task that moves NONE to BUSY.
 */
enum {
	KSMDEV_SHA1_NONE,
	KSMDEV_SHA1_BUSY,
	KSMDEV_SHA1_VALID,
};

/* A scan cursor: one per scan fd, and one for kksmd. */
struct ksmdev_scanner {
	struct mutex lock;		/* one scan at a time on this cursor */
	struct ksmdev_region *region;	/* current region (referenced) or NULL */
	unsigned long index;		/* next page of region */
	u64 region_id;			/* id of region, to resume if it is removed */
	u64 pass_start;			/* ktime (ns) when the current pass began, or 0 */
	bool pass_fresh;		/* no page of the current pass scanned yet */
	u64 last_pass_ms;		/* duration of the last complete pass */
};

/* What one scan call asks for and what it did. */
struct ksmdev_scan_ctl {
	unsigned long to_scan;		/* pages to look at */
	unsigned long max_merge;	/* stop after this many merges; 0: no limit */
	bool (*should_stop)(void);	/* checked between pages */
	bool pass_end;			/* also stop when a full pass completes */
	unsigned long scanned;		/* out */
	unsigned long merged;		/* out */
	unsigned long full_scans;	/* out */
};

/* ---- ksm_stats.c: event counters ---- */

/* One index per counter of the list, events and levels alike. */
#define KSM_STAT(name, ...) KSMDEV_STAT_##name,
enum ksmdev_stat {
#include "uapi/linux/ksm_stat_list.h"
	KSMDEV_NR_STATS
};

/* Events counted per CPU: no shared cache line on the scan path. */
struct ksmdev_pcpu_stats {
	u64 count[KSMDEV_NR_STATS];	/* the KSM_STAT_EVENT entries only */
	u64 skipped[KSM_SKIP_NR];
};

DECLARE_PER_CPU(struct ksmdev_pcpu_stats, ksmdev_pcpu_stats);
#define ksmdev_count(name) this_cpu_inc(ksmdev_pcpu_stats.count[KSMDEV_STAT_##name])
#define ksmdev_count_skip(reason) this_cpu_inc(ksmdev_pcpu_stats.skipped[reason])

void ksmdev_stats_events(struct ksm_stats *st);
void ksmdev_kpages_add(long n);
unsigned long ksmdev_kpages_held(void);

/* ---- ksm_config.c ---- */
extern struct ksm_config ksmdev_cfg;
void ksmdev_config_get(struct ksm_config *cfg);
int ksmdev_config_set(const struct ksm_config *cfg);

/* ---- ksm_page.c ---- */
int ksmdev_page_init(void);
void ksmdev_page_exit(void);
u32 ksmdev_hash_page(struct page *page);
void ksmdev_sha1_page(struct page *page, u8 *digest);
bool ksmdev_pages_identical(struct page *a, struct page *b);
bool ksmdev_page_is_zero(struct page *page);
int ksmdev_merge_nid(struct page *page);

/* ---- ksm_kpage.c ---- */
extern unsigned long ksmdev_max_kernel_pages;
int ksmdev_kpage_init(void);
void ksmdev_kpage_exit(void);
struct ksmdev_kpage *ksmdev_kpage_copy(struct page *page, u32 domain);
void ksmdev_kpage_put(struct ksmdev_kpage *kp);
const u8 *ksmdev_kpage_sha1(struct ksmdev_kpage *kp);
void ksmdev_kpage_pfn_add(struct ksmdev_kpage *kp);
void ksmdev_kpage_pfn_del(struct ksmdev_kpage *kp);
bool ksmdev_kpage_is_ours(struct page *page);
size_t ksmdev_kpage_metadata_bytes(void);

/* ---- ksm_region.c ---- */
void ksmdev_region_get(struct ksmdev_region *r);
void ksmdev_region_put(struct ksmdev_region *r);
bool ksmdev_page_trylock(struct ksmdev_region *r, unsigned long index);
void ksmdev_page_unlock(struct ksmdev_region *r, unsigned long index);
void ksmdev_page_state_set(struct ksmdev_region *r, unsigned long index, u8 flags);

/* ---- ksm_table.c ---- */
int ksmdev_table_init(void);
void ksmdev_table_exit(void);
void ksmdev_table_add_kpage(struct ksmdev_kpage *kp);
int ksmdev_stable_candidates(u32 hash, u32 domain, int nid,
			     struct ksmdev_kpage **out, int max);
int ksmdev_unstable_candidates(struct ksmdev_region *self, unsigned long self_index,
			       u32 hash, u32 domain, int nid, bool settled_only,
			       struct ksmdev_region **regions, unsigned long *indexes,
			       int max);
bool ksmdev_item_set(struct ksmdev_region *r, unsigned long index, u32 hash, int nid);
void ksmdev_item_clear(struct ksmdev_region *r, unsigned long index);
void ksmdev_kpage_sweep(void);
void ksmdev_kpage_sweep_soon(void);
void ksmdev_table_fill(struct ksm_stats *st);
size_t ksmdev_table_metadata_bytes(void);

/* ---- ksm_merge.c ---- */

/* What is mapped at one address of a region, as found by ksmdev_lookup(). */
struct ksmdev_target {
	struct ksmdev_region *region;
	unsigned long index;
	unsigned long addr;
	struct page *page;		/* referenced when the lookup found a page */
};

/*
 * Outcomes of ksmdev_lookup() and ksmdev_merge_into(). Negative values carry
 * the enum ksm_skip_reason of a page that was passed over.
 */
#define KSMDEV_MERGED		0	/* the PTE now maps the kernel page */
#define KSMDEV_FOUND_ANON	1	/* an anonymous page: a candidate */
#define KSMDEV_FOUND_KPAGE	2	/* already one of our kernel pages */
#define KSMDEV_DIFFERENT	3	/* not merged: the contents differ */
#define KSMDEV_SKIP(reason)	(-1 - (int)(reason))
#define KSMDEV_SKIP_REASON(ret)	(-1 - (ret))

bool ksmdev_vma_registrable(struct vm_area_struct *vma);
int ksmdev_lookup(struct ksmdev_target *t);
int ksmdev_may_switch(struct ksmdev_target *t);
int ksmdev_split_target(struct ksmdev_target *t);
int ksmdev_merge_into(struct ksmdev_target *t, struct ksmdev_kpage *kp);
int ksmdev_merge_zero(struct ksmdev_target *t);
int ksmdev_unmerge_target(struct ksmdev_target *t);
bool ksmdev_mm_lock(struct mm_struct *mm);
void ksmdev_mm_unlock(struct mm_struct *mm);
int ksmdev_unmerge_locked(struct mm_struct *mm, struct vm_area_struct **vmap,
			  unsigned long addr, bool zero_too);

/* ---- ksm_registry.c ---- */
extern spinlock_t ksmdev_regions_lock;
extern struct list_head ksmdev_regions;
int ksmdev_region_register(struct ksmdev_sma *sma, u64 addr, u64 npages);
int ksmdev_sma_remove(struct ksmdev_sma *sma, u64 addr, bool unmerge, struct ksm_unmerge *res);
int ksmdev_sma_set_domain(struct ksmdev_sma *sma, u32 *domain);
int ksmdev_unmerge(struct ksmdev_sma *sma, struct ksm_unmerge *res);
void ksmdev_sma_stats(struct ksmdev_sma *sma, struct ksm_process_stats *st);
void ksmdev_mm_stats(struct mm_struct *mm, struct ksm_process_stats *st);
u64 ksmdev_regions_zero_pages(void);
void ksmdev_region_totals(u64 *regions, u64 *pages);
void ksmdev_registry_exit(void);

/* ---- ksm_scan.c ---- */
extern u64 ksmdev_last_full_scan_ms;
void ksmdev_scanner_init(struct ksmdev_scanner *s);
void ksmdev_scanner_release(struct ksmdev_scanner *s);
int ksmdev_scan(struct ksmdev_scanner *s, struct ksmdev_scan_ctl *ctl);

/* ---- ksm_kthread.c ---- */
int ksmdev_kthread_set(const struct ksm_kthread_info *info);
void ksmdev_kthread_get(struct ksm_kthread_info *info);
void ksmdev_kthread_init(void);
void ksmdev_kthread_exit(void);

/* ---- ksm_sysfs.c ---- */
void ksmdev_stats_read(struct ksm_stats *st);
extern const struct attribute_group *ksmdev_attr_groups[];

/* ---- ksm_dev.c ---- */
int ksmdev_dev_init(void);
void ksmdev_dev_exit(void);

#endif /* KSMDEV_INTERNAL_H */
