// SPDX-License-Identifier: GPL-2.0
/*
 * merge_across_nodes (run in a two-node guest, tests/vm/run --numa 2): on,
 * pages of both nodes merge; off, each node's pages merge among themselves,
 * into a kernel page on their node; the setting cannot change while kernel
 * pages are held.
 */
#include "ktest.h"

#include <sys/mount.h>

/* The node of page @i of peer @p (move_pages with no target nodes). */
static int node_of(struct peer *p, long i)
{
	void *page = p->addr + i * ktest_page;
	int status = -1;

	if (syscall(SYS_move_pages, p->pid, 1, &page, NULL, &status, 0))
		return -1;
	return status;
}

static bool unmerge_all(int dev)
{
	struct ksm_unmerge u = { 0 };
	struct ksm_stats st;

	return ioctl(dev, KSM_UNMERGE_ALL, &u) == 0 &&
	       KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0, 10000);
}

/* Write @val to the first of @paths that exists; false if none could be written. */
static bool write_first(const char *const *paths, const char *val)
{
	for (; *paths; paths++)
		if (!access(*paths, F_OK))
			return ksmu_write_str(*paths, val) == 0;
	return false;
}

/* /proc/vmstat's numa_pte_updates: PTEs NUMA balancing made into hinting entries. */
static long numa_pte_updates(void)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char line[128];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "numa_pte_updates %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/*
 * Fill @npages pages at @addr with content @seed on node @node: the task's
 * policy binds them there while they are touched, and no policy stays on
 * the range (NUMA balancing scans only ranges that follow the task's).
 */
static bool fill_on_node(void *addr, long npages, int node, uint64_t seed)
{
	unsigned long mask = 1UL << node;

	if (syscall(SYS_set_mempolicy, 2, &mask, sizeof(mask) * 8))	/* MPOL_BIND */
		return false;
	ksmu_fill_pages(addr, npages, seed, 1);
	return syscall(SYS_set_mempolicy, 0, NULL, 0) == 0;		/* MPOL_DEFAULT */
}

/*
 * A merged page that NUMA balancing made a hinting entry (a kernel page on
 * node 1 mapped once, by a single-threaded process running on node 0: the
 * guest's CPUs are all node 0's): a fault on it first makes the entry
 * present again (a kernel page cannot move), without a copy. KSM_UNMERGE
 * must still leave a private copy there, not count the page unmerged while
 * it stays merged. 6.1 leaves pages with extra references alone, so there
 * the hinting entry is never made and the test shows nothing.
 */
static void test_numa_hinting(int dev, int scan)
{
	static const char *const delay[] = { "/sys/kernel/debug/sched/numa_balancing/scan_delay_ms",
		"/proc/sys/kernel/numa_balancing_scan_delay_ms", NULL };
	static const char *const period[] = { "/sys/kernel/debug/sched/numa_balancing/scan_period_min_ms",
		"/proc/sys/kernel/numa_balancing_scan_period_min_ms", NULL };
	static const char *const on[] = { "/proc/sys/kernel/numa_balancing", NULL };
	struct { long unmerged, updates; uint64_t pfn; } r = { -1, -1, 0 };
	int to[2], from[2];
	uint64_t kpfn;
	char *own;
	pid_t pid;

	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (!write_first(on, "1") || !write_first(delay, "0") || !write_first(period, "100")) {
		ktest_skip("NUMA balancing cannot be switched on here");
		return;
	}
	ktest_ok(pipe(to) == 0 && pipe(from) == 0, "NUMA balancing on, scanning at once");
	pid = fork();
	if (!pid) {
		struct ksm_unmerge u = { 0 };
		char *m = anon_map(ktest_page, 0);
		int sma = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
		long start;
		char c;

		if (!fill_on_node(m, 1, 1, 321) || sma < 0 || ksmu_register(sma, m, 1) ||
		    write(from[1], &m, sizeof(m)) != sizeof(m) || read(to[0], &c, 1) != 1)
			_exit(1);
		/*
		 * Busy, without touching the page, until the balancer has made
		 * hinting entries (at most 10 s: its counts show late).
		 */
		start = numa_pte_updates();
		for (double t0 = ksmu_now_s(); ksmu_now_s() < t0 + 10 &&
		     (numa_pte_updates() == start || ksmu_now_s() < t0 + 2);)
			for (volatile long spin = 0; spin < 100000; spin++)
				;
		r.updates = numa_pte_updates() - start;
		r.unmerged = ioctl(sma, KSM_UNMERGE, &u) ? -1 : (long)u.pages_unmerged;
		r.pfn = ksmu_pagemap_pfn(0, m);
		_exit(write(from[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	int sma = ksm_sma(dev), st;

	own = anon_map(ktest_page, 0);
	char *theirs = NULL;

	ktest_ok(fill_on_node(own, 1, 1, 321), "a page filled on node 1");
	ktest_ok(ksmu_register(sma, own, 1) == 0 && read(from[0], &theirs, sizeof(theirs)) ==
		 sizeof(theirs), "two processes register one page of the same content, on node 1");
	ksmu_scan_pass(scan);
	kpfn = ksmu_pagemap_pfn(0, own);
	ktest_ok(kpfn && ksmu_pagemap_pfn(pid, theirs) == kpfn, "merged");
	own[0] ^= 1;		/* the other process alone maps the kernel page now */
	ktest_ok(write(to[1], "g", 1) == 1 && read(from[0], &r, sizeof(r)) == sizeof(r),
		 "the other process ran (NUMA balancing counted %ld hinting entries made)", r.updates);
	ktest_ok(r.unmerged == 1 && r.pfn && r.pfn != kpfn,
		 "its KSM_UNMERGE left a private copy (pages unmerged %ld; pfn %#" PRIx64
		 ", the kernel page's %#" PRIx64 ")", r.unmerged, r.pfn, kpfn);
	waitpid(pid, &st, 0);
	close(sma);
	munmap(own, ktest_page);
}

int main(void)
{
	const long n = 256;
	int dev = ksm_open(), scan = ksm_scanfd(dev);

	if (access("/sys/devices/system/node/node1", F_OK)) {
		ktest_skip("this guest has one NUMA node");
		return ktest_done();
	}
	peer_node = 0;
	struct peer a0 = peer_start(dev, n, 99, n), b0 = peer_start(dev, n, 99, n);

	peer_node = 1;
	struct peer a1 = peer_start(dev, n, 99, n), b1 = peer_start(dev, n, 99, n);

	peer_node = -1;
	ktest_ok(node_of(&a0, 0) == 0 && node_of(&a1, 0) == 1, "peers' memory on nodes 0 and 1");

	ksmu_scan_pass(scan);
	ktest_ok(peers_shared(&a0, &b0) == n && peers_shared(&a0, &a1) == n && peers_shared(&a1, &b1) == n,
		 "merge_across_nodes=1: all four share every page");
	KTEST_ERRNO(KSMU_CONFIG(dev, __c.merge_across_nodes = 0), EBUSY,
		    "switching it off while kernel pages are held: EBUSY");
	ktest_ok(unmerge_all(dev), "unmerge everything, kernel pages given back");
	ktest_ok(KSMU_CONFIG(dev, __c.merge_across_nodes = 0) == 0, "merge_across_nodes=0");

	ksmu_scan_settle(scan, 3);
	ktest_ok(peers_shared(&a0, &b0) == n && peers_shared(&a1, &b1) == n,
		 "each node's pages merge among themselves");
	ktest_ok(peers_shared(&a0, &a1) == 0, "but never across nodes");
	long on0 = 0, on1 = 0;

	for (long i = 0; i < n; i++) {
		on0 += node_of(&a0, i) == 0;
		on1 += node_of(&a1, i) == 1;
	}
	ktest_ok(on0 == n && on1 == n, "each kernel page is on its sharers' node (%ld, %ld)", on0, on1);
	ktest_ok(peer_check(&a0) && peer_check(&b0) && peer_check(&a1) && peer_check(&b1), "contents right");
	KTEST_ERRNO(KSMU_CONFIG(dev, __c.merge_across_nodes = 1), EBUSY, "switching back while held: EBUSY");
	ktest_ok(unmerge_all(dev) && KSMU_CONFIG(dev, __c.merge_across_nodes = 1) == 0,
		 "after an unmerge it switches back");
	peer_stop(&a0);
	peer_stop(&b0);
	peer_stop(&a1);
	peer_stop(&b1);
	test_numa_hinting(dev, scan);
	return ktest_done();
}
