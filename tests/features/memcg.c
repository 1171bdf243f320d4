// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel pages are charged to a memory cgroup, as mainline KSM keeps the
 * charge of the page that became its KSM page: a process in a cgroup v2 with
 * memory.max = 64 MiB (and no swap) that keeps making pairs of distinct pages,
 * registering them while kksmd merges each pair into one kernel page, cannot
 * hold more than its limit of distinct data: it is OOM-killed by its cgroup,
 * or its merges stop, like any process over its limit (before kernel pages
 * were charged, such a process held six times its limit). A process in no
 * limited cgroup merges as before.
 */
#include "ktest.h"

#include <sys/mount.h>

#define CG_ROOT "/sys/fs/cgroup"
#define CG CG_ROOT "/ksm-memcg-test"
#define LIMIT_MIB 64L
#define CHUNK_PAGES 512L		/* 2 MiB: 256 pairs, 1 MiB of distinct data */
#define STOP_MIB (4 * LIMIT_MIB)	/* distinct data at which the child gives up */

/* Write @v to file @name of cgroup directory @dir. */
static int cg_write(const char *dir, const char *name, const char *v)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return ksmu_write_str(path, v);
}

/* Move process @pid into cgroup directory @dir. */
static int cg_move(const char *dir, pid_t pid)
{
	char v[32];

	snprintf(v, sizeof(v), "%d", pid);
	return cg_write(dir, "cgroup.procs", v);
}

/* A cgroup v2 hierarchy with the memory controller for children, and our cgroup in it. */
static bool cgroup_setup(void)
{
	char buf[64];

	if (access(CG_ROOT "/cgroup.controllers", F_OK) &&
	    mount("none", CG_ROOT, "cgroup2", 0, NULL))
		return false;
	cg_write(CG_ROOT, "cgroup.subtree_control", "+memory");
	rmdir(CG);
	if (mkdir(CG, 0755))
		return false;
	snprintf(buf, sizeof(buf), "%ldM", LIMIT_MIB);
	if (cg_write(CG, "memory.max", buf))
		return false;
	cg_write(CG, "memory.swap.max", "0");	/* the guests have no swap anyway */
	return true;
}

/* The "key value" line @key of cgroup file @path, or -1. */
static long cg_read_path(const char *path, const char *key)
{
	char k[64];
	long v, found = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", k, &v) == 2)
		if (!strcmp(k, key))
			found = v;
	fclose(f);
	return found;
}

/* The "key value" line @key of file @file of our cgroup, or -1. */
static long cg_read(const char *file, const char *key)
{
	char path[256];

	snprintf(path, sizeof(path), CG "/%s", file);
	return cg_read_path(path, key);
}

/*
 * The child: join the cgroup, then chunk after chunk of pairs (pages 2j and
 * 2j + 1 alike, every pair distinct), registered, waiting for kksmd to merge
 * each chunk; after each merged chunk it reports the MiB of distinct data it
 * holds. Exits 3 when a chunk is not merged within 5 s (its merges stopped),
 * 0 if it got to STOP_MIB (never stopped).
 */
static void hog(int dev, int out)
{
	int sma;

	if (cg_move(CG, getpid()))
		_exit(9);
	sma = ksm_sma(dev);
	for (long k = 0; k < STOP_MIB; k++) {
		char *m = ksmu_map_anon(CHUNK_PAGES * ktest_page, 0, -1);
		struct ksm_process_stats ps;
		double t0 = ksmu_now_s();
		long mib = k + 1;

		if (!m)
			_exit(8);
		for (long j = 0; j < CHUNK_PAGES; j++)
			ksmu_fill_page(m + j * ktest_page, 1000 + k, j / 2);
		if (ksmu_register(sma, m, CHUNK_PAGES))
			_exit(7);
		do {
			memset(&ps, 0, sizeof(ps));
			if (ioctl(sma, KSM_SMA_GET_STATS, &ps))
				_exit(6);
			if (ps.merged_pages >= (uint64_t)(k + 1) * CHUNK_PAGES)
				break;
			usleep(20000);
		} while (ksmu_now_s() - t0 < 5);
		if (ps.merged_pages < (uint64_t)(k + 1) * CHUNK_PAGES)
			_exit(3);
		if (write(out, &mib, sizeof(mib)) != sizeof(mib))
			_exit(5);
	}
	_exit(0);
}

static void test_limited(int dev)
{
	struct ksm_kthread_info on = { .sleep = 1000, .pages_to_scan = 4096,
				       .max_pages_to_merge = 4096, .running = 1 };
	struct ksm_kthread_info off = { .running = 0 };
	long mib, held = 0, kernel_bytes = -1;
	int pipefd[2], status;
	pid_t pid;

	if (!cgroup_setup()) {
		ktest_skip("no cgroup v2 memory controller");
		return;
	}
	if (pipe(pipefd))
		ktest_fatal("pipe");
	ktest_ok(ioctl(dev, KSM_START_STOP_KTHREAD, &on) == 0, "kksmd started");
	pid = fork();
	if (!pid)
		hog(dev, pipefd[1]);
	close(pipefd[1]);
	while (read(pipefd[0], &mib, sizeof(mib)) == sizeof(mib)) {
		held = mib;
		if (mib == 32)
			kernel_bytes = cg_read("memory.stat", "kernel");
	}
	waitpid(pid, &status, 0);
	ioctl(dev, KSM_START_STOP_KTHREAD, &off);
	ktest_ok((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
		 (WIFEXITED(status) && WEXITSTATUS(status) == 3),
		 "the process in a %ld MiB cgroup was OOM-killed or its merges stopped (%s %ld; "
		 "oom_kill events %ld)", LIMIT_MIB, WIFSIGNALED(status) ? "signal" : "exit",
		 WIFSIGNALED(status) ? (long)WTERMSIG(status) : (long)WEXITSTATUS(status),
		 cg_read("memory.events", "oom_kill"));
	ktest_ok(held > 0 && held <= LIMIT_MIB,
		 "it held at most its limit of distinct merged data (%ld MiB, limit %ld MiB)", held,
		 LIMIT_MIB);
	/* Kernel memory shows in memory.stat's kernel line since 5.11 (5.10: a user-page charge). */
	if (kernel_bytes >= 0)
		ktest_ok(kernel_bytes >= (32L << 20) * 9 / 10,
			 "at 32 MiB merged, memory.stat's kernel line had its kernel pages (%ld KiB)",
			 kernel_bytes >> 10);
	else
		ktest_skip("no kernel line in memory.stat (5.10 charges kernel pages as user pages)");
	close(pipefd[0]);
	ktest_ok(KTEST_WAIT(rmdir(CG) == 0, 10000), "the cgroup goes away once its process has");
}

/* Outside any limit, pairs merge as before. */
static void test_unlimited(int dev)
{
	int scan = ksm_scanfd(dev);
	struct peer p = peer_start(dev, 512, 81, 256);

	ktest_ok(ksmu_scan_settle(scan, 3) == 512 && peer_check(&p),
		 "a process in no limited cgroup: its 256 pairs merge (512 mappings)");
	peer_stop(&p);
	close(scan);
}

#define CG_IDLE CG_ROOT "/ksm-idle-cursor-test"

/*
 * A scan cursor left idle in the region of a process that then exits must
 * not keep that region, and with it the process's memory cgroup, once that
 * cgroup is removed: before cursors let go of their region between calls, a
 * scan fd nobody called (or kksmd, stopped) kept the removed cgroup dying
 * for as long as the fd stayed open.
 */
static void test_idle_cursor(int dev)
{
	int ready[2], scan = ksm_scanfd(dev);
	long dying = -1;
	char c = 0;
	pid_t pid;

	rmdir(CG_IDLE "/c");
	rmdir(CG_IDLE);
	if (mkdir(CG_IDLE, 0755) || cg_write(CG_IDLE, "cgroup.subtree_control", "+memory") ||
	    mkdir(CG_IDLE "/c", 0755)) {
		ktest_skip("cannot make a cgroup for the idle cursor test");
		close(scan);
		return;
	}
	if (pipe(ready))
		ktest_fatal("pipe");
	pid = fork();
	if (!pid) {
		char *m;

		if (cg_move(CG_IDLE "/c", getpid()))
			_exit(9);
		m = ksmu_map_anon(256 * ktest_page, 0, -1);
		if (!m)
			_exit(8);
		ksmu_fill_pages(m, 256, 91, 0x7fffffff);	/* all distinct: nothing merges */
		if (ksmu_register(ksm_sma(dev), m, 256))
			_exit(7);
		if (write(ready[1], &c, 1) != 1)
			_exit(6);
		pause();
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		ktest_fatal("the child did not register its region");
	close(ready[0]);
	/* The cursor stops inside the child's region, the only one registered. */
	ktest_ok(ksmu_scan_pages(scan, 16) == 0, "16 pages of the process's region scanned");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ktest_ok(KTEST_WAIT(rmdir(CG_IDLE "/c") == 0, 5000), "its cgroup removed after it exited");
	ktest_ok(KTEST_WAIT((dying = cg_read_path(CG_IDLE "/cgroup.stat",
						  "nr_dying_descendants")) == 0, 5000),
		 "the removed cgroup is gone while the scan fd stays idle (%ld dying)", dying);
	close(scan);
	if (dying)
		ktest_diag("after closing the scan fd: %ld dying",
			   KTEST_WAIT(cg_read_path(CG_IDLE "/cgroup.stat",
						   "nr_dying_descendants") == 0, 5000) ? 0L : 1L);
	KTEST_WAIT(rmdir(CG_IDLE) == 0, 5000);
}

#define CG_MOVE CG_ROOT "/ksm-moved-process-test"

/* Touch 64 KiB of stack, so that later calls fault in no stack page. */
static void touch_stack(void)
{
	volatile char buf[64 << 10];

	for (size_t i = 0; i < sizeof(buf); i += 512)
		buf[i] = 0;
}

/*
 * A process that registered its region in one cgroup and was then moved to
 * another charges the items made afterwards where it is now, as its pages
 * are, and its region does not keep the first cgroup: before, a region kept
 * the cgroup it was registered in (its items were charged there), so that
 * cgroup, once removed, stayed dying for as long as the region lived. The
 * child is moved once it has touched its stack, and neither faults in a page
 * nor writes to a pipe while it is in the first cgroup: a page charged there
 * would keep it too.
 */
static void test_moved_process(int dev)
{
	int go[2], ready[2], scan;
	struct ksm_stats st;
	long dying = -1;
	char c = 0;
	pid_t pid;

	rmdir(CG_MOVE "/a");
	rmdir(CG_MOVE "/b");
	rmdir(CG_MOVE);
	if (mkdir(CG_MOVE, 0755) || cg_write(CG_MOVE, "cgroup.subtree_control", "+memory") ||
	    mkdir(CG_MOVE "/a", 0755) || mkdir(CG_MOVE "/b", 0755)) {
		ktest_skip("cannot make cgroups for the moved process test");
		return;
	}
	scan = ksm_scanfd(dev);
	if (pipe(go) || pipe(ready))
		ktest_fatal("pipe");
	pid = fork();
	if (!pid) {
		char *m = ksmu_map_anon(256 * ktest_page, 0, -1);
		int sma = ksm_sma(dev);

		touch_stack();
		if (!m || write(ready[1], &c, 1) != 1)		/* ready to be moved */
			_exit(9);
		if (read(go[0], &c, 1) != 1)			/* now in a */
			_exit(8);
		if (ksmu_register(sma, m, 256))	/* no pipe write: its page would be charged */
			_exit(7);
		if (read(go[0], &c, 1) != 1)			/* now in b */
			_exit(6);
		ksmu_fill_pages(m, 256, 92, 0x7fffffff);	/* all distinct: nothing merges */
		if (write(ready[1], &c, 1) != 1)
			_exit(5);
		pause();
		_exit(0);
	}
	if (pid < 0)
		ktest_fatal("fork");
	close(go[0]);
	close(ready[1]);	/* a child gone early: EOF, not a wait */
	if (!ktest_ok(read(ready[0], &c, 1) == 1 && !cg_move(CG_MOVE "/a", pid) &&
		      write(go[1], &c, 1) == 1 &&
		      KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.regions == 1, 5000),
		      "a process registers its region in cgroup a") ||
	    !ktest_ok(!cg_move(CG_MOVE "/b", pid) && write(go[1], &c, 1) == 1 &&
		      read(ready[0], &c, 1) == 1, "moved to cgroup b, it fills the region"))
		goto out;
	ktest_ok(ksmu_scan_pass(scan) >= 0, "a pass tracks its pages");
	ktest_ok(KTEST_WAIT(rmdir(CG_MOVE "/a") == 0, 5000), "cgroup a removed");
	ktest_ok(KTEST_WAIT((dying = cg_read_path(CG_MOVE "/cgroup.stat",
						  "nr_dying_descendants")) == 0, 5000),
		 "the region keeps no removed cgroup while its process lives (%ld dying)", dying);
out:
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(go[1]);
	close(ready[0]);
	close(scan);
	rmdir(CG_MOVE "/a");
	KTEST_WAIT(rmdir(CG_MOVE "/b") == 0, 5000);
	KTEST_WAIT(rmdir(CG_MOVE) == 0, 5000);
}

#define CG_FULL CG_ROOT "/ksm-full-cgroup-test"

/* The single number in file @name of cgroup directory @dir, or -1. */
static long cg_read_one(const char *dir, const char *name)
{
	char path[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Give back what cgroup @dir has pre-charged on each CPU (the kernel keeps a
 * batch of pages per CPU for cgroups that charged there, counted in
 * memory.current, and charges from it without looking at the limit):
 * memory.high set below the usage drains those first, and unlike
 * memory.max it never OOM-kills (what reclaim cannot free stays). Then
 * memory.high is max again, and the usage is returned once it stops falling
 * (other CPUs give theirs back from a work item); -1 on error.
 */
static long drain_precharged(const char *dir)
{
	long usage = cg_read_one(dir, "memory.current"), prev;
	char v[32];

	snprintf(v, sizeof(v), "%ld", usage > 4096 ? usage - 4096 : 0);
	if (usage < 0 || cg_write(dir, "memory.high", v) || cg_write(dir, "memory.high", "max"))
		return -1;
	do {
		prev = usage;
		usleep(50000);
		usage = cg_read_one(dir, "memory.current");
	} while (usage != prev);
	return usage;
}

/*
 * A cgroup at its limit: its pages' merges are refused, counted in
 * memcg_refused, and nothing else happens (no reclaim, no OOM kill, the
 * pages stay as they were); once the limit is raised they merge. The child
 * faults its pages in the cgroup (so kernel pages would be charged there),
 * the module tracks them while they are distinct, then the child makes them
 * pairs and the limit is set to what the cgroup uses. A merge needs room for
 * its kernel page before it frees two pages, and the cgroup's pages
 * pre-charged on a CPU would give it some (or be given back during the
 * pass, which makes room): they are given back first. (In the other tests
 * here the cgroup reaches
 * its limit while merges go on; a merge lowers its usage by one page, so
 * they are not refused there.)
 */
static void test_refused(int dev)
{
	const long n = 512;
	int go[2], ready[2], scan;
	struct ksm_stats st0, st1;
	long usage, merged, refused;
	int status = -1;
	char c = 0, max[32];
	pid_t pid;

	rmdir(CG_FULL);
	if (mkdir(CG_FULL, 0755)) {
		ktest_skip("cannot make a cgroup for the full cgroup test");
		return;
	}
	cg_write(CG_FULL, "memory.swap.max", "0");	/* reclaim frees nothing (no swap anyway) */
	if (pipe(go) || pipe(ready))
		ktest_fatal("pipe");
	scan = ksm_scanfd(dev);
	pid = fork();
	if (!pid) {
		char *m = ksmu_map_anon(n * ktest_page, 0, -1);
		int sma = ksm_sma(dev);

		if (!m || read(go[0], &c, 1) != 1)		/* now in the cgroup */
			_exit(8);
		ksmu_fill_pages(m, n, 93, n);			/* all distinct */
		if (ksmu_register(sma, m, n) || write(ready[1], &c, 1) != 1)
			_exit(7);
		if (read(go[0], &c, 1) != 1)
			_exit(6);
		for (long j = 0; j < n; j++)			/* pages 2j and 2j + 1 alike */
			ksmu_fill_page(m + j * ktest_page, 94, j / 2);
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(5);
		for (long j = 0; j < n; j++)
			if (!ksmu_check_page(m + j * ktest_page, 94, j / 2))
				_exit(4);
		_exit(0);
	}
	if (pid < 0)
		ktest_fatal("fork");
	close(go[0]);
	close(ready[1]);	/* a child gone early: EOF, not a wait */
	if (!ktest_ok(!cg_move(CG_FULL, pid) && write(go[1], &c, 1) == 1 &&
		      read(ready[0], &c, 1) == 1, "a process in a cgroup registers %ld distinct pages",
		      n)) {
		kill(pid, SIGKILL);
		goto out;
	}
	ktest_ok(ksmu_scan_pass(scan) == 0, "a pass tracks them, merging none");
	ktest_ok(write(go[1], &c, 1) == 1 && read(ready[0], &c, 1) == 1, "it makes them %ld pairs",
		 n / 2);
	usage = drain_precharged(CG_FULL);
	snprintf(max, sizeof(max), "%ld", usage);
	ktest_ok(usage > 0 && !cg_write(CG_FULL, "memory.max", max),
		 "the cgroup's limit set to what it uses (%ld KiB)", usage >> 10);
	ksmu_stats(dev, &st0);
	merged = ksmu_scan_pass(scan);
	ksmu_stats(dev, &st1);
	refused = (long)(st1.memcg_refused - st0.memcg_refused);
	ktest_ok(!merged && refused >= n / 4,
		 "at its limit, its merges are refused and counted (%ld merged, %ld refused; "
		 "%ld KiB used after)", merged, refused, cg_read_one(CG_FULL, "memory.current") >> 10);
	ktest_ok(!kill(pid, 0) && cg_read("memory.events", "oom_kill") <= 0 &&
		 cg_read_path(CG_FULL "/memory.events", "oom_kill") == 0,
		 "nothing was OOM-killed");
	ktest_ok(!cg_write(CG_FULL, "memory.max", "max") && ksmu_scan_settle(scan, 3) + merged == n,
		 "the limit raised, every pair merges");
	ktest_ok(write(go[1], &c, 1) == 1 && waitpid(pid, &status, 0) == pid &&
		 WIFEXITED(status) && !WEXITSTATUS(status),
		 "its pages hold what it wrote (status %#x)", status);
out:
	waitpid(pid, NULL, 0);
	close(go[1]);
	close(ready[0]);
	close(scan);
	KTEST_WAIT(rmdir(CG_FULL) == 0, 5000);
}

#define CG_POISON CG_ROOT "/ksm-poison-charge-test"

/* The inode of the memory cgroup page frame @pfn is charged to (/proc/kpagecgroup), 0: none; -1. */
static long long kpagecgroup(uint64_t pfn)
{
	int fd = open("/proc/kpagecgroup", O_RDONLY | O_CLOEXEC);
	uint64_t ino;
	ssize_t r = fd < 0 ? -1 : pread(fd, &ino, sizeof(ino), (off_t)(pfn * sizeof(ino)));

	if (fd >= 0)
		close(fd);
	return r == (ssize_t)sizeof(ino) ? (long long)ino : -1;
}

/*
 * A poisoned kernel page is never freed (memory_failure() keeps a reference
 * to it for ever), so its charge goes when the module lets go of it, as the
 * kernel uncharges a poisoned page it takes off the LRU. Before, it stayed
 * charged to its cgroup for ever (after that was removed, to its parent; on
 * 5.10 it kept the removed cgroup itself).
 */
static void test_poisoned_charge(int dev)
{
	int scan = ksm_scanfd(dev);
	char home[256] = CG_ROOT;
	struct ksm_stats st;
	long long ino0, ino1;
	uint64_t pfn;
	long r;
	FILE *f = fopen("/proc/self/cgroup", "re");

	/* The cgroup this test runs in, "0::/path" in cgroup v2, to come back to. */
	if (!f || fscanf(f, "0::%200s", home + strlen(CG_ROOT)) != 1)
		home[strlen(CG_ROOT)] = 0;
	if (f)
		fclose(f);
	rmdir(CG_POISON);
	if (mkdir(CG_POISON, 0755) || cg_move(CG_POISON, getpid())) {
		ktest_skip("cannot make a cgroup for the poisoned charge test");
		close(scan);
		return;
	}
	/* The peers fault their pages in the cgroup; this process goes back. */
	struct peer a = peer_start(dev, 8, 77, 8), b = peer_start(dev, 8, 77, 8);

	cg_move(home, getpid());
	ksmu_scan_settle(scan, 3);
	pfn = peer_pfn(&a, 2);
	ino0 = kpagecgroup(pfn);
	r = peer_cmd(&a, PEER_MADVISE, 2, 1, MADV_HWPOISON);
	/* (memory_failure() marks a kernel page poisoned, and madvise() says EBUSY.) */
	ktest_ok(peers_shared(&a, &b) == 8 && ino0 > 0 &&
		 (ksmu_kpageflags(pfn) & (1ULL << KPF_HWPOISON)),
		 "8 pages merged in a cgroup, one poisoned: its kernel page was charged there "
		 "(inode %lld, madvise %ld)", ino0, r);
	ksmu_scan_pass(scan);
	peer_stop(&a);
	peer_stop(&b);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.kpages_held == 0, 10000),
		 "every kernel page is given back, the poisoned one too");
	ino1 = kpagecgroup(pfn);
	ktest_ok(!ino1, "the poisoned page is charged to no cgroup (inode %lld)", ino1);
	KTEST_WAIT(rmdir(CG_POISON) == 0, 5000);
	close(scan);
}

int main(void)
{
	int dev = ksm_open();

	test_limited(dev);
	test_unlimited(dev);
	test_idle_cursor(dev);
	test_moved_process(dev);
	test_refused(dev);
	test_poisoned_charge(dev);
	return ktest_done();
}
