// SPDX-License-Identifier: GPL-2.0
/*
 * merge_across_nodes (run in a two-node guest, tests/vm/run --numa 2): on,
 * pages of both nodes merge; off, each node's pages merge among themselves,
 * into a kernel page on their node; the setting cannot change while kernel
 * pages are held.
 */
#include "ktest.h"

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
	return ktest_done();
}
