// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's built-in KSM keeps working beside the module, in the same
 * process: memory madvise(MADV_MERGEABLE)d is merged by it (its pages have
 * KPF_KSM), registered memory by the module, and memory given to both ends
 * up merged by one or the other, never corrupted.
 */
#include "ktest.h"

#define SYSKSM KSMU_BUILTIN_DIR

static char saved_run[16], saved_pages[16], saved_sleep[16];

/* Pages of @m still plain anonymous: neither the module's (not anon) nor built-in KSM pages. */
static long unmerged(char *m, long n)
{
	long plain = 0;

	for (long i = 0; i < n; i++) {
		uint64_t f = ksmu_kpageflags(ksmu_pagemap_pfn(0, m + i * ktest_page));

		plain += (f & (1ULL << KPF_ANON)) && !(f & (1ULL << KPF_KSM));
	}
	return plain;
}

/* Pairs (i, i + n/2) of @m sharing a pfn, and how many of their pages are built-in KSM pages. */
static long pairs(char *m, long n, long *ksm)
{
	long same = 0;

	*ksm = 0;
	for (long i = 0; i < n / 2; i++) {
		uint64_t x = ksmu_pagemap_pfn(0, m + i * ktest_page);

		same += x && x == ksmu_pagemap_pfn(0, m + (i + n / 2) * ktest_page);
		*ksm += !!(ksmu_kpageflags(x) & (1ULL << KPF_KSM));
	}
	return same;
}

static bool intact(char *m, long n)
{
	return ksmu_check_pages(m, n, 60, n / 2) < 0;
}

int main(void)
{
	const long n = 512;
	int dev = ksm_open(), scan = ksm_scanfd(dev), sma = ksm_sma(dev);
	char *ours = anon_map(n * ktest_page, 0);
	char *theirs = anon_map(n * ktest_page, 0);
	char *both = anon_map(n * ktest_page, 0);
	long ksm_pages;

	if (access(SYSKSM "run", W_OK)) {
		ktest_skip("no built-in KSM in this kernel");
		return ktest_done();
	}
	ksmu_read_str(SYSKSM "run", saved_run, sizeof(saved_run));
	ksmu_read_str(SYSKSM "pages_to_scan", saved_pages, sizeof(saved_pages));
	ksmu_read_str(SYSKSM "sleep_millisecs", saved_sleep, sizeof(saved_sleep));
	ksmu_fill_pages(ours, n, 60, n / 2);
	ksmu_fill_pages(theirs, n, 60, n / 2);
	ksmu_fill_pages(both, n, 60, n / 2);
	ktest_ok(madvise(theirs, n * ktest_page, MADV_MERGEABLE) == 0, "MADV_MERGEABLE on one area");
	ktest_ok(madvise(both, n * ktest_page, MADV_MERGEABLE) == 0 && ksmu_register(sma, both, n) == 0,
		 "another area given to both");
	ktest_ok(ksmu_register(sma, ours, n) == 0, "a third registered with the module only");
	ksmu_write_str(SYSKSM "pages_to_scan", "5000");
	ksmu_write_str(SYSKSM "sleep_millisecs", "0");
	ktest_ok(ksmu_write_str(SYSKSM "run", "1") == 0, "built-in KSM started");

	/* Both scanners work until everything is merged. */
	bool done = false;

	for (int i = 0; i < 600 && !done; i++) {
		long k1, k2, k3;

		ksmu_scan_pass(scan);
		(void)k3;
		done = pairs(ours, n, &k1) == n / 2 && pairs(theirs, n, &k2) == n / 2 &&
		       unmerged(both, n) == 0;
		if (!done)
			usleep(100000);
	}
	ktest_ok(pairs(ours, n, &ksm_pages) == n / 2 && ksm_pages == 0,
		 "the module merged its area; none of those pages is a built-in KSM page");
	ktest_ok(pairs(theirs, n, &ksm_pages) == n / 2 && ksm_pages == n / 2,
		 "the built-in KSM merged its area (%ld KSM pages)", ksm_pages);
	/*
	 * The same content lives in all three areas, so a page of the shared area
	 * may join the module's page (from the first area) or the built-in's (from
	 * the second): each scanner leaves the other's pages alone.
	 */
	long shared_both = pairs(both, n, &ksm_pages);

	ktest_ok(unmerged(both, n) == 0,
		 "every page of the shared area is merged by one of them (%ld pairs share a page, "
		 "%ld built-in KSM pages)", shared_both, ksm_pages);
	ktest_ok(intact(ours, n) && intact(theirs, n) && intact(both, n), "all three areas read right");
	ktest_ok(ksmu_read_long(SYSKSM "pages_sharing") > 0, "built-in pages_sharing = %ld",
		 ksmu_read_long(SYSKSM "pages_sharing"));

	/* Writes everywhere, then the built-in KSM unmerges its pages (run=2). */
	for (long i = 0; i < n; i += 3) {
		ours[i * ktest_page] ^= 1;
		theirs[i * ktest_page] ^= 1;
		both[i * ktest_page] ^= 1;
	}
	ktest_ok(ksmu_write_str(SYSKSM "run", "2") == 0, "built-in KSM unmerges (run=2)");
	bool ok = true;

	for (long i = 0; i < n; i++) {
		char ref[4096];

		ksmu_fill_page(ref, 60, i % (n / 2));
		if (i % 3 == 0)
			ref[0] ^= 1;
		ok &= !memcmp(ours + i * ktest_page, ref, ktest_page) &&
		      !memcmp(theirs + i * ktest_page, ref, ktest_page) &&
		      !memcmp(both + i * ktest_page, ref, ktest_page);
	}
	ktest_ok(ok, "every byte right after writes and the built-in unmerge");
	long k;

	ktest_ok(pairs(theirs, n, &k) == 0 || k == 0, "the built-in KSM pages are gone");
	ktest_ok(ksmu_scan_pass(scan) >= 0, "the module scans on after the built-in unmerge");

	ksmu_write_str(SYSKSM "run", "0");
	ksmu_write_str(SYSKSM "pages_to_scan", saved_pages);
	ksmu_write_str(SYSKSM "sleep_millisecs", saved_sleep);
	ksmu_write_str(SYSKSM "run", saved_run[0] == '1' ? "1" : "0");
	close(sma);
	return ktest_done();
}
