// SPDX-License-Identifier: GPL-2.0
/*
 * A region object: its lifetime (a kref) and the per-page state only the
 * holder of the page's busy bit touches. Registering and removing regions is
 * ksm_registry.c's.
 */
#include "ksm_internal.h"

#include <linux/slab.h>

void ksmdev_region_get(struct ksmdev_region *r)
{
	kref_get(&r->ref);
}

static void ksmdev_region_release(struct kref *ref)
{
	struct ksmdev_region *r = container_of(ref, struct ksmdev_region, ref);

	kvfree(r->items);
	kvfree(r->busy);
	kvfree(r->state);
	mmu_notifier_put(&r->kmm->mn);
	kfree(r);
}

/* Drop a reference; the last one frees the region. Process context. */
void ksmdev_region_put(struct ksmdev_region *r)
{
	kref_put(&r->ref, ksmdev_region_release);
}

/* Take the busy bit of page @index of @r without waiting. */
bool ksmdev_page_trylock(struct ksmdev_region *r, unsigned long index)
{
	return !test_and_set_bit_lock(index, r->busy);
}

void ksmdev_page_unlock(struct ksmdev_region *r, unsigned long index)
{
	clear_bit_unlock(index, r->busy);
}

/*
 * Update the state of page @index of @r (busy bit held) and the region's
 * counters of merged and zero pages to match.
 */
void ksmdev_page_state_set(struct ksmdev_region *r, unsigned long index, u8 flags)
{
	u8 old = r->state[index].flags;

	if ((old ^ flags) & KSMDEV_PS_MERGED)
		atomic_long_add(flags & KSMDEV_PS_MERGED ? 1 : -1, &r->merged_pages);
	if ((old ^ flags) & KSMDEV_PS_ZERO)
		atomic_long_add(flags & KSMDEV_PS_ZERO ? 1 : -1, &r->zero_pages);
	r->state[index].flags = flags;
}
