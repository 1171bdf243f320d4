// SPDX-License-Identifier: GPL-2.0
/*
 * frag.c - what merged memory does to the huge pages a host can still get:
 * the "fragmentation" mode.
 *
 * Four workers of S MiB with the same content are merged (three quarters of
 * their memory saved), then churned for ROUNDS rounds, each: every worker
 * rewrites a quarter of its pages (copy-on-write breaks them out, the new
 * content merges again), one worker exits and a new one takes its place, one
 * worker is unmerged and merged again; after each round the engine merges
 * until every duplicate is merged; at the end each scanner makes two more
 * passes, as a host's would. Then, with the merged workers still there, the
 * guest compacts its memory (/proc/sys/vm/compact_memory) and counts the 2 MiB
 * huge pages it could allocate (free blocks of 2 MiB or more, /proc/buddyinfo):
 * that count, as a share of the count at rest just before the run, is the
 * headline (see mode_frag()); ours / builtin >= 0.98 is the goal (issue:
 * merged pages obey the kernel's memory rules).
 */
#include "ksm_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FRAG_WORKERS	4
#define FRAG_ROUNDS	8
#define GOAL_FRAG_RATIO	0.98

/* Write @value to the /proc/sys file @path, or exit. */
static void sysctl_write(const char *path, long value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", value);
	if (ksmu_write_str(path, buf))
		die("write %s to %s", buf, path);
}

/*
 * The 2 MiB huge pages the guest could allocate now: caches dropped, memory
 * compacted, then the free blocks of 2 MiB or more in /proc/buddyinfo (an
 * order-10 block is two). Counted rather than allocated: asking for all of
 * them (nr_hugepages) left the guest so short that the OOM killer took a
 * worker.
 */
static long hugepages_allocatable(void)
{
	char line[512];
	long n = 0;
	FILE *f;

	sync();
	sysctl_write("/proc/sys/vm/drop_caches", 3);
	sysctl_write("/proc/sys/vm/compact_memory", 1);
	f = fopen("/proc/buddyinfo", "re");
	if (!f)
		die("open /proc/buddyinfo");
	/* "Node 0, zone   Normal    110     85 ...": free blocks of order 0, 1, ... */
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "zone"), *end;
		int order = 0;

		if (!p)
			continue;
		p += 4;
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;		/* the zone's name */
		for (long count = strtol(p, &end, 10); end != p;
		     p = end, count = strtol(p, &end, 10), order++)
			if (order >= 9)
				n += count << (order - 9);
	}
	fclose(f);
	return n;
}

/* Merge until every page of the @nw workers @ws (of @npages each) shares one page per index. */
static void merge_all(enum engine_id e, struct worker *ws, int nw, long npages)
{
	long target = (nw - 1) * npages, have;
	struct merge_run m;

	if (e == BUILTIN) {
		have = builtin_pages_sharing();
		if (have >= target)
			return;
		m = engine_merge(e, ws, nw, target - have, nw * npages);
	} else {
		m = engine_merge(e, ws, nw, target, nw * npages);
	}
	if (!m.complete)
		die("fragmentation: %s did not merge everything (%ld of %ld pages saved)",
		    engine_name[e], m.saved, target);
}

/*
 * Two more passes of engine @e's scanner over the @total_pages pages once all
 * is merged, as a running host's scanner would make: ours moves the sharers
 * of kernel pages in sparse blocks then; the built-in KSM has nothing left
 * to do (compaction migrates its pages).
 */
static void settle(enum engine_id e, long total_pages)
{
	if (e == OURS) {
		int scan = ksmu_scan_create(ours_dev());

		if (scan < 0 || ksmu_scan_pass(scan) < 0 || ksmu_scan_pass(scan) < 0)
			die("fragmentation: KSM_SCAN_EXT");
		close(scan);
	} else {
		long f0 = bksm_read("full_scans");
		double t0 = ksmu_now_s();

		bksm_write("pages_to_scan", total_pages);
		bksm_write("sleep_millisecs", 0);
		bksm_write("run", 1);
		while (bksm_read("full_scans") < f0 + 2 && ksmu_now_s() - t0 < opt.timeout_s)
			sleep_s(0.01);
		bksm_write("run", 0);
	}
}

/* A new worker with the content the others have after churn round @round. */
static struct worker fresh_worker(enum engine_id e, long npages, uint64_t seed, long round)
{
	struct worker w = worker_start(npages, seed, npages, false);

	for (long r = 1; r <= round; r++)
		if (worker_cmd(&w, W_REWRITE, r).rc)
			die("fragmentation: rewrite");
	engine_attach(e, &w);
	return w;
}

/* What one engine's run measured, in huge pages the guest could allocate. */
struct frag_run {
	long rest;		/* before the workers started */
	long held;		/* after the churn, the merged workers still there */
	long after;		/* once the workers were gone */
	long saved;		/* pages saved at the end of the churn */
	long spare;		/* ours: free pages kept in its blocks then (kpool_spare) */
	long moved;		/* ours: kernel pages copied to fuller blocks during the run */
	double secs;		/* the churn's duration */
};

/* The workload and its churn on engine @e. */
static struct frag_run run_engine(enum engine_id e, long npages)
{
	uint64_t seed = (uint64_t)(ksmu_now_s() * 1e6);
	struct worker ws[FRAG_WORKERS];
	struct frag_run f;
	double t0;

	struct ksm_stats st0 = { 0 }, st = { 0 };

	if (e == BUILTIN)
		builtin_settle();
	f.rest = hugepages_allocatable();
	if (e == OURS && ksmu_stats(ours_dev(), &st0))
		die("KSM_GET_STATS");
	t0 = ksmu_now_s();
	for (int i = 0; i < FRAG_WORKERS; i++)
		ws[i] = fresh_worker(e, npages, seed, 0);
	merge_all(e, ws, FRAG_WORKERS, npages);
	for (long r = 1; r <= FRAG_ROUNDS; r++) {
		int quit = (int)(r % FRAG_WORKERS), again = (int)((r + 1) % FRAG_WORKERS);

		for (int i = 0; i < FRAG_WORKERS; i++)
			if (worker_cmd(&ws[i], W_REWRITE, r).rc)
				die("fragmentation: rewrite");
		worker_stop(&ws[quit]);
		ws[quit] = fresh_worker(e, npages, seed, r);
		engine_unmerge(e, &ws[again]);
		if (e == BUILTIN)
			engine_attach(e, &ws[again]);
		merge_all(e, ws, FRAG_WORKERS, npages);
		vnote("  %s: churn round %ld done, %.0f s", engine_name[e], r, ksmu_now_s() - t0);
	}
	settle(e, FRAG_WORKERS * npages);
	f.secs = ksmu_now_s() - t0;
	f.saved = e == OURS ? ours_pages_sharing() : builtin_pages_sharing();
	f.held = hugepages_allocatable();
	if (e == OURS && ksmu_stats(ours_dev(), &st))
		die("KSM_GET_STATS");
	f.spare = (long)st.kpool_spare;
	f.moved = (long)(st.kpages_moved - st0.kpages_moved);
	for (int i = 0; i < FRAG_WORKERS; i++) {
		if (worker_cmd(&ws[i], W_VERIFY, 0).rc != 1)
			die("fragmentation: a %s worker's memory changed", engine_name[e]);
		engine_detach(e, &ws[i]);
		worker_stop(&ws[i]);
	}
	if (e == BUILTIN)
		builtin_settle();
	f.after = hugepages_allocatable();
	note("  %-7s: huge pages at rest %ld, after %d churn rounds with %ld MiB saved %ld (%.1f%%), "
	     "after exit %ld (churn %.0f s)", engine_name[e], f.rest, FRAG_ROUNDS,
	     f.saved * PAGE_SZ >> 20, f.held, 100.0 * f.held / f.rest, f.after, f.secs);
	if (e == OURS)
		note("           kernel pages copied to fuller blocks %ld, spare pages in the blocks %ld",
		     f.moved, f.spare);
	return f;
}

/*
 * mode_frag - the share of its huge pages the guest keeps after churn, each
 * engine against what the guest had at rest just before its run
 *
 * Each engine's run leaves the guest a little more fragmented for the next
 * (page tables, slab: about 40 huge pages here, whichever engine ran), so
 * each is measured against its own start, and the order alternates over the
 * repetitions (builtin first, then ours first, ...); the medians are
 * compared.
 */
void mode_frag(struct result *res)
{
	long npages = MIB_PAGES(opt.size_mib);
	struct frag_run f[MAX_REPS][NENGINES];
	double kept[NENGINES][MAX_REPS], med[NENGINES];
	/* The kernel pages (or KSM pages) the workload needs at best, in huge pages. */
	double merged_hp = (double)npages * PAGE_SZ / (2 << 20);

	note("fragmentation: %d workers of %ld MiB, the same content, %d churn rounds, %d pairs of "
	     "runs", FRAG_WORKERS, opt.size_mib, FRAG_ROUNDS, opt.reps);
	for (int r = 0; r < opt.reps; r++) {
		enum engine_id first = r % 2 ? OURS : BUILTIN;

		f[r][first] = run_engine(first, npages);
		f[r][!first] = run_engine(!first, npages);
		for (int e = 0; e < NENGINES; e++)
			kept[e][r] = 100.0 * f[r][e].held / f[r][e].rest;
	}
	for (int e = 0; e < NENGINES; e++)
		med[e] = median(kept[e], opt.reps);

	res->mode = "fragmentation";
	res->metric = "% of the guest's 2 MiB huge pages still allocatable after compaction, "
		      "merged memory held, after churn (median)";
	res->unit = "%";
	res->lower_better = false;
	res->target = GOAL_FRAG_RATIO;
	res->ours = med[OURS];
	res->builtin = med[BUILTIN];
	result_finish(res);
	for (int e = 0; e < NENGINES; e++) {
		double rest[MAX_REPS], held[MAX_REPS], after[MAX_REPS], secs[MAX_REPS];
		char key[64];

		for (int r = 0; r < opt.reps; r++) {
			rest[r] = f[r][e].rest;
			held[r] = f[r][e].held;
			after[r] = f[r][e].after;
			secs[r] = f[r][e].secs;
		}
#define JSON_E(name, v)								\
		do {								\
			snprintf(key, sizeof(key), "%s_" name, engine_name[e]);	\
			json_nums(&res->details, key, v, opt.reps);		\
		} while (0)
		JSON_E("rest", rest);
		JSON_E("held", held);
		JSON_E("after_exit", after);
		JSON_E("churn_s", secs);
		JSON_E("kept_pct", kept[e]);
#undef JSON_E
	}
	json_int(&res->details, "ours_spare_pages", f[opt.reps - 1][OURS].spare);
	json_int(&res->details, "ours_kpages_moved", f[opt.reps - 1][OURS].moved);
	json_int(&res->details, "saved_mib", f[0][OURS].saved * PAGE_SZ >> 20);
	json_int(&res->details, "workers", FRAG_WORKERS);
	json_int(&res->details, "worker_mib", opt.size_mib);
	json_int(&res->details, "rounds", FRAG_ROUNDS);
	json_num(&res->details, "merged_huge_pages", merged_hp);
	sb_printf(&res->table, "  %-4s %-8s %8s %8s %8s %8s %10s\n", "run", "engine", "at rest",
		  "held", "kept %", "ideal %", "after exit");
	for (int r = 0; r < opt.reps; r++) {
		enum engine_id first = r % 2 ? OURS : BUILTIN;

		for (int k = 0; k < NENGINES; k++) {
			enum engine_id e = k ? !first : first;
			const struct frag_run *x = &f[r][e];

			sb_printf(&res->table, "  %-4d %-8s %8ld %8ld %8.1f %8.1f %10ld\n", r + 1,
				  engine_name[e], x->rest, x->held, kept[e][r],
				  100.0 * (x->rest - merged_hp) / x->rest, x->after);
		}
	}
	sb_printf(&res->table, "  (%ld MiB saved; ideal: only the %.0f huge pages the merged pages "
		  "fill are lost)\n", f[0][OURS].saved * PAGE_SZ >> 20, merged_hp);
}
