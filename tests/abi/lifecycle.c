// SPDX-License-Identifier: GPL-2.0
/*
 * Lifecycle of SMAs, regions and the module: close, REMOVE, exit (also with
 * the SMA fd leaked to another process), fork, scans racing with close, and
 * unload refused while any fd is open.
 */
#include "ktest.h"

#include <pthread.h>
#include <sys/syscall.h>

static uint64_t nregions(int dev)
{
	struct ksm_stats st;

	if (ksmu_stats(dev, &st))
		ktest_fatal("KSM_GET_STATS");
	return st.regions;
}

/* Poll until the module counts @want regions (process teardown is asynchronous to waitpid). */
static bool wait_regions(int dev, uint64_t want)
{
	for (int i = 0; i < 200; i++) {
		if (nregions(dev) == want)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_close_and_remove(int dev)
{
	char *a = anon_map(32 * ktest_page, 0);
	int sma = ksm_sma(dev);

	ktest_ok(ksmu_register(sma, a, 8) == 0 && ksmu_register(sma, a + 8 * ktest_page, 8) == 0,
		 "two regions registered");
	ktest_ok(nregions(dev) == 2, "the module counts 2 regions");
	ktest_ok(ioctl(sma, KSM_REMOVE_MEMORY_REGION) == 0 && nregions(dev) == 0,
		 "KSM_REMOVE_MEMORY_REGION drops both");
	ktest_ok(ioctl(sma, KSM_REMOVE_MEMORY_REGION) == 0, "removing from an empty SMA is fine");
	ktest_ok(ksmu_register(sma, a, 32) == 0 && nregions(dev) == 1, "the SMA is usable again");
	close(sma);
	ktest_ok(nregions(dev) == 0, "closing the SMA fd drops its regions");
	munmap(a, 32 * ktest_page);
}

/* A process that exits drops its regions, even while another process holds its SMA fd. */
static void test_exit_with_leaked_fd(int dev)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		ktest_fatal("socketpair");
	pid = fork();
	if (!pid) {
		int sma = ksm_sma(dev);
		char *m = anon_map(64 * ktest_page, 0);
		char c;

		memset(m, 1, 64 * ktest_page);
		if (ksmu_register(sma, m, 64))
			_exit(3);
		if (ksmu_send_fd(sv[1], sma))
			_exit(7);
		if (read(sv[1], &c, 1) != 1)	/* wait for the parent */
			_exit(4);
		_exit(0);	/* without closing anything */
	}
	int sma = ksmu_recv_fd(sv[0]);

	ktest_ok(sma >= 0, "received the child's SMA fd over SCM_RIGHTS");
	ktest_ok(nregions(dev) == 1, "the child's region is registered");
	if (write(sv[0], "x", 1) != 1)
		ktest_fatal("write");
	waitpid(pid, NULL, 0);
	ktest_ok(wait_regions(dev, 0), "the child exited: its region is gone although its SMA fd lives on");

	char *mine = anon_map(8 * ktest_page, 0);

	/* An SMA acts for the process that made it only (docs/security.md). */
	KTEST_ERRNO(ksmu_register(sma, mine, 8), EPERM,
		    "the receiver cannot register its own memory on the passed SMA: EPERM");
	ktest_ok(nregions(dev) == 0, "nothing was registered");
	close(sma);
	munmap(mine, 8 * ktest_page);
	close(sv[0]);
	close(sv[1]);
}

static void test_fork(int dev)
{
	char *a = anon_map(16 * ktest_page, 0);
	int sma = ksm_sma(dev);
	int up[2], down[2];	/* child -> parent, parent -> child */
	pid_t pid;

	if (pipe(up) || pipe(down))
		ktest_fatal("pipe");
	ktest_ok(ksmu_register(sma, a, 16) == 0, "parent registers 16 pages");
	pid = fork();
	if (!pid) {
		char c;
		uint64_t res[3];

		res[0] = nregions(dev);
		res[1] = ksmu_register(sma, a, 16) == -1 && errno == EPERM;
		res[2] = nregions(dev);
		if (write(up[1], res, sizeof(res)) != sizeof(res) || read(down[0], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	uint64_t res[3] = { 0 };

	if (read(up[0], res, sizeof(res)) != sizeof(res))
		ktest_fatal("child");
	ktest_ok(res[0] == 1, "fork does not register the child's copy (%llu regions)",
		 (unsigned long long)res[0]);
	ktest_ok(res[1] && res[2] == 1,
		 "the child cannot register its copy on the inherited SMA (EPERM): it is the parent's");
	if (write(down[1], "x", 1) != 1)
		ktest_fatal("write");
	waitpid(pid, NULL, 0);
	ktest_ok(wait_regions(dev, 1), "the child's exit leaves the parent's region");
	close(sma);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	munmap(a, 16 * ktest_page);
}

/* Regions come and go (register, close, exit) while two threads scan. */
static void test_scan_races(int dev)
{
	struct ktest_scanner r1, r2;
	bool ok = true;

	ktest_scanner_start(&r1, ksm_scanfd(dev), 512);
	ktest_scanner_start(&r2, ksm_scanfd(dev), 512);
	for (int round = 0; round < 40; round++) {
		int sma = ksm_sma(dev);
		long n = 64 + round * 8;
		char *m = anon_map(n * ktest_page, 0);

		ksmu_fill_pages(m, n, round % 3, 16);
		ok &= ksmu_register(sma, m, n) == 0;
		if (round % 2) {
			pid_t pid = fork();

			if (!pid) {
				int s2 = ksm_sma(dev);
				char *c = anon_map(n * ktest_page, 0);

				ksmu_fill_pages(c, n, round % 3, 16);
				ksmu_register(s2, c, n);
				usleep(20000);
				_exit(0);	/* exit with the region registered */
			}
			waitpid(pid, NULL, 0);
		}
		usleep(10000);
		if (round % 3)
			ioctl(sma, KSM_REMOVE_MEMORY_REGION);
		close(sma);
		ok &= ksmu_check_pages(m, n, round % 3, 16) < 0;
		munmap(m, n * ktest_page);
	}
	ktest_scanner_stop(&r1);
	ktest_scanner_stop(&r2);
	ktest_ok(ok, "registrations and contents right while regions come and go under two scanners");
	ktest_ok(r1.scans > 0 && r2.scans > 0, "both scanners ran (%ld and %ld scans)", r1.scans, r2.scans);
	ktest_ok(wait_regions(dev, 0), "no region left behind");
	close(r1.fd);
	close(r2.fd);
}

/* delete_module() fails while any fd of the module is open, and works after. */
static void test_unload(void)
{
	int dev = ksm_open();
	int sma = ksm_sma(dev);
	int scan = ksm_scanfd(dev);

	/* The kernel answers EWOULDBLOCK (EAGAIN) when a module is in use. */
	KTEST_ERRNO(syscall(SYS_delete_module, "ksm", O_NONBLOCK), EWOULDBLOCK,
		    "unload refused while /dev/ksm, an SMA and a scan fd are open");
	close(dev);
	KTEST_ERRNO(syscall(SYS_delete_module, "ksm", O_NONBLOCK), EWOULDBLOCK,
		    "unload refused while an SMA and a scan fd are open");
	close(sma);
	KTEST_ERRNO(syscall(SYS_delete_module, "ksm", O_NONBLOCK), EWOULDBLOCK,
		    "unload refused while a scan fd is open");
	close(scan);
	ktest_ok(syscall(SYS_delete_module, "ksm", O_NONBLOCK) == 0, "unload works once all fds are closed");
	ktest_ok(access("/dev/ksm", F_OK) != 0, "/dev/ksm is gone");
	ktest_ok(module_load(NULL) == 0 && ksmu_dev_wait(), "and the module loads again");
}

static uint64_t kpages_held(int dev)
{
	struct ksm_stats st;

	return ksmu_stats(dev, &st) ? 0 : st.kpages_held;
}

/*
 * Kernel pages whose last mapping goes when no pass runs any more are given
 * back all the same: a process merges 32 pairs, forks a child that keeps
 * them mapped, removes its regions and exits; the child exits 7 s later,
 * after the sweeps that follow a removal (0.1, 0.6 and 3.1 s). No region is left, so no
 * pass sweeps: the module must come back to them by itself.
 */
static void test_late_unmap(int dev)
{
	const int n = 32;
	uint64_t held0;
	int up[2];
	pid_t pid;
	char c;

	/* Kernel pages earlier tests left mapped go too (by the sweep this tests): wait. */
	KTEST_WAIT(kpages_held(dev) == 0, 15000);
	held0 = kpages_held(dev);
	if (held0)
		ktest_diag("%llu kernel pages held before the test", (unsigned long long)held0);

	if (pipe(up))
		ktest_fatal("pipe");
	pid = fork();
	if (!pid) {
		int sma = ksm_sma(dev), scan = ksm_scanfd(dev);
		char *m = anon_map(2 * n * ktest_page, 0);

		ksmu_fill_pages(m, 2 * n, 81, n);	/* page i and page n + i alike */
		if (ksmu_register(sma, m, 2 * n) || ksmu_scan_pass(scan) < 2 * n)
			_exit(2);
		if (!fork()) {
			/* As after an exec (they are close-on-exec): closing them sweeps. */
			close(sma);
			close(scan);
			close(up[0]);
			sleep(7);	/* past the sweeps after a removal: holds the mappings, the pipe */
			_exit(0);
		}
		if (write(up[1], "x", 1) != 1)
			_exit(3);
		_exit(0);	/* its regions go, its mappings with it; the child's stay */
	}
	close(up[1]);
	ktest_ok(read(up[0], &c, 1) == 1, "a process merged %d pairs and forked", n);
	waitpid(pid, NULL, 0);
	ktest_ok(kpages_held(dev) >= held0 + n, "its exit leaves the kernel pages its child maps (%llu)",
		 (unsigned long long)(kpages_held(dev) - held0));
	read(up[0], &c, 1);	/* EOF: the child exited */
	close(up[0]);
	double t0 = ksmu_now_s();
	bool gone = KTEST_WAIT(nregions(dev) == 0 && kpages_held(dev) == held0, 30000);

	ktest_ok(gone, "the child's exit, with no region left, gives them back (%.1f s, %llu held)",
		 ksmu_now_s() - t0, (unsigned long long)(kpages_held(dev) - held0));
}

int main(void)
{
	int dev = ksm_open();

	ktest_ok(nregions(dev) == 0, "no region registered at start");
	test_close_and_remove(dev);
	test_exit_with_leaked_fd(dev);
	test_fork(dev);
	test_scan_races(dev);
	test_late_unmap(dev);
	close(dev);
	test_unload();
	return ktest_done();
}
