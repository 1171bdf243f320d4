/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Everything that differs between the kernels the module supports, in one
 * place. The KSMDEV_HAVE_* macros come from compat_probes.h, which
 * conftest.sh generates by compiling probes/ against the target kernel: each
 * probe says which kernel version changed what it tests. The engine calls the
 * ksmdev_* helpers below and never tests a kernel version itself.
 *
 * Functions the kernel does not export are called through ksmdev_call(),
 * resolved once at load by ksm_syms.c from the list in ksm_sym_list.h.
 *
 * Kbuild includes this header first in every file of the module (-include),
 * so no file includes it itself.
 */
#ifndef KSMDEV_COMPAT_H
#define KSMDEV_COMPAT_H

#include <linux/highmem.h>
#include <asm/cpufeature.h>
#include <linux/huge_mm.h>
#include <linux/jhash.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/pgtable.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/uaccess.h>

#include <compat_probes.h>	/* the -I of this kernel's probes (Kbuild), never a stale copy here */
#include "ksm_syms.h"

#ifdef KSMDEV_HAVE_SOFTLEAF
#include <linux/leafops.h>
#endif

#ifdef KSMDEV_HAVE_CRYPTO_SHA1_H
#include <crypto/sha1.h>
#else
#include <crypto/sha.h>		/* SHA1_DIGEST_SIZE before 5.11 */
#endif

/*
 * Does the CPU enforce indirect branch tracking on kernel code? Kernel IBT
 * came in 5.18 (X86_FEATURE_IBT, CONFIG_X86_KERNEL_IBT); before, never.
 */
static inline bool ksmdev_kernel_ibt(void)
{
#if defined(CONFIG_X86_KERNEL_IBT) && defined(X86_FEATURE_IBT)
	return boot_cpu_has(X86_FEATURE_IBT);
#else
	return false;
#endif
}

/* Read a PMD entry that may change under us (no lock held). */
static inline pmd_t ksmdev_pmdp_get(pmd_t *pmdp)
{
#ifdef KSMDEV_HAVE_PMDP_GET_LOCKLESS
	return pmdp_get_lockless(pmdp);
#else
	return READ_ONCE(*pmdp);	/* a PMD is one word on x86-64 */
#endif
}

/* Does @pmd map a device's (DAX) huge page? No kernel after pmd_devmap()'s removal has those. */
static inline bool ksmdev_pmd_devmap(pmd_t pmd)
{
#ifdef KSMDEV_HAVE_PMD_DEVMAP
	return pmd_devmap(pmd);
#else
	return false;
#endif
}

/*
 * Map and lock the page table under @pmd for @addr. Returns NULL when there
 * is no page table there (none, huge, bad or, since 6.5, just removed).
 * Caller holds the mmap lock; unlock with pte_unmap_unlock().
 */
static inline pte_t *ksmdev_pte_offset_map_lock(struct mm_struct *mm, pmd_t *pmd,
						unsigned long addr, spinlock_t **ptlp)
{
	pmd_t pmdval = ksmdev_pmdp_get(pmd);

	if (pmd_none(pmdval) || !pmd_present(pmdval) || pmd_trans_huge(pmdval) ||
	    ksmdev_pmd_devmap(pmdval) || pmd_bad(pmdval))
		return NULL;
#if defined(KSMDEV_HAVE_PTE_OFFSET_MAP_LOCK_FUNC)
	return ksmdev_call(__pte_offset_map_lock)(mm, pmd, addr, ptlp);
#elif defined(KSMDEV_HAVE_PTE_OFFSET_MAP_LOCK_EXTERN)
	return ksmdev_call(pte_offset_map_lock)(mm, pmd, addr, ptlp);
#else
	return pte_offset_map_lock(mm, pmd, addr, ptlp);
#endif
}

/* Set up an mmu-notifier range covering [start, end) of @vma. */
static inline void ksmdev_mmu_range_init(struct mmu_notifier_range *range,
					 struct vm_area_struct *vma,
					 unsigned long start, unsigned long end)
{
#ifdef KSMDEV_HAVE_MMU_NOTIFIER_RANGE_INIT_VMA
	mmu_notifier_range_init(range, MMU_NOTIFY_CLEAR, 0, vma, vma->vm_mm, start, end);
#else
	mmu_notifier_range_init(range, MMU_NOTIFY_CLEAR, 0, vma->vm_mm, start, end);
#endif
}

/* mmu_notifier_invalidate_range_start(), through the resolved symbol. May sleep. */
static inline void ksmdev_mmu_invalidate_start(struct mmu_notifier_range *range)
{
	might_sleep();
	if (mm_has_notifiers(range->mm)) {
		range->flags |= MMU_NOTIFIER_RANGE_BLOCKABLE;
		ksmdev_call(__mmu_notifier_invalidate_range_start)(range);
	}
}

/*
 * mmu_notifier_invalidate_range_end(), through the resolved symbol. Before
 * 6.6 with only_end: the switch flushed the secondary TLBs itself
 * (ksmdev_flush_secondary_tlb()). May sleep.
 */
static inline void ksmdev_mmu_invalidate_end(struct mmu_notifier_range *range)
{
	might_sleep();
	if (mm_has_notifiers(range->mm)) {
#ifdef KSMDEV_HAVE_MMU_NOTIFIER_END_ONLY_END
		ksmdev_call(__mmu_notifier_invalidate_range_end)(range, true);
#else
		ksmdev_call(__mmu_notifier_invalidate_range_end)(range);
#endif
	}
}

/*
 * ksmdev_flush_secondary_tlb - after ptep_clear_flush() at @addr of @mm,
 * make sure no device can still write the old page through a cached
 * translation. Until 6.6 secondary TLBs (IOMMU SVA: intel svm,
 * amd_iommu_v2) are flushed only by ->invalidate_range, which
 * invalidate_range_end() calls: after the compare, too late. So call it
 * here, under the PTE lock, as 6.1's ptep_clear_flush_notify() does, and end
 * the range with only_end (ksmdev_mmu_invalidate_end()). From 6.6 the TLB
 * flush itself flushes them.
 */
static inline void ksmdev_flush_secondary_tlb(struct mm_struct *mm, unsigned long addr)
{
#ifdef KSMDEV_HAVE_MMU_NOTIFIER_END_ONLY_END
	if (mm_has_notifiers(mm))
		ksmdev_call(__mmu_notifier_invalidate_range)(mm, addr, addr + PAGE_SIZE);
#endif
}

/*
 * Charge the __GFP_ACCOUNT allocations of this task to @memcg from here on
 * (NULL: its own cgroup again); returns what it was, to put back. Task
 * context. 5.10 does not export int_active_memcg, which set_active_memcg()
 * names: set the task's field, as set_active_memcg() does in task context.
 */
static inline struct mem_cgroup *ksmdev_set_active_memcg(struct mem_cgroup *memcg)
{
#if defined(KSMDEV_HAVE_MEMCG_DATA_KMEM)
	return set_active_memcg(memcg);
#elif defined(CONFIG_MEMCG_KMEM)
	struct mem_cgroup *old = current->active_memcg;

	current->active_memcg = memcg;
	return old;
#else
	return NULL;
#endif
}

/*
 * The memory cgroup @page is charged to, referenced (mem_cgroup_put()), or
 * NULL if none. A page charged through an object cgroup (a kernel page; on
 * 7.x any page) may be moving to the parent of its removed cgroup: the
 * dying cgroup's reference cannot be taken, and the object cgroup is read
 * again until it points at the parent, as get_mem_cgroup_from_objcg() does.
 * Giving up there would leave the kernel page made from @page uncharged.
 * @page is referenced and charged (a charge held directly keeps its cgroup's
 * reference, so only the object cgroup's case loops).
 */
static inline struct mem_cgroup *ksmdev_page_memcg(struct page *page)
{
#ifdef KSMDEV_HAVE_MEMCG_DATA_KMEM
	struct mem_cgroup *memcg;

	rcu_read_lock();
	do {
		memcg = folio_memcg(page_folio(page));
	} while (memcg && !css_tryget(&memcg->css));
	rcu_read_unlock();
	return memcg;
#else
	return get_mem_cgroup_from_page(page);
#endif
}

/*
 * ksmdev_charge_kpage - charge the new kernel page @page to @memcg (the
 * cgroup of the first page it replaces; NULL: none) for as long as it is
 * one: as kernel memory (memory.stat "kernel") since 5.11; on 5.10, where a
 * kmem charge cannot be mapped to user space, as a user page of @mm's
 * cgroup. Never reclaims and never OOM-kills: at the cgroup's limit the
 * charge fails at once (-ENOMEM) and the merge does not happen. The charge
 * goes when the page is freed or reused, or leaves the pool poisoned
 * (ksmdev_uncharge_kpage()), and moves to the parent cgroup if the cgroup is
 * removed first.
 */
static inline int ksmdev_charge_kpage(struct page *page, struct mem_cgroup *memcg,
				      struct mm_struct *mm)
{
#ifdef CONFIG_MEMCG
	gfp_t gfp = (GFP_KERNEL | __GFP_NOWARN) & ~__GFP_DIRECT_RECLAIM;
#ifdef KSMDEV_HAVE_MEMCG_DATA_KMEM
	struct mem_cgroup *old;
	int ret;

	if (!memcg)
		return 0;
	old = set_active_memcg(memcg);
	ret = ksmdev_call(__memcg_kmem_charge_page)(page, gfp, 0);
	set_active_memcg(old);
	return ret;
#else
	return memcg ? ksmdev_call(mem_cgroup_charge)(page, mm, gfp) : 0;
#endif
#else
	return 0;
#endif
}

/* Take the charge of ksmdev_charge_kpage() off @page, if it has one (it is no kernel page now). */
static inline void ksmdev_uncharge_kpage(struct page *page)
{
#if defined(CONFIG_MEMCG) && defined(KSMDEV_HAVE_MEMCG_DATA_KMEM)
	ksmdev_call(__memcg_kmem_uncharge_page)(page, 0);
#elif defined(CONFIG_MEMCG)
	ksmdev_call(mem_cgroup_uncharge)(page);
#endif
}

/* Account a mapping of the not-anonymous @kpage in @vma. PTE lock held. */
static inline void ksmdev_rmap_add_kpage(struct page *kpage, struct vm_area_struct *vma)
{
#if defined(KSMDEV_HAVE_FOLIO_ADD_FILE_RMAP_PTES)
	ksmdev_call(folio_add_file_rmap_ptes)(page_folio(kpage), kpage, 1, vma);
#elif defined(KSMDEV_HAVE_RMAP_TAKES_VMA)
	ksmdev_call(page_add_file_rmap)(kpage, vma, false);
#else
	ksmdev_call(page_add_file_rmap)(kpage, false);
#endif
}

/* Drop the rmap of one PTE mapping of the small @page in @vma. PTE lock held. */
static inline void ksmdev_rmap_remove(struct page *page, struct vm_area_struct *vma)
{
#if defined(KSMDEV_HAVE_FOLIO_ADD_FILE_RMAP_PTES)
	ksmdev_call(folio_remove_rmap_ptes)(page_folio(page), page, 1, vma);
#elif defined(KSMDEV_HAVE_RMAP_TAKES_VMA)
	ksmdev_call(page_remove_rmap)(page, vma, false);
#else
	ksmdev_call(page_remove_rmap)(page, false);
#endif
}

/*
 * add_mm_counter() without its unexported tracepoint call (made through the
 * resolved symbol when the kernel has it).
 */
static inline void ksmdev_mm_counter_add(struct mm_struct *mm, int member, long value)
{
#ifdef KSMDEV_HAVE_RSS_STAT_PERCPU
	percpu_counter_add(&mm->rss_stat[member], value);
	if (ksmdev_have(mm_trace_rss_stat))
		ksmdev_call(mm_trace_rss_stat)(mm, member);
#else
	long count = atomic_long_add_return(value, &mm->rss_stat.count[member]);

	if (ksmdev_have(mm_trace_rss_stat))
		ksmdev_call(mm_trace_rss_stat)(mm, member, count);
#endif
}

/*
 * Split the (locked, referenced) large folio of @page into small pages.
 * Without THP there is none to split (the scanner never gets here).
 */
static inline int ksmdev_split_huge_page(struct page *page)
{
#if !IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE)
	return -EINVAL;
#elif defined(KSMDEV_HAVE_SPLIT_HUGE_PAGE_INLINE)
	return ksmdev_call(__split_huge_page_to_list_to_order)(page, NULL, 0);
#elif defined(KSMDEV_HAVE_SPLIT_HUGE_PAGE_TO_ORDER)
	return ksmdev_call(split_huge_page_to_list_to_order)(page, NULL, 0);
#else
	return ksmdev_call(split_huge_page_to_list)(page, NULL);
#endif
}

/* Number of PTE mappings of a small (order-0) page. */
static inline int ksmdev_small_mapcount(struct page *page)
{
	return atomic_read(&page->_mapcount) + 1;
}

/* Is @page (anonymous) a page of the kernel's built-in KSM? */
static inline bool ksmdev_is_builtin_ksm(struct page *page)
{
#ifdef KSMDEV_HAVE_FOLIO_FLAGS
	return folio_test_ksm(page_folio(page));
#else
	return PageKsm(page);
#endif
}

/* May @page be pinned (FOLL_PIN: DMA, O_DIRECT)? */
static inline bool ksmdev_maybe_pinned(struct page *page)
{
#ifdef KSMDEV_HAVE_FOLIO_FLAGS
	return folio_maybe_dma_pinned(page_folio(page));
#else
	return page_maybe_dma_pinned(page);
#endif
}

/* What a present-less, non-empty PTE stands for. */
enum ksmdev_leaf {
	KSMDEV_LEAF_SWAP,	/* a page out on swap */
	KSMDEV_LEAF_MIGRATION,	/* a page being migrated */
	KSMDEV_LEAF_DEVICE,	/* a page a device holds (private or exclusive) */
	KSMDEV_LEAF_OTHER,	/* a marker, a poisoned page, ... */
};

/* Classify the non-present, non-none PTE value @pte. */
static inline enum ksmdev_leaf ksmdev_pte_leaf(pte_t pte)
{
#ifdef KSMDEV_HAVE_SOFTLEAF
	softleaf_t entry = softleaf_from_pte(pte);

	if (softleaf_is_swap(entry))
		return KSMDEV_LEAF_SWAP;
	if (softleaf_is_migration(entry))
		return KSMDEV_LEAF_MIGRATION;
	if (softleaf_is_device_private(entry) || softleaf_is_device_exclusive(entry))
		return KSMDEV_LEAF_DEVICE;
	return KSMDEV_LEAF_OTHER;
#else
	swp_entry_t entry = pte_to_swp_entry(pte);

	if (is_migration_entry(entry))
		return KSMDEV_LEAF_MIGRATION;
	if (is_device_private_entry(entry))
		return KSMDEV_LEAF_DEVICE;
#ifdef KSMDEV_HAVE_DEVICE_EXCLUSIVE_ENTRY
	if (is_device_exclusive_entry(entry))
		return KSMDEV_LEAF_DEVICE;
#endif
	if (non_swap_entry(entry))
		return KSMDEV_LEAF_OTHER;
	return KSMDEV_LEAF_SWAP;
#endif
}

/* Is the non-present PMD value @pmd a THP being migrated? */
static inline bool ksmdev_pmd_leaf_migrating(pmd_t pmd)
{
#ifdef KSMDEV_HAVE_SOFTLEAF
	return pmd_is_migration_entry(pmd);
#else
	return is_pmd_migration_entry(pmd);
#endif
}

/* The pfn of the zero page to map at @addr. */
static inline unsigned long ksmdev_zero_pfn(unsigned long addr)
{
#ifdef KSMDEV_HAVE_MY_ZERO_PFN
	return my_zero_pfn(addr);
#else
	return zero_pfn(addr);
#endif
}

/*
 * ksmdev_fault_copy - fault a private copy of the page mapped read-only at
 * @addr of @vma (a COW mapping), writing nothing to it. From 6.2 an
 * unsharing fault, as mainline's break_ksm() makes: the copy keeps the
 * PTE's uffd-wp marker and soft-dirty bit as they were. Before, a write
 * fault without a write (as GUP's FOLL_FORCE makes, and break_ksm() then):
 * it marks the copy dirty and soft-dirty, and where userfaultfd
 * write-protects the page it fails (VM_FAULT_SIGBUS: no handler may be
 * waited for here), or, once that userfaultfd is being closed, returns
 * VM_FAULT_NOPAGE without a copy, however often it is made (the caller
 * gives up). mmap lock held.
 */
static inline vm_fault_t ksmdev_fault_copy(struct vm_area_struct *vma, unsigned long addr)
{
#ifdef KSMDEV_HAVE_FAULT_UNSHARE_COW
	return handle_mm_fault(vma, addr, FAULT_FLAG_UNSHARE | FAULT_FLAG_REMOTE, NULL);
#else
	return handle_mm_fault(vma, addr, FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE, NULL);
#endif
}

/* The @n-th small page after @page within one large folio. */
static inline struct page *ksmdev_nth_page(struct page *page, unsigned long n)
{
#ifdef KSMDEV_HAVE_NTH_PAGE
	return nth_page(page, n);
#else
	return page + n;
#endif
}

/* Is @page (anonymous) in the swap cache? */
static inline bool ksmdev_in_swapcache(struct page *page)
{
#ifdef KSMDEV_HAVE_FOLIO_FLAGS
	return folio_test_swapcache(page_folio(page));
#else
	return PageSwapCache(page);
#endif
}

/*
 * Map @page into the kernel's address space for a short access that does
 * not sleep; unmap with ksmdev_kunmap(), nested mappings in reverse order.
 * Before kmap_local_page() (5.11): the direct map, as the module builds for
 * x86-64 only, which has no highmem.
 */
static inline void *ksmdev_kmap(struct page *page)
{
#ifdef KSMDEV_HAVE_KMAP_LOCAL_PAGE
	return kmap_local_page(page);
#else
	BUILD_BUG_ON(IS_ENABLED(CONFIG_HIGHMEM));
	return page_address(page);
#endif
}

static inline void ksmdev_kunmap(const void *addr)
{
#ifdef KSMDEV_HAVE_KMAP_LOCAL_PAGE
	kunmap_local(addr);
#endif
}

/*
 * Copy @src to @dst without taking the machine down if @src holds
 * hardware-poisoned memory nobody has found yet: returns false (the copy is
 * not to be used) when the copy stopped at a machine check. The machine
 * check of a kernel copy does not call memory_failure() itself (x86 only
 * marks it recovered): @src is queued for it here, as the kernel's own COW
 * copy does, so that it is marked poisoned and its users are dealt with
 * instead of reading it again. Both pages are mapped for the copy. Any
 * context (memory_failure_queue() runs the handler later, from a work item).
 */
static inline bool ksmdev_copy_page_mc(struct page *dst, struct page *src)
{
	void *d = ksmdev_kmap(dst);
	void *s = ksmdev_kmap(src);
	unsigned long left = copy_mc_to_kernel(d, s, PAGE_SIZE);

	ksmdev_kunmap(s);
	ksmdev_kunmap(d);
	if (left)
		memory_failure_queue(page_to_pfn(src), 0);
	return !left;
}

/*
 * ksmdev_checksum - the 32-bit content hash of the page at @addr
 *
 * xxhash where the kernel has it (CONFIG_XXHASH, which its own KSM selects
 * since 5.1, for the same reason): in our guests it costs a sixth of jhash2,
 * which took a third of the merge time (docs/performance.md). jhash2, the
 * 2008 driver's hash, otherwise. Either is seeded, and only picks candidates:
 * every merge compares the whole page.
 */
#if IS_ENABLED(CONFIG_XXHASH)
#include <linux/xxhash.h>

static inline u32 ksmdev_checksum(const void *addr, u32 seed)
{
	u64 h = xxh64(addr, PAGE_SIZE, seed);

	return (u32)h ^ (u32)(h >> 32);
}
#else
static inline u32 ksmdev_checksum(const void *addr, u32 seed)
{
	return jhash2(addr, PAGE_SIZE / sizeof(u32), seed);
}
#endif

#endif /* KSMDEV_COMPAT_H */
