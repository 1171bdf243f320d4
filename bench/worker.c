// SPDX-License-Identifier: GPL-2.0
/*
 * worker.c - the processes whose memory the benchmarks merge.
 *
 * A worker maps @npages pages of private anonymous memory (THP off unless
 * asked), fills page i with ksmu_fill_page(seed, i % period) and obeys commands
 * sent over a pipe: registering its memory with /dev/ksm or madvising it for
 * the built-in KSM (both act on the caller's own memory, so the worker does
 * them), unmerging, and timing write faults page by page. Timings are taken in
 * the worker, around the one call or the one store they measure.
 */
#include "ksm_bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct wmsg {
	int cmd;
	long arg;
};

/* The worker's own state (in the worker process). */
struct wstate {
	char *mem;
	long npages;		/* pages it fills: the workload */
	long span;		/* pages of its mapping (registered, madvised): npages unless sparse */
	long run, stride;	/* sparse: runs of @run pages, @stride pages apart */
	uint64_t seed;
	long period;
	bool thp;		/* leave transparent huge pages on */
	int sma;		/* SMA fd while attached to ours, else -1 */
	unsigned char *gen;	/* W_REWRITE: the round that last wrote each page (0: none) */
	bool byte0_set;		/* a W_COW_MERGED wrote byte 0 of every page */
	long byte0;		/* ... with (char)(byte0 + i) */
	double *times;		/* per-page timings, preallocated */
	long hot;		/* W_HOT: pages the writer thread keeps rewriting */
	long hot_written;	/* ... the most it ever rewrote (W_VERIFY skips their word) */
	atomic_bool hot_stop;	/* tells the writer thread to stop */
	pthread_t hot_thread;
	bool hot_running;
};

/*
 * The writer thread of W_HOT: rewrites the first word of the first s->hot
 * pages every 2 ms with a value that changes every 100 ms and is the same in
 * every worker at the same time, so hot pages are often identical across
 * workers (they merge) and written soon after (COW breaks).
 */
static void *hot_writer(void *arg)
{
	struct wstate *s = arg;

	while (!atomic_load(&s->hot_stop)) {
		long slot = (long)(ksmu_now_s() * 10);

		for (long i = 0; i < s->hot; i++)
			*(volatile long *)(s->mem + i * PAGE_SZ) = slot;
		usleep(2000);
	}
	return NULL;
}

/* Median cost of one pair of timer reads, in seconds (taken off per-page timings). */
static double timer_overhead(double *scratch, long n)
{
	for (long i = 0; i < n; i++) {
		double t0 = ksmu_now_s();

		scratch[i] = ksmu_now_s() - t0;
	}
	return percentile(scratch, n, 0.5);
}

/* Fill @r's per-page statistics from @n timings (seconds) in @t. */
static void summarize(struct worker_reply *r, double *t, long n)
{
	double overhead;

	r->mean_us = mean(t, n) * 1e6;
	r->median_us = percentile(t, n, 0.5) * 1e6;
	r->p90_us = percentile(t, n, 0.9) * 1e6;
	overhead = timer_overhead(t, n < 10000 ? n : 10000) * 1e6;
	r->timer_us = overhead;
	r->mean_us -= overhead;
	r->median_us -= overhead;
	r->p90_us -= overhead;
	r->count = n;
}

/* The address of workload page @i of @s: in its run, when the memory is sparse. */
static char *page_at(const struct wstate *s, long i)
{
	return s->mem + ((i / s->run) * s->stride + i % s->run) * PAGE_SZ;
}

/*
 * The seed of workload page @i's content: the worker's, changed by the churn
 * round that rewrote it last (W_REWRITE), the same in every worker.
 */
static uint64_t page_seed(const struct wstate *s, long i)
{
	return s->seed + (s->gen ? s->gen[i] : 0) * 0x9e3779b97f4a7c15ULL;
}

/*
 * churn_picks - does churn round @round (1..255) rewrite page @index?
 *
 * A quarter of the pages each round, spread over the memory; the same pages
 * in every worker, so identical workers stay identical.
 */
bool churn_picks(long index, long round)
{
	uint64_t x = (uint64_t)index * 0x9e3779b97f4a7c15ULL ^ (uint64_t)round << 48;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return (x & 3) == 0;
}

/* W_REWRITE: the pages round @round picks get that round's content (a write fault on each). */
static long rewrite(struct wstate *s, long round)
{
	if (round < 1 || round > 255 || s->period != s->npages)
		return -EINVAL;
	if (!s->gen) {
		s->gen = calloc(s->npages, 1);
		if (!s->gen)
			return -ENOMEM;
	}
	for (long i = 0; i < s->npages; i++) {
		if (!churn_picks(i, round))
			continue;
		s->gen[i] = (unsigned char)round;
		ksmu_fill_page(page_at(s, i), page_seed(s, i), i);
	}
	return 0;
}

/* Store one byte per page of @mem, timing each store (a write fault each). */
static void timed_stores(char *mem, long npages, long off, long value, double *t)
{
	for (long i = 0; i < npages; i++) {
		double t0 = ksmu_now_s();

		*(volatile char *)(mem + i * PAGE_SZ + off) = (char)(value + i);
		t[i] = ksmu_now_s() - t0;
	}
}

/* Private anonymous memory with THP off, for the first-touch and fork timings. */
static char *map_small_pages(long npages)
{
	char *q = ksmu_map_anon(npages * PAGE_SZ, 0, -1);

	if (!q)
		die("mmap %ld pages", npages);
	return q;
}

/* W_COW_FORK: stores to pages shared with a child after fork() (copy on write). */
static long cow_fork(struct wstate *s, struct worker_reply *r)
{
	char *q = map_small_pages(s->npages);
	int p[2];
	pid_t child;
	char c;

	for (long i = 0; i < s->npages; i++)
		q[i * PAGE_SZ] = 1;
	if (pipe(p))
		return -errno;
	child = fork();
	if (child < 0)
		return -errno;
	if (!child) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	timed_stores(q, s->npages, 1, 2, s->times);
	close(p[1]);
	waitpid(child, NULL, 0);
	munmap(q, s->npages * PAGE_SZ);
	summarize(r, s->times, s->npages);
	return 0;
}

/* W_VERIFY: does every page hold what it should? */
static long verify(struct wstate *s)
{
	static char ref[PAGE_SZ];

	for (long i = 0; i < s->npages; i++) {
		long skip = i < s->hot_written ? (long)sizeof(long) : 0;	/* the writer's */

		if (s->period)
			ksmu_fill_page(ref, page_seed(s, i), i % s->period);
		else
			memset(ref, 0, PAGE_SZ);
		if (s->byte0_set)
			ref[0] = (char)(s->byte0 + i);
		if (memcmp(ref + skip, page_at(s, i) + skip, PAGE_SZ - skip))
			return 0;
	}
	return 1;
}

/* Carry out one command in the worker. */
static struct worker_reply obey(struct wstate *s, const struct wmsg *m)
{
	struct worker_reply r = { 0 };
	double t0 = ksmu_now_s();

	switch (m->cmd) {
	case W_ATTACH_OURS: {
		int dev = ksmu_dev_open();

		if (dev < 0) {
			r.rc = -errno;
			break;
		}
		s->sma = ksmu_sma_create(dev);
		if (s->sma < 0 || ksmu_register(s->sma, s->mem, s->span))
			r.rc = -errno;
		close(dev);
		break;
	}
	case W_DETACH_OURS: {
		struct ksm_remove_region rm = { .flags = KSM_REMOVE_UNMERGE };

		if (s->sma >= 0 && ioctl(s->sma, KSM_REMOVE_MEMORY_REGION_EXT, &rm))
			r.rc = -errno;
		if (s->sma >= 0)
			close(s->sma);
		s->sma = -1;
		break;
	}
	case W_UNMERGE_OURS: {
		struct ksm_unmerge u = { 0 };

		if (ioctl(s->sma, KSM_UNMERGE, &u))
			r.rc = -errno;
		r.count = (long)u.pages_unmerged;
		break;
	}
	case W_MADVISE:
		if (madvise(s->mem, s->span * PAGE_SZ, (int)m->arg))
			r.rc = -errno;
		r.count = s->span;
		break;
	case W_COW_MERGED:
		timed_stores(s->mem, s->npages, 0, m->arg, s->times);
		s->byte0_set = true;
		s->byte0 = m->arg;
		summarize(&r, s->times, s->npages);
		break;
	case W_COW_FRESH: {
		char *q = map_small_pages(s->npages);

		timed_stores(q, s->npages, 0, 1, s->times);
		munmap(q, s->npages * PAGE_SZ);
		summarize(&r, s->times, s->npages);
		break;
	}
	case W_COW_FORK:
		r.rc = cow_fork(s, &r);
		break;
	case W_VERIFY:
		r.rc = verify(s);
		break;
	case W_HOT:
		if (s->hot_running) {
			atomic_store(&s->hot_stop, true);
			pthread_join(s->hot_thread, NULL);
			s->hot_running = false;
		}
		s->hot = m->arg < s->npages ? m->arg : s->npages;
		if (s->hot > s->hot_written)
			s->hot_written = s->hot;
		atomic_store(&s->hot_stop, false);
		if (s->hot > 0) {
			int err = pthread_create(&s->hot_thread, NULL, hot_writer, s);

			r.rc = -err;
			s->hot_running = !err;
		}
		break;
	case W_REWRITE:
		r.rc = rewrite(s, m->arg);
		break;
	case W_EXIT:
		_exit(0);
	}
	if (m->cmd != W_COW_MERGED && m->cmd != W_COW_FRESH && m->cmd != W_COW_FORK)
		r.secs = ksmu_now_s() - t0;
	return r;
}

/* The worker process: set up the memory, say where it is, obey until W_EXIT. */
static void worker_main(struct wstate *s, int in, int out)
{
	uintptr_t addr;
	struct wmsg m;

	prctl(PR_SET_NAME, "ksm-bench-w");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != in && fd != out)
			close(fd);
	if (s->span == s->npages) {
		s->mem = ksmu_map_anon(s->npages * PAGE_SZ, 0, s->thp ? 0 : -1);
		if (!s->mem)
			die("mmap %ld pages", s->npages);
		ksmu_fill_pages(s->mem, s->npages, s->seed, s->period);	/* period 0: present, all zero */
	} else {
		/* Sparse: address space only, and the runs touched in small pages. */
		s->mem = mmap(NULL, s->span * PAGE_SZ, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (s->mem == MAP_FAILED)
			die("mmap %ld pages of address space", s->span);
		madvise(s->mem, s->span * PAGE_SZ, MADV_NOHUGEPAGE);
		for (long i = 0; i < s->npages; i++)
			ksmu_fill_page(page_at(s, i), s->seed, i % s->period);
	}
	s->times = malloc(s->npages * sizeof(double));
	if (!s->times)
		_exit(3);
	memset(s->times, 0, s->npages * sizeof(double));
	addr = (uintptr_t)s->mem;
	if (write(out, &addr, sizeof(addr)) != sizeof(addr))
		_exit(4);
	while (read(in, &m, sizeof(m)) == sizeof(m)) {
		struct worker_reply r = obey(s, &m);

		if (write(out, &r, sizeof(r)) != sizeof(r))
			_exit(5);
	}
	_exit(0);
}

/*
 * Start a worker holding @npages pages, page i filled with
 * ksmu_fill_page(@seed, i % @period); @thp: leave transparent huge pages on.
 */
struct worker worker_start(long npages, uint64_t seed, long period, bool thp)
{
	return worker_start_sparse(npages, npages, npages, seed, period, thp);
}

/*
 * Start a worker whose @npages workload pages lie in runs of @run pages,
 * @stride pages apart, in a mapping of as many runs of @stride pages (only
 * the runs are touched; @stride = @run: dense). The mapping is what it
 * registers and madvises.
 */
struct worker worker_start_sparse(long npages, long run, long stride, uint64_t seed, long period,
				  bool thp)
{
	struct worker w = { .npages = npages };
	int to[2], from[2];

	if (pipe(to) || pipe(from))
		die("pipe");
	fflush(NULL);
	w.pid = fork();
	if (w.pid < 0)
		die("fork");
	if (!w.pid) {
		struct wstate s = { .npages = npages, .seed = seed, .period = period, .thp = thp,
				    .sma = -1, .run = run, .stride = stride,
				    .span = (npages + run - 1) / run * stride };

		close(to[1]);
		close(from[0]);
		worker_main(&s, to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	w.to = to[1];
	w.from = from[0];
	if (read(w.from, &w.addr, sizeof(w.addr)) != sizeof(w.addr))
		die("worker %d did not start (out of memory?)", w.pid);
	return w;
}

/* Send @cmd to worker @w and wait for its reply; exits if the worker is gone. */
struct worker_reply worker_cmd(struct worker *w, enum worker_cmd cmd, long arg)
{
	struct wmsg m = { .cmd = cmd, .arg = arg };
	struct worker_reply r;

	if (write(w->to, &m, sizeof(m)) != sizeof(m) ||
	    read(w->from, &r, sizeof(r)) != sizeof(r))
		die("worker %d died (command %d)", w->pid, cmd);
	return r;
}

/* Stop worker @w and reap it: its memory and registrations go with it. */
void worker_stop(struct worker *w)
{
	struct wmsg m = { .cmd = W_EXIT };

	if (write(w->to, &m, sizeof(m)) != sizeof(m))
		kill(w->pid, SIGKILL);
	waitpid(w->pid, NULL, 0);
	close(w->to);
	close(w->from);
	w->pid = 0;
}
