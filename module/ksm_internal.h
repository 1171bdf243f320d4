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
 *   ksm_kpool.c     the pages kernel pages are made of, in blocks kept dense
 *   ksm_kpage.c     a kernel page's life: allocation, copy, references, pfn table
 *   ksm_region.c    a region object: lifetime, lock, items (what is known of its pages)
 *   ksm_table.c     the content table (stable and unstable), the sweep
 *   ksm_merge.c     page-table work: look up, switch, split, unmerge one page
 *   ksm_registry.c  registering and removing regions, unmerging them
 *   ksm_scan.c      the scanner
 *   ksm_kthread.c   kksmd
 *   ksm_sysfs.c     KSM_GET_STATS and the sysfs files
 *   ksm_dev.c       /dev/ksm, SMA and scan fds: the ioctls
 *   ksm_main.c      load and unload
 *
 * Locking, outermost first (a lock is only ever taken, or waited for, while
 * holding locks above it in this list; only a trylock may break the order,
 * as noted; two locks listed in order need not ever nest;
 * lockdep_assert_held() marks the functions that rely on one):
 *
 *   ksmdev_kthread_lock (mutex)    kksmd's settings (not the advisor's
 *                                  pages_to_scan, which kksmd writes), its
 *                                  start and stop; held while waiting for the
 *                                  thread to stop
 *   ksmdev_registry_lock (mutex)   regions, SMAs and per-mm lists
 *   ksmdev_config_lock (mutex)     the settings, written only under it
 *   scanner->lock (mutex)          one scan at a time per cursor
 *   region->lock (mutex)           a region's items; other regions' locks
 *                                  (up to KSMDEV_MAX_CANDIDATES) are only
 *                                  ever *tried* while one is held, under
 *                                  the table semaphore and a bucket lock
 *                                  (ksmdev_unstable_candidates())
 *   mm->mmap_lock                  read, one mm at a time, never nested;
 *                                  written only by mmu_notifier_get() when
 *                                  a region is registered, with no lock of
 *                                  the module held
 *   ksmdev_table_sem (percpu rwsem) the content table's size: read by every
 *                                  table access, written by a resize
 *   page lock                      only tried: under the mmap lock to split
 *                                  a THP (the split takes PTE and PMD locks
 *                                  inside it), and also under a PTE lock to
 *                                  unmap a poisoned kernel page
 *                                  (ksmdev_poison_pte(): in a pass, or in
 *                                  an unmerge under a region lock)
 *   PTE / PMD lock (spinlock)
 *   bucket->lock (spinlock)        a content-table bucket
 *   ksmdev_poisoned_lock (spinlock) the poisoned kernel pages on their way
 *                                  out (under a bucket lock, or alone)
 *   ksmdev_regions_lock (spinlock) the lists of regions (all, per process,
 *                                  per domain), a process's domains and the
 *                                  tables of processes and domains, for
 *                                  the cursors;
 *                                  taken with no other spinlock held (those
 *                                  tables' own locks nest inside it)
 *   pool->lock (spinlock)          a node's blocks of kernel pages
 *                                  (ksm_kpool.c); taken with no other
 *                                  spinlock of the module held; the block
 *                                  xarray's lock, the memcg uncharge of a
 *                                  page and the page allocator (a last
 *                                  put_page()) nest inside it
 *   ksmdev_snap_lock (spinlock)    the sweep's statistics snapshot; taken alone
 *
 * The kernel's own locks taken inside the module's: a fault
 * (handle_mm_fault(): page allocation with reclaim, memcg charge, PTE locks,
 * folio locks) under region locks and the mmap lock, to unmerge a page;
 * lru_add_drain_all() under a scanner's lock; queue_work() and timers under a
 * bucket lock; memory_failure_queue() (its per-CPU lock, a work item) under a
 * PTE lock, after a machine-check-safe copy stopped at poison; the mmu notifiers' SRCU read side around ->release
 * (ksmdev_mm_release()), which takes the registry lock and region locks.
 * The pfn table of kernel pages is an rhashtable: looked up under RCU,
 * changed with its own internal locks. Nothing sleeps under a spinlock.
 * Removing a region waits for its lock; nobody waits for
 * ksmdev_registry_lock while holding a region lock.
 */
#ifndef KSMDEV_INTERNAL_H
#define KSMDEV_INTERNAL_H

#include <linux/kernel.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/rhashtable-types.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include "uapi/linux/ksm.h"

/* The module's name for itself in messages and in the kthread's name. */
#define KSMDEV_NAME "ksm"

/*
 * Per process state: one per mm that has registered regions. Allocated by
 * mmu_notifier_get() (so that the mm's exit reaches us through ->release) and
 * freed by the mmu-notifier core after the last mmu_notifier_put(), which each
 * region does when it is freed. While it has regions it is in the registry's
 * table of processes (ksmdev_mm_find()), so that its scan fds and its
 * statistics find its regions without walking anyone else's.
 */
struct ksmdev_mm {
	struct mmu_notifier mn;
	struct rhash_head node;		/* ksmdev_mms, keyed by mn.mm: both registry locks */
	/*
	 * ksmdev_region.mm_link: changed under the registry lock and
	 * ksmdev_regions_lock, read under either.
	 */
	struct list_head regions;
	unsigned int nr_regions;	/* as @regions */
	unsigned long gen;		/* as @regions: stamp of its last change (never 0) */
	struct rb_root by_addr;		/* its regions by start address: registry lock */
	/*
	 * The merge domains of its regions but the hardened ones
	 * (ksmdev_mm_domain, by key), kept as regions come and go so that a
	 * scan fd never counts them under ksmdev_regions_lock: as @regions.
	 */
	struct rb_root domains;
};

/* One merge domain of a process's regions (ksmdev_mm.domains), and how many are in it. */
struct ksmdev_mm_domain {
	struct rb_node node;		/* as ksmdev_mm.regions */
	u64 key;			/* constant */
	unsigned int nr_regions;	/* as ksmdev_mm.regions */
};

/*
 * A merge domain that has registered regions (by ksmdev_domain_key()): its
 * regions in registration order, which the cursors of tenants' scan fds
 * walk, so that a pass over one tenant's domains never looks at another's
 * regions. In the registry's table of domains (ksmdev_domain_find()) from
 * its first region's registration to its last one's removal; changed under
 * the registry lock and ksmdev_regions_lock, read under either.
 */
struct ksmdev_domain {
	struct rhash_head node;		/* ksmdev_domains */
	u64 key;			/* constant */
	struct list_head regions;	/* ksmdev_region.dom_link */
	struct rb_root by_id;		/* the same regions by id (ksmdev_region.dom_id_node) */
	unsigned int nr_regions;
};

/*
 * A shared memory area: what an SMA fd refers to. A set of regions of the
 * process that created it: an SMA acts for that process (its mm) only, also
 * when its fd is inherited or passed on (docs/security.md).
 */
struct ksmdev_sma {
	struct list_head regions;	/* ksmdev_region.sma_link, registry lock */
	unsigned int nr_regions;	/* registry lock */
	u32 domain;			/* registry lock: the id KSM_SMA_SET_DOMAIN gave back */
	u64 key;			/* registry lock: its regions' ksmdev_domain_key() */
	struct mm_struct *owner;	/* constant: the creator's mm, mmgrab'ed */
};

/*
 * A registered range of one process's memory. Lifetime: a kref, held by the
 * registry while registered, by scanner cursors and by in-flight merges.
 * Unstable items in the content table point to their region without a
 * reference: removal unfiles them (under the bucket locks) before dropping
 * its own.
 *
 * Its metadata grows with the pages present in it, not with its size: one
 * item per page the scanner found present and is worth remembering (filed in
 * the table, or merged), in a list by page index.
 */
struct ksmdev_region {
	struct kref ref;
	/*
	 * The region's items and their state: held by the scanner working on
	 * the region (a batch of pages at a time), by unmerging and removal. A
	 * second region's lock is only ever tried while one is held.
	 */
	struct mutex lock;
	struct list_head all_link;	/* ksmdev_regions, ksmdev_regions_lock */
	struct rb_node all_id_node;	/* ksmdev_regions_by_id, ksmdev_regions_lock */
	struct list_head sma_link;	/* registry lock */
	struct list_head mm_link;	/* kmm->regions: as that list */
	struct rb_node addr_node;	/* kmm->by_addr, registry lock */
	struct list_head dom_link;	/* dom->regions: as that list */
	struct rb_node dom_id_node;	/* dom->by_id: as that list */
	struct ksmdev_domain *dom;	/* its domain, while @dom_link is linked */
	struct ksmdev_sma *sma;		/* registry lock; NULL once removed */
	struct ksmdev_mm *kmm;		/* constant; holds an mmu_notifier_get() */
	struct mm_struct *mm;		/* constant: kmm->mn.mm (mmgrab'ed by it) */
	unsigned long start;		/* constant: first address */
	unsigned long npages;		/* constant */
	u64 id;				/* constant: registration order */
	u64 domain;			/* constant: the SMA's ksmdev_domain_key() */
	bool dead;			/* set once under registry lock, then read locklessly */
	struct ksmdev_item *items;	/* by increasing index; lock */
	unsigned long nr_items;		/* lock */
	unsigned long items_gen;	/* changes with every item added or removed; lock */
	/* Counters of this region (KSM_SMA_GET_STATS, KSM_GET_PROCESS_STATS). */
	atomic_long_t merged_pages;	/* items that say MERGED */
	atomic_long_t zero_pages;	/* items that say ZERO */
	atomic_long_t merges;		/* merges done here */
	atomic_long_t cow_breaks;	/* merged pages later found private again */
	atomic_long_t unmerged;		/* merged pages given back by an unmerge */
};

/*
 * What the module remembers of one present page of a region: whether it
 * waits in the content table for a twin ("unstable": its content may change
 * at any time; it is re-checked before any use), whether the module merged
 * it, and the smart-scan history. Pages without such state have no item.
 * Everything but @node is the region lock holder's; while KSMDEV_IT_FILED,
 * @hash and @nid do not change and @flags is written with WRITE_ONCE(), as
 * candidate lookups read them under the bucket lock alone.
 */
struct ksmdev_item {
	struct ksmdev_item *next;	/* region->items */
	struct ksmdev_region *region;	/* constant */
	unsigned long index;		/* constant: page index in region */
	struct hlist_node node;		/* bucket->unstable while FILED, bucket lock */
	u32 hash;			/* content hash (ksmdev_checksum()) when filed */
	s16 nid;			/* node to match when filed, or -1 for any */
	u8 flags;			/* KSMDEV_IT_* */
	u8 smart;			/* smart scan: failed passes (high nibble), passes to skip (low) */
};

#define KSMDEV_IT_MERGED	0x01	/* the module mapped a kernel page here */
#define KSMDEV_IT_ZERO		0x02	/* the module mapped the zero page here */
#define KSMDEV_IT_FILED		0x04	/* in the content table (unstable) */
#define KSMDEV_IT_SETTLED	0x08	/* filed with the same hash on two passes in a row */

/*
 * A kernel-owned page that processes map read-only in place of their own
 * identical pages ("stable": its content never changes). The entry holds one
 * page reference for its whole life, so the page pointer is never stale; the
 * page is given back once no process maps it any more (ksmdev_kpage_sweep()).
 * The entry itself is freed after an RCU grace period: the pfn table is
 * looked up without locks.
 */
struct ksmdev_kpage {
	struct hlist_node node;		/* bucket->stable, bucket lock */
	struct rhash_head pfn_node;	/* the pfn table */
	unsigned long pfn;		/* constant: page_to_pfn(page), the pfn table's key */
	struct kref ref;		/* one for the tables, one per user */
	struct page *page;		/* constant, referenced */
	u32 hash;			/* constant: content hash (ksmdev_checksum()) */
	u64 domain;			/* constant: ksmdev_domain_key() of its domain */
	int nid;			/* constant: node to match, or -1 for any */
	bool hashed;			/* in the content table; bucket lock */
	/*
	 * A sharer was switched to it by ksmdev_merge_into() or
	 * ksmdev_move_target() (ksmdev_kpage_joined(): written true once,
	 * read without a lock): a copy that never was is kept, not let go of.
	 */
	bool joined;
	/*
	 * Its copy in a fuller block, which replaced it in the content table
	 * while its block is emptied (bucket lock; referenced): set when its
	 * first sharer moves, cleared by the sweep once the copy is used by
	 * nothing else (ksmdev_kpage_let_copy_go()).
	 */
	struct ksmdev_kpage *moved_to;
	int sha1_state;			/* KSMDEV_SHA1_*: cmpxchg, then release */
	u8 sha1[SHA1_DIGEST_SIZE];	/* the SHA-1 cache entry, once SHA1_VALID */
	struct rcu_head rcu;
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

/*
 * What pages must share to merge: the merge domain's id, and whether it is
 * the hardened domain of that id (another domain, KSM_DOMAIN_HARDENED): bit
 * 32. Named domains' keys are below KSMDEV_PRIVATE_KEYS; a private domain's
 * key is KSMDEV_PRIVATE_KEYS plus its number, counted from 1 and never
 * reused (ksmdev_sma_set_domain()): 2^64 - 2^33 of them before the count
 * could come round, which no caller lives to see.
 */
#define KSMDEV_PRIVATE_KEYS (1ULL << 33)

static inline u64 ksmdev_domain_key(u32 domain, bool hardened)
{
	return (u64)hardened << 32 | domain;
}

static inline bool ksmdev_domain_hardened(u64 key)
{
	return key < KSMDEV_PRIVATE_KEYS && ((key >> 32) & 1);
}

/* The most merge domains a scanner limited to its owner's domains keeps track of. */
#define KSMDEV_SCAN_DOMAINS 16

/* A scan cursor: one per scan fd, and one for kksmd. All under @lock. */
struct ksmdev_scanner {
	struct mutex lock;		/* one scan at a time on this cursor */
	/*
	 * NULL: it scans every region (kksmd, or a scan fd made with
	 * CAP_SYS_ADMIN), in registration order. Else the mm (mmgrab'ed) of
	 * the process that made it, and it scans only the domains that process
	 * has regions in: @domains (by increasing key), as of the stamp
	 * @domains_gen of its list of regions (ksmdev_mm.gen); a domain's
	 * regions in registration order, then the next domain's.
	 */
	struct mm_struct *owner;
	u64 domains[KSMDEV_SCAN_DOMAINS];	/* ksmdev_domain_key()s, sorted */
	unsigned int nr_domains;
	unsigned long domains_gen;
	struct ksmdev_region *region;	/* current region, referenced during a scan call */
	u64 domain;			/* with an owner: the domain of region or region_id */
	unsigned long index;		/* next page of region to look at */
	/*
	 * The last item before @index, valid while region->items_gen is
	 * @seek_gen (no item was added or removed since): where to go on in the
	 * region's list without walking it from its head.
	 */
	struct ksmdev_item *seek;
	unsigned long seek_gen;
	u64 region_id;			/* id of region, to resume if it is removed */
	u64 pass_start;			/* ktime (ns) when the current pass began, or 0 */
	bool pass_fresh;		/* no batch of the current pass scanned yet */
	unsigned long pass_scanned;	/* pages looked at in the current pass */
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

/* ---- ksm_stats.c: event counters and levels ---- */

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

/* Levels the module keeps as things happen, so that reading them costs nothing. */
enum ksmdev_level {
	KSMDEV_LV_KPAGES,		/* kernel page entries alive */
	KSMDEV_LV_ITEMS,		/* items of all regions */
	KSMDEV_LV_ZERO,			/* items that say ZERO: zero pages the module mapped */
	KSMDEV_NR_LEVELS
};

void ksmdev_stats_events(struct ksm_stats *st);
void ksmdev_level_add(enum ksmdev_level lv, long n);
unsigned long ksmdev_level(enum ksmdev_level lv);

/* ---- ksm_config.c ---- */
extern struct ksm_config ksmdev_cfg;
void ksmdev_config_get(struct ksm_config *cfg);
int ksmdev_config_set(const struct ksm_config *cfg);
bool ksmdev_merge_rule(unsigned int *gen);
bool ksmdev_kpage_count(unsigned int gen);

/* ---- ksm_page.c ---- */
int ksmdev_page_init(void);
void ksmdev_page_exit(void);
u32 ksmdev_hash_page(struct page *page);
void ksmdev_sha1_page(struct page *page, u8 *digest);
bool ksmdev_pages_identical(struct page *a, struct page *b);
bool ksmdev_page_is_zero(struct page *page);
int ksmdev_merge_nid(struct page *page, unsigned int *gen);

/* ---- ksm_kpool.c ---- */
int ksmdev_kpool_init(void);
void ksmdev_kpool_exit(void);
struct page *ksmdev_kpool_alloc(int nid, bool random);
void ksmdev_kpool_free(struct page *page);
bool ksmdev_kpool_evacuating(unsigned long pfn);
void ksmdev_kpool_maintain(void);
unsigned long ksmdev_kpool_spare(void);
size_t ksmdev_kpool_metadata_bytes(void);

/* ---- ksm_kpage.c ---- */
extern unsigned long ksmdev_max_kernel_pages;
int ksmdev_kpage_init(void);
void ksmdev_kpage_exit(void);
struct ksmdev_kpage *ksmdev_kpage_new(struct page *page, struct mm_struct *mm, u64 domain,
				      unsigned int nodes_gen);
struct ksmdev_kpage *ksmdev_kpage_copy_kpage(struct ksmdev_kpage *kp, struct mm_struct *mm);
struct ksmdev_kpage *ksmdev_kpage_lookup(unsigned long pfn);
void ksmdev_kpage_put(struct ksmdev_kpage *kp);
const u8 *ksmdev_kpage_sha1(struct ksmdev_kpage *kp);
bool ksmdev_kpage_is_ours(struct page *page);
size_t ksmdev_kpage_metadata_bytes(void);

/* ---- ksm_region.c ---- */
int ksmdev_region_init(void);
void ksmdev_region_exit(void);
void ksmdev_region_get(struct ksmdev_region *r);
void ksmdev_region_put(struct ksmdev_region *r);
void ksmdev_region_id_insert(struct rb_root *root, struct ksmdev_region *r, bool dom);
struct ksmdev_region *ksmdev_region_after_id(struct rb_root *root, u64 id, bool dom);
struct ksmdev_item **ksmdev_items_seek(struct ksmdev_region *r, unsigned long index,
				       struct ksmdev_item *hint, unsigned long hint_gen);
struct ksmdev_item *ksmdev_item_add(struct ksmdev_region *r, struct ksmdev_item **link,
				    unsigned long index);
void ksmdev_item_del(struct ksmdev_region *r, struct ksmdev_item **link);
void ksmdev_item_set_state(struct ksmdev_item *it, u8 state);
size_t ksmdev_item_metadata_bytes(void);

/* ---- ksm_table.c ---- */

/*
 * An unstable candidate: its item, its region (referenced), and whether that
 * region's lock was taken for it. Several candidates may share a region and
 * its lock: the item of each stays valid until the caller has dropped them
 * all (the lock of the one that took it goes last of all).
 */
struct ksmdev_cand {
	struct ksmdev_item *it;
	struct ksmdev_region *region;
	bool locked;
};

int ksmdev_table_init(void);
void ksmdev_table_exit(void);
void ksmdev_table_add_kpage(struct ksmdev_kpage *kp);
struct ksmdev_kpage *ksmdev_table_move_kpage(struct ksmdev_kpage *kp, struct mm_struct *mm);
int ksmdev_stable_candidates(u32 hash, u64 domain, int nid,
			     struct ksmdev_kpage **out, int max);
int ksmdev_unstable_candidates(struct ksmdev_item *self, u32 hash, int nid, bool settled_only,
			       struct ksmdev_cand *out, int max);
bool ksmdev_item_file(struct ksmdev_item *it, u32 hash, int nid);
void ksmdev_item_unfile(struct ksmdev_item *it);
void ksmdev_kpage_sweep(void);
void ksmdev_kpage_sweep_soon(void);
void ksmdev_kpage_sweep_later(void);
bool ksmdev_sweep_cheaper(unsigned long pages);
void ksmdev_kpages_unmapped(const unsigned long *pfns, unsigned int n, unsigned long sharing);
void ksmdev_table_fill(struct ksm_stats *st);
size_t ksmdev_table_metadata_bytes(void);

/* ---- ksm_merge.c ---- */

/* What is mapped at one address of a region, as found by ksmdev_lookup(). */
struct ksmdev_target {
	struct ksmdev_region *region;
	unsigned long index;
	unsigned long addr;
	struct page *page;		/* referenced when the lookup found a page */
	unsigned long kpfn;		/* the kernel page's pfn, when it found one */
	unsigned int nodes_gen;		/* the node rule its twins were looked up by */
};

/*
 * Outcomes of ksmdev_lookup() and ksmdev_merge_into(). Negative values carry
 * the enum ksm_skip_reason of a page that was passed over.
 */
#define KSMDEV_MERGED		0	/* the PTE now maps the kernel page */
#define KSMDEV_FOUND_ANON	1	/* an anonymous page: a candidate */
#define KSMDEV_FOUND_KPAGE	2	/* already one of our kernel pages */
#define KSMDEV_DIFFERENT	3	/* not merged: the contents differ */
#define KSMDEV_FOUND_POISONED	4	/* one of our kernel pages, marked hardware-poisoned */
#define KSMDEV_SKIP(reason)	(-1 - (int)(reason))
#define KSMDEV_SKIP_REASON(ret)	(-1 - (ret))

bool ksmdev_vma_registrable(struct vm_area_struct *vma);
int ksmdev_lookup(struct ksmdev_target *t);
int ksmdev_may_switch(struct ksmdev_target *t);
int ksmdev_split_target(struct ksmdev_target *t);
int ksmdev_merge_into(struct ksmdev_target *t, struct ksmdev_kpage *kp);
int ksmdev_merge_first(struct ksmdev_target *t, struct ksmdev_kpage *kp);
int ksmdev_merge_zero(struct ksmdev_target *t);
int ksmdev_poison_target(struct ksmdev_target *t);
int ksmdev_move_target(struct ksmdev_target *t, struct ksmdev_kpage *from,
		       struct ksmdev_kpage *to);
bool ksmdev_mm_lock(struct mm_struct *mm);
void ksmdev_mm_unlock(struct mm_struct *mm);
int ksmdev_unmerge_locked(struct mm_struct *mm, struct vm_area_struct **vmap,
			  unsigned long addr, bool zero_too, unsigned long *kpfnp);
int ksmdev_find_present(struct ksmdev_region *r, unsigned long from, unsigned long *found,
			int max, unsigned long *next);

/* ---- ksm_registry.c ---- */
extern spinlock_t ksmdev_regions_lock;
extern struct list_head ksmdev_regions;
extern struct rb_root ksmdev_regions_by_id;
int ksmdev_registry_init(void);
struct ksmdev_mm *ksmdev_mm_find(struct mm_struct *mm);
struct ksmdev_domain *ksmdev_domain_find(u64 key);
int ksmdev_region_register(struct ksmdev_sma *sma, u64 addr, u64 npages);
int ksmdev_sma_remove(struct ksmdev_sma *sma, u64 addr, bool unmerge, struct ksm_unmerge *res);
int ksmdev_sma_set_domain(struct ksmdev_sma *sma, u32 *domain, bool hardened);
int ksmdev_unmerge(struct ksmdev_sma *sma, struct ksm_unmerge *res);
void ksmdev_sma_stats(struct ksmdev_sma *sma, struct ksm_process_stats *st);
void ksmdev_mm_stats(struct mm_struct *mm, struct ksm_process_stats *st);
void ksmdev_region_totals(u64 *regions, u64 *pages);
void ksmdev_registry_exit(void);

/* ---- ksm_scan.c ---- */
extern u64 ksmdev_last_full_scan_ms;
void ksmdev_scanner_init(struct ksmdev_scanner *s, struct mm_struct *owner);
void ksmdev_scanner_release(struct ksmdev_scanner *s);
int ksmdev_scan(struct ksmdev_scanner *s, struct ksmdev_scan_ctl *ctl);

/* ---- ksm_kthread.c ---- */
int ksmdev_kthread_set(const struct ksm_kthread_info *info);
void ksmdev_kthread_get(struct ksm_kthread_info *info);
void ksmdev_kthread_init(void);
void ksmdev_kthread_exit(void);

/* ---- ksm_sysfs.c ---- */
extern bool ksmdev_public_stats;
void ksmdev_stats_read(struct ksm_stats *st);
extern const struct attribute_group *ksmdev_attr_groups[];

/* ---- ksm_dev.c ---- */
int ksmdev_dev_init(void);
void ksmdev_dev_exit(void);

#endif /* KSMDEV_INTERNAL_H */
