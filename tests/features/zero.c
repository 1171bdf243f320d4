// SPDX-License-Identifier: GPL-2.0
/*
 * use_zero_pages: all-zero pages map the kernel's shared zero page, with no
 * table entry and no kernel page; writes copy it; unmerge restores private
 * pages. Also checks KSM_SET_CONFIG's validation.
 */
#include "ktest.h"

static uint64_t zero_pfn(void)
{
	char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile char c = p[0];	/* a read fault maps the zero page */
	uint64_t pfn;

	(void)c;
	pfn = ksmu_pagemap_pfn(0, p);
	munmap(p, 4096);
	return pfn;
}

/* Bad settings: case @i of @base spoiled into @c; returns what is wrong, NULL past the end. */
static const char *bad_config(int i, const struct ksm_config *base, struct ksm_config *c)
{
	*c = *base;
	switch (i) {
	case 0: c->use_zero_pages = 2; return "use_zero_pages = 2";
	case 1: c->merge_across_nodes = 7; return "merge_across_nodes = 7";
	case 2: c->volatility_filter = 2; return "volatility_filter = 2";
	case 3: c->smart_scan = 3; return "smart_scan = 3";
	case 4: c->advisor_mode = 2; return "advisor_mode = 2";
	case 5: c->advisor_target_scan_ms = 999; return "advisor target 999 ms";
	case 6: c->advisor_target_scan_ms = 3600001; return "advisor target over an hour";
	case 7: c->advisor_max_cpu = 0; return "advisor_max_cpu = 0";
	case 8: c->advisor_max_cpu = 101; return "advisor_max_cpu = 101";
	case 9: c->advisor_min_pages_to_scan = 0; return "advisor_min_pages_to_scan = 0";
	case 10:
		c->advisor_min_pages_to_scan = 10;
		c->advisor_max_pages_to_scan = 9;
		return "advisor min > max";
	case 11: c->reserved0 = 1; return "reserved0 != 0";
	case 12: c->reserved[4] = 1; return "reserved[] != 0";
	}
	return NULL;
}

static void test_config_validation(int dev)
{
	struct ksm_config c0, c;

	ktest_ok(ioctl(dev, KSM_GET_CONFIG, &c0) == 0, "KSM_GET_CONFIG");
	ktest_ok(c0.merge_across_nodes == 1 && c0.use_zero_pages == 0 && c0.volatility_filter == 0 &&
		 c0.smart_scan == 0 && c0.advisor_mode == KSM_ADVISOR_NONE, "defaults");
	for (int i = 0; bad_config(i, &c0, &c); i++)
		KTEST_ERRNO(ioctl(dev, KSM_SET_CONFIG, &c), EINVAL, "KSM_SET_CONFIG %s: EINVAL",
			    bad_config(i, &c0, &c));
	ktest_ok(ioctl(dev, KSM_GET_CONFIG, &c) == 0 && !memcmp(&c, &c0, sizeof(c)),
		 "rejected settings changed nothing");
	pid_t pid = fork();

	if (!pid) {
		if (setresuid(65534, 65534, 65534))
			_exit(2);
		c = c0;
		_exit(ioctl(dev, KSM_SET_CONFIG, &c) == -1 && errno == EPERM &&
		      ioctl(dev, KSM_GET_CONFIG, &c) == 0 ? 0 : 1);
	}
	int st;

	waitpid(pid, &st, 0);
	ktest_ok(WIFEXITED(st) && !WEXITSTATUS(st), "unprivileged SET_CONFIG: EPERM (GET works)");
}

int main(void)
{
	const long n = 512;
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	struct ksm_stats s0, s1;
	uint64_t zpfn = zero_pfn();

	test_config_validation(dev);
	ktest_ok(zpfn != 0, "the zero page's pfn is %#llx", (unsigned long long)zpfn);
	ktest_ok(KSMU_CONFIG(dev, __c.use_zero_pages = 1) == 0, "use_zero_pages on");

	/*
	 * Even pages zeroed by the process (written, so not the zero page yet),
	 * odd ones random. No THP: 6.12 itself maps zero-filled subpages of an
	 * underused huge page to the zero page when it splits one.
	 */
	struct peer a = peer_start_ex(dev, n, 70, n, 0, -1);

	for (long i = 0; i < n; i += 2)
		peer_cmd(&a, PEER_FILL, i, 1, 0);
	long anon0 = ksmu_status_kb(a.pid, "RssAnon");

	ksmu_stats(dev, &s0);
	long merged = ksmu_scan_pass(scan);

	ksmu_stats(dev, &s1);
	long zeros = 0;

	for (long i = 0; i < n; i += 2)
		zeros += peer_pfn(&a, i) == zpfn;
	ktest_ok(merged == n / 2 && zeros == n / 2, "all %ld zeroed pages map the zero page (%ld, %ld merges)",
		 n / 2, zeros, merged);
	ktest_ok(s1.zero_pages - s0.zero_pages == (uint64_t)n / 2 && s1.kpages_created == s0.kpages_created,
		 "counted as zero pages, no kernel page made");
	ktest_ok(near_kb(anon0 - ksmu_status_kb(a.pid, "RssAnon"), n / 2 * 4),
		 "RssAnon dropped by %ld kB (%ld)", n / 2 * 4, anon0 - ksmu_status_kb(a.pid, "RssAnon"));
	ktest_ok(peer_check(&a), "they read as zeroes");
	struct ksm_process_stats ps = { .pid = a.pid };

	ktest_ok(ioctl(dev, KSM_GET_PROCESS_STATS, &ps) == 0 && ps.zero_pages == (uint64_t)n / 2,
		 "process stats: %llu zero pages", (unsigned long long)ps.zero_pages);

	peer_cmd(&a, PEER_WRITE, 0, 5, 0x11);
	ktest_ok(peer_pfn(&a, 0) != zpfn && peer_check(&a), "a write gives a private page");
	ksmu_stats(dev, &s0);
	ksmu_scan_pass(scan);
	ksmu_stats(dev, &s1);
	ktest_ok(s1.cow_breaks - s0.cow_breaks == 1, "the next pass counts one COW break (%llu)",
		 (unsigned long long)(s1.cow_breaks - s0.cow_breaks));

	struct ksm_unmerge u = { 0 };

	ktest_ok(ioctl(dev, KSM_UNMERGE_ALL, &u) == 0 && u.pages_unmerged == (uint64_t)n / 2 - 1,
		 "unmerge gives the other %ld private pages (%llu)", n / 2 - 1,
		 (unsigned long long)u.pages_unmerged);
	zeros = 0;
	for (long i = 0; i < n; i += 2)
		zeros += peer_pfn(&a, i) == zpfn;
	ktest_ok(zeros == 0 && peer_check(&a), "no zero page left, contents right");
	ktest_ok(KSMU_CONFIG(dev, __c.use_zero_pages = 0) == 0, "use_zero_pages off");
	peer_stop(&a);
	return ktest_done();
}
