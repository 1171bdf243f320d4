// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write of merged pages: writes from either side (plain stores, a
 * second thread, read(2) into the page, process_vm_writev from another
 * process) are private and land where they should; the other sharer keeps
 * the old content; once every sharer has written, the kernel pages are freed.
 */
#include "ktest.h"

#include <pthread.h>
#include <sys/uio.h>

struct writer {
	char *base;
	long first, count;
	int rounds;
};

/* A second thread of the test process writes its own pages while the main thread reads. */
static void *thread_writer(void *arg)
{
	struct writer *w = arg;

	for (int r = 0; r < w->rounds; r++)
		for (long i = w->first; i < w->first + w->count; i++)
			w->base[i * ktest_page + (r * 97) % ktest_page] = (char)(r + 1);
	return NULL;
}

int main(void)
{
	const long n = 512;
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	struct ksm_stats st;

	/* Peers A and B, and the test process itself as a third sharer with two threads. */
	struct peer a = peer_start(dev, n, 11, n);
	struct peer b = peer_start(dev, n, 11, n);
	char *own = anon_map(n * ktest_page, 0);
	int sma = ksm_sma(dev);

	ksmu_fill_pages(own, n, 11, n);
	ktest_ok(ksmu_register(sma, own, n) == 0, "the test process registers its copy too");
	ktest_ok(ksmu_scan_pass(scan) == 3 * n, "three copies merged in one pass");
	ktest_ok(peers_shared(&a, &b) == n && ksmu_pagemap_pfn(0, own) == peer_pfn(&a, 0),
		 "all three map the same pages");

	/* A writes one byte in every even page: its pages change, B's and ours do not. */
	for (long i = 0; i < n; i += 2)
		peer_cmd(&a, PEER_WRITE, i, ktest_page - 1 - i % ktest_page, 0x5a);
	long moved = 0, kept = 0;

	for (long i = 0; i < n; i++) {
		bool same = peer_pfn(&a, i) == peer_pfn(&b, i);

		if (i % 2)
			kept += same;
		else
			moved += !same;
	}
	ktest_ok(moved == n / 2 && kept == n / 2, "A's %ld written pages are private copies now", moved);
	ktest_ok(peer_check(&a) && peer_check(&b), "A sees its writes, B the old content");
	ktest_ok(ksmu_check_pages(own, n, 11, n) < 0, "the third sharer sees the old content");

	/* B writes every page (first byte), from the other end. */
	peer_cmd(&b, PEER_WRITE_ALL, 0x33, 0, 0);
	ktest_ok(peer_check(&a) && peer_check(&b), "B's writes are private to B");

	/* Our own process: a second thread writes the upper half while we read the lower. */
	struct writer w = { .base = own, .first = n / 2, .count = n / 2, .rounds = 3 };
	pthread_t th;

	pthread_create(&th, NULL, thread_writer, &w);
	bool own_ok = true;

	for (int r = 0; r < 20; r++)
		own_ok &= ksmu_check_pages(own, n / 2, 11, n) < 0;
	pthread_join(th, NULL);
	ktest_ok(own_ok, "reads of merged pages are right while another thread writes others");
	own_ok = true;
	for (long i = n / 2; i < n; i++) {
		char ref[4096];

		ksmu_fill_page(ref, 11, i);
		for (int r = 0; r < 3; r++)
			ref[(r * 97) % ktest_page] = (char)(r + 1);
		own_ok &= !memcmp(own + i * ktest_page, ref, ktest_page);
	}
	ktest_ok(own_ok, "the second thread's writes landed in our private copies");

	/* read(2) into a merged page: the kernel's copy_to_user breaks the COW. */
	int fd = open("/proc/self/cmdline", O_RDONLY);
	char expect[64] = { 0 };
	ssize_t got;

	got = read(fd, own + 3 * ktest_page, sizeof(expect));
	lseek(fd, 0, SEEK_SET);
	if (read(fd, expect, sizeof(expect)) != got)
		ktest_fatal("read cmdline twice");
	close(fd);
	ktest_ok(got > 0 && !memcmp(own + 3 * ktest_page, expect, got) &&
		 peer_check(&a) && peer_check(&b),
		 "read(2) into a merged page writes our private copy only");

	/* process_vm_writev from the test process into B's page 5 (a GUP write). */
	char msg[] = "written by process_vm_writev";
	struct iovec local = { msg, sizeof(msg) }, remote = { b.addr + 5 * ktest_page + 100, sizeof(msg) };

	/* Re-merge first: B's page 5 was written above; make C/A twins of it again is not needed. */
	ktest_ok(process_vm_writev(b.pid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof(msg),
		 "process_vm_writev into B");
	for (size_t k = 0; k < sizeof(msg); k++)
		peer_cmd(&b, PEER_WRITE, 5, 100 + k, msg[k]);	/* mirror it in B's shadow */
	ktest_ok(peer_check(&b) && peer_check(&a), "it landed in B only");

	/* Everyone writes everything: no mapping of a kernel page is left. */
	peer_cmd(&a, PEER_WRITE_ALL, 0x44, 0, 0);
	for (long i = 0; i < n; i++)
		own[i * ktest_page + 1] ^= 1;
	ktest_ok(ksmu_scan_pass(scan) == 0, "a pass: nothing merges (all differ now)");
	ksmu_stats(dev, &st);
	ktest_ok(st.pages_shared == 0 && st.kpages_held == 0,
		 "every kernel page was freed once its last sharer wrote (shared %llu, held %llu)",
		 (unsigned long long)st.pages_shared, (unsigned long long)st.kpages_held);
	ktest_ok(st.kpages_freed >= (uint64_t)n, "kpages_freed counts them (%llu)",
		 (unsigned long long)st.kpages_freed);
	ktest_ok(peer_check(&a) && peer_check(&b), "final contents of A and B right");
	peer_stop(&a);
	peer_stop(&b);
	close(sma);
	return ktest_done();
}
