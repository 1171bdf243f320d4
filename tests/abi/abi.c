// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/ksm ABI: version, features, fd types, every ioctl on every kind of
 * fd, unknown ioctls, bad pointers, argument validation, permissions, and a
 * synchronous scan cut short by a signal.
 */
#include "ktest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* Every ioctl of the three fd kinds, with a valid argument buffer. */
struct ioctl_case {
	const char *name;
	unsigned long cmd;
	int kind;	/* 0: /dev/ksm, 1: SMA fd, 2: scan fd */
};

static const struct ioctl_case cases[] = {
	{ "KSM_GET_API_VERSION", KSM_GET_API_VERSION, 0 },
	{ "KSM_CREATE_SHARED_MEMORY_AREA", KSM_CREATE_SHARED_MEMORY_AREA, 0 },
	{ "KSM_CREATE_SCAN", KSM_CREATE_SCAN, 0 },
	{ "KSM_START_STOP_KTHREAD", KSM_START_STOP_KTHREAD, 0 },
	{ "KSM_GET_INFO_KTHREAD", KSM_GET_INFO_KTHREAD, 0 },
	{ "KSM_GET_INFO_KTHREAD_R", KSM_GET_INFO_KTHREAD_R, 0 },
	{ "KSM_GET_FEATURES", KSM_GET_FEATURES, 0 },
	{ "KSM_GET_STATS", KSM_GET_STATS, 0 },
	{ "KSM_REGISTER_MEMORY_REGION", KSM_REGISTER_MEMORY_REGION, 1 },
	{ "KSM_REMOVE_MEMORY_REGION", KSM_REMOVE_MEMORY_REGION, 1 },
	{ "KSM_SCAN", KSM_SCAN, 2 },
	{ "KSM_SCAN_EXT", KSM_SCAN_EXT, 2 },
};

static void test_version_features(int dev)
{
	struct ksm_features f;

	ktest_ok(ioctl(dev, KSM_GET_API_VERSION) == KSM_API_VERSION,
		 "KSM_GET_API_VERSION returns %d", KSM_API_VERSION);
	memset(&f, 0xff, sizeof(f));
	ktest_ok(ioctl(dev, KSM_GET_FEATURES, &f) == 0, "KSM_GET_FEATURES succeeds");
	ktest_ok(f.api_version == KSM_API_VERSION && f.page_size == (uint32_t)ktest_page,
		 "features: api_version %u, page_size %u", f.api_version, f.page_size);
	ktest_ok((f.features & (KSM_FEATURE_GET_FEATURES | KSM_FEATURE_STATS |
				KSM_FEATURE_SCAN_EXT | KSM_FEATURE_INFO_KTHREAD_R)) ==
		 (KSM_FEATURE_GET_FEATURES | KSM_FEATURE_STATS | KSM_FEATURE_SCAN_EXT |
		  KSM_FEATURE_INFO_KTHREAD_R), "features: %#llx has the base features",
		 (unsigned long long)f.features);
	bool zero = true;

	for (size_t i = 0; i < sizeof(f.reserved) / sizeof(f.reserved[0]); i++)
		zero &= !f.reserved[i];
	ktest_ok(zero, "features: reserved fields are zero");
}

static void test_fd_kinds(int dev, int sma, int scan)
{
	char path[64], link[128];
	ssize_t n;
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", sma);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	ktest_ok(!strcmp(link, "anon_inode:ksm-sma"), "SMA fd is anon_inode:ksm-sma (%s)", link);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", scan);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	ktest_ok(!strcmp(link, "anon_inode:ksm-scan"), "scan fd is anon_inode:ksm-scan (%s)", link);
	ktest_ok((fcntl(sma, F_GETFD) & FD_CLOEXEC) && (fcntl(scan, F_GETFD) & FD_CLOEXEC),
		 "SMA and scan fds are close-on-exec");
	ktest_ok(fstat(dev, &st) == 0 && S_ISCHR(st.st_mode), "/dev/ksm is a character device");
	ktest_ok(stat("/dev/ksm", &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_uid == 0,
		 "/dev/ksm is root's, mode 0600 (mode %o, uid %u)", st.st_mode & 07777, st.st_uid);
	ktest_ok(access("/sys/class/misc/ksm/pages_shared", R_OK) == 0,
		 "sysfs attributes under /sys/class/misc/ksm");
}

/* Every ioctl on the fd kinds it does not belong to: -ENOTTY. */
static void test_wrong_fd(int fds[3])
{
	static const char *kinds[] = { "/dev/ksm", "SMA fd", "scan fd" };
	union {
		struct ksm_kthread_info info;
		struct ksm_memory_region mem;
		struct ksm_user_scan scan;
		struct ksm_scan_ext ext;
		struct ksm_stats stats;
		struct ksm_features feat;
	} buf;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int k = 0; k < 3; k++) {
			if (k == cases[i].kind)
				continue;
			memset(&buf, 0, sizeof(buf));
			KTEST_ERRNO(ioctl(fds[k], cases[i].cmd, &buf), ENOTTY, "%s on a %s: ENOTTY",
				    cases[i].name, kinds[k]);
		}
	}
}

static void test_unknown(int fds[3])
{
	const unsigned long unknown[] = {
		_IO(KSMIO, 0x7f), _IO(KSMIO, 0x22), _IOR(KSMIO, 0x05, uint32_t),
		_IOWR(KSMIO, 0x41, struct ksm_user_scan), _IOW(KSMIO, 0x06, struct ksm_stats),
		_IOW('x', 0x20, struct ksm_memory_region), 0xdeadbeef, 0,
	};

	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
			char buf[4096] = { 0 };

			KTEST_ERRNO(ioctl(fds[k], unknown[i], buf), ENOTTY,
				    "unknown ioctl %#lx on fd kind %d: ENOTTY", unknown[i], k);
		}
}

/* Pointer arguments that are NULL, unmapped, read-only (for outputs) or kernel. */
static void test_bad_pointers(int dev, int sma, int scan)
{
	void *unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *ptrs[] = { NULL, unmapped, (void *)0xffffffff81000000UL, (void *)-4096L };
	const char *pname[] = { "NULL", "PROT_NONE memory", "a kernel address", "the top of memory" };

	for (int p = 0; p < 4; p++) {
		KTEST_ERRNO(ioctl(dev, KSM_START_STOP_KTHREAD, ptrs[p]), EFAULT,
			    "KSM_START_STOP_KTHREAD from %s: EFAULT", pname[p]);
		KTEST_ERRNO(ioctl(dev, KSM_GET_INFO_KTHREAD, ptrs[p]), EFAULT,
			    "KSM_GET_INFO_KTHREAD to %s: EFAULT", pname[p]);
		KTEST_ERRNO(ioctl(dev, KSM_GET_FEATURES, ptrs[p]), EFAULT,
			    "KSM_GET_FEATURES to %s: EFAULT", pname[p]);
		KTEST_ERRNO(ioctl(dev, KSM_GET_STATS, ptrs[p]), EFAULT,
			    "KSM_GET_STATS to %s: EFAULT", pname[p]);
		KTEST_ERRNO(ioctl(sma, KSM_REGISTER_MEMORY_REGION, ptrs[p]), EFAULT,
			    "KSM_REGISTER_MEMORY_REGION from %s: EFAULT", pname[p]);
		KTEST_ERRNO(ioctl(scan, KSM_SCAN, ptrs[p]), EFAULT, "KSM_SCAN from %s: EFAULT",
			    pname[p]);
		KTEST_ERRNO(ioctl(scan, KSM_SCAN_EXT, ptrs[p]), EFAULT,
			    "KSM_SCAN_EXT from %s: EFAULT", pname[p]);
	}
	KTEST_ERRNO(ioctl(dev, KSM_GET_INFO_KTHREAD_R, ro), EFAULT,
		    "KSM_GET_INFO_KTHREAD_R to read-only memory: EFAULT");
	KTEST_ERRNO(ioctl(dev, KSM_GET_STATS, ro), EFAULT, "KSM_GET_STATS to read-only memory: EFAULT");
	/* KSM_SCAN_EXT writes its results back: read-only input is readable but not writable. */
	KTEST_ERRNO(ioctl(scan, KSM_SCAN_EXT, ro), EFAULT, "KSM_SCAN_EXT to read-only memory: EFAULT");
	munmap(unmapped, 4096);
	munmap(ro, 4096);
}

static void test_kthread_validation(int dev)
{
	struct ksm_kthread_info before, info, after, alias;

	ktest_ok(ioctl(dev, KSM_GET_INFO_KTHREAD, &before) == 0, "KSM_GET_INFO_KTHREAD");
	ktest_ok(ioctl(dev, KSM_GET_INFO_KTHREAD_R, &alias) == 0 &&
		 !memcmp(&before, &alias, sizeof(alias)),
		 "KSM_GET_INFO_KTHREAD_R returns the same as KSM_GET_INFO_KTHREAD");
	ktest_ok(before.running == 0, "kksmd is not running at start");

	info = (struct ksm_kthread_info){ .sleep = 1000, .pages_to_scan = 10,
					  .max_pages_to_merge = 10, .running = 2 };
	KTEST_ERRNO(ioctl(dev, KSM_START_STOP_KTHREAD, &info), EINVAL, "running = 2: EINVAL");
	info.running = 1;
	info.sleep = 60000001;
	KTEST_ERRNO(ioctl(dev, KSM_START_STOP_KTHREAD, &info), EINVAL, "sleep > 60 s: EINVAL");
	info.sleep = 1000;
	info.pages_to_scan = 0;
	KTEST_ERRNO(ioctl(dev, KSM_START_STOP_KTHREAD, &info), EINVAL, "pages_to_scan = 0: EINVAL");
	info.pages_to_scan = 10;
	info.max_pages_to_merge = 0;
	KTEST_ERRNO(ioctl(dev, KSM_START_STOP_KTHREAD, &info), EINVAL,
		    "max_pages_to_merge = 0: EINVAL");
	ktest_ok(ioctl(dev, KSM_GET_INFO_KTHREAD, &after) == 0 && !memcmp(&before, &after, sizeof(after)),
		 "rejected settings left the settings unchanged");

	/* The 2008 ksmctl stops with garbage in every field but running. */
	info = (struct ksm_kthread_info){ .sleep = 0xffffffff, .pages_to_scan = 0xdeadbeef,
					  .max_pages_to_merge = 0x12345678, .running = 0 };
	ktest_ok(ioctl(dev, KSM_START_STOP_KTHREAD, &info) == 0, "stop ignores the other fields");
	ktest_ok(ioctl(dev, KSM_GET_INFO_KTHREAD, &after) == 0 && !memcmp(&before, &after, sizeof(after)),
		 "stop left the other settings as they were");
}

/* What an unprivileged process holding an open /dev/ksm fd can and cannot do. */
static void test_permissions(int dev)
{
	int pipefd[2];
	pid_t pid;

	if (pipe(pipefd))
		ktest_fatal("pipe");
	pid = fork();
	if (!pid) {
		struct ksm_kthread_info info = { .sleep = 1000, .pages_to_scan = 10,
						 .max_pages_to_merge = 10, .running = 1 };
		char r[4];

		close(pipefd[0]);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(9);
		r[0] = open("/dev/ksm", O_RDWR) < 0 && errno == EACCES;
		r[1] = ioctl(dev, KSM_START_STOP_KTHREAD, &info) < 0 && errno == EPERM;
		r[2] = ioctl(dev, KSM_GET_INFO_KTHREAD, &info) == 0;
		r[3] = ioctl(dev, KSM_GET_API_VERSION) == KSM_API_VERSION;
		if (write(pipefd[1], r, sizeof(r)) != sizeof(r))
			_exit(8);
		_exit(0);
	}
	close(pipefd[1]);
	char r[4] = { 0 };
	int st;

	ktest_ok(read(pipefd[0], r, sizeof(r)) == sizeof(r), "unprivileged child reported");
	waitpid(pid, &st, 0);
	close(pipefd[0]);
	ktest_ok(r[0], "unprivileged open of /dev/ksm: EACCES");
	ktest_ok(r[1], "unprivileged KSM_START_STOP_KTHREAD on an inherited fd: EPERM");
	ktest_ok(r[2], "unprivileged KSM_GET_INFO_KTHREAD on an inherited fd works");
	ktest_ok(r[3], "unprivileged KSM_GET_API_VERSION on an inherited fd works");
}

static void test_scan_args(int dev, int scan)
{
	struct ksm_scan_ext ext;
	struct ksm_user_scan us = { .pages_to_scan = 100, .max_pages_to_merge = 100 };
	struct ksm_stats st;

	ktest_ok(ioctl(scan, KSM_SCAN, &us) == 0, "KSM_SCAN with nothing registered returns 0");
	memset(&ext, 0, sizeof(ext));
	ext.pages_to_scan = 100;
	ktest_ok(ioctl(scan, KSM_SCAN_EXT, &ext) == 0 && ext.pages_scanned == 0 &&
		 ext.pages_merged == 0, "KSM_SCAN_EXT with nothing registered scans nothing");
	ext.flags = 1u << 7;
	KTEST_ERRNO(ioctl(scan, KSM_SCAN_EXT, &ext), EINVAL, "KSM_SCAN_EXT unknown flag: EINVAL");
	ext.flags = 0;
	ext.reserved0 = 1;
	KTEST_ERRNO(ioctl(scan, KSM_SCAN_EXT, &ext), EINVAL, "KSM_SCAN_EXT reserved0 != 0: EINVAL");
	ext.reserved0 = 0;
	ext.reserved[2] = 5;
	KTEST_ERRNO(ioctl(scan, KSM_SCAN_EXT, &ext), EINVAL, "KSM_SCAN_EXT reserved[] != 0: EINVAL");

	ktest_ok(ksmu_stats(dev, &st) == 0, "KSM_GET_STATS");
	bool zero = true;

	for (size_t i = 0; i < sizeof(st.reserved1) / 8; i++)
		zero &= !st.reserved1[i];
	for (int i = KSM_SKIP_NR; i < KSM_SKIP_MAX; i++)
		zero &= !st.skipped[i];
	ktest_ok(zero, "stats: reserved fields are zero");
	ktest_ok(st.hash_buckets >= 256 && !(st.hash_buckets & (st.hash_buckets - 1)),
		 "stats: hash_buckets %llu is a power of two", (unsigned long long)st.hash_buckets);
	ktest_ok(st.hash_buckets == (uint64_t)ksmu_read_long("/sys/class/misc/ksm/hash_buckets"),
		 "sysfs hash_buckets matches the stats ioctl");
}

static void on_signal(int sig)
{
	(void)sig;
}

struct scan_thread {
	int scan;
	int ret, err;
	double elapsed_us;
};

static void *scan_forever(void *arg)
{
	struct scan_thread *t = arg;
	struct ksm_user_scan us = { .pages_to_scan = 0xffffffff, .max_pages_to_merge = 0xffffffff };
	double t0 = ksmu_now_s();

	t->ret = ioctl(t->scan, KSM_SCAN, &us);
	t->err = errno;
	t->elapsed_us = (ksmu_now_s() - t0) * 1e6;
	return NULL;
}

/*
 * @npages of address space for a sparse region: no huge pages, or each page
 * touched would fault in 2 MiB (the guests' THP is "always"), and the region
 * would be as full as its address space.
 */
static char *sparse_map(long npages)
{
	char *mem = ksmu_map_anon(npages * ktest_page, 0, -1);

	if (!mem)
		ktest_fatal("mmap of %ld pages", npages);
	return mem;
}

/* A KSM_SCAN of 4 billion pages is cut short by a signal with EINTR. */
static void test_scan_signal(int dev)
{
	const long npages = 65536;	/* 256 MiB, one page in 16 touched: 4096 to scan per pass */
	int sma = ksm_sma(dev), scan = ksm_scanfd(dev);
	char *mem = sparse_map(npages);
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART */
	struct scan_thread t = { .scan = scan };
	pthread_t th;

	for (long i = 0; i < npages; i += 16)
		ksmu_fill_page(mem + i * ktest_page, 7, i);
	sigaction(SIGUSR1, &sa, NULL);
	ktest_ok(ksmu_register(sma, mem, npages) == 0, "register 256 MiB for the signal test");
	pthread_create(&th, NULL, scan_forever, &t);
	usleep(300000);
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	ktest_ok(t.ret == -1 && t.err == EINTR, "KSM_SCAN interrupted by a signal: EINTR (ret %d errno %d)",
		 t.ret, t.err);
	ktest_ok(t.elapsed_us < 20e6, "the interrupted scan returned within 20 s (%.0f ms)",
		 t.elapsed_us / 1000);
	close(scan);
	close(sma);
	munmap(mem, npages * ktest_page);
}

struct scan_ext_thread {
	int scan;
	int ret, err;
	atomic_int tid;
	struct ksm_scan_ext ext;
};

static void *scan_one_pass(void *arg)
{
	struct scan_ext_thread *t = arg;

	atomic_store(&t->tid, (int)syscall(SYS_gettid));
	t->ext.pages_to_scan = 0xffffffff;
	t->ext.flags = KSM_SCAN_PASS_END;
	t->ret = ioctl(t->scan, KSM_SCAN_EXT, &t->ext);
	t->err = errno;
	return NULL;
}

/*
 * A signal whose handler has SA_RESTART, arriving while a KSM_SCAN_EXT waits
 * for another scan on the same fd (nothing done yet), restarts the call: it
 * goes on waiting, then scans its pass, and does not fail with EINTR.
 */
static void test_scan_restart(int dev)
{
	const long npages = 65536;	/* 256 MiB, one page in 16 touched */
	int sma = ksm_sma(dev), scan = ksm_scanfd(dev);
	char *mem = sparse_map(npages);
	struct sigaction sa = { .sa_handler = on_signal }, restart = sa;
	struct scan_thread a = { .scan = scan };
	struct scan_ext_thread b = { .scan = scan };
	struct ksm_stats st;
	uint64_t scanned;
	pthread_t ta, tb;
	int w;

	restart.sa_flags = SA_RESTART;
	for (long i = 0; i < npages; i += 16)
		ksmu_fill_page(mem + i * ktest_page, 9, i);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &restart, NULL);
	ktest_ok(ksmu_register(sma, mem, npages) == 0, "register 256 MiB for the restart test");
	ksmu_stats(dev, &st);
	scanned = st.pages_scanned;
	pthread_create(&ta, NULL, scan_forever, &a);
	/* a holds the fd's scan lock once pages are being scanned. */
	for (w = 0; w < 1000 && !ksmu_stats(dev, &st) && st.pages_scanned == scanned; w++)
		usleep(10000);
	pthread_create(&tb, NULL, scan_one_pass, &b);	/* waits for a's scan */
	/* b asleep in its ioctl: waiting for that lock. */
	for (w = 0; w < 1000; w++) {
		char path[64], line[32] = "";
		FILE *f;

		usleep(10000);
		snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", atomic_load(&b.tid));
		f = atomic_load(&b.tid) ? fopen(path, "r") : NULL;
		if (f && fgets(line, sizeof(line), f) && atoi(line) == SYS_ioctl) {
			fclose(f);
			break;
		}
		if (f)
			fclose(f);
	}
	ktest_ok(w < 1000, "the second scan waits for the first (%d ms)", w * 10);
	pthread_kill(tb, SIGUSR2);
	usleep(300000);
	pthread_kill(ta, SIGUSR1);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ktest_ok(a.ret == -1 && a.err == EINTR, "the first scan, interrupted without SA_RESTART: EINTR "
		 "(ret %d errno %d)", a.ret, a.err);
	ktest_ok(b.ret == 0 && (b.ext.pages_scanned || b.ext.full_scans),
		 "a scan waiting for it, signalled with SA_RESTART, restarts and scans its pass "
		 "(ret %d errno %d, %llu pages)", b.ret, b.ret ? b.err : 0,
		 (unsigned long long)b.ext.pages_scanned);
	signal(SIGUSR2, SIG_DFL);
	close(scan);
	close(sma);
	munmap(mem, npages * ktest_page);
}

int main(void)
{
	int dev = ksm_open();
	int sma = ksm_sma(dev);
	int scan = ksm_scanfd(dev);
	int fds[3] = { dev, sma, scan };

	test_version_features(dev);
	test_fd_kinds(dev, sma, scan);
	test_wrong_fd(fds);
	test_unknown(fds);
	test_bad_pointers(dev, sma, scan);
	test_kthread_validation(dev);
	test_permissions(dev);
	test_scan_args(dev, scan);
	test_scan_signal(dev);
	test_scan_restart(dev);
	close(scan);
	close(sma);
	close(dev);
	return ktest_done();
}
