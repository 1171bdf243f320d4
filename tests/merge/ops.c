// SPDX-License-Identifier: GPL-2.0
/*
 * Memory operations on merged pages: fork (and the child's writes and exit),
 * munmap and MADV_DONTNEED of merged ranges, mprotect, mremap, and closing
 * the SMA while kksmd scans. The kernel log must stay clean (no Bad
 * rss-counter, no bad page): tests/guest-run checks it after each test.
 */
#include "ktest.h"

static bool merged_pair(struct peer *a, struct peer *b, long from, long to)
{
	for (long i = from; i < to; i++) {
		uint64_t x = peer_pfn(a, i);

		if (!x || x != peer_pfn(b, i))
			return false;
	}
	return true;
}

static void test_fork(int dev, int scan)
{
	const long n = 256;
	char *m = anon_map(n * ktest_page, 0);
	int sma = ksm_sma(dev);
	struct peer b = peer_start(dev, n, 21, n);

	ksmu_fill_pages(m, n, 21, n);
	ksmu_register(sma, m, n);
	ktest_ok(ksmu_scan_pass(scan) == 2 * n, "merged before fork");
	long file0 = ksmu_status_kb(0, "RssFile");
	int up[2];

	if (pipe(up))
		ktest_fatal("pipe");
	pid_t pid = fork();

	if (!pid) {
		long r[4];

		r[0] = ksmu_pagemap_pfn(0, m) == ksmu_pagemap_pfn(b.pid, b.addr);
		r[1] = ksmu_check_pages(m, n, 21, n) < 0;
		for (long i = 0; i < n; i += 2)
			m[i * ktest_page] ^= 0x77;
		r[2] = ksmu_pagemap_pfn(0, m) != ksmu_pagemap_pfn(b.pid, b.addr);
		r[3] = ksmu_status_kb(0, "RssFile");
		if (write(up[1], r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);	/* exit with half the merged pages still mapped */
	}
	long r[4] = { 0 };

	if (read(up[0], r, sizeof(r)) != sizeof(r))
		ktest_fatal("child");
	int st;

	waitpid(pid, &st, 0);
	ktest_ok(r[0], "the child of fork maps the same kernel page");
	ktest_ok(r[1], "the child reads the merged content");
	ktest_ok(r[2], "the child's write made it a private copy");
	ktest_ok(r[3] >= n / 2 * 4, "the child's RssFile counts the merged pages it maps (%ld kB)", r[3]);
	ktest_ok(ksmu_check_pages(m, n, 21, n) < 0 && peer_check(&b),
		 "the parent and the other sharer are untouched");
	ktest_ok(WIFEXITED(st) && !WEXITSTATUS(st), "the child exited cleanly");
	ktest_ok(near_kb(ksmu_status_kb(0, "RssFile"), file0), "the parent's RssFile is unchanged (%ld -> %ld kB)",
		 file0, ksmu_status_kb(0, "RssFile"));
	close(sma);
	munmap(m, n * ktest_page);
	peer_stop(&b);
	close(up[0]);
	close(up[1]);
}

static void test_unmap_and_friends(int dev, int scan)
{
	const long n = 512;
	struct peer a = peer_start(dev, n, 22, n);
	struct peer b = peer_start(dev, n, 22, n);

	ktest_ok(ksmu_scan_pass(scan) == 2 * n, "merged");
	long file0 = ksmu_status_kb(a.pid, "RssFile");

	/* munmap a quarter of A's merged range. */
	ktest_ok(peer_cmd(&a, PEER_MUNMAP, 0, n / 4, 0) == 0, "A unmaps a merged quarter");
	ktest_ok(near_kb(file0 - ksmu_status_kb(a.pid, "RssFile"), n / 4 * 4),
		 "A's RssFile dropped by %ld kB (%ld)", n / 4 * 4, file0 - ksmu_status_kb(a.pid, "RssFile"));
	ktest_ok(peer_check(&a) && peer_check(&b) && merged_pair(&a, &b, n / 4, n),
		 "the rest is intact and still shared; B untouched");

	/* MADV_DONTNEED: merged pages go, reading gives zeroes. */
	long bfile = ksmu_status_kb(b.pid, "RssFile");

	ktest_ok(peer_cmd(&b, PEER_DONTNEED, n / 4, n / 4, 0) == 0, "B drops a merged quarter (MADV_DONTNEED)");
	ktest_ok(peer_check(&b), "B reads zeroes there and its other pages intact");
	ktest_ok(near_kb(bfile - ksmu_status_kb(b.pid, "RssFile"), n / 4 * 4), "B's RssFile dropped by %ld kB (%ld)",
		 n / 4 * 4, bfile - ksmu_status_kb(b.pid, "RssFile"));
	ktest_ok(peer_check(&a) && merged_pair(&a, &b, n / 2, n), "A untouched");

	/* mprotect read-only, then writable again, then write. */
	ktest_ok(peer_cmd(&a, PEER_MPROTECT, n / 2, n / 4, PROT_READ) == 0, "A makes a merged range read-only");
	ktest_ok(peer_check(&a) && merged_pair(&a, &b, n / 2, n), "still readable and shared");
	ktest_ok(ksmu_scan_pass(scan) == 0, "a pass over read-only merged pages");
	ktest_ok(peer_cmd(&a, PEER_MPROTECT, n / 2, n / 4, PROT_READ | PROT_WRITE) == 0,
		 "and writable again");
	peer_cmd(&a, PEER_WRITE, n / 2, 9, 0x99);
	ktest_ok(peer_check(&a) && peer_check(&b) && peer_pfn(&a, n / 2) != peer_pfn(&b, n / 2),
		 "a write after mprotect is a private copy");

	/* mremap: move A's whole range (merged pages go along). */
	uint64_t pfn_before = peer_pfn(&a, 3 * n / 4);
	long newaddr = peer_cmd(&a, PEER_MREMAP, 0, 0, 0);

	a.addr = (char *)(uintptr_t)newaddr;
	ktest_ok(peer_pfn(&a, 3 * n / 4) == pfn_before && pfn_before == peer_pfn(&b, 3 * n / 4),
		 "after mremap the moved pages are still the shared ones");
	ktest_ok(peer_check(&a), "and read right at the new address");
	peer_cmd(&a, PEER_WRITE, 3 * n / 4, 1, 0x42);
	ktest_ok(peer_check(&a) && peer_check(&b), "a write there is private");
	ktest_ok(ksmu_scan_pass(scan) >= 0, "a pass over the moved-away region (now a hole)");
	ktest_ok(WIFEXITED(peer_stop(&a)) && WIFEXITED(peer_stop(&b)), "both exit cleanly");
}

/* Close SMAs and exit while kksmd scans flat out. */
static void test_close_under_kksmd(int dev)
{
	struct ksm_kthread_info on = { .sleep = 0, .pages_to_scan = 64, .max_pages_to_merge = 64,
				       .running = 1 };
	struct ksm_kthread_info off = { .running = 0 };
	bool ok = true;

	ktest_ok(ioctl(dev, KSM_START_STOP_KTHREAD, &on) == 0, "kksmd started, unthrottled");
	for (int round = 0; round < 10; round++) {
		struct peer a = peer_start(dev, 256, 30 + round % 2, 64);
		struct peer b = peer_start(dev, 256, 30 + round % 2, 64);

		usleep(50000 * (round % 4));
		ok &= peer_cmd(&a, PEER_CLOSE_SMA, 0, 0, 0) == 0;
		peer_cmd(&b, PEER_WRITE_ALL, round + 1, 0, 0);
		ok &= peer_check(&a) && peer_check(&b);
		peer_stop(&a);
		peer_stop(&b);
	}
	ktest_ok(ok, "10 rounds of SMA close, writes and exit under kksmd: contents right");
	ktest_ok(ioctl(dev, KSM_START_STOP_KTHREAD, &off) == 0, "kksmd stopped");
	struct ksm_stats st;

	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.regions == 0 && st.kpages_held == 0, 10000),
		 "no region and no kernel page left");
}

int main(void)
{
	int dev = ksm_open(), scan = ksm_scanfd(dev);

	test_fork(dev, scan);
	test_unmap_and_friends(dev, scan);
	test_close_under_kksmd(dev);
	return ktest_done();
}
