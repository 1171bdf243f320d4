/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktest.h - a tiny TAP producer and what only the ksm test programs share:
 * the helpers of lib/ksmu.h that a test cannot do without, failing the test
 * (a FATAL test point) when they fail; finding ksmctl; a scanner thread
 * racing with the test; loading the module; and peers, child processes whose
 * registered memory a test acts on and checks. Everything else (page
 * content, /dev/ksm's ioctls, pagemap, kpageflags, /proc and /sys files,
 * QEMU processes) is lib/ksmu.h's, included here.
 *
 * Header-only: each test program is one C file that includes it.
 */
#ifndef KTEST_H
#define KTEST_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/ksm.h>

#include "ksmu.h"

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

static const long ktest_page = KSMU_PAGE_SIZE;

/* ---- lib/ksmu.h's helpers, or a FATAL test point ---- */

/* /dev/ksm (waiting up to 5 s for it to appear). */
__attribute__((unused))
static int ksm_open(void)
{
	int fd;

	ksmu_dev_wait();
	fd = ksmu_dev_open();
	if (fd < 0)
		ktest_fatal("open /dev/ksm");
	return fd;
}

/* A new SMA fd of /dev/ksm fd @dev. */
__attribute__((unused))
static int ksm_sma(int dev)
{
	int fd = ksmu_sma_create(dev);

	if (fd < 0)
		ktest_fatal("KSM_CREATE_SHARED_MEMORY_AREA");
	return fd;
}

/* A new scan fd of /dev/ksm fd @dev. */
__attribute__((unused))
static int ksm_scanfd(int dev)
{
	int fd = ksmu_scan_create(dev);

	if (fd < 0)
		ktest_fatal("KSM_CREATE_SCAN");
	return fd;
}

/* Anonymous private memory, page aligned; @align: 0 or a power-of-two alignment. */
__attribute__((unused))
static void *anon_map(size_t bytes, size_t align)
{
	void *p = ksmu_map_anon(bytes, align, 0);

	if (!p)
		ktest_fatal("mmap %zu bytes", bytes);
	return p;
}

/*
 * ksmctl: on PATH (tests/guest-run puts build/tools there), else the build
 * tree's (build/tests/SUITE/NAME -> build/tools/ksmctl). ktest_find_ksmctl()
 * sets ktest_ksmctl, and ktest_self_exe to this program's path.
 */
__attribute__((unused)) static char ktest_self_exe[PATH_MAX];
__attribute__((unused)) static char ktest_ksmctl[PATH_MAX];

__attribute__((unused))
static void ktest_find_ksmctl(void)
{
	char *dir, *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	ssize_t n = readlink("/proc/self/exe", ktest_self_exe, sizeof(ktest_self_exe) - 1);

	if (n <= 0)
		ktest_fatal("readlink /proc/self/exe");
	ktest_self_exe[n] = '\0';
	for (dir = path ? strtok(path, ":") : NULL; dir; dir = strtok(NULL, ":")) {
		snprintf(ktest_ksmctl, sizeof(ktest_ksmctl), "%s/ksmctl", dir);
		if (!access(ktest_ksmctl, X_OK)) {
			free(path);
			return;
		}
	}
	free(path);
	snprintf(ktest_ksmctl, sizeof(ktest_ksmctl), "%s", ktest_self_exe);
	for (int i = 0; i < 3; i++)
		*strrchr(ktest_ksmctl, '/') = '\0';
	strcat(ktest_ksmctl, "/tools/ksmctl");
	if (access(ktest_ksmctl, X_OK))
		ktest_fatal("cannot find ksmctl (on PATH or at %s)", ktest_ksmctl);
}

/* Print the module's non-zero counters as TAP comments (for diagnosing a failure). */
__attribute__((unused))
static void ksm_dump_stats(int dev)
{
	struct ksm_stats st;

	if (ksmu_stats(dev, &st))
		return;
	for (size_t i = 0; i < sizeof(ksmu_stat_fields) / sizeof(ksmu_stat_fields[0]); i++) {
		long long v;

		memcpy(&v, (const char *)&st + ksmu_stat_fields[i].offset, sizeof(v));
		if (v)
			ktest_diag("  %s = %lld", ksmu_stat_fields[i].name, v);
	}
	for (int i = 0; i < KSM_SKIP_NR; i++)
		if (st.skipped[i])
			ktest_diag("  skipped %s = %llu", ksmu_skip_names[i],
				   (unsigned long long)st.skipped[i]);
}

/*
 * ksmu_same_pfns(): how many of @npages pages at @a of @pid_a and @b of
 * @pid_b map the same pfn, a pagemap that cannot be read (a process that is
 * gone) counting as none.
 */
__attribute__((unused))
static long ktest_same_pfns(pid_t pid_a, uintptr_t a, pid_t pid_b, uintptr_t b, long npages)
{
	long n = ksmu_same_pfns(pid_a, a, pid_b, b, npages);

	return n < 0 ? 0 : n;
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

/*
 * A scanner racing with the rest of the test: a thread of its own running
 * synchronous scans of @pages pages (KSM_SCAN_EXT) on scan fd @fd, over and
 * over, until ktest_scanner_stop().
 */
struct ktest_scanner {
	int fd;			/* its scan fd (the caller's to close) */
	uint32_t pages;
	volatile bool stop;
	long scans;		/* scans that succeeded */
	pthread_t thread;
};

__attribute__((unused))
static void *ktest_scanner_loop(void *arg)
{
	struct ktest_scanner *sc = arg;

	while (!sc->stop) {
		struct ksm_scan_ext s = { .pages_to_scan = sc->pages };

		if (ioctl(sc->fd, KSM_SCAN_EXT, &s) == 0)
			sc->scans++;
	}
	return NULL;
}

__attribute__((unused))
static void ktest_scanner_start(struct ktest_scanner *sc, int fd, uint32_t pages)
{
	*sc = (struct ktest_scanner){ .fd = fd, .pages = pages };
	if (pthread_create(&sc->thread, NULL, ktest_scanner_loop, sc))
		ktest_fatal("pthread_create");
}

/* Stop the scanner's thread; returns how many scans it made. */
__attribute__((unused))
static long ktest_scanner_stop(struct ktest_scanner *sc)
{
	sc->stop = true;
	pthread_join(sc->thread, NULL);
	return sc->scans;
}

/* ---- the module ---- */

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
 * whose page i holds ksmu_fill_page(seed, i % period), registered on its own SMA,
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
	PEER_MADVISE,		/* page, count, advice: reply 0 or -errno (a SIGBUS meanwhile is caught) */
	PEER_PROBE,		/* page: read it; reply 1 if that raised SIGBUS (then it is no longer checked) */
	PEER_MLOCK,		/* page, count, lock (1) or unlock (0): reply 0 or -errno */
	PEER_PROCMEM,		/* page, offset, byte: pwrite() it through /proc/self/mem; 0 or -errno */
	PEER_FORK_WRITE,	/* page: fork; both write a byte of it and check all they see; 1 if right */
	PEER_WIPE_FORK,		/* page, count: MADV_WIPEONFORK them, fork: 1 if the child sees them
				 * zero and everything else as it was */
	PEER_REMAP,		/* page, count, seed: munmap them, map fresh memory there, fill it */
	PEER_FORK_HOLD,		/* step: fork a child that keeps pages 0, step, 2 step... mapped
				 * (no region: never scanned) until killed; reply its pid */
	PEER_EXIT,
};

struct peer_msg {
	int cmd;
	long a, b, c;
};

/* A SIGBUS in a peer (a page poisoned under it): where PEER_PROBE goes on. */
static sigjmp_buf peer_sigbus_jmp;
static volatile sig_atomic_t peer_sigbus_armed, peer_sigbus_seen;

static void peer_on_sigbus(int sig)
{
	(void)sig;
	peer_sigbus_seen = 1;
	if (peer_sigbus_armed)
		siglongjmp(peer_sigbus_jmp, 1);
}

/* The peer's side: obey commands until PEER_EXIT. @readable: per page, may it be read? */
static void peer_loop(struct peer *p, char *shadow, int sma, int in, int out)
{
	struct sigaction sa = { .sa_handler = peer_on_sigbus };
	char *readable = malloc(p->npages);
	struct peer_msg m;

	sigaction(SIGBUS, &sa, NULL);
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
		case PEER_MADVISE:
			reply = madvise(p->addr + m.a * ktest_page, m.b * ktest_page, (int)m.c) ? -errno : 0;
			break;
		case PEER_MLOCK:
			reply = (m.c ? mlock(p->addr + m.a * ktest_page, m.b * ktest_page) :
				       munlock(p->addr + m.a * ktest_page, m.b * ktest_page)) ? -errno : 0;
			break;
		case PEER_PROCMEM: {
			int fd = open("/proc/self/mem", O_RDWR);
			char c = (char)m.c;

			reply = fd >= 0 && pwrite(fd, &c, 1, (off_t)(uintptr_t)(p->addr + m.a * ktest_page +
									   m.b)) == 1 ? 0 : -errno;
			if (fd >= 0)
				close(fd);
			if (!reply)
				shadow[m.a * ktest_page + m.b] = c;
			break;
		}
		case PEER_FORK_WRITE: {
			pid_t child;
			int status;

			fflush(NULL);
			child = fork();
			if (!child) {
				char *pg = p->addr + m.a * ktest_page;

				pg[1] ^= 0x55;
				shadow[m.a * ktest_page + 1] ^= 0x55;
				_exit(memcmp(p->addr, shadow, p->npages * ktest_page) ? 1 : 0);
			}
			p->addr[m.a * ktest_page + 2] ^= 0x33;
			shadow[m.a * ktest_page + 2] ^= 0x33;
			reply = child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
				!WEXITSTATUS(status);
			break;
		}
		case PEER_WIPE_FORK: {
			pid_t child;
			int status;

			reply = 0;
			if (madvise(p->addr + m.a * ktest_page, m.b * ktest_page, MADV_WIPEONFORK))
				break;
			fflush(NULL);
			child = fork();
			if (!child) {
				for (long i = 0; i < p->npages; i++) {
					const char *pg = p->addr + i * ktest_page;
					bool wiped = i >= m.a && i < m.a + m.b;

					/* A wiped page reads all zero. */
					if (wiped ? pg[0] || memcmp(pg, pg + 1, ktest_page - 1) :
						    memcmp(pg, shadow + i * ktest_page, ktest_page))
						_exit(1);
				}
				_exit(0);
			}
			reply = child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
				!WEXITSTATUS(status);
			break;
		}
		case PEER_REMAP: {
			char *at = p->addr + m.a * ktest_page;

			reply = -1;
			if (munmap(at, m.b * ktest_page) ||
			    mmap(at, m.b * ktest_page, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != at)
				break;
			ksmu_fill_pages(at, m.b, (uint64_t)m.c, m.b);
			memcpy(shadow + m.a * ktest_page, at, m.b * ktest_page);
			reply = 0;
			break;
		}
		case PEER_FORK_HOLD: {
			pid_t child;

			fflush(NULL);
			child = fork();
			if (!child) {
				close(in);
				close(out);
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				for (long i = 0; i < p->npages; i++)
					if (i % m.a)
						madvise(p->addr + i * ktest_page, ktest_page,
							MADV_DONTNEED);
				for (;;)
					pause();
			}
			reply = child;
			break;
		}
		case PEER_PROBE:
			peer_sigbus_seen = 0;
			if (!sigsetjmp(peer_sigbus_jmp, 1)) {
				peer_sigbus_armed = 1;
				(void)*(volatile char *)(p->addr + m.a * ktest_page);
			}
			peer_sigbus_armed = 0;
			reply = peer_sigbus_seen;
			if (reply)
				readable[m.a] = 0;
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
 * MADV_HUGEPAGE, < 0: MADV_NOHUGEPAGE) holding ksmu_fill_page(seed, i % period),
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
		/* Without THP (PREEMPT_RT kernels) MADV_NOHUGEPAGE is EINVAL: nothing to turn off. */
		if (thp && madvise(p.addr, npages * ktest_page, thp > 0 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) &&
		    !(thp < 0 && errno == EINVAL))
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
		ksmu_fill_pages(p.addr, npages, seed, period);
		memcpy(shadow, p.addr, npages * ktest_page);
		if (dev >= 0) {
			struct ksm_domain d = { .domain = peer_domain };

			sma = ksmu_sma_create(dev);
			if (sma < 0)
				_exit(3);
			if (peer_domain != KSM_DOMAIN_DEFAULT && ioctl(sma, KSM_SMA_SET_DOMAIN, &d))
				_exit(6);
			if (ksmu_register(sma, p.addr, npages))
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
	return ksmu_pagemap_pfn(p->pid, p->addr + i * ktest_page);
}

/* How many pages @i of @a and @b map the same pfn. */
__attribute__((unused))
static long peers_shared(struct peer *a, struct peer *b)
{
	return ktest_same_pfns(a->pid, (uintptr_t)a->addr, b->pid, (uintptr_t)b->addr,
			       a->npages < b->npages ? a->npages : b->npages);
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
