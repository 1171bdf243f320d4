// SPDX-License-Identifier: GPL-2.0
/*
 * features.c - mode "features": the effect of the module's switches, each
 * measured on and off on a workload made for it (docs/performance.md):
 *
 *   volatility  two workers with the same S/16 MiB, a quarter of it rewritten
 *               every 2 ms by a thread in each (with the same values, so the
 *               hot pages keep becoming identical): COW breaks per 100
 *               merges over 5 passes, volatility_filter off and on
 *   zero-pages  two workers with S/16 MiB of zeroed pages each: one pass,
 *               its CPU time, and the kernel pages it made, use_zero_pages
 *               off and on
 *   smart-scan  two workers with S/16 MiB of distinct pages (nothing merges):
 *               page visits and CPU of passes 5-10, smart_scan off and on
 *
 * Each prints one JSON line ({"mode":..,"off":..,"on":..,"effect":on/off,
 * ...}) and a table row. The built-in KSM has no COW-break or per-pass
 * counters to set beside these, so only the module is measured here; one run
 * per setting (the counters are exact, the times emulated).
 */
#include "ksm_bench.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* One switch, off and on. */
struct feature {
	const char *mode;
	const char *metric;	/* what off and on are */
	const char *unit;
	double off, on;
	struct sbuf details;	/* more JSON members, each starting with a comma */
	struct sbuf table;	/* lines of the human table */
};

static struct ksm_stats stats_now(void)
{
	struct ksm_stats st;

	if (ksmu_stats(ours_dev(), &st))
		die("KSM_GET_STATS");
	return st;
}

/* Set one of the module's switches (a field of struct ksm_config). */
static void set_switch(size_t offset, unsigned int value)
{
	if (KSMU_CONFIG(ours_dev(), *(uint32_t *)((char *)&__c + offset) = value))
		die("KSM_GET_CONFIG/KSM_SET_CONFIG");
}

/* One pass of scanner @scan over everything registered; its CPU time. */
static double one_pass(int scan, long cap, struct ksm_scan_ext *out)
{
	struct ksm_scan_ext s = { .pages_to_scan = (uint32_t)cap, .flags = KSM_SCAN_PASS_END };
	double c0 = thread_cpu_s();

	if (ioctl(scan, KSM_SCAN_EXT, &s))
		die("KSM_SCAN_EXT");
	if (out)
		*out = s;
	return thread_cpu_s() - c0;
}

static int new_scan(void)
{
	int scan = ksmu_scan_create(ours_dev());

	if (scan < 0)
		die("KSM_CREATE_SCAN");
	return scan;
}

/* Stop the workers' writers, check their data, unregister (unmerging) and end them. */
static void finish(struct worker *w, int nw, const char *what)
{
	for (int i = 0; i < nw; i++) {
		worker_cmd(&w[i], W_HOT, 0);
		if (worker_cmd(&w[i], W_VERIFY, 0).rc != 1)
			die("%s: worker %d does not hold what it wrote", what, i);
		engine_detach(OURS, &w[i]);
		worker_stop(&w[i]);
	}
}

static void volatility(struct feature *f, long npages)
{
	const int passes = 5;
	double rate[2];

	f->mode = "volatility";
	f->metric = "COW breaks per 100 merges, a quarter of the pages rewritten every 2 ms";
	f->unit = "%";
	sb_printf(&f->table, "  %-10s %8s %10s %10s %12s %12s\n", "filter", "merges",
		  "cow_breaks", "per 100", "pages saved", "CPU/pass s");
	for (int on = 0; on < 2; on++) {
		struct worker w[2];
		struct ksm_stats a, b;
		double cpu = 0;
		int scan;

		set_switch(offsetof(struct ksm_config, volatility_filter), on);
		for (int i = 0; i < 2; i++) {
			w[i] = worker_start(npages, 11, npages, false);
			engine_attach(OURS, &w[i]);
			if (worker_cmd(&w[i], W_HOT, npages / 4).rc)
				die("volatility: the writer thread did not start");
		}
		scan = new_scan();
		one_pass(scan, 4 * npages, NULL);	/* every page seen once */
		ours_dump_stats("volatility, after the first pass");
		a = stats_now();
		for (int p = 0; p < passes; p++)
			cpu += one_pass(scan, 4 * npages, NULL);
		one_pass(scan, 4 * npages, NULL);	/* notices the last breaks */
		ours_dump_stats("volatility, at the end");
		b = stats_now();
		close(scan);
		rate[on] = b.merges - a.merges ?
			100.0 * (b.cow_breaks - a.cow_breaks) / (b.merges - a.merges) : 0;
		sb_printf(&f->table, "  %-10s %8llu %10llu %10.1f %12ld %12.3f\n", on ? "on" : "off",
			  (unsigned long long)(b.merges - a.merges),
			  (unsigned long long)(b.cow_breaks - a.cow_breaks), rate[on],
			  ours_pages_sharing(), cpu / passes);
		sb_printf(&f->details, ",\"%s_merges\":%llu,\"%s_cow_breaks\":%llu,"
			  "\"%s_volatile_skipped\":%llu,\"%s_pages_sharing\":%ld,\"%s_cpu_per_pass_s\":%g",
			  on ? "on" : "off", (unsigned long long)(b.merges - a.merges),
			  on ? "on" : "off", (unsigned long long)(b.cow_breaks - a.cow_breaks),
			  on ? "on" : "off",
			  (unsigned long long)(b.volatile_skipped - a.volatile_skipped),
			  on ? "on" : "off", ours_pages_sharing(), on ? "on" : "off", cpu / passes);
		finish(w, 2, "volatility");
	}
	set_switch(offsetof(struct ksm_config, volatility_filter), 0);
	f->off = rate[0];
	f->on = rate[1];
	json_int(&f->details, "pages_per_worker", npages);
	json_int(&f->details, "hot_pages_per_worker", npages / 4);
	json_int(&f->details, "passes", passes);
}

static void zero_pages(struct feature *f, long npages)
{
	double cpu[2];

	f->mode = "zero-pages";
	f->metric = "scanner CPU seconds to merge two workers' zeroed pages (one pass)";
	f->unit = "s";
	sb_printf(&f->table, "  %-10s %10s %12s %12s %12s\n", "use_zero", "CPU s", "zero_pages",
		  "kernel pages", "pages saved");
	for (int on = 0; on < 2; on++) {
		struct worker w[2];
		struct ksm_stats a, b;
		int scan;
		long saved;

		set_switch(offsetof(struct ksm_config, use_zero_pages), on);
		for (int i = 0; i < 2; i++) {
			w[i] = worker_start(npages, 0, 0, false);
			engine_attach(OURS, &w[i]);
		}
		scan = new_scan();
		a = stats_now();
		cpu[on] = one_pass(scan, 4 * npages, NULL);
		b = stats_now();
		close(scan);
		/* A zero-page merge frees the page outright; a kernel page saves all but one. */
		saved = on ? (long)(b.zero_pages - a.zero_pages) : ours_pages_sharing();
		sb_printf(&f->table, "  %-10s %10.3f %12llu %12llu %12ld\n", on ? "on" : "off", cpu[on],
			  (unsigned long long)(b.zero_pages - a.zero_pages),
			  (unsigned long long)(b.kpages_created - a.kpages_created), saved);
		sb_printf(&f->details, ",\"%s_zero_pages\":%llu,\"%s_kpages_created\":%llu,"
			  "\"%s_pages_saved\":%ld",
			  on ? "on" : "off", (unsigned long long)(b.zero_pages - a.zero_pages),
			  on ? "on" : "off", (unsigned long long)(b.kpages_created - a.kpages_created),
			  on ? "on" : "off", saved);
		finish(w, 2, "zero-pages");
	}
	set_switch(offsetof(struct ksm_config, use_zero_pages), 0);
	f->off = cpu[0];
	f->on = cpu[1];
	json_int(&f->details, "pages_per_worker", npages);
}

static void smart_scan(struct feature *f, long npages)
{
	const int warm = 4, passes = 6;
	double cpu[2];

	f->mode = "smart-scan";
	f->metric = "scanner CPU seconds per pass over distinct pages, passes 5-10";
	f->unit = "s";
	sb_printf(&f->table, "  %-10s %10s %14s %14s\n", "smart_scan", "CPU/pass s",
		  "visits/pass", "skipped/pass");
	for (int on = 0; on < 2; on++) {
		struct worker w[2];
		struct ksm_stats a, b;
		double c = 0;
		int scan;

		set_switch(offsetof(struct ksm_config, smart_scan), on);
		for (int i = 0; i < 2; i++) {
			w[i] = worker_start(npages, 21 + i, npages, false);
			engine_attach(OURS, &w[i]);
		}
		scan = new_scan();
		for (int p = 0; p < warm; p++)
			one_pass(scan, 4 * npages, NULL);
		a = stats_now();
		for (int p = 0; p < passes; p++)
			c += one_pass(scan, 4 * npages, NULL);
		b = stats_now();
		close(scan);
		cpu[on] = c / passes;
		sb_printf(&f->table, "  %-10s %10.3f %14.0f %14.0f\n", on ? "on" : "off", cpu[on],
			  (double)(b.pages_scanned - a.pages_scanned) / passes,
			  (double)(b.smart_skipped - a.smart_skipped) / passes);
		sb_printf(&f->details, ",\"%s_pages_scanned_per_pass\":%g,\"%s_smart_skipped_per_pass\":%g",
			  on ? "on" : "off", (double)(b.pages_scanned - a.pages_scanned) / passes,
			  on ? "on" : "off", (double)(b.smart_skipped - a.smart_skipped) / passes);
		finish(w, 2, "smart-scan");
	}
	set_switch(offsetof(struct ksm_config, smart_scan), 0);
	f->off = cpu[0];
	f->on = cpu[1];
	json_int(&f->details, "pages_per_worker", npages);
	json_int(&f->details, "passes", passes);
}

static void print_feature(struct feature *f, const char *kernel, const struct sbuf *settings)
{
	struct sbuf j = { 0 };
	double effect = f->off ? f->on / f->off : NAN;

	sb_printf(&j, "{\"mode\":\"%s\"", f->mode);
	json_num(&j, "off", f->off);
	json_num(&j, "on", f->on);
	json_num(&j, "effect", effect);
	json_str(&j, "metric", f->metric);
	json_str(&j, "unit", f->unit);
	json_str(&j, "effect_is", "on/off, lower is better");
	json_str(&j, "kernel", kernel);
	sb_printf(&j, "%s%s}", f->details.s ? f->details.s : "", settings->s);
	emit_json(j.s);
	printf("\n%s: %s\n%s  => on/off %.3f\n\n", f->mode, f->metric, f->table.s, effect);
	fflush(stdout);
	sb_free(&j);
	sb_free(&f->details);
	sb_free(&f->table);
}

void mode_features(const char *kernel, const struct sbuf *settings)
{
	long npages = MIB_PAGES(opt.size_mib) / 16;
	struct feature f;

	if (npages < 64)
		npages = 64;
	note("features: the module's switches off and on, 2 workers x %ld MiB", npages / 256);
	memset(&f, 0, sizeof(f));
	volatility(&f, npages);
	print_feature(&f, kernel, settings);
	memset(&f, 0, sizeof(f));
	zero_pages(&f, npages);
	print_feature(&f, kernel, settings);
	memset(&f, 0, sizeof(f));
	smart_scan(&f, npages);
	print_feature(&f, kernel, settings);
}
