// SPDX-License-Identifier: GPL-2.0
/*
 * mergeable - a process with memory it wants merged, for the shell tests of
 * the tools suite (run it under `ksmctl run', which registers what it
 * madvises).
 *
 *   mergeable NPAGES SEED [same]
 *
 * Maps NPAGES private anonymous pages, fills page i with ksmu_fill_page(SEED, i)
 * (every page like page 0 with "same"), madvise(MADV_MERGEABLE)s them, prints
 * "ready ADDR" and waits for the end of its standard input. Then it checks
 * that its memory still holds what it wrote: exit 0 if so, 3 if not, 2 on a
 * usage error, 1 when mmap or madvise fails.
 */
#include "ktest.h"

int main(int argc, char **argv)
{
	char buf[64], *end, *p;
	unsigned long npages;
	unsigned long long seed;
	long period, bad;

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "same"))) {
		fprintf(stderr, "usage: mergeable NPAGES SEED [same]\n");
		return 2;
	}
	npages = strtoul(argv[1], &end, 10);
	if (*end || !npages) {
		fprintf(stderr, "mergeable: bad NPAGES '%s'\n", argv[1]);
		return 2;
	}
	seed = strtoull(argv[2], &end, 10);
	if (*end) {
		fprintf(stderr, "mergeable: bad SEED '%s'\n", argv[2]);
		return 2;
	}
	period = argc == 4 ? 1 : (long)npages;	/* "same": every page like page 0 */

	p = ksmu_map_anon(npages * ktest_page, 0, 0);
	if (!p) {
		perror("mergeable: mmap");
		return 1;
	}
	ksmu_fill_pages(p, (long)npages, seed, period);
	if (madvise(p, npages * ktest_page, MADV_MERGEABLE)) {
		perror("mergeable: madvise");
		return 1;
	}
	printf("ready %lx\n", (unsigned long)p);
	fflush(stdout);

	while (fgets(buf, sizeof(buf), stdin))
		;
	bad = ksmu_check_pages(p, (long)npages, seed, period);
	if (bad >= 0) {
		fprintf(stderr, "mergeable: page %ld does not hold what was written\n", bad);
		return 3;
	}
	return 0;
}
