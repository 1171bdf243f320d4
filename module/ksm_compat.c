// SPDX-License-Identifier: GPL-2.0
/*
 * The unexported kernel functions this kernel's build of the module calls
 * (see ksm_compat.h): resolved by name at load by ksm_syms.c.
 */
#include "ksm_internal.h"
#include "ksm_compat.h"

#define KSMDEV_SYM(fn, req) { #fn, offsetof(struct ksmdev_syms, fn), req }

const struct ksmdev_sym_desc ksmdev_sym_table[] = {
	KSMDEV_SYM(ptep_clear_flush, true),
	KSMDEV_SYM(__mmu_notifier_invalidate_range_start, true),
	KSMDEV_SYM(__mmu_notifier_invalidate_range_end, true),
	KSMDEV_SYM(lru_add_drain_all, true),
#ifdef KSMDEV_HAVE_FOLIO_ADD_FILE_RMAP_PTES
	KSMDEV_SYM(folio_add_file_rmap_ptes, true),
	KSMDEV_SYM(folio_remove_rmap_ptes, true),
#else
	KSMDEV_SYM(page_add_file_rmap, true),
	KSMDEV_SYM(page_remove_rmap, true),
#endif
#if defined(KSMDEV_HAVE_SPLIT_HUGE_PAGE_INLINE)
	KSMDEV_SYM(__split_huge_page_to_list_to_order, true),
#elif defined(KSMDEV_HAVE_SPLIT_HUGE_PAGE_TO_ORDER)
	KSMDEV_SYM(split_huge_page_to_list_to_order, true),
#else
	KSMDEV_SYM(split_huge_page_to_list, true),
#endif
#if defined(KSMDEV_HAVE_PTE_OFFSET_MAP_LOCK_FUNC)
	KSMDEV_SYM(__pte_offset_map_lock, true),
#elif defined(KSMDEV_HAVE_PTE_OFFSET_MAP_LOCK_EXTERN)
	KSMDEV_SYM(pte_offset_map_lock, true),
#endif
	KSMDEV_SYM(mm_trace_rss_stat, false),
};

const unsigned int ksmdev_sym_count = ARRAY_SIZE(ksmdev_sym_table);

/* Every field of struct ksmdev_syms must have its line in the table. */
static_assert(sizeof(struct ksmdev_syms) == ARRAY_SIZE(ksmdev_sym_table) * sizeof(void *));
