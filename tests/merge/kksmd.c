// SPDX-License-Identifier: GPL-2.0
/*
 * kksmd: start/stop/info round trip, a background merge reached without any
 * KSM_SCAN, new settings while running, prompt stop in the middle of a huge
 * batch, the thread's existence and priority; and the merge limit of a
 * synchronous scan.
 */
#include "ktest.h"

static int kthread(int dev, unsigned int sleep, unsigned int scan, unsigned int merge, unsigned int run)
{
	struct ksm_kthread_info info = { .sleep = sleep, .pages_to_scan = scan,
					 .max_pages_to_merge = merge, .running = run };

	return ioctl(dev, KSM_START_STOP_KTHREAD, &info);
}

int main(void)
{
	const long n = 1024;
	int dev = ksm_open();
	struct ksm_kthread_info info;

	ktest_ok(ksmu_find_kthread("kksmd") == 0, "no kksmd thread before it is started");
	ktest_ok(kthread(dev, 2000, 128, 128, 1) == 0, "start kksmd (2 ms, 128 pages, 128 merges)");
	ktest_ok(ioctl(dev, KSM_GET_INFO_KTHREAD, &info) == 0 && info.running == 1 && info.sleep == 2000 &&
		 info.pages_to_scan == 128 && info.max_pages_to_merge == 128,
		 "info reads the settings back (running %u sleep %u scan %u merge %u)", info.running,
		 info.sleep, info.pages_to_scan, info.max_pages_to_merge);
	pid_t pid = ksmu_find_kthread("kksmd");

	ktest_ok(pid > 0, "a kksmd thread exists (pid %d)", pid);
	ktest_ok(ksmu_stat_field(pid, 19) == 5, "it runs at nice 5 (%ld)", ksmu_stat_field(pid, 19));
	ktest_ok(ksmu_stat_field(pid, 9) & KSMU_PF_KTHREAD, "it is a kernel thread");
	ktest_ok(ksmu_read_long("/sys/class/misc/ksm/kksmd/running") == 1 &&
		 ksmu_read_long("/sys/class/misc/ksm/kksmd/sleep_usecs") == 2000,
		 "sysfs kksmd/ shows the settings");

	/* Merging in the background, no KSM_SCAN anywhere. */
	struct peer a = peer_start(dev, n, 77, n);
	struct peer b = peer_start(dev, n, 77, n);

	ktest_ok(KTEST_WAIT(peers_shared(&a, &b) == n, 120000),
		 "kksmd merged all %ld pages by itself (%ld)", n, peers_shared(&a, &b));
	ktest_ok(peer_check(&a) && peer_check(&b), "contents intact");

	ktest_ok(kthread(dev, 0, 4096, 1000, 1) == 0 && ksmu_find_kthread("kksmd") == pid,
		 "new settings while running: the same thread goes on");
	ktest_ok(ioctl(dev, KSM_GET_INFO_KTHREAD_R, &info) == 0 && info.sleep == 0 &&
		 info.pages_to_scan == 4096 && info.max_pages_to_merge == 1000, "new settings read back");
	peer_stop(&a);
	peer_stop(&b);

	/* A batch of 4 billion pages over a huge sparse region: stop must not wait for it. */
	const long big = 1L << 20;	/* 4 GiB of address space, one page in 512 touched */
	char *mem = mmap(NULL, big * ktest_page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int sma = ksm_sma(dev);

	/* No huge pages: each page touched would fault in 2 MiB (the guests' THP is "always"). */
	if (mem != MAP_FAILED && madvise(mem, big * ktest_page, MADV_NOHUGEPAGE) && errno != EINVAL)
		ktest_fatal("MADV_NOHUGEPAGE");
	for (long i = 0; mem != MAP_FAILED && i < big; i += 512)
		ksmu_fill_page(mem + i * ktest_page, 9, i);

	ktest_ok(ksmu_register(sma, mem, big) == 0, "register 4 GiB of sparse memory");
	ktest_ok(kthread(dev, 0, 0xffffffff, 0xffffffff, 1) == 0, "kksmd scans 4 billion pages per batch");
	usleep(500000);
	struct ksm_stats s0, s1;

	ksmu_stats(dev, &s0);
	usleep(200000);
	ksmu_stats(dev, &s1);
	ktest_ok(s1.pages_scanned > s0.pages_scanned, "it is scanning (%llu pages in 0.2 s)",
		 (unsigned long long)(s1.pages_scanned - s0.pages_scanned));
	double t0 = ksmu_now_s();

	ktest_ok(kthread(dev, 0, 0, 0, 0) == 0, "stop");
	double ms = (ksmu_now_s() - t0) * 1000;

	ktest_ok(ms < 2000, "the stop returned in %.1f ms, mid-batch", ms);
	/* kthread_stop() returns once the thread has exited; /proc lists it until it is reaped. */
	ktest_ok(KTEST_WAIT(ksmu_find_kthread("kksmd") == 0, 2000), "the thread is gone");
	ktest_ok(ioctl(dev, KSM_GET_INFO_KTHREAD, &info) == 0 && info.running == 0 &&
		 info.pages_to_scan == 0xffffffff, "info: not running, settings kept");
	close(sma);
	munmap(mem, big * ktest_page);

	/* A synchronous scan stops at its merge limit. */
	struct peer c = peer_start(dev, 256, 78, 256);
	struct peer d = peer_start(dev, 256, 78, 256);
	int scan = ksm_scanfd(dev);
	struct ksm_scan_ext ext = { .pages_to_scan = 100000, .max_pages_to_merge = 10 };

	ktest_ok(ioctl(scan, KSM_SCAN_EXT, &ext) == 0 && ext.pages_merged >= 10 && ext.pages_merged <= 11,
		 "KSM_SCAN_EXT stops after 10 merges (%llu, a pair may add one)",
		 (unsigned long long)ext.pages_merged);
	ktest_ok(ext.pages_scanned < 100000, "and does not scan on (%llu pages)",
		 (unsigned long long)ext.pages_scanned);
	struct ksm_user_scan us = { .pages_to_scan = 100000, .max_pages_to_merge = 100000 };

	ktest_ok(ioctl(scan, KSM_SCAN, &us) == 0 && peers_shared(&c, &d) == 256,
		 "the 2008 KSM_SCAN finishes the job");
	peer_stop(&c);
	peer_stop(&d);
	return ktest_done();
}
