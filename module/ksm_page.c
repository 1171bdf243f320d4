// SPDX-License-Identifier: GPL-2.0
/*
 * Page contents: the content hash that picks candidates, the SHA-1 digest
 * that tells hash collisions apart, the whole-page compare that decides every
 * merge, the all-zero test, and the node a page must share with its twins.
 * No locks; any context that may map a page (the SHA-1 transform does not
 * sleep).
 */
#include "ksm_internal.h"

#include <crypto/hash.h>
#include <linux/random.h>

/* Random hash seed, so that nobody can aim pages at one bucket. Set at init. */
static u32 ksmdev_hash_seed;

/* The SHA-1 transform, allocated at init. */
static struct crypto_shash *ksmdev_sha1_tfm;

/* Set up the hash seed and the SHA-1 transform. Returns 0 or a negative errno. */
int ksmdev_page_init(void)
{
	ksmdev_hash_seed = get_random_u32();
	ksmdev_sha1_tfm = crypto_alloc_shash("sha1", 0, 0);
	if (IS_ERR(ksmdev_sha1_tfm)) {
		int ret = PTR_ERR(ksmdev_sha1_tfm);

		pr_err("cannot allocate the sha1 transform: %d\n", ret);
		ksmdev_sha1_tfm = NULL;
		return ret;
	}
	return 0;
}

void ksmdev_page_exit(void)
{
	if (ksmdev_sha1_tfm)
		crypto_free_shash(ksmdev_sha1_tfm);
	ksmdev_sha1_tfm = NULL;
}

/* ksmdev_hash_page - the content hash (ksmdev_checksum()) of @page. */
u32 ksmdev_hash_page(struct page *page)
{
	void *addr = ksmdev_kmap(page);
	u32 hash = ksmdev_checksum(addr, ksmdev_hash_seed);

	ksmdev_kunmap(addr);
	return hash;
}

/* ksmdev_sha1_page - SHA-1 digest of the whole content of @page. */
void ksmdev_sha1_page(struct page *page, u8 *digest)
{
	void *addr = ksmdev_kmap(page);

	crypto_shash_tfm_digest(ksmdev_sha1_tfm, addr, PAGE_SIZE, digest);
	ksmdev_kunmap(addr);
	ksmdev_count(sha1_computed);
}

/*
 * Are the contents of two pages identical? Any context. Equality is all we
 * need, so compare a cache line at a time with no branch per word: half the
 * instructions of memcmp(), which orders too.
 */
bool ksmdev_pages_identical(struct page *a, struct page *b)
{
	const u64 *pa = ksmdev_kmap(a);
	const u64 *pb = ksmdev_kmap(b);
	bool same = true;
	unsigned int i;

	for (i = 0; i < PAGE_SIZE / sizeof(u64); i += 8) {
		if ((pa[i] ^ pb[i]) | (pa[i + 1] ^ pb[i + 1]) |
		    (pa[i + 2] ^ pb[i + 2]) | (pa[i + 3] ^ pb[i + 3]) |
		    (pa[i + 4] ^ pb[i + 4]) | (pa[i + 5] ^ pb[i + 5]) |
		    (pa[i + 6] ^ pb[i + 6]) | (pa[i + 7] ^ pb[i + 7])) {
			same = false;
			break;
		}
	}
	ksmdev_kunmap(pb);
	ksmdev_kunmap(pa);
	return same;
}

/* Is @page all zeroes? */
bool ksmdev_page_is_zero(struct page *page)
{
	void *addr = ksmdev_kmap(page);
	bool zero = !memchr_inv(addr, 0, PAGE_SIZE);

	ksmdev_kunmap(addr);
	return zero;
}

/*
 * The node a page must share with its twins: -1 (any) unless
 * merge_across_nodes is off; the rule's generation in *@gen if not NULL
 * (ksmdev_merge_rule()).
 */
int ksmdev_merge_nid(struct page *page, unsigned int *gen)
{
	unsigned int g;

	return ksmdev_merge_rule(gen ?: &g) ? -1 : page_to_nid(page);
}
