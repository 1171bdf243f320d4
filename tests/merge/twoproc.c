// SPDX-License-Identifier: GPL-2.0
/*
 * Two processes with N identical pages each: after one scan pass there are N
 * kernel pages and 2N mappings, seen from the outside (pagemap pfns,
 * kpageflags, RssAnon/RssFile, MemFree), the contents are intact, and when the
 * processes exit the kernel pages are given back.
 */
#include "ktest.h"

int main(void)
{
	const long n = 2048;	/* 8 MiB per process */
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	struct ksm_stats st;

	struct peer a = peer_start(dev, n, 42, n);
	struct peer b = peer_start(dev, n, 42, n);
	long anon_a = ksmu_status_kb(a.pid, "RssAnon"), file_a = ksmu_status_kb(a.pid, "RssFile");
	long free0 = ksmu_free_kb(), slab0 = ksmu_proc_kb("/proc/meminfo", "SUnreclaim");

	ktest_ok(peers_shared(&a, &b) == 0, "before the scan no page is shared");
	long merged = ksmu_scan_pass(scan);

	ktest_ok(merged == 2 * n, "one pass merges all %ld mappings (%ld)", 2 * n, merged);
	ktest_ok(peers_shared(&a, &b) == n, "all %ld pages of the two processes share a pfn", n);

	/* N distinct kernel pages: page i of one process is not page j's. */
	long distinct = 1;

	for (long i = 1; i < n; i++)
		distinct += peer_pfn(&a, i) != peer_pfn(&a, i - 1);
	ktest_ok(distinct == n, "the %ld shared pages are %ld distinct pages", n, distinct);

	uint64_t f = ksmu_kpageflags(peer_pfn(&a, 0));

	ktest_ok(!(f & (1ULL << KPF_ANON)) && !(f & (1ULL << KPF_KSM)) && !(f & (1ULL << KPF_LRU)),
		 "a merged page is not anonymous, not the built-in KSM's, not on an LRU (flags %#llx)",
		 (unsigned long long)f);
	ktest_ok(!ksmu_pagemap_exclusive(a.pid, a.addr), "pagemap does not report it exclusive");

	long anon_a2 = ksmu_status_kb(a.pid, "RssAnon"), file_a2 = ksmu_status_kb(a.pid, "RssFile");

	ktest_ok(anon_a - anon_a2 >= n * 4 && file_a2 - file_a >= n * 4,
		 "RssAnon %ld -> %ld kB, RssFile %ld -> %ld kB: %ld kB moved", anon_a, anon_a2,
		 file_a, file_a2, n * 4);
	long free1 = ksmu_free_kb();
	/*
	 * What the module took meanwhile: the items of the pages it tracks, its
	 * kernel page entries and tables (slab objects, bigger in the test
	 * guests, where SLUB debugging pads the module's caches).
	 */
	long slab = ksmu_proc_kb("/proc/meminfo", "SUnreclaim") - slab0;

	ktest_ok(free1 - free0 + slab >= n * 4 * 8 / 10,
		 "free memory (MemFree + per-CPU lists) grew by %ld kB, and by %ld kB more the module "
		 "took for its own tracking (%ld kB freed by merging)", free1 - free0, slab, n * 4);

	ksmu_stats(dev, &st);
	ktest_ok(st.pages_shared == (uint64_t)n && st.pages_sharing == (uint64_t)n,
		 "stats: pages_shared %llu, pages_sharing %llu", (unsigned long long)st.pages_shared,
		 (unsigned long long)st.pages_sharing);
	ktest_ok(st.kpages_held == (uint64_t)n, "the module holds %ld kernel pages (%llu)", n,
		 (unsigned long long)st.kpages_held);
	ktest_ok(ksmu_read_long("/sys/class/misc/ksm/pages_sharing") == n, "sysfs pages_sharing = %ld", n);
	ktest_ok(peer_check(&a) && peer_check(&b), "both processes read exactly what they wrote");

	/* A second pass finds nothing more to do. */
	ktest_ok(ksmu_scan_pass(scan) == 0, "a second pass merges nothing more");

	uint64_t freed0 = st.kpages_freed;

	ktest_ok(WIFEXITED(peer_stop(&a)) && WIFEXITED(peer_stop(&b)), "both processes exit normally");
	/* No scan needed: removing the regions schedules a sweep. */
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0 &&
			    st.pages_shared == 0, 10000),
		 "within 10 s of their exit, without any scan, the kernel pages are given back");
	ksmu_stats(dev, &st);
	ktest_ok(st.kpages_freed - freed0 == (uint64_t)n,
		 "all %ld kernel pages were freed (held %llu, freed %llu)", n,
		 (unsigned long long)st.kpages_held, (unsigned long long)(st.kpages_freed - freed0));
	ktest_ok(st.regions == 0 && st.unstable_pages == 0, "no region or unstable page left");
	return ktest_done();
}
