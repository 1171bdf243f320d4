// SPDX-License-Identifier: GPL-2.0
/*
 * The scan-time advisor: kksmd raises pages_to_scan when its passes take
 * longer than the target and lowers it when they are quicker, within the
 * min/max bounds; last_full_scan_ms reports the pass time.
 */
#include "ktest.h"

static uint32_t pages_to_scan(int dev)
{
	struct ksm_kthread_info info;

	return ioctl(dev, KSM_GET_INFO_KTHREAD_R, &info) ? 0 : info.pages_to_scan;
}

int main(void)
{
	const long n = 8192;	/* 32 MiB of distinct pages: nothing to merge */
	int dev = ksm_open(), sma = ksm_sma(dev);
	char *m = anon_map(n * ktest_page, 0);

	ksmu_fill_pages(m, n, 41, n);
	struct ksm_kthread_info on = { .sleep = 20000, .pages_to_scan = 64, .max_pages_to_merge = 64,
				       .running = 1 }, off = { .running = 0 };
	struct ksm_stats st;
	struct ksm_config saved;

	ktest_ok(ioctl(dev, KSM_GET_CONFIG, &saved) == 0, "settings saved");
	ktest_ok(ksmu_register(sma, m, n) == 0, "register 32 MiB");
	/* 64 pages per 20 ms round: a pass takes ~2.6 s; the target is 1 s. */
	ktest_ok(KSMU_CONFIG(dev, (__c.advisor_mode = KSM_ADVISOR_SCAN_TIME,
				   __c.advisor_target_scan_ms = 1000, __c.advisor_max_cpu = 100,
				   __c.advisor_min_pages_to_scan = 16,
				   __c.advisor_max_pages_to_scan = 100000)) == 0, "advisor on, target 1 s");
	ktest_ok(ioctl(dev, KSM_START_STOP_KTHREAD, &on) == 0, "kksmd with 64 pages per round");
	ktest_ok(KTEST_WAIT(pages_to_scan(dev) > 64, 60000), "the advisor raised pages_to_scan (%u)",
		 pages_to_scan(dev));
	ksmu_stats(dev, &st);
	ktest_ok(st.last_full_scan_ms > 0, "last_full_scan_ms = %llu", (unsigned long long)st.last_full_scan_ms);
	/* Let it settle near the target (two more passes), then check the pass time. */
	uint64_t passes = st.full_scans;

	KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.full_scans >= passes + 2, 20000);
	ktest_diag("after settling: pages_to_scan %u, last pass %llu ms", pages_to_scan(dev),
		   (unsigned long long)st.last_full_scan_ms);
	ktest_ok(st.last_full_scan_ms < 2000, "passes now take less than twice the target (%llu ms)",
		 (unsigned long long)st.last_full_scan_ms);

	/* An hour's target: it lowers pages_to_scan down to the minimum. */
	ktest_ok(KSMU_CONFIG(dev, __c.advisor_target_scan_ms = 3600000) == 0, "target one hour");
	uint32_t before = pages_to_scan(dev);

	ktest_ok(KTEST_WAIT(pages_to_scan(dev) == 16, 60000), "pages_to_scan went down to the minimum (%u -> %u)",
		 before, pages_to_scan(dev));
	ktest_ok(ioctl(dev, KSM_START_STOP_KTHREAD, &off) == 0, "kksmd stopped");
	ktest_ok(ioctl(dev, KSM_SET_CONFIG, &saved) == 0, "settings restored: advisor off");
	close(sma);
	return ktest_done();
}
