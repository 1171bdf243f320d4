// SPDX-License-Identifier: GPL-2.0
/*
 * The registry: the memory processes register on SMA fds. Registration
 * checks, the lists that tie regions to their SMA, their process and the
 * scanners, removal (REMOVE ioctl, SMA close, process exit), unmerging and
 * the per-SMA and per-process counters.
 */
#include "ksm_internal.h"

#include <linux/bitmap.h>
#include <linux/moduleparam.h>
#include <linux/rhashtable.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

/*
 * Region limits. The one a tenant meets is its process's (as vm.max_map_count
 * bounds VMAs); a system-wide one, which any tenant could fill for everyone,
 * is off unless an administrator sets it. Region memory is charged to the
 * registering process's memory cgroup.
 */
static unsigned int ksmdev_max_regions;
module_param_named(max_regions, ksmdev_max_regions, uint, 0444);
MODULE_PARM_DESC(max_regions, "Most regions registered at once, system wide (0: no such limit)");

static unsigned int ksmdev_max_regions_per_process = 65536;
module_param_named(max_regions_per_process, ksmdev_max_regions_per_process, uint, 0444);
MODULE_PARM_DESC(max_regions_per_process, "Most regions one process registers, on all its SMA fds");

static unsigned int ksmdev_max_regions_per_sma = 4096;
module_param_named(max_regions_per_sma, ksmdev_max_regions_per_sma, uint, 0444);
MODULE_PARM_DESC(max_regions_per_sma, "Most regions registered on one SMA fd");

/* Serialises registration and removal: all SMA, per-mm and region lists. */
static DEFINE_MUTEX(ksmdev_registry_lock);

/*
 * Every live region, in registration order (increasing id), for the scanners'
 * cursors. Changed under ksmdev_registry_lock *and* this spinlock; cursors
 * read it under the spinlock alone.
 */
DEFINE_SPINLOCK(ksmdev_regions_lock);
LIST_HEAD(ksmdev_regions);
struct rb_root ksmdev_regions_by_id = RB_ROOT;

/*
 * Counts the changes to the lists of regions (both locks held): a process's
 * list is stamped with the count of its last change (ksmdev_mm.gen), so that
 * its cursors count its domains again only when its own regions changed.
 */
static unsigned long ksmdev_regions_gen;

/*
 * The processes that have regions (struct ksmdev_mm, by mm) and the merge
 * domains that have regions (struct ksmdev_domain, by key): changed under
 * ksmdev_registry_lock and ksmdev_regions_lock, looked up under either, so
 * that what is found stays alive as long as the lock is held.
 */
static struct rhashtable ksmdev_mms;
static struct rhashtable ksmdev_domains;

static const struct rhashtable_params ksmdev_mm_params = {
	.key_len = sizeof(struct mm_struct *),
	.key_offset = offsetof(struct ksmdev_mm, mn.mm),
	.head_offset = offsetof(struct ksmdev_mm, node),
	.automatic_shrinking = true,
};

static const struct rhashtable_params ksmdev_domain_params = {
	.key_len = sizeof(u64),
	.key_offset = offsetof(struct ksmdev_domain, key),
	.head_offset = offsetof(struct ksmdev_domain, node),
	.automatic_shrinking = true,
};

/* The regions of @mm's process (NULL: none). Registry lock or ksmdev_regions_lock held. */
struct ksmdev_mm *ksmdev_mm_find(struct mm_struct *mm)
{
	return rhashtable_lookup_fast(&ksmdev_mms, &mm, ksmdev_mm_params);
}

/* The regions of merge domain @key (NULL: none). Registry lock or ksmdev_regions_lock held. */
struct ksmdev_domain *ksmdev_domain_find(u64 key)
{
	return rhashtable_lookup_fast(&ksmdev_domains, &key, ksmdev_domain_params);
}

/* The tables of processes and domains. Returns 0 or -ENOMEM. */
int ksmdev_registry_init(void)
{
	int ret = rhashtable_init(&ksmdev_mms, &ksmdev_mm_params);

	if (ret)
		return ret;
	ret = rhashtable_init(&ksmdev_domains, &ksmdev_domain_params);
	if (ret)
		rhashtable_destroy(&ksmdev_mms);
	return ret;
}

/* Registry lock (read locklessly for the stats): next region id, regions, their pages. */
static u64 ksmdev_next_region_id = 1;
static unsigned int ksmdev_nr_regions;
static unsigned long ksmdev_nr_region_pages;

static void ksmdev_mm_release(struct mmu_notifier *mn, struct mm_struct *mm);

static struct mmu_notifier *ksmdev_mm_alloc(struct mm_struct *mm)
{
	struct ksmdev_mm *kmm = kzalloc(sizeof(*kmm), GFP_KERNEL_ACCOUNT);

	if (!kmm)
		return ERR_PTR(-ENOMEM);
	INIT_LIST_HEAD(&kmm->regions);
	kmm->by_addr = RB_ROOT;
	kmm->domains = RB_ROOT;
	return &kmm->mn;
}

/* Called by the mmu-notifier core after the last mmu_notifier_put() (SRCU callback). */
static void ksmdev_mm_free(struct mmu_notifier *mn)
{
	kfree(container_of(mn, struct ksmdev_mm, mn));
}

static const struct mmu_notifier_ops ksmdev_mmu_ops = {
	.release = ksmdev_mm_release,
	.alloc_notifier = ksmdev_mm_alloc,
	.free_notifier = ksmdev_mm_free,
};

/*
 * Check that [start, end) of @mm is covered by registrable VMAs. Caller holds
 * the mmap lock. Returns 0, -EFAULT for a hole, -EINVAL for a wrong VMA.
 */
static int ksmdev_check_vmas(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	unsigned long addr = start;

	while (addr < end) {
		struct vm_area_struct *vma = find_vma(mm, addr);

		if (!vma || vma->vm_start > addr)
			return -EFAULT;
		if (!ksmdev_vma_registrable(vma))
			return -EINVAL;
		addr = vma->vm_end;
	}
	return 0;
}

/*
 * Private merge domains (KSM_DOMAIN_PRIVATE): the ids given back are labels
 * from here up; the domain itself is keyed by a count that never comes round
 * again (64 bits), so that no two SMAs ever share one, however many are
 * asked for. Registry lock.
 */
#define KSMDEV_FIRST_PRIVATE_DOMAIN 0x80000000U
static u64 ksmdev_private_domains;

/**
 * ksmdev_sma_set_domain - KSM_SMA_SET_DOMAIN
 * @domain: in: KSM_DOMAIN_DEFAULT, KSM_DOMAIN_PRIVATE or an id below
 *	0x80000000 (CAP_SYS_ADMIN: it lets the SMA merge with whoever else uses
 *	it); out: the id (for a private domain a label, 0x80000000 or more, that
 *	nobody can name and that may repeat after 2^31 - 1 of them)
 * @hardened: join the hardened domain of that id, which is another domain:
 *	its pages merge only with those of SMAs that joined it hardened too
 *
 * Only an SMA without regions can change domain (-EBUSY). A private domain is
 * never handed out twice, so nobody can join one (and hardening one would
 * hide nothing from anyone: -EINVAL); one is counted only when it is given.
 * Takes the registry lock. Returns 0, -EINVAL (ids from 0x80000000 up are
 * the kernel's), -EPERM or -EBUSY.
 */
int ksmdev_sma_set_domain(struct ksmdev_sma *sma, u32 *domain, bool hardened)
{
	u32 d = *domain;
	u64 key;

	if (d == KSM_DOMAIN_PRIVATE && hardened)
		return -EINVAL;
	if (d != KSM_DOMAIN_PRIVATE && d >= KSMDEV_FIRST_PRIVATE_DOMAIN)
		return -EINVAL;
	if (d != KSM_DOMAIN_PRIVATE && d != KSM_DOMAIN_DEFAULT && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	mutex_lock(&ksmdev_registry_lock);
	if (sma->nr_regions) {
		mutex_unlock(&ksmdev_registry_lock);
		return -EBUSY;
	}
	if (d == KSM_DOMAIN_PRIVATE) {
		u64 n = ++ksmdev_private_domains;

		/* Above every named key; n << 33 came round to them after 2^31. */
		key = KSMDEV_PRIVATE_KEYS + n;
		d = KSMDEV_FIRST_PRIVATE_DOMAIN + (u32)((n - 1) % (KSM_DOMAIN_PRIVATE -
							   KSMDEV_FIRST_PRIVATE_DOMAIN));
	} else {
		key = ksmdev_domain_key(d, hardened);
	}
	sma->domain = d;
	sma->key = key;
	mutex_unlock(&ksmdev_registry_lock);
	*domain = d;
	return 0;
}

/*
 * The items from *@link on of pages before @end, which are not present any
 * more (unmapped since their last scan): nothing the module mapped is there,
 * so their state says so at once, not at the next scan (the counters of
 * merged and zero pages an unmerge reports). Returns the link after them.
 * Region lock held.
 */
static struct ksmdev_item **ksmdev_items_forget(struct ksmdev_item **link, unsigned long end)
{
	while (*link && (*link)->index < end) {
		ksmdev_item_set_state(*link, 0);
		link = &(*link)->next;
	}
	return link;
}

/* Pages handled under one hold of the region and mmap locks by ksmdev_unmerge_region(). */
#define KSMDEV_UNMERGE_BATCH 64

/**
 * ksmdev_unmerge_region - give every page of @r the module merged a private copy
 * @held: the caller holds @r's lock (a region being removed); otherwise it is
 *	taken for each batch, waiting for scanners
 * @res: counts the pages unmerged and those that failed
 * @one_by_one: give back the kernel pages it leaves mapped nowhere after each
 *	batch (else the caller ends with a sweep: ksmdev_sweep_cheaper())
 *
 * Pages that map one of our kernel pages (a scan may not have seen them yet:
 * mremap, fork) get a private anonymous copy through the kernel's
 * write-fault path; zero pages the module mapped (their items say so)
 * likewise. Only the pages present are visited (ksmdev_find_present()), a
 * batch at a time under one hold of the region and mmap locks. Returns 0,
 * or -EINTR on a fatal signal.
 */
static int ksmdev_unmerge_region(struct ksmdev_region *r, bool held, struct ksm_unmerge *res,
				 bool one_by_one)
{
	unsigned long found[KSMDEV_UNMERGE_BATCH], gone[KSMDEV_UNMERGE_BATCH];
	unsigned long i = 0, next, gen = 0;
	struct ksmdev_item *hint = NULL;
	struct mm_struct *mm = r->mm;

	while (i < r->npages) {
		struct vm_area_struct *vma = NULL;
		unsigned long sharing = 0;
		struct ksmdev_item **link;
		int n, j, nr_gone = 0;

		if (fatal_signal_pending(current))
			return -EINTR;
		if (!held) {
			mutex_lock(&r->lock);
			/* Being removed: its remover unmerges it if asked to. */
			if (READ_ONCE(r->dead)) {
				mutex_unlock(&r->lock);
				return 0;
			}
		}
		n = ksmdev_find_present(r, i, found, ARRAY_SIZE(found), &next);
		if (n <= 0 || !ksmdev_mm_lock(mm)) {
			/* Nothing more there, or the process is exiting (its pages go anyway). */
			if (n == 0)
				ksmdev_items_forget(ksmdev_items_seek(r, i, hint, gen), r->npages);
			if (!held)
				mutex_unlock(&r->lock);
			return 0;
		}
		link = ksmdev_items_seek(r, i, hint, gen);
		for (j = 0; j < n; j++) {
			struct ksmdev_item *it;
			unsigned long kpfn;
			int ret;

			link = ksmdev_items_forget(link, found[j]);
			it = *link && (*link)->index == found[j] ? *link : NULL;
			if (it)
				link = &it->next;	/* its state is this page's own */
			ret = ksmdev_unmerge_locked(mm, &vma, r->start + (found[j] << PAGE_SHIFT),
						    it && (it->flags & KSMDEV_IT_ZERO), &kpfn);
			/* Did that copy take the kernel page's last mapping? */
			if (kpfn && one_by_one) {
				if (ksmdev_small_mapcount(pfn_to_page(kpfn)))
					sharing++;
				else
					gone[nr_gone++] = kpfn;
			}
			if (ret > 0) {
				res->pages_unmerged++;
				atomic_long_inc(&r->unmerged);
				ksmdev_count(unmerged);
			} else if (ret < 0) {
				res->pages_failed++;
				continue;
			}
			if (it)
				ksmdev_item_set_state(it, 0);
		}
		link = ksmdev_items_forget(link, next);
		ksmdev_mm_unlock(mm);
		hint = link == &r->items ? NULL : container_of(link, struct ksmdev_item, next);
		gen = r->items_gen;
		if (!held)
			mutex_unlock(&r->lock);
		if (one_by_one)
			ksmdev_kpages_unmapped(gone, nr_gone, sharing);
		i = next;
		cond_resched();
	}
	return 0;
}

/*
 * The entry of merge domain @key among @kmm's (NULL: none of its regions
 * is in it, or it is hardened). Registry lock or ksmdev_regions_lock held.
 */
static struct ksmdev_mm_domain *ksmdev_mm_domain_find(struct ksmdev_mm *kmm, u64 key)
{
	struct rb_node *n = kmm->domains.rb_node;

	while (n) {
		struct ksmdev_mm_domain *md = rb_entry(n, struct ksmdev_mm_domain, node);

		if (key == md->key)
			return md;
		n = key < md->key ? n->rb_left : n->rb_right;
	}
	return NULL;
}

/* Put @md, a domain none of @kmm's regions is in yet, in its tree. Both registry locks held. */
static void ksmdev_mm_domain_insert(struct ksmdev_mm *kmm, struct ksmdev_mm_domain *md)
{
	struct rb_node **link = &kmm->domains.rb_node, *parent = NULL;

	lockdep_assert_held(&ksmdev_regions_lock);
	while (*link) {
		parent = *link;
		if (md->key < rb_entry(parent, struct ksmdev_mm_domain, node)->key)
			link = &parent->rb_left;
		else
			link = &parent->rb_right;
	}
	rb_link_node(&md->node, parent, link);
	rb_insert_color(&md->node, &kmm->domains);
}

/*
 * ksmdev_region_unlink - first half of unregistering @r
 *
 * Caller holds ksmdev_registry_lock. Marks the region dead and unlinks it
 * from its SMA, its process and the scanners' list, then moves it (with the
 * registry's reference) to @dead for ksmdev_region_finish().
 */
static void ksmdev_region_unlink(struct ksmdev_region *r, struct list_head *dead)
{
	struct ksmdev_domain *dom = r->dom, *gone = NULL;
	struct ksmdev_mm *kmm = r->kmm;
	struct ksmdev_mm_domain *md;

	lockdep_assert_held(&ksmdev_registry_lock);
	WRITE_ONCE(r->dead, true);
	list_del(&r->sma_link);
	r->sma->nr_regions--;
	r->sma = NULL;
	spin_lock(&ksmdev_regions_lock);
	list_del_init(&r->all_link);
	rb_erase(&r->all_id_node, &ksmdev_regions_by_id);
	list_del_init(&r->mm_link);
	rb_erase(&r->addr_node, &kmm->by_addr);
	md = ksmdev_mm_domain_find(kmm, r->domain);
	if (md && !--md->nr_regions)
		rb_erase(&md->node, &kmm->domains);
	else
		md = NULL;
	if (!--kmm->nr_regions)
		rhashtable_remove_fast(&ksmdev_mms, &kmm->node, ksmdev_mm_params);
	list_del_init(&r->dom_link);
	rb_erase(&r->dom_id_node, &dom->by_id);
	if (!--dom->nr_regions) {
		rhashtable_remove_fast(&ksmdev_domains, &dom->node, ksmdev_domain_params);
		gone = dom;
	}
	kmm->gen = ++ksmdev_regions_gen;
	spin_unlock(&ksmdev_regions_lock);
	kfree(gone);
	kfree(md);
	WRITE_ONCE(ksmdev_nr_regions, ksmdev_nr_regions - 1);
	WRITE_ONCE(ksmdev_nr_region_pages, ksmdev_nr_region_pages - r->npages);
	list_add_tail(&r->sma_link, dead);
}

/*
 * ksmdev_region_finish - second half: without the registry lock, for each
 * region on @dead, take its lock (waiting for the scanner working on it:
 * scanners never wait for the registry lock while they hold a region lock),
 * unmerge its pages if @unmerge (@res counts them), and drop its items. Once
 * dead, no scanner puts an item back. Drops the registry's references.
 */
static void ksmdev_region_finish(struct list_head *dead, bool unmerge, struct ksm_unmerge *res)
{
	struct ksmdev_region *r, *tmp;
	unsigned long merged = 0;
	bool sweep;

	list_for_each_entry(r, dead, sma_link)
		merged += atomic_long_read(&r->merged_pages);
	sweep = unmerge && ksmdev_sweep_cheaper(merged);
	list_for_each_entry_safe(r, tmp, dead, sma_link) {
		list_del_init(&r->sma_link);
		mutex_lock(&r->lock);
		if (unmerge)
			ksmdev_unmerge_region(r, true, res, !sweep);
		while (r->items) {
			ksmdev_item_unfile(r->items);
			ksmdev_item_del(r, &r->items);
			if (!(r->nr_items % 1024))
				cond_resched();
		}
		mutex_unlock(&r->lock);
		ksmdev_region_put(r);
	}
	if (sweep)
		ksmdev_kpage_sweep();	/* the statistics show the unmerge at once */
	ksmdev_kpage_sweep_soon();
}

/*
 * The process behind @mn is exiting (its last user is gone): drop its
 * regions, even those on SMA fds that other processes still hold.
 */
static void ksmdev_mm_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct ksmdev_mm *kmm = container_of(mn, struct ksmdev_mm, mn);
	struct ksmdev_region *r, *tmp;
	LIST_HEAD(dead);

	mutex_lock(&ksmdev_registry_lock);
	list_for_each_entry_safe(r, tmp, &kmm->regions, mm_link)
		ksmdev_region_unlink(r, &dead);
	mutex_unlock(&ksmdev_registry_lock);
	ksmdev_region_finish(&dead, false, NULL);
}

/*
 * The region of @kmm's process that starts last below @end (NULL: none): a
 * descent of the process's tree, O(log n) under the global registry lock.
 * Registry lock held.
 */
static struct ksmdev_region *ksmdev_region_below(struct ksmdev_mm *kmm, unsigned long end)
{
	struct rb_node *n = kmm->by_addr.rb_node;
	struct ksmdev_region *below = NULL, *r;

	lockdep_assert_held(&ksmdev_registry_lock);
	while (n) {
		r = rb_entry(n, struct ksmdev_region, addr_node);
		if (r->start < end) {
			below = r;
			n = n->rb_right;
		} else {
			n = n->rb_left;
		}
	}
	return below;
}

/* The first region of @kmm's process that starts at @from or above (its node), or NULL. Registry lock. */
static struct rb_node *ksmdev_region_from(struct ksmdev_mm *kmm, unsigned long from)
{
	struct rb_node *n = kmm->by_addr.rb_node, *found = NULL;

	lockdep_assert_held(&ksmdev_registry_lock);
	while (n) {
		if (rb_entry(n, struct ksmdev_region, addr_node)->start >= from) {
			found = n;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	return found;
}

/*
 * Does [start, start + npages pages) overlap a region of @kmm? Only the region
 * starting last below its end can (regions never overlap). Registry lock.
 */
static bool ksmdev_overlaps(struct ksmdev_mm *kmm, unsigned long start, unsigned long npages)
{
	struct ksmdev_region *below = ksmdev_region_below(kmm, start + (npages << PAGE_SHIFT));

	return below && below->start + (below->npages << PAGE_SHIFT) > start;
}

/* Put @r in its process's tree by address (it overlaps none there). Registry lock. */
static void ksmdev_addr_insert(struct ksmdev_mm *kmm, struct ksmdev_region *r)
{
	struct rb_node **link = &kmm->by_addr.rb_node, *parent = NULL;

	lockdep_assert_held(&ksmdev_registry_lock);
	while (*link) {
		parent = *link;
		if (r->start < rb_entry(parent, struct ksmdev_region, addr_node)->start)
			link = &parent->rb_left;
		else
			link = &parent->rb_right;
	}
	rb_link_node(&r->addr_node, parent, link);
	rb_insert_color(&r->addr_node, &kmm->by_addr);
}

/*
 * ksmdev_region_link - make @r, a region of @kmm's process, seen by the
 * scanners: add it to the list of all regions, to its process's and to its
 * domain's, and the process and the domain to their tables if it is their
 * first region. Registry lock held; takes ksmdev_regions_lock. Returns 0,
 * or -ENOMEM with nothing changed.
 */
static int ksmdev_region_link(struct ksmdev_region *r, struct ksmdev_mm *kmm)
{
	struct ksmdev_domain *dom, *fresh = NULL;
	struct ksmdev_mm_domain *md = NULL, *new_md = NULL;
	int ret = 0;

	lockdep_assert_held(&ksmdev_registry_lock);
	if (!ksmdev_domain_hardened(r->domain)) {
		md = ksmdev_mm_domain_find(kmm, r->domain);
		if (!md) {
			new_md = kzalloc(sizeof(*new_md), GFP_KERNEL_ACCOUNT);
			if (!new_md)
				return -ENOMEM;
			new_md->key = r->domain;
		}
	}
	dom = ksmdev_domain_find(r->domain);
	if (!dom) {
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
		if (!fresh) {
			kfree(new_md);
			return -ENOMEM;
		}
		fresh->key = r->domain;
		INIT_LIST_HEAD(&fresh->regions);
		fresh->by_id = RB_ROOT;
		dom = fresh;
	}
	spin_lock(&ksmdev_regions_lock);
	if (fresh)
		ret = rhashtable_insert_fast(&ksmdev_domains, &fresh->node, ksmdev_domain_params);
	if (!ret && !kmm->nr_regions) {
		ret = rhashtable_insert_fast(&ksmdev_mms, &kmm->node, ksmdev_mm_params);
		if (ret && fresh)
			rhashtable_remove_fast(&ksmdev_domains, &fresh->node,
					       ksmdev_domain_params);
	}
	if (!ret) {
		ksmdev_addr_insert(kmm, r);
		r->dom = dom;
		list_add_tail(&r->dom_link, &dom->regions);
		ksmdev_region_id_insert(&dom->by_id, r, true);
		dom->nr_regions++;
		list_add_tail(&r->mm_link, &kmm->regions);
		kmm->nr_regions++;
		if (new_md) {
			ksmdev_mm_domain_insert(kmm, new_md);
			md = new_md;
			new_md = NULL;
		}
		if (md)
			md->nr_regions++;
		list_add_tail(&r->all_link, &ksmdev_regions);
		ksmdev_region_id_insert(&ksmdev_regions_by_id, r, false);
		kmm->gen = ++ksmdev_regions_gen;
	}
	spin_unlock(&ksmdev_regions_lock);
	kfree(new_md);
	if (!ret)
		return 0;
	kfree(fresh);
	return -ENOMEM;		/* the tables could not grow */
}

/**
 * ksmdev_region_register - register @npages pages at @addr of the caller
 * @sma: the SMA the region joins
 *
 * The range must be page aligned, non-empty, inside the caller's user address
 * space and covered by private anonymous VMAs, and must not overlap a region
 * the caller's process registered before (on any SMA).
 *
 * Returns 0, or -EINVAL (bad address or length, wrong kind of memory),
 * -EFAULT (part of the range is not mapped), -EEXIST (overlap), -ENOSPC (a
 * region limit is reached), -ENOMEM, -EINTR (killed while waiting).
 */
int ksmdev_region_register(struct ksmdev_sma *sma, u64 addr, u64 npages)
{
	struct mm_struct *mm = current->mm;
	struct ksmdev_region *r;
	struct mmu_notifier *mn;
	struct ksmdev_mm *kmm;
	unsigned long start;
	int ret;

	if (!mm || !npages || (addr & ~PAGE_MASK))
		return -EINVAL;
	if (addr >= TASK_SIZE || npages > (TASK_SIZE - addr) >> PAGE_SHIFT)
		return -EINVAL;
	start = addr;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	ret = ksmdev_check_vmas(mm, start, start + (npages << PAGE_SHIFT));
	mmap_read_unlock(mm);
	if (ret)
		return ret;

	/* Its metadata comes with the pages present in it, as the scanner finds them. */
	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	mutex_init(&r->lock);

	mn = mmu_notifier_get(&ksmdev_mmu_ops, mm);
	if (IS_ERR(mn)) {
		ret = PTR_ERR(mn);
		goto free;
	}
	kmm = container_of(mn, struct ksmdev_mm, mn);

	kref_init(&r->ref);
	r->kmm = kmm;
	r->mm = mm;
	r->start = start;
	r->npages = npages;

	mutex_lock(&ksmdev_registry_lock);
	r->domain = sma->key;	/* as of now: KSM_SMA_SET_DOMAIN waits for the lock */
	if (sma->nr_regions >= ksmdev_max_regions_per_sma ||
	    kmm->nr_regions >= ksmdev_max_regions_per_process ||
	    (ksmdev_max_regions && ksmdev_nr_regions >= ksmdev_max_regions)) {
		ret = -ENOSPC;
		goto unlock;
	}
	if (ksmdev_overlaps(kmm, start, npages)) {
		ret = -EEXIST;
		goto unlock;
	}
	r->id = ksmdev_next_region_id++;
	ret = ksmdev_region_link(r, kmm);
	if (ret)
		goto unlock;
	r->sma = sma;
	list_add_tail(&r->sma_link, &sma->regions);
	sma->nr_regions++;
	WRITE_ONCE(ksmdev_nr_regions, ksmdev_nr_regions + 1);
	WRITE_ONCE(ksmdev_nr_region_pages, ksmdev_nr_region_pages + npages);
	mutex_unlock(&ksmdev_registry_lock);
	return 0;

unlock:
	mutex_unlock(&ksmdev_registry_lock);
	mmu_notifier_put(&kmm->mn);
free:
	mutex_destroy(&r->lock);
	kfree(r);
	return ret;
}

/**
 * ksmdev_sma_remove - unregister regions of @sma
 * @addr: the start of the one region to remove, or 0 for all of them
 * @unmerge: give merged pages private copies first (@res counts them)
 *
 * The REMOVE ioctls, and the SMA fd's close. One region is found by a
 * descent of its process's tree, not by a walk of the SMA's list under the
 * global registry lock. Returns 0, or -ENOENT when no region of @sma starts
 * at @addr.
 */
int ksmdev_sma_remove(struct ksmdev_sma *sma, u64 addr, bool unmerge, struct ksm_unmerge *res)
{
	struct ksmdev_region *r, *tmp;
	struct ksmdev_mm *kmm;
	LIST_HEAD(dead);

	mutex_lock(&ksmdev_registry_lock);
	if (addr) {
		/* Its regions are its creator's: found in that process's tree. */
		kmm = ksmdev_mm_find(sma->owner);
		r = kmm && addr < TASK_SIZE ? ksmdev_region_below(kmm, addr + 1) : NULL;
		if (r && r->start == addr && r->sma == sma)
			ksmdev_region_unlink(r, &dead);
	} else {
		list_for_each_entry_safe(r, tmp, &sma->regions, sma_link)
			ksmdev_region_unlink(r, &dead);
	}
	mutex_unlock(&ksmdev_registry_lock);
	if (addr && list_empty(&dead))
		return -ENOENT;
	ksmdev_region_finish(&dead, unmerge, res);
	return 0;
}

/*
 * References to the live regions of @sma, or of every SMA if NULL, in a new
 * array (kvfree() it) stored in @out: as many as there were when it was
 * sized (regions registered meanwhile are left out). Takes the registry lock
 * (and the regions lock for all of them), allocating without it. Returns how
 * many, or -ENOMEM.
 */
static int ksmdev_regions_grab(struct ksmdev_sma *sma, struct ksmdev_region ***out)
{
	struct ksmdev_region *r, **regions;
	unsigned int n = 0, max;

	mutex_lock(&ksmdev_registry_lock);
	max = sma ? sma->nr_regions : ksmdev_nr_regions;
	mutex_unlock(&ksmdev_registry_lock);
	regions = kvmalloc_array(max ?: 1, sizeof(*regions), GFP_KERNEL);
	if (!regions)
		return -ENOMEM;
	mutex_lock(&ksmdev_registry_lock);
	if (sma) {
		/* r->sma is stable under the registry lock. */
		list_for_each_entry(r, &sma->regions, sma_link) {
			if (n == max)
				break;
			ksmdev_region_get(r);
			regions[n++] = r;
		}
	} else {
		spin_lock(&ksmdev_regions_lock);
		list_for_each_entry(r, &ksmdev_regions, all_link) {
			if (n == max)
				break;
			if (READ_ONCE(r->dead))
				continue;
			ksmdev_region_get(r);
			regions[n++] = r;
		}
		spin_unlock(&ksmdev_regions_lock);
	}
	mutex_unlock(&ksmdev_registry_lock);
	*out = regions;
	return n;
}

/**
 * ksmdev_unmerge - KSM_UNMERGE (@sma) and KSM_UNMERGE_ALL (@sma NULL)
 *
 * Gives every page the module merged in those regions a private copy again;
 * the regions stay registered (a later scan may merge them again). What it
 * costs grows with those regions, not with the others: the kernel pages it
 * leaves mapped nowhere are given back one by one, or by one sweep of the
 * whole table when they may be many against it. Returns 0, -ENOMEM,
 * or -EINTR (fatal signal; what was done stays done), filling @res.
 */
int ksmdev_unmerge(struct ksmdev_sma *sma, struct ksm_unmerge *res)
{
	struct ksmdev_region **regions;
	unsigned long merged = 0;
	int n, i, ret = 0;
	bool sweep;

	n = ksmdev_regions_grab(sma, &regions);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		merged += atomic_long_read(&regions[i]->merged_pages);
	sweep = ksmdev_sweep_cheaper(merged);
	for (i = 0; i < n; i++) {
		if (!ret)
			ret = ksmdev_unmerge_region(regions[i], false, res, !sweep);
		ksmdev_region_put(regions[i]);
	}
	kvfree(regions);
	if (sweep)
		ksmdev_kpage_sweep();	/* the statistics show the unmerge at once */
	else
		ksmdev_kpage_sweep_later();	/* pages a merge held on to as it went by */
	return ret;
}

/* Add region @r's counters to @st. */
static void ksmdev_region_add_stats(struct ksmdev_region *r, struct ksm_process_stats *st)
{
	st->regions++;
	st->region_pages += r->npages;
	st->merged_pages += atomic_long_read(&r->merged_pages);
	st->zero_pages += atomic_long_read(&r->zero_pages);
	st->merges += atomic_long_read(&r->merges);
	st->cow_breaks += atomic_long_read(&r->cow_breaks);
	st->unmerged += atomic_long_read(&r->unmerged);
}

/* KSM_SMA_GET_STATS: the counters of @sma's regions. */
void ksmdev_sma_stats(struct ksmdev_sma *sma, struct ksm_process_stats *st)
{
	struct ksmdev_region *r;

	memset(st, 0, sizeof(*st));
	mutex_lock(&ksmdev_registry_lock);
	list_for_each_entry(r, &sma->regions, sma_link)
		ksmdev_region_add_stats(r, st);
	mutex_unlock(&ksmdev_registry_lock);
}

/* Regions ksmdev_mm_stats() adds up under one hold of the registry lock. */
#define KSMDEV_STATS_BATCH 256

/*
 * KSM_GET_PROCESS_STATS: the counters of the regions of @mm's process, on
 * whatever SMA (@st->pid is kept): a walk of that process's regions only, in
 * address order, KSMDEV_STATS_BATCH at a time under the registry lock (which
 * no scan takes; registrations wait at most for one batch), going on from
 * the end of the last one counted. Regions registered or removed meanwhile
 * may be counted or not, as if the call had come a little earlier or later.
 */
void ksmdev_mm_stats(struct mm_struct *mm, struct ksm_process_stats *st)
{
	unsigned long from = 0;
	s32 pid = st->pid;
	struct rb_node *n;

	memset(st, 0, sizeof(*st));
	st->pid = pid;
	do {
		struct ksmdev_region *r = NULL;
		struct ksmdev_mm *kmm;
		int i = 0;

		mutex_lock(&ksmdev_registry_lock);
		kmm = ksmdev_mm_find(mm);
		n = kmm ? ksmdev_region_from(kmm, from) : NULL;
		for (; n && i < KSMDEV_STATS_BATCH; n = rb_next(n), i++) {
			r = rb_entry(n, struct ksmdev_region, addr_node);
			ksmdev_region_add_stats(r, st);
		}
		if (r)
			from = r->start + (r->npages << PAGE_SHIFT);
		mutex_unlock(&ksmdev_registry_lock);
		cond_resched();
	} while (n);
}

/* Number of registered regions and of their pages: a lockless snapshot. */
void ksmdev_region_totals(u64 *regions, u64 *pages)
{
	*regions = READ_ONCE(ksmdev_nr_regions);
	*pages = READ_ONCE(ksmdev_nr_region_pages);
}

/*
 * At unload no SMA fd is open, so no region is registered: wait for the
 * mmu-notifier core to free the per-process structures (their
 * free_notifier is module code).
 */
void ksmdev_registry_exit(void)
{
	WARN_ON(!list_empty(&ksmdev_regions));
	mmu_notifier_synchronize();
	rhashtable_destroy(&ksmdev_domains);
	rhashtable_destroy(&ksmdev_mms);
}
