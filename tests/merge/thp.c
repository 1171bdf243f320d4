// SPDX-License-Identifier: GPL-2.0
/*
 * Transparent huge pages inside a region (QEMU's guest RAM is THP-backed) are
 * split and their subpages merged, not skipped; a huge page only partly
 * duplicated keeps its other subpages private and right.
 */
#include "ktest.h"

/* How many of the peer's pages are subpages of a transparent huge page. */
static long thp_pages(struct peer *p)
{
	long n = 0;

	for (long i = 0; i < p->npages; i++)
		n += !!(ksmu_kpageflags(peer_pfn(p, i)) & (1ULL << KPF_THP));
	return n;
}

int main(void)
{
	const long n = 1024;	/* 4 MiB: two huge pages per process */
	const size_t huge = 2 << 20;
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	const char *thp = "/sys/kernel/mm/transparent_hugepage/enabled";
	char mode[64];
	struct ksm_stats st0, st1;

	if (ksmu_read_choice(thp, mode, sizeof(mode))) {
		ktest_skip("no transparent huge pages in this kernel");
		return ktest_done();
	}
	if (!strcmp(mode, "never"))
		ksmu_write_str(thp, "madvise");

	ksmu_stats(dev, &st0);
	struct peer a = peer_start_ex(dev, n, 3, n, huge, 1);
	struct peer b = peer_start_ex(dev, n, 3, n, huge, 1);

	long ha = thp_pages(&a), hb = thp_pages(&b);

	ktest_ok(ha == n && hb == n, "both regions are backed by huge pages (%ld, %ld of %ld pages)",
		 ha, hb, n);

	long merged = ksmu_scan_settle(scan, 3);

	ksmu_stats(dev, &st1);
	ktest_ok(merged == 2 * n, "every subpage merged (%ld of %ld)", merged, 2 * n);
	ktest_ok(peers_shared(&a, &b) == n, "all %ld subpages of both share pfns", n);
	ktest_ok(st1.thp_split - st0.thp_split == 4, "four huge pages were split (%llu)",
		 (unsigned long long)(st1.thp_split - st0.thp_split));
	ktest_ok(peer_check(&a) && peer_check(&b), "contents intact");
	ktest_ok(thp_pages(&a) == 0, "A's region has no huge page left");
	peer_stop(&a);
	peer_stop(&b);

	/* Half-duplicated: only the first 256 subpages of C's huge pages have twins in D. */
	struct peer c = peer_start_ex(dev, 512, 4, 512, huge, 1);
	struct peer d = peer_start_ex(dev, 512, 4, 512, huge, 1);

	/* Change a byte of each, to a value it did not hold (a fixed one might be what was there). */
	for (long i = 256; i < 512; i++) {
		unsigned char page[KSMU_PAGE_SIZE];

		ksmu_fill_page(page, 4, i);
		peer_cmd(&d, PEER_WRITE, i, 17, page[17] ^ 0x5a);
	}
	merged = ksmu_scan_settle(scan, 3);
	long shared = peers_shared(&c, &d);

	ktest_ok(shared == 256 && merged == 512, "the 256 duplicated subpages merge (%ld shared)", shared);
	ktest_ok(peer_check(&c) && peer_check(&d), "the private half is intact on both sides");
	peer_cmd(&c, PEER_WRITE_ALL, 0x21, 0, 0);
	ktest_ok(peer_check(&c) && peer_check(&d), "writes after the split are private");
	peer_stop(&c);
	peer_stop(&d);
	return ktest_done();
}
