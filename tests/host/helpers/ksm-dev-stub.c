// SPDX-License-Identifier: GPL-2.0
/*
 * ksm-dev-stub.so - a stand-in for /dev/ksm on a host without the module, LD_PRELOAD'ed into ksmctl by
 * tests/host/monitoring.sh, so that ksmctl's real output code (stats --prometheus, stats -o) runs outside
 * a guest and can be checked by promtool.
 *
 * open("/dev/ksm") returns a descriptor of /dev/null; on it, KSM_GET_API_VERSION, KSM_GET_FEATURES,
 * KSM_GET_STATS, KSM_GET_INFO_KTHREAD(_R) and KSM_GET_PROCESS_STATS answer with made-up values, every
 * other ioctl fails with ENOTTY. KSM_STUB_VALUES picks the values: "small" (default: every counter a
 * different small number, general_profit negative) or "max" (every unsigned counter 2^64 - 1, the
 * signed one -2^63, every skip reason set, unknown ones too), to check the formatting of the extremes.
 * Everything else goes to the C library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/ksm.h>

#define STUB_API_VERSION 1

static int stub_fd = -1;

static int is_ksm(const char *path)
{
	return path && strcmp(path, "/dev/ksm") == 0;
}

/* The descriptor that stands for /dev/ksm. */
static int stub_open(int flags)
{
	int (*real_open)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");

	stub_fd = real_open("/dev/null", flags & (O_CLOEXEC | O_RDWR | O_RDONLY | O_WRONLY));
	return stub_fd;
}

#define OPEN_LIKE(name)								\
int name(const char *path, int flags, ...)					\
{										\
	int (*real)(const char *, int, ...);					\
	mode_t mode = 0;							\
	va_list ap;								\
										\
	if (is_ksm(path))							\
		return stub_open(flags);					\
	va_start(ap, flags);							\
	if (flags & (O_CREAT | O_TMPFILE))					\
		mode = va_arg(ap, mode_t);					\
	va_end(ap);								\
	real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name);	\
	return real(path, flags, mode);						\
}

#define OPENAT_LIKE(name)							\
int name(int dirfd, const char *path, int flags, ...)				\
{										\
	int (*real)(int, const char *, int, ...);				\
	mode_t mode = 0;							\
	va_list ap;								\
										\
	if (is_ksm(path))							\
		return stub_open(flags);					\
	va_start(ap, flags);							\
	if (flags & (O_CREAT | O_TMPFILE))					\
		mode = va_arg(ap, mode_t);					\
	va_end(ap);								\
	real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, #name);	\
	return real(dirfd, path, flags, mode);					\
}

OPEN_LIKE(open)
OPEN_LIKE(open64)
OPENAT_LIKE(openat)
OPENAT_LIKE(openat64)

/* The _FORTIFY_SOURCE entry points. */
int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

int __open64_2(const char *path, int flags)
{
	return open64(path, flags);
}

static int max_values(void)
{
	const char *v = getenv("KSM_STUB_VALUES");

	return v && strcmp(v, "max") == 0;
}

static void fill_stats(struct ksm_stats *st)
{
	__u64 *u = (__u64 *)st;
	size_t n = offsetof(struct ksm_stats, skipped) / sizeof(uint64_t);

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < n; i++)
		u[i] = max_values() ? UINT64_MAX : 1000 * (i + 1) + i;
	st->last_full_scan_ms = max_values() ? UINT64_MAX : 1234;
	st->general_profit = max_values() ? INT64_MIN : -4096;
	for (size_t i = 0; i < KSM_SKIP_MAX; i++)
		st->skipped[i] = max_values() ? UINT64_MAX : (i < KSM_SKIP_NR ? 10 * i : 0);
}

static void fill_process_stats(struct ksm_process_stats *ps)
{
	__u64 *u = &ps->regions;
	size_t n = (offsetof(struct ksm_process_stats, reserved) -
		    offsetof(struct ksm_process_stats, regions)) / sizeof(uint64_t);

	for (size_t i = 0; i < n; i++)
		u[i] = max_values() ? UINT64_MAX : 100 * (i + 1);
}

int ioctl(int fd, unsigned long request, ...)
{
	int (*real_ioctl)(int, unsigned long, ...);
	void *arg;
	va_list ap;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd != stub_fd || fd < 0) {
		real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
		return real_ioctl(fd, request, arg);
	}
	switch (request) {
	case KSM_GET_API_VERSION:
		return STUB_API_VERSION;
	case KSM_GET_FEATURES: {
		struct ksm_features *f = arg;

		memset(f, 0, sizeof(*f));
		f->api_version = STUB_API_VERSION;
		f->page_size = 4096;
		f->features = ~0ULL;
		return 0;
	}
	case KSM_GET_STATS:
		fill_stats(arg);
		return 0;
	case KSM_GET_INFO_KTHREAD_R:
	case KSM_GET_INFO_KTHREAD: {
		struct ksm_kthread_info *ki = arg;

		ki->running = 1;
		ki->sleep = max_values() ? UINT32_MAX : 20000;
		ki->pages_to_scan = max_values() ? UINT32_MAX : 1000;
		ki->max_pages_to_merge = max_values() ? UINT32_MAX : 500;
		return 0;
	}
	case KSM_GET_PROCESS_STATS:
		fill_process_stats(arg);
		return 0;
	}
	errno = ENOTTY;
	return -1;
}
