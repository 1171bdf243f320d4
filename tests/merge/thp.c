// SPDX-License-Identifier: GPL-2.0
/*
 * Transparent huge pages inside a region (QEMU's guest RAM is THP-backed) are
 * split and their subpages merged, not skipped; a huge page only partly
 * duplicated keeps its other subpages private and right.
 */
#include "ktest.h"

#include <sys/uio.h>

/*
 * Of the @n pages at @addr of process @pid: how many are THP subpages, how
 * many kernel pages (not anonymous: a kernel page mapped once is mapped
 * "exclusively" for pagemap). Both are -1 if pagemap cannot be read.
 */
static void pages_of(pid_t pid, const char *addr, long n, long *thp, long *kernel)
{
	static uint64_t ent[512];

	*thp = *kernel = 0;
	for (long done = 0, k; done < n; done += k) {
		k = n - done < 512 ? n - done : 512;
		if (ksmu_pagemap_read(pid, (uintptr_t)addr + done * ktest_page, k, ent) != k) {
			*thp = *kernel = -1;
			return;
		}
		for (long i = 0; i < k; i++) {
			uint64_t flags;

			if (!(ent[i] & KSMU_PM_PRESENT))
				continue;
			flags = ksmu_kpageflags(ent[i] & KSMU_PM_PFN_MASK);
			*thp += !!(flags & (1ULL << KPF_THP));
			*kernel += !(flags & (1ULL << KPF_ANON));
		}
	}
}

/*
 * A twin that cannot be switched leaves the page that was on the kernel page
 * it got: here every twin is a subpage of a huge page that cannot be split
 * (a pipe holds a reference to one of its subpages, from vmsplice()). The
 * other process's pages keep their kernel pages (before, each was given a
 * private copy back, a page allocated and charged under the region locks:
 * reclaim, or an OOM kill in a cgroup at its limit, because of a merge), and
 * once the pipe lets go, the huge page is split and its subpages merge into
 * them.
 */
static void test_twin_not_switched(int dev, int scan)
{
	const long n = 512;
	char *m = ksmu_map_anon(n * ktest_page, 2 << 20, 1);
	int pipefd[2], sma = ksm_sma(dev);
	struct ksm_stats st0, st1;
	long thp, kernel, tthp, tkernel;
	struct iovec iov;

	if (!m || pipe(pipefd))
		ktest_fatal("huge page or pipe");
	ksmu_fill_pages(m, n, 5, n);
	iov.iov_base = m + 100 * ktest_page;
	iov.iov_len = ktest_page;
	ktest_ok(vmsplice(pipefd[1], &iov, 1, 0) == (ssize_t)ktest_page,
		 "a pipe holds a subpage of a huge page");
	ktest_ok(ksmu_register(sma, m, n) == 0, "the huge page registered first");
	struct peer t = peer_start_ex(dev, n, 5, n, 0, -1);

	ksmu_stats(dev, &st0);
	ksmu_scan_pass(scan);
	ksmu_scan_pass(scan);
	ksmu_stats(dev, &st1);
	pages_of(getpid(), m, n, &thp, &kernel);
	pages_of(t.pid, t.addr, n, &tthp, &tkernel);
	ktest_ok(thp == n && !kernel, "the huge page stays whole, none of it merged (%ld, %ld)", thp,
		 kernel);
	ktest_ok(tkernel == n && st1.merges_undone - st0.merges_undone == (uint64_t)n,
		 "the twins' pages keep the kernel pages they got (%ld of %ld; twins not switched: %llu)",
		 tkernel, n, (unsigned long long)(st1.merges_undone - st0.merges_undone));
	ktest_ok(peer_check(&t) && ksmu_check_pages(m, n, 5, n) < 0, "contents intact");
	close(pipefd[0]);
	close(pipefd[1]);
	ksmu_scan_pass(scan);
	pages_of(getpid(), m, n, &thp, &kernel);
	ktest_ok(!thp && kernel == n && peer_check(&t),
		 "the pipe gone, the huge page splits and its subpages merge (%ld of %ld)", kernel, n);
	peer_stop(&t);
	close(sma);
	munmap(m, n * ktest_page);
}

/* How many of the peer's pages are subpages of a transparent huge page. */
static long thp_pages(struct peer *p)
{
	long thp, kernel;

	pages_of(p->pid, p->addr, p->npages, &thp, &kernel);
	return thp;
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
	test_twin_not_switched(dev, scan);
	return ktest_done();
}
