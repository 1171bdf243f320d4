// SPDX-License-Identifier: GPL-2.0
/*
 * engine.c - ours (/dev/ksm) and the built-in KSM behind one interface:
 * attaching workload memory, running the scanner unthrottled until every
 * duplicate is merged, timing full passes, unmerging.
 *
 * Settings, the same for both where both have them (saved at the start and
 * restored at exit): use_zero_pages off, smart scanning off, merge_across_nodes
 * left as it is (the guest has one node); ours also without the volatility
 * filter or the advisor; the built-in KSM with pages_to_scan = every workload
 * page and sleep_millisecs = 0, its advisor (6.12) off, max_page_sharing as it
 * is (256 by default, more than any workload here needs).
 *
 * Scanner CPU: ours is scanned by this process's main thread through
 * KSM_SCAN_EXT (getrusage(RUSAGE_THREAD)), or with -k by kksmd; the built-in
 * KSM by ksmd. Kernel threads are measured through /proc/PID/schedstat.
 */
#include "ksm_bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

const char *const engine_name[NENGINES] = { "ours", "builtin" };

/* How often the scanners' counters are polled while waiting (seconds). */
#define POLL_S 0.002

static int dev = -1;			/* /dev/ksm */
static pid_t main_pid;			/* only the main process restores settings */
static struct ksm_config saved_cfg;
static struct ksm_kthread_info saved_kthread;

/* The built-in KSM's numeric settings we change, and their values at the start. */
static const char *const bksm_settings[] = {
	"pages_to_scan", "sleep_millisecs", "use_zero_pages", "smart_scan",
};
#define NBKSM (sizeof(bksm_settings) / sizeof(bksm_settings[0]))
static long bksm_saved[NBKSM];
static long bksm_saved_run = -1;
static char bksm_saved_advisor[32];
static pid_t ksmd_pid;

int ours_dev(void)
{
	return dev;
}

/* Put every setting back as it was at the start (main process only). */
void engines_restore(void)
{
	if (getpid() != main_pid)
		return;
	if (bksm_saved_run >= 0) {
		bksm_write("run", 0);
		for (size_t i = 0; i < NBKSM; i++)
			if (bksm_saved[i] >= 0)
				bksm_write(bksm_settings[i], bksm_saved[i]);
		if (bksm_saved_advisor[0])
			bksm_write_str("advisor_mode", bksm_saved_advisor);
		bksm_write("run", bksm_saved_run);
		bksm_saved_run = -1;
	}
	if (dev >= 0) {
		struct ksm_kthread_info stop = { .running = 0 };

		ioctl(dev, KSM_START_STOP_KTHREAD, &stop);
		if (saved_kthread.running)
			ioctl(dev, KSM_START_STOP_KTHREAD, &saved_kthread);
		ioctl(dev, KSM_SET_CONFIG, &saved_cfg);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	exit(130);
}

/* Open /dev/ksm, check both engines are there, save and set their settings. */
void engines_init(void)
{
	struct ksm_features f = { 0 };
	struct ksm_config cfg;
	struct ksm_kthread_info stop = { .running = 0 };

	main_pid = getpid();
	dev = ksmu_dev_open();
	if (dev < 0)
		die("open /dev/ksm (is the module loaded?)");
	if (ioctl(dev, KSM_GET_FEATURES, &f))
		die("KSM_GET_FEATURES");
	if (!(f.features & KSM_FEATURE_SCAN_EXT) || !(f.features & KSM_FEATURE_CONFIG) ||
	    !(f.features & KSM_FEATURE_UNMERGE) || !(f.features & KSM_FEATURE_PROCESS_STATS))
		die("the module lacks a feature the benchmark needs (features 0x%llx)",
		    (unsigned long long)f.features);
	if (ioctl(dev, KSM_GET_CONFIG, &saved_cfg))
		die("KSM_GET_CONFIG");
	if (ioctl(dev, KSM_GET_INFO_KTHREAD_R, &saved_kthread))
		die("KSM_GET_INFO_KTHREAD_R");
	if (access(KSMU_BUILTIN_DIR "run", W_OK))
		die("/sys/kernel/mm/ksm/run: the built-in KSM is not there or not writable");

	bksm_saved_run = bksm_read("run");
	for (size_t i = 0; i < NBKSM; i++)
		bksm_saved[i] = bksm_has(bksm_settings[i]) ? bksm_read(bksm_settings[i]) : -1;
	/* The selected word of "[none] scan-time" (6.12 and later), or "". */
	ksmu_read_choice(KSMU_BUILTIN_DIR "advisor_mode", bksm_saved_advisor,
			 sizeof(bksm_saved_advisor));
	atexit(engines_restore);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	ioctl(dev, KSM_START_STOP_KTHREAD, &stop);
	cfg = saved_cfg;
	cfg.use_zero_pages = 0;
	cfg.smart_scan = 0;
	cfg.volatility_filter = 0;
	cfg.advisor_mode = KSM_ADVISOR_NONE;
	if (ioctl(dev, KSM_SET_CONFIG, &cfg))
		die("KSM_SET_CONFIG");

	bksm_write("run", 0);
	if (bksm_saved_advisor[0])
		bksm_write_str("advisor_mode", "none");
	bksm_write("use_zero_pages", 0);
	if (bksm_has("smart_scan"))
		bksm_write("smart_scan", 0);
	bksm_write("sleep_millisecs", 0);
	ksmd_pid = ksmu_find_kthread("ksmd");
	if (!ksmd_pid)
		die("no ksmd thread");
	builtin_settle();
}

/* The settings used, as JSON members. */
void engine_describe(struct sbuf *b)
{
	struct ksm_config cfg;

	if (ioctl(dev, KSM_GET_CONFIG, &cfg))
		die("KSM_GET_CONFIG");
	sb_printf(b, ",\"settings\":{\"ours\":{\"scanner\":\"%s\",\"smart_scan\":%u,"
		  "\"volatility_filter\":%u,\"use_zero_pages\":%u,\"merge_across_nodes\":%u},",
		  opt.kksmd ? "kksmd sleep 0, pages_to_scan all" : "KSM_SCAN_EXT loop",
		  cfg.smart_scan, cfg.volatility_filter, cfg.use_zero_pages,
		  cfg.merge_across_nodes);
	sb_printf(b, "\"builtin\":{\"scanner\":\"ksmd sleep_millisecs 0, pages_to_scan all\","
		  "\"smart_scan\":%ld,\"use_zero_pages\":%ld,\"merge_across_nodes\":%ld,"
		  "\"max_page_sharing\":%ld},\"thp\":%s}",
		  bksm_has("smart_scan") ? bksm_read("smart_scan") : -1,
		  bksm_read("use_zero_pages"), bksm_read("merge_across_nodes"),
		  bksm_has("max_page_sharing") ? bksm_read("max_page_sharing") : -1,
		  opt.thp ? "true" : "false");
}

long ours_pages_sharing(void)
{
	struct ksm_stats st;

	if (ksmu_stats(dev, &st))
		die("KSM_GET_STATS");
	return (long)st.pages_sharing;
}

long builtin_pages_sharing(void)
{
	return bksm_read("pages_sharing");
}

/* With -v: the module's counters that explain what a scan did. */
void ours_dump_stats(const char *when)
{
	struct ksm_stats st;
	struct sbuf b = { 0 };

	if (!opt.verbose || ksmu_stats(dev, &st))
		return;
	sb_printf(&b, "shared %llu sharing %llu scanned %llu merges %llu kpages %llu "
		  "sha1_mismatch %llu memcmp_mismatch %llu thp_split %llu undone %llu skipped:",
		  (unsigned long long)st.pages_shared, (unsigned long long)st.pages_sharing,
		  (unsigned long long)st.pages_scanned, (unsigned long long)st.merges,
		  (unsigned long long)st.kpages_held, (unsigned long long)st.sha1_mismatch,
		  (unsigned long long)st.memcmp_mismatch, (unsigned long long)st.thp_split,
		  (unsigned long long)st.merges_undone);
	for (int i = 0; i < KSM_SKIP_NR; i++)
		if (st.skipped[i])
			sb_printf(&b, " %s %llu", ksmu_skip_names[i], (unsigned long long)st.skipped[i]);
	vnote("  ours (%s): %s", when, b.s);
	sb_free(&b);
}

/* Pages of @w that the module has merged (its region's state, cheap to read). */
static long ours_merged_pages(const struct worker *w)
{
	struct ksm_process_stats st = { .pid = w->pid };

	if (ioctl(dev, KSM_GET_PROCESS_STATS, &st))
		die("KSM_GET_PROCESS_STATS %d", w->pid);
	return (long)st.merged_pages;
}

/* Check a worker's reply to a command that must succeed. */
static void expect_ok(const struct worker_reply *r, const char *what)
{
	if (r->rc) {
		errno = (int)-r->rc;
		die("%s", what);
	}
}

void engine_attach(enum engine_id e, struct worker *w)
{
	struct worker_reply r;

	if (e == OURS)
		r = worker_cmd(w, W_ATTACH_OURS, 0);
	else
		r = worker_cmd(w, W_MADVISE, MADV_MERGEABLE);
	expect_ok(&r, e == OURS ? "register with /dev/ksm" : "madvise(MADV_MERGEABLE)");
}

void engine_detach(enum engine_id e, struct worker *w)
{
	struct worker_reply r;

	if (e == OURS)
		r = worker_cmd(w, W_DETACH_OURS, 0);
	else
		r = worker_cmd(w, W_MADVISE, MADV_UNMERGEABLE);
	expect_ok(&r, e == OURS ? "KSM_REMOVE_MEMORY_REGION_EXT" : "madvise(MADV_UNMERGEABLE)");
}

/* Give every merged page of @w a private copy again; the reply has the time taken. */
struct worker_reply engine_unmerge(enum engine_id e, struct worker *w)
{
	struct worker_reply r;

	if (e == OURS)
		r = worker_cmd(w, W_UNMERGE_OURS, 0);
	else
		r = worker_cmd(w, W_MADVISE, MADV_UNMERGEABLE);
	expect_ok(&r, e == OURS ? "KSM_UNMERGE" : "madvise(MADV_UNMERGEABLE)");
	return r;
}

/* Pages at the same index of two workers that map one pfn (pagemap). */
long same_pfns(const struct worker *a, const struct worker *b)
{
	long same = ksmu_same_pfns(a->pid, a->addr, b->pid, b->addr,
				   a->npages < b->npages ? a->npages : b->npages);

	if (same < 0)
		die("read the pagemaps of workers %d and %d", a->pid, b->pid);
	return same;
}

/* Ours with KSM_SCAN_EXT: whole passes from a new cursor until every page is merged. */
static void ours_merge_ioctl(struct worker *ws, int nw, long total_pages, struct merge_run *m)
{
	int scan = ksmu_scan_create(dev);
	double t0, c0;

	if (scan < 0)
		die("KSM_CREATE_SCAN");
	t0 = ksmu_now_s();
	c0 = thread_cpu_s();
	while (m->passes < opt.max_passes && ksmu_now_s() - t0 < opt.timeout_s) {
		struct ksm_scan_ext s = {
			.pages_to_scan = total_pages * 2 > UINT32_MAX ? UINT32_MAX
								       : (uint32_t)total_pages * 2,
			.flags = KSM_SCAN_PASS_END,
		};
		long merged = 0;

		if (ioctl(scan, KSM_SCAN_EXT, &s))
			die("KSM_SCAN_EXT");
		m->passes++;
		for (int i = 0; i < nw; i++)
			merged += ours_merged_pages(&ws[i]);
		if (merged >= total_pages) {
			m->complete = true;
			break;
		}
	}
	m->cpu_s = thread_cpu_s() - c0;
	m->secs = ksmu_now_s() - t0;
	close(scan);
}

/* Ours with kksmd (-k): sleep 0, a whole pass per round, polled like ksmd. */
static void ours_merge_kksmd(struct worker *ws, int nw, long total_pages, struct merge_run *m)
{
	struct ksm_kthread_info run = {
		.sleep = 0, .pages_to_scan = (uint32_t)total_pages,
		.max_pages_to_merge = UINT32_MAX, .running = 1,
	}, stop = { .running = 0 };
	struct ksm_stats st0, st;
	pid_t kksmd;
	double t0;

	if (ksmu_stats(dev, &st0))
		die("KSM_GET_STATS");
	t0 = ksmu_now_s();
	if (ioctl(dev, KSM_START_STOP_KTHREAD, &run))
		die("start kksmd");
	kksmd = ksmu_find_kthread("kksmd");
	while (ksmu_now_s() - t0 < opt.timeout_s) {
		long merged = 0;

		for (int i = 0; i < nw; i++)
			merged += ours_merged_pages(&ws[i]);
		if (merged >= total_pages) {
			m->complete = true;
			break;
		}
		sleep_s(POLL_S);
	}
	m->secs = ksmu_now_s() - t0;
	m->cpu_s = kksmd ? task_cpu_s(kksmd) : -1;	/* a new thread: all of it is this run */
	if (ioctl(dev, KSM_START_STOP_KTHREAD, &stop))
		die("stop kksmd");
	if (ksmu_stats(dev, &st))
		die("KSM_GET_STATS");
	m->passes = (int)(st.full_scans - st0.full_scans);
}

/* The built-in KSM: ksmd unthrottled until pages_sharing reaches @target_saved. */
static void builtin_merge(long target_saved, long total_pages, struct merge_run *m)
{
	long f0, s0;
	double t0, c0;

	bksm_write("pages_to_scan", total_pages);
	bksm_write("sleep_millisecs", 0);
	f0 = bksm_read("full_scans");
	s0 = bksm_read("pages_sharing");
	c0 = task_cpu_s(ksmd_pid);
	t0 = ksmu_now_s();
	bksm_write("run", 1);
	for (;;) {
		long f = bksm_read("full_scans");

		if (bksm_read("pages_sharing") - s0 >= target_saved) {
			m->complete = true;
			break;
		}
		if (f - f0 > opt.max_passes || ksmu_now_s() - t0 > opt.timeout_s)
			break;
		sleep_s(POLL_S);
	}
	m->secs = ksmu_now_s() - t0;
	m->cpu_s = task_cpu_s(ksmd_pid) - c0;
	m->passes = (int)(bksm_read("full_scans") - f0);
	bksm_write("run", 0);
}

/*
 * engine_merge - run engine @e's scanner unthrottled over the attached
 * workers @ws until every page is merged (@target_saved pages saved in all,
 * out of @total_pages), and measure it. The scanner is stopped afterwards.
 */
struct merge_run engine_merge(enum engine_id e, struct worker *ws, int nw, long target_saved,
			      long total_pages)
{
	struct merge_run m = { 0 };

	if (e == OURS && opt.kksmd)
		ours_merge_kksmd(ws, nw, total_pages, &m);
	else if (e == OURS)
		ours_merge_ioctl(ws, nw, total_pages, &m);
	else
		builtin_merge(target_saved, total_pages, &m);
	m.saved = e == OURS ? ours_pages_sharing() : builtin_pages_sharing();
	m.verified = nw == 2 ? same_pfns(&ws[0], &ws[1]) : -1;
	if (!m.complete)
		note("  %s: merging incomplete after %d passes, %.1f s: %ld pages saved of %ld",
		     engine_name[e], m.passes, m.secs, m.saved, target_saved);
	return m;
}

/* Ours: @npasses passes of KSM_SCAN_EXT over @w's region alone, each timed. */
static void ours_passes(struct worker *w, int npasses, double *secs, double *cpu)
{
	int scan = ksmu_scan_create(dev);

	if (scan < 0)
		die("KSM_CREATE_SCAN");
	for (int p = 0; p < npasses; p++) {
		struct ksm_scan_ext s = { .pages_to_scan = (uint32_t)w->npages * 2,
					  .flags = KSM_SCAN_PASS_END };
		double t0 = ksmu_now_s(), c0 = thread_cpu_s();

		if (ioctl(scan, KSM_SCAN_EXT, &s))
			die("KSM_SCAN_EXT");
		cpu[p] = thread_cpu_s() - c0;
		secs[p] = ksmu_now_s() - t0;
		if (s.full_scans != 1 || s.pages_scanned != (uint64_t)w->npages || s.pages_merged)
			note("  ours: pass %d scanned %llu pages (want %ld), merged %llu, full_scans %llu",
			     p, (unsigned long long)s.pages_scanned, w->npages,
			     (unsigned long long)s.pages_merged, (unsigned long long)s.full_scans);
	}
	close(scan);
}

/*
 * Built-in: ksmd with pages_to_scan = the worker's pages and no sleep, so one
 * batch is one pass; the passes are told apart by full_scans, polled. Needs
 * ksmd's list to hold the worker alone, the cursor at its head
 * (builtin_settle() before the worker was attached).
 */
static void builtin_passes(struct worker *w, int npasses, double *secs, double *cpu)
{
	long f, f_last;
	double t_last, c_last, t0;
	int p = 0;

	bksm_write("pages_to_scan", w->npages);
	bksm_write("sleep_millisecs", 0);
	f_last = bksm_read("full_scans");
	c_last = task_cpu_s(ksmd_pid);
	t0 = t_last = ksmu_now_s();
	bksm_write("run", 1);
	while (p < npasses) {
		double t, c;

		sleep_s(POLL_S / 2);
		f = bksm_read("full_scans");
		if (f == f_last) {
			if (ksmu_now_s() - t0 > opt.timeout_s)
				die("ksmd made no full scan in %.0f s", opt.timeout_s);
			continue;
		}
		t = ksmu_now_s();
		c = task_cpu_s(ksmd_pid);
		/* Passes that ended between two polls share the interval. */
		for (long k = 0; k < f - f_last && p < npasses; k++, p++) {
			secs[p] = (t - t_last) / (f - f_last);
			cpu[p] = (c - c_last) / (f - f_last);
		}
		if (f - f_last > 1)
			note("  builtin: %ld passes ended between two polls", f - f_last);
		f_last = f;
		t_last = t;
		c_last = c;
	}
	bksm_write("run", 0);
}

/* engine_pass_times - time @npasses full passes over @w (attached, nothing to merge). */
void engine_pass_times(enum engine_id e, struct worker *w, int npasses, double *secs,
		       double *cpu)
{
	if (e == OURS)
		ours_passes(w, npasses, secs, cpu);
	else
		builtin_passes(w, npasses, secs, cpu);
}

/*
 * builtin_settle - let ksmd run until it has nothing left to do, then stop it
 *
 * ksmd drops from its list every process it finds without a VM_MERGEABLE
 * area (after MADV_UNMERGEABLE, or exited), with all its per-page state
 * (rmap items and their checksums); with nothing mergeable left its list
 * empties, its cursor rests at the list head and it sleeps. Idle = neither
 * its CPU time nor full_scans moved for 0.3 s. Without this, a later
 * MADV_MERGEABLE of the same content would find the checksums of the previous
 * run and merge on the first pass, and the passes of the full-scan mode would
 * not start at the head of the list.
 */
void builtin_settle(void)
{
	long f = bksm_read("full_scans");
	double c = task_cpu_s(ksmd_pid), t0 = ksmu_now_s(), still = ksmu_now_s();

	bksm_write("run", 1);
	while (ksmu_now_s() - still < 0.3) {
		long g;
		double d;

		sleep_s(0.05);
		g = bksm_read("full_scans");
		d = task_cpu_s(ksmd_pid);
		if (g != f || d != c) {
			f = g;
			c = d;
			still = ksmu_now_s();
		}
		if (ksmu_now_s() - t0 > 60) {
			note("  builtin: ksmd keeps scanning (another mergeable process?)");
			break;
		}
	}
	bksm_write("run", 0);
}
