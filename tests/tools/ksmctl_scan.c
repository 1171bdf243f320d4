// SPDX-License-Identifier: GPL-2.0
/*
 * ksmctl_scan - `ksmctl scan' runs one synchronous scan and reports it truly.
 *
 * The test registers memory of its own (64 identical pages and 16 pages of
 * distinct content), runs `ksmctl scan', parses what it printed, and checks it
 * against the module's counters and against /proc/self/pagemap.
 */
#include "ktest.h"
#include "helpers/qemu.h"	/* ksmctl_run(), qemu_oneline() */

#define SAME 64
#define DISTINCT 16

/* Parse "scanned N pages, merged M, full scans F"; false if it does not look like that. */
static bool parse_scan(const char *out, unsigned long long *scanned, unsigned long long *merged,
		       unsigned long long *full)
{
	return sscanf(out, "scanned %llu pages, merged %llu, full scans %llu", scanned, merged,
		      full) == 3;
}

int main(void)
{
	unsigned long long scanned = 0, merged = 0, full = 0, first_merged = 0;
	struct ksm_stats st0, st;
	char out[1024], *mem;
	uint64_t first;
	int dev, sma, rc, same_pfn = 0, distinct_merged = 0;

	ktest_find_ksmctl();
	dev = ksm_open();
	sma = ksm_sma(dev);
	mem = anon_map((SAME + DISTINCT) * ktest_page, 0);
	ksmu_fill_pages(mem, SAME, 41, 1);
	ksmu_fill_pages(mem + SAME * ktest_page, DISTINCT, 42, DISTINCT);
	if (ksmu_register(sma, mem, SAME + DISTINCT))
		ktest_fatal("KSM_REGISTER_MEMORY_REGION");
	if (ksmu_stats(dev, &st0))
		ktest_fatal("KSM_GET_STATS");

	/* A new cursor starts at the first region: 10 pages are 10 pages. */
	rc = ksmctl_run(out, sizeof(out), "scan 10");
	ktest_ok(rc == 0 && parse_scan(out, &scanned, &first_merged, &full) && scanned == 10,
		 "ksmctl scan 10 scans 10 pages (%d: %s)", rc, qemu_oneline(out));

	/* A whole pass: every registered page, and the identical ones merge. */
	if (ksmu_stats(dev, &st0))
		ktest_fatal("KSM_GET_STATS");
	rc = ksmctl_run(out, sizeof(out), "scan --pass 1000000");
	if (ksmu_stats(dev, &st))
		ktest_fatal("KSM_GET_STATS");
	ktest_ok(rc == 0 && parse_scan(out, &scanned, &merged, &full) &&
		 scanned == st0.region_pages && full == 1,
		 "ksmctl scan --pass scans each of the %llu registered pages once (%s)",
		 (unsigned long long)st0.region_pages, qemu_oneline(out));
	ktest_ok(first_merged + merged >= SAME && merged == st.merges - st0.merges,
		 "it reports the merges it did (%llu after %llu, the module counted %llu)", merged,
		 first_merged, (unsigned long long)(st.merges - st0.merges));

	first = ksmu_pagemap_pfn(0, mem);
	for (int i = 0; i < SAME; i++)
		same_pfn += first && ksmu_pagemap_pfn(0, mem + i * ktest_page) == first;
	for (int i = 0; i < DISTINCT; i++)
		distinct_merged += ksmu_pagemap_pfn(0, mem + (SAME + i) * ktest_page) == first;
	ktest_ok(same_pfn == SAME && !distinct_merged,
		 "the %d identical pages now share one pfn (%d), the others do not (%d)", SAME,
		 same_pfn, distinct_merged);
	long changed = ksmu_check_pages(mem, SAME, 41, 1);

	if (changed >= 0)
		ktest_fatal("page %ld changed", changed);

	/* --max-merge stops early: nothing is left to merge, so a pass merges nothing. */
	rc = ksmctl_run(out, sizeof(out), "scan --pass --max-merge 1 1000000");
	ktest_ok(rc == 0 && parse_scan(out, &scanned, &merged, &full) && merged == 0,
		 "a second pass merges nothing more (%s)", qemu_oneline(out));

	rc = ksmctl_run(out, sizeof(out), "scan 0");
	ktest_ok(rc == 2 && strstr(out, "NPAGES"), "ksmctl scan 0 is a usage error (%d: %s)", rc,
		 qemu_oneline(out));
	rc = ksmctl_run(out, sizeof(out), "scan 12x");
	ktest_ok(rc == 2 && strstr(out, "not a number"), "ksmctl scan 12x is a usage error (%d)",
		 rc);
	rc = ksmctl_run(out, sizeof(out), "scan 4294967296");
	ktest_ok(rc == 2 && strstr(out, "too large"), "ksmctl scan 2^32 is a usage error (%d)", rc);
	close(sma);
	return ktest_done();
}
