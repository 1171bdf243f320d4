// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel pages stay dense: they cannot migrate, so the module keeps them in
 * a few 2 MiB blocks of their own (each a pageblock, which would otherwise be
 * a huge page lost) and, when churn leaves blocks sparse, copies their kernel
 * pages into fuller ones, moves the sharers over as it scans them and gives
 * the emptied blocks back. Here: 8192 merged pages (16 blocks' worth), then
 * three quarters of them written differently by each sharer (their kernel
 * pages freed, every block left a quarter full); a few passes later (at most
 * 8) the 2048 kernel pages left fill 4 or 5 blocks, every sharer still reads what it
 * wrote, and the module keeps little spare. Allocated one by one, as before,
 * they stayed spread over every block they had been put in.
 */
#include "ktest.h"

#include <sys/uio.h>

#define NPAGES	8192L
#define BLOCK	512L		/* pages in 2 MiB */
#define HOLD_PAGES 2048L
#define PIPES	16		/* of 16 pages: half a block */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* How many 2 MiB blocks hold the pages of @p that map a kernel page (pagemap: not exclusive). */
static long kpage_blocks(struct peer *p, long *kpages)
{
	static uint64_t ent[NPAGES], blk[NPAGES];
	long n = 0, blocks = 0;

	if (ksmu_pagemap_read(p->pid, (uintptr_t)p->addr, p->npages, ent) < 0)
		return -1;
	for (long i = 0; i < p->npages; i++)
		if ((ent[i] & KSMU_PM_PRESENT) && !(ent[i] & KSMU_PM_EXCLUSIVE))
			blk[n++] = (ent[i] & KSMU_PM_PFN_MASK) / BLOCK;
	qsort(blk, n, sizeof(blk[0]), cmp_u64);
	for (long i = 0; i < n; i++)
		blocks += !i || blk[i] != blk[i - 1];
	*kpages = n;
	return blocks;
}

/*
 * A copy made to empty a block, whose sharers all went, is given back even
 * while its original lives on, mapped by a process without a region (here a
 * fork child keeping one page in 64, never scanned, so never moved): the
 * original used to keep its copy referenced, and with it the copy's block,
 * for as long as it lived.
 */
static void test_held_copies(int dev, int scan)
{
	struct peer a = peer_start(dev, HOLD_PAGES, 93, HOLD_PAGES);
	struct peer b = peer_start(dev, HOLD_PAGES, 93, HOLD_PAGES);
	unsigned long long moved = 0, was;
	struct ksm_stats st0, st;
	long holder, r = 0;
	int passes;

	ksmu_scan_settle(scan, 4);
	ktest_ok(peers_shared(&a, &b) == HOLD_PAGES, "%ld pages of two processes merged again",
		 HOLD_PAGES);
	holder = peer_cmd(&a, PEER_FORK_HOLD, 64, 0, 0);
	/* Three pages in four rewritten by both (none the child holds): the blocks go sparse. */
	for (long i = 0; i < HOLD_PAGES && !r; i++) {
		if (i % 4 == 0)
			continue;
		r = peer_cmd(&a, PEER_WRITE, i, 7, 0xa1);
		r = r ?: peer_cmd(&b, PEER_WRITE, i, 7, 0xb2);
	}
	ksmu_stats(dev, &st0);
	was = st0.kpages_moved;
	for (passes = 1; passes <= 8; passes++) {
		ksmu_scan_pass(scan);
		ksmu_stats(dev, &st);
		if (st.kpages_moved > st0.kpages_moved && st.kpages_moved == was)
			break;
		was = st.kpages_moved;
	}
	moved = st.kpages_moved - st0.kpages_moved;
	ktest_ok(holder > 0 && !r && moved > 0,
		 "a child holding one page in 64; blocks emptied: %llu copies made", moved);
	/* Both rewrite the pages the child holds: the copies of those are mapped by nobody. */
	for (long i = 0; i < HOLD_PAGES && !r; i += 64) {
		r = peer_cmd(&a, PEER_WRITE, i, 9, 0xa3);
		r = r ?: peer_cmd(&b, PEER_WRITE, i, 9, 0xb4);
	}
	for (passes = 1; passes <= 4; passes++) {
		ksmu_scan_pass(scan);
		ksmu_stats(dev, &st);
		if (st.kpages_held == st.pages_shared)
			break;
	}
	ktest_ok(!r && st.kpages_held == st.pages_shared,
		 "the copies nobody maps are given back while the child lives (%llu held, %llu "
		 "mapped, %d passes)", (unsigned long long)st.kpages_held,
		 (unsigned long long)st.pages_shared, passes);
	ktest_ok(peer_check(&a) && peer_check(&b), "both processes read what they wrote");
	if (holder > 0)
		kill((pid_t)holder, SIGKILL);
	peer_stop(&a);
	peer_stop(&b);
}

/*
 * A kernel page a pipe still holds (vmsplice() of a merged page) is not
 * reused when nothing maps it any more: its slot waits for the pipe, and
 * after KSMDEV_KPOOL_WAIT_ROUNDS sweeps is left to it (lost); what the pipe
 * reads is what was spliced, however many kernel pages are made meanwhile.
 * Half a block left to pipes: once its other pages are free, the block is
 * given back (it used to stay for ever, its free half counted as spare).
 */
static void test_pipe_holds(int dev, int scan)
{
	const long n = PIPES * 16;	/* a pipe holds 16 pages */
	char *m = ksmu_map_anon(n * ktest_page, 0, -1);
	static char page[KSMU_PAGE_SIZE];
	int pipes[PIPES][2], sma = ksm_sma(dev);
	long spliced = 0, bad = -1, merged = 0;
	struct ksm_stats st;

	if (!m)
		ktest_fatal("mmap");
	KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0, 10000);
	ksmu_fill_pages(m, n, 97, n);
	ktest_ok(ksmu_register(sma, m, n) == 0, "%ld pages registered", n);
	struct peer b = peer_start(dev, n, 97, n);

	ksmu_scan_settle(scan, 3);
	for (long i = 0; i < n; i++)
		merged += !ksmu_pagemap_exclusive(0, m + i * ktest_page);
	ktest_ok(merged == n, "they are merged with another process's (%ld)", merged);
	for (int p = 0; p < PIPES; p++) {
		struct iovec iov = { .iov_base = m + p * 16 * ktest_page, .iov_len = 16 * ktest_page };

		if (pipe(pipes[p]))
			ktest_fatal("pipe");
		spliced += vmsplice(pipes[p][1], &iov, 1, 0);
	}
	ktest_ok(spliced == n * ktest_page, "pipes hold all %ld merged pages (vmsplice)", n);
	/* Nothing maps the kernel pages any more: both processes let go of them. */
	munmap(m, n * ktest_page);
	peer_stop(&b);
	/* Sweeps past the wait, with new kernel pages made meanwhile. */
	struct peer c = peer_start(dev, 64, 98, 64), d = peer_start(dev, 64, 98, 64);

	for (int i = 0; i < 70; i++)
		ksmu_scan_pass(scan);
	ksmu_stats(dev, &st);
	ktest_ok(peers_shared(&c, &d) == 64 && peer_check(&c) && peer_check(&d),
		 "new kernel pages made meanwhile (%llu held)", (unsigned long long)st.kpages_held);
	for (long i = 0; i < n && bad < 0; i++) {
		if (read(pipes[i / 16][0], page, sizeof(page)) != (ssize_t)sizeof(page) ||
		    !ksmu_check_page(page, 97, (uint64_t)i))
			bad = i;
	}
	ktest_ok(bad < 0, "the pipes read what was spliced, 70 sweeps later (first wrong page: %ld)",
		 bad);
	for (int p = 0; p < PIPES; p++) {
		close(pipes[p][0]);
		close(pipes[p][1]);
	}
	peer_stop(&c);
	peer_stop(&d);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0 &&
			    (st.kpool_spare == 0 || st.kpool_spare == BLOCK), 10000),
		 "nothing held: only whole empty blocks are kept, the one left half to pipes went "
		 "(%llu spare pages)", (unsigned long long)st.kpool_spare);
	close(sma);
}

int main(void)
{
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	struct peer a = peer_start(dev, NPAGES, 91, NPAGES), b = peer_start(dev, NPAGES, 91, NPAGES);
	struct ksm_stats st0, st;
	long blocks, kpages, r = 0;
	int passes;

	ksmu_scan_settle(scan, 4);
	blocks = kpage_blocks(&a, &kpages);
	ktest_ok(peers_shared(&a, &b) == NPAGES, "%ld pages of two processes merged (%ld)", NPAGES,
		 peers_shared(&a, &b));
	ktest_ok(blocks >= 0 && blocks <= NPAGES / BLOCK + 1,
		 "their %ld kernel pages fill %ld blocks of 2 MiB (at most %ld)", kpages, blocks,
		 NPAGES / BLOCK + 1);

	/* Each process writes a byte into 3 pages of every 4, differently: those kernel pages go. */
	for (long i = 0; i < NPAGES && !r; i++) {
		if (i % 4 == 0)
			continue;
		r = peer_cmd(&a, PEER_WRITE, i, 7, 0xa1);
		r = r ?: peer_cmd(&b, PEER_WRITE, i, 7, 0xb2);
	}
	ktest_ok(!r, "both processes rewrote three quarters of their pages");
	/*
	 * A pass frees the kernel pages nobody maps and picks blocks to empty,
	 * the next moves their sharers, the sweep at its end frees what they
	 * left (a copy that had to move again goes a sweep later).
	 */
	ksmu_stats(dev, &st0);
	for (passes = 1; passes <= 8; passes++) {
		ksmu_scan_pass(scan);
		ksmu_stats(dev, &st);
		blocks = kpage_blocks(&a, &kpages);
		ktest_diag("pass %d: %ld blocks, kernel pages held %llu, mapped %llu, copied %llu, "
			   "spare %llu", passes, blocks, (unsigned long long)st.kpages_held,
			   (unsigned long long)st.pages_shared, (unsigned long long)st.kpages_moved,
			   (unsigned long long)st.kpool_spare);
		if (passes >= 3 && blocks <= NPAGES / 4 / BLOCK + 1 &&
		    st.kpages_held == st.pages_shared)
			break;
	}
	ktest_ok(kpages >= NPAGES / 4 && peers_shared(&a, &b) == NPAGES / 4,
		 "a quarter stays merged (%ld kernel pages)", kpages);
	ktest_ok(blocks >= 0 && blocks <= NPAGES / 4 / BLOCK + 1,
		 "%d passes later they fill %ld blocks (at most %ld; copies moved: %llu)", passes,
		 blocks, NPAGES / 4 / BLOCK + 1,
		 (unsigned long long)(st.kpages_moved - st0.kpages_moved));
	ktest_ok(st.kpool_spare <= 2 * BLOCK + st.kpages_held / 32,
		 "the module keeps %llu spare pages in its blocks (at most %ld)",
		 (unsigned long long)st.kpool_spare, 2 * BLOCK + (long)st.kpages_held / 32);
	ktest_ok(peer_check(&a) && peer_check(&b), "both processes read what they wrote");
	/* (A few stay mapped once: a rewrite that left a page as it was merges it back.) */
	ktest_ok(st.kpages_held == st.pages_shared,
		 "every kernel page held is mapped: the ones moved from were given back (%llu held, "
		 "%llu mapped)", (unsigned long long)st.kpages_held,
		 (unsigned long long)st.pages_shared);

	peer_stop(&a);
	peer_stop(&b);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0 && st.kpool_spare <= BLOCK,
			    10000),
		 "once nothing maps them, the blocks go back too (%llu spare pages kept)",
		 (unsigned long long)st.kpool_spare);
	test_held_copies(dev, scan);
	test_pipe_holds(dev, scan);
	return ktest_done();
}
