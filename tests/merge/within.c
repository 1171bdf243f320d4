// SPDX-License-Identifier: GPL-2.0
/*
 * Identical pages inside one process merge; pages that differ in a single
 * byte (the first, the last, or one in the middle) never merge, within one
 * process or across two; all-zero pages merge together.
 */
#include "ktest.h"

int main(void)
{
	const long n = 512;
	int dev = ksm_open(), scan = ksm_scanfd(dev);

	/* Page i and page i + n/2 are twins. */
	struct peer a = peer_start(dev, n, 7, n / 2);

	long merged = ksmu_scan_pass(scan);

	if (!ktest_ok(merged == n, "one pass merges the %ld twin mappings (%ld)", n, merged))
		ksm_dump_stats(dev);
	long pairs = 0;

	for (long i = 0; i < n / 2; i++) {
		uint64_t x = peer_pfn(&a, i);

		pairs += x && x == peer_pfn(&a, i + n / 2);
	}
	ktest_ok(pairs == n / 2, "%ld of %ld twin pairs in one process share a pfn", pairs, n / 2);
	ktest_ok(peer_check(&a), "contents intact");

	/*
	 * Near-twins: b's pages equal a's second set except for one byte each,
	 * at offset 4095 (last), 0 (first) or 2048, rotating; they must stay apart.
	 */
	struct peer b = peer_start(dev, n / 2, 8, n / 2);
	struct peer c = peer_start(dev, n / 2, 8, n / 2);
	long offs[3] = { 4095, 0, 2048 };

	for (long i = 0; i < n / 2; i++) {
		long off = offs[i % 3];
		long byte = (long)(unsigned char)i + 1;

		peer_cmd(&c, PEER_WRITE, i, off, byte);
		peer_cmd(&b, PEER_WRITE, i, off, byte ^ 0x80);
	}
	ksmu_scan_settle(scan, 3);
	long shared = peers_shared(&b, &c);

	ktest_ok(shared == 0, "pages differing in one byte (first, middle or last) never merge (%ld did)",
		 shared);
	long self = 0;

	for (long i = 1; i < n / 2; i++)
		self += peer_pfn(&b, i) == peer_pfn(&b, i - 1);
	ktest_ok(self == 0, "nor within one process");
	ktest_ok(peer_check(&b) && peer_check(&c), "their contents are intact");

	/* Zero-filled pages written by the process (not the shared zero page). */
	struct peer z = peer_start(dev, 64, 9, 64);

	peer_cmd(&z, PEER_FILL, 0, 64, 0);
	ksmu_scan_settle(scan, 3);
	long zsame = 0;

	for (long i = 1; i < 64; i++)
		zsame += peer_pfn(&z, i) && peer_pfn(&z, i) == peer_pfn(&z, 0);
	ktest_ok(zsame == 63, "64 all-zero pages end up as one page (%ld of 63 share page 0's pfn)", zsame);
	ktest_ok(peer_check(&z), "and read as zeroes");

	peer_stop(&a);
	peer_stop(&b);
	peer_stop(&c);
	peer_stop(&z);
	return ktest_done();
}
