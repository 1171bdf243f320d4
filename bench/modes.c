// SPDX-License-Identifier: GPL-2.0
/*
 * modes.c - the synthetic benchmarks: merge time (distinct pages, and many
 * duplicates inside each process), unmerge throughput, copy-on-write fault
 * time and full-scan cost. Each repetition runs both engines on the same two
 * worker processes, in alternating order; the medians are reported.
 */
#include "ksm_bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* A seed for this run's page content: both workers of a pair get the same one. */
static uint64_t new_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_nsec * 2654435761ULL ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
}

/* Engine order of repetition @rep: ours first on even ones, the built-in first on odd ones. */
static enum engine_id order(int rep, int k)
{
	return (enum engine_id)((rep + k) % 2);
}

/* Start two workers with identical content; @period < npages: duplicates inside each. */
static void start_pair(struct worker *ws, long npages, long period)
{
	uint64_t seed = new_seed();
	double t0 = ksmu_now_s();

	for (int i = 0; i < 2; i++)
		ws[i] = worker_start(npages, seed, period, opt.thp);
	vnote("  filled 2 x %ld MiB in %.1f s", npages * PAGE_SZ >> 20, ksmu_now_s() - t0);
}

/* Check the workers' memory, then stop them. */
static void stop_pair(struct worker *ws, const char *mode)
{
	for (int i = 0; i < 2; i++) {
		struct worker_reply r = worker_cmd(&ws[i], W_VERIFY, 0);

		if (r.rc != 1)
			die("%s: worker %d's memory does not hold what it should", mode, i);
		worker_stop(&ws[i]);
	}
}

/* Undo an engine's hold on the pair; the built-in KSM also forgets them. */
static void detach_pair(enum engine_id e, struct worker *ws)
{
	for (int i = 0; i < 2; i++)
		engine_detach(e, &ws[i]);
	if (e == BUILTIN)
		builtin_settle();
}

/* Fill in ratio and met once ours and builtin are set. */
void result_finish(struct result *r)
{
	r->ratio = r->ours / r->builtin;
	r->met = isfinite(r->ratio) &&
		 (r->lower_better ? r->ratio <= r->target : r->ratio >= r->target);
}

/*
 * mode_merge - merge time of two processes with S MiB each of identical
 * content (@dups: each page also has dup_factor - 1 twins in its own
 * process), and (@want_unmerge) the throughput of unmerging it all again,
 * which each repetition does anyway to start the next one from scratch.
 */
void mode_merge(bool dups, bool want_merge, bool want_unmerge, struct result *merge,
		struct result *unmerge)
{
	long npages = MIB_PAGES(opt.size_mib);
	long period = dups ? npages / opt.dup_factor : npages;
	long target = 2 * npages - (period > 0 ? period : 1);
	double secs[NENGINES][MAX_REPS], cpu[NENGINES][MAX_REPS], rate[NENGINES][MAX_REPS];
	double passes[NENGINES][MAX_REPS], useconds[NENGINES][MAX_REPS];
	double umibs[NENGINES][MAX_REPS];
	long verified[NENGINES] = { 0 }, shared_after[NENGINES] = { 0 };
	bool complete[NENGINES] = { true, true };
	struct worker ws[2];
	const char *name = dups ? "merge-dups" : "merge";

	if (period < 1)
		period = 1;
	note("%s: 2 processes x %ld MiB%s, %d repetitions", name, opt.size_mib,
	     dups ? " (each page 8 times in each process)" : "", opt.reps);
	start_pair(ws, npages, period);
	for (int rep = 0; rep < opt.reps; rep++) {
		for (int k = 0; k < NENGINES; k++) {
			enum engine_id e = order(rep, k);
			struct merge_run m;
			double u = 0;

			for (int i = 0; i < 2; i++)
				engine_attach(e, &ws[i]);
			m = engine_merge(e, ws, 2, target, 2 * npages);
			secs[e][rep] = m.secs;
			cpu[e][rep] = m.cpu_s;
			rate[e][rep] = 2 * npages / m.cpu_s;
			passes[e][rep] = m.passes;
			complete[e] &= m.complete;
			verified[e] = m.verified;
			if (!m.complete) {
				secs[e][rep] = cpu[e][rep] = NAN;
				rate[e][rep] = NAN;
			}
			for (int i = 0; i < 2; i++)
				u += engine_unmerge(e, &ws[i]).secs;
			useconds[e][rep] = u;
			umibs[e][rep] = 2.0 * opt.size_mib / u;
			shared_after[e] = same_pfns(&ws[0], &ws[1]);
			note("  rep %d %-7s: merged in %.2f s (%d passes, CPU %.2f s), %ld saved, "
			     "%ld pfns shared; unmerged in %.3f s (%ld pfns still shared)", rep + 1,
			     engine_name[e], m.secs, m.passes, m.cpu_s, m.saved, m.verified, u,
			     shared_after[e]);
			detach_pair(e, ws);
		}
	}
	stop_pair(ws, name);

	if (want_merge) {
		struct result *r = merge;
		double mcpu[NENGINES], mrate[NENGINES], mpass[NENGINES];

		r->mode = name;
		r->metric = "seconds until every duplicate is merged (median)";
		r->unit = "s";
		r->lower_better = true;
		r->target = 0.5;
		r->ours = median(secs[OURS], opt.reps);
		r->builtin = median(secs[BUILTIN], opt.reps);
		result_finish(r);
		for (int e = 0; e < NENGINES; e++) {
			mcpu[e] = median(cpu[e], opt.reps);
			mrate[e] = median(rate[e], opt.reps);
			mpass[e] = median(passes[e], opt.reps);
		}
		json_int(&r->details, "size_mib", opt.size_mib);
		json_int(&r->details, "pages_per_process", npages);
		json_int(&r->details, "distinct_contents", period);
		json_int(&r->details, "target_pages_saved", target);
		json_num(&r->details, "ours_cpu_s", mcpu[OURS]);
		json_num(&r->details, "builtin_cpu_s", mcpu[BUILTIN]);
		json_num(&r->details, "cpu_ratio", mcpu[OURS] / mcpu[BUILTIN]);
		json_num(&r->details, "ours_pages_per_cpu_s", mrate[OURS]);
		json_num(&r->details, "builtin_pages_per_cpu_s", mrate[BUILTIN]);
		json_num(&r->details, "ours_passes", mpass[OURS]);
		json_num(&r->details, "builtin_passes", mpass[BUILTIN]);
		json_bool(&r->details, "ours_complete", complete[OURS]);
		json_bool(&r->details, "builtin_complete", complete[BUILTIN]);
		json_int(&r->details, "ours_pfns_shared", verified[OURS]);
		json_int(&r->details, "builtin_pfns_shared", verified[BUILTIN]);
		json_nums(&r->details, "ours_s", secs[OURS], opt.reps);
		json_nums(&r->details, "builtin_s", secs[BUILTIN], opt.reps);
		sb_printf(&r->table, "  %-34s %12s %12s %8s\n", "", "ours", "builtin", "ratio");
		sb_printf(&r->table, "  %-34s %12.3f %12.3f %8.3f\n", "time to merge all (s)",
			  r->ours, r->builtin, r->ratio);
		sb_printf(&r->table, "  %-34s %12.3f %12.3f %8.3f\n", "scanner CPU (s)",
			  mcpu[OURS], mcpu[BUILTIN], mcpu[OURS] / mcpu[BUILTIN]);
		sb_printf(&r->table, "  %-34s %12.0f %12.0f %8.3f\n",
			  "pages merged per CPU second", mrate[OURS], mrate[BUILTIN],
			  mrate[OURS] / mrate[BUILTIN]);
		sb_printf(&r->table, "  %-34s %12.0f %12.0f\n", "passes", mpass[OURS],
			  mpass[BUILTIN]);
	}
	if (want_unmerge) {
		struct result *r = unmerge;
		double mu[NENGINES];

		r->mode = "unmerge";
		r->metric = "MiB of merged mappings made private per second (median)";
		r->unit = "MiB/s";
		r->lower_better = false;
		r->target = 1.0;
		r->ours = median(umibs[OURS], opt.reps);
		r->builtin = median(umibs[BUILTIN], opt.reps);
		result_finish(r);
		for (int e = 0; e < NENGINES; e++)
			mu[e] = median(useconds[e], opt.reps);
		json_int(&r->details, "size_mib", opt.size_mib);
		json_int(&r->details, "mib_unmerged", 2 * opt.size_mib);
		json_num(&r->details, "ours_s", mu[OURS]);
		json_num(&r->details, "builtin_s", mu[BUILTIN]);
		json_str(&r->details, "ours_call", "KSM_UNMERGE on each process's SMA");
		json_str(&r->details, "builtin_call", "madvise(MADV_UNMERGEABLE) in each process");
		json_int(&r->details, "ours_pfns_shared_after", shared_after[OURS]);
		json_int(&r->details, "builtin_pfns_shared_after", shared_after[BUILTIN]);
		json_nums(&r->details, "ours_mib_s", umibs[OURS], opt.reps);
		json_nums(&r->details, "builtin_mib_s", umibs[BUILTIN], opt.reps);
		sb_printf(&r->table, "  %-34s %12s %12s %8s\n", "", "ours", "builtin", "ratio");
		sb_printf(&r->table, "  %-34s %12.1f %12.1f %8.3f\n", "unmerge throughput (MiB/s)",
			  r->ours, r->builtin, r->ratio);
		sb_printf(&r->table, "  %-34s %12.3f %12.3f\n", "time to unmerge 2 x S (s)",
			  mu[OURS], mu[BUILTIN]);
	}
}

/*
 * mode_cow - time of one write fault on a merged page, ours against the
 * built-in's, and against two private-page baselines: the first write to
 * fresh anonymous memory, and a write to a page shared with a forked child.
 * One byte per page, each store timed in the process (timer cost taken off).
 */
void mode_cow(struct result *r)
{
	long npages = MIB_PAGES(opt.size_mib);
	double med[NENGINES][MAX_REPS], first[NENGINES][MAX_REPS], last[NENGINES][MAX_REPS];
	double mean_us[NENGINES][MAX_REPS], p90[NENGINES][MAX_REPS];
	double fresh[MAX_REPS], fork_cow[MAX_REPS], timer[MAX_REPS];
	double m[NENGINES], mfresh, mfork;
	struct worker ws[2];

	note("cow: 2 processes x %ld MiB, %d repetitions", opt.size_mib, opt.reps);
	start_pair(ws, npages, npages);
	for (int rep = 0; rep < opt.reps; rep++) {
		struct worker_reply f = worker_cmd(&ws[0], W_COW_FRESH, 0);
		struct worker_reply k = worker_cmd(&ws[0], W_COW_FORK, 0);

		if (f.rc || k.rc)
			die("cow baselines failed");
		fresh[rep] = f.median_us;
		fork_cow[rep] = k.median_us;
		timer[rep] = f.timer_us;
		for (int j = 0; j < NENGINES; j++) {
			enum engine_id e = order(rep, j);
			struct worker_reply a, b;
			struct merge_run mr;

			for (int i = 0; i < 2; i++)
				engine_attach(e, &ws[i]);
			mr = engine_merge(e, ws, 2, npages, 2 * npages);
			if (!mr.complete || mr.verified != npages)
				die("cow: %s did not merge every page (%ld of %ld)", engine_name[e],
				    mr.verified, npages);
			/* The same byte in both, so that their contents stay identical. */
			a = worker_cmd(&ws[0], W_COW_MERGED, 2 * rep + j + 1);
			b = worker_cmd(&ws[1], W_COW_MERGED, 2 * rep + j + 1);
			first[e][rep] = a.median_us;
			last[e][rep] = b.median_us;
			med[e][rep] = (a.median_us + b.median_us) / 2;
			mean_us[e][rep] = (a.mean_us + b.mean_us) / 2;
			p90[e][rep] = (a.p90_us + b.p90_us) / 2;
			note("  rep %d %-7s: write fault on a merged page %.2f us (first writer %.2f, "
			     "last %.2f); fresh page %.2f us, fork-shared page %.2f us", rep + 1,
			     engine_name[e], med[e][rep], a.median_us, b.median_us, f.median_us,
			     k.median_us);
			detach_pair(e, ws);
		}
	}
	stop_pair(ws, "cow");

	for (int e = 0; e < NENGINES; e++)
		m[e] = median(med[e], opt.reps);
	mfresh = median(fresh, opt.reps);
	mfork = median(fork_cow, opt.reps);
	r->mode = "cow";
	r->metric = "microseconds per write fault on a merged page (median)";
	r->unit = "us";
	r->lower_better = true;
	r->target = 1.1;
	r->ours = m[OURS];
	r->builtin = m[BUILTIN];
	result_finish(r);
	json_int(&r->details, "size_mib", opt.size_mib);
	json_num(&r->details, "fresh_page_us", mfresh);
	json_num(&r->details, "fork_shared_page_us", mfork);
	json_num(&r->details, "ours_vs_fork_shared", m[OURS] / mfork);
	json_num(&r->details, "builtin_vs_fork_shared", m[BUILTIN] / mfork);
	json_num(&r->details, "ours_first_writer_us", median(first[OURS], opt.reps));
	json_num(&r->details, "ours_last_writer_us", median(last[OURS], opt.reps));
	json_num(&r->details, "builtin_first_writer_us", median(first[BUILTIN], opt.reps));
	json_num(&r->details, "builtin_last_writer_us", median(last[BUILTIN], opt.reps));
	json_num(&r->details, "ours_mean_us", median(mean_us[OURS], opt.reps));
	json_num(&r->details, "builtin_mean_us", median(mean_us[BUILTIN], opt.reps));
	json_num(&r->details, "ours_p90_us", median(p90[OURS], opt.reps));
	json_num(&r->details, "builtin_p90_us", median(p90[BUILTIN], opt.reps));
	json_num(&r->details, "timer_overhead_us", median(timer, opt.reps));
	sb_printf(&r->table, "  %-34s %12s %12s %8s\n", "", "ours", "builtin", "ratio");
	sb_printf(&r->table, "  %-34s %12.2f %12.2f %8.3f\n", "write fault, merged page (us)",
		  r->ours, r->builtin, r->ratio);
	sb_printf(&r->table, "  %-34s %12.2f %12.2f\n", "  mean (us)",
		  median(mean_us[OURS], opt.reps), median(mean_us[BUILTIN], opt.reps));
	sb_printf(&r->table, "  %-34s %12.2f\n", "write fault, fork-shared page (us)", mfork);
	sb_printf(&r->table, "  %-34s %12.2f\n", "first write, fresh page (us)", mfresh);
}

/*
 * mode_full_scan - one full pass over S MiB of distinct pages (nothing to
 * merge) for each size of -S: the first pass, and the median of opt.reps
 * passes after it (steady state). One worker at a time, scanned by ours then
 * by the built-in KSM.
 */
void mode_full_scan(struct result *r)
{
	int n = opt.nscan, reps = opt.reps, np = reps + 1;
	double first_s[NENGINES][MAX_SCAN_SIZES], first_cpu[NENGINES][MAX_SCAN_SIZES];
	double steady_s[NENGINES][MAX_SCAN_SIZES], steady_cpu[NENGINES][MAX_SCAN_SIZES];
	double per_page[NENGINES][MAX_SCAN_SIZES], lin[NENGINES];
	bool linear[NENGINES];

	note("full-scan: sizes");
	for (int i = 0; i < n; i++)
		fprintf(stderr, " %ld", opt.scan_mib[i]);
	fprintf(stderr, " MiB, first pass + %d steady passes each\n", reps);
	for (int i = 0; i < n; i++) {
		long npages = MIB_PAGES(opt.scan_mib[i]);
		double secs[MAX_REPS + 1], cpu[MAX_REPS + 1];
		struct worker w;
		double t0 = ksmu_now_s();

		w = worker_start(npages, new_seed(), npages, opt.thp);
		vnote("  filled %ld MiB in %.1f s", opt.scan_mib[i], ksmu_now_s() - t0);
		for (int e = 0; e < NENGINES; e++) {
			if (e == BUILTIN)
				builtin_settle();
			engine_attach(e, &w);
			engine_pass_times(e, &w, np, secs, cpu);
			engine_detach(e, &w);
			first_s[e][i] = secs[0];
			first_cpu[e][i] = cpu[0];
			steady_s[e][i] = median(secs + 1, reps);
			steady_cpu[e][i] = median(cpu + 1, reps);
			per_page[e][i] = steady_cpu[e][i] / npages * 1e6;
			note("  %5ld MiB %-7s: first pass %.2f s (CPU %.2f s), steady pass %.2f s "
			     "(CPU %.2f s, %.2f us/page)", opt.scan_mib[i], engine_name[e], secs[0],
			     cpu[0], steady_s[e][i], steady_cpu[e][i], per_page[e][i]);
		}
		if (worker_cmd(&w, W_VERIFY, 0).rc != 1)
			die("full-scan: the worker's memory changed");
		worker_stop(&w);
	}

	for (int e = 0; e < NENGINES; e++) {
		lin[e] = per_page[e][n - 1] / per_page[e][0];
		linear[e] = lin[e] <= 1.25;
	}
	r->mode = "full-scan";
	r->metric = "scanner CPU microseconds per page, steady pass, largest size";
	r->unit = "us/page";
	r->lower_better = true;
	r->target = 1.0;
	r->ours = per_page[OURS][n - 1];
	r->builtin = per_page[BUILTIN][n - 1];
	result_finish(r);
	r->met = r->met && linear[OURS];
	{
		double sizes[MAX_SCAN_SIZES];

		for (int i = 0; i < n; i++)
			sizes[i] = (double)opt.scan_mib[i];
		json_nums(&r->details, "sizes_mib", sizes, n);
	}
	for (int e = 0; e < NENGINES; e++) {
		char key[64];

		snprintf(key, sizeof(key), "%s_first_s", engine_name[e]);
		json_nums(&r->details, key, first_s[e], n);
		snprintf(key, sizeof(key), "%s_first_cpu_s", engine_name[e]);
		json_nums(&r->details, key, first_cpu[e], n);
		snprintf(key, sizeof(key), "%s_steady_s", engine_name[e]);
		json_nums(&r->details, key, steady_s[e], n);
		snprintf(key, sizeof(key), "%s_steady_cpu_s", engine_name[e]);
		json_nums(&r->details, key, steady_cpu[e], n);
		snprintf(key, sizeof(key), "%s_us_per_page", engine_name[e]);
		json_nums(&r->details, key, per_page[e], n);
		snprintf(key, sizeof(key), "%s_linearity", engine_name[e]);
		json_num(&r->details, key, lin[e]);
		snprintf(key, sizeof(key), "%s_linear", engine_name[e]);
		json_bool(&r->details, key, linear[e]);
	}
	sb_printf(&r->table, "  %6s | %-29s | %-29s | %s\n", "", "ours: first / steady pass",
		  "builtin: first / steady pass", "CPU/page");
	sb_printf(&r->table, "  %6s | %6s %6s %6s %8s | %6s %6s %6s %8s | %s\n", "MiB", "s",
		  "s", "CPU s", "us/page", "s", "s", "CPU s", "us/page", "ratio");
	for (int i = 0; i < n; i++)
		sb_printf(&r->table,
			  "  %6ld | %6.2f %6.2f %6.2f %8.3f | %6.2f %6.2f %6.2f %8.3f | %.3f\n",
			  opt.scan_mib[i], first_s[OURS][i], steady_s[OURS][i],
			  steady_cpu[OURS][i], per_page[OURS][i], first_s[BUILTIN][i],
			  steady_s[BUILTIN][i], steady_cpu[BUILTIN][i], per_page[BUILTIN][i],
			  per_page[OURS][i] / per_page[BUILTIN][i]);
	sb_printf(&r->table, "  linearity (CPU/page at %ld MiB / at %ld MiB): ours %.3f (%s), "
		  "builtin %.3f (%s); linear = at most 1.25\n", opt.scan_mib[n - 1],
		  opt.scan_mib[0], lin[OURS], linear[OURS] ? "linear" : "NOT linear",
		  lin[BUILTIN], linear[BUILTIN] ? "linear" : "NOT linear");
}
