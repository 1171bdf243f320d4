// SPDX-License-Identifier: GPL-2.0
/*
 * Hardware poison, injected with madvise(MADV_HWPOISON) and
 * MADV_SOFT_OFFLINE (CONFIG_MEMORY_FAILURE), on merged and unmerged
 * registered pages. memory_failure() marks a kernel page poisoned but cannot
 * unmap it (it is no LRU page, and has no rmap the kernel walks): the module
 * then takes it out of its table at once (no new sharer is ever mapped to
 * it), never reads it again, and replaces the mappings it knows by
 * hardware-poison entries (also in a range locked since), so that its
 * sharers get SIGBUS on access, as the sharers of a mainline KSM page do
 * since 6.12; the other kernel pages are untouched. An unmerged page is the
 * kernel's to handle, and the scanner leaves it alone. Soft offlining a merged page fails and changes nothing; an
 * unmerged one moves, and merges later like any page.
 */
#include "ktest.h"

#ifndef KPF_HWPOISON
#define KPF_HWPOISON 19
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101	/* <asm-generic/mman-common.h>; glibc's sys/mman.h may lack it */
#endif

static bool poisoned(uint64_t pfn)
{
	return ksmu_kpageflags(pfn) & (1ULL << KPF_HWPOISON);
}

static void test_merged(int dev, int scan)
{
	struct peer a = peer_start(dev, 16, 71, 16), b = peer_start(dev, 16, 71, 16);
	struct ksm_stats st0, st1;
	uint64_t pfn;
	long r;

	ksmu_scan_settle(scan, 3);
	ktest_ok(peers_shared(&a, &b) == 16, "16 pages of two processes merged (%ld)",
		 peers_shared(&a, &b));
	pfn = peer_pfn(&a, 3);
	r = peer_cmd(&a, PEER_MADVISE, 3, 1, MADV_HWPOISON);
	ktest_ok(poisoned(pfn), "MADV_HWPOISON on a merged page: the kernel marks its kernel page "
		 "poisoned (madvise: %ld, %s)", r, r ? strerror(-r) : "0");
	ksmu_stats(dev, &st0);
	ksmu_scan_pass(scan);
	ksmu_stats(dev, &st1);
	ktest_ok(st1.kpages_poisoned - st0.kpages_poisoned == 1,
		 "a pass takes the poisoned kernel page out of the table (kpages_poisoned +%llu)",
		 (unsigned long long)(st1.kpages_poisoned - st0.kpages_poisoned));
	ktest_ok(st1.skipped[KSM_SKIP_HWPOISON] - st0.skipped[KSM_SKIP_HWPOISON] == 2,
		 "and unmaps it from both sharers (skipped hwpoison +%llu)",
		 (unsigned long long)(st1.skipped[KSM_SKIP_HWPOISON] - st0.skipped[KSM_SKIP_HWPOISON]));
	ktest_ok(peer_cmd(&a, PEER_PROBE, 3, 0, 0) == 1 && peer_cmd(&b, PEER_PROBE, 3, 0, 0) == 1,
		 "both processes get SIGBUS when they touch it");
	ktest_ok(peers_shared(&a, &b) == 15 && peer_check(&a) && peer_check(&b),
		 "their 15 other pages are still merged and hold what was written");

	/* A third process with the same content: merged with the good pages, never the poisoned one. */
	struct peer c = peer_start(dev, 16, 71, 16);

	ksmu_scan_settle(scan, 3);
	ktest_ok(peer_pfn(&c, 3) != pfn && !poisoned(peer_pfn(&c, 3)),
		 "a new twin of the poisoned page is not mapped to it");
	ktest_ok(peers_shared(&a, &c) == 15 && peer_check(&c),
		 "its other pages merge with the kernel pages already there (%ld)", peers_shared(&a, &c));
	peer_stop(&a);
	peer_stop(&b);
	peer_stop(&c);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st1) == 0 && st1.kpages_held == 0, 10000),
		 "once nothing maps them, every kernel page is given back, the poisoned one too");
}

/*
 * A merged page poisoned, then unmerged before any pass: the poisoned kernel
 * page is unmapped by the unmerge as a pass unmaps it, with SIGBUS for both
 * sharers. (An unmerge once counted nothing there and left it mapped, and
 * once the region is removed no pass comes back: the processes went on
 * reading a poisoned page.)
 */
static void test_unmerge_poisoned(int dev, int scan)
{
	struct peer a = peer_start(dev, 8, 76, 8), b = peer_start(dev, 8, 76, 8);
	struct ksm_unmerge u = { 0 };
	struct ksm_stats st;
	uint64_t pfn;
	long r;

	ksmu_scan_settle(scan, 3);
	pfn = peer_pfn(&a, 5);
	r = peer_cmd(&a, PEER_MADVISE, 5, 1, MADV_HWPOISON);
	ktest_ok(peers_shared(&a, &b) == 8 && poisoned(pfn),
		 "one of 8 merged pages poisoned (madvise: %ld)", r);
	ktest_ok(ioctl(dev, KSM_UNMERGE_ALL, &u) == 0 && !u.pages_failed &&
		 u.pages_unmerged == 14, "KSM_UNMERGE_ALL before any pass: the 14 others unmerged, "
		 "none failed (%llu, %llu)", (unsigned long long)u.pages_unmerged,
		 (unsigned long long)u.pages_failed);
	ktest_ok(peer_pfn(&a, 5) != pfn && peer_pfn(&b, 5) != pfn &&
		 peer_cmd(&a, PEER_PROBE, 5, 0, 0) == 1 && peer_cmd(&b, PEER_PROBE, 5, 0, 0) == 1,
		 "the poisoned kernel page is mapped nowhere: SIGBUS in both processes");
	ktest_ok(peers_shared(&a, &b) == 0 && peer_check(&a) && peer_check(&b),
		 "their other pages are private and hold what was written");
	peer_stop(&a);
	peer_stop(&b);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0, 10000),
		 "every kernel page is given back");
}

static void test_unmerged(int dev, int scan)
{
	struct peer d = peer_start(dev, 4, 72, 4);
	uint64_t pfn = peer_pfn(&d, 1);
	struct ksm_stats st;
	long r;

	r = peer_cmd(&d, PEER_MADVISE, 1, 1, MADV_HWPOISON);
	ktest_ok(r == 0 && poisoned(pfn), "MADV_HWPOISON on an unmerged registered page (%ld)", r);
	ktest_ok(ksmu_scan_pass(scan) == 0, "a pass leaves it alone");
	ktest_ok(peer_cmd(&d, PEER_PROBE, 1, 0, 0) == 1 && peer_check(&d),
		 "the process gets SIGBUS there, its other pages are intact");
	ksmu_stats(dev, &st);
	ktest_ok(st.kpages_held == 0, "no kernel page was made");
	peer_stop(&d);
}

static void test_soft_offline(int dev, int scan)
{
	struct peer e = peer_start(dev, 8, 73, 8), f = peer_start(dev, 8, 73, 8);
	uint64_t pfn;
	long r;

	ksmu_scan_settle(scan, 3);
	pfn = peer_pfn(&e, 2);
	r = peer_cmd(&e, PEER_MADVISE, 2, 1, MADV_SOFT_OFFLINE);
	ktest_ok(r < 0 && peer_pfn(&e, 2) == pfn && !poisoned(pfn),
		 "MADV_SOFT_OFFLINE on a merged page fails and changes nothing (%ld, %s)", r,
		 r ? strerror(-r) : "0");
	ktest_ok(peers_shared(&e, &f) == 8 && peer_check(&e) && peer_check(&f),
		 "the pages stay merged and intact");
	peer_stop(&e);
	peer_stop(&f);

	struct peer g = peer_start(dev, 8, 74, 8);

	pfn = peer_pfn(&g, 2);
	r = peer_cmd(&g, PEER_MADVISE, 2, 1, MADV_SOFT_OFFLINE);
	ktest_ok(r == 0 && peer_pfn(&g, 2) != pfn && peer_check(&g),
		 "MADV_SOFT_OFFLINE on an unmerged page moves it, intact (%ld)", r);

	struct peer h = peer_start(dev, 8, 74, 8);

	ksmu_scan_settle(scan, 3);
	ktest_ok(peers_shared(&g, &h) == 8 && peer_check(&g) && peer_check(&h),
		 "and it merges with a twin afterwards like any page");
	peer_stop(&g);
	peer_stop(&h);
}

/*
 * A merged page in a range one of its processes made read-only and locked
 * since (mlock() then makes no copy): the kernel page stays mapped there,
 * and poisoned it is unmapped there too, as try_to_unmap() unmaps mlocked
 * pages. (A pass once left it mapped in the locked range, which it would
 * not merge in, so that process could go on reading the poisoned page.)
 */
static void test_locked(int dev, int scan)
{
	struct peer a = peer_start(dev, 8, 75, 8), b = peer_start(dev, 8, 75, 8);
	struct ksm_stats st;
	uint64_t pfn;
	long r, l;

	ksmu_scan_settle(scan, 3);
	r = peer_cmd(&b, PEER_MPROTECT, 0, 8, PROT_READ);
	l = peer_cmd(&b, PEER_MLOCK, 0, 8, 1);
	ktest_ok(r == 0 && l == 0 && peers_shared(&a, &b) == 8,
		 "a process makes its 8 merged pages read-only and locks them: still merged (%ld, %ld, %ld)",
		 r, l, peers_shared(&a, &b));
	pfn = peer_pfn(&a, 2);
	r = peer_cmd(&a, PEER_MADVISE, 2, 1, MADV_HWPOISON);
	ktest_ok(poisoned(pfn), "MADV_HWPOISON on one of them (%ld)", r);
	ksmu_scan_pass(scan);
	ktest_ok(peer_pfn(&b, 2) != pfn && peer_cmd(&b, PEER_PROBE, 2, 0, 0) == 1,
		 "a pass unmaps the poisoned kernel page in the locked range too: SIGBUS there");
	ktest_ok(peer_cmd(&a, PEER_PROBE, 2, 0, 0) == 1, "and in the other process");
	ktest_ok(peers_shared(&a, &b) == 7 && peer_check(&a) && peer_check(&b),
		 "the 7 other pages are still merged, locked, and hold what was written (%ld)",
		 peers_shared(&a, &b));
	ktest_ok(peer_cmd(&b, PEER_MLOCK, 0, 8, 0) == 0, "munlock");
	peer_stop(&a);
	peer_stop(&b);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0, 10000),
		 "every kernel page is given back");
}

int main(void)
{
	int dev = ksm_open(), scan = ksm_scanfd(dev);

	test_merged(dev, scan);
	test_unmerge_poisoned(dev, scan);
	test_unmerged(dev, scan);
	test_soft_offline(dev, scan);
	test_locked(dev, scan);
	return ktest_done();
}
