// SPDX-License-Identifier: GPL-2.0
/*
 * libksm-preload.so - register MADV_MERGEABLE memory with /dev/ksm.
 *
 * LD_PRELOAD'ed into a program (ksmctl run -- CMD), it interposes madvise():
 *
 *   MADV_MERGEABLE over [start, end): the parts of the range not registered
 *     yet are registered with KSM_REGISTER_MEMORY_REGION, one SMA fd per
 *     registered range (closing an SMA fd removes exactly its regions, the
 *     only way to remove one region from a 2008 module), or, in a merge
 *     domain (below), all on one SMA. A range the module refuses as a whole
 *     (a hole: EFAULT, memory that is not private anonymous: EINVAL) is
 *     registered VMA by VMA, its private anonymous parts only, as found in
 *     /proc/self/maps. A range of more than KSM_PRELOAD_MAX_REGION_PAGES pages
 *     (npages is a __u32) is split.
 *   MADV_UNMERGEABLE over [start, end): the registrations overlapping it are
 *     removed, their merged pages given private copies first (KSM_UNMERGE,
 *     when the module has it; without it merged pages stay shared until
 *     written, as with the 2008 driver); the parts of them outside the range
 *     are registered again (and merge again at the next scans).
 *
 * Everything fails soft: the program never sees an error of ours (it is
 * logged with KSM_PRELOAD_VERBOSE=1), and madvise() returns 0 for a valid
 * range, unless KSM_PRELOAD_BUILTIN=1, which also passes the advice on to the
 * kernel (its built-in KSM) and returns the kernel's result.
 *
 * KSM_PRELOAD_DOMAIN puts the process's memory in a merge domain (its pages
 * merge only with pages of the same domain): "private" (a domain of its own,
 * KSM_DOMAIN_PRIVATE), or an id from 1 to 2147483647 (CAP_SYS_ADMIN; every
 * process run with that id merges with the others); 0 or unset is the
 * default domain, shared by everyone. The kernel gives every SMA asking for
 * KSM_DOMAIN_PRIVATE a new domain, and a private id cannot be named
 * explicitly, so with a domain every range is registered on ONE SMA of the
 * process (created at first use, its domain set before its first region),
 * and single ranges are removed with KSM_REMOVE_MEMORY_REGION_EXT (by start
 * address, KSM_REMOVE_UNMERGE for MADV_UNMERGEABLE). When that SMA reaches
 * the module's max_regions_per_sma, a named domain continues on another SMA
 * with the same id; a private one cannot (further ranges are refused, and
 * logged). After fork() the child gets an SMA, and so a private domain, of
 * its own. A domain the library cannot set up (bad value, no such feature in
 * the module, EPERM) means nothing is registered at all: the memory is never
 * merged outside the domain asked for. KSM_PRELOAD_HARDENED=1 joins the
 * hardened domain of that id (or of 0) instead, where merged and unmerged
 * pages behave alike on writes (docs/security.md); not with "private".
 *
 * KSM_PRELOAD_ALL=1 also registers the private anonymous writable memory the
 * program never madvised (heaps, malloc arenas, thread stacks): a thread reads
 * /proc/self/maps every KSM_PRELOAD_INTERVAL_MS milliseconds (default 1000),
 * registers what is new, and re-registers what changed shape or went away.
 *
 * Safety: nothing here calls malloc() (static tables, raw read() of
 * /proc/self/maps, logs formatted on the stack and written with write()), so
 * no path can deadlock with an allocator, whatever calls madvise(). One mutex
 * protects the table; fork() takes it (pthread_atfork), and the child closes
 * its copies of the parent's SMA fds (they hold the parent's regions),
 * registers its own copy of the madvised memory, and restarts the
 * KSM_PRELOAD_ALL thread. Our fds are close-on-exec and kept in a band of
 * their own (fd_base to fd_limit), out of the low numbers and leaving the
 * program the high ones; before using /dev/ksm or closing an SMA fd we check
 * it still is one, in case the program closed it and reused the number.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/ksm.h>

#include "ksm_preload_env.h"

#define EXPORT __attribute__((visibility("default")))

/* How many registered or excluded ranges we track (each registered one holds one fd). */
#define MAX_RANGES 8192
/* Of those, kept for memory the program madvises (the thread's never take them). */
#define MADVISED_RESERVE 512
/* Private anonymous ranges one pass of the KSM_PRELOAD_ALL thread can handle. */
#define MAX_CANDIDATES 8192

enum range_kind {
	RANGE_MADVISED = 1,	/* registered because the program asked (MADV_MERGEABLE) */
	RANGE_AUTO,		/* registered by the KSM_PRELOAD_ALL thread */
	RANGE_EXCLUDED,		/* MADV_UNMERGEABLE: the thread must leave it alone; no fd */
};

/* A registered range [start, end) and its SMA fd, or an excluded range (fd -1). */
struct range {
	uintptr_t start, end;
	int fd;
	enum range_kind kind;
};

/* Settings, from the environment at load. */
static struct {
	bool verbose;		/* KSM_PRELOAD_VERBOSE */
	bool builtin;		/* KSM_PRELOAD_BUILTIN: pass the advice to the kernel too */
	bool all;		/* KSM_PRELOAD_ALL */
	unsigned int interval_ms;	/* KSM_PRELOAD_INTERVAL_MS */
	uint64_t max_region_pages;	/* KSM_PRELOAD_MAX_REGION_PAGES */
	bool one_sma;		/* KSM_PRELOAD_DOMAIN set (not 0) or hardened: all on one SMA */
	uint32_t domain;	/* KSM_PRELOAD_DOMAIN: an id or KSM_DOMAIN_PRIVATE */
	uint32_t domain_flags;	/* KSM_PRELOAD_HARDENED: KSM_DOMAIN_HARDENED */
} cfg = { .interval_ms = 1000, .max_region_pages = 1ULL << 31 };

static uintptr_t page_size = 4096;
static int (*real_madvise)(void *, size_t, int);

/* Everything below is protected by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct range ranges[MAX_RANGES];
static unsigned int nr_ranges;
static int dev_fd = -1;		/* /dev/ksm, opened at first use */
static bool can_unmerge;	/* the module has KSM_UNMERGE */
static bool dev_failed_logged;
/*
 * Our fds go at or above fd_base and below fd_limit (the first half of the
 * numbers above fd_base, as RLIMIT_NOFILE was at load): the program keeps
 * the low numbers, and the numbers above ours, whatever we register. The
 * KSM_PRELOAD_ALL thread's SMA fds stay below fd_auto_limit (half of the
 * band): memory the program madvises (guest RAM) always finds room.
 */
static int fd_base = 512, fd_limit = 768, fd_auto_limit = 640;
static dev_t dev_rdev;		/* the device dev_fd was opened on */
/* cfg.one_sma: the SMA new ranges go on (-1: none yet), and why there is none (-errno, sticky). */
static int domain_sma = -1;
static int domain_error;

static pthread_t all_thread;
static bool all_thread_started;

/* ---- logging (no malloc, no stdio) ---- */

/* With KSM_PRELOAD_VERBOSE=1: one line on stderr, "ksm-preload[PID]: ...". */
__attribute__((format(printf, 1, 2)))
static void vlog(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n, m;

	if (!cfg.verbose)
		return;
	n = snprintf(buf, sizeof(buf), "ksm-preload[%d]: ", (int)getpid());
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	n = (m < 0) ? n : (n + m > (int)sizeof(buf) - 2 ? (int)sizeof(buf) - 2 : n + m);
	buf[n++] = '\n';
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, buf, n);

		if (w <= 0)
			break;
		n -= w;
	}
}

/* ---- the device and SMA fds ---- */

/* Is @fd still one of the SMA fds we created (the program may have closed it and reused it)? */
static bool is_sma_fd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)	/* not open, or no /proc to tell (then trust our table) */
		return fcntl(fd, F_GETFD) >= 0;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:ksm-sma");
}

/*
 * Move our new fd @fd to the lowest free number in [fd_base, @limit),
 * close-on-exec. Returns it, or -EMFILE (and @fd closed) when there is no
 * room: never a low number, which the program may expect to get itself.
 */
static int fd_place(int fd, int limit)
{
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, fd_base);

	close(fd);
	if (hi >= limit) {
		close(hi);
		return -EMFILE;
	}
	return hi < 0 ? -EMFILE : hi;
}

/*
 * Open /dev/ksm once; true if it is open. Called with lock held, before
 * every use. An fd the program closed and reused since (not the device we
 * opened: compared by device number, whatever path /dev/ksm is) is left to
 * it, and /dev/ksm opened again.
 */
static bool device_open(void)
{
	struct stat st;
	int fd;

	if (dev_fd >= 0) {
		if (!fstat(dev_fd, &st) && S_ISCHR(st.st_mode) && st.st_rdev == dev_rdev)
			return true;
		vlog("fd %d is no longer /dev/ksm (the program closed it): opening it again", dev_fd);
		dev_fd = -1;
	}
	fd = open("/dev/ksm", O_RDWR | O_CLOEXEC);
	fd = fd < 0 ? -errno : fd_place(fd, fd_limit);
	if (fd >= 0 && fstat(fd, &st)) {
		close(fd);
		fd = -errno;
	}
	if (fd >= 0) {
		struct ksm_features f;
		uint64_t need = KSM_FEATURE_DOMAINS | KSM_FEATURE_UNMERGE;

		dev_fd = fd;
		dev_rdev = st.st_rdev;
		memset(&f, 0, sizeof(f));
		can_unmerge = !ioctl(dev_fd, KSM_GET_FEATURES, &f) &&
			      (f.features & KSM_FEATURE_UNMERGE);
		if (cfg.one_sma && !domain_error && (f.features & need) != need) {
			vlog("the ksm module has no merge domains: nothing will be registered");
			domain_error = -ENOTTY;
		}
		return true;
	}
	if (!dev_failed_logged) {
		vlog("cannot open /dev/ksm: %s: nothing will be registered", strerror(-fd));
		dev_failed_logged = true;
	}
	return false;
}

/* Close SMA fd @fd, which removes its region; leaves any other file alone. */
static void sma_close(int fd)
{
	if (fd >= 0 && is_sma_fd(fd))
		close(fd);
}

/*
 * A new SMA fd, close-on-exec, placed by fd_place() below @limit. Returns
 * it, or -errno.
 */
static int sma_create(int limit)
{
	int fd;

	if (!device_open())
		return -ENODEV;
	fd = ioctl(dev_fd, KSM_CREATE_SHARED_MEMORY_AREA);
	return fd < 0 ? -errno : fd_place(fd, limit);
}

/*
 * The SMA of the process's merge domain (cfg.one_sma): the current one, or a
 * new one with the domain set. Returns the fd, or -errno; a failure to set
 * the domain is remembered, so that nothing is ever registered outside it.
 */
static int domain_sma_get(void)
{
	struct ksm_domain d = { .domain = cfg.domain, .flags = cfg.domain_flags };
	int fd;

	if (domain_error)
		return domain_error;
	if (domain_sma >= 0 && !is_sma_fd(domain_sma)) {
		vlog("fd %d is no longer our SMA (the program closed it): a new one", domain_sma);
		domain_sma = -1;
	}
	if (domain_sma >= 0)
		return domain_sma;
	fd = sma_create(fd_limit);
	if (fd < 0)
		return fd;
	if (ioctl(fd, KSM_SMA_SET_DOMAIN, &d)) {
		domain_error = -errno;
		close(fd);
		if (cfg.domain == KSM_DOMAIN_PRIVATE)
			vlog("cannot set a private merge domain: %s: nothing will be registered",
			     strerror(-domain_error));
		else
			vlog("cannot set %smerge domain %u: %s: nothing will be registered",
			     cfg.domain_flags ? "hardened " : "", cfg.domain, strerror(-domain_error));
		return domain_error;
	}
	vlog("merge domain %#x on SMA fd %d", d.domain, fd);
	domain_sma = fd;
	return fd;
}

/* Register [start, end) on SMA @fd; 0 or -errno. */
static int register_on(int fd, uintptr_t start, uintptr_t end)
{
	struct ksm_memory_region mr = {
		.npages = (uint32_t)((end - start) / page_size),
		.addr = start,
	};

	return ioctl(fd, KSM_REGISTER_MEMORY_REGION, &mr) ? -errno : 0;
}

/*
 * Register [start, end) (page aligned, at most max_region_pages pages) as
 * @kind on a new SMA fd, or with a merge domain on the domain's SMA (a full
 * one is replaced by a new one of the same named domain). Returns the fd, or
 * -errno.
 */
static int register_one(uintptr_t start, uintptr_t end, enum range_kind kind)
{
	int fd, err;

	if (cfg.one_sma) {
		fd = domain_sma_get();
		if (fd < 0)
			return fd;
		err = register_on(fd, start, end);
		if (err == -ENOSPC && cfg.domain != KSM_DOMAIN_PRIVATE) {
			int full = fd;

			/* The old SMA stays open for its ranges (range_unregister closes it). */
			vlog("SMA fd %d is full: another one for merge domain %u", fd, cfg.domain);
			domain_sma = -1;
			fd = domain_sma_get();
			err = fd < 0 ? fd : register_on(fd, start, end);
			if (err) {
				/*
				 * Not that SMA's limit but the process's or the
				 * module's: the new SMA holds nothing, drop it.
				 */
				if (fd >= 0)
					close(fd);
				domain_sma = full;
			}
		}
		return err ? err : fd;
	}
	fd = sma_create(kind == RANGE_AUTO ? fd_auto_limit : fd_limit);
	if (fd < 0)
		return fd;
	err = register_on(fd, start, end);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Add a table entry. Returns false (and logs) when the table is full. */
static bool range_add(uintptr_t start, uintptr_t end, int fd, enum range_kind kind)
{
	if (nr_ranges >= MAX_RANGES - (kind == RANGE_MADVISED ? 0 : MADVISED_RESERVE)) {
		vlog("table full (%d ranges): 0x%lx-0x%lx not tracked", MAX_RANGES,
		     (unsigned long)start, (unsigned long)end);
		return false;
	}
	ranges[nr_ranges++] = (struct range){ start, end, fd, kind };
	return true;
}

/* Remove table entry @i (order does not matter: the last one takes its place). */
static void range_del(unsigned int i)
{
	ranges[i] = ranges[--nr_ranges];
}

/* How a range kind reads in the log. */
static const char *kind_name(enum range_kind kind)
{
	return kind == RANGE_MADVISED ? "madvised" : kind == RANGE_AUTO ? "other" : "excluded";
}

/*
 * Give the merged pages of the region on SMA fd @fd private copies
 * (KSM_UNMERGE), when the module can. Logged, never fails.
 */
static void sma_unmerge(int fd)
{
	struct ksm_unmerge u;

	if (!can_unmerge || !is_sma_fd(fd))
		return;
	memset(&u, 0, sizeof(u));
	if (ioctl(fd, KSM_UNMERGE, &u))
		vlog("KSM_UNMERGE: %s", strerror(errno));
	else if (u.pages_unmerged || u.pages_failed)
		vlog("unmerged %llu pages (%llu failed)", (unsigned long long)u.pages_unmerged,
		     (unsigned long long)u.pages_failed);
}

/*
 * Unregister the region registered at @start on SMA fd @fd (after giving its
 * merged pages private copies when @unmerge). Its own SMA: closed. A merge
 * domain's shared SMA: KSM_REMOVE_MEMORY_REGION_EXT of that region alone (a
 * region never starts at 0, which would mean all of them), and the SMA is
 * closed once no range uses it, unless new ranges go there. Never fails.
 */
static void region_unregister(int fd, uintptr_t start, bool unmerge)
{
	struct ksm_remove_region rm = { .addr = start };

	if (!cfg.one_sma) {
		if (unmerge)
			sma_unmerge(fd);
		sma_close(fd);
		return;
	}
	if (fd < 0 || !start || !is_sma_fd(fd))
		return;
	rm.flags = unmerge ? KSM_REMOVE_UNMERGE : 0;
	if (ioctl(fd, KSM_REMOVE_MEMORY_REGION_EXT, &rm))
		vlog("KSM_REMOVE_MEMORY_REGION_EXT 0x%lx: %s", (unsigned long)start,
		     strerror(errno));
	if (fd == domain_sma)
		return;
	for (unsigned int i = 0; i < nr_ranges; i++) {
		if (ranges[i].fd == fd)
			return;
	}
	close(fd);
}

/* Unregister the table entry @r (taken out of the table already), see region_unregister(). */
static void range_unregister(const struct range *r, bool unmerge)
{
	region_unregister(r->fd, r->start, unmerge);
}

/*
 * Register [start, end) in pieces of at most max_region_pages pages, each on
 * its own SMA fd, and track them as @kind. Returns 0, or the -errno of the
 * first piece that failed; *@done_to tells how far the pieces before it got
 * (they stay registered).
 */
static int register_range(uintptr_t start, uintptr_t end, enum range_kind kind,
			  uintptr_t *done_to)
{
	uintptr_t max = (uintptr_t)cfg.max_region_pages * page_size;

	*done_to = start;
	while (start < end) {
		uintptr_t piece = end - start > max ? start + max : end;
		int fd = register_one(start, piece, kind);

		if (fd < 0)
			return fd;
		if (!range_add(start, piece, fd, kind)) {
			region_unregister(fd, start, false);
			return -ENOSPC;
		}
		vlog("registered 0x%lx-0x%lx (%lu pages, %s memory)", (unsigned long)start,
		     (unsigned long)piece, (unsigned long)((piece - start) / page_size),
		     kind_name(kind));
		start = piece;
		*done_to = start;
	}
	return 0;
}

/* ---- /proc/self/maps, without malloc ---- */

/* One line of /proc/self/maps. */
struct vma_info {
	uintptr_t start, end;
	char perms[5];
	bool anonymous;		/* private anonymous memory the module accepts */
	bool stack;		/* the main thread's stack */
};

/*
 * Parse one maps line "start-end perms offset dev inode [name]". Private
 * anonymous: no file (inode 0) and no name, or [heap], [stack], [anon:...];
 * not the kernel's special mappings ([vdso], [vvar], ...), not shared.
 */
static bool parse_maps_line(const char *line, struct vma_info *v)
{
	unsigned long start, end, inode;
	char perms[5], dev[16];
	int name_at = 0;

	if (sscanf(line, "%lx-%lx %4s %*x %15s %lu %n", &start, &end, perms, dev, &inode,
		   &name_at) < 5)
		return false;
	v->start = start;
	v->end = end;
	memcpy(v->perms, perms, sizeof(perms));
	v->stack = false;
	v->anonymous = false;
	if (perms[3] != 'p' || inode != 0)
		return true;
	const char *name = name_at ? line + name_at : "";

	if (!*name || !strcmp(name, "[heap]") || !strncmp(name, "[anon:", 6))
		v->anonymous = true;
	else if (!strcmp(name, "[stack]"))
		v->anonymous = v->stack = true;
	return true;
}

/* Buffers for reading maps: only used with lock held (or in the single-threaded fork child). */
static char maps_buf[65536];
static char maps_line[8192];

/*
 * Call @fn(vma, arg) for every line of /proc/self/maps, in address order.
 * Stops early when @fn returns false. Returns 0 or -errno.
 */
static int maps_foreach(bool (*fn)(const struct vma_info *, void *), void *arg)
{
	size_t line_len = 0;
	bool skip_line = false;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, maps_buf, sizeof(maps_buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;	/* not the whole list */
		}
		if (!n)
			break;
		for (ssize_t i = 0; i < n; i++) {
			char c = maps_buf[i];
			struct vma_info v;

			if (c != '\n') {
				if (line_len < sizeof(maps_line) - 1)
					maps_line[line_len++] = c;
				else
					skip_line = true;	/* absurdly long name: ignore */
				continue;
			}
			maps_line[line_len] = '\0';
			if (!skip_line && parse_maps_line(maps_line, &v) && !fn(&v, arg)) {
				close(fd);
				return 0;
			}
			line_len = 0;
			skip_line = false;
		}
	}
	close(fd);
	return 0;
}

/* ---- registering ranges the program madvised ---- */

struct fallback_ctx {
	uintptr_t start, end;	/* the range being registered */
	enum range_kind kind;
};

/* The KSM_PRELOAD_ALL thread ran out of fds in this pass: it registers nothing more. */
static bool auto_no_fd;

/*
 * A range the module refused: for the KSM_PRELOAD_ALL thread, remember it
 * (as excluded) so that the next passes do not try again while it stays;
 * but for want of an fd, the thread stops for this pass and tries again at
 * the next (fds may be given back).
 */
static void refused(uintptr_t start, uintptr_t end, enum range_kind kind, int err)
{
	if (kind == RANGE_AUTO && err == -EMFILE) {
		if (!auto_no_fd)
			vlog("no fd left for the memory nobody madvised: from 0x%lx, next pass",
			     (unsigned long)start);
		auto_no_fd = true;
		return;
	}
	vlog("cannot register 0x%lx-0x%lx: %s%s", (unsigned long)start, (unsigned long)end,
	     strerror(-err), err == -EEXIST ? " (the program registered it itself?)" : "");
	if (kind == RANGE_AUTO)
		range_add(start, end, -1, RANGE_EXCLUDED);
}

/* maps_foreach() callback: register the private anonymous part of @v inside ctx's range. */
static bool fallback_vma(const struct vma_info *v, void *arg)
{
	struct fallback_ctx *ctx = arg;
	uintptr_t s = v->start > ctx->start ? v->start : ctx->start;
	uintptr_t e = v->end < ctx->end ? v->end : ctx->end;
	uintptr_t done_to;
	int err;

	if (v->start >= ctx->end)
		return false;
	if (s >= e || !v->anonymous)
		return true;
	err = register_range(s, e, ctx->kind, &done_to);
	if (err)
		refused(done_to, e, ctx->kind, err);
	return true;
}

/*
 * Register [start, end) as @kind; when the module refuses it whole (a hole,
 * or memory that is not private anonymous), register its private anonymous
 * VMAs one by one. Errors are logged, never returned.
 */
static void register_or_split(uintptr_t start, uintptr_t end, enum range_kind kind)
{
	struct fallback_ctx ctx = { .end = end, .kind = kind };
	int err = register_range(start, end, kind, &ctx.start);

	if (!err)
		return;
	if ((err != -EINVAL && err != -EFAULT) || domain_error) {
		refused(ctx.start, end, kind, err);
		return;
	}
	vlog("0x%lx-0x%lx: %s: registering its private anonymous parts only",
	     (unsigned long)ctx.start, (unsigned long)end,
	     err == -EFAULT ? "not all mapped" : "not all private anonymous memory");
	maps_foreach(fallback_vma, &ctx);
}

/*
 * Remove the entries of kinds in @kinds (a bit mask of 1 << kind) that
 * overlap [start, end): unregister them (after unmerging their pages when
 * @unmerge: the whole region, so the parts outside the range too), and
 * register again, as the same kind, their parts outside the range. Excluded
 * entries are trimmed.
 */
static void remove_overlapping(uintptr_t start, uintptr_t end, unsigned int kinds, bool unmerge)
{
	for (unsigned int i = 0; i < nr_ranges;) {
		struct range r = ranges[i];

		if (!(kinds & (1u << r.kind)) || r.end <= start || r.start >= end) {
			i++;
			continue;
		}
		range_del(i);	/* ranges[i] is now another entry: look at it again */
		if (r.kind == RANGE_EXCLUDED) {
			if (r.start < start)
				range_add(r.start, start, -1, RANGE_EXCLUDED);
			if (r.end > end)
				range_add(end, r.end, -1, RANGE_EXCLUDED);
			continue;
		}
		range_unregister(&r, unmerge);
		vlog("unregistered 0x%lx-0x%lx (%s memory)", (unsigned long)r.start,
		     (unsigned long)r.end, kind_name(r.kind));
		if (r.start < start)
			register_or_split(r.start, start, r.kind);
		if (r.end > end)
			register_or_split(end, r.end, r.kind);
	}
}

/* MADV_MERGEABLE on [start, end): register the parts no madvised entry covers. Lock held. */
static void advise_mergeable(uintptr_t start, uintptr_t end)
{
	uintptr_t pos = start;

	if (!device_open())
		return;
	/* What the thread registered or excluded there now belongs to the program's advice. */
	remove_overlapping(start, end, 1u << RANGE_AUTO | 1u << RANGE_EXCLUDED, false);
	while (pos < end) {
		uintptr_t next_covered = end, covered_end = 0;

		/* The madvised entry covering pos, or the next one after it. */
		for (unsigned int i = 0; i < nr_ranges; i++) {
			const struct range *r = &ranges[i];

			if (r->kind != RANGE_MADVISED || r->end <= pos || r->start >= end)
				continue;
			if (r->start <= pos) {
				covered_end = r->end;
				break;
			}
			if (r->start < next_covered)
				next_covered = r->start;
		}
		if (covered_end) {
			pos = covered_end;
			continue;
		}
		register_or_split(pos, next_covered, RANGE_MADVISED);
		pos = next_covered;
	}
}

/*
 * Does an excluded entry cover all of [start, end)? (Enough to avoid
 * piling up identical entries for repeated MADV_UNMERGEABLE.)
 */
static bool excluded(uintptr_t start, uintptr_t end)
{
	for (unsigned int i = 0; i < nr_ranges; i++) {
		if (ranges[i].kind == RANGE_EXCLUDED && ranges[i].start <= start &&
		    ranges[i].end >= end)
			return true;
	}
	return false;
}

/* MADV_UNMERGEABLE on [start, end): unregister it; keep the ALL thread off it. Lock held. */
static void advise_unmergeable(uintptr_t start, uintptr_t end)
{
	remove_overlapping(start, end, 1u << RANGE_MADVISED | 1u << RANGE_AUTO, true);
	if (cfg.all && !excluded(start, end))
		range_add(start, end, -1, RANGE_EXCLUDED);
}

/* The kernel's madvise(): the next definition (libc's), or the system call. */
static int call_real_madvise(void *addr, size_t len, int advice)
{
	if (real_madvise)
		return real_madvise(addr, len, advice);
	return (int)syscall(SYS_madvise, addr, len, advice);
}

/* The interposed madvise(): MADV_MERGEABLE and MADV_UNMERGEABLE go to /dev/ksm. */
EXPORT int madvise(void *addr, size_t len, int advice)
{
	uintptr_t start = (uintptr_t)addr, end;
	int ret = 0, err = 0;

	if (advice != MADV_MERGEABLE && advice != MADV_UNMERGEABLE)
		return call_real_madvise(addr, len, advice);

	/* The kernel's checks: aligned start, no wrap-around; an empty range is a no-op. */
	if ((start & (page_size - 1)) || len > UINTPTR_MAX - start - (page_size - 1)) {
		errno = EINVAL;
		return -1;
	}
	if (!len)
		return 0;
	end = (start + len + page_size - 1) & ~(page_size - 1);

	if (cfg.builtin) {
		ret = call_real_madvise(addr, len, advice);
		err = errno;
	}
	pthread_mutex_lock(&lock);
	if (advice == MADV_MERGEABLE)
		advise_mergeable(start, end);
	else
		advise_unmergeable(start, end);
	pthread_mutex_unlock(&lock);
	errno = err;
	return ret;
}

/* ---- KSM_PRELOAD_ALL: the memory the program never madvised ---- */

/* An address range [start, end). */
struct span {
	uintptr_t start, end;
};

/* The candidates of one pass: private anonymous writable memory, adjacent VMAs merged. */
static struct span cands[MAX_CANDIDATES];
static unsigned int nr_cands;

/* Every private anonymous VMA of this pass (adjacent ones merged), to drop stale entries. */
static struct span anon_vmas[MAX_CANDIDATES];
static unsigned int nr_anon_vmas;
/*
 * Below this address the tables are the whole picture: the start of the
 * first range this pass found no room for (UINTPTR_MAX: none).
 */
static uintptr_t cands_complete_to;

/* maps_foreach() callback: collect the candidates of this pass. */
static bool collect_candidate(const struct vma_info *v, void *arg)
{
	(void)arg;
	if (!v->anonymous)
		return true;
	if (nr_anon_vmas && anon_vmas[nr_anon_vmas - 1].end == v->start)
		anon_vmas[nr_anon_vmas - 1].end = v->end;
	else if (nr_anon_vmas < MAX_CANDIDATES)
		anon_vmas[nr_anon_vmas++] = (struct span){ v->start, v->end };
	else if (v->start < cands_complete_to)
		cands_complete_to = v->start;
	/* Readable and writable; the main stack is too hot to be worth it. */
	if (v->perms[0] != 'r' || v->perms[1] != 'w' || v->stack)
		return true;
	if (nr_cands && cands[nr_cands - 1].end == v->start) {
		cands[nr_cands - 1].end = v->end;
		return true;
	}
	if (nr_cands == MAX_CANDIDATES) {
		if (v->start < cands_complete_to)
			cands_complete_to = v->start;
		return false;
	}
	cands[nr_cands].start = v->start;
	cands[nr_cands].end = v->end;
	nr_cands++;
	return true;
}

/* Does [start, end) lie within one candidate? */
static bool within_candidate(uintptr_t start, uintptr_t end)
{
	for (unsigned int i = 0; i < nr_cands; i++) {
		if (cands[i].start <= start && end <= cands[i].end)
			return true;
	}
	return false;
}

/* Does [start, end) intersect any private anonymous VMA? */
static bool intersects_anon(uintptr_t start, uintptr_t end)
{
	for (unsigned int i = 0; i < nr_anon_vmas; i++) {
		if (anon_vmas[i].start < end && start < anon_vmas[i].end)
			return true;
	}
	return false;
}

/*
 * Make the thread's registrations match the piece [start, end) of a
 * candidate (a part not madvised nor excluded): keep them if they tile it
 * exactly, otherwise drop them and register the piece anew.
 */
static void sync_piece(uintptr_t start, uintptr_t end)
{
	uintptr_t covered = 0;
	unsigned int pieces = 0;
	uint64_t want = ((end - start) / page_size + cfg.max_region_pages - 1) /
			cfg.max_region_pages;

	for (unsigned int i = 0; i < nr_ranges; i++) {
		if (ranges[i].kind == RANGE_AUTO && ranges[i].start >= start &&
		    ranges[i].end <= end) {
			covered += ranges[i].end - ranges[i].start;
			pieces++;
		}
	}
	if (covered == end - start && pieces == want)
		return;
	for (unsigned int i = 0; i < nr_ranges;) {
		if (ranges[i].kind == RANGE_AUTO && ranges[i].start >= start &&
		    ranges[i].end <= end) {
			struct range r = ranges[i];

			range_del(i);
			range_unregister(&r, false);
		} else {
			i++;
		}
	}
	register_or_split(start, end, RANGE_AUTO);
}

/* One pass of the KSM_PRELOAD_ALL thread. Lock held. */
static void all_pass(void)
{
	if (!device_open())
		return;
	nr_cands = 0;
	nr_anon_vmas = 0;
	cands_complete_to = UINTPTR_MAX;
	if (maps_foreach(collect_candidate, NULL))
		return;

	/*
	 * Drop what no longer fits: unmapped, merged into a bigger VMA, or no
	 * longer writable. After a pass that could not take in all the memory
	 * (more than MAX_CANDIDATES ranges), only below where it stopped: what
	 * it did not see is not gone.
	 */
	if (cands_complete_to != UINTPTR_MAX)
		vlog("more than %d ranges of memory: from 0x%lx up, neither registered nor dropped",
		     MAX_CANDIDATES, (unsigned long)cands_complete_to);
	for (unsigned int i = 0; i < nr_ranges;) {
		struct range *r = &ranges[i];
		bool keep = true;	/* beyond what this pass saw */

		if (r->end <= cands_complete_to)
			keep = r->kind == RANGE_AUTO ? within_candidate(r->start, r->end) :
						       intersects_anon(r->start, r->end);
		if (keep) {
			i++;
			continue;
		}
		struct range gone = *r;

		range_del(i);
		if (gone.fd >= 0) {
			range_unregister(&gone, false);
			vlog("unregistered 0x%lx-0x%lx (%s memory, gone)", (unsigned long)gone.start,
			     (unsigned long)gone.end, kind_name(gone.kind));
		}
	}

	/* Each candidate minus the madvised and excluded ranges, piece by piece. */
	auto_no_fd = false;
	for (unsigned int c = 0; c < nr_cands && !auto_no_fd; c++) {
		uintptr_t pos = cands[c].start, end = cands[c].end;

		while (pos < end) {
			uintptr_t next = end, skip_to = 0;

			for (unsigned int i = 0; i < nr_ranges; i++) {
				const struct range *r = &ranges[i];

				if (r->kind == RANGE_AUTO || r->end <= pos || r->start >= end)
					continue;
				if (r->start <= pos) {
					if (r->end > skip_to)
						skip_to = r->end;
				} else if (r->start < next) {
					next = r->start;
				}
			}
			if (skip_to) {
				pos = skip_to;
				continue;
			}
			sync_piece(pos, next);
			if (auto_no_fd)
				break;
			pos = next;
		}
	}
}

/* The KSM_PRELOAD_ALL thread: a pass, then sleep, forever. */
static void *all_thread_fn(void *arg)
{
	struct timespec ts = {
		.tv_sec = cfg.interval_ms / 1000,
		.tv_nsec = (long)(cfg.interval_ms % 1000) * 1000000L,
	};

	(void)arg;
	prctl(PR_SET_NAME, "ksm-preload", 0, 0, 0);
	for (;;) {
		pthread_mutex_lock(&lock);
		all_pass();
		pthread_mutex_unlock(&lock);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Start the KSM_PRELOAD_ALL thread, with every signal blocked (they are the program's). */
static void start_all_thread(void)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&all_thread, NULL, all_thread_fn, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		vlog("cannot start the thread for KSM_PRELOAD_ALL: %s", strerror(err));
	else {
		pthread_detach(all_thread);
		all_thread_started = true;
	}
}

/* ---- fork ---- */

/* pthread_atfork: the table is consistent in the child. */
static void before_fork(void)
{
	pthread_mutex_lock(&lock);
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

/*
 * In the child: our SMA fds are copies of the parent's and hold the
 * parent's regions. Close them all first (with a merge domain several
 * entries share one; nothing is opened meanwhile, so a number closed twice
 * is never someone else's), then register the child's own copy of the
 * madvised memory (on a new SMA, so in a new private domain; memory the
 * parent marked MADV_DONTFORK is not there: that registration fails and is
 * dropped), and let a new thread redo the rest.
 */
static void after_fork_child(void)
{
	struct range old[64];
	unsigned int n = 0;

	all_thread_started = false;
	for (unsigned int i = 0; i < nr_ranges; i++)
		sma_close(ranges[i].fd);
	sma_close(domain_sma);
	domain_sma = -1;
	for (unsigned int i = 0; i < nr_ranges;) {
		struct range *r = &ranges[i];

		if (r->fd < 0) {
			i++;
			continue;
		}
		if (r->kind == RANGE_MADVISED) {
			int fd = dev_fd >= 0 ? register_one(r->start, r->end, r->kind) : -EBADF;

			if (fd >= 0) {
				r->fd = fd;
				i++;
				continue;
			}
			if (n < sizeof(old) / sizeof(old[0]))
				old[n++] = *r;
		}
		range_del(i);
	}
	pthread_mutex_unlock(&lock);
	for (unsigned int i = 0; i < n; i++)
		vlog("after fork: 0x%lx-0x%lx not registered in the child (not inherited?)",
		     (unsigned long)old[i].start, (unsigned long)old[i].end);
	if (cfg.all)
		start_all_thread();
}

/* ---- load ---- */

/* A boolean environment setting: set, non-empty and not "0". */
static bool env_flag(const char *name)
{
	return ksm_env_flag_value(getenv(name));
}

/* A positive integer environment setting in [1, max], or @def. */
static uint64_t env_number(const char *name, uint64_t def, uint64_t max)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || !n || n > max || *v == '-') {
		vlog("ignoring %s=%s (wants a number from 1 to %llu)", name, v,
		     (unsigned long long)max);
		return def;
	}
	return n;
}

/*
 * KSM_PRELOAD_DOMAIN: "private", or a decimal id (0, or unset: the default
 * domain); KSM_PRELOAD_HARDENED=1: its hardened domain. Anything else
 * registers nothing (domain_error), rather than merge outside the domain
 * asked for.
 */
static void parse_domain_env(void)
{
	const char *v = getenv("KSM_PRELOAD_DOMAIN");

	if (env_flag("KSM_PRELOAD_HARDENED"))
		cfg.domain_flags = KSM_DOMAIN_HARDENED;
	if (ksm_env_domain_value(v, &cfg.domain)) {
		cfg.one_sma = true;
		domain_error = -EINVAL;
		vlog("KSM_PRELOAD_DOMAIN=%s: not private nor an id from 0 to 2147483647: "
		     "nothing will be registered", v);
		return;
	}
	/* Even domain 0 hardened: its hardened domain is set on one SMA like a named one. */
	cfg.one_sma = cfg.domain != KSM_DOMAIN_DEFAULT || cfg.domain_flags;
}

/* At load: settings, the next madvise(), fork handlers, and the ALL thread. */
__attribute__((constructor))
static void ksm_preload_init(void)
{
	struct rlimit rl;
	long ps = sysconf(_SC_PAGESIZE);

	if (ps > 0)
		page_size = (uintptr_t)ps;
	cfg.verbose = env_flag("KSM_PRELOAD_VERBOSE");
	cfg.builtin = env_flag("KSM_PRELOAD_BUILTIN");
	cfg.all = env_flag("KSM_PRELOAD_ALL");
	cfg.interval_ms = (unsigned int)env_number("KSM_PRELOAD_INTERVAL_MS", 1000, 3600000);
	cfg.max_region_pages = env_number("KSM_PRELOAD_MAX_REGION_PAGES", 1ULL << 31, UINT32_MAX);
	parse_domain_env();
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		int soft = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ? INT_MAX :
			   (int)rl.rlim_cur;

		if (soft / 2 < fd_base)
			fd_base = soft / 2;
		fd_limit = fd_base + (soft - fd_base) / 2;
		fd_auto_limit = fd_base + (fd_limit - fd_base) / 2;
	}

	real_madvise = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "madvise");
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	vlog("loaded (builtin %s, all %s, domain %s%s)", cfg.builtin ? "on" : "off",
	     cfg.all ? "on" : "off", cfg.domain_flags ? "hardened " : "",
	     cfg.domain == KSM_DOMAIN_PRIVATE ? "private" :
	     cfg.domain == KSM_DOMAIN_DEFAULT ? "default" : getenv("KSM_PRELOAD_DOMAIN"));
	if (cfg.all)
		start_all_thread();
}
