// SPDX-License-Identifier: GPL-2.0
/*
 * mergeable - a process with memory it wants merged, for the shell tests of
 * the tools suite (run it under `ksmctl run', which registers what it
 * madvises).
 *
 *   mergeable NPAGES SEED [same]
 *
 * Maps NPAGES private anonymous pages, fills page i with fill_page(SEED, i)
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
	bool same;

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
	same = argc == 4;

	p = mmap(NULL, npages * ktest_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED) {
		perror("mergeable: mmap");
		return 1;
	}
	for (unsigned long i = 0; i < npages; i++)
		fill_page(p + i * ktest_page, seed, same ? 0 : i);
	if (madvise(p, npages * ktest_page, MADV_MERGEABLE)) {
		perror("mergeable: madvise");
		return 1;
	}
	printf("ready %lx\n", (unsigned long)p);
	fflush(stdout);

	while (fgets(buf, sizeof(buf), stdin))
		;
	for (unsigned long i = 0; i < npages; i++) {
		if (!check_page(p + i * ktest_page, seed, same ? 0 : i)) {
			fprintf(stderr, "mergeable: page %lu does not hold what was written\n", i);
			return 3;
		}
	}
	return 0;
}
