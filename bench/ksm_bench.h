/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksm_bench.h - what the files of the benchmark share.
 *
 * ksm-bench compares the /dev/ksm module ("ours") with the kernel's built-in
 * KSM ("builtin") on identical workloads, one after the other in the same
 * boot: see bench/main.c for the modes and docs/performance.md for results.
 */
#ifndef KSM_BENCH_H
#define KSM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/ksm.h>

#include "ksmu.h"	/* lib/: the helpers the tests share too */

#define PAGE_SZ KSMU_PAGE_SIZE
#define MIB_PAGES(mib) ((long)(mib) * (1024L * 1024L / PAGE_SZ))
#define MAX_SCAN_SIZES 16
#define MAX_REPS 99

/* Command-line options (main.c). */
struct bench_opts {
	long size_mib;			/* -s: workload size of merge, unmerge and cow */
	long scan_mib[MAX_SCAN_SIZES];	/* -S: sizes of the full-scan mode */
	int nscan;
	int reps;			/* -r: repetitions, the median is reported */
	bool thp;			/* -H: leave THP on for the synthetic workloads */
	bool kksmd;			/* -k: ours merges with kksmd instead of KSM_SCAN_EXT */
	long image_mib;			/* -i: size of the QEMU guest image (savings) */
	int dup_factor;			/* copies of each page inside one process (merge-dups) */
	int max_passes;			/* give up merging after this many passes */
	double timeout_s;		/* give up waiting for a scanner after this long */
	const char *ksmctl;		/* path of ksmctl (savings) */
	const char *qemu;		/* path of qemu-system-x86_64 (savings) */
	const char *json_out;		/* -o: also append the JSON lines here */
	bool verbose;			/* -v: progress in more detail */
};

extern struct bench_opts opt;

/* ---- util.c ---- */
__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void note(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void vnote(const char *fmt, ...);
void sleep_s(double s);
double thread_cpu_s(void);
double task_cpu_s(pid_t pid);
bool bksm_has(const char *name);
long bksm_read(const char *name);
void bksm_write(const char *name, long value);
void bksm_write_str(const char *name, const char *value);
double median(const double *v, int n);
double percentile(double *v, long n, double p);
double mean(const double *v, long n);

/* A growing string, for the JSON lines and the tables. */
struct sbuf {
	char *s;
	size_t len, cap;
};
__attribute__((format(printf, 2, 3))) void sb_printf(struct sbuf *b, const char *fmt, ...);
void sb_free(struct sbuf *b);
void json_num(struct sbuf *b, const char *key, double v);
void json_int(struct sbuf *b, const char *key, long long v);
void json_str(struct sbuf *b, const char *key, const char *v);
void json_bool(struct sbuf *b, const char *key, bool v);
void json_nums(struct sbuf *b, const char *key, const double *v, int n);
void emit_json(const char *line);

/* ---- worker.c: processes holding workload memory ---- */
struct worker {
	pid_t pid;
	int to, from;		/* command pipe, reply pipe */
	uintptr_t addr;		/* its memory, in its address space */
	long npages;
};

enum worker_cmd {
	W_ATTACH_OURS = 1,	/* register the memory on a new SMA of /dev/ksm */
	W_DETACH_OURS,		/* remove the region (unmerging first), close the SMA */
	W_UNMERGE_OURS,		/* KSM_UNMERGE on the SMA, timed */
	W_MADVISE,		/* madvise(arg) over the memory, timed */
	W_COW_MERGED,		/* write one byte (arg) to each page, timed per page */
	W_COW_FRESH,		/* first-touch write of fresh anonymous memory, timed per page */
	W_COW_FORK,		/* write to pages shared with a forked child, timed per page */
	W_VERIFY,		/* reply 1 if the memory holds what it should */
	W_HOT,			/* a thread keeps rewriting the first arg pages (0: stop it) */
	W_REWRITE,		/* give the pages churn round arg picks new content (frag.c) */
	W_EXIT,
};

struct worker_reply {
	long rc;		/* 0 or -errno (W_VERIFY: 1 or 0) */
	long count;		/* pages acted on (unmerge: pages unmerged) */
	double secs;		/* duration of the call */
	double median_us;	/* per-page timings: median, mean, 90th percentile */
	double mean_us;
	double p90_us;
	double timer_us;	/* median cost of one timer read pair (subtracted) */
};

/* period 0: every page all zeroes (written, so present) */
struct worker worker_start(long npages, uint64_t seed, long period, bool thp);
struct worker worker_start_sparse(long npages, long run, long stride, uint64_t seed, long period,
				  bool thp);
struct worker_reply worker_cmd(struct worker *w, enum worker_cmd cmd, long arg);
bool churn_picks(long index, long round);
void worker_stop(struct worker *w);

/* ---- engine.c: the two implementations behind one interface ---- */
enum engine_id { OURS = 0, BUILTIN = 1, NENGINES = 2 };
extern const char *const engine_name[NENGINES];

/* What one merge run measured. */
struct merge_run {
	bool complete;		/* every duplicate was merged before the limits */
	double secs;		/* wall time from scanner start to all merged */
	double cpu_s;		/* scanner CPU time meanwhile */
	long saved;		/* pages_sharing reached (pages saved) */
	long verified;		/* pages mapping the same pfn in both workers (pagemap) */
	int passes;		/* passes over the memory (ours: exact; builtin: full_scans delta) */
};

void engines_init(void);
void engines_restore(void);
void engine_attach(enum engine_id e, struct worker *w);
void engine_detach(enum engine_id e, struct worker *w);
struct worker_reply engine_unmerge(enum engine_id e, struct worker *w);
struct merge_run engine_merge(enum engine_id e, struct worker *ws, int nw, long target_saved,
			      long total_pages);
void engine_pass_times(enum engine_id e, struct worker *w, int npasses, double *secs,
		       double *cpu);
void builtin_settle(void);
int ours_dev(void);
long ours_pages_sharing(void);
void ours_dump_stats(const char *when);
long same_pfns(const struct worker *a, const struct worker *b);
long builtin_pages_sharing(void);
void engine_describe(struct sbuf *b);

/* ---- modes.c ---- */
struct result {
	const char *mode;
	const char *metric;	/* what "ours" and "builtin" are */
	const char *unit;
	bool lower_better;
	double target;		/* wanted ratio: <= target if lower_better, else >= */
	double ours, builtin, ratio;
	bool met;
	struct sbuf details;	/* more JSON members, each starting with a comma */
	struct sbuf table;	/* lines of the human table */
};

void mode_merge(bool dups, bool want_merge, bool want_unmerge, struct result *merge,
		struct result *unmerge);
void mode_cow(struct result *r);
void mode_full_scan(struct result *r);
void mode_savings(struct result *r);
void result_finish(struct result *r);

/* ---- scale.c: costs as memory grows (load, registration, tracked pages, sparse passes) ---- */
void scale_measure_load(void);
void mode_scale(struct result *r);

/* ---- frag.c: huge pages left after merged memory is churned ---- */
void mode_frag(struct result *r);

/* ---- features.c: the module's switches, each on and off ---- */
void mode_features(const char *kernel, const struct sbuf *settings);

/* ---- hardened.c: the hardened domain, what timing tells and what it costs ---- */
void mode_hardened(const char *kernel, const struct sbuf *settings);

#endif /* KSM_BENCH_H */
