// SPDX-License-Identifier: GPL-2.0
/*
 * ksmctl - control the /dev/ksm page-merging module.
 *
 * The commands of the 2008 ksmctl keep their arguments and their output
 * byte for byte (start, stop, and the first line of info); the others are
 * new: stats (text, JSON, Prometheus; system wide or for one process), scan
 * (one synchronous scan), config (the engine's settings), unmerge (give
 * every merged page a private copy again) and run (a command with the
 * LD_PRELOAD library that registers its MADV_MERGEABLE memory, optionally in
 * a merge domain).
 *
 * When /dev/ksm is missing, ksmctl loads the module with libkmod, by name
 * ("ksm", as installed by make install or DKMS) or from the file named by
 * $KSMCTL_MODULE.
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage error; `run'
 * exits with the command's status (126/127 when it cannot be started).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libkmod.h>
#include <linux/ksm.h>

#include "ksm_preload_env.h"

#ifndef KSM_PRELOAD_PATH
#define KSM_PRELOAD_PATH "/usr/local/lib/ksm/libksm-preload.so"
#endif
/* The version is dkms.conf's PACKAGE_VERSION, passed by tools/tools.mk: written nowhere else. */
#ifndef KSMCTL_VERSION
#error "KSMCTL_VERSION is not defined: build ksmctl with make (tools/tools.mk)"
#endif

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define KSM_DEVICE "/dev/ksm"
#define KSM_MODULE_NAME "ksm"
/* The module's limit on the kksmd sleep (module/ksm_kthread.c). */
#define MAX_SLEEP_US 60000000ULL

static const char *prog = "ksmctl";
static bool opt_verbose;	/* --verbose: libkmod's messages and more detail */
static bool opt_no_load;	/* --no-load: never load the module */

/* An error message on stderr, prefixed with the program name. */
__attribute__((format(printf, 1, 2)))
static void error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: the message, a pointer to --help, exit status 2. */
__attribute__((format(printf, 1, 2), noreturn))
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	exit(EXIT_USAGE);
}

/* The --help text. */
static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: %s [--no-load] [--verbose] COMMAND [ARGS]\n"
		"\n"
		"Control the /dev/ksm page-merging module and its scanner thread, kksmd.\n"
		"\n"
		"commands:\n"
		"  start NPAGES MAXMERGE SLEEP  start kksmd, or change its settings: every round it\n"
		"                               scans NPAGES pages and merges at most MAXMERGE of them,\n"
		"                               then sleeps SLEEP microseconds (suffixes us, ms, s;\n"
		"                               at most 60 s)\n"
		"  stop                         stop kksmd\n"
		"  info                         print kksmd's state and settings (2008 format), then\n"
		"                               the duration of the last full scan\n"
		"  stats [--json|--prometheus] [--pid PID] [-o FILE]\n"
		"                               every counter of the module, or with --pid those of\n"
		"                               one process (0: ksmctl itself); -o writes FILE\n"
		"                               atomically (for node_exporter's textfile collector)\n"
		"  scan [--pass] [--max-merge N] NPAGES\n"
		"                               scan NPAGES pages now (a new cursor, from the first\n"
		"                               registered region); --pass: stop at the end of a pass\n"
		"  config [--json] [KEY=VALUE...]\n"
		"                               print the engine's settings, or change some of them\n"
		"                               (then print them all); keys: merge_across_nodes,\n"
		"                               use_zero_pages, volatility_filter, smart_scan (0|1),\n"
		"                               advisor_mode (none|scan-time), advisor_target_scan_ms,\n"
		"                               advisor_max_cpu, advisor_min_pages_to_scan,\n"
		"                               advisor_max_pages_to_scan\n"
		"  unmerge                      give every page the module merged a private copy\n"
		"                               again (the regions stay registered)\n"
		"  run [--all] [--builtin|--no-builtin] [--domain ID|private] [--hardened|--no-hardened]\n"
		"      [--verbose] [--library PATH] -- CMD [ARGS]\n"
		"                               run CMD with libksm-preload.so: its\n"
		"                               madvise(MADV_MERGEABLE) memory is registered with\n"
		"                               /dev/ksm; --all: its other private memory too;\n"
		"                               --builtin: also pass MADV_MERGEABLE to the kernel's\n"
		"                               built-in KSM (--no-builtin: do not, the default);\n"
		"                               --domain: merge only with processes of merge domain\n"
		"                               ID (1 to 2147483647, needs CAP_SYS_ADMIN), or, with\n"
		"                               private, with no other process; --hardened: in the\n"
		"                               hardened domain of that ID (or of the default one),\n"
		"                               where merged pages behave like the others on writes\n"
		"                               (--no-hardened: not, whatever KSM_PRELOAD_HARDENED\n"
		"                               says)\n"
		"  help, --help                 this text\n"
		"  version, --version           the version\n"
		"\n"
		"options:\n"
		"  --no-load    do not load the module when /dev/ksm is missing\n"
		"  --verbose    more detail on errors (libkmod's messages)\n"
		"\n"
		"environment:\n"
		"  KSMCTL_MODULE=FILE        load the module from FILE instead of by name\n"
		"  KSMCTL_MODULES_DIR=DIR    module directory for the name lookup\n"
		"                            (default /lib/modules/$(uname -r))\n"
		"  KSMCTL_PRELOAD=FILE       the preload library for 'run'\n"
		"\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n",
		prog);
}

/* ---- numbers ---- */

/*
 * Parse a decimal integer in [min, max] for the argument called @what.
 * Rejects empty strings, signs, garbage and overflow with a usage error.
 * @suffixes: accept a time suffix (us, ms, s) and return microseconds.
 */
static uint64_t parse_number(const char *s, const char *what, uint64_t min, uint64_t max,
			     bool suffixes)
{
	unsigned long long v;
	uint64_t scale = 1;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		usage_error("invalid %s '%s': not a number", what, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		usage_error("invalid %s '%s': too large (at most %" PRIu64 ")", what, s, max);
	if (*end) {
		if (!suffixes)
			usage_error("invalid %s '%s': not a number", what, s);
		if (!strcmp(end, "us"))
			scale = 1;
		else if (!strcmp(end, "ms"))
			scale = 1000;
		else if (!strcmp(end, "s"))
			scale = 1000000;
		else
			usage_error("invalid %s '%s': not a number of microseconds "
				    "(or with a suffix us, ms or s)", what, s);
	}
	if (v > max / scale)
		usage_error("invalid %s '%s': too large (at most %" PRIu64 "%s)", what, s,
			    suffixes ? max / 1000000 : max, suffixes ? " s" : "");
	v *= scale;
	if (v < min)
		usage_error("invalid %s '%s': must be at least %" PRIu64, what, s, min);
	return v;
}

/* ---- loading the module (libkmod) ---- */

/* libkmod's log: only with --verbose. */
static void kmod_log(void *data, int priority, const char *file, int line, const char *fn,
		     const char *format, va_list args)
{
	(void)data;
	(void)priority;
	(void)file;
	(void)line;
	(void)fn;
	if (!opt_verbose)
		return;
	fprintf(stderr, "%s: libkmod: ", prog);
	vfprintf(stderr, format, args);
}

/* Explain why inserting @what failed with -@err. */
static void explain_insert_error(const char *what, int err)
{
	struct utsname u;

	uname(&u);
	switch (err) {
	case EPERM:
	case EACCES:
		error("cannot load %s: %s: loading a module needs root (CAP_SYS_MODULE)", what,
		      strerror(err));
		break;
	case ENOEXEC:
	case EINVAL:
		error("cannot load %s: %s: it was not built for this kernel (%s)? "
		      "See the kernel log (dmesg)", what, strerror(err), u.release);
		break;
	case ENOENT:
		error("cannot load %s: %s (or a symbol it needs is missing: see dmesg)", what,
		      strerror(err));
		break;
	default:
		error("cannot load %s: %s (see the kernel log: dmesg)", what, strerror(err));
	}
}

/*
 * Load the ksm module: from $KSMCTL_MODULE if it is set, otherwise by name
 * through the module directory (modules.dep, as make install and DKMS set
 * it up), with its options from /etc/modprobe.d. Returns 0 (loaded, or it
 * already was) or -1 after printing why not.
 */
static int load_module(void)
{
	const char *file = getenv("KSMCTL_MODULE");
	const char *dir = getenv("KSMCTL_MODULES_DIR");
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx;
	struct utsname u;
	int err;

	uname(&u);
	if (access("/proc/modules", F_OK)) {
		error("%s is missing and this kernel has no loadable module support "
		      "(no /proc/modules): the ksm module cannot be loaded", KSM_DEVICE);
		return -1;
	}
	if (file && !*file)
		file = NULL;
	if (dir && !*dir)
		dir = NULL;

	ctx = kmod_new(dir, NULL);
	if (!ctx) {
		error("cannot initialise libkmod (module directory %s)",
		      dir ? dir : "/lib/modules/<running kernel>");
		return -1;
	}
	kmod_set_log_fn(ctx, kmod_log, NULL);
	if (opt_verbose)
		kmod_set_log_priority(ctx, LOG_INFO);

	if (file) {
		err = kmod_module_new_from_path(ctx, file, &mod);
		if (err < 0) {
			error("cannot use the module file %s (KSMCTL_MODULE): %s", file,
			      strerror(-err));
			goto out;
		}
		err = kmod_module_insert_module(mod, 0, NULL);
		if (err == -EEXIST)
			err = 0;
		if (err < 0)
			explain_insert_error(file, -err);
		goto out;
	}

	err = kmod_module_new_from_name(ctx, KSM_MODULE_NAME, &mod);
	if (err < 0) {
		error("libkmod: cannot look up the module %s: %s", KSM_MODULE_NAME,
		      strerror(-err));
		goto out;
	}
	if (kmod_module_get_initstate(mod) == KMOD_MODULE_BUILTIN) {
		error("'%s' is built into this kernel (%s), not the /dev/ksm module: "
		      "nothing to load", KSM_MODULE_NAME, u.release);
		err = -ENOENT;
		goto out;
	}
	if (!kmod_module_get_path(mod)) {
		error("%s is missing and the ksm module is not installed for kernel %s "
		      "(not in %s/modules.dep): install it with 'make install' or the "
		      "ksm DKMS package, or name the file with KSMCTL_MODULE=/path/to/ksm.ko",
		      KSM_DEVICE, u.release, dir ? dir : "/lib/modules/<running kernel>");
		err = -ENOENT;
		goto out;
	}
	err = kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
	if (err == -EEXIST)
		err = 0;
	if (err < 0)
		explain_insert_error(kmod_module_get_path(mod), -err);
	else if (err > 0) {
		/* A positive value: blacklisted or an install command refused. */
		error("the ksm module was not loaded: modprobe configuration (blacklist or "
		      "install command) refused it");
		err = -EPERM;
	}
out:
	if (mod)
		kmod_module_unref(mod);
	kmod_unref(ctx);
	return err < 0 ? -1 : 0;
}

/*
 * Open /dev/ksm read-write. When it is missing, load the module (unless
 * --no-load) and wait up to 5 s for the device node. Returns the fd, or -1
 * after printing why it cannot be opened.
 */
static int open_device(void)
{
	int fd = open(KSM_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENODEV || errno == ENXIO) {
		bool loaded = access("/sys/module/" KSM_MODULE_NAME, F_OK) == 0;

		if (loaded && errno == ENOENT) {
			error("the ksm module is loaded but %s is missing: is devtmpfs (or udev) "
			      "managing /dev? (its device number is in /sys/class/misc/ksm/dev)",
			      KSM_DEVICE);
			return -1;
		}
		if (opt_no_load) {
			error("cannot open %s: %s (the ksm module is not loaded, and --no-load "
			      "was given)", KSM_DEVICE, strerror(errno));
			return -1;
		}
		if (load_module())
			return -1;
		for (int i = 0; i < 100; i++) {
			fd = open(KSM_DEVICE, O_RDWR | O_CLOEXEC);
			if (fd >= 0 || (errno != ENOENT && errno != ENODEV && errno != ENXIO))
				break;
			nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
		}
		if (fd >= 0)
			return fd;
		if (errno == ENOENT) {
			error("the ksm module was loaded but %s did not appear", KSM_DEVICE);
			return -1;
		}
	}
	if (errno == EACCES || errno == EPERM)
		error("cannot open %s: %s (it is usually root only: run ksmctl as root)",
		      KSM_DEVICE, strerror(errno));
	else
		error("cannot open %s: %s", KSM_DEVICE, strerror(errno));
	return -1;
}

/* Report a failed ioctl @name on /dev/ksm, with a hint for the usual errors. */
static void ioctl_error(const char *name, const char *doing)
{
	int err = errno;

	if (err == EPERM)
		error("%s failed: %s: %s needs CAP_SYS_ADMIN (run as root)", name,
		      strerror(err), doing);
	else if (err == ENOTTY)
		error("%s failed: %s: the loaded ksm module is too old for %s", name,
		      strerror(err), doing);
	else
		error("%s failed (%s): %s", name, doing, strerror(err));
}

/* KSM_GET_FEATURES; 0 or -1 (errno set: ENOTTY for a 2008-only module). */
static int get_features(int fd, struct ksm_features *f)
{
	memset(f, 0, sizeof(*f));
	return ioctl(fd, KSM_GET_FEATURES, f);
}

/* kksmd's settings: the correctly numbered ioctl, or the 2008 one on an old module. */
static int get_kthread_info(int fd, struct ksm_kthread_info *info)
{
	memset(info, 0, sizeof(*info));
	if (!ioctl(fd, KSM_GET_INFO_KTHREAD_R, info))
		return 0;
	if (errno != ENOTTY)
		return -1;
	return ioctl(fd, KSM_GET_INFO_KTHREAD, info);
}

/* ---- start, stop, info: the 2008 commands ---- */

/* start NPAGES MAXMERGE SLEEP: start kksmd or change its settings (2008 output). */
static int cmd_start(int argc, char **argv)
{
	struct ksm_kthread_info info = { 0 };
	int fd;

	if (argc != 4)
		usage_error("usage: %s start NPAGES MAXMERGE SLEEP (pages to scan per round, "
			    "most merges per round, microseconds of sleep between rounds)", prog);
	info.pages_to_scan = (uint32_t)parse_number(argv[1], "NPAGES", 1, UINT32_MAX, false);
	info.max_pages_to_merge = (uint32_t)parse_number(argv[2], "MAXMERGE", 1, UINT32_MAX,
							 false);
	info.sleep = (uint32_t)parse_number(argv[3], "SLEEP", 0, MAX_SLEEP_US, true);
	info.running = 1;

	fd = open_device();
	if (fd < 0)
		return EXIT_FAIL;
	if (ioctl(fd, KSM_START_STOP_KTHREAD, &info)) {
		ioctl_error("KSM_START_STOP_KTHREAD", "starting kksmd");
		return EXIT_FAIL;
	}
	printf("created scanner\n");
	close(fd);
	return EXIT_OK;
}

/* stop: stop kksmd (2008 output). */
static int cmd_stop(int argc, char **argv)
{
	struct ksm_kthread_info info = { .running = 0 };
	int fd;

	(void)argv;
	if (argc != 1)
		usage_error("usage: %s stop (no arguments)", prog);
	/* With --no-load and no module, no scanner runs: nothing to stop (ksm.service's ExecStop). */
	if (opt_no_load && access(KSM_DEVICE, F_OK) && access("/sys/module/" KSM_MODULE_NAME, F_OK)) {
		fprintf(stderr, "%s: the ksm module is not loaded: no scanner to stop\n", prog);
		return EXIT_OK;
	}
	fd = open_device();
	if (fd < 0)
		return EXIT_FAIL;
	if (ioctl(fd, KSM_START_STOP_KTHREAD, &info)) {
		ioctl_error("KSM_START_STOP_KTHREAD", "stopping kksmd");
		return EXIT_FAIL;
	}
	printf("stopped scanner\n");
	close(fd);
	return EXIT_OK;
}

/*
 * info: kksmd's state and settings in the 2008 format, then (not in 2008,
 * and only from a module with KSM_GET_STATS, to a caller allowed to read the
 * system-wide statistics) a second line with the duration of the last full
 * scan: "last_full_scan_ms N".
 */
static int cmd_info(int argc, char **argv)
{
	struct ksm_kthread_info info;
	struct ksm_features feat;
	struct ksm_stats st;
	int fd;

	(void)argv;
	if (argc != 1)
		usage_error("usage: %s info (no arguments)", prog);
	fd = open_device();
	if (fd < 0)
		return EXIT_FAIL;
	if (get_kthread_info(fd, &info)) {
		ioctl_error("KSM_GET_INFO_KTHREAD", "reading kksmd's settings");
		return EXIT_FAIL;
	}
	/* The 2008 output, byte for byte (no space before sleep_time). */
	printf("running %d, pages_to_scan %d pages_max_merge %d", (int)info.running,
	       (int)info.pages_to_scan, (int)info.max_pages_to_merge);
	printf("sleep_time %d\n", (int)info.sleep);
	if (!get_features(fd, &feat) && (feat.features & KSM_FEATURE_STATS)) {
		memset(&st, 0, sizeof(st));
		if (!ioctl(fd, KSM_GET_STATS, &st)) {
			printf("last_full_scan_ms %" PRIu64 "\n", (uint64_t)st.last_full_scan_ms);
		} else if (errno != EPERM) {	/* EPERM: the statistics are not this user's */
			ioctl_error("KSM_GET_STATS", "reading the last full scan's duration");
			return EXIT_FAIL;
		}
	}
	close(fd);
	return EXIT_OK;
}

/* ---- stats ---- */

/* One counter of struct ksm_stats: its name, unit, kind and meaning. */
struct stat_field {
	const char *name;
	size_t offset;
	const char *unit;	/* for the text output */
	bool counter;		/* only ever grows (Prometheus counter, _total) */
	bool memory;		/* a number of pages: also show it in MiB */
	const char *help;
	bool is_signed;		/* an __s64 */
};

/* Generated from the one list of counters (uapi/linux/ksm_stat_list.h). */
#define KSM_STAT(field, kind, unit, help)						\
	{ #field, offsetof(struct ksm_stats, field), unit, (kind) == KSM_STAT_EVENT,		\
	  (kind) == KSM_STAT_PAGES, help, (kind) == KSM_STAT_SIGNED },
static const struct stat_field stat_fields[] = {
#include <linux/ksm_stat_list.h>
};

#define NR_STAT_FIELDS (sizeof(stat_fields) / sizeof(stat_fields[0]))

/* The names of enum ksm_skip_reason (as in /sys/class/misc/ksm/skipped/) and their meaning. */
static const struct {
	const char *name;
	const char *help;
} skip_reasons[KSM_SKIP_NR] = {
#define KSM_SKIP_REASON(name, reason, help) [reason] = { #name, help },
#include <linux/ksm_stat_list.h>
};

/* The name of skip reason @i; unknown (newer) reasons get "reason_<i>". */
static const char *skip_name(unsigned int i, char *buf, size_t len)
{
	if (i < KSM_SKIP_NR && skip_reasons[i].name)
		return skip_reasons[i].name;
	snprintf(buf, len, "reason_%u", i);
	return buf;
}

/* The raw 64 bits of @f in @st. */
static uint64_t stat_value(const struct ksm_stats *st, const struct stat_field *f)
{
	uint64_t v;

	memcpy(&v, (const char *)st + f->offset, sizeof(v));
	return v;
}

/* The value of @f as decimal text (signed or not) into @buf. */
static const char *stat_text(const struct ksm_stats *st, const struct stat_field *f, char *buf,
			     size_t len)
{
	uint64_t v = stat_value(st, f);

	if (f->is_signed)
		snprintf(buf, len, "%" PRId64, (int64_t)v);
	else
		snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* Is skip reason @i worth printing: a known one, or a nonzero unknown one? */
static bool skip_shown(const struct ksm_stats *st, unsigned int i)
{
	return i < KSM_SKIP_NR || st->skipped[i];
}

/* @pages pages of @page_size bytes, in MiB. */
static double mib(uint64_t pages, uint32_t page_size)
{
	return (double)pages * page_size / (1024.0 * 1024.0);
}

/* The text output of `stats'. */
static void stats_text(FILE *f, const struct ksm_stats *st, const struct ksm_kthread_info *ki,
		       uint32_t page_size)
{
	char buf[32];

	if (ki->running)
		fprintf(f, "%-20s running: %u pages per round, at most %u merges, sleeping %u us\n",
			"kksmd", ki->pages_to_scan, ki->max_pages_to_merge, ki->sleep);
	else
		fprintf(f, "%-20s stopped\n", "kksmd");
	fprintf(f, "%-20s %.1f MiB (%" PRIu64 " bytes: pages_sharing x %u-byte pages)\n",
		"memory saved", mib(st->pages_sharing, page_size),
		(uint64_t)st->pages_sharing * page_size, page_size);
	for (size_t i = 0; i < NR_STAT_FIELDS; i++) {
		const struct stat_field *sf = &stat_fields[i];
		char size[32] = "", value[32];

		if (sf->memory)
			snprintf(size, sizeof(size), " (%.1f MiB)",
				 mib(stat_value(st, sf), page_size));
		fprintf(f, "%-20s %14s %-8s%s %s\n", sf->name,
			stat_text(st, sf, value, sizeof(value)), sf->unit, size, sf->help);
	}
	fprintf(f, "skipped pages, by reason:\n");
	for (unsigned int i = 0; i < KSM_SKIP_MAX; i++) {
		if (!skip_shown(st, i))
			continue;
		fprintf(f, "  %-18s %14" PRIu64 " %-8s %s\n", skip_name(i, buf, sizeof(buf)),
			(uint64_t)st->skipped[i], "pages", i < KSM_SKIP_NR ? skip_reasons[i].help : "");
	}
}

/* The JSON output of `stats': one object, integers only. */
static void stats_json(FILE *f, const struct ksm_stats *st, const struct ksm_kthread_info *ki,
		       uint32_t page_size)
{
	char buf[32];
	bool first = true;

	fprintf(f, "{\n  \"page_size\": %u,\n", page_size);
	fprintf(f, "  \"memory_saved_bytes\": %" PRIu64 ",\n",
		(uint64_t)st->pages_sharing * page_size);
	for (size_t i = 0; i < NR_STAT_FIELDS; i++)
		fprintf(f, "  \"%s\": %s,\n", stat_fields[i].name,
			stat_text(st, &stat_fields[i], buf, sizeof(buf)));
	fprintf(f, "  \"skipped\": {");
	for (unsigned int i = 0; i < KSM_SKIP_MAX; i++) {
		if (!skip_shown(st, i))
			continue;
		fprintf(f, "%s\n    \"%s\": %" PRIu64, first ? "" : ",",
			skip_name(i, buf, sizeof(buf)), (uint64_t)st->skipped[i]);
		first = false;
	}
	fprintf(f, "\n  },\n");
	fprintf(f, "  \"kksmd\": {\n    \"running\": %u,\n    \"pages_to_scan\": %u,\n"
		"    \"max_pages_to_merge\": %u,\n    \"sleep_us\": %u\n  }\n}\n",
		ki->running, ki->pages_to_scan, ki->max_pages_to_merge, ki->sleep);
}

/* One Prometheus metric family with a single unlabelled sample. */
static void prom_metric(FILE *f, const char *name, const char *type, const char *help,
			const char *value)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, type, name, value);
}

/* The Prometheus text exposition format (for node_exporter's textfile collector). */
static void stats_prometheus(FILE *f, const struct ksm_stats *st,
			     const struct ksm_kthread_info *ki, uint32_t page_size)
{
	char name[64], value[32], buf[32];

	snprintf(value, sizeof(value), "%" PRIu64, (uint64_t)st->pages_sharing * page_size);
	prom_metric(f, "ksm_memory_saved_bytes", "gauge",
		    "Memory saved by merging: pages_sharing times the page size.", value);
	snprintf(value, sizeof(value), "%u", page_size);
	prom_metric(f, "ksm_page_size_bytes", "gauge", "The kernel's page size.", value);
	for (size_t i = 0; i < NR_STAT_FIELDS; i++) {
		const struct stat_field *sf = &stat_fields[i];

		snprintf(name, sizeof(name), "ksm_%s%s", sf->name, sf->counter ? "_total" : "");
		stat_text(st, sf, value, sizeof(value));
		/* Prometheus names carry base units (promtool check metrics refuses _ms). */
		if (!strcmp(sf->unit, "ms")) {
			size_t len = strlen(sf->name);

			snprintf(name, sizeof(name), "ksm_%.*s_seconds",
				 (int)(len > 3 && !strcmp(sf->name + len - 3, "_ms") ? len - 3 : len),
				 sf->name);
			snprintf(value, sizeof(value), "%.3f", stat_value(st, sf) / 1000.0);
		}
		prom_metric(f, name, sf->counter ? "counter" : "gauge", sf->help, value);
	}
	fprintf(f, "# HELP ksm_pages_skipped_total Pages passed over by the scanners, by reason.\n"
		"# TYPE ksm_pages_skipped_total counter\n");
	for (unsigned int i = 0; i < KSM_SKIP_MAX; i++) {
		if (skip_shown(st, i))
			fprintf(f, "ksm_pages_skipped_total{reason=\"%s\"} %" PRIu64 "\n",
				skip_name(i, buf, sizeof(buf)), (uint64_t)st->skipped[i]);
	}
	snprintf(value, sizeof(value), "%u", ki->running);
	prom_metric(f, "ksm_kksmd_running", "gauge", "Whether kksmd runs (1) or not (0).", value);
	snprintf(value, sizeof(value), "%u", ki->pages_to_scan);
	prom_metric(f, "ksm_kksmd_pages_to_scan", "gauge", "Pages kksmd scans per round.", value);
	snprintf(value, sizeof(value), "%u", ki->max_pages_to_merge);
	prom_metric(f, "ksm_kksmd_max_pages_to_merge", "gauge",
		    "Most merges kksmd does per round.", value);
	snprintf(value, sizeof(value), "%.6f", ki->sleep / 1e6);
	prom_metric(f, "ksm_kksmd_sleep_seconds", "gauge", "kksmd's sleep between rounds.",
		    value);
}

/* ---- stats --pid: one process's counters ---- */

/* One counter of struct ksm_process_stats (all are __u64). */
struct pstat_field {
	const char *name;
	size_t offset;
	const char *unit;
	bool counter;		/* only ever grows (Prometheus counter, _total) */
	bool memory;		/* a number of pages: also show it in MiB */
	const char *help;
};

#define PSTAT(field, unit, counter, memory, help) \
	{ #field, offsetof(struct ksm_process_stats, field), unit, counter, memory, help }

static const struct pstat_field pstat_fields[] = {
	PSTAT(regions, "regions", false, false, "Regions the process registered."),
	PSTAT(region_pages, "pages", false, true, "Pages in its regions."),
	PSTAT(merged_pages, "pages", false, true,
	      "Its mappings of the module's kernel pages (as of the last scan of each page)."),
	PSTAT(zero_pages, "pages", false, true,
	      "Its mappings of the zero page made by the module (use_zero_pages)."),
	PSTAT(merges, "PTEs", true, false, "Merges done in its regions."),
	PSTAT(cow_breaks, "PTEs", true, false,
	      "Merged mappings later found replaced by a private copy."),
	PSTAT(unmerged, "PTEs", true, false, "Merged mappings given back by KSM_UNMERGE."),
};

#define NR_PSTAT_FIELDS (sizeof(pstat_fields) / sizeof(pstat_fields[0]))

/* The value of @f in @ps. */
static uint64_t pstat_value(const struct ksm_process_stats *ps, const struct pstat_field *f)
{
	uint64_t v;

	memcpy(&v, (const char *)ps + f->offset, sizeof(v));
	return v;
}

/* The text output of `stats --pid'. */
static void pstats_text(FILE *f, const struct ksm_process_stats *ps, int pid, uint32_t page_size)
{
	fprintf(f, "%-20s %d\n", "process", pid);
	fprintf(f, "%-20s %.1f MiB (merged_pages x %u-byte pages)\n", "memory merged",
		mib(ps->merged_pages, page_size), page_size);
	for (size_t i = 0; i < NR_PSTAT_FIELDS; i++) {
		const struct pstat_field *pf = &pstat_fields[i];
		uint64_t v = pstat_value(ps, pf);
		char size[32] = "";

		if (pf->memory)
			snprintf(size, sizeof(size), " (%.1f MiB)", mib(v, page_size));
		fprintf(f, "%-20s %14" PRIu64 " %-8s%s %s\n", pf->name, v, pf->unit, size, pf->help);
	}
}

/* The JSON output of `stats --pid': one object, integers only. */
static void pstats_json(FILE *f, const struct ksm_process_stats *ps, int pid, uint32_t page_size)
{
	fprintf(f, "{\n  \"pid\": %d,\n  \"page_size\": %u,\n", pid, page_size);
	for (size_t i = 0; i < NR_PSTAT_FIELDS; i++)
		fprintf(f, "  \"%s\": %" PRIu64 "%s\n", pstat_fields[i].name,
			pstat_value(ps, &pstat_fields[i]), i + 1 < NR_PSTAT_FIELDS ? "," : "");
	fprintf(f, "}\n");
}

/* `stats --pid' in the Prometheus format: ksm_process_* families with a pid label. */
static void pstats_prometheus(FILE *f, const struct ksm_process_stats *ps, int pid)
{
	for (size_t i = 0; i < NR_PSTAT_FIELDS; i++) {
		const struct pstat_field *pf = &pstat_fields[i];
		char name[64];

		snprintf(name, sizeof(name), "ksm_process_%s%s", pf->name, pf->counter ? "_total" : "");
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s{pid=\"%d\"} %" PRIu64 "\n", name, pf->help,
			name, pf->counter ? "counter" : "gauge", name, pid, pstat_value(ps, pf));
	}
}

/* ---- stats: output ---- */

enum stats_format { STATS_TEXT, STATS_JSON, STATS_PROMETHEUS };

/* What `stats' prints: the module's counters, or (ps set) one process's. */
struct stats_out {
	enum stats_format fmt;
	const struct ksm_stats *st;
	const struct ksm_kthread_info *ki;
	const struct ksm_process_stats *ps;	/* --pid */
	int pid;				/* --pid: the process (ksmctl's own for 0) */
	uint32_t page_size;
};

/* Write @o to @f in its format. */
static void stats_emit(FILE *f, const struct stats_out *o)
{
	if (o->ps && o->fmt == STATS_JSON)
		pstats_json(f, o->ps, o->pid, o->page_size);
	else if (o->ps && o->fmt == STATS_PROMETHEUS)
		pstats_prometheus(f, o->ps, o->pid);
	else if (o->ps)
		pstats_text(f, o->ps, o->pid, o->page_size);
	else if (o->fmt == STATS_JSON)
		stats_json(f, o->st, o->ki, o->page_size);
	else if (o->fmt == STATS_PROMETHEUS)
		stats_prometheus(f, o->st, o->ki, o->page_size);
	else
		stats_text(f, o->st, o->ki, o->page_size);
}

/*
 * Write the output to @path atomically: a temporary file in the same
 * directory, renamed over @path once complete. Returns 0 or -1 (printed).
 */
static int write_atomically(const char *path, const struct stats_out *o)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		error("output file name too long: %s", path);
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		error("cannot create a temporary file next to %s: %s", path, strerror(errno));
		return -1;
	}
	fchmod(fd, 0644);
	f = fdopen(fd, "w");
	if (!f) {
		error("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	stats_emit(f, o);
	if (fflush(f) || ferror(f) || fsync(fileno(f))) {
		error("cannot write %s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, path)) {
		error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * KSM_GET_PROCESS_STATS for @pid into @ps. Returns 0, or -1 after printing
 * why not (no such process, not allowed, a module without it).
 */
static int get_process_stats(int fd, const struct ksm_features *feat, int pid,
			     struct ksm_process_stats *ps)
{
	if (!(feat->features & KSM_FEATURE_PROCESS_STATS)) {
		error("the loaded ksm module has no per-process counters "
		      "(KSM_GET_PROCESS_STATS): too old");
		return -1;
	}
	memset(ps, 0, sizeof(*ps));
	ps->pid = pid;
	if (!ioctl(fd, KSM_GET_PROCESS_STATS, ps))
		return 0;
	if (errno == ESRCH)
		error("--pid %d: no such process, or one without memory (a kernel thread, a zombie)",
		      pid);
	else if (errno == EPERM)
		error("KSM_GET_PROCESS_STATS failed: %s: another process's counters need "
		      "CAP_SYS_ADMIN (run as root)", strerror(errno));
	else
		ioctl_error("KSM_GET_PROCESS_STATS", "reading the process's counters");
	return -1;
}

/*
 * stats [--json|--prometheus] [--pid PID] [-o FILE]: KSM_GET_STATS and
 * kksmd's settings, or KSM_GET_PROCESS_STATS of PID.
 */
static int cmd_stats(int argc, char **argv)
{
	struct stats_out o = { .fmt = STATS_TEXT };
	const char *output = NULL;
	struct ksm_process_stats ps;
	struct ksm_kthread_info ki;
	struct ksm_features feat;
	struct ksm_stats st;
	bool by_pid = false;
	int fd, pid = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			o.fmt = STATS_JSON;
		else if (!strcmp(argv[i], "--prometheus"))
			o.fmt = STATS_PROMETHEUS;
		else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
			if (++i == argc)
				usage_error("stats: %s needs a file name", argv[i - 1]);
			output = argv[i];
		} else if (!strcmp(argv[i], "--pid")) {
			if (++i == argc)
				usage_error("stats: --pid needs a process id (0: ksmctl itself)");
			pid = (int)parse_number(argv[i], "--pid", 0, INT32_MAX, false);
			by_pid = true;
		} else
			usage_error("stats: unknown argument '%s' (--json, --prometheus, --pid PID, "
				    "-o FILE)", argv[i]);
	}
	fd = open_device();
	if (fd < 0)
		return EXIT_FAIL;
	if (get_features(fd, &feat) && errno != ENOTTY) {
		ioctl_error("KSM_GET_FEATURES", "reading the module's features");
		return EXIT_FAIL;
	}
	if (!(feat.features & KSM_FEATURE_STATS)) {	/* zeroed when the call is unknown */
		error("the loaded ksm module has no statistics (KSM_GET_STATS): too old");
		return EXIT_FAIL;
	}
	o.page_size = feat.page_size ? feat.page_size : (uint32_t)sysconf(_SC_PAGESIZE);
	if (by_pid) {
		if (get_process_stats(fd, &feat, pid, &ps))
			return EXIT_FAIL;
		o.ps = &ps;
		o.pid = pid ? pid : (int)getpid();
	} else {
		memset(&st, 0, sizeof(st));
		if (ioctl(fd, KSM_GET_STATS, &st)) {
			ioctl_error("KSM_GET_STATS", "reading the statistics");
			return EXIT_FAIL;
		}
		if (get_kthread_info(fd, &ki)) {
			ioctl_error("KSM_GET_INFO_KTHREAD", "reading kksmd's settings");
			return EXIT_FAIL;
		}
		o.st = &st;
		o.ki = &ki;
	}
	close(fd);

	if (output)
		return write_atomically(output, &o) ? EXIT_FAIL : EXIT_OK;
	stats_emit(stdout, &o);
	if (fflush(stdout) || ferror(stdout)) {
		error("cannot write the output: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ---- scan ---- */

/* scan [--pass] [--max-merge N] NPAGES: one KSM_SCAN_EXT on a new scan fd. */
static int cmd_scan(int argc, char **argv)
{
	struct ksm_scan_ext scan = { 0 };
	const char *npages = NULL;
	int fd, sfd, ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pass"))
			scan.flags |= KSM_SCAN_PASS_END;
		else if (!strcmp(argv[i], "--max-merge")) {
			if (++i == argc)
				usage_error("scan: --max-merge needs a number");
			scan.max_pages_to_merge =
				(uint32_t)parse_number(argv[i], "--max-merge", 1, UINT32_MAX, false);
		} else if (argv[i][0] == '-' && argv[i][1])
			usage_error("scan: unknown option '%s'", argv[i]);
		else if (npages)
			usage_error("scan: one NPAGES only ('%s' too many)", argv[i]);
		else
			npages = argv[i];
	}
	if (!npages)
		usage_error("usage: %s scan [--pass] [--max-merge N] NPAGES", prog);
	scan.pages_to_scan = (uint32_t)parse_number(npages, "NPAGES", 1, UINT32_MAX, false);

	fd = open_device();
	if (fd < 0)
		return EXIT_FAIL;
	sfd = ioctl(fd, KSM_CREATE_SCAN);
	if (sfd < 0) {
		ioctl_error("KSM_CREATE_SCAN", "creating a scan cursor");
		return EXIT_FAIL;
	}
	ret = ioctl(sfd, KSM_SCAN_EXT, &scan);
	if (ret && errno != EINTR) {
		ioctl_error("KSM_SCAN_EXT", "scanning");
		return EXIT_FAIL;
	}
	printf("scanned %" PRIu64 " pages, merged %" PRIu64 ", full scans %" PRIu64 "%s\n",
	       (uint64_t)scan.pages_scanned, (uint64_t)scan.pages_merged,
	       (uint64_t)scan.full_scans, ret ? " (interrupted)" : "");
	close(sfd);
	close(fd);
	return ret ? EXIT_FAIL : EXIT_OK;
}

/* ---- config ---- */

enum config_kind { CFG_BOOL, CFG_NUMBER, CFG_ADVISOR };

/* One setting of struct ksm_config (all are __u32) and the values it takes. */
struct config_key {
	const char *name;
	size_t offset;
	enum config_kind kind;
	uint32_t min, max;	/* CFG_NUMBER */
};

#define CFG(field, kind, min, max) { #field, offsetof(struct ksm_config, field), kind, min, max }

/* The module's limits (module/ksm_config.c). */
static const struct config_key config_keys[] = {
	CFG(merge_across_nodes, CFG_BOOL, 0, 1),
	CFG(use_zero_pages, CFG_BOOL, 0, 1),
	CFG(volatility_filter, CFG_BOOL, 0, 1),
	CFG(smart_scan, CFG_BOOL, 0, 1),
	CFG(advisor_mode, CFG_ADVISOR, 0, 0),
	CFG(advisor_target_scan_ms, CFG_NUMBER, 1000, 3600000),
	CFG(advisor_max_cpu, CFG_NUMBER, 1, 100),
	CFG(advisor_min_pages_to_scan, CFG_NUMBER, 1, UINT32_MAX),
	CFG(advisor_max_pages_to_scan, CFG_NUMBER, 1, UINT32_MAX),
};

#define NR_CONFIG_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* The names of KSM_ADVISOR_*, indexed by value. */
static const char *const advisor_modes[] = { "none", "scan-time" };

/* Pointer to the field of @key in @cfg. */
static uint32_t *config_field(struct ksm_config *cfg, const struct config_key *key)
{
	return (uint32_t *)((char *)cfg + key->offset);
}

/* The value of @key in @cfg as text (advisor_mode by name) into @buf. */
static const char *config_text(const struct ksm_config *cfg, const struct config_key *key,
			       char *buf, size_t len)
{
	uint32_t v = *config_field((struct ksm_config *)cfg, key);

	if (key->kind == CFG_ADVISOR && v < sizeof(advisor_modes) / sizeof(advisor_modes[0]))
		return advisor_modes[v];
	snprintf(buf, len, "%u", v);
	return buf;
}

/* Print @cfg: "KEY VALUE" lines (which `config KEY=VALUE' takes back), or JSON. */
static void config_print(const struct ksm_config *cfg, bool json)
{
	char buf[32];

	if (json)
		printf("{\n");
	for (size_t i = 0; i < NR_CONFIG_KEYS; i++) {
		const struct config_key *key = &config_keys[i];
		const char *v = config_text(cfg, key, buf, sizeof(buf));

		if (!json)
			printf("%-26s %s\n", key->name, v);
		else if (key->kind == CFG_ADVISOR)
			printf("  \"%s\": \"%s\"%s\n", key->name, v, i + 1 < NR_CONFIG_KEYS ? "," : "");
		else
			printf("  \"%s\": %s%s\n", key->name, v, i + 1 < NR_CONFIG_KEYS ? "," : "");
	}
	if (json)
		printf("}\n");
}

/* A KEY=VALUE argument of `config', checked. */
struct config_change {
	const struct config_key *key;
	uint32_t value;
};

/* Parse KEY=VALUE @arg into @c; a usage error (exit 2) for a bad key or value. */
static void config_parse(const char *arg, struct config_change *c)
{
	const char *eq = strchr(arg, '=');
	size_t klen = eq ? (size_t)(eq - arg) : 0;
	const char *val = eq ? eq + 1 : NULL;

	if (!eq || !klen)
		usage_error("config: '%s' is not KEY=VALUE", arg);
	c->key = NULL;
	for (size_t i = 0; i < NR_CONFIG_KEYS; i++) {
		if (strlen(config_keys[i].name) == klen && !strncmp(arg, config_keys[i].name, klen))
			c->key = &config_keys[i];
	}
	if (!c->key)
		usage_error("config: unknown setting '%.*s' (merge_across_nodes, use_zero_pages, "
			    "volatility_filter, smart_scan, advisor_mode, advisor_target_scan_ms, "
			    "advisor_max_cpu, advisor_min_pages_to_scan, advisor_max_pages_to_scan)",
			    (int)klen, arg);
	switch (c->key->kind) {
	case CFG_BOOL:
		if (strcmp(val, "0") && strcmp(val, "1"))
			usage_error("config: invalid %s '%s': 0 or 1", c->key->name, val);
		c->value = val[0] == '1';
		break;
	case CFG_ADVISOR:
		for (c->value = 0; c->value < sizeof(advisor_modes) / sizeof(advisor_modes[0]);
		     c->value++) {
			if (!strcmp(val, advisor_modes[c->value]))
				return;
		}
		usage_error("config: invalid advisor_mode '%s': none or scan-time", val);
	case CFG_NUMBER:
		c->value = (uint32_t)parse_number(val, c->key->name, c->key->min, c->key->max,
						  false);
		break;
	}
}

/*
 * config [--json] [KEY=VALUE...]: print the settings (KSM_GET_CONFIG), or
 * change the named ones (KSM_SET_CONFIG takes every field: read, change,
 * write back) and print the result. Every argument is checked before
 * /dev/ksm is opened; advisor_min_pages_to_scan must not exceed
 * advisor_max_pages_to_scan once applied (a usage error too).
 */
static int cmd_config(int argc, char **argv)
{
	struct config_change changes[64];
	struct ksm_config cfg;
	size_t nr = 0;
	bool json = false;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-')
			usage_error("config: unknown option '%s' (--json)", argv[i]);
		else if (nr == sizeof(changes) / sizeof(changes[0]))
			usage_error("config: too many settings");
		else
			config_parse(argv[i], &changes[nr++]);
	}

	fd = open_device();
	if (fd < 0)
		return EXIT_FAIL;
	memset(&cfg, 0, sizeof(cfg));
	if (ioctl(fd, KSM_GET_CONFIG, &cfg)) {
		ioctl_error("KSM_GET_CONFIG", "reading the settings");
		return EXIT_FAIL;
	}
	if (nr) {
		for (size_t i = 0; i < nr; i++)
			*config_field(&cfg, changes[i].key) = changes[i].value;
		if (cfg.advisor_min_pages_to_scan > cfg.advisor_max_pages_to_scan)
			usage_error("config: advisor_min_pages_to_scan (%u) would exceed "
				    "advisor_max_pages_to_scan (%u)", cfg.advisor_min_pages_to_scan,
				    cfg.advisor_max_pages_to_scan);
		if (ioctl(fd, KSM_SET_CONFIG, &cfg)) {
			if (errno == EBUSY)
				error("KSM_SET_CONFIG failed: %s: merge_across_nodes cannot change "
				      "while the module holds merged pages (stop kksmd, run "
				      "'ksmctl unmerge', then try again)", strerror(errno));
			else
				ioctl_error("KSM_SET_CONFIG", "changing the settings");
			return EXIT_FAIL;
		}
		memset(&cfg, 0, sizeof(cfg));
		if (ioctl(fd, KSM_GET_CONFIG, &cfg)) {
			ioctl_error("KSM_GET_CONFIG", "reading the settings back");
			return EXIT_FAIL;
		}
	}
	close(fd);
	config_print(&cfg, json);
	return EXIT_OK;
}

/* ---- unmerge ---- */

/*
 * unmerge: KSM_UNMERGE_ALL, every merged page of every region gets a private
 * copy again. Fails (exit 1) when some could not be (out of memory, or a
 * fault that made no copy: before 6.2, where userfaultfd write-protects).
 */
static int cmd_unmerge(int argc, char **argv)
{
	struct ksm_unmerge u;
	int fd, ret;

	(void)argv;
	if (argc != 1)
		usage_error("usage: %s unmerge (no arguments)", prog);
	fd = open_device();
	if (fd < 0)
		return EXIT_FAIL;
	memset(&u, 0, sizeof(u));
	ret = ioctl(fd, KSM_UNMERGE_ALL, &u);
	if (ret && errno != EINTR) {
		ioctl_error("KSM_UNMERGE_ALL", "unmerging every page");
		return EXIT_FAIL;
	}
	printf("unmerged %" PRIu64 " pages (%" PRIu64 " failed)%s\n", (uint64_t)u.pages_unmerged,
	       (uint64_t)u.pages_failed, ret ? " (interrupted)" : "");
	close(fd);
	if (u.pages_failed)
		error("%" PRIu64 " merged pages could not get a private copy (out of memory, or "
		      "before Linux 6.2 write-protected by userfaultfd); they stay merged",
		      (uint64_t)u.pages_failed);
	return ret || u.pages_failed ? EXIT_FAIL : EXIT_OK;
}

/* ---- run ---- */

/* Is @path a readable regular file? */
static bool readable_file(const char *path)
{
	struct stat sb;

	return !stat(path, &sb) && S_ISREG(sb.st_mode) && !access(path, R_OK);
}

/*
 * Find libksm-preload.so: $KSMCTL_PRELOAD, next to this program (the build
 * tree), ../lib/ksm/ from it (an install prefix), then the path it was built
 * for. Writes an absolute path to @out; returns 0 or -1.
 */
static int find_preload(char *out, size_t len)
{
	const char *env = getenv("KSMCTL_PRELOAD");
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;

	if (env && *env) {
		if (!realpath(env, out) || !readable_file(out)) {
			error("KSMCTL_PRELOAD=%s: %s", env, strerror(errno ? errno : ENOENT));
			return -1;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *dir = dirname(exe);
		const char *rel[] = { "libksm-preload.so", "../lib/ksm/libksm-preload.so" };

		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(cand, sizeof(cand), "%s/%s", dir, rel[i]);
			if (readable_file(cand) && realpath(cand, out))
				return 0;
		}
	}
	if (readable_file(KSM_PRELOAD_PATH) && strlen(KSM_PRELOAD_PATH) < len) {
		strcpy(out, KSM_PRELOAD_PATH);
		return 0;
	}
	error("cannot find libksm-preload.so (looked next to ksmctl, in ../lib/ksm/ from it "
	      "and at %s): name it with --library PATH or KSMCTL_PRELOAD", KSM_PRELOAD_PATH);
	return -1;
}

/* Set @name=@value in the environment, or exit on failure. */
static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1)) {
		error("cannot set %s: %s", name, strerror(errno));
		exit(EXIT_FAIL);
	}
}

/*
 * The merge domain of `run --domain @arg': "private", "default" (0) or an id
 * from 1 to 0x7fffffff, as the preload library's KSM_PRELOAD_DOMAIN takes it
 * (written to @env). Returns the id (KSM_DOMAIN_PRIVATE for private); a usage
 * error otherwise.
 */
static uint32_t parse_domain(const char *arg, char *env, size_t len)
{
	uint64_t id;

	if (!strcmp(arg, "private")) {
		snprintf(env, len, "private");
		return KSM_DOMAIN_PRIVATE;
	}
	if (!strcmp(arg, "default")) {
		snprintf(env, len, "0");
		return KSM_DOMAIN_DEFAULT;
	}
	if (*arg >= '0' && *arg <= '9' && strtoull(arg, NULL, 10) >= 0x80000000ULL &&
	    strspn(arg, "0123456789") == strlen(arg))
		usage_error("invalid --domain '%s': ids from 2147483648 up are the kernel's "
			    "private domains (use --domain private)", arg);
	id = parse_number(arg, "--domain (an id, or private)", 0, 0x7fffffff, false);
	snprintf(env, len, "%" PRIu64, id);
	return (uint32_t)id;
}

/*
 * Check before running the command that the module can put it in merge
 * domain @domain: it has domains (and KSM_REMOVE_MEMORY_REGION_EXT, which the
 * library then uses), and a named domain is allowed to us (CAP_SYS_ADMIN:
 * tried on a throwaway SMA). Returns 0 or -1 after printing why not.
 */
static int check_domain(int fd, uint32_t domain, uint32_t flags)
{
	struct ksm_domain d = { .domain = domain, .flags = flags };
	struct ksm_features feat;
	int sma;

	if (get_features(fd, &feat) || (feat.features & (KSM_FEATURE_DOMAINS | KSM_FEATURE_UNMERGE)) !=
	    (KSM_FEATURE_DOMAINS | KSM_FEATURE_UNMERGE)) {
		error("run --domain: the loaded ksm module has no merge domains "
		      "(KSM_SMA_SET_DOMAIN): too old");
		return -1;
	}
	if (flags && !(feat.features & KSM_FEATURE_HARDENED)) {
		error("run --hardened: the loaded ksm module has no hardened domains: too old");
		return -1;
	}
	if (flags && domain == KSM_DOMAIN_PRIVATE) {
		error("run --hardened: a private domain has nobody to hide from: not with "
		      "--domain private");
		return -1;
	}
	if (domain == KSM_DOMAIN_DEFAULT || domain == KSM_DOMAIN_PRIVATE)
		return 0;
	sma = ioctl(fd, KSM_CREATE_SHARED_MEMORY_AREA);
	if (sma < 0) {
		ioctl_error("KSM_CREATE_SHARED_MEMORY_AREA", "checking the merge domain");
		return -1;
	}
	if (ioctl(sma, KSM_SMA_SET_DOMAIN, &d)) {
		if (errno == EPERM)
			error("run --domain %u: KSM_SMA_SET_DOMAIN failed: %s: a named merge domain "
			      "needs CAP_SYS_ADMIN (run as root, or use --domain private)", domain,
			      strerror(errno));
		else
			ioctl_error("KSM_SMA_SET_DOMAIN", "checking the merge domain");
		close(sma);
		return -1;
	}
	close(sma);
	return 0;
}

/*
 * run [options] -- CMD [ARGS]: exec CMD with the preload library in LD_PRELOAD
 * and its settings in the environment, once /dev/ksm is known to open (and
 * the merge domain, from the options or else inherited, known to be allowed).
 */
static int cmd_run(int argc, char **argv)
{
	char lib[PATH_MAX], *preload, domain_env[16] = "";
	const char *library = NULL, *old, *env_domain, *env_hardened;
	bool inherited;
	int builtin = -1, all = 0, verbose = 0, hardened = -1, i, fd;
	uint32_t domain = KSM_DOMAIN_DEFAULT;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--all"))
			all = 1;
		else if (!strcmp(argv[i], "--builtin"))
			builtin = 1;
		else if (!strcmp(argv[i], "--no-builtin"))
			builtin = 0;
		else if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		else if (!strcmp(argv[i], "--hardened"))
			hardened = 1;
		else if (!strcmp(argv[i], "--no-hardened"))
			hardened = 0;
		else if (!strcmp(argv[i], "--domain")) {
			if (++i == argc)
				usage_error("run: --domain needs an id (1 to 2147483647) or private");
			domain = parse_domain(argv[i], domain_env, sizeof(domain_env));
		} else if (!strcmp(argv[i], "--library")) {
			if (++i == argc)
				usage_error("run: --library needs a path");
			library = argv[i];
		} else if (argv[i][0] == '-')
			usage_error("run: unknown option '%s'", argv[i]);
		else
			break;
	}
	if (i >= argc)
		usage_error("usage: %s run [--all] [--builtin|--no-builtin] [--domain ID|private] "
			    "[--hardened|--no-hardened] [--verbose] [--library PATH] -- CMD [ARGS...]: "
			    "no command given", prog);

	if (library) {
		if (!realpath(library, lib) || !readable_file(lib)) {
			error("--library %s: %s", library, strerror(errno ? errno : EACCES));
			return EXIT_FAIL;
		}
	} else if (find_preload(lib, sizeof(lib)))
		return EXIT_FAIL;
	/* ld.so splits LD_PRELOAD at spaces and colons: such a path would be ignored. */
	if (strpbrk(lib, " :")) {
		error("the preload library %s: LD_PRELOAD cannot hold a path with a space or a colon",
		      lib);
		return EXIT_FAIL;
	}

	/*
	 * The settings no option names are inherited (KSM_PRELOAD_DOMAIN,
	 * KSM_PRELOAD_HARDENED): read as the library will read them, so that
	 * they are checked as the options are.
	 */
	env_domain = getenv("KSM_PRELOAD_DOMAIN");
	env_hardened = getenv("KSM_PRELOAD_HARDENED");
	inherited = (!*domain_env && env_domain && *env_domain) || hardened < 0;
	if (hardened < 0)
		hardened = ksm_env_flag_value(env_hardened);
	if (!*domain_env && ksm_env_domain_value(env_domain, &domain)) {
		error("KSM_PRELOAD_DOMAIN=%s in the environment: not private nor an id from 0 to "
		      "2147483647 (the preload library would register nothing)", env_domain);
		return EXIT_FAIL;
	}

	/* The command is of no use without /dev/ksm: make sure it can be opened. */
	fd = open_device();
	if (fd < 0)
		return EXIT_FAIL;
	/* The default domain, not hardened, is as without --domain: nothing to check. */
	if ((domain != KSM_DOMAIN_DEFAULT || hardened) &&
	    check_domain(fd, domain, hardened ? KSM_DOMAIN_HARDENED : 0)) {
		if (inherited)
			error("(settings from the environment: KSM_PRELOAD_DOMAIN=%s "
			      "KSM_PRELOAD_HARDENED=%s)", env_domain ? env_domain : "",
			      env_hardened ? env_hardened : "");
		close(fd);
		return EXIT_FAIL;
	}
	close(fd);

	old = getenv("LD_PRELOAD");
	if (old && *old) {
		if (asprintf(&preload, "%s %s", lib, old) < 0) {
			error("out of memory");
			return EXIT_FAIL;
		}
	} else
		preload = lib;
	set_env("LD_PRELOAD", preload);
	if (all)
		set_env("KSM_PRELOAD_ALL", "1");
	if (builtin >= 0)
		set_env("KSM_PRELOAD_BUILTIN", builtin ? "1" : "0");
	if (verbose)
		set_env("KSM_PRELOAD_VERBOSE", "1");
	if (*domain_env)
		set_env("KSM_PRELOAD_DOMAIN", domain_env);
	set_env("KSM_PRELOAD_HARDENED", hardened ? "1" : "0");

	execvp(argv[i], &argv[i]);
	error("cannot run %s: %s", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

/* ---- main ---- */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	bool abbrev;	/* may be abbreviated, as in 2008 (start, stop, info) */
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	print_usage(stdout);
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("ksmctl %s (ksm API version %d)\n", KSMCTL_VERSION, KSM_API_VERSION);
	return EXIT_OK;
}

static const struct command commands[] = {
	{ "start", cmd_start, true },
	{ "stop", cmd_stop, true },
	{ "info", cmd_info, true },
	{ "stats", cmd_stats, false },
	{ "scan", cmd_scan, false },
	{ "config", cmd_config, false },
	{ "unmerge", cmd_unmerge, false },
	{ "run", cmd_run, false },
	{ "help", cmd_help, false },
	{ "version", cmd_version, false },
};

/*
 * The command named @name: an exact name, or (as the 2008 ksmctl allowed) an
 * unambiguous prefix of start, stop or info. Exits on an unknown or
 * ambiguous name.
 */
static const struct command *find_command(const char *name)
{
	const struct command *found = NULL;
	size_t len = strlen(name);
	int matches = 0;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	}
	for (size_t i = 0; len && i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].abbrev && !strncmp(name, commands[i].name, len)) {
			found = &commands[i];
			matches++;
		}
	}
	if (matches == 1)
		return found;
	if (matches > 1)
		usage_error("ambiguous command '%s' (start, stop or info?)", name);
	usage_error("unknown command '%s'", name);
}

/* Global options, then the command. */
int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return cmd_help(0, NULL);
		else if (!strcmp(argv[i], "--version"))
			return cmd_version(0, NULL);
		else if (!strcmp(argv[i], "--no-load"))
			opt_no_load = true;
		else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v"))
			opt_verbose = true;
		else
			usage_error("unknown option '%s'", argv[i]);
	}
	if (i == argc) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	return find_command(argv[i])->fn(argc - i, argv + i);
}
