// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz - random and boundary ioctls on every kind of fd.
 *
 * Seeded: known ioctls with structure-aware random fields (boundary numbers,
 * unmapped, read-only, PROT_NONE, file-backed, kernel and overflowing
 * addresses, huge page counts), ioctl numbers near ours and random ones,
 * wrong fd kinds; fds created and closed at random, passed to a child over
 * SCM_RIGHTS, closed by one thread while another uses them; children that
 * register memory and exit mid-way; thousands of regions. A bystander process
 * holds secret pages the whole time and must find them intact; no fuzzed
 * process may ever see them. Afterwards the module must hold nothing.
 * The kernel log is checked by the test runner (no oops, warning, hang).
 *
 * A call may rightly run long (a KSM_SCAN of four billion pages over a
 * 64-page region does the same pages again for hours), but it must stop for a
 * signal: SIGALRM interrupts the fuzzing every 250 ms, and a watchdog thread
 * calls a step that has not returned in 60 s a hang, prints where the
 * fuzzing thread is in the kernel, and ends the run.
 *
 * usage: fuzz [-s SEED] [-n ITERATIONS] [-W HANG_SECONDS] [-H]
 * -H: step 100 blocks the signal and sleeps an hour, a hang the watchdog must
 *     report (tests/fuzz/fuzz.sh checks that it does, with -W 3).
 */
#include "ktest.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>

#define MAXFD 64

static uint64_t rng, seed;

/* Steps done, read by the watchdog; -1 when the fuzzing is over. */
static atomic_long steps_done;
/* Calls a signal cut short (EINTR). The fuzzing thread only. */
static long interrupted;
/* The fuzzing thread's id, for the watchdog's report. */
static pid_t fuzz_tid;

#define SIGNAL_EVERY_US 250000
static int hang_seconds = 60;	/* -W */
static bool simulate_hang;	/* -H */

static uint64_t rnd(void)
{
	return ksmu_rand(&rng);
}

/* The fds under fuzz: /dev/ksm, SMA and scan fds, and some that are none of ours. */
static int fds[MAXFD];
static int nfds;

/* Memory to point at. */
static char *anon, *ro, *none, *filemap, *hole;
static const long anon_pages = 512;

static uint64_t pick_addr(void)
{
	switch (rnd() % 14) {
	case 0: return 0;
	case 1: return (uintptr_t)hole;
	case 2: return (uintptr_t)ro + (rnd() % 4) * 4096;
	case 3: return (uintptr_t)none;
	case 4: return (uintptr_t)filemap;
	case 5: return 0xffff888000000000ULL;
	case 6: return 0xffffffffff600000ULL;
	case 7: return ~0ULL - (rnd() % 8192);
	case 8: return (uintptr_t)anon + (rnd() % 8192);
	case 9: return 1ULL << (47 + rnd() % 10);
	case 10: return rnd();
	default: return (uintptr_t)anon + (rnd() % anon_pages) * 4096;
	}
}

static uint64_t pick_num(void)
{
	static const uint64_t edges[] = { 0, 1, 2, 7, 4095, 4096, 65535, 0x7fffffff, 0x80000000,
					  0xffffffff, 0x100000000ULL, ~0ULL, 1ULL << 63 };

	if (rnd() % 2)
		return edges[rnd() % (sizeof(edges) / sizeof(edges[0]))];
	return rnd() % 3 ? rnd() % 1024 : rnd();
}

/* A pointer argument: mostly a buffer filled to look like the struct, sometimes a bad pointer. */
static void *pick_arg(unsigned long cmd, uint64_t *buf)
{
	switch (rnd() % 12) {
	case 0: return NULL;
	case 1: return none;
	case 2: return ro;
	case 3: return hole;
	case 4: return (void *)0xffff888000000000ULL;
	default: break;
	}
	for (int i = 0; i < 64; i++)
		buf[i] = rnd() % 3 ? 0 : pick_num();
	switch (cmd) {
	case KSM_REGISTER_MEMORY_REGION: {
		struct ksm_memory_region *r = (void *)buf;

		r->addr = pick_addr();
		r->npages = (uint32_t)(rnd() % 2 ? 1 + rnd() % anon_pages : pick_num());
		break;
	}
	case KSM_START_STOP_KTHREAD: {
		struct ksm_kthread_info *k = (void *)buf;

		k->running = rnd() % 3 == 0;	/* mostly stop: a running kksmd slows the run */
		k->sleep = (uint32_t)(rnd() % 2 ? rnd() % 100000 : pick_num());
		k->pages_to_scan = (uint32_t)(rnd() % 2 ? 1 + rnd() % 256 : pick_num());
		k->max_pages_to_merge = (uint32_t)(rnd() % 2 ? 1 + rnd() % 256 : pick_num());
		break;
	}
	case KSM_SCAN:
	case KSM_SCAN_EXT:
		buf[0] = (rnd() % 512) | ((rnd() % 64) << 32);	/* pages_to_scan, max merge */
		break;
	case KSM_REMOVE_MEMORY_REGION_EXT:
		buf[1] = rnd() % 2 ? pick_addr() : (uintptr_t)anon;
		break;
	case KSM_SET_CONFIG: {
		struct ksm_config *c = (void *)buf;

		if (ioctl(fds[0], KSM_GET_CONFIG, c))
			break;
		((uint32_t *)c)[rnd() % 12] = (uint32_t)pick_num();
		break;
	}
	}
	return buf;
}

static const unsigned long known[] = {
	KSM_GET_API_VERSION, KSM_CREATE_SHARED_MEMORY_AREA, KSM_CREATE_SCAN, KSM_START_STOP_KTHREAD,
	KSM_GET_INFO_KTHREAD, KSM_GET_INFO_KTHREAD_R, KSM_GET_FEATURES, KSM_GET_STATS, KSM_GET_CONFIG,
	KSM_SET_CONFIG, KSM_UNMERGE_ALL, KSM_GET_PROCESS_STATS, KSM_REGISTER_MEMORY_REGION,
	KSM_REMOVE_MEMORY_REGION, KSM_REMOVE_MEMORY_REGION_EXT, KSM_SMA_SET_DOMAIN, KSM_SMA_GET_STATS,
	KSM_UNMERGE, KSM_SCAN, KSM_SCAN_EXT,
};

static unsigned long pick_cmd(void)
{
	unsigned int r = rnd() % 10;

	if (r < 7)
		return known[rnd() % (sizeof(known) / sizeof(known[0]))];
	if (r < 9)	/* our magic, any number, direction and size */
		return ((rnd() % 4) << 30) | ((rnd() % 1024) << 16) | (KSMIO << 8) | (rnd() % 256);
	return (unsigned long)rnd();
}

static void add_fd(int fd)
{
	if (fd < 0)
		return;
	if (nfds < MAXFD) {
		fds[nfds++] = fd;
	} else {
		int i = 4 + rnd() % (MAXFD - 4);	/* keep the first four */

		close(fds[i]);
		fds[i] = fd;
	}
}

/* waitpid() that a SIGALRM does not cut short (the child would stay a zombie). */
static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* One fuzzing step. */
static void step(void)
{
	uint64_t buf[64];
	unsigned int r = rnd() % 1000;

	if (r < 900) {
		int fd = fds[rnd() % nfds];
		unsigned long cmd = pick_cmd();
		long ret = ioctl(fd, cmd, pick_arg(cmd, buf));

		if (ret < 0 && errno == EINTR)
			interrupted++;

		/* The create ioctls hand back fds: keep them in play. */
		if (ret > 2 && (cmd == KSM_CREATE_SHARED_MEMORY_AREA || cmd == KSM_CREATE_SCAN))
			add_fd((int)ret);
	} else if (r < 930) {
		if (nfds > 4) {
			int i = 4 + rnd() % (nfds - 4);

			close(fds[i]);
			fds[i] = fds[--nfds];
		}
	} else if (r < 950) {
		/* Many small regions on one SMA. */
		int sma = ioctl(fds[0], KSM_CREATE_SHARED_MEMORY_AREA);

		for (long i = 0; sma >= 0 && i < anon_pages; i++)
			ksmu_register(sma, anon + i * 4096, 1);
		add_fd(sma);
	} else if (r < 975) {
		/* A child gets an fd over SCM_RIGHTS, registers its memory on it and exits mid-way. */
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			return;
		pid_t pid = fork();

		if (!pid) {
			int fd = ksmu_recv_fd(sv[1]);
			char *m = anon_map(64 * 4096, 0);

			memset(m, (int)(rnd() % 4), 64 * 4096);
			ksmu_register(fd, m, 64);
			for (int i = 0; i < 20; i++) {
				uint64_t b[64];
				unsigned long cmd = pick_cmd();

				ioctl(fd, cmd, pick_arg(cmd, b));
			}
			_exit(0);
		}
		ksmu_send_fd(sv[0], fds[rnd() % nfds]);
		if (rnd() % 2)
			kill(pid, SIGKILL);
		reap(pid);
		close(sv[0]);
		close(sv[1]);
	} else {
		/* Close an fd while another thread is in an ioctl on it. */
		int sma = ioctl(fds[0], KSM_CREATE_SHARED_MEMORY_AREA);

		if (sma < 0)
			return;
		ksmu_register(sma, anon, anon_pages);
		pid_t pid = fork();

		if (!pid) {
			struct ksm_unmerge u = { 0 };

			ioctl(sma, KSM_UNMERGE, &u);
			_exit(0);
		}
		close(sma);
		reap(pid);
	}
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * The watchdog thread: once a second, checks that the fuzzing thread finished
 * a step since; after HANG_SECONDS without one, reports the hang with the
 * fuzzing thread's kernel stack and ends the process.
 */
static void *watchdog(void *unused)
{
	long last = -1;
	int still = 0;
	char path[64], buf[4096];

	(void)unused;
	for (;;) {
		long now;

		sleep(1);
		now = atomic_load(&steps_done);
		if (now < 0)
			return NULL;
		if (now != last) {
			last = now;
			still = 0;
			continue;
		}
		if (++still < hang_seconds)
			continue;
		printf("not ok - fuzz step %ld (seed %llu) has not returned in %d s, though a signal interrupts it every %d ms\n",
		       now + 1, (unsigned long long)seed, hang_seconds, SIGNAL_EVERY_US / 1000);
		snprintf(path, sizeof(path), "/proc/self/task/%d/stack", (int)fuzz_tid);
		FILE *f = fopen(path, "r");

		while (f && fgets(buf, sizeof(buf), f))
			printf("# %s", buf);
		if (f)
			fclose(f);
		fflush(stdout);
		_exit(1);
	}
}

/* The fuzzing loop, with SIGALRM every SIGNAL_EVERY_US and the watchdog on. */
static void fuzz_loop(long iterations)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART: calls return EINTR */
	struct itimerval every = { { 0, SIGNAL_EVERY_US }, { 0, SIGNAL_EVERY_US } }, off = { 0 };
	sigset_t alrm;
	pthread_t dog;

	fuzz_tid = (pid_t)syscall(SYS_gettid);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	/* The watchdog inherits SIGALRM blocked: the signal is for this thread. */
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	if (pthread_create(&dog, NULL, watchdog, NULL))
		ktest_fatal("pthread_create");
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	setitimer(ITIMER_REAL, &every, NULL);
	for (long i = 0; i < iterations; i++) {
		if (simulate_hang && i == 100) {
			pthread_sigmask(SIG_BLOCK, &alrm, NULL);
			sleep(3600);
		}
		step();
		atomic_store(&steps_done, i + 1);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	atomic_store(&steps_done, -1);
	pthread_join(dog, NULL);
}

int main(int argc, char **argv)
{
	long iterations = 20000;
	int c;

	seed = (uint64_t)time(NULL);

	while ((c = getopt(argc, argv, "s:n:W:H")) != -1) {
		if (c == 's')
			seed = strtoull(optarg, NULL, 0);
		else if (c == 'n')
			iterations = atol(optarg);
		else if (c == 'W' && atoi(optarg) > 0)
			hang_seconds = atoi(optarg);
		else if (c == 'H')
			simulate_hang = true;
		else
			return 2;
	}
	rng = seed;
	printf("# fuzz seed %llu, %ld iterations\n", (unsigned long long)seed, iterations);
	fflush(stdout);

	int dev = ksm_open();
	struct ksm_config cfg0;
	struct ksm_stats st;
	long items0 = ksmu_slab_objects("ksmdev_item"), kpages0 = ksmu_slab_objects("ksmdev_kpage");

	ioctl(dev, KSM_GET_CONFIG, &cfg0);
	/* The bystander: unique secret pages, registered, never shown to anyone else. */
	struct peer secret = peer_start(dev, 64, 0x5ec2e7, 64);

	anon = anon_map(anon_pages * 4096, 0);
	ksmu_fill_pages(anon, anon_pages, 1, 8);
	ro = mmap(NULL, 4 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	none = mmap(NULL, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hole = mmap(NULL, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, 4 * 4096);
	int tmp = open("/tmp", O_TMPFILE | O_RDWR, 0600);

	if (tmp < 0 || ftruncate(tmp, 4 * 4096))
		ktest_fatal("tmpfile");
	filemap = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, tmp, 0);

	fds[nfds++] = dev;
	fds[nfds++] = ksm_sma(dev);
	fds[nfds++] = ksm_scanfd(dev);
	fds[nfds++] = tmp;	/* not ours at all */

	double t0 = ksmu_now_s();

	fuzz_loop(iterations);
	ktest_ok(true, "%ld iterations in %.1f s without a crash or a hang (%ld calls cut short by a signal)",
		 iterations, ksmu_now_s() - t0, interrupted);

	/* Nobody but the bystander may hold its secret content. */
	bool leaked = false;
	char ref[4096];

	for (long k = 0; k < 64 && !leaked; k++) {
		ksmu_fill_page(ref, 0x5ec2e7, k);
		for (long i = 0; i < anon_pages; i++)
			leaked |= !memcmp(anon + i * 4096, ref, 4096);
	}
	ktest_ok(!leaked, "no fuzzed page ever shows the bystander's content");
	ktest_ok(peer_check(&secret), "the bystander's pages are intact");

	struct ksm_kthread_info off = { .running = 0 };

	ioctl(dev, KSM_START_STOP_KTHREAD, &off);
	for (int i = 1; i < nfds; i++)
		close(fds[i]);
	peer_stop(&secret);
	struct ksm_unmerge u = { 0 };

	ioctl(dev, KSM_UNMERGE_ALL, &u);
	munmap(anon, anon_pages * 4096);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &st) == 0 && st.regions == 0 && st.kpages_held == 0 &&
			    st.unstable_pages == 0, 15000),
		 "afterwards the module holds nothing (regions %llu, kpages %llu, unstable %llu)",
		 (unsigned long long)st.regions, (unsigned long long)st.kpages_held,
		 (unsigned long long)st.unstable_pages);
	/* Only now: merge_across_nodes cannot change while kernel pages are held. */
	ktest_ok(ioctl(dev, KSM_SET_CONFIG, &cfg0) == 0, "settings restored");
	/* Kernel page entries are freed an RCU grace period after their last reference. */
	ktest_ok(KTEST_WAIT(ksmu_slab_objects("ksmdev_item") == items0 &&
			    ksmu_slab_objects("ksmdev_kpage") == kpages0, 10000),
		 "slab caches back to the baseline");
	return ktest_done();
}
