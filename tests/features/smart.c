// SPDX-License-Identifier: GPL-2.0
/*
 * Smart scanning: pages that keep failing to merge (content unchanged, no
 * twin) are skipped for 1, 2, 4 then 8 passes; a twin that appears meanwhile
 * still finds them; a page whose content changes is looked at afresh.
 */
#include "ktest.h"

int main(void)
{
	const long n = 256;
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	struct ksm_stats s0, s1;

	ktest_ok(KSMU_CONFIG(dev, __c.smart_scan = 1) == 0, "smart_scan on");
	struct peer a = peer_start(dev, n, 40, n);	/* all distinct, no twin anywhere */

	/*
	 * A failure is a pass that finds the content unchanged and no twin:
	 * pass 1 is first sight, 2-4 fail (skip 1), 5 skipped, 6 fails (skip 2),
	 * 7-8 skipped, 9 fails (skip 4), 10-13 skipped, 14 fails (skip 8).
	 */
	static const int skipped_on[] = { 5, 7, 8, 10, 11, 12, 13 };
	bool schedule = true;

	for (int pass = 1; pass <= 14; pass++) {
		ksmu_stats(dev, &s0);
		ksmu_scan_pass(scan);
		ksmu_stats(dev, &s1);
		bool want = false;

		for (size_t k = 0; k < sizeof(skipped_on) / sizeof(skipped_on[0]); k++)
			want |= skipped_on[k] == pass;
		uint64_t got = s1.smart_skipped - s0.smart_skipped;

		if (got != (want ? (uint64_t)n : 0)) {
			ktest_diag("pass %d: %llu pages skipped, wanted %ld", pass,
				   (unsigned long long)got, want ? n : 0L);
			schedule = false;
		}
	}
	ktest_ok(schedule, "failing pages are skipped on passes 5, 7-8, 10-13 (1, 2, 4 passes)");

	/* Now in an 8-pass skip: a twin registered meanwhile merges through the table. */
	struct peer b = peer_start(dev, n, 40, n);
	long merged = ksmu_scan_pass(scan);

	ktest_ok(merged == 2 * n && peers_shared(&a, &b) == n,
		 "a twin process appearing during the skip merges with them at once (%ld)", merged);
	ktest_ok(peer_check(&a) && peer_check(&b), "contents right");
	peer_stop(&a);
	peer_stop(&b);

	/* First sight and three failures, then skipped; with smart_scan off, never. */
	struct peer c = peer_start(dev, 16, 41, 16);

	for (int i = 0; i < 4; i++)
		ksmu_scan_pass(scan);
	ksmu_stats(dev, &s0);
	ksmu_scan_pass(scan);
	ksmu_stats(dev, &s1);
	ktest_ok(s1.smart_skipped - s0.smart_skipped == 16, "after 3 failures the pages are skipped");
	ktest_ok(KSMU_CONFIG(dev, __c.smart_scan = 0) == 0, "smart_scan off");
	ksmu_stats(dev, &s0);
	ksmu_scan_pass(scan);
	ksmu_stats(dev, &s1);
	ktest_ok(s1.smart_skipped == s0.smart_skipped, "with smart_scan off nothing is skipped");
	peer_stop(&c);
	return ktest_done();
}
