/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel functions the module calls but the kernel does not export: the
 * one list, expanded by ksm_syms.h (an index for each) and ksm_syms.c (the
 * table resolved at load). Not a header to include once: define KSMDEV_SYM()
 * first. A kernel difference that changes which function is needed is
 * chosen here, once, from the probes (compat_probes.h); ksm_compat.h wraps
 * the calls.
 *
 * KSMDEV_SYM(name, required): a required symbol that does not resolve fails
 * the load; an optional one is left unset and its wrapper does without it.
 */
KSMDEV_SYM(ptep_clear_flush, true)
KSMDEV_SYM(__mmu_notifier_invalidate_range_start, true)
KSMDEV_SYM(__mmu_notifier_invalidate_range_end, true)
KSMDEV_SYM(lru_add_drain_all, true)

/* The file rmap of the kernel page: page_* until 6.7, folio_*_ptes from 6.8. */
#ifdef KSMDEV_HAVE_FOLIO_ADD_FILE_RMAP_PTES
KSMDEV_SYM(folio_add_file_rmap_ptes, true)
KSMDEV_SYM(folio_remove_rmap_ptes, true)
#else
KSMDEV_SYM(page_add_file_rmap, true)
KSMDEV_SYM(page_remove_rmap, true)
#endif

/*
 * Splitting a THP: three names over the years (see ksmdev_split_huge_page()),
 * and none in kernels without THP (PREEMPT_RT ones), which have no large
 * anonymous folio to split.
 */
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
#if defined(KSMDEV_HAVE_SPLIT_HUGE_PAGE_INLINE)
KSMDEV_SYM(__split_huge_page_to_list_to_order, true)
#elif defined(KSMDEV_HAVE_SPLIT_HUGE_PAGE_TO_ORDER)
KSMDEV_SYM(split_huge_page_to_list_to_order, true)
#else
KSMDEV_SYM(split_huge_page_to_list, true)
#endif
#endif

/* pte_offset_map_lock(): inline up to 6.4, then out of line (see ksmdev_pte_offset_map_lock()). */
#if defined(KSMDEV_HAVE_PTE_OFFSET_MAP_LOCK_FUNC)
KSMDEV_SYM(__pte_offset_map_lock, true)
#elif defined(KSMDEV_HAVE_PTE_OFFSET_MAP_LOCK_EXTERN)
KSMDEV_SYM(pte_offset_map_lock, true)
#endif

/*
 * Until 6.6 secondary TLBs (IOMMU SVA) are flushed by ->invalidate_range,
 * which ptep_clear_flush() does not call: a switch calls it itself
 * (ksmdev_flush_secondary_tlb()).
 */
#ifdef KSMDEV_HAVE_MMU_NOTIFIER_END_ONLY_END
KSMDEV_SYM(__mmu_notifier_invalidate_range, true)
#endif

/*
 * Charging a kernel page to a memory cgroup and taking the charge off when
 * the page is reused (ksmdev_charge_kpage()): as kernel memory since 5.11,
 * as a user page on 5.10.
 */
#if defined(CONFIG_MEMCG) && defined(KSMDEV_HAVE_MEMCG_DATA_KMEM)
KSMDEV_SYM(__memcg_kmem_charge_page, true)
KSMDEV_SYM(__memcg_kmem_uncharge_page, true)
#elif defined(CONFIG_MEMCG)
KSMDEV_SYM(mem_cgroup_charge, true)
KSMDEV_SYM(mem_cgroup_uncharge, true)
#endif

/* A tracepoint hook of the RSS counters: optional. */
KSMDEV_SYM(mm_trace_rss_stat, false)
