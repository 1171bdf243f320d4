// SPDX-License-Identifier: GPL-2.0
/*
 * Unmerge: KSM_UNMERGE gives an SMA's merged pages private copies again,
 * byte for byte, also in a range made read-only since; KSM_UNMERGE_ALL does
 * it for every process; KSM_REMOVE_MEMORY_REGION_EXT removes one region or
 * all, optionally unmerging first. Arguments are validated. Pages that
 * userfaultfd write-protects keep that protection through an unmerge.
 */
#include <stdatomic.h>
#include <sys/utsname.h>
#include <linux/userfaultfd.h>

#include "ktest.h"

static long merged_count(char *m, long n, struct peer *p)
{
	long k = 0;

	for (long i = 0; i < n; i++) {
		uint64_t x = ksmu_pagemap_pfn(0, m + i * ktest_page);

		k += x && x == peer_pfn(p, i);
	}
	return k;
}

static bool all_anon(char *m, long n)
{
	for (long i = 0; i < n; i++)
		if (!(ksmu_kpageflags(ksmu_pagemap_pfn(0, m + i * ktest_page)) & (1ULL << KPF_ANON)))
			return false;
	return true;
}

static bool intact(char *m, long n, uint64_t seed)
{
	return ksmu_check_pages(m, n, seed, n) < 0;
}

/* Is the running kernel @major.@minor or later? */
static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma, mi;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/*
 * An unmerge writes nothing, and from 6.2 it is seen to: the copy is made by
 * an unsharing fault, as mainline's break_ksm() makes it, so it is not marked
 * soft-dirty (CRIU and live migration would take it for written), and where
 * userfaultfd write-protects the page (QEMU's background snapshot does that
 * to all of a guest's memory) the copy keeps the uffd-wp marker: the
 * process's handler still sees the first write. Before 6.2 only a write
 * fault can make the copy, which the protection turns away: those pages are
 * reported failed and stay merged, every byte right.
 */
static void unmerge_uffd_wp(int dev, int scan)
{
	const long n = 64;
	int sma = ksm_sma(dev), uffd;
	char *m = anon_map(2 * n * ktest_page, 0);
	uint64_t pm[2 * n], pfn[2 * n];
	struct ksm_unmerge u;
	long merged = 0, anon = 0, wp = 0, soft_dirty = 0;
	bool unshares = kernel_at_least(6, 2);

	ksmu_fill_pages(m, 2 * n, 61, n);	/* page i and page n + i alike */
	ktest_ok(ksmu_register(sma, m, 2 * n) == 0, "uffd-wp: a region of %ld twins", n);
	ksmu_scan_pass(scan);
	ksmu_pagemap_pfns(0, (uintptr_t)m, 2 * n, pfn);
	for (long i = 0; i < n; i++)
		merged += pfn[i] && pfn[i] == pfn[n + i] && !(ksmu_kpageflags(pfn[i]) & (1ULL << KPF_ANON));
	ktest_ok(merged == n, "uffd-wp: merged (%ld of %ld)", merged, n);

	/* First without userfaultfd: an unmerge writes nothing, so it marks nothing soft-dirty. */
	ktest_ok(ksmu_write_str("/proc/self/clear_refs", "4") == 0, "soft-dirty bits cleared");
	memset(&u, 0, sizeof(u));
	ktest_ok(ioctl(sma, KSM_UNMERGE, &u) == 0 && u.pages_unmerged == (uint64_t)(2 * n),
		 "KSM_UNMERGE (%llu pages)", (unsigned long long)u.pages_unmerged);
	ksmu_pagemap_read(0, (uintptr_t)m, 2 * n, pm);
	for (long i = 0; i < 2 * n; i++)
		soft_dirty += !!(pm[i] & KSMU_PM_SOFT_DIRTY);
	if (unshares)
		ktest_ok(soft_dirty == 0, "no copy is soft-dirty (%ld of %ld)", soft_dirty, 2 * n);
	ksmu_scan_pass(scan);
	ksmu_pagemap_pfns(0, (uintptr_t)m, 2 * n, pfn);
	merged = 0;
	for (long i = 0; i < n; i++)
		merged += pfn[i] && pfn[i] == pfn[n + i];
	ktest_ok(merged == n, "merged again (%ld of %ld)", merged, n);

	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)m, .len = 2 * n * ktest_page },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect prot = { .range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP };

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	bool armed = uffd >= 0 && !ioctl(uffd, UFFDIO_API, &api) && !ioctl(uffd, UFFDIO_REGISTER, &reg) &&
		     !ioctl(uffd, UFFDIO_WRITEPROTECT, &prot);

	ktest_ok(armed, "uffd-wp: userfaultfd write-protects them%s%s", armed ? "" : ": ",
		 armed ? "" : strerror(errno));
	ktest_ok(ksmu_write_str("/proc/self/clear_refs", "4") == 0, "uffd-wp: soft-dirty bits cleared");

	memset(&u, 0, sizeof(u));
	ktest_ok(ioctl(sma, KSM_UNMERGE, &u) == 0, "uffd-wp: KSM_UNMERGE");
	ksmu_pagemap_read(0, (uintptr_t)m, 2 * n, pm);
	soft_dirty = 0;
	for (long i = 0; i < 2 * n; i++) {
		anon += !!(ksmu_kpageflags(pm[i] & KSMU_PM_PFN_MASK) & (1ULL << KPF_ANON));
		wp += !!(pm[i] & KSMU_PM_UFFD_WP);
		soft_dirty += !!(pm[i] & KSMU_PM_SOFT_DIRTY);
	}
	if (unshares) {
		ktest_ok(u.pages_unmerged == (uint64_t)(2 * n) && u.pages_failed == 0 && anon == 2 * n,
			 "uffd-wp: every page unmerged (%llu, %llu failed, %ld anonymous)",
			 (unsigned long long)u.pages_unmerged, (unsigned long long)u.pages_failed, anon);
		ktest_ok(wp == 2 * n && soft_dirty == 0,
			 "uffd-wp: each copy still write-protected, none soft-dirty (%ld, %ld of %ld)", wp,
			 soft_dirty, 2 * n);
	} else {
		ktest_ok(u.pages_unmerged == 0 && u.pages_failed == (uint64_t)(2 * n) && anon == 0,
			 "uffd-wp: before 6.2 every page reported failed, still merged (%llu, %llu failed, %ld anonymous)",
			 (unsigned long long)u.pages_unmerged, (unsigned long long)u.pages_failed, anon);
	}
	ktest_ok(ksmu_check_pages(m, 2 * n, 61, n) < 0, "uffd-wp: every byte right");
	close(uffd);
	close(sma);
	munmap(m, 2 * n * ktest_page);
}

/* The unmerging thread of unmerge_uffd_close(). */
struct unmerger {
	int sma;
	atomic_int go, stop, busy;
	atomic_long calls;
};

static void *unmerge_loop(void *arg)
{
	struct unmerger *w = arg;

	while (!atomic_load(&w->stop)) {
		struct ksm_unmerge u = { 0 };

		atomic_store(&w->busy, 1);
		if (atomic_load(&w->go)) {
			ioctl(w->sma, KSM_UNMERGE, &u);
			atomic_fetch_add(&w->calls, 1);
		}
		atomic_store(&w->busy, 0);
		sched_yield();
	}
	return NULL;
}

/*
 * The child of unmerge_uffd_close(): @rounds times, merge the pages, have
 * userfaultfd write-protect them, let a thread unmerge them over and over,
 * and close the userfaultfd meanwhile. Exits 0, or hangs.
 */
static void uffd_close_rounds(int dev, int rounds)
{
	const long n = 256;
	int scan = ksm_scanfd(dev);
	struct unmerger w = { .sma = ksm_sma(dev) };
	char *m = anon_map(2 * n * ktest_page, 0);
	pthread_t th;

	ksmu_fill_pages(m, 2 * n, 62, n);
	if (ksmu_register(w.sma, m, 2 * n))
		_exit(2);
	pthread_create(&th, NULL, unmerge_loop, &w);
	for (int r = 0; r < rounds; r++) {
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg = {
			.range = { .start = (uintptr_t)m, .len = 2 * n * ktest_page },
			.mode = UFFDIO_REGISTER_MODE_WP,
		};
		struct uffdio_writeprotect prot = { .range = reg.range,
						    .mode = UFFDIO_WRITEPROTECT_MODE_WP };
		int uffd;

		atomic_store(&w.go, 0);
		while (atomic_load(&w.busy))
			sched_yield();
		ksmu_scan_pass(scan);
		uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg) ||
		    ioctl(uffd, UFFDIO_WRITEPROTECT, &prot))
			_exit(3);
		atomic_store(&w.go, 1);
		usleep(r % 7 * 300);
		close(uffd);
	}
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	_exit(ksmu_check_pages(m, 2 * n, 62, n) < 0 ? 0 : 4);
}

/*
 * Closing a userfaultfd while KSM_UNMERGE copies the pages it write-protects
 * must not hang either. Before 6.2 the copy is a write fault, which on such
 * a page returns neither a copy nor an error once the userfaultfd is being
 * closed, and the closer waits for the mmap lock the unmerge holds: an
 * unmerge that faulted until it saw a copy spun until killed (and kksmd, with
 * no signal to stop it, for ever). The rounds run in a child, killed if they
 * take more than a minute.
 */
static void unmerge_uffd_close(int dev)
{
	const int rounds = 60;
	pid_t pid = fork();
	int status = 0, waited;

	if (!pid)
		uffd_close_rounds(dev, rounds);
	for (waited = 0; waited < 600 && waitpid(pid, &status, WNOHANG) == 0; waited++)
		usleep(100000);
	if (waited == 600) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	ktest_ok(waited < 600 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "%d rounds of KSM_UNMERGE while the userfaultfd that write-protects the pages is "
		 "closed: %s (%.1f s)", rounds,
		 waited == 600 ? "hung, killed" : WIFEXITED(status) && !WEXITSTATUS(status) ?
		 "no hang, every byte right" : "failed", waited / 10.0);
}

/*
 * After KSM_UNMERGE the SMA's counters say what is there: no merged page left
 * counted for pages unmapped since their last scan (they used to stay counted
 * until the next scan).
 */
static void unmerge_stats(int dev, int scan)
{
	const long n = 64;
	int sma = ksm_sma(dev);
	char *m = anon_map(n * ktest_page, 0);
	struct ksm_process_stats ps;
	struct ksm_unmerge u;
	int rc;

	ksmu_fill_pages(m, n, 51, n);
	struct peer p = peer_start(dev, n, 51, n);

	ktest_ok(ksmu_register(sma, m, n) == 0 && ksmu_scan_pass(scan) == 2 * n &&
		 merged_count(m, n, &p) == n, "%ld pages merged", n);
	madvise(m, 16 * ktest_page, MADV_DONTNEED);
	for (long i = 16; i < 32; i++)
		m[i * ktest_page] ^= 1;
	memset(&u, 0, sizeof(u));
	ktest_ok(ioctl(sma, KSM_UNMERGE, &u) == 0 && u.pages_unmerged == 32,
		 "16 unmapped, 16 written: KSM_UNMERGE unmerges the other 32 (%llu)",
		 (unsigned long long)u.pages_unmerged);
	memset(&ps, 0, sizeof(ps));
	rc = ioctl(sma, KSM_SMA_GET_STATS, &ps);
	ktest_ok(rc == 0 && ps.merged_pages == 0 && ps.zero_pages == 0,
		 "then no merged page is counted (%llu merged, %llu zero)",
		 (unsigned long long)ps.merged_pages, (unsigned long long)ps.zero_pages);
	peer_stop(&p);
	close(sma);
	munmap(m, n * ktest_page);
}

int main(void)
{
	const long n = 1024;
	int dev = ksm_open(), scan = ksm_scanfd(dev), sma = ksm_sma(dev);
	char *m = anon_map(n * ktest_page, 0);
	struct ksm_unmerge u;
	struct ksm_process_stats ps;

	ksmu_fill_pages(m, n, 50, n);
	struct peer p = peer_start(dev, n, 50, n);

	ktest_ok(ksmu_register(sma, m, n / 2) == 0 && ksmu_register(sma, m + n / 2 * ktest_page, n / 2) == 0,
		 "two regions of ours");
	long anon0 = ksmu_status_kb(0, "RssAnon");

	ktest_ok(ksmu_scan_pass(scan) == 2 * n && merged_count(m, n, &p) == n, "everything merged");

	/* Argument checks. */
	memset(&u, 0, sizeof(u));
	u.flags = 1;
	KTEST_ERRNO(ioctl(sma, KSM_UNMERGE, &u), EINVAL, "KSM_UNMERGE unknown flag: EINVAL");
	u.flags = 0;
	u.reserved[1] = 1;
	KTEST_ERRNO(ioctl(sma, KSM_UNMERGE, &u), EINVAL, "KSM_UNMERGE reserved != 0: EINVAL");
	KTEST_ERRNO(ioctl(sma, KSM_UNMERGE, NULL), EFAULT, "KSM_UNMERGE NULL: EFAULT");
	KTEST_ERRNO(ioctl(dev, KSM_UNMERGE, &u), ENOTTY, "KSM_UNMERGE on /dev/ksm: ENOTTY");

	/* The second half read-only first: unmerge must still make private copies. */
	ktest_ok(mprotect(m + n / 2 * ktest_page, n / 2 * ktest_page, PROT_READ) == 0,
		 "half of our range made read-only");
	memset(&u, 0, sizeof(u));
	ktest_ok(ioctl(sma, KSM_UNMERGE, &u) == 0, "KSM_UNMERGE on our SMA");
	ktest_ok(u.pages_unmerged == (uint64_t)n && u.pages_failed == 0, "it reports %ld pages unmerged (%llu, %llu failed)",
		 n, (unsigned long long)u.pages_unmerged, (unsigned long long)u.pages_failed);
	ktest_ok(merged_count(m, n, &p) == 0 && all_anon(m, n), "our pages are private anonymous pages again");
	ktest_ok(intact(m, n, 50), "with every byte right (the read-only half too)");
	ktest_ok(near_kb(ksmu_status_kb(0, "RssAnon") - anon0, 0), "RssAnon is back (%ld -> %ld kB)", anon0,
		 ksmu_status_kb(0, "RssAnon"));
	ktest_ok(peer_check(&p) && peer_pfn(&p, 0) != 0, "the other process is untouched");
	/* The ioctl first: ktest_ok()'s arguments are evaluated in no set order. */
	memset(&ps, 0, sizeof(ps));
	int rc = ioctl(sma, KSM_SMA_GET_STATS, &ps);
	ktest_ok(rc == 0 && ps.unmerged == (uint64_t)n && ps.merged_pages == 0,
		 "SMA stats: %llu unmerged, %llu merged", (unsigned long long)ps.unmerged,
		 (unsigned long long)ps.merged_pages);
	mprotect(m + n / 2 * ktest_page, n / 2 * ktest_page, PROT_READ | PROT_WRITE);

	/* Merge again, then KSM_UNMERGE_ALL: the peer's pages too. */
	ktest_ok(ksmu_scan_pass(scan) == n && merged_count(m, n, &p) == n, "a pass merges us again");
	memset(&u, 0, sizeof(u));
	ktest_ok(ioctl(dev, KSM_UNMERGE_ALL, &u) == 0 && u.pages_unmerged == (uint64_t)(2 * n),
		 "KSM_UNMERGE_ALL unmerges both processes (%llu)", (unsigned long long)u.pages_unmerged);
	ktest_ok(merged_count(m, n, &p) == 0 && intact(m, n, 50) && peer_check(&p), "all private and right");
	struct ksm_stats st;

	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0, 10000),
		 "the kernel pages are given back after an unmerge");

	pid_t pid = fork();

	if (!pid) {
		if (setresuid(65534, 65534, 65534))
			_exit(2);
		memset(&u, 0, sizeof(u));
		_exit(ioctl(dev, KSM_UNMERGE_ALL, &u) == -1 && errno == EPERM ? 0 : 1);
	}
	int status;

	waitpid(pid, &status, 0);
	ktest_ok(WIFEXITED(status) && !WEXITSTATUS(status), "KSM_UNMERGE_ALL unprivileged: EPERM");

	/* Remove one region, unmerging it first; the other stays merged. */
	ktest_ok(ksmu_scan_pass(scan) == 2 * n, "merged once more");
	struct ksm_remove_region rm = { .flags = 0x80 };

	KTEST_ERRNO(ioctl(sma, KSM_REMOVE_MEMORY_REGION_EXT, &rm), EINVAL, "REMOVE_EXT unknown flag: EINVAL");
	rm = (struct ksm_remove_region){ .addr = (uintptr_t)m + 123 };
	KTEST_ERRNO(ioctl(sma, KSM_REMOVE_MEMORY_REGION_EXT, &rm), EINVAL, "REMOVE_EXT unaligned: EINVAL");
	rm = (struct ksm_remove_region){ .addr = (uintptr_t)m + ktest_page };
	KTEST_ERRNO(ioctl(sma, KSM_REMOVE_MEMORY_REGION_EXT, &rm), ENOENT,
		    "REMOVE_EXT of an address no region starts at: ENOENT");
	rm = (struct ksm_remove_region){ .flags = KSM_REMOVE_UNMERGE, .addr = (uintptr_t)m };
	ktest_ok(ioctl(sma, KSM_REMOVE_MEMORY_REGION_EXT, &rm) == 0, "REMOVE_EXT with UNMERGE of the first region");
	ktest_ok(ioctl(sma, KSM_SMA_GET_STATS, &ps) == 0 && ps.regions == 1, "one region left on the SMA");
	long first = merged_count(m, n / 2, &p), second = 0;

	for (long i = n / 2; i < n; i++)
		second += ksmu_pagemap_pfn(0, m + i * ktest_page) == peer_pfn(&p, i);
	ktest_ok(first == 0 && second == n / 2, "the removed region is private, the other still merged");
	ktest_ok(ksmu_scan_pass(scan) == 0 && merged_count(m, n / 2, &p) == 0,
		 "and the removed one is not merged again");
	rm = (struct ksm_remove_region){ .addr = 0 };
	ktest_ok(ioctl(sma, KSM_REMOVE_MEMORY_REGION_EXT, &rm) == 0 &&
		 ioctl(sma, KSM_SMA_GET_STATS, &ps) == 0 && ps.regions == 0,
		 "REMOVE_EXT with addr 0 removes the rest (without unmerging)");
	ktest_ok(merged_count(m, n, &p) == n / 2 && intact(m, n, 50), "its pages stay merged and right");
	peer_stop(&p);
	close(sma);
	unmerge_stats(dev, scan);
	unmerge_uffd_wp(dev, scan);
	unmerge_uffd_close(dev);
	return ktest_done();
}
