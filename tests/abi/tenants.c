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
 *   left as they were.
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

int main(void)
{
	test_sealed();
	test_public_stats();
	return ktest_done();
}
