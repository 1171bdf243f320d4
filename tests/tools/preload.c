// SPDX-License-Identifier: GPL-2.0
/*
 * preload - libksm-preload.so, through `ksmctl run', seen from the outside.
 *
 * The test starts copies of itself in "agent" mode under `ksmctl run' (so
 * with the preload library) and drives them over a pipe: map memory, fill
 * it, madvise() it, fork, malloc. It checks what happened with the module's
 * counters (KSM_GET_STATS regions / region_pages), the agents' SMA fds in
 * /proc/PID/fd, their VmFlags in /proc/PID/smaps (built-in KSM's "mg"), and
 * merging through /proc/PID/pagemap after synchronous scans. The merge
 * domains of `ksmctl run --domain' are checked the same way: which agents'
 * pages end up sharing a pfn.
 */
#include "ktest.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#define PAGE ((size_t)ktest_page)

/* ======================================================================= */
/* The agent: runs under the preload library, obeys one command per line.  */
/* ======================================================================= */

/*
 * Page i of @npages pages of the agent's memory holds ksmu_fill_page(seed, i),
 * or page 0's content when "same": a period of 1.
 */
static long agent_period(unsigned long npages, unsigned long same)
{
	return same ? 1 : (long)npages;
}

/* ---- forktest: fork while other threads malloc and madvise ---- */

static volatile int forktest_stop;

/* Thread: malloc and free, small and big (mmap'ed) blocks, until told to stop. */
static void *forktest_malloc(void *arg)
{
	unsigned int seed = 1;

	(void)arg;
	while (!forktest_stop) {
		size_t n = (rand_r(&seed) % 4) ? (size_t)(rand_r(&seed) % 4096) + 1 : 300 * 1024;
		char *p = malloc(n);

		if (p) {
			memset(p, 0x5a, n);
			free(p);
		}
	}
	return NULL;
}

/* Thread: madvise a mapping mergeable and unmergeable, over and over. */
static void *forktest_madvise(void *arg)
{
	char *m = arg;

	while (!forktest_stop) {
		madvise(m, 64 * PAGE, MADV_MERGEABLE);
		madvise(m + 16 * PAGE, 16 * PAGE, MADV_UNMERGEABLE);
		madvise(m, 64 * PAGE, MADV_UNMERGEABLE);
	}
	return NULL;
}

/* In a fork child: scan every registered page until a pass merges nothing; false on error. */
static bool child_settle(void)
{
	int d = ksmu_dev_open(), sfd;
	bool ok;

	if (d < 0)
		return false;
	sfd = ksmu_scan_create(d);
	ok = sfd >= 0 && ksmu_scan_settle(sfd, 8) >= 0;
	if (sfd >= 0)
		close(sfd);
	close(d);
	return ok;
}

/* In a fork child: do the @npages identical pages at @p share one pfn (are they merged)? */
static bool child_merged(const char *p, unsigned long npages)
{
	uint64_t first = ksmu_pagemap_pfn(0, p);

	for (unsigned long i = 1; i < npages; i++) {
		if (!first || ksmu_pagemap_pfn(0, p + i * PAGE) != first)
			return false;
	}
	return first != 0;
}

/*
 * Fork @n children while two threads malloc and madvise. Each child mallocs
 * and frees, writes its copy of a mapping the parent madvised before the
 * forks, and madvises a mapping of its own, all with identical pages. With
 * @check_merge (not under KSM_PRELOAD_ALL, which would register them anyway),
 * it scans and checks that both got merged: the inherited registration was
 * redone for the child's memory, and its own madvise worked. Returns the
 * number of children that failed, or -1 if one hung.
 */
static int agent_forktest(int n, bool check_merge)
{
	pthread_t t1, t2;
	int failed = 0;
	char *shared_m = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *kept = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);

	if (shared_m == MAP_FAILED || kept == MAP_FAILED)
		return n;
	memset(shared_m, 1, 64 * PAGE);
	memset(kept, 2, 8 * PAGE);
	madvise(kept, 8 * PAGE, MADV_MERGEABLE);	/* stays registered: inherited */
	forktest_stop = 0;
	pthread_create(&t1, NULL, forktest_malloc, NULL);
	pthread_create(&t2, NULL, forktest_madvise, shared_m);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0) {
			failed++;
			continue;
		}
		if (!pid) {
			char *p = malloc(200 * 1024), *m;

			alarm(20);
			if (!p)
				_exit(3);
			memset(p, 3, 200 * 1024);
			free(p);
			memset(kept, 5, 8 * PAGE);	/* the child's own pages now (COW) */
			m = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				_exit(4);
			memset(m, 4, 16 * PAGE);
			if (madvise(m, 16 * PAGE, MADV_MERGEABLE))
				_exit(5);
			if (check_merge && !child_settle())
				_exit(6);
			if (check_merge && !child_merged(kept, 8))
				_exit(7);
			if (check_merge && !child_merged(m, 16))
				_exit(8);
			_exit(0);
		}
		for (int w = 0; w < 300; w++) {	/* 30 s at most */
			pid_t r = waitpid(pid, &status, WNOHANG);

			if (r == pid)
				break;
			if (w == 299) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				forktest_stop = 1;
				return -1;
			}
			usleep(100000);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "forktest: child %d: status 0x%x\n", i, status);
			failed++;
		}
	}
	forktest_stop = 1;
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	return failed;
}

/*
 * The agent's loop: read a command from stdin, answer one line on stdout.
 *   map N | mapshared N        -> addr HEX
 *   fill ADDR N SEED SAME      -> ok
 *   check ADDR N SEED SAME     -> ok | bad PAGE
 *   madvise ADDR LEN m|u       -> ret R errno E
 *   munmap ADDR N              -> ok
 *   malloc BYTES SEED          -> addr HEX npages N (the whole pages inside, filled alike)
 *   free ADDR                  -> ok (ADDR as returned by malloc)
 *   forktest N MERGECHECK      -> failed N
 *   exit
 */
static int agent_main(void)
{
	char line[256], cmd[32];
	void *last_malloc = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long a = 0, n = 0, seed = 0, same = 0;
		char adv = 0;

		if (sscanf(line, "%31s", cmd) != 1)
			continue;
		if (!strcmp(cmd, "map") || !strcmp(cmd, "mapshared")) {
			sscanf(line, "%*s %lu", &n);
			void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
				       (cmd[3] ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
			printf("addr %lx\n", p == MAP_FAILED ? 0UL : (unsigned long)p);
		} else if (!strcmp(cmd, "fill")) {
			sscanf(line, "%*s %lx %lu %lu %lu", &a, &n, &seed, &same);
			ksmu_fill_pages((char *)a, (long)n, seed, agent_period(n, same));
			printf("ok\n");
		} else if (!strcmp(cmd, "check")) {
			sscanf(line, "%*s %lx %lu %lu %lu", &a, &n, &seed, &same);
			long bad = ksmu_check_pages((char *)a, (long)n, seed, agent_period(n, same));

			if (bad < 0)
				printf("ok\n");
			else
				printf("bad %ld\n", bad);
		} else if (!strcmp(cmd, "madvise")) {
			sscanf(line, "%*s %lx %lu %c", &a, &n, &adv);
			errno = 0;
			int r = madvise((void *)a, n, adv == 'm' ? MADV_MERGEABLE : MADV_UNMERGEABLE);

			printf("ret %d errno %d\n", r, r ? errno : 0);
		} else if (!strcmp(cmd, "munmap")) {
			sscanf(line, "%*s %lx %lu", &a, &n);
			munmap((void *)a, n * PAGE);
			printf("ok\n");
		} else if (!strcmp(cmd, "malloc")) {
			sscanf(line, "%*s %lu %lu", &n, &seed);
			char *p = malloc(n);
			uintptr_t first = ((uintptr_t)p + PAGE - 1) & ~(PAGE - 1);
			unsigned long pages = p ? ((uintptr_t)p + n - first) / PAGE : 0;

			last_malloc = p;
			ksmu_fill_pages((char *)first, (long)pages, seed, 1);
			printf("addr %lx npages %lu\n", (unsigned long)first, pages);
		} else if (!strcmp(cmd, "free")) {
			free(last_malloc);
			last_malloc = NULL;
			printf("ok\n");
		} else if (!strcmp(cmd, "forktest")) {
			sscanf(line, "%*s %lu %lu", &n, &same);
			printf("failed %d\n", agent_forktest((int)n, same));
		} else if (!strcmp(cmd, "vmas")) {
			/* n ranges of one writable page, each followed by an inaccessible one. */
			sscanf(line, "%*s %lu", &n);
			char *p = mmap(NULL, 2 * n * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			unsigned long made = 0;

			for (unsigned long i = 0; p != MAP_FAILED && i < n; i++)
				made += !mprotect(p + 2 * i * PAGE, PAGE, PROT_READ | PROT_WRITE);
			printf("made %lu\n", made);
		} else if (!strcmp(cmd, "openfiles")) {
			/* How many files the program itself can open (at most n, 1024), closed again. */
			int fds[1024];
			unsigned long got = 0;

			sscanf(line, "%*s %lu", &n);
			while (got < n && got < 1024) {
				int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

				if (fd < 0)
					break;
				fds[got++] = fd;
			}
			for (unsigned long i = 0; i < got; i++)
				close(fds[i]);
			printf("opened %lu\n", got);
		} else if (!strcmp(cmd, "stealdev")) {
			/* Put /dev/null on the fd the library has /dev/ksm open on, as dup2() would. */
			char path[64], target[64];
			int null = open("/dev/null", O_RDONLY | O_CLOEXEC), stolen = -1;

			for (int fd = 0; fd < 4096 && null >= 0; fd++) {
				ssize_t len;

				snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
				len = readlink(path, target, sizeof(target) - 1);
				if (len > 0 && (target[len] = '\0', !strcmp(target, "/dev/ksm")) &&
				    dup2(null, fd) == fd) {
					stolen = fd;
					break;
				}
			}
			if (null >= 0)
				close(null);
			printf("stolen %d\n", stolen);
		} else if (!strcmp(cmd, "exit")) {
			return 0;
		} else {
			printf("unknown %s\n", cmd);
		}
	}
	return 0;
}

/* ======================================================================= */
/* The test.                                                               */
/* ======================================================================= */

static int dev;
static int scan_fd;
static struct ksm_features features;

struct agent {
	pid_t pid;
	FILE *in;	/* its stdin */
	FILE *out;	/* its stdout */
	char log[64];	/* its stderr */
};

/*
 * Start an agent: `ksmctl run OPTS... -- self --agent', with the environment
 * assignments @env ("NAME=VALUE", NULL-terminated) added. @opts is a
 * NULL-terminated list of `run' options. @direct: `self --agent' with the
 * library in LD_PRELOAD, no ksmctl to check the settings first.
 */
static struct agent agent_spawn(const char *const *opts, const char *const *env, bool direct)
{
	static int nr;
	static char preload[PATH_MAX + 16];
	struct agent ag;
	int in[2], out[2];
	const char *argv[16];
	int argc = 0;

	/* The library ksmctl would find first: next to it. */
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", ktest_ksmctl);
	strcpy(strrchr(preload, '/') + 1, "libksm-preload.so");

	snprintf(ag.log, sizeof(ag.log), "/tmp/ksm-preload-agent.%d.%d.log", getpid(), ++nr);
	if (pipe(in) || pipe(out))
		ktest_fatal("pipe");
	argv[argc++] = ktest_ksmctl;
	argv[argc++] = "run";
	for (; opts && *opts; opts++)
		argv[argc++] = *opts;
	argv[argc++] = "--";
	argv[argc++] = ktest_self_exe;
	argv[argc++] = "--agent";
	argv[argc] = NULL;

	ag.pid = fork();
	if (ag.pid < 0)
		ktest_fatal("fork");
	if (!ag.pid) {
		int log = open(ag.log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(in[0], 0);
		dup2(out[1], 1);
		if (log >= 0)
			dup2(log, 2);
		close(in[1]);
		close(out[0]);
		for (; env && *env; env++)
			putenv((char *)*env);
		if (direct) {
			putenv(preload);
			execv(ktest_self_exe, (char **)argv + argc - 2);
		} else {
			execv(ktest_ksmctl, (char **)argv);
		}
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	ag.in = fdopen(in[1], "w");
	ag.out = fdopen(out[0], "r");
	setvbuf(ag.in, NULL, _IOLBF, 0);
	return ag;
}

static struct agent agent_start(const char *const *opts, const char *const *env)
{
	return agent_spawn(opts, env, false);
}

/* Send a command to @ag and read its one-line answer into @reply (60 s at most). */
__attribute__((format(printf, 4, 5)))
static bool agent_cmd(struct agent *ag, char *reply, size_t len, const char *fmt, ...)
{
	struct pollfd p = { .fd = fileno(ag->out), .events = POLLIN };
	va_list ap;

	va_start(ap, fmt);
	vfprintf(ag->in, fmt, ap);
	va_end(ap);
	fputc('\n', ag->in);
	fflush(ag->in);
	if (poll(&p, 1, 60000) != 1 || !fgets(reply, (int)len, ag->out)) {
		ktest_diag("agent %d does not answer", ag->pid);
		reply[0] = '\0';
		return false;
	}
	reply[strcspn(reply, "\n")] = '\0';
	return true;
}

/* Map @npages private (or shared) anonymous pages in @ag; returns their address. */
static uintptr_t agent_map(struct agent *ag, unsigned long npages, bool shared)
{
	char r[128];
	unsigned long a = 0;

	if (!agent_cmd(ag, r, sizeof(r), "%s %lu", shared ? "mapshared" : "map", npages) ||
	    sscanf(r, "addr %lx", &a) != 1 || !a)
		ktest_fatal("agent: map %lu pages: '%s'", npages, r);
	return a;
}

static void agent_fill_pages(struct agent *ag, uintptr_t a, unsigned long n, uint64_t seed,
			     bool same)
{
	char r[64];

	if (!agent_cmd(ag, r, sizeof(r), "fill %lx %lu %lu %d", (unsigned long)a, n,
		       (unsigned long)seed, same) || strcmp(r, "ok"))
		ktest_fatal("agent: fill: '%s'", r);
}

/* madvise in @ag; returns the call's result, its errno in *@err. */
static int agent_madvise(struct agent *ag, uintptr_t a, size_t len, char advice, int *err)
{
	char r[64];
	int ret = -2, e = 0;

	if (!agent_cmd(ag, r, sizeof(r), "madvise %lx %zu %c", (unsigned long)a, len, advice) ||
	    sscanf(r, "ret %d errno %d", &ret, &e) != 2)
		ktest_fatal("agent: madvise: '%s'", r);
	if (err)
		*err = e;
	return ret;
}

/* Tell @ag to exit, wait for it; returns its exit status (or -1). */
static int agent_stop(struct agent *ag)
{
	int status;

	fprintf(ag->in, "exit\n");
	fclose(ag->in);
	fclose(ag->out);
	if (waitpid(ag->pid, &status, 0) != ag->pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static struct ksm_stats stats_now(void)
{
	struct ksm_stats st;

	if (ksmu_stats(dev, &st))
		ktest_fatal("KSM_GET_STATS");
	return st;
}

/* Does the VMA of @pid containing @addr carry VmFlags @flag (e.g. "mg") in smaps? */
static bool vma_has_flag(pid_t pid, uintptr_t addr, const char *flag)
{
	char path[64], line[512];
	bool in = false, found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = s <= addr && addr < e;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			char want[8];

			snprintf(want, sizeof(want), " %s", flag);
			for (char *p = strstr(line, want); p; p = strstr(p + 1, want)) {
				if (p[strlen(want)] == ' ' || p[strlen(want)] == '\n')
					found = true;
			}
			break;
		}
	}
	fclose(f);
	return found;
}

/* Number of distinct pfns among @npages pages of @pid at @a; absent pages count as -1 each. */
static long distinct_pfns(pid_t pid, uintptr_t a, unsigned long npages, long *absent)
{
	uint64_t seen[512];
	long distinct = 0;

	*absent = 0;
	for (unsigned long i = 0; i < npages && i < 512; i++) {
		uint64_t pfn = ksmu_pagemap_pfn(pid, (void *)(a + i * PAGE));
		bool dup = false;

		if (!pfn) {
			(*absent)++;
			continue;
		}
		for (long k = 0; k < distinct; k++)
			dup |= seen[k] == pfn;
		if (!dup)
			seen[distinct++] = pfn;
	}
	return distinct;
}

/* Scan until a pass merges nothing. */
static void settle(void)
{
	if (ksmu_scan_settle(scan_fd, 8) < 0)
		ktest_fatal("KSM_SCAN_EXT");
}

/* Does @path contain @needle? */
static bool file_contains(const char *path, const char *needle)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Wait up to @seconds for region_pages to reach @want (>=) or fall to it (<=, @up false). */
static bool wait_region_pages(uint64_t want, bool up, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		struct ksm_stats st = stats_now();

		if (up ? st.region_pages >= want : st.region_pages <= want)
			return true;
		usleep(100000);
	}
	return false;
}

/* A: one agent, the basic calls. */
static void test_basic(void)
{
	const char *opts[] = { "--verbose", NULL };
	struct agent ag = agent_start(opts, NULL);
	struct ksm_stats st0 = stats_now(), st;
	char needle[64];
	long absent, distinct;
	int err, fd_count, ret;
	uintptr_t a, s, h;
	uint64_t merged_pfn;
	bool ok;

	a = agent_map(&ag, 64, false);
	agent_fill_pages(&ag, a, 64, 11, true);
	ktest_ok(agent_madvise(&ag, a, 64 * PAGE, 'm', &err) == 0,
		 "madvise(MADV_MERGEABLE) returns 0 under the preload library");
	st = stats_now();
	ktest_ok(st.regions == st0.regions + 1 && st.region_pages == st0.region_pages + 64,
		 "it registered one region of 64 pages (regions +%lld, region_pages +%lld)",
		 (long long)(st.regions - st0.regions),
		 (long long)(st.region_pages - st0.region_pages));
	fd_count = ksmu_sma_fds(ag.pid);
	ktest_ok(fd_count == 1, "the process holds one SMA fd (%d)", fd_count);
	ktest_ok(!vma_has_flag(ag.pid, a, "mg"),
		 "the advice was not passed to built-in KSM (no 'mg' in VmFlags)");
	snprintf(needle, sizeof(needle), "registered 0x%lx-", (unsigned long)a);
	ktest_ok(file_contains(ag.log, needle), "KSM_PRELOAD_VERBOSE logs the registration");

	settle();
	distinct = distinct_pfns(ag.pid, a, 64, &absent);
	ktest_ok(distinct == 1 && !absent,
		 "after a scan the 64 identical pages share one pfn (%ld distinct, %ld absent)",
		 distinct, absent);
	{
		char r[64];

		agent_cmd(&ag, r, sizeof(r), "check %lx 64 11 1", (unsigned long)a);
		ktest_ok(!strcmp(r, "ok"), "the merged pages read back as written (%s)", r);
	}

	/* Unregister the middle: the two ends stay registered. */
	merged_pfn = ksmu_pagemap_pfn(ag.pid, (void *)a);
	st0 = stats_now();
	ktest_ok(agent_madvise(&ag, a + 16 * PAGE, 16 * PAGE, 'u', &err) == 0,
		 "madvise(MADV_UNMERGEABLE) of pages 16-31 returns 0");
	st = stats_now();
	if (st.unmerged || (features.features & KSM_FEATURE_UNMERGE)) {
		distinct = distinct_pfns(ag.pid, a + 16 * PAGE, 16, &absent);
		ok = distinct == 16 && !absent;
		for (int i = 16; i < 32; i++)
			ok &= ksmu_pagemap_pfn(ag.pid, (void *)(a + i * PAGE)) != merged_pfn;
		ktest_ok(ok && st.unmerged >= st0.unmerged + 16,
			 "... and gives them private copies (KSM_UNMERGE): %ld distinct pfns, "
			 "unmerged %+lld", distinct, (long long)(st.unmerged - st0.unmerged));
	} else {
		ktest_skip("the module has no KSM_UNMERGE");
	}
	ktest_ok(st.regions == st0.regions + 1 && st.region_pages == st0.region_pages - 16,
		 "the region became two (pages 0-15 and 32-63): regions %+lld, region_pages %+lld",
		 (long long)(st.regions - st0.regions),
		 (long long)(st.region_pages - st0.region_pages));
	ktest_ok(ksmu_sma_fds(ag.pid) == 2, "the process holds two SMA fds (%d)",
		 ksmu_sma_fds(ag.pid));

	st0 = st;
	ret = agent_madvise(&ag, a, 64 * PAGE, 'm', &err);
	st = stats_now();
	ktest_ok(ret == 0 && st.region_pages == st0.region_pages + 16 &&
		 st.regions == st0.regions + 1,
		 "MADV_MERGEABLE of all 64 pages again registers only the 16-page gap "
		 "(region_pages %+lld)", (long long)(st.region_pages - st0.region_pages));

	st0 = stats_now();
	ret = agent_madvise(&ag, a + 1, PAGE, 'm', &err);
	ktest_ok(ret == -1 && err == EINVAL,
		 "an unaligned start fails with EINVAL, as in the kernel (%d, errno %d)", ret, err);
	ktest_ok(agent_madvise(&ag, a, 0, 'm', &err) == 0, "an empty range is a no-op");
	s = agent_map(&ag, 16, true);
	ktest_ok(agent_madvise(&ag, s, 16 * PAGE, 'm', &err) == 0,
		 "MADV_MERGEABLE on shared memory returns 0 (the module refuses it: fail soft)");
	st = stats_now();
	ktest_ok(st.regions == st0.regions && st.region_pages == st0.region_pages,
		 "nothing was registered for the unaligned or the shared range");

	/* A range with a hole: its two mapped parts are registered. */
	h = agent_map(&ag, 48, false);
	{
		char r[64];

		agent_cmd(&ag, r, sizeof(r), "munmap %lx 16", (unsigned long)(h + 16 * PAGE));
	}
	st0 = stats_now();
	ktest_ok(agent_madvise(&ag, h, 48 * PAGE, 'm', &err) == 0,
		 "MADV_MERGEABLE over a range with a hole returns 0");
	st = stats_now();
	ktest_ok(st.regions == st0.regions + 2 && st.region_pages == st0.region_pages + 32,
		 "its two mapped parts were registered (regions %+lld, region_pages %+lld)",
		 (long long)(st.regions - st0.regions),
		 (long long)(st.region_pages - st0.region_pages));

	st0 = stats_now();
	fd_count = ksmu_sma_fds(ag.pid);
	ktest_ok(agent_stop(&ag) == 0, "the agent exits normally");
	st = stats_now();
	ktest_ok(st.regions == st0.regions - (uint64_t)fd_count,
		 "its %d regions went away with it (regions %+lld)", fd_count,
		 (long long)(st.regions - st0.regions));
	unlink(ag.log);
}

/* B: two processes, same content: merged across processes, and only that. */
static void test_two_processes(void)
{
	struct agent a1 = agent_start(NULL, NULL), a2 = agent_start(NULL, NULL);
	uintptr_t p1 = agent_map(&a1, 32, false), p2 = agent_map(&a2, 40, false);
	int same = 0, distinct_ok = 1, unique_shared = 0;

	agent_fill_pages(&a1, p1, 32, 21, false);
	agent_fill_pages(&a2, p2, 32, 21, false);
	agent_fill_pages(&a2, p2 + 32 * PAGE, 8, 22, false);	/* content of its own */
	agent_madvise(&a1, p1, 32 * PAGE, 'm', NULL);
	agent_madvise(&a2, p2, 40 * PAGE, 'm', NULL);
	settle();
	for (int i = 0; i < 32; i++) {
		uint64_t f1 = ksmu_pagemap_pfn(a1.pid, (void *)(p1 + i * PAGE));
		uint64_t f2 = ksmu_pagemap_pfn(a2.pid, (void *)(p2 + i * PAGE));

		same += f1 && f1 == f2;
		if (i && f1 == ksmu_pagemap_pfn(a1.pid, (void *)(p1 + (i - 1) * PAGE)))
			distinct_ok = 0;
	}
	for (int i = 32; i < 40; i++) {
		uint64_t f2 = ksmu_pagemap_pfn(a2.pid, (void *)(p2 + i * PAGE));

		for (int k = 0; k < 32; k++)
			unique_shared += f2 == ksmu_pagemap_pfn(a1.pid, (void *)(p1 + k * PAGE));
	}
	ktest_ok(same == 32 && distinct_ok,
		 "two processes' 32 identical pages share pfns pairwise (%d of 32)", same);
	ktest_ok(!unique_shared, "pages with content of their own were not merged (%d)",
		 unique_shared);
	agent_stop(&a1);
	agent_stop(&a2);
	unlink(a1.log);
	unlink(a2.log);
}

/* C: KSM_PRELOAD_MAX_REGION_PAGES splits big ranges; unmergeable re-registers leftovers. */
static void test_split(void)
{
	const char *env[] = { "KSM_PRELOAD_MAX_REGION_PAGES=16", NULL };
	struct agent ag = agent_start(NULL, env);
	struct ksm_stats st0 = stats_now(), st;
	uintptr_t a = agent_map(&ag, 64, false);

	agent_madvise(&ag, a, 64 * PAGE, 'm', NULL);
	st = stats_now();
	ktest_ok(st.regions == st0.regions + 4 && st.region_pages == st0.region_pages + 64 &&
		 ksmu_sma_fds(ag.pid) == 4,
		 "64 pages with at most 16 per region: 4 regions, 4 SMA fds (%lld, %d)",
		 (long long)(st.regions - st0.regions), ksmu_sma_fds(ag.pid));
	agent_madvise(&ag, a + 8 * PAGE, 32 * PAGE, 'u', NULL);
	st = stats_now();
	ktest_ok(st.regions == st0.regions + 3 && st.region_pages == st0.region_pages + 32,
		 "MADV_UNMERGEABLE of pages 8-39 leaves 0-7, 40-47 and 48-63 (regions %+lld, "
		 "pages %+lld)", (long long)(st.regions - st0.regions),
		 (long long)(st.region_pages - st0.region_pages));
	agent_stop(&ag);
	unlink(ag.log);
}

/* D: the advice reaches built-in KSM only when asked (--builtin / KSM_PRELOAD_BUILTIN). */
static void test_builtin(void)
{
	const char *on[] = { "--builtin", NULL }, *off[] = { "--no-builtin", NULL };
	const char *env[] = { "KSM_PRELOAD_BUILTIN=1", NULL };
	struct agent a1 = agent_start(on, NULL), a2 = agent_start(off, env);
	struct ksm_stats st0 = stats_now(), st;
	uintptr_t p1 = agent_map(&a1, 8, false), p2 = agent_map(&a2, 8, false);

	ktest_ok(agent_madvise(&a1, p1, 8 * PAGE, 'm', NULL) == 0 && vma_has_flag(a1.pid, p1, "mg"),
		 "with --builtin the kernel marks the VMA mergeable too ('mg')");
	ktest_ok(agent_madvise(&a2, p2, 8 * PAGE, 'm', NULL) == 0 &&
		 !vma_has_flag(a2.pid, p2, "mg"),
		 "--no-builtin overrides KSM_PRELOAD_BUILTIN=1 from the environment");
	st = stats_now();
	ktest_ok(st.region_pages == st0.region_pages + 16,
		 "both ranges are registered with /dev/ksm either way (%+lld pages)",
		 (long long)(st.region_pages - st0.region_pages));
	agent_stop(&a1);
	agent_stop(&a2);
	unlink(a1.log);
	unlink(a2.log);
}

/* E: KSM_PRELOAD_ALL registers memory nobody madvised, and follows its changes. */
static void test_all(void)
{
	const char *opts[] = { "--all", "--verbose", NULL };
	const char *env[] = { "KSM_PRELOAD_INTERVAL_MS=200", NULL };
	struct agent ag = agent_start(opts, env);
	struct ksm_stats st0, st;
	unsigned long a = 0, n = 0;
	long distinct, absent;
	char r[128];
	uintptr_t m;
	bool ok;

	/* Let the thread register what there is at start, then measure from there. */
	usleep(1000 * 1000);
	st0 = stats_now();
	if (!agent_cmd(&ag, r, sizeof(r), "malloc %d 31", 2 << 20) ||
	    sscanf(r, "addr %lx npages %lu", &a, &n) != 2 || n < 500)
		ktest_fatal("agent: malloc: '%s'", r);
	ok = wait_region_pages(st0.region_pages + n, true, 15);
	st = stats_now();
	ktest_ok(ok, "a 2 MiB malloc() block (never madvised) gets registered (region_pages %+lld)",
		 (long long)(st.region_pages - st0.region_pages));
	settle();
	distinct = distinct_pfns(ag.pid, a, n, &absent);
	ktest_ok(distinct == 1 && !absent,
		 "its identical pages were merged (%ld distinct pfns, %ld absent)", distinct,
		 absent);

	st0 = stats_now();
	agent_cmd(&ag, r, sizeof(r), "free");
	ok = wait_region_pages(st0.region_pages - n, false, 15);
	st = stats_now();
	ktest_ok(ok, "after free() (munmap) the registration goes away (region_pages %+lld)",
		 (long long)(st.region_pages - st0.region_pages));

	/* MADV_UNMERGEABLE keeps the thread off a range. */
	st0 = stats_now();
	m = agent_map(&ag, 64, false);
	agent_fill_pages(&ag, m, 64, 32, false);
	ok = wait_region_pages(st0.region_pages + 64, true, 15);
	ktest_ok(ok, "a new 64-page mapping gets registered");
	st0 = stats_now();
	agent_madvise(&ag, m, 64 * PAGE, 'u', NULL);
	usleep(1000 * 1000);	/* five passes of the thread */
	st = stats_now();
	ktest_ok(st.region_pages + 64 <= st0.region_pages,
		 "after MADV_UNMERGEABLE it is unregistered and stays so (region_pages %+lld)",
		 (long long)(st.region_pages - st0.region_pages));
	ktest_ok(agent_stop(&ag) == 0, "the agent exits normally");
	unlink(ag.log);
}

/* Fds of @pid open on /dev/ksm or an SMA, and how many of them are below @below. */
static int ksm_fds(pid_t pid, int below, int *low)
{
	char path[64], target[64];
	int n = 0;

	*low = 0;
	for (int fd = 0; fd < 4096; fd++) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (!strcmp(target, "/dev/ksm") || !strcmp(target, "anon_inode:ksm-sma")) {
			n++;
			*low += fd < below;
		}
	}
	return n;
}

/*
 * ALL in a process with more ranges of memory than a pass takes in (8192)
 * and than the library has fds for. The madvised memory stays registered (a
 * pass that saw only part of /proc/self/maps once dropped every range beyond
 * what it saw); /dev/ksm and the SMA fds stay out of the low numbers and
 * leave the program fds to open (an SMA fd per range once took every free
 * number, low ones too, and the program's open() failed with EMFILE).
 */
static void test_all_many(void)
{
	const char *opts[] = { "--all", NULL };
	const char *env[] = { "KSM_PRELOAD_INTERVAL_MS=200", NULL };
	struct agent ag = agent_start(opts, env);
	struct ksm_stats st0 = stats_now();
	unsigned long made = 0, opened = 0;
	long distinct, absent;
	int nfds, low;
	char r[128];
	uintptr_t m;

	m = agent_map(&ag, 64, false);
	agent_fill_pages(&ag, m, 64, 35, true);
	agent_madvise(&ag, m, 64 * PAGE, 'm', NULL);
	ktest_ok(wait_region_pages(st0.region_pages + 64, true, 15), "many: 64 madvised pages registered");
	ktest_ok(agent_cmd(&ag, r, sizeof(r), "vmas 8400") && sscanf(r, "made %lu", &made) == 1 &&
		 made == 8400, "many: the process makes 8400 more ranges of memory ('%s')", r);
	usleep(3000 * 1000);	/* passes of the thread over them */
	/* Written again: merged again only if still registered. */
	agent_fill_pages(&ag, m, 64, 36, true);
	settle();
	distinct = distinct_pfns(ag.pid, m, 64, &absent);
	ktest_ok(distinct == 1 && !absent, "many: the madvised pages are still registered: they merge "
		 "again once rewritten (%ld distinct pfns, %ld absent)", distinct, absent);
	ktest_ok(agent_cmd(&ag, r, sizeof(r), "openfiles 200") && sscanf(r, "opened %lu", &opened) == 1 &&
		 opened == 200, "many: the program can still open files ('%s')", r);
	/* Memory madvised now still finds an fd: the thread's ranges leave room for it. */
	m = agent_map(&ag, 64, false);
	agent_fill_pages(&ag, m, 64, 37, true);
	agent_madvise(&ag, m, 64 * PAGE, 'm', NULL);
	settle();
	distinct = distinct_pfns(ag.pid, m, 64, &absent);
	ktest_ok(distinct == 1 && !absent, "many: 64 pages madvised after them are registered and merge "
		 "(%ld distinct pfns, %ld absent)", distinct, absent);
	nfds = ksm_fds(ag.pid, 64, &low);
	ktest_ok(nfds > 1 && low == 0, "many: none of the library's %d fds is below 64 (%d are)", nfds, low);
	ktest_ok(agent_stop(&ag) == 0, "many: the agent exits normally");
	unlink(ag.log);
}

/*
 * The program puts another file on the fd the library holds /dev/ksm on
 * (dup2), then MADV_UNMERGEABLE on part of a madvised range: the rest is
 * registered again, on /dev/ksm opened anew (it once went to the program's
 * file, failed, and the rest was never registered again).
 */
static void test_stolen_dev(void)
{
	struct agent ag = agent_start(NULL, NULL);
	long distinct, absent;
	int stolen = -1;
	char r[128];
	uintptr_t m;

	m = agent_map(&ag, 64, false);
	agent_fill_pages(&ag, m, 64, 38, true);
	agent_madvise(&ag, m, 64 * PAGE, 'm', NULL);
	ktest_ok(agent_cmd(&ag, r, sizeof(r), "stealdev") && sscanf(r, "stolen %d", &stolen) == 1 &&
		 stolen >= 0, "stolen fd: the program dup2()s /dev/null onto the library's /dev/ksm fd (%d)",
		 stolen);
	agent_madvise(&ag, m, 16 * PAGE, 'u', NULL);
	agent_fill_pages(&ag, m + 16 * PAGE, 48, 39, true);	/* written: merged again only if registered */
	settle();
	distinct = distinct_pfns(ag.pid, m + 16 * PAGE, 48, &absent);
	ktest_ok(distinct == 1 && !absent, "stolen fd: after MADV_UNMERGEABLE on 16 pages the other 48 are "
		 "registered again and merge (%ld distinct pfns, %ld absent)", distinct, absent);
	ktest_ok(agent_stop(&ag) == 0, "stolen fd: the agent exits normally");
	unlink(ag.log);
}

/*
 * F: fork while threads malloc and madvise: without KSM_PRELOAD_ALL (the
 * children check that their memory is registered: it merges), then with the
 * ALL thread running every 5 ms (no deadlock, every child runs and exits).
 */
static void test_fork(bool all)
{
	const char *opts[] = { all ? "--all" : "--verbose", NULL };
	const char *env[] = { "KSM_PRELOAD_INTERVAL_MS=5", NULL };
	struct agent ag = agent_start(opts, env);
	char r[64];
	int failed = -2;

	if (agent_cmd(&ag, r, sizeof(r), "forktest 20 %d", !all))
		sscanf(r, "failed %d", &failed);
	if (all)
		ktest_ok(failed == 0, "KSM_PRELOAD_ALL: 20 forks while threads malloc and madvise: "
			 "no deadlock, every child ran and exited (failed %d)", failed);
	else
		ktest_ok(failed == 0, "20 forks while threads malloc and madvise: in every child "
			 "the inherited and its own madvised pages merge (failed %d)", failed);
	if (failed) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "tail -n 20 %s | sed 's/^/# /'", ag.log);
		if (system(cmd))
			ktest_diag("cannot show %s", ag.log);
	}
	ktest_ok(agent_stop(&ag) == 0, "the agent exits normally after the forks");
	unlink(ag.log);
}

/* How many of @npages pages at @pa of @a and @pb of @b map the same pfn. */
static int shared_pages(struct agent *a, uintptr_t pa, struct agent *b, uintptr_t pb, int npages)
{
	return (int)ktest_same_pfns(a->pid, pa, b->pid, pb, npages);
}

/* KSM_GET_PROCESS_STATS of @pid; false if it fails. */
static bool process_stats(pid_t pid, struct ksm_process_stats *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->pid = pid;
	return !ioctl(dev, KSM_GET_PROCESS_STATS, ps);
}

/*
 * G: merge domains (ksmctl run --domain, KSM_PRELOAD_DOMAIN). Six agents hold
 * the same 32 distinct pages: two in domain 7, one in domain 8, two with
 * private domains, one in the default domain. Only the two of domain 7 share
 * pages. A private agent also madvises a second copy of its pages as a
 * separate range: both ranges are on its one SMA, in its one private domain,
 * so they merge with each other (each range on an SMA of its own would get a
 * private domain of its own).
 */
static void test_domains(void)
{
	const char *d7[] = { "--domain", "7", NULL }, *d8[] = { "--domain", "8", NULL };
	const char *priv[] = { "--domain", "private", "--verbose", NULL };
	const char *bogus_env[] = { "KSM_PRELOAD_DOMAIN=bogus", "KSM_PRELOAD_VERBOSE=1", NULL };
	struct agent ag[6], bad;
	const char *names[6] = { "domain 7", "domain 7", "domain 8", "private", "private",
				 "default" };
	uintptr_t p[6], second, b;
	struct ksm_process_stats ps;
	struct ksm_stats st0, st;
	int cross = 0, failed = -2;
	char r[64];

	if ((features.features & (KSM_FEATURE_DOMAINS | KSM_FEATURE_UNMERGE)) !=
	    (KSM_FEATURE_DOMAINS | KSM_FEATURE_UNMERGE)) {
		ktest_skip("the module has no merge domains");
		return;
	}
	st0 = stats_now();
	ag[0] = agent_start(d7, NULL);
	ag[1] = agent_start(d7, NULL);
	ag[2] = agent_start(d8, NULL);
	ag[3] = agent_start(priv, NULL);
	ag[4] = agent_start(priv, NULL);
	ag[5] = agent_start(NULL, NULL);
	for (int i = 0; i < 6; i++) {
		p[i] = agent_map(&ag[i], 32, false);
		agent_fill_pages(&ag[i], p[i], 32, 41, false);
		agent_madvise(&ag[i], p[i], 32 * PAGE, 'm', NULL);
	}
	second = agent_map(&ag[3], 32, false);
	agent_fill_pages(&ag[3], second, 32, 41, false);
	agent_madvise(&ag[3], second, 32 * PAGE, 'm', NULL);
	st = stats_now();
	ktest_ok(st.region_pages == st0.region_pages + 7 * 32,
		 "all seven ranges are registered (region_pages %+lld)",
		 (long long)(st.region_pages - st0.region_pages));
	settle();

	ktest_ok(shared_pages(&ag[0], p[0], &ag[1], p[1], 32) == 32,
		 "two processes in domain 7 share their 32 identical pages (%d)",
		 shared_pages(&ag[0], p[0], &ag[1], p[1], 32));
	for (int i = 0; i < 6; i++) {
		for (int k = i + 1; k < 6; k++) {
			int same = shared_pages(&ag[i], p[i], &ag[k], p[k], 32);

			if (i == 0 && k == 1)
				continue;
			if (same)
				ktest_diag("%s (agent %d) and %s (agent %d) share %d pages", names[i], i,
					   names[k], k, same);
			cross += same;
		}
		if (i != 3)
			cross += shared_pages(&ag[i], p[i], &ag[3], second, 32);
	}
	ktest_ok(cross == 0, "no other pair of processes shares a page: domain 8, the private ones "
		 "and the default one merge with nobody else (%d pages shared)", cross);
	ktest_ok(shared_pages(&ag[3], p[3], &ag[3], second, 32) == 32,
		 "a private process's two madvised ranges merge with each other: one private domain "
		 "for the whole process (%d of 32)", shared_pages(&ag[3], p[3], &ag[3], second, 32));
	if (!process_stats(ag[3].pid, &ps))
		ktest_fatal("KSM_GET_PROCESS_STATS %d", ag[3].pid);
	ktest_ok(ksmu_sma_fds(ag[3].pid) == 1 &&
		 ps.regions == 2 && ps.region_pages == 64 && ps.merged_pages == 64,
		 "... registered as two regions on one SMA fd (%d fds, regions %llu, region_pages "
		 "%llu, merged_pages %llu)", ksmu_sma_fds(ag[3].pid), (unsigned long long)ps.regions,
		 (unsigned long long)ps.region_pages, (unsigned long long)ps.merged_pages);

	/*
	 * MADV_UNMERGEABLE on part of a range of the private process: its region is removed
	 * (unmerged), the rest registered again on the same SMA, where the next scans merge it.
	 */
	agent_madvise(&ag[3], second + 8 * PAGE, 8 * PAGE, 'u', NULL);
	if (!process_stats(ag[3].pid, &ps))
		ktest_fatal("KSM_GET_PROCESS_STATS %d", ag[3].pid);
	ktest_ok(ps.regions == 3 && ps.region_pages == 56 && ksmu_sma_fds(ag[3].pid) == 1,
		 "MADV_UNMERGEABLE of 8 of its pages: the rest stays registered on the same SMA "
		 "(regions %llu, region_pages %llu, %d fds)", (unsigned long long)ps.regions,
		 (unsigned long long)ps.region_pages, ksmu_sma_fds(ag[3].pid));
	settle();
	{
		int out = shared_pages(&ag[3], p[3] + 8 * PAGE, &ag[3], second + 8 * PAGE, 8);
		int in = shared_pages(&ag[3], p[3], &ag[3], second, 8) +
			 shared_pages(&ag[3], p[3] + 16 * PAGE, &ag[3], second + 16 * PAGE, 16);

		ktest_ok(out == 0 && in == 24, "after a scan the 8 pages stay private (%d shared), "
			 "the other 24 merge again (%d)", out, in);
	}
	agent_cmd(&ag[3], r, sizeof(r), "check %lx 32 41 0", (unsigned long)second);
	ktest_ok(!strcmp(r, "ok"), "its memory reads back as written (%s)", r);

	/* fork in a private domain: each child gets its own SMA and domain, and merges there. */
	if (agent_cmd(&ag[4], r, sizeof(r), "forktest 5 1"))
		sscanf(r, "failed %d", &failed);
	ktest_ok(failed == 0, "5 forks of a private-domain process: in every child the inherited "
		 "and its own madvised pages merge (failed %d)", failed);

	for (int i = 0; i < 6; i++) {
		ktest_ok(agent_stop(&ag[i]) == 0, "the %s agent %d exits normally", names[i], i);
		unlink(ag[i].log);
	}

	/* A domain the library cannot use: nothing is registered at all. */
	st0 = stats_now();
	/* ksmctl run refuses that setting (tools/ksmctl_engine): the library alone. */
	bad = agent_spawn(NULL, bogus_env, true);
	b = agent_map(&bad, 16, false);
	ktest_ok(agent_madvise(&bad, b, 16 * PAGE, 'm', NULL) == 0 &&
		 stats_now().region_pages == st0.region_pages &&
		 file_contains(bad.log, "nothing will be registered"),
		 "KSM_PRELOAD_DOMAIN=bogus: madvise returns 0, nothing is registered, the log says why");
	agent_stop(&bad);
	unlink(bad.log);
	st = stats_now();
	ktest_ok(st.regions == st0.regions, "every agent's regions went away with it");
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--agent"))
		return agent_main();

	ktest_find_ksmctl();
	signal(SIGPIPE, SIG_IGN);
	dev = ksm_open();
	scan_fd = ksm_scanfd(dev);
	if (ioctl(dev, KSM_GET_FEATURES, &features))
		ktest_fatal("KSM_GET_FEATURES");

	test_basic();
	test_two_processes();
	test_split();
	test_builtin();
	test_all();
	test_all_many();
	test_stolen_dev();
	test_fork(false);
	test_fork(true);
	test_domains();
	return ktest_done();
}
