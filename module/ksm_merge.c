// SPDX-License-Identifier: GPL-2.0
/*
 * Merging: finding the page a process maps at an address (walking its page
 * tables), and replacing it by a kernel page - the 2008 page_wrprotect() and
 * replace_page() on today's mm, done in one PTE-lock critical section.
 *
 * The kernel page is not anonymous and has no mapping: in a private anonymous
 * VMA the kernel treats it like a file page without a file. A write fault
 * copies it (do_wp_page -> wp_page_copy), fork() shares it, unmap and exit
 * drop it with the file RSS counter; it is never on an LRU, so reclaim and
 * compaction leave it alone.
 */
#include "ksm_internal.h"

#include <linux/highmem.h>
#include <linux/memremap.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/swapops.h>
#include <linux/userfaultfd_k.h>

/* Take @mm's mmap lock for reading, unless the process is exiting. */
bool ksmdev_mm_lock(struct mm_struct *mm)
{
	if (!mmget_not_zero(mm))
		return false;
	mmap_read_lock(mm);
	return true;
}

/*
 * Undo ksmdev_mm_lock(). mmput_async(): if this was the last user, the mm's
 * teardown must not run here (its ->release, ksmdev_mm_release(), waits for
 * the registry lock and region locks, which the caller may hold).
 */
void ksmdev_mm_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
	mmput_async(mm);
}

/*
 * ksmdev_vma_registrable - may pages of @vma be registered and merged?
 *
 * Private anonymous memory only: not file-backed (that includes shared
 * anonymous memory, which is shmem), not I/O or PFN mappings, not hugetlb,
 * not special driver mappings.
 */
bool ksmdev_vma_registrable(struct vm_area_struct *vma)
{
	if (!vma_is_anonymous(vma))
		return false;
	return !(vma->vm_flags & (VM_SHARED | VM_MAYSHARE | VM_IO | VM_PFNMAP |
				  VM_MIXEDMAP | VM_HUGETLB | VM_DONTEXPAND));
}

/*
 * Why pages of @vma (registrable) may not be merged now: 0, or
 * KSMDEV_SKIP(reason).
 */
static int ksmdev_vma_refuses(struct vm_area_struct *vma)
{
	/* mlock() would have to account our non-LRU page: not worth it. */
	if (vma->vm_flags & VM_LOCKED)
		return KSMDEV_SKIP(KSM_SKIP_LOCKED);
	/* A replaced PTE would lose its uffd-wp marker. */
	if (userfaultfd_armed(vma))
		return KSMDEV_SKIP(KSM_SKIP_OTHER);
	return 0;
}

/*
 * The VMA at @addr, if pages there may be registered (@merging false: to
 * look at what is mapped, or to unmap a poisoned kernel page) or merged now
 * (@merging: ksmdev_vma_refuses() says nothing). Returns it, or NULL with
 * *reason set. mmap lock held.
 */
static struct vm_area_struct *ksmdev_vma_at(struct mm_struct *mm, unsigned long addr,
					    bool merging, int *reason)
{
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	vma = find_vma(mm, addr);
	if (!vma || vma->vm_start > addr || !ksmdev_vma_registrable(vma)) {
		*reason = KSMDEV_SKIP(KSM_SKIP_NO_VMA);
		return NULL;
	}
	*reason = merging ? ksmdev_vma_refuses(vma) : 0;
	return *reason ? NULL : vma;
}

/*
 * Classify a PTE value; on an anonymous page, reference it into *@pagep; on
 * one of our kernel pages, give its pfn in *@kpfnp. PTE lock held.
 */
static int ksmdev_classify_pte(pte_t pte, struct page **pagep, unsigned long *kpfnp)
{
	unsigned long pfn;
	struct page *page;

	if (pte_none(pte))
		return KSMDEV_SKIP(KSM_SKIP_ABSENT);
	if (!pte_present(pte)) {
		switch (ksmdev_pte_leaf(pte)) {
		case KSMDEV_LEAF_MIGRATION:
			return KSMDEV_SKIP(KSM_SKIP_MIGRATING);
		case KSMDEV_LEAF_DEVICE:
			return KSMDEV_SKIP(KSM_SKIP_DEVICE);
		case KSMDEV_LEAF_SWAP:
			return KSMDEV_SKIP(KSM_SKIP_SWAPPED);
		default:
			return KSMDEV_SKIP(KSM_SKIP_OTHER);
		}
	}
	pfn = pte_pfn(pte);
	if (is_zero_pfn(pfn))
		return KSMDEV_SKIP(KSM_SKIP_ZERO_PAGE);
	if (pte_special(pte) || !pfn_valid(pfn))
		return KSMDEV_SKIP(KSM_SKIP_OTHER);
	page = pfn_to_page(pfn);
	if (is_zone_device_page(page))
		return KSMDEV_SKIP(KSM_SKIP_DEVICE);
	if (!PageAnon(page)) {
		if (!ksmdev_kpage_is_ours(page))
			return KSMDEV_SKIP(KSM_SKIP_OTHER);
		*kpfnp = pfn;
		return PageHWPoison(page) ? KSMDEV_FOUND_POISONED : KSMDEV_FOUND_KPAGE;
	}
	/* Never read, never merged (a real poison would machine-check on the read). */
	if (PageHWPoison(page))
		return KSMDEV_SKIP(KSM_SKIP_HWPOISON);
	if (ksmdev_is_builtin_ksm(page))
		return KSMDEV_SKIP(KSM_SKIP_BUILTIN_KSM);
	if (ksmdev_in_swapcache(page))
		return KSMDEV_SKIP(KSM_SKIP_SWAPCACHE);
	get_page(page);
	*pagep = page;
	return KSMDEV_FOUND_ANON;
}

/* The subpage for @addr of the THP mapped by *@pmdp, referenced. mmap lock held. */
static int ksmdev_walk_huge(struct mm_struct *mm, pmd_t *pmdp, unsigned long addr,
			    struct page **pagep)
{
	spinlock_t *ptl = pmd_lock(mm, pmdp);
	pmd_t pmd = *pmdp;
	struct page *page;
	int ret;

	if (!pmd_trans_huge(pmd)) {
		ret = KSMDEV_SKIP(ksmdev_pmd_devmap(pmd) ? KSM_SKIP_DEVICE : KSM_SKIP_BUSY);
		goto unlock;
	}
	page = pmd_page(pmd);
	if (!PageAnon(page)) {
		/* The huge zero page, or something that is not ours to merge. */
		ret = KSMDEV_SKIP(KSM_SKIP_OTHER);
		goto unlock;
	}
	page = ksmdev_nth_page(page, (addr & ~HPAGE_PMD_MASK) >> PAGE_SHIFT);
	if (PageHWPoison(page)) {
		ret = KSMDEV_SKIP(KSM_SKIP_HWPOISON);
		goto unlock;
	}
	get_page(page);
	*pagep = page;
	ret = KSMDEV_FOUND_ANON;
unlock:
	spin_unlock(ptl);
	return ret;
}

/* The PMD entry covering @addr in @mm, or NULL if there is no page table. */
static pmd_t *ksmdev_find_pmd(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;
	pud_t *pud;
	pud_t pudval;

	if (pgd_none(*pgd) || pgd_bad(*pgd))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		return NULL;
	pud = pud_offset(p4d, addr);
	pudval = READ_ONCE(*pud);
	if (pud_none(pudval) || !pud_present(pudval) || pud_leaf(pudval) || pud_bad(pudval))
		return NULL;
	return pmd_offset(pud, addr);
}

/*
 * ksmdev_walk - what is mapped at @addr of @vma's mm; mmap lock held
 *
 * Returns KSMDEV_FOUND_ANON with *pagep referenced, KSMDEV_FOUND_KPAGE or
 * KSMDEV_FOUND_POISONED with the kernel page's pfn in *@kpfnp, or
 * KSMDEV_SKIP(reason). Never faults anything in.
 */
static int ksmdev_walk(struct vm_area_struct *vma, unsigned long addr, struct page **pagep,
		       unsigned long *kpfnp)
{
	struct mm_struct *mm = vma->vm_mm;
	pmd_t *pmdp = ksmdev_find_pmd(mm, addr);
	spinlock_t *ptl;
	pte_t *ptep;
	pmd_t pmd;
	int ret;

	mmap_assert_locked(mm);
	if (!pmdp)
		return KSMDEV_SKIP(KSM_SKIP_ABSENT);
	pmd = ksmdev_pmdp_get(pmdp);
	if (pmd_none(pmd))
		return KSMDEV_SKIP(KSM_SKIP_ABSENT);
	if (!pmd_present(pmd))
		return KSMDEV_SKIP(ksmdev_pmd_leaf_migrating(pmd) ? KSM_SKIP_MIGRATING :
								KSM_SKIP_OTHER);
	if (pmd_trans_huge(pmd) || ksmdev_pmd_devmap(pmd))
		return ksmdev_walk_huge(mm, pmdp, addr, pagep);

	ptep = ksmdev_pte_offset_map_lock(mm, pmdp, addr, &ptl);
	if (!ptep)
		return KSMDEV_SKIP(KSM_SKIP_BUSY);	/* the table just changed */
	ret = ksmdev_classify_pte(ptep_get(ptep), pagep, kpfnp);
	pte_unmap_unlock(ptep, ptl);
	return ret;
}

/**
 * ksmdev_lookup - find the page at @t->index of @t->region
 *
 * Takes and drops the mmap lock of the region's process. Sets @t->addr and,
 * on KSMDEV_FOUND_ANON, @t->page (referenced: put_page() it), only where it
 * may be merged now (not mlocked, not userfaultfd-armed); kernel pages are
 * found in any VMA a region may cover, to be kept count of or, poisoned,
 * unmapped. Otherwise
 * returns KSMDEV_FOUND_KPAGE or KSMDEV_FOUND_POISONED (and @t->kpfn, the
 * kernel page's pfn, as it was when looked at), or KSMDEV_SKIP(reason).
 */
int ksmdev_lookup(struct ksmdev_target *t)
{
	struct mm_struct *mm = t->region->mm;
	struct vm_area_struct *vma;
	int ret;

	t->addr = t->region->start + (t->index << PAGE_SHIFT);
	t->page = NULL;
	if (!ksmdev_mm_lock(mm))
		return KSMDEV_SKIP(KSM_SKIP_EXITING);
	vma = ksmdev_vma_at(mm, t->addr, false, &ret);
	if (vma)
		ret = ksmdev_walk(vma, t->addr, &t->page, &t->kpfn);
	if (ret == KSMDEV_FOUND_ANON) {
		/* Not to be merged there now; what is merged there is still seen. */
		int refused = ksmdev_vma_refuses(vma);

		if (refused) {
			ret = refused;
			put_page(t->page);
			t->page = NULL;
		}
	}
	ksmdev_mm_unlock(mm);
	return ret;
}

/* Where ksmdev_find_present() writes what it finds, and how far it got. */
struct ksmdev_present {
	unsigned long start;		/* the region's first address */
	unsigned long *found;		/* page indexes */
	int n, max;
	unsigned long next;		/* the first address not looked at */
};

/*
 * Record page @addr; returns false (and sets where to go on) when @p is
 * full.
 */
static bool ksmdev_present_add(struct ksmdev_present *p, unsigned long addr)
{
	if (p->n == p->max) {
		p->next = addr;
		return false;
	}
	p->found[p->n++] = (addr - p->start) >> PAGE_SHIFT;
	return true;
}

/* The entries under one PMD, [addr, end). Returns false when @p is full. mmap lock held. */
static bool ksmdev_present_pmd(struct mm_struct *mm, pmd_t *pmdp, unsigned long addr,
			       unsigned long end, struct ksmdev_present *p)
{
	pmd_t pmd = ksmdev_pmdp_get(pmdp);
	spinlock_t *ptl;
	pte_t *ptep, *pte;
	bool more = true;

	if (pmd_none(pmd) || (pmd_present(pmd) && pmd_bad(pmd) && !pmd_trans_huge(pmd)))
		return true;
	if (!pmd_present(pmd) || pmd_trans_huge(pmd) || ksmdev_pmd_devmap(pmd)) {
		/* A huge page (or one being migrated): each of its small pages. */
		for (; addr < end; addr += PAGE_SIZE)
			if (!ksmdev_present_add(p, addr))
				return false;
		return true;
	}
	ptep = ksmdev_pte_offset_map_lock(mm, pmdp, addr, &ptl);
	if (!ptep)
		return true;	/* the table just went away: nothing there now */
	for (pte = ptep; addr < end; addr += PAGE_SIZE, pte++) {
		if (pte_none(ptep_get(pte)))
			continue;
		more = ksmdev_present_add(p, addr);
		if (!more)
			break;
	}
	pte_unmap_unlock(ptep, ptl);
	return more;
}

/*
 * The entries of [addr, end) of one VMA, skipping whatever has no page table.
 * Returns false when @p is full. mmap lock held.
 */
static bool ksmdev_present_range(struct mm_struct *mm, unsigned long addr, unsigned long end,
				 struct ksmdev_present *p)
{
	unsigned long next;

	while (addr < end) {
		pgd_t *pgd = pgd_offset(mm, addr);
		p4d_t *p4d;
		pud_t *pud;
		pud_t pudval;
		pmd_t *pmd;

		next = pgd_addr_end(addr, end);
		if (pgd_none(*pgd) || pgd_bad(*pgd))
			goto skip;
		p4d = p4d_offset(pgd, addr);
		next = p4d_addr_end(addr, next);
		if (p4d_none(*p4d) || p4d_bad(*p4d))
			goto skip;
		pud = pud_offset(p4d, addr);
		next = pud_addr_end(addr, next);
		pudval = READ_ONCE(*pud);
		if (pud_none(pudval) || !pud_present(pudval) || pud_leaf(pudval) || pud_bad(pudval))
			goto skip;
		pmd = pmd_offset(pud, addr);
		do {
			unsigned long pmd_next = pmd_addr_end(addr, next);

			if (!ksmdev_present_pmd(mm, pmd, addr, pmd_next, p))
				return false;
			addr = pmd_next;
			cond_resched();
		} while (pmd++, addr < next);
		continue;
skip:
		addr = next;
	}
	return true;
}

/**
 * ksmdev_find_present - the pages of @r that have a page table entry
 * @from: the first page index to look at
 * @found: gets the indexes of up to @max such pages, in increasing order
 * @next: set to the page index to go on from (@r->npages at the end)
 *
 * Walks the page tables of @r's process over the registrable VMAs of the
 * region, from @from on, skipping every range with no page table or no
 * entry: a pass costs in proportion to the pages present, not to the
 * region's size. An entry may be a present page or not (swapped, being
 * migrated): the caller looks at each. Takes and drops the mmap lock.
 * Returns how many were found, or KSMDEV_SKIP(KSM_SKIP_EXITING) when the
 * process is exiting.
 */
int ksmdev_find_present(struct ksmdev_region *r, unsigned long from, unsigned long *found,
			int max, unsigned long *next)
{
	unsigned long end = r->start + (r->npages << PAGE_SHIFT);
	struct ksmdev_present p = {
		.start = r->start, .found = found, .max = max, .next = end,
	};
	unsigned long addr = r->start + (from << PAGE_SHIFT);
	struct mm_struct *mm = r->mm;

	if (!ksmdev_mm_lock(mm))
		return KSMDEV_SKIP(KSM_SKIP_EXITING);
	while (addr < end) {
		struct vm_area_struct *vma = find_vma(mm, addr);

		if (!vma || vma->vm_start >= end)
			break;
		addr = max(addr, vma->vm_start);
		if (ksmdev_vma_registrable(vma) &&
		    !ksmdev_present_range(mm, addr, min(end, vma->vm_end), &p))
			break;
		addr = vma->vm_end;
	}
	ksmdev_mm_unlock(mm);
	*next = (p.next - r->start) >> PAGE_SHIFT;
	return p.n;
}

/*
 * Install at @addr (PTE @ptep, cleared; @old its value before) a read-only
 * mapping of the kernel page @kpage, referenced and in its rmap, or of the
 * shared zero page (@kpage NULL). Keeps the soft-dirty bit. PTE lock held.
 */
static void ksmdev_install(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep,
			   pte_t old, struct page *kpage)
{
	pte_t new;

	if (kpage) {
		new = pte_wrprotect(mk_pte(kpage, vma->vm_page_prot));
		get_page(kpage);
		ksmdev_rmap_add_kpage(kpage, vma);
	} else {
		new = pte_mkspecial(pfn_pte(ksmdev_zero_pfn(addr), vma->vm_page_prot));
	}
	if (pte_soft_dirty(old))
		new = pte_mksoft_dirty(new);
	set_pte_at(vma->vm_mm, addr, ptep, new);
}

/* A page table entry locked to be changed (ksmdev_pte_lock()). */
struct ksmdev_pte_lock {
	struct vm_area_struct *vma;
	struct mmu_notifier_range range;
	pte_t *ptep;
	spinlock_t *ptl;
};

/*
 * ksmdev_pte_lock - lock the page table entry at @addr of @vma, to change it
 *
 * mmap lock held. Starts an mmu notifier range over the page and takes the
 * PTE lock. Returns 0 with both held (release with ksmdev_pte_unlock()), or
 * KSMDEV_SKIP(KSM_SKIP_BUSY) with neither (no page table there).
 */
static int ksmdev_pte_lock(struct vm_area_struct *vma, unsigned long addr,
			   struct ksmdev_pte_lock *l)
{
	pmd_t *pmdp = ksmdev_find_pmd(vma->vm_mm, addr);

	if (!pmdp)
		return KSMDEV_SKIP(KSM_SKIP_BUSY);
	l->vma = vma;
	ksmdev_mmu_range_init(&l->range, vma, addr, addr + PAGE_SIZE);
	ksmdev_mmu_invalidate_start(&l->range);
	l->ptep = ksmdev_pte_offset_map_lock(vma->vm_mm, pmdp, addr, &l->ptl);
	if (l->ptep)
		return 0;
	ksmdev_mmu_invalidate_end(&l->range);
	return KSMDEV_SKIP(KSM_SKIP_BUSY);
}

/* Release what ksmdev_pte_lock() took, in reverse order. */
static void ksmdev_pte_unlock(struct ksmdev_pte_lock *l)
{
	pte_unmap_unlock(l->ptep, l->ptl);
	ksmdev_mmu_invalidate_end(&l->range);
}

/*
 * Clear the locked PTE at @addr (mapping @pfn) and flush it from every TLB,
 * secondary ones included: no CPU or device can write the page any more and
 * GUP-fast no longer finds it. Returns the old entry.
 */
static pte_t ksmdev_clear_pte(struct ksmdev_pte_lock *l, unsigned long addr, unsigned long pfn)
{
	pte_t old;

	flush_cache_page(l->vma, addr, pfn);
	old = ksmdev_call(ptep_clear_flush)(l->vma, addr, l->ptep);
	ksmdev_flush_secondary_tlb(l->vma->vm_mm, addr);
	return old;
}

/*
 * ksmdev_replace_pte - map @kpage read-only at @addr in place of @page
 * @page: the small anonymous page mapped there, referenced once by the caller
 * @kpage: a kernel page, or NULL for the shared zero page
 * @fill: @kpage is new and mapped nowhere: copy @page into it instead of
 *	comparing them
 *
 * mmap lock held for reading. Under the PTE lock: check the PTE still maps
 * @page; clear it and flush the TLB, so that no CPU can write the page and
 * GUP-fast can no longer find it; refuse if anything but its mappings and our
 * reference holds the page (a DMA or O_DIRECT pin may be writing into it);
 * compare the whole page with @kpage (or check it is all zeroes), or with
 * @fill copy it (machine-check safe: poison found in @page stops the copy
 * and the merge); only then install the new PTE and fix the RSS counters
 * (anon -> file for a kernel page; the zero page is not counted). Any
 * failure puts the old PTE back untouched. The mmu notifiers (KVM's
 * secondary MMU) hear of the change around it.
 *
 * Returns KSMDEV_MERGED, KSMDEV_DIFFERENT, or KSMDEV_SKIP(reason).
 */
static int ksmdev_replace_pte(struct vm_area_struct *vma, unsigned long addr,
			      struct page *page, struct page *kpage, bool fill)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ksmdev_pte_lock l;
	pte_t *ptep, old;
	int ret;

	mmap_assert_locked(mm);
	ret = ksmdev_pte_lock(vma, addr, &l);
	if (ret)
		return ret;
	ptep = l.ptep;
	old = ptep_get(ptep);
	if (!pte_present(old) || pte_pfn(old) != page_to_pfn(page)) {
		ret = KSMDEV_SKIP(KSM_SKIP_BUSY);
		goto out_unlock;
	}

	old = ksmdev_clear_pte(&l, addr, pte_pfn(old));

	/* Never compare (read) a page marked poisoned, nor map one. */
	if (PageHWPoison(page) || (kpage && PageHWPoison(kpage))) {
		set_pte_at(mm, addr, ptep, old);
		ret = KSMDEV_SKIP(KSM_SKIP_HWPOISON);
		goto out_unlock;
	}

	/* Mappings + our reference: anything more may be I/O into the page. */
	if (ksmdev_maybe_pinned(page)) {
		set_pte_at(mm, addr, ptep, old);
		ret = KSMDEV_SKIP(KSM_SKIP_PINNED);
		goto out_unlock;
	}
	if (page_count(page) != ksmdev_small_mapcount(page) + 1 || ksmdev_in_swapcache(page)) {
		set_pte_at(mm, addr, ptep, old);
		ret = KSMDEV_SKIP(KSM_SKIP_BUSY);
		goto out_unlock;
	}
	if (fill) {
		if (!ksmdev_copy_page_mc(kpage, page)) {
			set_pte_at(mm, addr, ptep, old);
			ret = KSMDEV_SKIP(KSM_SKIP_HWPOISON);
			goto out_unlock;
		}
	} else if (kpage ? !ksmdev_pages_identical(page, kpage) : !ksmdev_page_is_zero(page)) {
		set_pte_at(mm, addr, ptep, old);
		ret = KSMDEV_DIFFERENT;
		goto out_unlock;
	}

	ksmdev_install(vma, addr, ptep, old, kpage);
	ksmdev_rmap_remove(page, vma);
	ksmdev_mm_counter_add(mm, MM_ANONPAGES, -1);
	if (kpage)
		ksmdev_mm_counter_add(mm, MM_FILEPAGES, 1);
	put_page(page);		/* the reference of the mapping we removed */
	ret = KSMDEV_MERGED;

out_unlock:
	ksmdev_pte_unlock(&l);
	return ret;
}

/*
 * Split the large folio of @page (referenced by the caller) so that @page
 * can be replaced on its own. mmap lock held.
 */
static int ksmdev_split(struct page *page)
{
	int err;

	if (!trylock_page(page))
		return KSMDEV_SKIP(KSM_SKIP_BUSY);
	err = ksmdev_split_huge_page(page);
	unlock_page(page);
	if (err)
		return KSMDEV_SKIP(KSM_SKIP_THP);
	ksmdev_count(thp_split);
	return 0;
}

/**
 * ksmdev_split_target - split the huge page @t->page belongs to
 *
 * @t comes from ksmdev_lookup() (KSMDEV_FOUND_ANON, a subpage of a large
 * folio); the caller holds the page's busy bit and must hold no other
 * reference to that folio (a twin in the same huge page would make the split
 * fail: split first, then look the twin up). Returns 0 or KSMDEV_SKIP(reason).
 */
int ksmdev_split_target(struct ksmdev_target *t)
{
	struct mm_struct *mm = t->region->mm;
	int ret;

	if (!ksmdev_mm_lock(mm))
		return KSMDEV_SKIP(KSM_SKIP_EXITING);
	if (ksmdev_vma_at(mm, t->addr, true, &ret))
		ret = ksmdev_split(t->page);
	ksmdev_mm_unlock(mm);
	return ret;
}

/*
 * Switch @t->page for @kpage (a kernel page, or NULL for the zero page):
 * take the process's mmap lock, re-check the VMA, split a huge page if
 * needed, and replace the PTE if the contents are identical (or, with
 * @fill, once @t->page is copied into the new @kpage).
 */
static int ksmdev_switch(struct ksmdev_target *t, struct page *kpage, bool fill)
{
	struct mm_struct *mm = t->region->mm;
	struct vm_area_struct *vma;
	int ret;

	if (!ksmdev_mm_lock(mm))
		return KSMDEV_SKIP(KSM_SKIP_EXITING);
	vma = ksmdev_vma_at(mm, t->addr, true, &ret);
	if (!vma)
		goto unlock;
	if (PageCompound(t->page)) {
		ret = ksmdev_split(t->page);
		if (ret)
			goto unlock;
	}
	ret = ksmdev_replace_pte(vma, t->addr, t->page, kpage, fill);
unlock:
	ksmdev_mm_unlock(mm);
	return ret;
}

/*
 * ksmdev_kpage_joined - a sharer was switched to @kp (ksmdev_kpage.joined):
 * written once, so that later switches leave its cache line shared. No
 * lock: every writer writes true.
 */
static void ksmdev_kpage_joined(struct ksmdev_kpage *kp)
{
	if (!READ_ONCE(kp->joined))
		WRITE_ONCE(kp->joined, true);
}

/**
 * ksmdev_merge_into - map the kernel page @kp in place of @t->page
 *
 * @t comes from ksmdev_lookup() (KSMDEV_FOUND_ANON); the caller holds the
 * page's busy bit. Returns KSMDEV_MERGED, KSMDEV_DIFFERENT or
 * KSMDEV_SKIP(reason).
 */
int ksmdev_merge_into(struct ksmdev_target *t, struct ksmdev_kpage *kp)
{
	int ret = ksmdev_switch(t, kp->page, false);

	if (ret == KSMDEV_MERGED)
		ksmdev_kpage_joined(kp);
	return ret;
}

/**
 * ksmdev_merge_first - fill the new kernel page @kp from @t->page, map it there
 *
 * @kp comes from ksmdev_kpage_new() and is mapped nowhere. The copy is made
 * under write protection, once nothing can write @t->page any more, so it
 * holds exactly what the process had and needs no compare; its hash is
 * computed once it is mapped (it no longer changes). @t as for
 * ksmdev_merge_into(). Returns KSMDEV_MERGED or KSMDEV_SKIP(reason).
 */
int ksmdev_merge_first(struct ksmdev_target *t, struct ksmdev_kpage *kp)
{
	int ret = ksmdev_switch(t, kp->page, true);

	if (ret == KSMDEV_MERGED)
		kp->hash = ksmdev_hash_page(kp->page);
	return ret;
}

/**
 * ksmdev_merge_zero - map the shared zero page in place of @t->page
 *
 * For use_zero_pages: an all-zero page needs no hashing and no table entry.
 * Same rules and result as ksmdev_merge_into(); the check that the page is
 * all zeroes is made under write protection.
 */
int ksmdev_merge_zero(struct ksmdev_target *t)
{
	return ksmdev_switch(t, NULL, false);
}

/**
 * ksmdev_may_switch - could @t->page be switched now? (a cheap early check)
 *
 * The same test ksmdev_replace_pte() makes under the PTE lock, made without
 * it: a page that fails it (pinned, extra references) is not worth a kernel
 * page. A page that passes may still fail later. Returns 0 or
 * KSMDEV_SKIP(reason).
 */
int ksmdev_may_switch(struct ksmdev_target *t)
{
	struct page *page = t->page;

	if (PageCompound(page))
		return 0;	/* checked after the split */
	if (ksmdev_maybe_pinned(page))
		return KSMDEV_SKIP(KSM_SKIP_PINNED);
	if (page_count(page) != ksmdev_small_mapcount(page) + 1)
		return KSMDEV_SKIP(KSM_SKIP_BUSY);
	return 0;
}

/*
 * Faults ksmdev_unmerge_locked() makes for one page before it gives up: one
 * may only make a NUMA hinting entry present again, one back out of a PTE
 * that changed under it; more than a few in a row make no copy at all.
 */
#define KSMDEV_UNMERGE_FAULTS 16

/*
 * ksmdev_poison_pte - the body of ksmdev_poison_target(), at @addr of
 * @l->vma, whose PTE is locked (ksmdev_pte_lock()). Returns KSMDEV_MERGED
 * when the entry was replaced, else KSMDEV_SKIP(KSM_SKIP_BUSY).
 */
static int ksmdev_poison_pte(struct ksmdev_pte_lock *l, unsigned long addr)
{
	struct mm_struct *mm = l->vma->vm_mm;
	pte_t old = ptep_get(l->ptep);
	struct page *page = pte_present(old) && pfn_valid(pte_pfn(old)) ? pte_page(old) : NULL;

	/* The page locked, as make_hwpoison_entry() wants (a trylock: the PTE lock is held). */
	if (!page || PageAnon(page) || !PageHWPoison(page) || !ksmdev_kpage_is_ours(page) ||
	    !trylock_page(page))
		return KSMDEV_SKIP(KSM_SKIP_BUSY);
	ksmdev_clear_pte(l, addr, pte_pfn(old));
	set_pte_at(mm, addr, l->ptep, swp_entry_to_pte(make_hwpoison_entry(page)));
	ksmdev_rmap_remove(page, l->vma);
	ksmdev_mm_counter_add(mm, MM_FILEPAGES, -1);
	unlock_page(page);
	put_page(page);		/* the reference of the mapping we removed */
	return KSMDEV_MERGED;
}

/*
 * ksmdev_unmerge_poisoned - the poisoned kernel page at @addr of @vma is
 * unmapped as a pass unmaps it (ksmdev_poison_target()): an unmerge that
 * left it would leave it for good once the region is removed, readable
 * without a SIGBUS. mmap lock held. Returns 0, or -EBUSY if it stays
 * mapped (its page lock was held, or its PTE changed: the caller looks
 * again).
 */
static int ksmdev_unmerge_poisoned(struct vm_area_struct *vma, unsigned long addr)
{
	struct ksmdev_pte_lock l;
	int ret = ksmdev_pte_lock(vma, addr, &l);

	if (!ret) {
		ret = ksmdev_poison_pte(&l, addr);
		ksmdev_pte_unlock(&l);
	}
	return ret == KSMDEV_MERGED ? 0 : -EBUSY;
}

/**
 * ksmdev_unmerge_locked - a private copy at @addr of @mm, if the module
 * merged the page there
 * @vmap: the VMA of the previous call (or NULL), updated: a cache for loops
 * @zero_too: also when the shared zero page is mapped there (only pass it
 *	for pages whose state says the module put it there)
 * @kpfnp: if not NULL, set to the pfn of the kernel page copied, or 0 (no
 *	copy made, or a copy of the zero page)
 *
 * A fault that writes nothing (ksmdev_fault_copy(): unsharing where the
 * kernel can, else a write fault as GUP with FOLL_FORCE makes) makes the
 * copy through the kernel's own COW path, also in a VMA made read-only
 * since. The fault handler may return without making it (as mainline's
 * break_ksm() knows): a NUMA hinting entry is made present again first
 * (do_numa_page() cannot move a kernel page), and a PTE that changed under
 * it (its accessed bit set again, say) makes it back out. So the page is
 * looked at again after each fault, until it is a copy, but not forever:
 * before 6.2 a write fault on a page userfaultfd write-protects returns
 * without a copy nor an error, over and over, once that userfaultfd is being
 * closed (and its closer waits for the mmap lock we hold). A kernel page
 * marked hardware-poisoned is not copied: a hardware-poison entry replaces
 * it (ksmdev_unmerge_poisoned()). mmap lock held.
 * Returns 1 if a copy was made, 0 if there was nothing to do (or a poison
 * entry was put in), -ENOMEM or -EFAULT if the fault failed or kept making
 * no copy (the page stays merged), -EBUSY if a poisoned kernel page stays
 * mapped (its page lock held through every try), -EINTR on a fatal signal.
 */
int ksmdev_unmerge_locked(struct mm_struct *mm, struct vm_area_struct **vmap,
			  unsigned long addr, bool zero_too, unsigned long *kpfnp)
{
	struct vm_area_struct *vma = *vmap;
	unsigned long kpfn, first_kpfn = 0;
	unsigned int faults = 0;

	mmap_assert_locked(mm);
	if (kpfnp)
		*kpfnp = 0;
	if (!vma || addr < vma->vm_start || addr >= vma->vm_end) {
		vma = find_vma(mm, addr);
		*vmap = vma;
	}
	if (!vma || vma->vm_start > addr || !ksmdev_vma_registrable(vma))
		return 0;
	for (;;) {
		struct page *page = NULL;
		vm_fault_t fault;
		int found;

		found = ksmdev_walk(vma, addr, &page, &kpfn);
		if (found == KSMDEV_FOUND_ANON)
			put_page(page);
		if (found != KSMDEV_FOUND_KPAGE && found != KSMDEV_FOUND_POISONED &&
		    !(zero_too && found == KSMDEV_SKIP(KSM_SKIP_ZERO_PAGE)))
			break;
		if (faults) {
			if (fatal_signal_pending(current))
				return -EINTR;
			if (faults == KSMDEV_UNMERGE_FAULTS)
				return found == KSMDEV_FOUND_POISONED ? -EBUSY : -EFAULT;
			cond_resched();
		} else if (found == KSMDEV_FOUND_KPAGE) {
			first_kpfn = kpfn;
		}
		if (found == KSMDEV_FOUND_POISONED) {
			/* Tried again (its page lock held, its PTE changed) as a fault is. */
			if (!ksmdev_unmerge_poisoned(vma, addr))
				return 0;
			faults++;
			continue;
		}
		/* Not a COW mapping (an anonymous one always is): no fault copies. */
		if (!(vma->vm_flags & VM_MAYWRITE))
			return -EFAULT;
		fault = ksmdev_fault_copy(vma, addr);
		if (fault & VM_FAULT_OOM)
			return -ENOMEM;
		if (fault & VM_FAULT_ERROR)
			return -EFAULT;
		faults++;
	}
	if (kpfnp)
		*kpfnp = first_kpfn;
	return faults > 0;
}

/*
 * ksmdev_target_pte_lock - lock the page table entry of @t, to change it
 *
 * Takes the process's mmap lock (read), checks the VMA (ksmdev_vma_at(),
 * @merging), then ksmdev_pte_lock(). Returns 0 with all of that held (release with
 * ksmdev_target_pte_unlock()), or KSMDEV_SKIP(reason) with nothing held.
 */
static int ksmdev_target_pte_lock(struct ksmdev_target *t, bool merging,
				  struct ksmdev_pte_lock *l)
{
	struct mm_struct *mm = t->region->mm;
	struct vm_area_struct *vma;
	int ret;

	if (!ksmdev_mm_lock(mm))
		return KSMDEV_SKIP(KSM_SKIP_EXITING);
	vma = ksmdev_vma_at(mm, t->addr, merging, &ret);
	if (vma)
		ret = ksmdev_pte_lock(vma, t->addr, l);
	if (ret)
		ksmdev_mm_unlock(mm);
	return ret;
}

/* Release what ksmdev_target_pte_lock() took, in reverse order. */
static void ksmdev_target_pte_unlock(struct ksmdev_target *t, struct ksmdev_pte_lock *l)
{
	ksmdev_pte_unlock(l);
	ksmdev_mm_unlock(t->region->mm);
}

/**
 * ksmdev_poison_target - unmap the poisoned kernel page at @t as the kernel
 * unmaps a poisoned page
 *
 * @t's page table entry maps one of our kernel pages that memory_failure()
 * marked poisoned (ksmdev_lookup() said KSMDEV_FOUND_POISONED), which the
 * kernel itself cannot unmap: it has no rmap for it. Replace the entry by a
 * hardware-poison entry, as try_to_unmap() does for a page it can unmap:
 * the process gets SIGBUS (BUS_MCEERR_AR) when it next touches the address,
 * as the sharers of a mainline KSM page do since 6.12, instead of reading
 * the page (a machine check on real poison). Returns KSMDEV_MERGED when the
 * entry was replaced, else KSMDEV_SKIP(reason).
 */
int ksmdev_poison_target(struct ksmdev_target *t)
{
	struct ksmdev_pte_lock l;
	int ret;

	ret = ksmdev_target_pte_lock(t, false, &l);
	if (ret)
		return ret;
	ret = ksmdev_poison_pte(&l, t->addr);
	ksmdev_target_pte_unlock(t, &l);
	return ret;
}

/**
 * ksmdev_move_target - map kernel page @to at @t in place of kernel page @from
 *
 * @to is a copy of @from (ksmdev_table_move_kpage()), which is emptying its
 * block: both are kernel pages, never written since they were filled, so
 * their contents are the same and nothing needs comparing. @t comes from
 * ksmdev_lookup() (KSMDEV_FOUND_KPAGE, @t->kpfn). Under the mmap lock and
 * the PTE lock, with the mmu notifiers around it: the PTE must still map
 * @from; it is cleared and flushed, then maps @to. The RSS counters do not
 * change. Returns KSMDEV_MERGED or KSMDEV_SKIP(reason).
 */
int ksmdev_move_target(struct ksmdev_target *t, struct ksmdev_kpage *from,
		       struct ksmdev_kpage *to)
{
	struct ksmdev_pte_lock l;
	pte_t old;
	int ret;

	ret = ksmdev_target_pte_lock(t, true, &l);
	if (ret)
		return ret;
	ret = KSMDEV_SKIP(KSM_SKIP_BUSY);
	old = ptep_get(l.ptep);
	if (!pte_present(old) || pte_pfn(old) != from->pfn)
		goto out;
	if (PageHWPoison(from->page) || PageHWPoison(to->page)) {
		ret = KSMDEV_SKIP(KSM_SKIP_HWPOISON);
		goto out;
	}
	old = ksmdev_clear_pte(&l, t->addr, from->pfn);
	ksmdev_install(l.vma, t->addr, l.ptep, old, to->page);
	ksmdev_kpage_joined(to);
	ksmdev_rmap_remove(from->page, l.vma);
	put_page(from->page);	/* the reference of the mapping we removed */
	ret = KSMDEV_MERGED;
out:
	ksmdev_target_pte_unlock(t, &l);
	return ret;
}
