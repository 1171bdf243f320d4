// SPDX-License-Identifier: GPL-2.0
/*
 * torture - data integrity while everything happens at once.
 *
 * Worker processes own registered regions holding a mix of pages identical
 * across workers and unique pages, and a private shadow copy of what every
 * byte must be. Their threads do random operations - writes, restores to the
 * original (twin) content, read(2), O_DIRECT reads, process_vm_writev, fork
 * with child writes, MADV_DONTNEED, munmap + mmap, mprotect flips, mremap
 * away and back, THP collapse, KSM_UNMERGE, closing and re-registering the
 * SMA - while kksmd scans unthrottled, the controller runs KSM_SCAN in a loop
 * and the built-in KSM merges another, madvised area of each worker. At the
 * end every byte of every page must equal its shadow.
 *
 * usage: torture [-s SEED] [-n OPS] [-p PROCS] [-t THREADS] [-P PAGES] [-d ODIRECT_DIR]
 *        torture -g FILE   (writes the data file O_DIRECT reads use: DIR/data)
 * Prints the seed: a failure can be replayed with -s.
 */
#include "ktest.h"

#include <pthread.h>
#include <sys/uio.h>

#define MiB (1UL << 20)

/* Settings, from the command line. */
static uint64_t opt_seed;
static long opt_ops = 20000, opt_procs = 3, opt_threads = 3, opt_pages = 1024;
static const char *opt_dir;

/* Shared content seeds: pages of the "twin" kind are the same in every worker. */
#define TWIN_SEED 0x7717
#define TWIN_KINDS 64
#define FILE_SEED 0xf11e
#define FILE_PAGES 64

/* One worker process's state. */
struct worker {
	int id;
	int dev, sma;
	char *mem;		/* the registered region, 2 MiB aligned */
	char *shadow;		/* what it must hold */
	long npages;
	char *builtin;		/* an area for the built-in KSM, with its shadow */
	char *builtin_shadow;
	long nbuiltin;
	int odirect_fd;		/* a file of FILE_PAGES known pages opened O_DIRECT, or -1 */
	pthread_rwlock_t layout;	/* write-held by range operations */
	long ops_done[32];
	long mismatches;
};

/* The original content of page @i of worker @w. */
static void original(struct worker *w, long i, char *out)
{
	if (i % 2)
		ksmu_fill_page(out, (uint64_t)w->id * 1000003 + 17, i);
	else
		ksmu_fill_page(out, TWIN_SEED, i % (2 * TWIN_KINDS));
}

static int sma_register(struct worker *w)
{
	w->sma = ksmu_sma_create(w->dev);
	return w->sma < 0 ? -1 : ksmu_register(w->sma, w->mem, w->npages);
}

/* Compare page @i with its shadow; on a difference, say where. Caller holds the layout lock. */
static bool verify_page(struct worker *w, long i, const char *when)
{
	const char *a = w->mem + i * ktest_page, *b = w->shadow + i * ktest_page;

	if (!memcmp(a, b, ktest_page))
		return true;
	for (long k = 0; k < ktest_page; k++)
		if (a[k] != b[k]) {
			printf("# worker %d: page %ld differs at byte %ld (%s): %02x, shadow %02x\n",
			       w->id, i, k, when, (unsigned char)a[k], (unsigned char)b[k]);
			break;
		}
	fflush(stdout);
	__atomic_add_fetch(&w->mismatches, 1, __ATOMIC_RELAXED);
	return false;
}

/* A thread's work: @ops random operations on the pages it owns (i % threads == t). */
struct thread_arg {
	struct worker *w;
	int t;
	long ops;
	uint64_t seed;
};

enum op {
	OP_WRITE, OP_RESTORE, OP_READ, OP_ODIRECT, OP_VMWRITE, OP_VERIFY, OP_BUILTIN,
	OP_FORK, OP_DONTNEED, OP_REMAP, OP_MPROTECT, OP_MREMAP, OP_COLLAPSE, OP_UNMERGE, OP_RESMA,
	OP_NR
};

static const char *const op_names[OP_NR] = {
	"write", "restore", "read", "odirect", "vmwrite", "verify", "builtin",
	"fork", "dontneed", "remap", "mprotect", "mremap", "collapse", "unmerge", "resma",
};

/* Pick an operation: page operations often, range operations rarely. */
static enum op pick(uint64_t *s)
{
	unsigned int r = ksmu_rand(s) % 1000;

	if (r < 300)
		return OP_WRITE;
	if (r < 550)
		return OP_RESTORE;
	if (r < 620)
		return OP_READ;
	if (r < 690)
		return OP_ODIRECT;
	if (r < 760)
		return OP_VMWRITE;
	if (r < 860)
		return OP_VERIFY;
	if (r < 920)
		return OP_BUILTIN;
	static const enum op rare[] = { OP_FORK, OP_DONTNEED, OP_REMAP, OP_MPROTECT, OP_MREMAP,
					OP_COLLAPSE, OP_UNMERGE, OP_RESMA };
	return rare[ksmu_rand(s) % (sizeof(rare) / sizeof(rare[0]))];
}

/* A page operation on page @i (owned by the calling thread; layout read-locked). */
static void page_op(struct worker *w, enum op op, long i, uint64_t *s)
{
	char *page = w->mem + i * ktest_page, *sh = w->shadow + i * ktest_page;
	char buf[4096];

	switch (op) {
	case OP_WRITE: {
		long off = ksmu_rand(s) % ktest_page, len = 1 + ksmu_rand(s) % 64;

		if (off + len > ktest_page)
			len = ktest_page - off;
		for (long k = 0; k < len; k++)
			page[off + k] = sh[off + k] = (char)ksmu_rand(s);
		break;
	}
	case OP_RESTORE:
		original(w, i, buf);
		memcpy(page, buf, ktest_page);
		memcpy(sh, buf, ktest_page);
		break;
	case OP_READ: {
		int p[2];

		if (pipe(p))
			break;
		original(w, i, buf);
		buf[0] ^= (char)ksmu_rand(s);
		if (write(p[1], buf, ktest_page) == ktest_page && read(p[0], page, ktest_page) == ktest_page)
			memcpy(sh, buf, ktest_page);
		else
			memcpy(sh, page, ktest_page);	/* a partial read: nothing to check */
		close(p[0]);
		close(p[1]);
		break;
	}
	case OP_ODIRECT: {
		long fp = ksmu_rand(s) % FILE_PAGES;

		if (w->odirect_fd < 0)
			break;
		if (pread(w->odirect_fd, page, ktest_page, fp * ktest_page) == ktest_page) {
			ksmu_fill_page(buf, FILE_SEED, fp);
			memcpy(sh, buf, ktest_page);
		} else {
			memcpy(sh, page, ktest_page);
		}
		break;
	}
	case OP_VMWRITE: {
		struct iovec local = { buf, 256 }, remote;
		long off = (ksmu_rand(s) % 16) * 256;

		for (int k = 0; k < 256; k++)
			buf[k] = (char)ksmu_rand(s);
		remote.iov_base = page + off;
		remote.iov_len = 256;
		if (process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == 256)
			memcpy(sh + off, buf, 256);
		break;
	}
	case OP_VERIFY:
		verify_page(w, i, "during the run");
		break;
	default:
		break;
	}
}

/* The built-in KSM's area: threads write or restore their own pages of it. */
static void builtin_op(struct worker *w, int t, uint64_t *s)
{
	long per = w->nbuiltin / opt_threads;
	long i = t + (long)(ksmu_rand(s) % (per ? per : 1)) * opt_threads;
	char *page, *sh;

	if (i >= w->nbuiltin)
		return;
	page = w->builtin + i * ktest_page;
	sh = w->builtin_shadow + i * ktest_page;
	if (ksmu_rand(s) % 2) {
		page[ksmu_rand(s) % ktest_page] ^= 1;
	} else {
		ksmu_fill_page(page, TWIN_SEED + 1, i % 8);
	}
	memcpy(sh, page, ktest_page);
}

/* A random sub-range [first, first + count) of the region: 1 to 64 pages. */
static void subrange(struct worker *w, uint64_t *s, long *first, long *count)
{
	*count = 1 + ksmu_rand(s) % 64;
	*first = ksmu_rand(s) % (w->npages - *count);
}

/* A range operation (the layout lock is write-held: no other thread touches the region). */
static void range_op(struct worker *w, enum op op, uint64_t *s)
{
	long first, count;
	char *a;

	subrange(w, s, &first, &count);
	a = w->mem + first * ktest_page;
	switch (op) {
	case OP_FORK: {
		pid_t pid = fork();

		if (!pid) {
			/* The child sees the parent's memory as of the fork, then writes its own. */
			int bad = memcmp(w->mem, w->shadow, w->npages * ktest_page) != 0;

			for (long i = first; i < first + count; i++)
				w->mem[i * ktest_page + i % ktest_page] ^= 0x55;
			for (long i = first; i < first + count; i++)
				bad |= (w->mem[i * ktest_page + i % ktest_page] ^ 0x55) !=
				       w->shadow[i * ktest_page + i % ktest_page];
			_exit(bad);
		}
		int st = 0;

		if (pid > 0 && waitpid(pid, &st, 0) == pid && !(WIFEXITED(st) && !WEXITSTATUS(st))) {
			printf("# worker %d: a forked child saw wrong memory (status %d)\n", w->id, st);
			__atomic_add_fetch(&w->mismatches, 1, __ATOMIC_RELAXED);
		}
		break;
	}
	case OP_DONTNEED:
		if (!madvise(a, count * ktest_page, MADV_DONTNEED))
			memset(w->shadow + first * ktest_page, 0, count * ktest_page);
		break;
	case OP_REMAP:
		if (mmap(a, count * ktest_page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == a)
			memset(w->shadow + first * ktest_page, 0, count * ktest_page);
		break;
	case OP_MPROTECT:
		if (!mprotect(a, count * ktest_page, PROT_READ)) {
			for (long i = first; i < first + count; i++)
				verify_page(w, i, "read-only");
			mprotect(a, count * ktest_page, PROT_READ | PROT_WRITE);
		}
		break;
	case OP_MREMAP: {
		/* Move the range away, check it there, and move it back. */
		char *tmp = mmap(NULL, count * ktest_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *moved = mremap(a, count * ktest_page, count * ktest_page,
				     MREMAP_MAYMOVE | MREMAP_FIXED, tmp);

		if (moved == MAP_FAILED) {
			munmap(tmp, count * ktest_page);
			break;
		}
		if (memcmp(moved, w->shadow + first * ktest_page, count * ktest_page)) {
			printf("# worker %d: pages moved by mremap differ\n", w->id);
			__atomic_add_fetch(&w->mismatches, 1, __ATOMIC_RELAXED);
		}
		if (mremap(moved, count * ktest_page, count * ktest_page, MREMAP_MAYMOVE | MREMAP_FIXED,
			   a) != a) {
			printf("# worker %d: mremap back failed: %s\n", w->id, strerror(errno));
			__atomic_add_fetch(&w->mismatches, 1, __ATOMIC_RELAXED);
		}
		break;
	}
	case OP_COLLAPSE:
		/* Collapse a 2 MiB block into a huge page (MADV_COLLAPSE, 6.1+); may fail. */
		madvise(w->mem + (ksmu_rand(s) % (w->npages / 512)) * 2 * MiB, 2 * MiB, 25 /* MADV_COLLAPSE */);
		break;
	case OP_UNMERGE: {
		struct ksm_unmerge u = { 0 };

		ioctl(w->sma, KSM_UNMERGE, &u);
		break;
	}
	case OP_RESMA:
		close(w->sma);
		if (sma_register(w))
			printf("# worker %d: re-registering failed: %s\n", w->id, strerror(errno));
		break;
	default:
		break;
	}
}

static void *worker_thread(void *arg)
{
	struct thread_arg *ta = arg;
	struct worker *w = ta->w;
	uint64_t s = ta->seed;
	long mine = (w->npages - ta->t + opt_threads - 1) / opt_threads;

	for (long n = 0; n < ta->ops; n++) {
		enum op op = pick(&s);

		if (op >= OP_FORK) {
			pthread_rwlock_wrlock(&w->layout);
			range_op(w, op, &s);
			pthread_rwlock_unlock(&w->layout);
		} else if (op == OP_BUILTIN) {
			builtin_op(w, ta->t, &s);
		} else {
			long i = ta->t + (long)(ksmu_rand(&s) % mine) * opt_threads;

			pthread_rwlock_rdlock(&w->layout);
			page_op(w, op, i, &s);
			pthread_rwlock_unlock(&w->layout);
		}
		__atomic_add_fetch(&w->ops_done[op], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* A worker process: set up, run its threads, verify everything. Exit status: 0 if intact. */
static int worker_main(int id, int dev, int report)
{
	struct worker w = { .id = id, .dev = dev, .npages = opt_pages, .nbuiltin = 64 };
	pthread_t th[32];
	struct thread_arg ta[32];
	char buf[4096];
	long bad_builtin = 0;

	w.mem = anon_map(w.npages * ktest_page, 2 * MiB);
	w.shadow = malloc(w.npages * ktest_page);
	w.builtin = anon_map(w.nbuiltin * ktest_page, 0);
	w.builtin_shadow = malloc(w.nbuiltin * ktest_page);
	pthread_rwlock_init(&w.layout, NULL);
	for (long i = 0; i < w.npages; i++) {
		original(&w, i, buf);
		memcpy(w.mem + i * ktest_page, buf, ktest_page);
		memcpy(w.shadow + i * ktest_page, buf, ktest_page);
	}
	ksmu_fill_pages(w.builtin, w.nbuiltin, TWIN_SEED + 1, 8);
	memcpy(w.builtin_shadow, w.builtin, w.nbuiltin * ktest_page);
	madvise(w.builtin, w.nbuiltin * ktest_page, MADV_MERGEABLE);
	if (sma_register(&w))
		return 3;
	w.odirect_fd = -1;
	if (opt_dir) {
		char path[512];

		snprintf(path, sizeof(path), "%s/data", opt_dir);
		w.odirect_fd = open(path, O_RDONLY | O_DIRECT);
	}

	for (int t = 0; t < opt_threads; t++) {
		ta[t] = (struct thread_arg){ .w = &w, .t = t,
					     .ops = opt_ops / (opt_procs * opt_threads),
					     .seed = opt_seed * 7919 + (uint64_t)id * 104729 + t };
		pthread_create(&th[t], NULL, worker_thread, &ta[t]);
	}
	for (int t = 0; t < opt_threads; t++)
		pthread_join(th[t], NULL);

	for (long i = 0; i < w.npages; i++)
		verify_page(&w, i, "at the end");
	for (long i = 0; i < w.nbuiltin; i++)
		bad_builtin += memcmp(w.builtin + i * ktest_page, w.builtin_shadow + i * ktest_page,
				      ktest_page) != 0;
	dprintf(report, "# worker %d ops:", id);
	for (int op = 0; op < OP_NR; op++)
		dprintf(report, " %s %ld", op_names[op], w.ops_done[op]);
	dprintf(report, "\n");
	if (bad_builtin)
		printf("# worker %d: %ld pages of the built-in KSM's area differ\n", id, bad_builtin);
	return (w.mismatches || bad_builtin) ? 1 : 0;
}

int main(int argc, char **argv)
{
	int c;

	opt_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	while ((c = getopt(argc, argv, "s:n:p:t:P:d:g:")) != -1) {
		switch (c) {
		case 'g': {
			/* Write the O_DIRECT data file: FILE_PAGES pages of known content. */
			int fd = open(optarg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			char buf[4096];

			for (long i = 0; fd >= 0 && i < FILE_PAGES; i++) {
				ksmu_fill_page(buf, FILE_SEED, i);
				if (write(fd, buf, ktest_page) != ktest_page)
					return 1;
			}
			return fd < 0 || fsync(fd) || close(fd);
		}
		case 's': opt_seed = strtoull(optarg, NULL, 0); break;
		case 'n': opt_ops = atol(optarg); break;
		case 'p': opt_procs = atol(optarg); break;
		case 't': opt_threads = atol(optarg); break;
		case 'P': opt_pages = atol(optarg); break;
		case 'd': opt_dir = optarg; break;
		default:
			fprintf(stderr, "usage: %s [-s SEED] [-n OPS] [-p PROCS] [-t THREADS] [-P PAGES] [-d DIR]\n",
				argv[0]);
			return 2;
		}
	}
	if (opt_threads < 1 || opt_threads > 32 || opt_procs < 1 || opt_pages < 1024 || opt_pages % 512)
		ktest_fatal("bad settings (threads 1-32, pages a multiple of 512, >= 1024)");
	printf("# torture seed %llu: %ld ops, %ld processes x %ld threads, %ld pages each%s\n",
	       (unsigned long long)opt_seed, opt_ops, opt_procs, opt_threads, opt_pages,
	       opt_dir ? ", with O_DIRECT" : "");
	fflush(stdout);

	int dev = ksm_open();
	struct ksm_stats s0, s1;
	struct ksm_kthread_info on = { .sleep = 0, .pages_to_scan = 512, .max_pages_to_merge = 512,
				       .running = 1 }, off = { .running = 0 };
	struct ktest_scanner sc;	/* the controller's own scanner, concurrently with kksmd */
	int scan = ksm_scanfd(dev);

	long items0 = ksmu_slab_objects("ksmdev_item"), kpages0 = ksmu_slab_objects("ksmdev_kpage");

	ksmu_stats(dev, &s0);
	ksmu_write_str(KSMU_BUILTIN_DIR "pages_to_scan", "1000");
	ksmu_write_str(KSMU_BUILTIN_DIR "sleep_millisecs", "0");
	ksmu_write_str(KSMU_BUILTIN_DIR "run", "1");
	ktest_ok(ioctl(dev, KSM_START_STOP_KTHREAD, &on) == 0, "kksmd unthrottled");
	ktest_scanner_start(&sc, scan, 300);

	int report[2];
	pid_t pids[64];

	if (pipe(report) || opt_procs > 64)
		ktest_fatal("setup");
	for (int i = 0; i < opt_procs; i++) {
		pids[i] = fork();
		if (!pids[i]) {
			close(report[0]);
			_exit(worker_main(i, dev, report[1]));
		}
	}
	close(report[1]);
	for (int i = 0; i < opt_procs; i++) {
		int st;

		waitpid(pids[i], &st, 0);
		ktest_ok(WIFEXITED(st) && !WEXITSTATUS(st),
			 "worker %d: every byte equals its shadow (status %d, seed %llu)", i, st,
			 (unsigned long long)opt_seed);
	}
	char line[1024];
	ssize_t n;

	while ((n = read(report[0], line, sizeof(line) - 1)) > 0) {
		line[n] = '\0';
		fputs(line, stdout);
	}
	ktest_scanner_stop(&sc);
	ioctl(dev, KSM_START_STOP_KTHREAD, &off);
	ksmu_write_str(KSMU_BUILTIN_DIR "run", "2");
	ksmu_stats(dev, &s1);
	ktest_diag("merges %llu, COW breaks seen %llu, unmerged %llu, THP splits %llu, %ld KSM_SCAN calls",
		   (unsigned long long)(s1.merges - s0.merges),
		   (unsigned long long)(s1.cow_breaks - s0.cow_breaks),
		   (unsigned long long)(s1.unmerged - s0.unmerged),
		   (unsigned long long)(s1.thp_split - s0.thp_split), sc.scans);
	ktest_ok(s1.merges - s0.merges > 0 && s1.cow_breaks - s0.cow_breaks > 0,
		 "the run merged pages and broke merges (it tested something)");
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &s1) == 0 && s1.regions == 0 && s1.kpages_held == 0 &&
			    s1.unstable_pages == 0, 10000),
		 "after the workers exit: no region, kernel page or table entry left");
	/* Kernel page entries are freed an RCU grace period after their last reference. */
	ktest_ok(KTEST_WAIT(ksmu_slab_objects("ksmdev_item") <= items0 &&
			    ksmu_slab_objects("ksmdev_kpage") <= kpages0, 10000),
		 "the module's slab caches are back to their size at the start (%ld items, %ld kpages)",
		 ksmu_slab_objects("ksmdev_item"), ksmu_slab_objects("ksmdev_kpage"));
	ksmu_write_str(KSMU_BUILTIN_DIR "run", "0");
	return ktest_done();
}
