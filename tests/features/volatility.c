// SPDX-License-Identifier: GPL-2.0
/*
 * The volatility filter: with it, a page merges only once its content was
 * the same on two passes in a row. A write-heavy workload whose hot pages go
 * back to a twin's content between passes and change again right after shows
 * the COW-break rate with and without it; cold pages still merge, one pass
 * later than without the filter.
 */
#include "ktest.h"

struct result {
	uint64_t merges, cow_breaks, volatile_skipped;
	long cold_shared;
};

/*
 * Twelve passes over peers A and B (same content). Before each odd pass the
 * hot half of A's pages holds B's content; before each even pass it is
 * rewritten with something else: the worst case of a page that looks
 * mergeable now and is written again at once.
 */
static struct result run(int dev, int scan, const long n)
{
	struct peer a = peer_start(dev, n, 31, n);
	struct peer b = peer_start(dev, n, 31, n);
	struct ksm_stats s0, s1;
	struct result r;

	ksmu_stats(dev, &s0);
	for (int pass = 1; pass <= 12; pass++) {
		char ref[4096];

		/* Odd passes: B's first byte back; even ones: a byte that differs from it. */
		for (long i = 0; i < n / 2; i++) {
			ksmu_fill_page(ref, 31, i);
			peer_cmd(&a, PEER_WRITE, i, 0,
				 (unsigned char)ref[0] ^ (pass % 2 ? 0 : 0x80 | pass));
		}
		ksmu_scan_pass(scan);
	}
	ksmu_stats(dev, &s1);
	r.merges = s1.merges - s0.merges;
	r.cow_breaks = s1.cow_breaks - s0.cow_breaks;
	r.volatile_skipped = s1.volatile_skipped - s0.volatile_skipped;
	r.cold_shared = 0;
	for (long i = n / 2; i < n; i++)
		r.cold_shared += peer_pfn(&a, i) && peer_pfn(&a, i) == peer_pfn(&b, i);
	ktest_ok(peer_check(&a) && peer_check(&b), "contents right after 12 passes");
	peer_stop(&a);
	peer_stop(&b);
	return r;
}

int main(void)
{
	const long n = 128;
	int dev = ksm_open(), scan = ksm_scanfd(dev);

	struct result off = run(dev, scan, n);

	ktest_diag("filter off: %llu merges, %llu COW breaks", (unsigned long long)off.merges,
		   (unsigned long long)off.cow_breaks);
	ktest_ok(off.cow_breaks >= (uint64_t)n / 2 * 5,
		 "without the filter the hot pages are merged and broken again and again (%llu breaks)",
		 (unsigned long long)off.cow_breaks);
	ktest_ok(off.cold_shared == n / 2, "cold pages merged");

	ktest_ok(KSMU_CONFIG(dev, __c.volatility_filter = 1) == 0, "volatility filter on");
	struct result on = run(dev, scan, n);

	ktest_diag("filter on: %llu merges, %llu COW breaks, %llu volatile pages skipped",
		   (unsigned long long)on.merges, (unsigned long long)on.cow_breaks,
		   (unsigned long long)on.volatile_skipped);
	ktest_ok(on.cow_breaks == 0, "with it no hot page is merged, so none is broken (%llu)",
		 (unsigned long long)on.cow_breaks);
	ktest_ok(on.volatile_skipped >= (uint64_t)n / 2 * 11, "the hot pages were skipped as volatile (%llu)",
		 (unsigned long long)on.volatile_skipped);
	ktest_ok(on.cold_shared == n / 2, "cold pages still merged");

	/* Cold pages need one more pass with the filter: none on the first, all on the second. */
	struct peer c = peer_start(dev, 64, 32, 64), d = peer_start(dev, 64, 32, 64);
	long first = ksmu_scan_pass(scan), second = ksmu_scan_pass(scan);

	ktest_ok(first == 0 && second == 128 && peers_shared(&c, &d) == 64,
		 "new identical pages merge on the second pass (%ld, %ld)", first, second);
	peer_stop(&c);
	peer_stop(&d);
	ktest_ok(KSMU_CONFIG(dev, __c.volatility_filter = 0) == 0, "filter off again");
	return ktest_done();
}
