// SPDX-License-Identifier: GPL-2.0
/*
 * Per-SMA and per-process counters (KSM_SMA_GET_STATS,
 * KSM_GET_PROCESS_STATS) and the system-wide general_profit.
 */
#include "ktest.h"

int main(void)
{
	const long n = 512;
	int dev = ksm_open(), scan = ksm_scanfd(dev), sma = ksm_sma(dev);
	char *m = anon_map(n * ktest_page, 0);
	struct ksm_process_stats ps, mine;
	struct ksm_stats st;

	ksmu_fill_pages(m, n, 90, n);
	ktest_ok(ksmu_register(sma, m, n) == 0, "our region");
	struct peer p = peer_start(dev, n, 90, n);

	ksmu_scan_pass(scan);
	ktest_ok(ioctl(sma, KSM_SMA_GET_STATS, &ps) == 0 && ps.regions == 1 &&
		 ps.region_pages == (uint64_t)n && ps.merged_pages == (uint64_t)n && ps.merges == (uint64_t)n,
		 "SMA stats: 1 region, %ld pages, %ld merged (%llu, %llu)", n, n,
		 (unsigned long long)ps.merged_pages, (unsigned long long)ps.merges);
	memset(&mine, 0, sizeof(mine));
	ktest_ok(ioctl(dev, KSM_GET_PROCESS_STATS, &mine) == 0 && mine.merged_pages == (uint64_t)n &&
		 mine.regions == 1, "process stats of the caller (pid 0)");
	ps = (struct ksm_process_stats){ .pid = p.pid };
	ktest_ok(ioctl(dev, KSM_GET_PROCESS_STATS, &ps) == 0 && ps.pid == p.pid &&
		 ps.merged_pages == (uint64_t)n, "process stats of another process (as root)");

	/* Writes in the peer: counted as COW breaks at the next pass. */
	for (long i = 0; i < 100; i++) {
		char ref[4096];

		ksmu_fill_page(ref, 90, i);
		peer_cmd(&p, PEER_WRITE, i, 7, (unsigned char)ref[7] ^ 0x80);	/* a real change */
	}
	ksmu_scan_pass(scan);
	ps = (struct ksm_process_stats){ .pid = p.pid };
	int r = ioctl(dev, KSM_GET_PROCESS_STATS, &ps);

	if (r)
		ktest_diag("KSM_GET_PROCESS_STATS: %s", strerror(errno));
	bool good = r == 0 && ps.cow_breaks == 100 && ps.merged_pages == (uint64_t)n - 100;

	ktest_ok(good, "the peer: 100 COW breaks, %ld still merged (%llu, %llu)",
		 n - 100, (unsigned long long)ps.cow_breaks, (unsigned long long)ps.merged_pages);

	ktest_ok(ksmu_stats(dev, &st) == 0 && st.metadata_bytes > 0, "metadata_bytes %llu",
		 (unsigned long long)st.metadata_bytes);
	ktest_ok(st.general_profit ==
		 (int64_t)(st.pages_sharing * ktest_page) - (int64_t)st.metadata_bytes,
		 "general_profit = saved - metadata (%lld)", (long long)st.general_profit);

	ps = (struct ksm_process_stats){ .pid = -5 };
	KTEST_ERRNO(ioctl(dev, KSM_GET_PROCESS_STATS, &ps), EINVAL, "negative pid: EINVAL");
	ps = (struct ksm_process_stats){ .pid = 0, .reserved0 = 1 };
	KTEST_ERRNO(ioctl(dev, KSM_GET_PROCESS_STATS, &ps), EINVAL, "reserved0 != 0: EINVAL");
	ps = (struct ksm_process_stats){ .pid = 0, .reserved = { [7] = 1 } };
	KTEST_ERRNO(ioctl(dev, KSM_GET_PROCESS_STATS, &ps), EINVAL, "reserved[7] != 0: EINVAL");
	ps = (struct ksm_process_stats){ .pid = 0x3fffffff };
	KTEST_ERRNO(ioctl(dev, KSM_GET_PROCESS_STATS, &ps), ESRCH, "no such process: ESRCH");
	pid_t pid = fork();

	if (!pid) {
		struct ksm_process_stats q = { .pid = p.pid }, self = { 0 };

		if (setresuid(65534, 65534, 65534))
			_exit(9);
		_exit((ioctl(dev, KSM_GET_PROCESS_STATS, &q) == -1 && errno == EPERM ? 0 : 1) |
		      (ioctl(dev, KSM_GET_PROCESS_STATS, &self) == 0 ? 0 : 2));
	}
	int status;

	waitpid(pid, &status, 0);
	ktest_ok(WIFEXITED(status) && !WEXITSTATUS(status),
		 "unprivileged: another process's stats EPERM, its own fine");
	peer_stop(&p);
	close(sma);
	return ktest_done();
}
