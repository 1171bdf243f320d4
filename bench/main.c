// SPDX-License-Identifier: GPL-2.0
/*
 * ksm-bench - the /dev/ksm module ("ours") against the kernel's built-in KSM
 * ("builtin"), on identical workloads, one after the other in the same boot.
 *
 * Modes (-m, a comma-separated list; all by default):
 *   merge       time until every duplicate of two processes of S MiB with
 *               identical, random content is merged; scanner CPU; pages
 *               merged per CPU second
 *   merge-dups  the same, each page also repeated 8 times inside its process
 *   unmerge     MiB/s to give every merged mapping a private page again
 *   cow         time of a write fault on a merged page, and on private pages
 *   full-scan   time and CPU of a pass over S/4 .. 4S MiB of distinct pages
 *   savings     MiB saved for two paused QEMUs with the same guest image
 *   features    the module's switches (volatility_filter, use_zero_pages,
 *               smart_scan) off and on, each on a workload made for it
 *   scale       costs as memory grows: kernel memory at load, registering a
 *               64 GiB region with 64 MiB touched, memory per tracked page, a
 *               pass over that sparse region, dense passes at S, 4S, 8S MiB,
 *               reading a statistic while much is tracked
 *   fragmentation  the 2 MiB huge pages the guest can still allocate after
 *               compaction, with 4 x S MiB merged and churned for rounds
 *               (rewrites, exits, unmerges, new merges)
 *   hardened    the hardened domain: what an attacker learns by timing
 *               writes, normal and hardened, and what it costs (faults,
 *               CPU, memory saved) on idle and busy pages
 *
 * Each mode prints one JSON line ({"mode":..,"ours":..,"builtin":..,
 * "ratio":..,...}; ratio is ours/builtin of the headline metric) and a table;
 * progress goes to stderr. Run as root, with the module loaded; it changes the
 * built-in KSM's settings and restores them at exit. See docs/performance.md.
 */
#include "ksm_bench.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

struct bench_opts opt = {
	.size_mib = 256,
	.reps = 3,
	.image_mib = 64,
	.dup_factor = 8,
	.max_passes = 10,
	.timeout_s = 1800,
	.qemu = "qemu-system-x86_64",
};

enum {
	M_MERGE = 1 << 0,
	M_DUPS = 1 << 1,
	M_UNMERGE = 1 << 2,
	M_COW = 1 << 3,
	M_SCAN = 1 << 4,
	M_SAVINGS = 1 << 5,
	M_FEATURES = 1 << 6,
	M_SCALE = 1 << 7,
	M_FRAG = 1 << 8,
	M_HARDENED = 1 << 9,
	M_ALL = (1 << 10) - 1,
};

static const struct {
	const char *name;
	int bit;
} mode_names[] = {
	{ "merge", M_MERGE }, { "merge-dups", M_DUPS }, { "unmerge", M_UNMERGE },
	{ "cow", M_COW }, { "full-scan", M_SCAN }, { "savings", M_SAVINGS },
	{ "features", M_FEATURES }, { "scale", M_SCALE }, { "fragmentation", M_FRAG },
	{ "hardened", M_HARDENED }, { "all", M_ALL },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ksm-bench [-m MODES] [-s MiB] [-S MiB,MiB,...] [-r N] [-i MiB] [-d N]\n"
		"                 [-k] [-H] [-p N] [-t SECONDS] [-o FILE] [-v]\n"
		"                 [--ksmctl PATH] [--qemu PATH]\n"
		"\n"
		"Compare the /dev/ksm module with the built-in KSM (as root, module loaded).\n"
		"\n"
		"  -m MODES   comma-separated: merge, merge-dups, unmerge, cow, full-scan,\n"
		"             savings, features, scale, fragmentation, hardened, all\n"
		"             (default all)\n"
		"  -s MiB     memory of each of the two processes (default 256)\n"
		"  -S LIST    full-scan sizes in MiB (default S/4,S/2,S,2S,4S)\n"
		"  -r N       repetitions, the median is reported (default 3); full-scan: N\n"
		"             steady passes after the first\n"
		"  -i MiB     size of the QEMU guest image (default 64)\n"
		"  -d N       merge-dups: copies of each page in one process (default 8)\n"
		"  -k         ours merges with kksmd (sleep 0) instead of KSM_SCAN_EXT\n"
		"  -H         leave transparent huge pages on (default MADV_NOHUGEPAGE)\n"
		"  -p N       give up merging after N passes (default 10)\n"
		"  -t SEC     give up waiting for a scanner after SEC seconds (default 1800)\n"
		"  -o FILE    also append the JSON lines to FILE\n"
		"  -v         more progress output\n"
		"  --ksmctl PATH  ksmctl for the savings mode (default: next to this program,\n"
		"             ../tools/ksmctl)\n"
		"  --qemu PATH    qemu-system-x86_64 (default: from PATH)\n");
}

/* A positive integer option value, or exit with a usage error. */
static long number(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "ksm-bench: %s: '%s' is not a number in %ld..%ld\n", what, s, min,
			max);
		exit(2);
	}
	return v;
}

/* Parse -m's list of modes into bits. */
static int parse_modes(const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;
	int bits = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
			if (!strcmp(tok, mode_names[i].name))
				break;
		if (i == sizeof(mode_names) / sizeof(mode_names[0])) {
			fprintf(stderr, "ksm-bench: unknown mode '%s' (try --help)\n", tok);
			exit(2);
		}
		bits |= mode_names[i].bit;
	}
	free(copy);
	return bits;
}

/* Parse -S's list of sizes. */
static void parse_sizes(const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;

	opt.nscan = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (opt.nscan == MAX_SCAN_SIZES) {
			fprintf(stderr, "ksm-bench: at most %d sizes\n", MAX_SCAN_SIZES);
			exit(2);
		}
		opt.scan_mib[opt.nscan++] = number(tok, "-S", 1, 1 << 20);
	}
	free(copy);
}

/* ksmctl next to this program: build/bench/ksm-bench -> build/tools/ksmctl. */
static void default_ksmctl(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	char *slash;

	if (n <= 0)
		die("readlink /proc/self/exe");
	path[n] = '\0';
	slash = strrchr(path, '/');
	*slash = '\0';
	slash = strrchr(path, '/');
	strcpy(slash ? slash + 1 : path, "tools/ksmctl");
	opt.ksmctl = path;
}

/* Print a mode's JSON line (stdout and -o) and its table. */
static void report(const struct result *r, const char *kernel, const struct sbuf *settings)
{
	struct sbuf j = { 0 };
	char target[32];

	snprintf(target, sizeof(target), "%s %g", r->lower_better ? "<=" : ">=", r->target);
	sb_printf(&j, "{\"mode\":\"%s\"", r->mode);
	json_num(&j, "ours", r->ours);
	json_num(&j, "builtin", r->builtin);
	json_num(&j, "ratio", r->ratio);
	json_str(&j, "metric", r->metric);
	json_str(&j, "unit", r->unit);
	json_str(&j, "ratio_is", r->lower_better ? "ours/builtin, lower is better"
						 : "ours/builtin, higher is better");
	json_str(&j, "target", target);
	json_bool(&j, "met", r->met);
	json_str(&j, "kernel", kernel);
	json_int(&j, "reps", opt.reps);
	sb_printf(&j, "%s%s}", r->details.s ? r->details.s : "", settings->s);
	emit_json(j.s);
	printf("\n%s: %s\n%s", r->mode, r->metric, r->table.s ? r->table.s : "");
	printf("  => ratio %.3f, target %s: %s\n\n", r->ratio, target, r->met ? "met" : "NOT met");
	fflush(stdout);
	sb_free(&j);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ksmctl", required_argument, NULL, 'K' },
		{ "qemu", required_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct result res[10];
	struct sbuf settings = { 0 };
	struct utsname uts;
	int modes = M_ALL, nres = 0, c;
	const char *sizes = NULL;
	double t0 = ksmu_now_s();

	while ((c = getopt_long(argc, argv, "m:s:S:r:i:d:kHp:t:o:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': modes = parse_modes(optarg); break;
		case 's': opt.size_mib = number(optarg, "-s", 1, 1 << 20); break;
		case 'S': sizes = optarg; break;
		case 'r': opt.reps = (int)number(optarg, "-r", 1, MAX_REPS); break;
		case 'i': opt.image_mib = number(optarg, "-i", 1, 240); break;
		case 'd': opt.dup_factor = (int)number(optarg, "-d", 2, 256); break;
		case 'k': opt.kksmd = true; break;
		case 'H': opt.thp = true; break;
		case 'p': opt.max_passes = (int)number(optarg, "-p", 2, 1000); break;
		case 't': opt.timeout_s = (double)number(optarg, "-t", 1, 86400); break;
		case 'o': opt.json_out = optarg; break;
		case 'v': opt.verbose = true; break;
		case 'K': opt.ksmctl = optarg; break;
		case 'Q': opt.qemu = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (sizes) {
		parse_sizes(sizes);
	} else {
		static const double f[] = { 0.25, 0.5, 1, 2, 4 };

		for (int i = 0; i < 5; i++)
			if ((long)(opt.size_mib * f[i]) >= 1)
				opt.scan_mib[opt.nscan++] = (long)(opt.size_mib * f[i]);
	}
	if (!opt.ksmctl)
		default_ksmctl();
	if (geteuid()) {
		fprintf(stderr, "ksm-bench: run as root (it drives /sys/kernel/mm/ksm)\n");
		return 1;
	}
	uname(&uts);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (modes & M_SCALE)
		scale_measure_load();	/* reloads the module: before /dev/ksm is opened */
	engines_init();
	engine_describe(&settings);
	note("kernel %s, %ld CPUs, S = %ld MiB, %d repetitions%s", uts.release,
	     sysconf(_SC_NPROCESSORS_ONLN), opt.size_mib, opt.reps,
	     opt.kksmd ? ", ours with kksmd" : "");

	memset(res, 0, sizeof(res));
	if (modes & (M_MERGE | M_UNMERGE)) {
		struct result unused = { 0 };
		struct result *m = modes & M_MERGE ? &res[nres++] : &unused;
		struct result *u = modes & M_UNMERGE ? &res[nres++] : &unused;

		mode_merge(false, modes & M_MERGE, modes & M_UNMERGE, m, u);
		if (modes & M_MERGE)
			report(m, uts.release, &settings);
		if (modes & M_UNMERGE)
			report(u, uts.release, &settings);
	}
	if (modes & M_DUPS) {
		mode_merge(true, true, false, &res[nres], NULL);
		report(&res[nres++], uts.release, &settings);
	}
	if (modes & M_COW) {
		mode_cow(&res[nres]);
		report(&res[nres++], uts.release, &settings);
	}
	if (modes & M_SCAN) {
		mode_full_scan(&res[nres]);
		report(&res[nres++], uts.release, &settings);
	}
	if (modes & M_SAVINGS) {
		mode_savings(&res[nres]);
		report(&res[nres++], uts.release, &settings);
	}

	if (modes & M_SCALE) {
		mode_scale(&res[nres]);
		report(&res[nres++], uts.release, &settings);
	}
	if (modes & M_FRAG) {
		mode_frag(&res[nres]);
		report(&res[nres++], uts.release, &settings);
	}
	if (modes & M_FEATURES)
		mode_features(uts.release, &settings);
	if (modes & M_HARDENED)
		mode_hardened(uts.release, &settings);

	printf("summary (kernel %s, S = %ld MiB, %d repetitions, %.0f s):\n", uts.release,
	       opt.size_mib, opt.reps, ksmu_now_s() - t0);
	printf("  %-11s %12s %12s %-8s %8s %-8s %s\n", "mode", "ours", "builtin", "unit", "ratio",
	       "target", "met");
	for (int i = 0; i < nres; i++) {
		char target[32];

		snprintf(target, sizeof(target), "%s %g", res[i].lower_better ? "<=" : ">=",
			 res[i].target);
		printf("  %-11s %12.4g %12.4g %-8s %8.3f %-8s %s\n", res[i].mode, res[i].ours,
		       res[i].builtin, res[i].unit, res[i].ratio, target,
		       res[i].met ? "yes" : "NO");
	}
	return 0;
}
