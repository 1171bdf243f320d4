// SPDX-License-Identifier: GPL-2.0
/*
 * Huge and sparse regions cost what is present in them, not their size: a
 * 16 TiB MAP_NORESERVE region registers at once, without any metadata and
 * without a kernel warning; a pass over a 64 GiB region of which a few MiB
 * are touched looks at exactly the touched pages (pages_to_scan counts pages
 * looked at, not addresses skipped) and merges them with their twins in
 * another process; unmerging and removing it visit only those pages; and an
 * untouched region gives a scan nothing to do.
 */
#include "ktest.h"

#define GiB (1024L * 1024 * 1024)

/*
 * A region of @bytes, address space only (MAP_NORESERVE), in small pages:
 * a touched page is one page, not the huge page around it.
 */
static char *reserve(long bytes)
{
	char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (m == MAP_FAILED)
		ktest_fatal("mmap of %ld GiB", bytes / GiB);
	if (madvise(m, bytes, MADV_NOHUGEPAGE) && errno != EINVAL)
		ktest_fatal("MADV_NOHUGEPAGE");
	return m;
}

/* Touch page @i of each run: @runs runs of @len pages, @stride pages apart, content (seed, i). */
static void touch(char *m, long runs, long len, long stride, uint64_t seed)
{
	for (long r = 0; r < runs; r++)
		for (long j = 0; j < len; j++)
			ksmu_fill_page(m + (r * stride + j) * ktest_page, seed, r * len + j);
}

/* Are the touched pages of @m still what touch() wrote? */
static bool intact(char *m, long runs, long len, long stride, uint64_t seed)
{
	for (long r = 0; r < runs; r++)
		for (long j = 0; j < len; j++)
			if (!ksmu_check_page(m + (r * stride + j) * ktest_page, seed, r * len + j))
				return false;
	return true;
}

/* A scan of one whole pass: its report. */
static struct ksm_scan_ext pass(int scan)
{
	struct ksm_scan_ext ext = { .pages_to_scan = 0xffffffff, .flags = KSM_SCAN_PASS_END };

	if (ioctl(scan, KSM_SCAN_EXT, &ext))
		ktest_fatal("KSM_SCAN_EXT");
	return ext;
}

static void test_huge(int dev)
{
	const long npages = 0xffffffffL;	/* the most KSM_REGISTER_MEMORY_REGION takes: 16 TiB */
	const long bytes = npages * ktest_page;
	int sma = ksm_sma(dev), scan = ksm_scanfd(dev);
	long items0 = ksmu_slab_objects("ksmdev_item");
	struct ksm_stats st0, st1;
	char *m = reserve(bytes);
	double t0;

	ksmu_stats(dev, &st0);
	t0 = ksmu_now_s();
	ktest_ok(ksmu_register(sma, m, npages) == 0, "a 16 TiB MAP_NORESERVE region registers");
	ktest_ok(ksmu_now_s() - t0 < 1.0, "in %.3f s", ksmu_now_s() - t0);
	ksmu_stats(dev, &st1);
	ktest_ok(st1.metadata_bytes == st0.metadata_bytes &&
		 ksmu_slab_objects("ksmdev_item") == items0,
		 "with no per-page metadata (metadata_bytes %llu -> %llu)",
		 (unsigned long long)st0.metadata_bytes, (unsigned long long)st1.metadata_bytes);

	struct ksm_scan_ext ext = pass(scan);

	ktest_ok(ext.pages_scanned == 0 && ext.full_scans == 1,
		 "a pass over it untouched looks at nothing (%llu pages, %llu passes)",
		 (unsigned long long)ext.pages_scanned, (unsigned long long)ext.full_scans);

	/* 64 pages, one at the start of each 256 GiB. */
	for (long i = 0; i < 64; i++)
		ksmu_fill_page(m + i * (bytes / 64 / ktest_page) * ktest_page, 11, i);
	t0 = ksmu_now_s();
	ext = pass(scan);
	ktest_ok(ext.pages_scanned == 64, "a pass over 16 TiB with 64 pages touched looks at 64 (%llu, %.2f s)",
		 (unsigned long long)ext.pages_scanned, ksmu_now_s() - t0);
	ksmu_stats(dev, &st1);
	/*
	 * The module's own count (metadata_bytes: items times their slab
	 * object size) is exact; the slab's active objects may be off by a
	 * few on 7.x, whose per-CPU sheaves hold freed objects a while.
	 */
	long item_size = ksmu_read_long("/sys/kernel/slab/ksmdev_item/object_size");

	ktest_ok(st1.unstable_pages - st0.unstable_pages == 64 && item_size > 0 &&
		 (long)(st1.metadata_bytes - st0.metadata_bytes) == 64 * item_size,
		 "and keeps an item for each of them only (%llu filed, %lld bytes of metadata more: "
		 "%ld items of %ld bytes; slab objects %+ld)",
		 (unsigned long long)(st1.unstable_pages - st0.unstable_pages),
		 (long long)(st1.metadata_bytes - st0.metadata_bytes),
		 item_size > 0 ? (long)(st1.metadata_bytes - st0.metadata_bytes) / item_size : -1,
		 item_size, ksmu_slab_objects("ksmdev_item") - items0);
	ktest_ok(close(sma) == 0 && KTEST_WAIT(ksmu_stats(dev, &st1) == 0 &&
					       st1.regions == st0.regions &&
					       st1.unstable_pages == st0.unstable_pages, 5000),
		 "removing it drops them");
	munmap(m, bytes);
	close(scan);
}

/*
 * Everything the child does: the same pages as the parent, at the same
 * addresses (@m, inherited), then wait to be killed.
 */
static void twin(int dev, char *m, long bytes, long runs, long len, long stride, int ready)
{
	int sma = ksm_sma(dev);
	char ok = 1;

	touch(m, runs, len, stride, 21);
	if (ksmu_register(sma, m, bytes / ktest_page))
		ok = 0;
	if (write(ready, &ok, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static void test_sparse(int dev)
{
	/* 64 GiB each, 64 MiB touched: 32 runs of 512 pages (2 MiB), 2 GiB apart. */
	const long bytes = 64 * GiB, runs = 32, len = 512, stride = 2 * GiB / ktest_page;
	const long touched = runs * len;
	int sma = ksm_sma(dev), scan = ksm_scanfd(dev), pipefd[2];
	struct ksm_stats st0, st1;
	struct ksm_unmerge u;
	char *m = reserve(bytes), ok = 0;
	double t0;
	pid_t pid;

	if (pipe(pipefd))
		ktest_fatal("pipe");
	pid = fork();
	if (pid == 0)
		twin(dev, m, bytes, runs, len, stride, pipefd[1]);
	touch(m, runs, len, stride, 21);
	ktest_ok(read(pipefd[0], &ok, 1) == 1 && ok, "the twin registered its 64 GiB");
	ksmu_stats(dev, &st0);
	t0 = ksmu_now_s();
	ktest_ok(ksmu_register(sma, m, bytes / ktest_page) == 0, "64 GiB with 64 MiB touched registers");
	ktest_ok(ksmu_now_s() - t0 < 1.0, "in %.3f s", ksmu_now_s() - t0);

	struct ksm_scan_ext ext = pass(scan);

	ktest_ok(ext.pages_scanned == 2 * touched,
		 "a pass looks at the touched pages only (%llu of %ld, %.2f s)",
		 (unsigned long long)ext.pages_scanned, 2 * touched, ksmu_now_s() - t0);
	ktest_ok(ext.pages_merged == 2 * touched, "and merges all of them (%llu)",
		 (unsigned long long)ext.pages_merged);
	ktest_ok(ktest_same_pfns(getpid(), (uintptr_t)m, pid, (uintptr_t)m, 1) == 1 &&
		 ktest_same_pfns(getpid(), (uintptr_t)(m + (runs - 1) * stride * ktest_page), pid,
				 (uintptr_t)(m + (runs - 1) * stride * ktest_page), len) == len,
		 "the two processes share their pages (pagemap)");

	/* A pass in steps: pages_to_scan counts pages, and the cursor goes on from there. */
	struct ksm_scan_ext step = { .pages_to_scan = 1000 };
	long steps = 0, seen = 0;

	do {
		step.pages_scanned = step.full_scans = 0;
		if (ioctl(scan, KSM_SCAN_EXT, &step))
			break;
		seen += step.pages_scanned;
		steps++;
	} while (!step.full_scans && steps < 1000);
	ktest_ok(steps > 2 * touched / 1000 && seen <= 2 * touched + 1000,
		 "1000 pages at a time, a pass takes %ld calls (%ld pages)", steps, seen);

	ksmu_stats(dev, &st1);
	ktest_ok(st1.pages_sharing - st0.pages_sharing == (uint64_t)touched,
		 "pages_sharing grew by %ld (%llu)", touched,
		 (unsigned long long)(st1.pages_sharing - st0.pages_sharing));

	memset(&u, 0, sizeof(u));
	t0 = ksmu_now_s();
	ktest_ok(ioctl(sma, KSM_UNMERGE, &u) == 0 && u.pages_unmerged == (uint64_t)touched &&
		 u.pages_failed == 0, "KSM_UNMERGE of the 64 GiB region makes %ld pages private (%llu, %.2f s)",
		 touched, (unsigned long long)u.pages_unmerged, ksmu_now_s() - t0);
	ktest_ok(intact(m, runs, len, stride, 21), "every touched page holds what was written");
	ktest_ok(ktest_same_pfns(getpid(), (uintptr_t)m, pid, (uintptr_t)m, 1) == 0,
		 "and is no longer shared");

	t0 = ksmu_now_s();
	ktest_ok(close(sma) == 0, "the region is removed");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st1) == 0 && st1.regions == st0.regions - 1 &&
			    st1.kpages_held == 0 && st1.unstable_pages == 0, 10000),
		 "with the twin gone: no region, kernel page or table entry left (%.2f s)",
		 ksmu_now_s() - t0);
	close(pipefd[0]);
	close(pipefd[1]);
	munmap(m, bytes);
	close(scan);
}

int main(void)
{
	int dev = ksm_open();

	test_huge(dev);
	test_sparse(dev);
	return ktest_done();
}
