// SPDX-License-Identifier: GPL-2.0
/*
 * A page pinned for I/O is never merged: io_uring fixed buffers pin pages
 * (FOLL_PIN | FOLL_LONGTERM) the way a device doing DMA would, and a READ_FIXED
 * then writes file data into them through the pin, not through the process's
 * page table. Had the scanner swapped the page, the process would never see
 * that data. After the pin is gone, the same pages merge.
 */
#include "ktest.h"

#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <sys/uio.h>

/* Just enough io_uring to register buffers and run one READ_FIXED. */
struct ring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_init(struct ring *r)
{
	struct io_uring_params p;
	char *sq, *cq;

	memset(&p, 0, sizeof(p));
	r->fd = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		return -1;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned int), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -1;
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* READ_FIXED of @len bytes of @fd into registered buffer @index at @buf; returns the result. */
static int ring_read_fixed(struct ring *r, int fd, void *buf, unsigned int len, int index)
{
	unsigned int tail = *r->sq_tail, idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[idx];
	int res;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_READ_FIXED;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)buf;
	sqe->len = len;
	sqe->buf_index = (unsigned short)index;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	unsigned int head = *r->cq_head;

	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EIO;
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

int main(void)
{
	const long n = 16, npin = 8;
	int dev = ksm_open(), scan = ksm_scanfd(dev), sma = ksm_sma(dev);
	char *buf = anon_map(n * ktest_page, 0);
	struct ksm_stats st0, st1;
	struct ring r;

	ksmu_fill_pages(buf, n, 5, n);
	struct peer b = peer_start(dev, n, 5, n);

	if (ring_init(&r)) {
		ktest_skip("io_uring is not available");
		return ktest_done();
	}
	struct iovec iov = { buf, npin * ktest_page };

	ktest_ok(syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_BUFFERS, &iov, 1) == 0,
		 "pages 0-7 pinned as an io_uring fixed buffer");
	ktest_ok(ksmu_register(sma, buf, n) == 0, "the pinned buffer's range is registered");
	ksmu_stats(dev, &st0);
	long merged = ksmu_scan_settle(scan, 3);

	ksmu_stats(dev, &st1);
	ktest_ok(merged == 2 * (n - npin), "only the %ld unpinned pages merge (%ld mappings)", n - npin,
		 merged);
	long pinned_same = 0, free_same = 0;

	for (long i = 0; i < n; i++) {
		bool same = ksmu_pagemap_pfn(0, buf + i * ktest_page) == peer_pfn(&b, i);

		if (i < npin)
			pinned_same += same;
		else
			free_same += same;
	}
	ktest_ok(pinned_same == 0 && free_same == n - npin, "no pinned page is shared; all others are");
	ktest_ok(st1.skipped[KSM_SKIP_PINNED] - st0.skipped[KSM_SKIP_PINNED] >= (uint64_t)npin,
		 "the module counts them as pinned (%llu)",
		 (unsigned long long)(st1.skipped[KSM_SKIP_PINNED] - st0.skipped[KSM_SKIP_PINNED]));

	/* The "device" writes into the pinned pages. */
	char path[] = "/tmp/ksm-pinned-XXXXXX";
	int fd = mkstemp(path);
	char *data = malloc(npin * ktest_page);

	ksmu_fill_pages(data, npin, 99, npin);
	if (fd < 0 || write(fd, data, npin * ktest_page) != npin * ktest_page)
		ktest_fatal("data file");
	unlink(path);
	int res = ring_read_fixed(&r, fd, buf, npin * ktest_page, 0);

	ktest_ok(res == npin * ktest_page, "READ_FIXED wrote %d bytes through the pin", res);
	ktest_ok(!memcmp(buf, data, npin * ktest_page), "the process sees every byte the I/O wrote");
	ktest_ok(peer_check(&b), "the other process is untouched");

	/* Unpin, put the original content back: now they merge. */
	ktest_ok(syscall(__NR_io_uring_register, r.fd, IORING_UNREGISTER_BUFFERS, NULL, 0) == 0,
		 "buffers unregistered (pages unpinned)");
	ksmu_fill_pages(buf, npin, 5, n);
	merged = ksmu_scan_settle(scan, 3);
	ktest_ok(merged == 2 * npin, "the unpinned pages merge now (%ld)", merged);
	bool ok = true;

	for (long i = 0; i < n; i++)
		ok &= ksmu_check_page(buf + i * ktest_page, 5, i) &&
		      ksmu_pagemap_pfn(0, buf + i * ktest_page) == peer_pfn(&b, i);
	ktest_ok(ok, "all 16 pages shared and right");
	close(fd);
	close(r.fd);
	peer_stop(&b);
	close(sma);
	return ktest_done();
}
