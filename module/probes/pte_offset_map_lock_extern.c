// SPDX-License-Identifier: GPL-2.0
/*
 * pte_offset_map_lock() is itself an (unexported) function in 7.2. Before,
 * it was a macro (up to 6.4: this does not compile) or, from 6.5 to 6.12, an
 * inline wrapper around __pte_offset_map_lock() (this compiles too, so
 * ksm_compat.h tests probe pte_offset_map_lock_func first).
 */
#include <linux/mm.h>

pte_t *pte_offset_map_lock(struct mm_struct *mm, pmd_t *pmd, unsigned long addr, spinlock_t **ptlp);
typeof(&pte_offset_map_lock) probe = pte_offset_map_lock;
