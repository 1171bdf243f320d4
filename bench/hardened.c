// SPDX-License-Identifier: GPL-2.0
/*
 * hardened.c - mode "hardened": what a tenant learns by timing its writes,
 * and what the hardened domain costs (docs/security.md).
 *
 *   hardened-timing  a victim and an attacker, two processes of domain 0,
 *                    normal then hardened. Each of the attacker's T pages
 *                    holds, at random, a content the victim holds too or
 *                    one of its own. Once the scanner has settled, the
 *                    attacker times one write to each page (in a random
 *                    order), picks the threshold that best separates the
 *                    two kinds on half of the pages and classifies the
 *                    other half with it: its accuracy (50%: it learns
 *                    nothing).
 *   hardened-cost    two tenants of S/8 MiB each: half idle pages with the
 *                    same content in both, a quarter idle of their own, a
 *                    quarter rewritten every 10 ms; every 10 ms two idle
 *                    pages wake up (one byte written back). Over 8 passes:
 *                    the tenants' minor faults per second, the scanner's CPU
 *                    per pass, the memory saved, normal then hardened.
 *
 * The built-in KSM has no hardened mode: only the module is measured (its
 * normal domain is what the built-in KSM does). Each prints one JSON line
 * ({"mode":..,"normal":..,"hardened":..,...}) and a table.
 */
#include "ksm_bench.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMING_PAGES 4096
#define SEED_SHARED 5100
#define SEED_VICTIM 5101
#define SEED_ATTACKER 5102

/* A tenant process: @mem registered in domain 0 with @flags, then running @body. */
struct tenant {
	pid_t pid;
	int go;		/* write a byte: start; close: stop */
	int done;	/* one long: the body's result */
};

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Register @npages at @mem in domain 0 with @flags on a new SMA; 0 or -1. */
static int tenant_register(char *mem, long npages, uint32_t flags)
{
	struct ksm_domain d = { .domain = KSM_DOMAIN_DEFAULT, .flags = flags };
	int sma = ksmu_sma_create(ours_dev());

	if (sma < 0 || ioctl(sma, KSM_SMA_SET_DOMAIN, &d) || ksmu_register(sma, mem, npages))
		return -1;
	return 0;
}

/* How a tenant fills its memory: page i gets content (seeds[i], i). */
struct fill {
	const uint64_t *seeds;
};

/*
 * Fork a tenant: it fills its memory (there, not before the fork: a page
 * still shared with the parent would take a COW fault of its own),
 * registers, reports, waits for "go", runs @body(@arg) and reports its
 * result.
 */
static struct tenant tenant_fork(char *mem, long npages, uint32_t flags, const struct fill *fill,
				 long (*body)(char *mem, long npages, int stop, void *arg), void *arg)
{
	struct tenant t;
	int go[2], done[2];
	long r;

	if (pipe(go) || pipe(done))
		die("pipe");
	t.pid = fork();
	if (t.pid < 0)
		die("fork");
	if (!t.pid) {
		char c;

		close(go[1]);
		close(done[0]);
		for (long i = 0; i < npages; i++)
			ksmu_fill_page(mem + i * PAGE_SZ, fill->seeds[i], i);
		r = tenant_register(mem, npages, flags);
		if (write(done[1], &r, sizeof(r)) != sizeof(r) || r)
			_exit(1);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		r = body(mem, npages, go[0], arg);
		_exit(write(done[1], &r, sizeof(r)) != sizeof(r));
	}
	close(go[0]);
	close(done[1]);
	t.go = go[1];
	t.done = done[0];
	if (read(t.done, &r, sizeof(r)) != sizeof(r) || r)
		die("hardened: a tenant could not register in domain 0 (flags %u)", flags);
	return t;
}

/* Start the tenant's body. */
static void tenant_go(struct tenant *t)
{
	if (write(t->go, "g", 1) != 1)
		die("hardened: tenant gone");
}

/* Stop it (its body sees the pipe close), collect its result. */
static long tenant_end(struct tenant *t)
{
	long r = -1;
	int status;

	close(t->go);
	if (read(t->done, &r, sizeof(r)) != sizeof(r))
		r = -1;
	close(t->done);
	waitpid(t->pid, &status, 0);
	return r;
}

/* Merged mappings of @pid (KSM_GET_PROCESS_STATS). */
static long merged_of(pid_t pid)
{
	struct ksm_process_stats st = { .pid = pid };

	return ioctl(ours_dev(), KSM_GET_PROCESS_STATS, &st) ? -1 : (long)st.merged_pages;
}

/* Passes of a new scan fd until @pid has @want merged pages (at most 12). */
static int scan_until(pid_t pid, long want)
{
	int scan = ksmu_scan_create(ours_dev()), pass;

	if (scan < 0)
		die("KSM_CREATE_SCAN");
	for (pass = 0; pass < 12 && merged_of(pid) < want; pass++)
		ksmu_scan_pass(scan);
	close(scan);
	return pass;
}

/* ---- hardened-timing ---- */

static long victim_idle(char *mem, long npages, int stop, void *arg)
{
	char c;

	(void)mem, (void)npages, (void)arg;
	return read(stop, &c, 1) == 0 ? 0 : -1;
}

/* The attacker's body: time one write per page in a random order into @arg (ns per page). */
static long attacker_time(char *mem, long npages, int stop, void *arg)
{
	double *ns = arg;
	uint64_t rng = 77;
	long *order = malloc(npages * sizeof(*order));

	(void)stop;
	if (!order)
		return -1;
	for (long i = 0; i < npages; i++)
		order[i] = i;
	for (long i = npages - 1; i > 0; i--) {
		long j = ksmu_rand(&rng) % (i + 1), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	for (long k = 0; k < npages; k++) {
		volatile char *b = mem + order[k] * PAGE_SZ + 11;
		long t0 = now_ns();

		*b = *b;
		ns[order[k]] = now_ns() - t0;
	}
	free(order);
	return 0;
}

/*
 * The attacker's best guess: on the even pages, the threshold (and side)
 * that classifies most right; its accuracy on the odd pages, in %.
 */
static double classify(const double *ns, const bool *shared, long n)
{
	double best_t = 0;
	long best = -1;
	bool slow_shared = true;

	for (long c = 0; c < n; c += 2) {
		for (int side = 0; side < 2; side++) {
			long right = 0;

			for (long i = 0; i < n; i += 2)
				right += ((ns[i] > ns[c]) == side) == shared[i];
			if (right > best) {
				best = right;
				best_t = ns[c];
				slow_shared = side;
			}
		}
	}
	long right = 0, total = 0;

	for (long i = 1; i < n; i += 2, total++)
		right += ((ns[i] > best_t) == slow_shared) == shared[i];
	return 100.0 * right / total;
}

/* One round in domain 0 with @flags: the attacker's accuracy; *@merged: its merged pages. */
static double timing_round(uint32_t flags, long *merged, double *median_shared,
			   double *median_own)
{
	const long n = TIMING_PAGES;
	char *vmem = ksmu_map_anon(n * PAGE_SZ, 0, -1), *amem = ksmu_map_anon(n * PAGE_SZ, 0, -1);
	double *ns = mmap(NULL, n * sizeof(double), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	bool *shared = malloc(n * sizeof(*shared));
	uint64_t *vseeds = malloc(n * sizeof(*vseeds)), *aseeds = malloc(n * sizeof(*aseeds));
	uint64_t rng = 4242;
	struct tenant v, a;
	double s[TIMING_PAGES], o[TIMING_PAGES];
	long ns_n = 0, no_n = 0;
	double acc;

	if (!vmem || !amem || ns == MAP_FAILED || !shared || !vseeds || !aseeds)
		die("hardened-timing: out of memory");
	for (long i = 0; i < n; i++) {
		shared[i] = ksmu_rand(&rng) & 1;
		vseeds[i] = shared[i] ? SEED_SHARED : SEED_VICTIM;
		aseeds[i] = shared[i] ? SEED_SHARED : SEED_ATTACKER;
	}
	v = tenant_fork(vmem, n, flags, &(struct fill){ vseeds }, victim_idle, NULL);
	a = tenant_fork(amem, n, flags, &(struct fill){ aseeds }, attacker_time, ns);
	{
		long want = 0;

		for (long i = 0; i < n; i++)
			want += shared[i];
		scan_until(a.pid, (flags & KSM_DOMAIN_HARDENED) ? n : want);
	}
	*merged = merged_of(a.pid);
	/* The attacker (forked last) first: it holds a copy of the victim's pipe. */
	tenant_go(&a);
	if (tenant_end(&a))
		die("hardened-timing: the attacker failed");
	tenant_go(&v);
	tenant_end(&v);
	acc = classify(ns, shared, n);
	for (long i = 0; i < n; i++) {
		if (shared[i])
			s[ns_n++] = ns[i];
		else
			o[no_n++] = ns[i];
	}
	*median_shared = percentile(s, ns_n, 0.5) / 1000;
	*median_own = percentile(o, no_n, 0.5) / 1000;
	munmap(vmem, n * PAGE_SZ);
	munmap(amem, n * PAGE_SZ);
	munmap(ns, n * sizeof(double));
	free(shared);
	free(vseeds);
	free(aseeds);
	return acc;
}

static void mode_timing(const char *kernel, const struct sbuf *settings)
{
	double acc[2], ms[2], mo[2];
	long merged[2];
	struct sbuf j = { 0 };

	for (int h = 0; h < 2; h++)
		acc[h] = timing_round(h ? KSM_DOMAIN_HARDENED : 0, &merged[h], &ms[h], &mo[h]);
	sb_printf(&j, "{\"mode\":\"hardened-timing\",\"kernel\":\"%s\"", kernel);
	json_int(&j, "trials", TIMING_PAGES / 2);
	json_num(&j, "normal", acc[0]);
	json_num(&j, "hardened", acc[1]);
	json_str(&j, "unit", "% classified right");
	json_int(&j, "normal_attacker_merged", merged[0]);
	json_int(&j, "hardened_attacker_merged", merged[1]);
	json_num(&j, "normal_median_us_twin", ms[0]);
	json_num(&j, "normal_median_us_own", mo[0]);
	json_num(&j, "hardened_median_us_twin", ms[1]);
	json_num(&j, "hardened_median_us_own", mo[1]);
	sb_printf(&j, "%s}", settings->s ? settings->s : "");
	emit_json(j.s);
	sb_free(&j);
	printf("hardened-timing: an attacker times one write to each of %d pages (half of them\n"
	       "hold a content the victim holds too) and guesses which, %d guesses scored:\n",
	       TIMING_PAGES, TIMING_PAGES / 2);
	printf("  %-9s %9s %16s %16s %10s\n", "domain", "accuracy", "median us twin",
	       "median us own", "merged");
	for (int h = 0; h < 2; h++)
		printf("  %-9s %8.1f%% %16.2f %16.2f %10ld\n", h ? "hardened" : "normal", acc[h],
		       ms[h], mo[h], merged[h]);
}

/* ---- hardened-cost ---- */

/* The workload's body: every 10 ms rewrite the busy quarter, wake two idle pages; its faults. */
static long workload(char *mem, long npages, int stop, void *arg)
{
	long busy0 = npages * 3 / 4, f0 = minor_faults(), round = 0;
	uint64_t rng = (uintptr_t)arg;

	fcntl(stop, F_SETFL, O_NONBLOCK);
	for (;;) {
		char c;

		if (read(stop, &c, 1) == 0)
			break;
		for (long i = busy0; i < npages; i++)
			*(volatile long *)(mem + i * PAGE_SZ) = round;
		for (int k = 0; k < 2; k++) {
			volatile char *b = mem + (ksmu_rand(&rng) % busy0) * PAGE_SZ + 5;

			*b = *b;
		}
		round++;
		usleep(10000);
	}
	return minor_faults() - f0;
}

struct cost {
	double faults_per_s, cpu_per_pass, saved_mib, profit_mib;
	long kpages;
};

static struct cost cost_round(uint32_t flags, long npages)
{
	const int passes = 8;
	char *m[2];
	struct tenant t[2];
	struct ksm_stats st;
	struct cost c = { 0 };
	double t0, cpu0, secs;
	long faults = 0;
	int scan = ksmu_scan_create(ours_dev());
	uint64_t *seeds = malloc(npages * sizeof(*seeds));

	if (scan < 0 || !seeds)
		die("hardened-cost: KSM_CREATE_SCAN or out of memory");
	for (int i = 0; i < 2; i++) {
		m[i] = ksmu_map_anon(npages * PAGE_SZ, 0, -1);
		if (!m[i])
			die("hardened-cost: out of memory");
		/* Half the same in both, a quarter idle of its own, a quarter busy. */
		for (long k = 0; k < npages; k++)
			seeds[k] = k < npages / 2 ? SEED_SHARED : SEED_VICTIM + 10 * i;
		t[i] = tenant_fork(m[i], npages, flags, &(struct fill){ seeds }, workload,
				   (void *)(uintptr_t)(i + 1));
		tenant_go(&t[i]);
	}
	free(seeds);
	t0 = ksmu_now_s();
	cpu0 = thread_cpu_s();
	for (int p = 0; p < passes; p++)
		ksmu_scan_pass(scan);
	c.cpu_per_pass = (thread_cpu_s() - cpu0) / passes;
	secs = ksmu_now_s() - t0;
	if (ksmu_stats(ours_dev(), &st))
		die("KSM_GET_STATS");
	c.saved_mib = st.pages_sharing * (PAGE_SZ / 1024.0) / 1024;
	c.profit_mib = st.general_profit / 1048576.0;
	c.kpages = st.kpages_held;
	/* The second tenant holds a copy of the first one's pipe: end it first. */
	for (int i = 1; i >= 0; i--) {
		long f = tenant_end(&t[i]);

		if (f < 0)
			die("hardened-cost: a tenant failed");
		faults += f;
		munmap(m[i], npages * PAGE_SZ);
	}
	close(scan);
	c.faults_per_s = faults / secs;
	return c;
}

static void mode_cost(const char *kernel, const struct sbuf *settings)
{
	long npages = MIB_PAGES(opt.size_mib) / 8;
	struct cost c[2];
	struct sbuf j = { 0 };

	for (int h = 0; h < 2; h++)
		c[h] = cost_round(h ? KSM_DOMAIN_HARDENED : 0, npages);
	sb_printf(&j, "{\"mode\":\"hardened-cost\",\"kernel\":\"%s\"", kernel);
	json_int(&j, "pages_per_tenant", npages);
	json_num(&j, "normal", c[0].faults_per_s);
	json_num(&j, "hardened", c[1].faults_per_s);
	json_str(&j, "unit", "minor faults/s of the tenants");
	json_num(&j, "normal_cpu_per_pass_s", c[0].cpu_per_pass);
	json_num(&j, "hardened_cpu_per_pass_s", c[1].cpu_per_pass);
	json_num(&j, "normal_saved_mib", c[0].saved_mib);
	json_num(&j, "hardened_saved_mib", c[1].saved_mib);
	json_num(&j, "normal_profit_mib", c[0].profit_mib);
	json_num(&j, "hardened_profit_mib", c[1].profit_mib);
	json_int(&j, "normal_kpages", c[0].kpages);
	json_int(&j, "hardened_kpages", c[1].kpages);
	sb_printf(&j, "%s}", settings->s ? settings->s : "");
	emit_json(j.s);
	sb_free(&j);
	printf("hardened-cost: two tenants of %ld pages (1/2 idle twins, 1/4 idle own, 1/4 busy,\n"
	       "two idle pages woken every 10 ms), 8 passes:\n", npages);
	printf("  %-9s %10s %12s %10s %11s %8s\n", "domain", "faults/s", "CPU/pass s",
	       "saved MiB", "profit MiB", "kpages");
	for (int h = 0; h < 2; h++)
		printf("  %-9s %10.1f %12.3f %10.1f %11.1f %8ld\n", h ? "hardened" : "normal",
		       c[h].faults_per_s, c[h].cpu_per_pass, c[h].saved_mib, c[h].profit_mib,
		       c[h].kpages);
}

void mode_hardened(const char *kernel, const struct sbuf *settings)
{
	mode_timing(kernel, settings);
	mode_cost(kernel, settings);
}
