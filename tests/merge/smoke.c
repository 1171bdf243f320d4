// SPDX-License-Identifier: GPL-2.0
/* Smoke: two processes, N identical pages each, one scan: are they merged? */
#include "ktest.h"

int main(void)
{
	const long n = 256;
	int dev = ksm_open(), sma = ksm_sma(dev), scan = ksm_scanfd(dev);
	char *mem = anon_map(n * ktest_page, 0);
	int ready[2], done[2];
	pid_t child;

	for (long i = 0; i < n; i++)
		fill_page(mem + i * ktest_page, 7, i);
	if (pipe(ready) || pipe(done))
		ktest_fatal("pipe");
	child = fork();
	if (!child) {
		int csma = ksm_sma(dev);
		char c = 1;
		char *cm = anon_map(n * ktest_page, 0);

		for (long i = 0; i < n; i++)
			fill_page(cm + i * ktest_page, 7, i);
		if (ksm_register(csma, cm, n))
			_exit(3);
		printf("# child mem %p\n", (void *)cm);
		fflush(stdout);
		if (write(ready[1], &cm, sizeof(cm)) != sizeof(cm) || read(done[0], &c, 1) != 1)
			_exit(4);
		for (long i = 0; i < n; i++)
			if (!check_page(cm + i * ktest_page, 7, i))
				_exit(5);
		_exit(0);
	}
	char *cm;
	if (read(ready[0], &cm, sizeof(cm)) != sizeof(cm))
		ktest_fatal("child");
	ktest_ok(ksm_register(sma, mem, n) == 0, "register");
	long anon0 = status_kb(0, "RssAnon");
	long merged = ksm_scan_settle(scan, 3);
	ktest_ok(merged == 2 * n, "merged %ld of %ld", merged, 2 * n);
	long same = 0;
	for (long i = 0; i < n; i++) {
		uint64_t a = pagemap_pfn(0, mem + i * ktest_page);
		uint64_t b = pagemap_pfn(child, cm + i * ktest_page);
		if (a && a == b)
			same++;
	}
	ktest_ok(same == n, "%ld of %ld pages share a pfn", same, n);
	ktest_diag("RssAnon %ld -> %ld kB, RssFile %ld", anon0, status_kb(0, "RssAnon"),
		   status_kb(0, "RssFile"));
	for (long i = 0; i < n; i += 2)
		mem[i * ktest_page] ^= 1;
	long good = 0;
	for (long i = 0; i < n; i++) {
		char ref[4096];
		fill_page(ref, 7, i);
		if (i % 2 == 0)
			ref[0] ^= 1;
		good += !memcmp(mem + i * ktest_page, ref, 4096);
	}
	ktest_ok(good == n, "after COW writes %ld of %ld pages right", good, n);
	char c = 1;
	if (write(done[1], &c, 1) != 1)
		ktest_fatal("write");
	int st;
	waitpid(child, &st, 0);
	ktest_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child content intact (status %d)", st);
	struct ksm_stats s;
	ksm_stats(dev, &s);
	ktest_diag("shared %llu sharing %llu merges %llu created %llu freed %llu held %llu",
		   (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
		   (unsigned long long)s.merges, (unsigned long long)s.kpages_created,
		   (unsigned long long)s.kpages_freed, (unsigned long long)s.kpages_held);
	for (int i = 0; i < KSM_SKIP_NR; i++)
		if (s.skipped[i])
			ktest_diag("skipped[%d] = %llu", i, (unsigned long long)s.skipped[i]);
	return ktest_done();
}
