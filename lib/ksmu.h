/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmu.h - the userspace helpers that the tests (tests/), the benchmark
 * (bench/) and anything else of the project's own that drives /dev/ksm from
 * userspace share: page content that can be checked, anonymous memory,
 * /dev/ksm and its ioctls, files of /proc and /sys (the built-in KSM's
 * /sys/kernel/mm/ksm among them), /proc/PID/pagemap and /proc/kpageflags,
 * child processes, and QEMU processes (starting one, finding its guest RAM).
 *
 * Header-only, like tests/lib/ktest.h: a program includes it and needs no
 * library to link (build with -Ilib; the top Makefile's KSMU_CFLAGS). Nothing
 * here prints or exits: a call that fails returns -1, NULL or 0 as it says,
 * with errno set, and the program decides (the tests' ktest.h makes a failed
 * precondition a TAP "not ok ... FATAL", the benchmark's die() exits).
 *
 * Not for the shipped tools (tools/): ksmctl and the preload library keep
 * their own, smaller code.
 */
#ifndef KSMU_H
#define KSMU_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kernel-page-flags.h>	/* KPF_ANON, KPF_KSM, KPF_THP, ... */
#include <linux/ksm.h>

/* The counters of struct ksm_stats and the skip reasons, by name: from the one list. */
__attribute__((unused))
static const struct {
	const char *name;
	size_t offset;
} ksmu_stat_fields[] = {
#define KSM_STAT(field, ...) { #field, offsetof(struct ksm_stats, field) },
#include <linux/ksm_stat_list.h>
};

__attribute__((unused))
static const char *const ksmu_skip_names[KSM_SKIP_NR] = {
#define KSM_SKIP_REASON(name, reason, ...) [reason] = #name,
#include <linux/ksm_stat_list.h>
};

/* The page size the module and everything here work with (x86-64). */
#define KSMU_PAGE_SIZE 4096L

/* ---- time ---- */

/* Seconds since some fixed point (CLOCK_MONOTONIC). */
static inline double ksmu_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- pseudo-random numbers and page content ---- */

/* splitmix64: the next number of the small, reproducible generator whose state is *@state. */
static inline uint64_t ksmu_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * The content of page @index of the set @seed, word by word: xorshift64 from
 * a mix of (seed, index), forced odd. Cheap (it matters under TCG); the same
 * for the same arguments; never a zero word (xorshift64 never leaves a
 * non-zero state), so never an all-zero page; and two pages whose starting
 * states differ differ in every word, so no comparison stops early by luck.
 */
static inline uint64_t ksmu_page_state(uint64_t seed, uint64_t index)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (index + 1) * 0xbf58476d1ce4e5b9ULL;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 29;
	return x | 1;
}

static inline uint64_t ksmu_page_next(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/* Write the content of page @index of set @seed to @page (KSMU_PAGE_SIZE bytes, any alignment). */
static inline void ksmu_fill_page(void *page, uint64_t seed, uint64_t index)
{
	uint64_t x = ksmu_page_state(seed, index);
	char *p = page;

	for (long k = 0; k < KSMU_PAGE_SIZE; k += 8) {
		x = ksmu_page_next(x);
		memcpy(p + k, &x, 8);
	}
}

/* Does @page hold exactly what ksmu_fill_page(@seed, @index) writes? */
static inline bool ksmu_check_page(const void *page, uint64_t seed, uint64_t index)
{
	uint64_t x = ksmu_page_state(seed, index);
	const char *p = page;

	for (long k = 0; k < KSMU_PAGE_SIZE; k += 8) {
		x = ksmu_page_next(x);
		if (memcmp(p + k, &x, 8))
			return false;
	}
	return true;
}

/*
 * Fill @npages pages at @mem: page i with ksmu_fill_page(@seed, i % @period)
 * (a @period of 1: every page alike; @npages or more: all distinct); a
 * @period of 0 writes zeroes (pages present, all zero).
 */
static inline void ksmu_fill_pages(void *mem, long npages, uint64_t seed, long period)
{
	char *p = mem;

	for (long i = 0; i < npages; i++) {
		if (period)
			ksmu_fill_page(p + i * KSMU_PAGE_SIZE, seed, (uint64_t)(i % period));
		else
			memset(p + i * KSMU_PAGE_SIZE, 0, KSMU_PAGE_SIZE);
	}
}

/* The first of @npages pages at @mem that does not hold what ksmu_fill_pages() wrote, or -1. */
static inline long ksmu_check_pages(const void *mem, long npages, uint64_t seed, long period)
{
	static const char zero[KSMU_PAGE_SIZE];
	const char *p = mem;

	for (long i = 0; i < npages; i++) {
		const char *page = p + i * KSMU_PAGE_SIZE;

		if (period ? !ksmu_check_page(page, seed, (uint64_t)(i % period))
			   : memcmp(page, zero, KSMU_PAGE_SIZE) != 0)
			return i;
	}
	return -1;
}

/* ---- anonymous memory ---- */

/*
 * @bytes of private anonymous memory, read-write; @align: 0, or a power of
 * two to align the start to (a huge page: 2 MiB); @thp > 0: MADV_HUGEPAGE,
 * < 0: MADV_NOHUGEPAGE, 0: as the system has it. NULL on failure (also when
 * huge pages are asked for and the kernel has no THP, as PREEMPT_RT ones:
 * there MADV_NOHUGEPAGE is EINVAL and has nothing to turn off).
 */
static inline void *ksmu_map_anon(size_t bytes, size_t align, int thp)
{
	size_t len = bytes + align;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (align) {
		char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));

		if (a > p)
			munmap(p, a - p);
		munmap(a + bytes, (p + len) - (a + bytes));
		p = a;
	}
	if (thp && madvise(p, bytes, thp > 0 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) &&
	    !(thp < 0 && errno == EINVAL)) {
		int err = errno;

		munmap(p, bytes);
		errno = err;
		return NULL;
	}
	return p;
}

/* ---- /dev/ksm ---- */

/* Wait up to 5 s for /dev/ksm (devtmpfs creates it asynchronously after a load). */
static inline bool ksmu_dev_wait(void)
{
	for (int i = 0; i < 500; i++) {
		if (access("/dev/ksm", F_OK) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* /dev/ksm, read-write and close-on-exec; -1 on failure. */
static inline int ksmu_dev_open(void)
{
	return open("/dev/ksm", O_RDWR | O_CLOEXEC);
}

/* A new shared memory area (SMA) fd of /dev/ksm fd @dev, or -1. */
static inline int ksmu_sma_create(int dev)
{
	return ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
}

/* A new scan fd (a scanner with a cursor of its own) of /dev/ksm fd @dev, or -1. */
static inline int ksmu_scan_create(int dev)
{
	return ioctl(dev, KSM_CREATE_SCAN);
}

/* Register [@addr, @addr + @npages pages) on SMA @sma: the ioctl's result (0 or -1). */
static inline int ksmu_register(int sma, const void *addr, unsigned long npages)
{
	struct ksm_memory_region r = { .npages = (uint32_t)npages, .addr = (uintptr_t)addr };

	return ioctl(sma, KSM_REGISTER_MEMORY_REGION, &r);
}

/* One synchronous scan of @pages pages on scan fd @scan: pages merged, or -1. */
static inline long ksmu_scan_pages(int scan, unsigned long pages)
{
	struct ksm_scan_ext s = { .pages_to_scan = (uint32_t)pages };

	if (ioctl(scan, KSM_SCAN_EXT, &s))
		return -1;
	return (long)s.pages_merged;
}

/* Scan to the end of the current pass over all regions: pages merged, or -1. */
static inline long ksmu_scan_pass(int scan)
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

/* Whole passes until one merges nothing (at most @max_passes): pages merged in all, or -1. */
static inline long ksmu_scan_settle(int scan, int max_passes)
{
	long total = 0;

	for (int i = 0; i < max_passes; i++) {
		long merged = ksmu_scan_pass(scan);

		if (merged < 0)
			return -1;
		total += merged;
		if (!merged)
			break;
	}
	return total;
}

/* The module's counters (KSM_GET_STATS): 0, or -1. */
static inline int ksmu_stats(int dev, struct ksm_stats *st)
{
	memset(st, 0, sizeof(*st));
	return ioctl(dev, KSM_GET_STATS, st);
}

/*
 * KSMU_CONFIG(dev, change): read the module's settings into struct ksm_config
 * __c, evaluate @change (e.g. __c.smart_scan = 1), write them back. 0, or -1.
 */
#define KSMU_CONFIG(dev, change)						\
	({									\
		struct ksm_config __c;						\
		int __r = ioctl((dev), KSM_GET_CONFIG, &__c);			\
		if (!__r) {							\
			change;							\
			__r = ioctl((dev), KSM_SET_CONFIG, &__c);		\
		}								\
		__r;								\
	})

/* ---- files of /proc and /sys ---- */

/* The built-in KSM's sysfs directory: KSMU_BUILTIN_DIR "run" is its run file. */
#define KSMU_BUILTIN_DIR "/sys/kernel/mm/ksm/"

/* Read at most @len - 1 bytes of @path into @buf, NUL-terminated: bytes read, or -1. */
static inline ssize_t ksmu_read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* The number a one-number file (sysfs, procfs) starts with, in *@value: 0, or -1. */
static inline int ksmu_read_num(const char *path, long *value)
{
	char buf[64];

	if (ksmu_read_str(path, buf, sizeof(buf)) <= 0)
		return -1;
	*value = strtol(buf, NULL, 10);
	return 0;
}

/* The same as a value: the number, or -1 when the file cannot be read. */
static inline long ksmu_read_long(const char *path)
{
	long v;

	return ksmu_read_num(path, &v) ? -1 : v;
}

/* Write @s to @path in one write(2): 0, or -1. */
static inline int ksmu_write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/*
 * The selected word of a sysfs choice file ("always [madvise] never" ->
 * "madvise") in @out: 0, or -1 (@out empty) when it cannot be read or has none.
 */
static inline int ksmu_read_choice(const char *path, char *out, size_t len)
{
	char buf[256], *a, *b;

	out[0] = '\0';
	if (ksmu_read_str(path, buf, sizeof(buf)) <= 0 || !(a = strchr(buf, '[')) ||
	    !(b = strchr(a, ']')))
		return -1;
	*b = '\0';
	snprintf(out, len, "%s", a + 1);
	return 0;
}

/* A "Key:   value ..." line of a /proc file (status, meminfo, smaps_rollup): the value, or -1. */
static inline long ksmu_proc_kb(const char *path, const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen(path, "re");

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

/* A line of /proc/PID/status (@pid 0: this process) in kB ("RssAnon"), or -1. */
static inline long ksmu_status_kb(pid_t pid, const char *key)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	return ksmu_proc_kb(path, key);
}

/*
 * Free memory in kB as the page allocator sees it: MemFree plus the pages
 * waiting in per-CPU free lists (which MemFree leaves out), from /proc/zoneinfo.
 */
static inline long ksmu_free_kb(void)
{
	char line[256];
	long pages = 0, v;
	FILE *f = fopen("/proc/zoneinfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nr_free_pages %ld", &v) == 1 ||
		    sscanf(line, " count: %ld", &v) == 1)
			pages += v;
	}
	fclose(f);
	return pages * (KSMU_PAGE_SIZE / 1024);
}

/*
 * Active objects of a slab cache in /proc/slabinfo; -1 if it is not there.
 * The cache is shrunk first: SLUB counts free objects held in per-CPU slabs
 * as active. (Test guests boot with slab_nomerge, so the module's caches have
 * lines of their own.)
 */
static inline long ksmu_slab_objects(const char *cache)
{
	char line[512], name[128];
	long active = -1, v;
	FILE *f;

	snprintf(line, sizeof(line), "/sys/kernel/slab/%s/shrink", cache);
	ksmu_write_str(line, "1");
	f = fopen("/proc/slabinfo", "re");
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

/* Field @n of /proc/PID/stat, numbered as in proc(5): 3 or more (after the command name); or -1. */
static inline long ksmu_stat_field(pid_t pid, int n)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (n < 3 || ksmu_read_str(path, buf, sizeof(buf)) <= 0)
		return -1;
	p = strrchr(buf, ')');	/* field 2, the command name, may hold spaces */
	for (int f = 2; p && f < n; f++)
		p = strchr(p + 1, ' ');
	return p ? strtol(p + 1, NULL, 10) : -1;
}

/* PF_KTHREAD in the flags of /proc/PID/stat (field 9): a kernel thread. */
#define KSMU_PF_KTHREAD 0x00200000

/*
 * The pid of the kernel thread called @comm (ksmd, kksmd), or 0. Processes
 * of that name are passed over (a test program may be called kksmd too).
 */
static inline pid_t ksmu_find_kthread(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && !found && (e = readdir(d))) {
		char path[300], name[64];

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (ksmu_read_str(path, name, sizeof(name)) <= 0)
			continue;
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, comm) && (ksmu_stat_field(atoi(e->d_name), 9) & KSMU_PF_KTHREAD))
			found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

/* ---- /proc/PID/pagemap and /proc/kpageflags (root only) ---- */

/* The raw pagemap entries of @npages pages from @addr of process @pid (0: self): @npages or -1 */
static inline long ksmu_pagemap_read(pid_t pid, uintptr_t addr, long npages, uint64_t *entries)
{
	char path[64];
	size_t want = npages * sizeof(uint64_t), got = 0;
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < want) {
		ssize_t n = pread(fd, (char *)entries + got, want - got,
				  (off_t)(addr / KSMU_PAGE_SIZE * sizeof(uint64_t) + got));

		if (n <= 0) {
			close(fd);
			return -1;
		}
		got += n;
	}
	close(fd);
	return npages;
}

#define KSMU_PM_PRESENT (1ULL << 63)
#define KSMU_PM_EXCLUSIVE (1ULL << 56)
#define KSMU_PM_SOFT_DIRTY (1ULL << 55)
#define KSMU_PM_UFFD_WP (1ULL << 57)	/* since 5.13 */
#define KSMU_PM_PFN_MASK ((1ULL << 55) - 1)

/*
 * The pfns mapped at @npages pages from @addr of process @pid (0: this one),
 * 0 where no page is present: @npages, or -1.
 */
static inline long ksmu_pagemap_pfns(pid_t pid, uintptr_t addr, long npages, uint64_t *pfns)
{
	if (ksmu_pagemap_read(pid, addr, npages, pfns) < 0)
		return -1;
	for (long i = 0; i < npages; i++)
		pfns[i] = (pfns[i] & KSMU_PM_PRESENT) ? pfns[i] & KSMU_PM_PFN_MASK : 0;
	return npages;
}

/* The pfn mapped at @addr of process @pid (0: this one), or 0 if none (or unreadable). */
static inline uint64_t ksmu_pagemap_pfn(pid_t pid, const void *addr)
{
	uint64_t pfn;

	return ksmu_pagemap_pfns(pid, (uintptr_t)addr, 1, &pfn) < 0 ? 0 : pfn;
}

/* Is the page at @addr of process @pid (0: this one) mapped exclusively (pagemap bit 56)? */
static inline bool ksmu_pagemap_exclusive(pid_t pid, const void *addr)
{
	uint64_t e;

	return ksmu_pagemap_read(pid, (uintptr_t)addr, 1, &e) == 1 && (e & KSMU_PM_EXCLUSIVE);
}

/*
 * How many of @npages pages at @a of process @pid_a and at @b of @pid_b (0:
 * this one) map the same pfn, page by page; -1 if a pagemap cannot be read.
 */
static inline long ksmu_same_pfns(pid_t pid_a, uintptr_t a, pid_t pid_b, uintptr_t b, long npages)
{
	uint64_t *pa = malloc(npages * sizeof(*pa)), *pb = malloc(npages * sizeof(*pb));
	long same = -1;

	if (pa && pb && ksmu_pagemap_pfns(pid_a, a, npages, pa) >= 0 &&
	    ksmu_pagemap_pfns(pid_b, b, npages, pb) >= 0) {
		same = 0;
		for (long i = 0; i < npages; i++)
			same += pa[i] && pa[i] == pb[i];
	}
	free(pa);
	free(pb);
	return same;
}

/* The /proc/kpageflags word of @pfn (bits KPF_*), or 0. */
static inline uint64_t ksmu_kpageflags(uint64_t pfn)
{
	uint64_t f = 0;
	int fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, &f, sizeof(f), (off_t)(pfn * sizeof(f))) != sizeof(f))
		f = 0;
	close(fd);
	return f;
}

/* ---- processes ---- */

/*
 * Start @argv (NULL-terminated; argv[0] looked up on PATH) as a child at
 * nice @nice, stdin from /dev/null, stdout and stderr to @log (truncated).
 * Its pid, or -1.
 */
static inline pid_t ksmu_spawn(const char *const *argv, const char *log, int nice)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (!pid) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		setpriority(PRIO_PROCESS, 0, nice);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Stop child @pid: SIGTERM, then SIGKILL after 10 s. Its wait status. */
static inline int ksmu_terminate(pid_t pid)
{
	int status = 0;

	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return status;
}

/* Read @len bytes at @addr of process @pid (/proc/PID/mem): true if all were read. */
static inline bool ksmu_read_mem(pid_t pid, uintptr_t addr, void *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len;
}

/* Does process @pid hold the @len bytes of @want at @addr? */
static inline bool ksmu_holds(pid_t pid, uintptr_t addr, const void *want, size_t len)
{
	char *buf = malloc(len);
	bool same = buf && ksmu_read_mem(pid, addr, buf, len) && !memcmp(buf, want, len);

	free(buf);
	return same;
}

/* How many SMA fds process @pid (0: this one) holds (the preload library: one a region), or -1. */
static inline int ksmu_sma_fds(pid_t pid)
{
	char dir[64], path[PATH_MAX], target[64];
	struct dirent *d;
	int n = 0;
	DIR *dp;

	if (pid)
		snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	else
		snprintf(dir, sizeof(dir), "/proc/self/fd");
	dp = opendir(dir);
	if (!dp)
		return -1;
	while ((d = readdir(dp))) {
		ssize_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += !strcmp(target, "anon_inode:ksm-sma");
	}
	closedir(dp);
	return n;
}

/* The one-byte message that carries an fd (SCM_RIGHTS): ksmu_send_fd(), ksmu_recv_fd(). */
struct ksmu_fd_msg {
	char byte;
	struct iovec iov;
	struct msghdr msg;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
};

static inline struct msghdr *ksmu_fd_msg_init(struct ksmu_fd_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->byte = 'F';
	m->iov.iov_base = &m->byte;
	m->iov.iov_len = 1;
	m->msg.msg_iov = &m->iov;
	m->msg.msg_iovlen = 1;
	m->msg.msg_control = m->ctl.buf;
	m->msg.msg_controllen = sizeof(m->ctl.buf);
	return &m->msg;
}

/* Pass fd @fd over the Unix socket @sock: 0, or -1. */
static inline int ksmu_send_fd(int sock, int fd)
{
	struct ksmu_fd_msg m;
	struct msghdr *msg = ksmu_fd_msg_init(&m);
	struct cmsghdr *cm = CMSG_FIRSTHDR(msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, msg, 0) == 1 ? 0 : -1;
}

/* An fd passed by ksmu_send_fd() over @sock, or -1. */
static inline int ksmu_recv_fd(int sock)
{
	struct ksmu_fd_msg m;
	struct msghdr *msg = ksmu_fd_msg_init(&m);
	struct cmsghdr *cm;
	int fd = -1;

	if (recvmsg(sock, msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* ---- QEMU ---- */

/*
 * Start QEMU: `@ksmctl run -- @qemu ARGS...' (the preload library registers
 * the guest RAM QEMU madvises MERGEABLE), or `@qemu ARGS...' alone when
 * @ksmctl is NULL. @args is NULL-terminated. At nice 10 (a TCG vCPU must not
 * starve the scanners and the caller), stdin from /dev/null, stdout and
 * stderr to @log. Returns the pid (ksmctl execs QEMU: it is QEMU's), or -1.
 */
static inline pid_t ksmu_qemu_start(const char *ksmctl, const char *qemu, const char *const *args,
				    const char *log)
{
	const char *argv[64];
	int argc = 0;

	if (ksmctl) {
		argv[argc++] = ksmctl;
		argv[argc++] = "run";
		argv[argc++] = "--";
	}
	argv[argc++] = qemu;
	for (; *args; args++) {
		if (argc == 63) {
			errno = E2BIG;
			return -1;
		}
		argv[argc++] = *args;
	}
	argv[argc] = NULL;
	return ksmu_spawn(argv, log, 10);
}

/*
 * The guest RAM of QEMU @pid: the biggest private anonymous read-write
 * mapping of /proc/PID/maps that is about @size bytes (at least @size, less
 * than twice). Returns its start, or 0 (not mapped yet).
 */
static inline uintptr_t ksmu_qemu_find_ram(pid_t pid, uint64_t size)
{
	char path[64], line[512];
	uintptr_t best = 0;
	uint64_t best_len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e, inode;
		char perms[8];
		int name = 0;

		if (sscanf(line, "%lx-%lx %7s %*x %*s %lu %n", &s, &e, perms, &inode, &name) < 4)
			continue;
		if (strcmp(perms, "rw-p") || inode || (name && line[name] && line[name] != '\n'))
			continue;
		if (e - s >= size && e - s < 2 * size && e - s > best_len) {
			best = s;
			best_len = e - s;
		}
	}
	fclose(f);
	return best;
}

/*
 * Wait up to @seconds for QEMU @pid (a child) to have its guest RAM of
 * @ram_size bytes mapped, registered with /dev/ksm when @registered (it
 * holds an SMA fd), and holding the @len bytes of @want at guest-physical
 * @gpa; polled every 0.2 s. Returns the RAM's host address; 0 with errno
 * ESRCH when QEMU exited (it is reaped), or ETIMEDOUT.
 */
static inline uintptr_t ksmu_qemu_wait_ready(pid_t pid, uint64_t ram_size, uint64_t gpa,
					     const void *want, size_t len, bool registered,
					     double seconds)
{
	double end = ksmu_now_s() + seconds;

	for (;;) {
		uintptr_t ram = ksmu_qemu_find_ram(pid, ram_size);

		if (waitpid(pid, NULL, WNOHANG) != 0) {
			errno = ESRCH;
			return 0;
		}
		if (ram && (!registered || ksmu_sma_fds(pid) > 0) &&
		    ksmu_holds(pid, ram + gpa, want, len))
			return ram;
		if (ksmu_now_s() >= end) {
			errno = ETIMEDOUT;
			return 0;
		}
		usleep(200000);
	}
}

#endif /* KSMU_H */
