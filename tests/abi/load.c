// SPDX-License-Identifier: GPL-2.0
/*
 * Loading: a missing kernel symbol fails the load with ENOENT and a message
 * naming it, leaving nothing behind; module parameters take effect; limits on
 * regions give ENOSPC, and the one a tenant meets by default is its own
 * process's; load/unload loops are clean.
 */
#include "ktest.h"

#include <sys/syscall.h>

/* finit_module() of the module under test with @params; returns 0 or errno. */
static int load(const char *params)
{
	int fd = open(module_path(), O_RDONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		ktest_fatal("open %s", module_path());
	if (syscall(SYS_finit_module, fd, params ? params : "", 0))
		err = errno;
	close(fd);
	return err;
}

static int unload(void)
{
	return syscall(SYS_delete_module, "ksm", O_NONBLOCK) ? errno : 0;
}

/* Does the kernel log contain @needle? */
static bool dmesg_has(const char *needle)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "dmesg | grep -qF '%s'", needle);
	return system(cmd) == 0;
}

static void test_missing_symbol(void)
{
	int err = load("test_require_symbol=ksmdev_no_such_function");

	ktest_ok(err == ENOENT, "a missing symbol fails the load with ENOENT (%s)", strerror(err));
	ktest_ok(dmesg_has("ksmdev: missing symbol ksmdev_no_such_function"),
		 "the kernel log names the missing symbol");
	ktest_ok(access("/sys/module/ksm", F_OK) != 0 && access("/dev/ksm", F_OK) != 0,
		 "no module and no /dev/ksm left behind");
	/* A symbol that exists but is data, not a function entry... */
	err = load("test_require_symbol=jiffies_64");
	ktest_ok(err == ENOENT, "a symbol that is not a function entry is refused too (%s)",
		 strerror(err));
	ktest_ok(load("test_require_symbol=schedule") == 0 && ksmu_dev_wait(),
		 "a present extra symbol loads fine");
	ktest_ok(unload() == 0, "and unloads");
}

static void test_params(void)
{
	ktest_ok(load("page_hash_size=1000 sha1_hash_size=300 rmap_hash_size=77") == 0,
		 "load with the 2008 table-size parameters");
	ktest_ok(ksmu_read_long("/sys/class/misc/ksm/hash_buckets") == 1024,
		 "page_hash_size=1000 gives a table of 1024 buckets to start with (%ld)",
		 ksmu_read_long("/sys/class/misc/ksm/hash_buckets"));
	ktest_ok(ksmu_read_long("/sys/module/ksm/parameters/page_hash_size") == 1024,
		 "page_hash_size reads back as the smallest table size, 1024");
	ktest_ok(dmesg_has("ksmdev: sha1_hash_size is accepted for compatibility and unused") &&
		 dmesg_has("ksmdev: rmap_hash_size is accepted for compatibility and unused"),
		 "sha1_hash_size and rmap_hash_size are accepted and said to be unused");
	ktest_ok(unload() == 0, "unload");
}

static void test_limits(void)
{
	int dev, sma1, sma2;
	char *m;

	ktest_ok(load("max_regions_per_sma=3 max_regions=5") == 0, "load with small region limits");
	dev = ksm_open();
	sma1 = ksm_sma(dev);
	sma2 = ksm_sma(dev);
	m = anon_map(16 * ktest_page, 0);
	for (int i = 0; i < 3; i++)
		ktest_ok(ksmu_register(sma1, m + i * ktest_page, 1) == 0, "region %d of 3 on one SMA", i + 1);
	KTEST_ERRNO(ksmu_register(sma1, m + 3 * ktest_page, 1), ENOSPC, "a 4th region on that SMA: ENOSPC");
	ktest_ok(ksmu_register(sma2, m + 4 * ktest_page, 1) == 0 &&
		 ksmu_register(sma2, m + 5 * ktest_page, 1) == 0, "regions 4 and 5 on another SMA");
	KTEST_ERRNO(ksmu_register(sma2, m + 6 * ktest_page, 1), ENOSPC, "a 6th region in all: ENOSPC");
	ioctl(sma1, KSM_REMOVE_MEMORY_REGION);
	ktest_ok(ksmu_register(sma2, m + 6 * ktest_page, 1) == 0, "after a removal there is room again");
	close(sma1);
	close(sma2);
	close(dev);
	munmap(m, 16 * ktest_page);
	ktest_ok(unload() == 0, "unload");
}

/*
 * By default no system-wide region limit (any tenant could fill it for
 * everyone): max_regions_per_process counts one process's regions on all its
 * SMAs, and another process still registers when one is at its limit.
 */
static void test_process_limit(void)
{
	int dev, sma1, sma2, status;
	char *m;
	pid_t pid;

	ktest_ok(load(NULL) == 0 && ksmu_read_long("/sys/module/ksm/parameters/max_regions") == 0 &&
		 ksmu_read_long("/sys/module/ksm/parameters/max_regions_per_process") == 65536,
		 "by default: no system-wide region limit (%ld), 65536 per process (%ld)",
		 ksmu_read_long("/sys/module/ksm/parameters/max_regions"),
		 ksmu_read_long("/sys/module/ksm/parameters/max_regions_per_process"));
	ktest_ok(unload() == 0 && load("max_regions_per_process=3") == 0,
		 "load with max_regions_per_process=3");
	dev = ksm_open();
	sma1 = ksm_sma(dev);
	sma2 = ksm_sma(dev);
	m = anon_map(16 * ktest_page, 0);
	ktest_ok(ksmu_register(sma1, m, 1) == 0 && ksmu_register(sma1, m + ktest_page, 1) == 0 &&
		 ksmu_register(sma2, m + 2 * ktest_page, 1) == 0,
		 "3 regions of one process, on two SMAs");
	KTEST_ERRNO(ksmu_register(sma2, m + 3 * ktest_page, 1), ENOSPC,
		    "its 4th region, on either SMA: ENOSPC");
	pid = fork();
	if (!pid) {
		int sma = ksm_sma(dev);

		_exit(sma >= 0 && ksmu_register(sma, m + 8 * ktest_page, 1) == 0 &&
		      ksmu_register(sma, m + 9 * ktest_page, 1) == 0 &&
		      ksmu_register(sma, m + 10 * ktest_page, 1) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	ktest_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "meanwhile another process registers 3 of its own");
	ioctl(sma1, KSM_REMOVE_MEMORY_REGION);
	ktest_ok(ksmu_register(sma2, m + 3 * ktest_page, 1) == 0,
		 "after a removal the first process has room again");
	close(sma1);
	close(sma2);
	close(dev);
	munmap(m, 16 * ktest_page);
	ktest_ok(unload() == 0, "unload");
}

static void test_loops(void)
{
	bool ok = true, merged = true;

	for (int i = 0; i < 20; i++) {
		ok &= load(NULL) == 0;
		if (i % 2) {
			int dev = ksm_open(), sma = ksm_sma(dev);
			char *m = anon_map(8 * ktest_page, 0);
			struct ksm_kthread_info on = { .sleep = 0, .pages_to_scan = 4,
						       .max_pages_to_merge = 4, .running = 1 };

			memset(m, 0x5a, 8 * ktest_page);
			ok &= ksmu_register(sma, m, 8) == 0;
			ok &= ksmu_scan_pass(ksm_scanfd(dev)) >= 0;
			merged &= ksmu_pagemap_pfn(0, m) == ksmu_pagemap_pfn(0, m + 7 * ktest_page);
			/* kksmd stays running across the unload. */
			ok &= ioctl(dev, KSM_START_STOP_KTHREAD, &on) == 0;
			close(sma);
			close(dev);
			/* The scan fd is still open: the unload must wait. */
			ok &= unload() == EWOULDBLOCK;
			for (int fd = 3; fd < 64; fd++)
				close(fd);
			ok &= unload() == 0;
			/* The merged pages outlive the module. */
			for (long k = 0; k < 8 * ktest_page; k++)
				ok &= m[k] == 0x5a;
			m[0] = 1;
			munmap(m, 8 * ktest_page);
			continue;
		}
		ok &= unload() == 0;
	}
	ktest_ok(ok, "20 load/unload cycles, half of them with merged pages and kksmd running");
	ktest_ok(merged, "the pages were merged in those cycles");
}

/* max_kernel_pages caps the unswappable kernel pages the module may hold. */
static void test_kpage_limit(void)
{
	const long n = 300;
	struct ksm_stats st;

	ktest_ok(load("max_kernel_pages=100") == 0, "load with max_kernel_pages=100");
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	struct peer a = peer_start(dev, n, 66, n), b = peer_start(dev, n, 66, n);
	/* 1024 pages alike that cannot merge now: one bucket's chain, past a table resize. */
	struct peer c = peer_start(dev, 1024, 67, 1);

	ksmu_scan_settle(scan, 3);
	ksmu_stats(dev, &st);
	ktest_ok(st.kpages_held == 100 && peers_shared(&a, &b) == 100,
		 "300 twin pairs, only 100 kernel pages made (%llu held, %ld shared)",
		 (unsigned long long)st.kpages_held, peers_shared(&a, &b));
	ktest_ok(st.hash_max_chain >= 1024 && st.hash_max_chain <= 1024 + 16,
		 "1024 pages alike left unmerged make a chain of 1024 to 1040 (%llu, %llu buckets)",
		 (unsigned long long)st.hash_max_chain, (unsigned long long)st.hash_buckets);
	ktest_ok(peer_check(&a) && peer_check(&b) && peer_check(&c), "contents right");
	peer_stop(&a);
	peer_stop(&b);
	peer_stop(&c);
	close(scan);
	close(dev);
	ktest_ok(KTEST_WAIT(unload() == 0, 5000), "unload");
}

int main(void)
{
	if (module_loaded() && unload())
		ktest_fatal("cannot unload the module before the test");
	test_missing_symbol();
	test_params();
	test_limits();
	test_process_limit();
	test_loops();
	test_kpage_limit();
	ktest_ok(load(NULL) == 0, "loaded again with the defaults");
	return ktest_done();
}
