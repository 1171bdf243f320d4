/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktest.h - a tiny TAP producer and the helpers the ksm test programs share:
 * opening /dev/ksm, registering memory, scanning, and looking at merging from
 * the outside (/proc/PID/pagemap, /proc/PID/status, /proc/meminfo,
 * /proc/kpageflags, /proc/slabinfo).
 *
 * Header-only: each test program is one C file that includes it.
 */
#ifndef KTEST_H
#define KTEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/ksm.h>

static int ktest_count;
static int ktest_failures;

/* Report one test point (through ktest_ok()). Returns cond. */
__attribute__((format(printf, 2, 3), unused))
static bool ktest_report(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++ktest_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		ktest_failures++;
	return cond;
}

/*
 * ktest_ok(cond, fmt, ...) - report one test point; returns cond, so that
 * callers can bail out. The condition is evaluated before the message's
 * arguments (a function call's arguments are evaluated in no set order), so
 * the message shows what an ioctl in the condition filled in.
 */
#define ktest_ok(cond, ...) ({ bool ktest_cond_ = (cond); ktest_report(ktest_cond_, __VA_ARGS__); })

/* A diagnostic line (TAP comment). */
__attribute__((format(printf, 1, 2), unused))
static void ktest_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Skip a test point (counts as passed in TAP, says why). */
__attribute__((unused))
static void ktest_skip(const char *why)
{
	printf("ok %d # SKIP %s\n", ++ktest_count, why);
	fflush(stdout);
}

/* End of the program: the plan and the exit status. */
__attribute__((unused))
static int ktest_done(void)
{
	printf("1..%d\n", ktest_count);
	fflush(stdout);
	return ktest_failures ? 1 : 0;
}

/* Abort the whole program on a broken precondition. */
__attribute__((format(printf, 1, 2), noreturn, unused))
static void ktest_fatal(const char *fmt, ...)
{
	va_list ap;

	printf("not ok %d - FATAL: ", ++ktest_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %d: %s)\n1..%d\n", errno, strerror(errno), ktest_count);
	fflush(stdout);
	exit(1);
}

/* Expect a call to fail with errno @err. */
#define KTEST_ERRNO(call, err, ...)						\
	do {									\
		errno = 0;							\
		long __r = (long)(call);					\
		int __e = errno;						\
		ktest_ok(__r == -1 && __e == (err), __VA_ARGS__);		\
		if (!(__r == -1 && __e == (err)))				\
			ktest_diag("  got %ld, errno %d (%s), wanted errno %d (%s)",\
				   __r, __e, strerror(__e), (err), strerror(err));	\
	} while (0)

static const long ktest_page = 4096;

/* ---- /dev/ksm ---- */

/* Wait up to 5 s for /dev/ksm (devtmpfs creates it asynchronously after a load). */
__attribute__((unused))
static bool ksm_dev_wait(void)
{
	for (int i = 0; i < 500; i++) {
		if (access("/dev/ksm", F_OK) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

__attribute__((unused))
static int ksm_open(void)
{
	int fd;

	ksm_dev_wait();
	fd = open("/dev/ksm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		ktest_fatal("open /dev/ksm");
	return fd;
}

__attribute__((unused))
static int ksm_sma(int dev)
{
	int fd = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);

	if (fd < 0)
		ktest_fatal("KSM_CREATE_SHARED_MEMORY_AREA");
	return fd;
}

__attribute__((unused))
static int ksm_scanfd(int dev)
{
	int fd = ioctl(dev, KSM_CREATE_SCAN);

	if (fd < 0)
		ktest_fatal("KSM_CREATE_SCAN");
	return fd;
}

/* Register [addr, addr + npages pages) on @sma: returns the ioctl's result. */
__attribute__((unused))
static int ksm_register(int sma, void *addr, unsigned long npages)
{
	struct ksm_memory_region r = { .npages = (uint32_t)npages, .addr = (uintptr_t)addr };

	return ioctl(sma, KSM_REGISTER_MEMORY_REGION, &r);
}

/* One synchronous scan of @pages pages; returns pages merged or -1. */
__attribute__((unused))
static long ksm_scan_pages(int scan, unsigned long pages)
{
	struct ksm_scan_ext s = { .pages_to_scan = (uint32_t)pages };

	if (ioctl(scan, KSM_SCAN_EXT, &s))
		return -1;
	return (long)s.pages_merged;
}

/* Scan to the end of the current pass over all regions; returns pages merged or -1. */
__attribute__((unused))
static long ksm_scan_pass(int scan)
{
	struct ksm_scan_ext s;
	long merged = 0;

	do {
		memset(&s, 0, sizeof(s));
		s.pages_to_scan = 1u << 20;
		s.flags = KSM_SCAN_PASS_END;
		if (ioctl(scan, KSM_SCAN_EXT, &s))
			return -1;
		merged += (long)s.pages_merged;
	} while (!s.full_scans && s.pages_scanned);
	return merged;
}

/* Scan whole passes until one merges nothing (at most @max_passes); total merged or -1. */
__attribute__((unused))
static long ksm_scan_settle(int scan, int max_passes)
{
	long total = 0;

	for (int i = 0; i < max_passes; i++) {
		long merged = ksm_scan_pass(scan);

		if (merged < 0)
			return -1;
		total += merged;
		if (!merged)
			break;
	}
	return total;
}

__attribute__((unused))
static int ksm_stats(int dev, struct ksm_stats *st)
{
	memset(st, 0, sizeof(*st));
	return ioctl(dev, KSM_GET_STATS, st);
}

/* Read, change with @change, and write back the module's settings. */
#define KSM_CONFIG(dev, change)							\
	({									\
		struct ksm_config __c;						\
		int __r = ioctl((dev), KSM_GET_CONFIG, &__c);			\
		if (!__r) {							\
			change;							\
			__r = ioctl((dev), KSM_SET_CONFIG, &__c);		\
		}								\
		__r;								\
	})

/* Print the module's non-zero counters as TAP comments (for diagnosing a failure). */
__attribute__((unused))
static void ksm_dump_stats(int dev)
{
	static const char *const names[] = {
		"pages_shared", "pages_sharing", "pages_scanned", "full_scans", "merges",
		"kpages_created", "kpages_freed", "kpages_held", "regions", "region_pages",
		"unstable_pages", "hash_buckets", "hash_used", "hash_max_chain", "sha1_computed",
		"sha1_mismatch", "memcmp_mismatch", "thp_split", "merges_undone", "zero_pages",
		"cow_breaks", "unmerged", "smart_skipped", "volatile_skipped", "last_full_scan_ms",
		"general_profit", "metadata_bytes",
	};
	static const char *const skips[] = {
		"absent", "no_vma", "swapped", "migrating", "device", "zero_page", "pinned",
		"builtin_ksm", "locked", "busy", "swapcache", "exiting", "thp", "other",
	};
	struct ksm_stats st;
	const uint64_t *v = (const uint64_t *)&st;

	if (ksm_stats(dev, &st))
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (v[i])
			ktest_diag("  %s = %lld", names[i], (long long)v[i]);
	for (size_t i = 0; i < sizeof(skips) / sizeof(skips[0]); i++)
		if (st.skipped[i])
			ktest_diag("  skipped %s = %llu", skips[i], (unsigned long long)st.skipped[i]);
}

/* ---- looking from the outside ---- */

/*
 * Free memory in kB as the page allocator sees it: MemFree plus the pages
 * waiting in per-CPU free lists (which MemFree leaves out), from /proc/zoneinfo.
 */
__attribute__((unused))
static long free_kb(void)
{
	char line[256];
	long pages = 0, v;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nr_free_pages %ld", &v) == 1 || sscanf(line, " count: %ld", &v) == 1)
			pages += v;
	}
	fclose(f);
	return pages * (ktest_page / 1024);
}

/* The pfn mapped at @addr of process @pid (0: self), or 0 if none. Root only. */
__attribute__((unused))
static uint64_t pagemap_pfn(pid_t pid, const void *addr)
{
	char path[64];
	uint64_t e = 0;
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), ((uintptr_t)addr / ktest_page) * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	if (!(e & (1ULL << 63)))
		return 0;
	return e & ((1ULL << 55) - 1);
}

/* Is the page at @addr exclusively mapped (pagemap bit 56)? */
__attribute__((unused))
static bool pagemap_exclusive(pid_t pid, const void *addr)
{
	char path[64];
	uint64_t e = 0;
	int fd;

	snprintf(path, sizeof(path), pid ? "/proc/%d/pagemap" : "/proc/self/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	if (pread(fd, &e, sizeof(e), ((uintptr_t)addr / ktest_page) * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e & (1ULL << 56);
}

/*
 * RSS counters read through /proc are approximate on 6.2+ (per-CPU counters
 * folded lazily: off by up to 32 pages per CPU); compare them with this slack.
 */
#define RSS_SLACK_KB (32 * 4 * 8)

__attribute__((unused))
static bool near_kb(long got, long want)
{
	return got >= want - RSS_SLACK_KB && got <= want + RSS_SLACK_KB;
}

/* /proc/kpageflags of @pfn. */
__attribute__((unused))
static uint64_t kpageflags(uint64_t pfn)
{
	uint64_t f = 0;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &f, sizeof(f), pfn * sizeof(f)) != sizeof(f))
		f = 0;
	close(fd);
	return f;
}

#define KPF_ANON 12
#define KPF_KSM 21
#define KPF_THP 22
#define KPF_LRU 5

/* A "Key:   value kB" line of /proc/PID/status or /proc/meminfo, in kB; -1 if missing. */
__attribute__((unused))
static long proc_kb(const char *path, const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

__attribute__((unused))
static long status_kb(pid_t pid, const char *key)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	return proc_kb(path, key);
}

__attribute__((unused))
static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/*
 * Active objects of a slab cache in /proc/slabinfo; -1 if it is not there.
 * The cache is shrunk first: SLUB counts free objects held in per-CPU slabs
 * as active. (Test guests boot with slab_nomerge, so the module's caches have
 * lines of their own.)
 */
__attribute__((unused))
static long slab_objects(const char *cache)
{
	char line[512], name[128];
	long active = -1, v;
	FILE *f;

	snprintf(line, sizeof(line), "/sys/kernel/slab/%s/shrink", cache);
	write_str(line, "1");
	f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %ld", name, &v) == 2 && !strcmp(name, cache)) {
			active = v;
			break;
		}
	}
	fclose(f);
	return active;
}

/* Read a one-number sysfs or procfs file; -1 on error. */
__attribute__((unused))
static long read_long(const char *path)
{
	char buf[64];
	long v = -1;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		v = strtol(buf, NULL, 10);
	}
	return v;
}


/*
 * The end of the user address space (TASK_SIZE): 2^47 - 4 KiB with 4-level
 * page tables, 2^56 - 4 KiB with 5-level ones (a hint above 2^47 is honoured).
 */
__attribute__((unused))
static uintptr_t user_space_end(void)
{
	void *p = mmap((void *)(1UL << 50), 4096, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return (1UL << 47) - 4096;
	munmap(p, 4096);
	return p == (void *)(1UL << 50) ? (1UL << 56) - 4096 : (1UL << 47) - 4096;
}

/* ---- memory with known content ---- */

/* Anonymous private memory, page aligned; @align: 0 or a power-of-two alignment. */
__attribute__((unused))
static void *anon_map(size_t bytes, size_t align)
{
	size_t len = bytes + align;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		ktest_fatal("mmap %zu bytes", bytes);
	if (align) {
		char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));

		if (a > p)
			munmap(p, a - p);
		munmap(a + bytes, (p + len) - (a + bytes));
		p = a;
	}
	return p;
}

/* Deterministic pseudo-random content for page @i of a set seeded with @seed. */
__attribute__((unused))
static void fill_page(void *page, uint64_t seed, uint64_t i)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 1;
	uint64_t *w = page;

	for (long k = 0; k < ktest_page / 8; k++) {
		x ^= x >> 30;
		x *= 0xbf58476d1ce4e5b9ULL;
		x ^= x >> 27;
		x *= 0x94d049bb133111ebULL;
		x ^= x >> 31;
		w[k] = x;
	}
}

/* Does page @page hold exactly what fill_page(seed, i) wrote? */
__attribute__((unused))
static bool check_page(const void *page, uint64_t seed, uint64_t i)
{
	static char ref[4096];

	fill_page(ref, seed, i);
	return !memcmp(page, ref, ktest_page);
}

/* Microseconds since some fixed point. */
__attribute__((unused))
static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* The path of the module built for the running kernel. */
__attribute__((unused))
static const char *module_path(void)
{
	const char *p = getenv("KSM_MODULE");

	return p ? p : "module/ksm.ko";
}

/* (Re)load the module with @params; returns the shell status. */
__attribute__((unused))
static int module_load(const char *params)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "insmod %s %s", module_path(), params ? params : "");
	return system(cmd);
}

__attribute__((unused))
static int module_unload(void)
{
	return system("rmmod ksm 2>/dev/null");
}

__attribute__((unused))
static bool module_loaded(void)
{
	return access("/sys/module/ksm", F_OK) == 0;
}

/* ---- peer processes ---- */

/*
 * A peer: a child process holding @npages pages of private anonymous memory
 * whose page i holds fill_page(seed, i % period), registered on its own SMA,
 * and a shadow copy of what every byte must be. It obeys commands sent over a
 * pipe, so that a test can act on its memory and check it from the outside.
 */
struct peer {
	pid_t pid;
	int to, from;		/* command pipe, reply pipe */
	char *addr;		/* the peer's memory (same address in test and peer) */
	long npages;
};

enum peer_cmd {
	PEER_CHECK = 1,		/* reply 1 if memory == shadow */
	PEER_WRITE,		/* page, offset, byte: write it to memory and shadow */
	PEER_WRITE_ALL,		/* byte: xor the first byte of every page with it */
	PEER_FILL,		/* page, count, byte: write it to every byte of those pages */
	PEER_MUNMAP,		/* page, count */
	PEER_DONTNEED,		/* page, count (memory reads as zero afterwards) */
	PEER_MPROTECT,		/* page, count, prot */
	PEER_MREMAP,		/* move the whole range elsewhere; reply the new address */
	PEER_CLOSE_SMA,		/* close its SMA fd */
	PEER_EXIT,
};

struct peer_msg {
	int cmd;
	long a, b, c;
};

/* The peer's side: obey commands until PEER_EXIT. @readable: per page, may it be read? */
static void peer_loop(struct peer *p, char *shadow, int sma, int in, int out)
{
	char *readable = malloc(p->npages);
	struct peer_msg m;

	memset(readable, 1, p->npages);
	while (read(in, &m, sizeof(m)) == sizeof(m)) {
		long reply = 0;

		switch (m.cmd) {
		case PEER_CHECK:
			reply = 1;
			for (long i = 0; i < p->npages; i++)
				if (readable[i] && memcmp(p->addr + i * ktest_page,
							  shadow + i * ktest_page, ktest_page))
					reply = 0;
			break;
		case PEER_WRITE:
			p->addr[m.a * ktest_page + m.b] = (char)m.c;
			shadow[m.a * ktest_page + m.b] = (char)m.c;
			break;
		case PEER_FILL:
			memset(p->addr + m.a * ktest_page, (int)m.c, m.b * ktest_page);
			memset(shadow + m.a * ktest_page, (int)m.c, m.b * ktest_page);
			break;
		case PEER_WRITE_ALL:
			for (long i = 0; i < p->npages; i++) {
				p->addr[i * ktest_page] ^= (char)m.a;
				shadow[i * ktest_page] ^= (char)m.a;
			}
			break;
		case PEER_MUNMAP:
			reply = munmap(p->addr + m.a * ktest_page, m.b * ktest_page);
			memset(readable + m.a, 0, m.b);
			break;
		case PEER_DONTNEED:
			reply = madvise(p->addr + m.a * ktest_page, m.b * ktest_page, MADV_DONTNEED);
			memset(shadow + m.a * ktest_page, 0, m.b * ktest_page);
			break;
		case PEER_MPROTECT:
			reply = mprotect(p->addr + m.a * ktest_page, m.b * ktest_page, (int)m.c);
			memset(readable + m.a, !!(m.c & PROT_READ), m.b);
			break;
		case PEER_MREMAP: {
			char *dst = mmap(NULL, p->npages * ktest_page, PROT_NONE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			char *q = mremap(p->addr, p->npages * ktest_page, p->npages * ktest_page,
					 MREMAP_MAYMOVE | MREMAP_FIXED, dst);

			if (q != MAP_FAILED)
				p->addr = q;
			reply = (long)(uintptr_t)p->addr;
			break;
		}
		case PEER_CLOSE_SMA:
			reply = close(sma);
			break;
		case PEER_EXIT:
			_exit(0);
		}
		if (write(out, &reply, sizeof(reply)) != sizeof(reply))
			_exit(2);
	}
	_exit(0);
}

/* Send a command to @p and return its reply (-1 if the peer is gone). */
__attribute__((unused))
static long peer_cmd(struct peer *p, int cmd, long a, long b, long c)
{
	struct peer_msg m = { .cmd = cmd, .a = a, .b = b, .c = c };
	long reply = -1;

	if (write(p->to, &m, sizeof(m)) != sizeof(m))
		return -1;
	if (cmd == PEER_EXIT)
		return 0;
	if (read(p->from, &reply, sizeof(reply)) != sizeof(reply))
		return -1;
	return reply;
}

/*
 * The merge domain the next peers' SMAs get (KSM_SMA_SET_DOMAIN before they
 * register); KSM_DOMAIN_DEFAULT leaves it alone.
 */
static uint32_t peer_domain = KSM_DOMAIN_DEFAULT;

/* The NUMA node the next peers' memory is bound to (mbind MPOL_BIND), or -1. */
static int peer_node = -1;

/*
 * Start a peer with @npages pages (aligned to @align when non-zero; @thp > 0:
 * MADV_HUGEPAGE, < 0: MADV_NOHUGEPAGE) holding fill_page(seed, i % period),
 * registered on an SMA of /dev/ksm fd @dev unless @dev < 0.
 */
__attribute__((unused))
static struct peer peer_start_ex(int dev, long npages, uint64_t seed, long period, size_t align,
				 int thp)
{
	int to[2], from[2];
	struct peer p = { .npages = npages };

	if (pipe(to) || pipe(from))
		ktest_fatal("pipe");
	p.addr = anon_map(npages * ktest_page, align);
	p.pid = fork();
	if (p.pid < 0)
		ktest_fatal("fork");
	if (!p.pid) {
		char *shadow = malloc(npages * ktest_page);
		int sma = -1;

		close(to[1]);
		close(from[0]);
		if (thp && madvise(p.addr, npages * ktest_page, thp > 0 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
			_exit(5);
		if (peer_node >= 0) {
			unsigned long mask = 1UL << peer_node;

			/*
			 * MPOL_BIND (2) on the range itself: faults made by other
			 * processes (an unmerge) follow a VMA policy, not a task one.
			 */
			if (syscall(SYS_mbind, p.addr, npages * ktest_page, 2, &mask, sizeof(mask) * 8, 0))
				_exit(7);
		}
		for (long i = 0; i < npages; i++)
			fill_page(p.addr + i * ktest_page, seed, i % period);
		memcpy(shadow, p.addr, npages * ktest_page);
		if (dev >= 0) {
			struct ksm_domain d = { .domain = peer_domain };

			sma = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
			if (sma < 0)
				_exit(3);
			if (peer_domain != KSM_DOMAIN_DEFAULT && ioctl(sma, KSM_SMA_SET_DOMAIN, &d))
				_exit(6);
			if (ksm_register(sma, p.addr, npages))
				_exit(3);
		}
		/* Hold no fd of the test's (they would keep the module in use). */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != to[0] && fd != from[1] && fd != sma)
				close(fd);
		long ready = 1;

		if (write(from[1], &ready, sizeof(ready)) != sizeof(ready))
			_exit(4);
		peer_loop(&p, shadow, sma, to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	p.to = to[1];
	p.from = from[0];
	munmap(p.addr, npages * ktest_page);	/* the test's own copy is not used */
	long ready = 0;

	if (read(p.from, &ready, sizeof(ready)) != sizeof(ready) || ready != 1)
		ktest_fatal("peer did not start");
	return p;
}

__attribute__((unused))
static struct peer peer_start(int dev, long npages, uint64_t seed, long period)
{
	return peer_start_ex(dev, npages, seed, period, 0, 0);
}

/* Is the peer's memory exactly its shadow? */
__attribute__((unused))
static bool peer_check(struct peer *p)
{
	return peer_cmd(p, PEER_CHECK, 0, 0, 0) == 1;
}

/* Stop the peer and reap it; returns its exit status. */
__attribute__((unused))
static int peer_stop(struct peer *p)
{
	int st = -1;

	peer_cmd(p, PEER_EXIT, 0, 0, 0);
	waitpid(p->pid, &st, 0);
	close(p->to);
	close(p->from);
	return st;
}

/* pfn of page @i of a peer (0 if not present). */
__attribute__((unused))
static uint64_t peer_pfn(struct peer *p, long i)
{
	return pagemap_pfn(p->pid, p->addr + i * ktest_page);
}

/* How many pages @i of @a and @b map the same pfn. */
__attribute__((unused))
static long peers_shared(struct peer *a, struct peer *b)
{
	long n = 0;

	for (long i = 0; i < a->npages && i < b->npages; i++) {
		uint64_t x = peer_pfn(a, i);

		n += x && x == peer_pfn(b, i);
	}
	return n;
}

/* Wait (up to @ms) for a condition re-evaluated every 10 ms. */
#define KTEST_WAIT(cond, ms)							\
	({									\
		bool __ok = false;						\
		for (int __i = 0; __i <= (ms) / 10; __i++) {			\
			if ((cond)) {						\
				__ok = true;					\
				break;						\
			}							\
			usleep(10000);						\
		}								\
		__ok;								\
	})

#endif /* KTEST_H */
