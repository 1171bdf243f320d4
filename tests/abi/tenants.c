// SPDX-License-Identifier: GPL-2.0
/*
 * Tenants are sealed from each other (docs/security.md), tried both ways:
 * - a scan fd made without CAP_SYS_ADMIN scans only the merge domains its
 *   process has regions in, and what KSM_SCAN_EXT reports counts those only;
 *   one made with it scans everything;
 * - the system-wide statistics (KSM_GET_STATS, the files of /sys/class/misc/ksm) are
 *   CAP_SYS_ADMIN's, unless the module was loaded with public_stats=1;
 * - an SMA fd acts only for the process that made it: a process that
 *   inherited it gets EPERM for every SMA ioctl, and the maker's regions are
 *   left as they were;
 * - what a tenant's calls cost grows with what the tenant has: a pass of its
 *   scan fd over its one page, or its KSM_UNMERGE, takes as long beside
 *   another tenant's 8192 kernel pages as beside none (it once swept the whole
 *   table of every tenant each time), and its kernel pages nobody maps any
 *   more are still given back; its pass and its KSM_GET_PROCESS_STATS take as
 *   long beside other processes' 32768 regions (they once walked every region
 *   of the host), and its pass still scans every domain of its own; a
 *   process's 16384th registration costs what its first did; a tenant's
 *   pass over its 8192 regions costs the same while others register; and a
 *   process asking for its stats, or registering, removing and scanning, in
 *   a loop beside its 16384 regions costs a neighbour's scans nothing.
 */
#include "ktest.h"

#include <pthread.h>

#define NOBODY 65534

/* What the unprivileged child found: filled in the child, reported by the parent. */
struct seen {
	int scan_alone_ok;		/* a pass with no region of its own scanned nothing */
	uint64_t alone_scanned;
	int registered;			/* its own region in the default domain */
	uint64_t scanned, merged;	/* a pass with its own region */
	int stats_errno;		/* KSM_GET_STATS */
	int sysfs_errno;		/* open of the pages_sharing file */
	int sma_errno[6];		/* the SMA ioctls on the inherited SMA */
	int unknown_errno;		/* an unknown ioctl on it */
};

/* Drop to nobody, keeping the inherited fds. */
static bool drop_privileges(void)
{
	return !setresgid(NOBODY, NOBODY, NOBODY) && !setresuid(NOBODY, NOBODY, NOBODY);
}

/* errno of @ret (-1: errno, else 0). */
static int err_of(long ret)
{
	return ret == -1 ? errno : 0;
}

/* The child: nobody, with /dev/ksm (@dev) and the parent's SMA (@sma) inherited. */
static void attacker(int dev, int sma, char *own, char *parents, int out)
{
	struct seen s = { 0 };
	struct ksm_scan_ext ext = { .pages_to_scan = 1000000, .flags = KSM_SCAN_PASS_END };
	struct ksm_memory_region mr = { .npages = 1, .addr = (uintptr_t)own };
	struct ksm_remove_region rr = { .addr = (uintptr_t)parents };
	struct ksm_domain d = { .domain = KSM_DOMAIN_DEFAULT };
	struct ksm_process_stats ps;
	struct ksm_unmerge u = { 0 };
	struct ksm_stats st;
	int scan, mine;

	if (!drop_privileges())
		_exit(9);
	scan = ioctl(dev, KSM_CREATE_SCAN);
	s.scan_alone_ok = scan >= 0 && ioctl(scan, KSM_SCAN_EXT, &ext) == 0;
	s.alone_scanned = ext.pages_scanned;
	mine = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
	s.registered = mine >= 0 && ksmu_register(mine, own, 16) == 0;
	memset(&ext, 0, sizeof(ext));
	ext.pages_to_scan = 1000000;
	ext.flags = KSM_SCAN_PASS_END;
	if (ioctl(scan, KSM_SCAN_EXT, &ext) == 0) {
		s.scanned = ext.pages_scanned;
		s.merged = ext.pages_merged;
	}
	s.stats_errno = err_of(ioctl(dev, KSM_GET_STATS, &st));
	s.sysfs_errno = err_of(open("/sys/class/misc/ksm/pages_sharing", O_RDONLY));
	s.sma_errno[0] = err_of(ioctl(sma, KSM_REGISTER_MEMORY_REGION, &mr));
	s.sma_errno[1] = err_of(ioctl(sma, KSM_REMOVE_MEMORY_REGION));
	s.sma_errno[2] = err_of(ioctl(sma, KSM_REMOVE_MEMORY_REGION_EXT, &rr));
	s.sma_errno[3] = err_of(ioctl(sma, KSM_SMA_SET_DOMAIN, &d));
	s.sma_errno[4] = err_of(ioctl(sma, KSM_SMA_GET_STATS, &ps));
	s.sma_errno[5] = err_of(ioctl(sma, KSM_UNMERGE, &u));
	s.unknown_errno = err_of(ioctl(sma, _IO(KSMIO, 0x3f)));
	if (write(out, &s, sizeof(s)) != sizeof(s))
		_exit(8);
	_exit(0);
}

/* Pairs of @p (page i and i + npages/2 hold the same content) that share a pfn. */
static long pairs_merged(struct peer *p)
{
	long n = 0;

	for (long i = 0; i < p->npages / 2; i++)
		n += peer_pfn(p, i) && peer_pfn(p, i) == peer_pfn(p, i + p->npages / 2);
	return n;
}

static void test_sealed(void)
{
	int dev = ksm_open(), sma = ksm_sma(dev), pipefd[2];
	char *own = anon_map(16 * ktest_page, 0), *parents = anon_map(8 * ktest_page, 0);
	struct ksm_scan_ext ext = { .pages_to_scan = 1000000, .flags = KSM_SCAN_PASS_END };
	struct ksm_process_stats ps;
	struct seen s = { 0 };
	struct peer victim, other;
	pid_t pid;

	/* A victim in a private domain, and another tenant in the default one: 32 pairs each. */
	peer_domain = KSM_DOMAIN_PRIVATE;
	victim = peer_start(dev, 64, 61, 32);
	peer_domain = KSM_DOMAIN_DEFAULT;
	other = peer_start(dev, 64, 62, 32);
	ksmu_fill_pages(own, 16, 63, 8);
	ksmu_fill_pages(parents, 8, 64, 4);
	ktest_ok(ksmu_register(sma, parents, 8) == 0, "the parent registers 8 pages (4 pairs)");
	if (pipe(pipefd))
		ktest_fatal("pipe");

	pid = fork();
	if (!pid)
		attacker(dev, sma, own, parents, pipefd[1]);
	ktest_ok(read(pipefd[0], &s, sizeof(s)) == sizeof(s), "the unprivileged child reported");
	waitpid(pid, NULL, 0);

	ktest_ok(s.scan_alone_ok && s.alone_scanned == 0,
		 "nobody's scan fd, before it has a region, scans nothing (%llu pages)",
		 (unsigned long long)s.alone_scanned);
	ktest_ok(s.registered, "nobody registers 16 pages of its own in the default domain");
	ktest_ok(s.scanned == 16 + 64 + 8 && s.merged == 16 + 64 + 8,
		 "its pass looks at and merges the default domain only: its own 16, the other "
		 "tenant's 64, the parent's 8 (%llu scanned, %llu merged)",
		 (unsigned long long)s.scanned, (unsigned long long)s.merged);
	ktest_ok(pairs_merged(&victim) == 0, "the private-domain victim's pairs are untouched");
	ktest_ok(pairs_merged(&other) == 32, "the default-domain tenant's pairs merged (%ld)",
		 pairs_merged(&other));
	ktest_ok(s.stats_errno == EPERM, "nobody's KSM_GET_STATS: EPERM (%d)", s.stats_errno);
	ktest_ok(s.sysfs_errno == EACCES, "nobody cannot open /sys/class/misc/ksm/pages_sharing: "
		 "EACCES (%d)", s.sysfs_errno);
	ktest_ok(s.sma_errno[0] == EPERM && s.sma_errno[1] == EPERM && s.sma_errno[2] == EPERM &&
		 s.sma_errno[3] == EPERM && s.sma_errno[4] == EPERM && s.sma_errno[5] == EPERM,
		 "the inherited SMA: REGISTER, REMOVE, REMOVE_EXT, SET_DOMAIN, GET_STATS, UNMERGE "
		 "all EPERM (%d %d %d %d %d %d)", s.sma_errno[0], s.sma_errno[1], s.sma_errno[2],
		 s.sma_errno[3], s.sma_errno[4], s.sma_errno[5]);
	ktest_ok(s.unknown_errno == ENOTTY, "and an unknown ioctl on it: ENOTTY (%d)", s.unknown_errno);
	memset(&ps, 0, sizeof(ps));
	ktest_ok(ioctl(sma, KSM_SMA_GET_STATS, &ps) == 0 && ps.regions == 1 && ps.merged_pages == 8,
		 "the parent's region is still there, merged by the pass (%llu regions, %llu merged)",
		 (unsigned long long)ps.regions, (unsigned long long)ps.merged_pages);

	/* The other way: a scan fd made with CAP_SYS_ADMIN scans every domain. */
	int scan = ksm_scanfd(dev);

	ktest_ok(ioctl(scan, KSM_SCAN_EXT, &ext) == 0 && pairs_merged(&victim) == 32,
		 "root's scan fd merges the private domain's pairs (%ld)", pairs_merged(&victim));
	ktest_ok(peer_check(&victim) && peer_check(&other), "every page holds what was written");
	peer_stop(&victim);
	peer_stop(&other);
	close(scan);
	close(sma);
	close(dev);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* With public_stats=1 everyone may read the system-wide figures. */
static void test_public_stats(void)
{
	int status;
	pid_t pid;

	ktest_ok(module_unload() == 0 && module_load("public_stats=1") == 0,
		 "the module reloaded with public_stats=1");
	pid = fork();
	if (!pid) {
		int dev = ksm_open();
		struct ksm_stats st;

		if (!drop_privileges())
			_exit(9);
		_exit(ioctl(dev, KSM_GET_STATS, &st) == 0 &&
		      ksmu_read_long("/sys/class/misc/ksm/pages_sharing") >= 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	ktest_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "then nobody reads KSM_GET_STATS and the counter files");
	ktest_ok(module_unload() == 0 && module_load(NULL) == 0, "reloaded with the defaults");
}

/* Calls timed per round of a cost probe; the median is reported. */
#define COST_CALLS 15

/* What the cost probe measured in one round (seconds, medians). */
struct cost {
	double pass, unmerge, stats;
	uint64_t merged;	/* rounds 2-4, 6: pages merged or unmerged */
	uint64_t scanned;	/* round 6: pages its pass looked at */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median time of COST_CALLS calls of ioctl(@fd, @cmd, @arg). */
static double median_call(int fd, unsigned long cmd, void *arg, size_t len)
{
	double t[COST_CALLS];
	char copy[256];

	if (len > sizeof(copy))
		_exit(13);
	for (int i = 0; i < COST_CALLS; i++) {
		memcpy(copy, arg, len);
		t[i] = ksmu_now_s();
		if (ioctl(fd, cmd, copy))
			_exit(12);
		t[i] = ksmu_now_s() - t[i];
	}
	qsort(t, COST_CALLS, sizeof(t[0]), cmp_double);
	return t[COST_CALLS / 2];
}

/*
 * The unprivileged tenant of test_cost(), in a private domain with one page
 * of its own: for each byte read from @in, 1 times its passes, unmerges and
 * KSM_GET_PROCESS_STATS, 2 gets a pair merged and writes both pages (its
 * kernel page is mapped nowhere then) and ends a pass, 3 gets another pair
 * merged, 4 unmerges, 6 registers a pair in a second private domain and
 * makes a pass; 0 ends it (no answer).
 */
static void cost_probe(int dev, int in, int out)
{
	struct ksm_scan_ext ext = { .pages_to_scan = 1000000, .flags = KSM_SCAN_PASS_END };
	struct ksm_domain d = { .domain = KSM_DOMAIN_PRIVATE };
	char *own = anon_map(ktest_page, 0), *pair = anon_map(2 * ktest_page, 0);
	char *pair2 = anon_map(2 * ktest_page, 0), *pair3 = anon_map(2 * ktest_page, 0);
	struct ksm_process_stats ps = { 0 };
	struct ksm_unmerge u = { 0 };
	int sma, sma2, scan;
	char cmd;

	if (!drop_privileges())
		_exit(9);
	ksmu_fill_pages(own, 1, 71, 1);
	ksmu_fill_pages(pair, 2, 72, 1);
	ksmu_fill_pages(pair2, 2, 74, 1);
	ksmu_fill_pages(pair3, 2, 75, 1);
	sma = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
	scan = ioctl(dev, KSM_CREATE_SCAN);
	if (sma < 0 || scan < 0 || ioctl(sma, KSM_SMA_SET_DOMAIN, &d) || ksmu_register(sma, own, 1))
		_exit(10);
	while (read(in, &cmd, 1) == 1 && cmd) {
		struct cost c = { 0 };

		if (cmd == 1) {
			c.pass = median_call(scan, KSM_SCAN_EXT, &ext, sizeof(ext));
			c.unmerge = median_call(sma, KSM_UNMERGE, &u, sizeof(u));
			c.stats = median_call(dev, KSM_GET_PROCESS_STATS, &ps, sizeof(ps));
		} else if (cmd == 6) {
			struct ksm_domain d2 = { .domain = KSM_DOMAIN_PRIVATE };
			struct ksm_scan_ext e = ext;

			sma2 = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
			if (sma2 < 0 || ioctl(sma2, KSM_SMA_SET_DOMAIN, &d2) ||
			    ksmu_register(sma2, pair3, 2) || ioctl(scan, KSM_SCAN_EXT, &e))
				_exit(11);
			c.merged = e.pages_merged;
			c.scanned = e.pages_scanned;
		} else if (cmd == 3) {
			struct ksm_scan_ext e = ext;

			if (ksmu_register(sma, pair2, 2) || ioctl(scan, KSM_SCAN_EXT, &e))
				_exit(11);
			c.merged = e.pages_merged;
		} else if (cmd == 4) {
			struct ksm_unmerge v = { 0 };

			if (ioctl(sma, KSM_UNMERGE, &v))
				_exit(11);
			c.merged = v.pages_unmerged;
		} else {
			struct ksm_scan_ext e = ext;

			if (ksmu_register(sma, pair, 2) || ioctl(scan, KSM_SCAN_EXT, &e))
				_exit(11);
			c.merged = e.pages_merged;
			pair[0] ^= 1;		/* now different: no merge again */
			pair[ktest_page] ^= 2;
			e = ext;
			if (ioctl(scan, KSM_SCAN_EXT, &e))
				_exit(11);
		}
		if (write(out, &c, sizeof(c)) != sizeof(c))
			_exit(8);
	}
	_exit(0);
}

/* Ask the probe for round @cmd; its answer. */
static struct cost cost_round(int to, int from, char cmd)
{
	struct cost c = { -1, -1, -1, 0, 0 };

	if (write(to, &cmd, 1) != 1 || read(from, &c, sizeof(c)) != sizeof(c))
		ktest_diag("the cost probe did not answer round %d", cmd);
	return c;
}

/* Processes of test_cost()'s crowd, and the one-page regions each registers. */
#define CROWD 16
#define CROWD_REGIONS 2048

/*
 * A process of the crowd: @n regions of one page each (never touched), in
 * the default domain; a byte on @out once they are registered, then it
 * waits for @in to close.
 */
static void crowd_member(int dev, int n, int in, int out)
{
	char *mem = anon_map((size_t)n * ktest_page, 0), c = 1;
	int sma = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);

	for (int i = 0; i < n; i++)
		if (sma < 0 || ksmu_register(sma, mem + (size_t)i * ktest_page, 1))
			c = 0;
	if (write(out, &c, 1) != 1)
		_exit(8);
	while (read(in, &c, 1) > 0)
		;
	_exit(0);
}

/*
 * Start the crowd: CROWD processes of CROWD_REGIONS regions. Returns how many
 * registered all of theirs; @pids and @to (its end of their pipe) to stop them.
 */
static int crowd_start(int dev, pid_t *pids, int *to)
{
	int in[2], out[2], ok = 0;
	char c;

	if (pipe(in) || pipe(out))
		ktest_fatal("pipe");
	for (int i = 0; i < CROWD; i++) {
		pids[i] = fork();
		if (!pids[i]) {
			close(in[1]);
			crowd_member(dev, CROWD_REGIONS, in[0], out[1]);
		}
	}
	close(in[0]);
	close(out[1]);
	for (int i = 0; i < CROWD; i++)
		ok += read(out[0], &c, 1) == 1 && c;
	close(out[0]);
	*to = in[1];
	return ok;
}

/* Stop the crowd: close their pipe, wait for them. */
static void crowd_stop(pid_t *pids, int to)
{
	close(to);
	for (int i = 0; i < CROWD; i++)
		waitpid(pids[i], NULL, 0);
}

/* A tenant's pass over its own page and its KSM_UNMERGE cost the same beside a large table. */
static void test_cost(void)
{
	struct ksm_scan_ext ext = { .pages_to_scan = 1000000, .flags = KSM_SCAN_PASS_END };
	int dev = ksm_open(), scan = ksm_scanfd(dev), to[2], from[2];
	struct cost alone, beside, freed, crowded;
	struct ksm_stats st;
	struct peer big;
	uint64_t held, shared, sharing;
	pid_t pid, crowd[CROWD];
	int crowd_to;

	if (pipe(to) || pipe(from))
		ktest_fatal("pipe");
	pid = fork();
	if (!pid)
		cost_probe(dev, to[0], from[1]);
	alone = cost_round(to[1], from[0], 1);

	/* Another tenant, in a domain of its own: 8192 pairs, merged by root's pass. */
	peer_domain = KSM_DOMAIN_PRIVATE;
	big = peer_start(dev, 16384, 73, 8192);
	peer_domain = KSM_DOMAIN_DEFAULT;
	ktest_ok(ioctl(scan, KSM_SCAN_EXT, &ext) == 0 && ksmu_stats(dev, &st) == 0 &&
		 st.kpages_held >= 8192, "another tenant's 8192 pairs merged (%llu kernel pages)",
		 (unsigned long long)st.kpages_held);
	beside = cost_round(to[1], from[0], 1);
	ktest_diag("nobody's pass over its one page: %.0f us alone, %.0f us beside 8192 kernel "
		   "pages; its KSM_UNMERGE: %.0f us, %.0f us", alone.pass * 1e6, beside.pass * 1e6,
		   alone.unmerge * 1e6, beside.unmerge * 1e6);
	ktest_ok(alone.pass > 0 && beside.pass > 0 && beside.pass <= 4 * alone.pass + 500e-6,
		 "a tenant's pass over its one page does not cost more beside another tenant's "
		 "8192 kernel pages (%.0f us, %.0f us alone)", beside.pass * 1e6, alone.pass * 1e6);
	ktest_ok(alone.unmerge > 0 && beside.unmerge > 0 &&
		 beside.unmerge <= 4 * alone.unmerge + 500e-6,
		 "nor its KSM_UNMERGE (%.0f us, %.0f us alone)", beside.unmerge * 1e6,
		 alone.unmerge * 1e6);

	/* Its own kernel page, once it maps it nowhere, still goes (a sweep after its pass). */
	held = ksmu_stats(dev, &st) == 0 ? st.kpages_held : 0;
	freed = cost_round(to[1], from[0], 2);
	ktest_ok(freed.merged == 2, "nobody's pass merged a pair of its own (%llu pages)",
		 (unsigned long long)freed.merged);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == held, 3000),
		 "after it wrote both pages and ended a pass, its kernel page was given back "
		 "(%llu held, %llu before)", (unsigned long long)st.kpages_held,
		 (unsigned long long)held);

	/*
	 * An unmerge of a few pages beside many gives back the kernel pages it
	 * leaves unmapped itself, and the statistics show it, at once.
	 */
	shared = ksmu_stats(dev, &st) == 0 ? st.pages_shared : 0;
	sharing = st.pages_sharing;
	freed = cost_round(to[1], from[0], 3);
	ktest_ok(freed.merged == 2 &&
		 KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == held + 1, 3000),
		 "nobody got another pair merged (%llu pages, %llu kernel pages held)",
		 (unsigned long long)freed.merged, (unsigned long long)st.kpages_held);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.pages_shared == shared + 1 &&
			    st.pages_sharing == sharing + 1, 3000),
		 "the statistics show it after the sweep its pass asked for (%llu shared, %llu "
		 "sharing)", (unsigned long long)st.pages_shared,
		 (unsigned long long)st.pages_sharing);
	freed = cost_round(to[1], from[0], 4);
	ktest_ok(freed.merged == 2 && ksmu_stats(dev, &st) == 0 && st.kpages_held == held &&
		 st.pages_shared == shared && st.pages_sharing == sharing,
		 "its KSM_UNMERGE copied both (%llu); at once its kernel page is gone (%llu held, "
		 "%llu before) and the statistics show it (%llu shared, %llu sharing; %llu, %llu "
		 "before)", (unsigned long long)freed.merged, (unsigned long long)st.kpages_held,
		 (unsigned long long)held, (unsigned long long)st.pages_shared,
		 (unsigned long long)st.pages_sharing, (unsigned long long)shared,
		 (unsigned long long)sharing);

	/* Beside other processes' 32768 regions: its pass and its statistics. */
	ktest_ok(crowd_start(dev, crowd, &crowd_to) == CROWD,
		 "%d other processes registered %d regions each", CROWD, CROWD_REGIONS);
	crowded = cost_round(to[1], from[0], 1);
	ktest_diag("nobody's pass: %.0f us alone, %.0f us beside %d regions; its "
		   "KSM_GET_PROCESS_STATS: %.0f us, %.0f us", alone.pass * 1e6, crowded.pass * 1e6,
		   CROWD * CROWD_REGIONS, alone.stats * 1e6, crowded.stats * 1e6);
	ktest_ok(alone.pass > 0 && crowded.pass > 0 && crowded.pass <= 4 * alone.pass + 500e-6,
		 "a tenant's pass does not cost more beside other processes' %d regions (%.0f us, "
		 "%.0f us alone)", CROWD * CROWD_REGIONS, crowded.pass * 1e6, alone.pass * 1e6);
	ktest_ok(alone.stats > 0 && crowded.stats > 0 && crowded.stats <= 4 * alone.stats + 500e-6,
		 "nor its KSM_GET_PROCESS_STATS (%.0f us, %.0f us alone)", crowded.stats * 1e6,
		 alone.stats * 1e6);
	freed = cost_round(to[1], from[0], 6);
	ktest_ok(freed.scanned == 7 && freed.merged == 4,
		 "with a pair in a second private domain, its pass looks at the pages of both of "
		 "its domains and nothing else (7: %llu), and merges both pairs (4: %llu)",
		 (unsigned long long)freed.scanned, (unsigned long long)freed.merged);
	crowd_stop(crowd, crowd_to);

	if (write(to[1], "", 1) != 1)
		ktest_diag("the cost probe did not take its last round");
	waitpid(pid, NULL, 0);
	ktest_ok(peer_check(&big), "the other tenant's pages hold what was written");
	peer_stop(&big);
	close(to[0]);
	close(to[1]);
	close(from[0]);
	close(from[1]);
	close(scan);
	close(dev);
}

/* Regions one SMA fd may hold: the module's max_regions_per_sma, by default. */
#define SMA_REGIONS 4096

/* Regions one process registers in test_register_cost(), and how many are timed at each end. */
#define MANY_REGIONS 16384
#define TIMED 512

/* Scans timed by resume_tenant() each time. */
#define RESUMES 64

/*
 * The tenant of test_register_cost(): nobody, in the default domain, with a
 * region of two pages that its scan fd's cursor sits on. For each byte read
 * from @in: the median time (as a struct cost's pass, for cost_round()),
 * written to @out, of a KSM_SCAN_EXT of one page right after its region was
 * removed and registered again (a new region, the last one registered): the
 * cursor goes on from a removed region. 0 ends it.
 */
static void resume_tenant(int dev, int in, int out)
{
	struct ksm_scan_ext one = { .pages_to_scan = 1 };
	struct ksm_remove_region rm = { 0 };
	char *own = anon_map(2 * ktest_page, 0), c;
	double t[RESUMES];
	int sma, scan;

	if (!drop_privileges())
		_exit(9);
	ksmu_fill_pages(own, 2, 77, 1);
	sma = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
	scan = ioctl(dev, KSM_CREATE_SCAN);
	rm.addr = (uintptr_t)own;
	while (read(in, &c, 1) == 1 && c) {
		struct ksm_scan_ext e = one;

		/* Registered last, and the cursor on its second page. */
		if (sma < 0 || scan < 0 || ksmu_register(sma, own, 2) || ioctl(scan, KSM_SCAN_EXT, &e))
			_exit(10);
		for (int i = 0; i < RESUMES; i++) {
			e = one;
			if (ioctl(sma, KSM_REMOVE_MEMORY_REGION_EXT, &rm) || ksmu_register(sma, own, 2))
				_exit(11);
			t[i] = ksmu_now_s();
			if (ioctl(scan, KSM_SCAN_EXT, &e) || e.pages_scanned != 1)
				_exit(12);
			t[i] = ksmu_now_s() - t[i];
		}
		if (ioctl(sma, KSM_REMOVE_MEMORY_REGION_EXT, &rm))
			_exit(13);
		qsort(t, RESUMES, sizeof(t[0]), cmp_double);
		struct cost cost = { .pass = t[RESUMES / 2] };

		if (write(out, &cost, sizeof(cost)) != sizeof(cost))
			_exit(14);
	}
	_exit(0);
}

/*
 * A registration costs the same for a process's 16384th region as for its
 * first: the check that a region overlaps none of its process's (made under
 * the global registry lock, which every tenant's registration and removal
 * wait for) once walked all of them. And a tenant's cursor goes on from its
 * removed region at the same cost beside those 16384 regions of its domain
 * as alone: it once looked for the next one by walking the domain's regions
 * from the first, under the global lock of the lists of regions.
 */
static void test_register_cost(void)
{
	int dev = ksm_open(), sma[MANY_REGIONS / SMA_REGIONS], extra, to[2], from[2], st;
	char *m = anon_map((size_t)(MANY_REGIONS + 1) * ktest_page, 0);
	double first[TIMED], last[TIMED], t, alone, beside;
	struct ksm_remove_region rm = { 0 };
	bool ok = true;
	pid_t tenant;

	ktest_ok(pipe(to) == 0 && pipe(from) == 0, "pipes to the tenant");
	tenant = fork();
	if (!tenant) {
		close(to[1]);
		close(from[0]);
		resume_tenant(dev, to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	alone = cost_round(to[1], from[0], 1).pass;
	for (unsigned int i = 0; i < MANY_REGIONS / SMA_REGIONS; i++)
		sma[i] = ksm_sma(dev);
	for (int i = 0; i < MANY_REGIONS; i++) {
		t = ksmu_now_s();
		ok &= ksmu_register(sma[i / SMA_REGIONS], m + (size_t)i * ktest_page, 1) == 0;
		t = ksmu_now_s() - t;
		if (i < TIMED)
			first[i] = t;
		else if (i >= MANY_REGIONS - TIMED)
			last[i - (MANY_REGIONS - TIMED)] = t;
	}
	qsort(first, TIMED, sizeof(first[0]), cmp_double);
	qsort(last, TIMED, sizeof(last[0]), cmp_double);
	ktest_ok(ok, "one process registered %d regions of one page", MANY_REGIONS);
	ktest_ok(last[TIMED / 2] <= 4 * first[TIMED / 2] + 200e-6,
		 "its last %d registrations cost what its first %d did (medians %.0f us, %.0f us)",
		 TIMED, TIMED, last[TIMED / 2] * 1e6, first[TIMED / 2] * 1e6);
	beside = cost_round(to[1], from[0], 1).pass;
	ktest_ok(alone > 0 && beside > 0 && beside <= 4 * alone + 200e-6,
		 "a tenant's cursor goes on from its removed region as fast beside them as alone "
		 "(medians %.0f us, %.0f us)", beside * 1e6, alone * 1e6);
	ktest_ok(write(to[1], "", 1) == 1 && waitpid(tenant, &st, 0) == tenant && WIFEXITED(st) &&
		 WEXITSTATUS(st) == 0, "the tenant exited (%#x)", st);
	close(to[1]);
	close(from[0]);
	extra = ksm_sma(dev);
	KTEST_ERRNO(ksmu_register(extra, m + (size_t)(MANY_REGIONS / 2) * ktest_page, 2), EEXIST,
		    "a region over one of them, on another SMA: EEXIST");
	ktest_ok(ksmu_register(extra, m + (size_t)MANY_REGIONS * ktest_page, 1) == 0,
		 "a region just after the last one: registered");
	rm.addr = (uintptr_t)(m + (size_t)5000 * ktest_page);
	KTEST_ERRNO(ioctl(extra, KSM_REMOVE_MEMORY_REGION_EXT, &rm), ENOENT,
		    "REMOVE_EXT of another SMA's region (of the same process): ENOENT");
	ktest_ok(ioctl(sma[1], KSM_REMOVE_MEMORY_REGION_EXT, &rm) == 0 &&
		 ksmu_register(extra, m + (size_t)5000 * ktest_page, 1) == 0,
		 "on its own SMA it is removed, and its range can be registered again");
	close(extra);
	for (unsigned int i = 0; i < MANY_REGIONS / SMA_REGIONS; i++)
		close(sma[i]);
	munmap(m, (size_t)(MANY_REGIONS + 1) * ktest_page);
	close(dev);
}

/* Regions of the tenant of test_churn(). */
#define OWN_REGIONS 8192
/* Rounds of test_churn(), beside each kind of busy process. */
#define CHURN_ROUNDS 3

/*
 * The tenant of test_churn(): nobody, with OWN_REGIONS one-page regions
 * (never touched) in two private domains. For each byte 1 read from @in,
 * the median time of its passes, written to @out (killed if they take a
 * minute); 0 ends it.
 */
static void churn_tenant(int dev, int in, int out)
{
	struct ksm_scan_ext ext = { .pages_to_scan = 1000000, .flags = KSM_SCAN_PASS_END };
	char *m = anon_map((size_t)OWN_REGIONS * ktest_page, 0), c;
	int sma[OWN_REGIONS / SMA_REGIONS], scan;
	double t;

	if (!drop_privileges())
		_exit(9);
	scan = ioctl(dev, KSM_CREATE_SCAN);
	for (int i = 0; i < OWN_REGIONS / SMA_REGIONS; i++) {
		struct ksm_domain d = { .domain = KSM_DOMAIN_PRIVATE };

		sma[i] = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
		if (scan < 0 || sma[i] < 0 || ioctl(sma[i], KSM_SMA_SET_DOMAIN, &d))
			_exit(10);
	}
	for (int i = 0; i < OWN_REGIONS; i++)
		if (ksmu_register(sma[i / SMA_REGIONS], m + (size_t)i * ktest_page, 1))
			_exit(10);
	while (read(in, &c, 1) == 1 && c) {
		alarm(60);	/* a module that fails this may take minutes per pass */
		t = median_call(scan, KSM_SCAN_EXT, &ext, sizeof(ext));
		alarm(0);
		if (write(out, &t, sizeof(t)) != sizeof(t))
			_exit(8);
	}
	_exit(0);
}

/*
 * A process that keeps calling into the module until killed: registering
 * and removing a region of one page (@churn), else asking the API version,
 * which takes no lock (the same load on the CPUs, nothing shared).
 */
static pid_t busy_process(int dev, bool churn)
{
	pid_t pid = fork();

	if (!pid) {
		char *m = anon_map(ktest_page, 0);
		int sma = ksm_sma(dev);

		for (;;)
			if (churn ? ksmu_register(sma, m, 1) || ioctl(sma, KSM_REMOVE_MEMORY_REGION) :
			    ioctl(dev, KSM_GET_API_VERSION) < 0)
				_exit(1);
	}
	return pid;
}

/* The median time of @tenant's passes (answered on @from), beside @busy if > 0. */
static double tenant_passes(int to, int from, pid_t busy)
{
	double t = -1;

	if (write(to, "\1", 1) != 1 || read(from, &t, sizeof(t)) != sizeof(t))
		ktest_diag("the tenant did not answer");
	if (busy > 0) {
		kill(busy, SIGKILL);
		waitpid(busy, NULL, 0);
	}
	return t;
}

/*
 * A tenant's pass over its own 8192 regions costs the same while another
 * process registers and removes a region in a loop: its cursor once counted
 * its domains again, walking all its regions under the spinlock every cursor
 * and registration takes, whenever anyone's regions changed. Compared with
 * its passes while another process only keeps a CPU busy calling into the
 * module, so that sharing the CPUs (two, emulated) is not counted as the cost;
 * three rounds of each, alternated, their medians compared.
 */
static void test_churn(void)
{
	int dev = ksm_open(), to[2], from[2];
	double quiet, busy[CHURN_ROUNDS], churned[CHURN_ROUNDS], med_busy, med_churned;
	pid_t pid;

	if (pipe(to) || pipe(from))
		ktest_fatal("pipe");
	pid = fork();
	if (!pid)
		churn_tenant(dev, to[0], from[1]);
	quiet = tenant_passes(to[1], from[0], 0);
	for (int i = 0; i < CHURN_ROUNDS; i++) {
		busy[i] = tenant_passes(to[1], from[0], busy_process(dev, false));
		churned[i] = tenant_passes(to[1], from[0], busy_process(dev, true));
	}
	qsort(busy, CHURN_ROUNDS, sizeof(busy[0]), cmp_double);
	qsort(churned, CHURN_ROUNDS, sizeof(churned[0]), cmp_double);
	med_busy = busy[CHURN_ROUNDS / 2];
	med_churned = churned[CHURN_ROUNDS / 2];
	if (write(to[1], "", 1) != 1)
		ktest_diag("the tenant did not take its last round");
	waitpid(pid, NULL, 0);
	close(to[1]);
	ktest_ok(quiet > 0 && busy[0] > 0 && churned[0] > 0 && med_churned <= 2 * med_busy + 500e-6,
		 "a tenant's pass over its %d regions costs the same while another process "
		 "registers and removes a region in a loop (%.1f ms; %.1f ms beside calls that "
		 "share nothing, %.1f ms alone)", OWN_REGIONS, med_churned * 1e3, med_busy * 1e3,
		 quiet * 1e3);
	close(to[0]);
	close(from[0]);
	close(from[1]);
	close(dev);
}

/* Regions of test_noisy()'s noisy tenant; scans its neighbour times each round; rounds. */
#define NOISY_REGIONS 16384
#define NEIGHBOUR_SCANS 64
#define NOISY_ROUNDS 3

/* What the noisy tenant's loop does: */
enum noise {
	NOISE_NONE,	/* nothing */
	NOISE_CALLS,	/* asks the API version: a call that takes no lock */
	NOISE_STATS,	/* KSM_GET_PROCESS_STATS of itself */
	NOISE_CHURN,	/* registers a region, scans a page, removes it, scans a page */
	NOISE_END,
};

static int noise_now;	/* the noisy tenant's enum noise, set by its main thread */

struct noisy {
	int dev, sma, scan;
	char *extra;
};

/* The noisy tenant's loop, in a thread of its own. */
static void *noisy_loop(void *arg)
{
	struct noisy *n = arg;
	struct ksm_process_stats ps;
	struct ksm_scan_ext one;

	for (;;) {
		switch (__atomic_load_n(&noise_now, __ATOMIC_RELAXED)) {
		case NOISE_NONE:
			usleep(1000);
			break;
		case NOISE_CALLS:
			if (ioctl(n->dev, KSM_GET_API_VERSION) < 0)
				_exit(20);
			break;
		case NOISE_STATS:
			memset(&ps, 0, sizeof(ps));
			if (ioctl(n->dev, KSM_GET_PROCESS_STATS, &ps) || ps.regions < NOISY_REGIONS)
				_exit(21);
			break;
		case NOISE_CHURN:
			one = (struct ksm_scan_ext){ .pages_to_scan = 1 };
			if (ksmu_register(n->sma, n->extra, 1) || ioctl(n->scan, KSM_SCAN_EXT, &one))
				_exit(22);
			one = (struct ksm_scan_ext){ .pages_to_scan = 1 };
			if (ioctl(n->sma, KSM_REMOVE_MEMORY_REGION) || ioctl(n->scan, KSM_SCAN_EXT, &one))
				_exit(23);
			break;
		default:
			return NULL;
		}
	}
}

/*
 * The noisy tenant of test_noisy(): nobody, with NOISY_REGIONS one-page
 * regions in the default domain, each page present and unlike the others
 * (a one-page scan stops at the first). A byte on @out once they
 * are registered; then each byte read from @in sets what its loop does
 * (enum noise), answered by a byte.
 */
static void noisy_tenant(int dev, int in, int out)
{
	struct noisy n = { .dev = dev };
	char *m = anon_map((size_t)NOISY_REGIONS * ktest_page, 0), c = 1;
	int sma[NOISY_REGIONS / SMA_REGIONS];
	pthread_t loop;

	ksmu_fill_pages(m, NOISY_REGIONS, 79, NOISY_REGIONS);	/* a page scanned is a page looked at */
	if (!drop_privileges())
		_exit(9);
	n.extra = anon_map(ktest_page, 0);
	ksmu_fill_pages(n.extra, 1, 80, 1);
	n.sma = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
	n.scan = ioctl(dev, KSM_CREATE_SCAN);
	for (int i = 0; i < NOISY_REGIONS / SMA_REGIONS; i++)
		sma[i] = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
	for (int i = 0; i < NOISY_REGIONS; i++)
		if (n.sma < 0 || n.scan < 0 || ksmu_register(sma[i / SMA_REGIONS], m + (size_t)i * ktest_page, 1))
			_exit(10);
	if (pthread_create(&loop, NULL, noisy_loop, &n) || write(out, &c, 1) != 1)
		_exit(11);
	while (read(in, &c, 1) == 1) {
		__atomic_store_n(&noise_now, c, __ATOMIC_RELAXED);
		if (c == NOISE_END)
			break;
		usleep(20000);	/* the loop is at it */
		if (write(out, &c, 1) != 1)
			_exit(12);
	}
	pthread_join(loop, NULL);
	_exit(0);
}

/*
 * The neighbour of test_noisy(): nobody, with a region of one page in a
 * private domain. For each byte read from @in, the median time of
 * NEIGHBOUR_SCANS one-page scans of its scan fd (each moves its cursor on,
 * under the lock of the lists of regions), written to @out; 0 ends it.
 */
static void neighbour(int dev, int in, int out)
{
	struct ksm_domain d = { .domain = KSM_DOMAIN_PRIVATE };
	char *own = anon_map(ktest_page, 0), c;
	double t[NEIGHBOUR_SCANS];
	int sma, scan;

	if (!drop_privileges())
		_exit(9);
	ksmu_fill_pages(own, 1, 78, 1);
	sma = ioctl(dev, KSM_CREATE_SHARED_MEMORY_AREA);
	scan = ioctl(dev, KSM_CREATE_SCAN);
	if (sma < 0 || scan < 0 || ioctl(sma, KSM_SMA_SET_DOMAIN, &d) || ksmu_register(sma, own, 1))
		_exit(10);
	while (read(in, &c, 1) == 1 && c) {
		for (int i = 0; i < NEIGHBOUR_SCANS; i++) {
			struct ksm_scan_ext e = { .pages_to_scan = 1 };

			t[i] = ksmu_now_s();
			if (ioctl(scan, KSM_SCAN_EXT, &e) || e.pages_scanned != 1)
				_exit(11);
			t[i] = ksmu_now_s() - t[i];
		}
		qsort(t, NEIGHBOUR_SCANS, sizeof(t[0]), cmp_double);
		if (write(out, &t[NEIGHBOUR_SCANS / 2], sizeof(t[0])) != sizeof(t[0]))
			_exit(12);
	}
	_exit(0);
}

/* Set the noisy tenant's loop to @what; then the neighbour's median scan, in seconds. */
static double noisy_round(int noisy_to, int noisy_from, int nb_to, int nb_from, char what)
{
	double t = -1;
	char c;

	if (write(noisy_to, &what, 1) != 1 || read(noisy_from, &c, 1) != 1 ||
	    write(nb_to, "\1", 1) != 1 || read(nb_from, &t, sizeof(t)) != sizeof(t))
		ktest_diag("round %d: no answer", what);
	c = NOISE_NONE;
	if (write(noisy_to, &c, 1) != 1 || read(noisy_from, &c, 1) != 1)
		ktest_diag("round %d: the noisy tenant did not stop", what);
	return t;
}

/*
 * A tenant's calls on its own many regions cost others nothing: a process
 * with 16384 regions asking for its KSM_GET_PROCESS_STATS in a loop, or
 * registering and removing a region and scanning a page in a loop (its scan
 * fd then counts its domains again), once walked all its regions under the
 * spinlock that every scan fd's cursor takes, each time: a neighbour's
 * one-page scans then waited for it. Compared with the neighbour's scans
 * while the noisy process makes calls that take no lock (the same load on
 * the two emulated CPUs); three rounds of each, alternated, medians compared.
 */
static void test_noisy(void)
{
	int dev = ksm_open(), nt[2], nf[2], bt[2], bf[2], st;
	double calls[NOISY_ROUNDS], stats[NOISY_ROUNDS], churn[NOISY_ROUNDS];
	pid_t noisy, nb;
	char c;

	if (pipe(nt) || pipe(nf) || pipe(bt) || pipe(bf))
		ktest_fatal("pipe");
	noisy = fork();
	if (!noisy)
		noisy_tenant(dev, nt[0], nf[1]);
	nb = fork();
	if (!nb)
		neighbour(dev, bt[0], bf[1]);
	ktest_ok(read(nf[0], &c, 1) == 1, "a process registered %d regions", NOISY_REGIONS);
	for (int i = 0; i < NOISY_ROUNDS; i++) {
		calls[i] = noisy_round(nt[1], nf[0], bt[1], bf[0], NOISE_CALLS);
		stats[i] = noisy_round(nt[1], nf[0], bt[1], bf[0], NOISE_STATS);
		churn[i] = noisy_round(nt[1], nf[0], bt[1], bf[0], NOISE_CHURN);
	}
	c = NOISE_END;
	ktest_ok(write(nt[1], &c, 1) == 1 && waitpid(noisy, &st, 0) == noisy && WIFEXITED(st) &&
		 WEXITSTATUS(st) == 0, "the noisy process did all it was asked (%#x)", st);
	ktest_ok(write(bt[1], "", 1) == 1 && waitpid(nb, &st, 0) == nb && WIFEXITED(st) &&
		 WEXITSTATUS(st) == 0, "its neighbour too (%#x)", st);
	qsort(calls, NOISY_ROUNDS, sizeof(calls[0]), cmp_double);
	qsort(stats, NOISY_ROUNDS, sizeof(stats[0]), cmp_double);
	qsort(churn, NOISY_ROUNDS, sizeof(churn[0]), cmp_double);
	ktest_ok(calls[0] > 0 && stats[0] > 0 && stats[1] <= 2 * calls[1] + 100e-6,
		 "a neighbour's scans take as long while it asks for its stats in a loop "
		 "(medians %.0f us, %.0f us beside calls that take no lock)", stats[1] * 1e6,
		 calls[1] * 1e6);
	ktest_ok(calls[0] > 0 && churn[0] > 0 && churn[1] <= 2 * calls[1] + 100e-6,
		 "and while it registers, removes and scans in a loop (medians %.0f us, %.0f us)",
		 churn[1] * 1e6, calls[1] * 1e6);
	for (int i = 0; i < 2; i++) {
		close(nt[i]);
		close(nf[i]);
		close(bt[i]);
		close(bf[i]);
	}
	close(dev);
}

int main(void)
{
	test_sealed();
	test_cost();
	test_register_cost();
	test_churn();
	test_noisy();
	test_public_stats();
	return ktest_done();
}
