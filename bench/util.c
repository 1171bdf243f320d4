// SPDX-License-Identifier: GPL-2.0
/*
 * util.c - clocks, CPU time of threads and kernel threads, the built-in KSM's
 * sysfs files, page content, /proc/PID/pagemap, statistics and JSON.
 */
#include "ksm_bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Print a message and exit; the atexit handler restores the built-in KSM. */
void die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "ksm-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, " (%s)", strerror(err));
	fprintf(stderr, "\n");
	exit(1);
}

/* A progress line on stderr, with the time since the start. */
static void vnote_ap(const char *fmt, va_list ap)
{
	static double t0;

	if (!t0)
		t0 = now_s();
	fprintf(stderr, "[%7.1fs] ", now_s() - t0);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	fflush(stderr);
}

void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote_ap(fmt, ap);
	va_end(ap);
}

/* A progress line shown only with -v. */
void vnote(const char *fmt, ...)
{
	va_list ap;

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	vnote_ap(fmt, ap);
	va_end(ap);
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* CPU time (user + system) of the calling thread. */
double thread_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		die("getrusage");
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/*
 * CPU time of task @pid: the nanosecond run time of /proc/PID/schedstat when
 * the kernel has it, else utime + stime of /proc/PID/stat (clock ticks).
 * Both come from the same scheduler accounting (sum_exec_runtime).
 */
double task_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ns, ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f) {
		int n = fscanf(f, "%llu", &ns);

		fclose(f);
		if (n == 1)
			return ns / 1e9;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f))
		die("read %s", path);
	fclose(f);
	/* Fields 14 and 15, counted after the command name's closing parenthesis. */
	char *p = strrchr(buf, ')');

	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		die("parse %s", path);
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

/* The pid of the kernel thread called @comm, or 0. */
pid_t find_kthread(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	if (!d)
		die("opendir /proc");
	while (!found && (e = readdir(d))) {
		char path[300], name[64] = "";
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = '\0';
			if (!strcmp(name, comm))
				found = atoi(e->d_name);
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

/* ---- /sys/kernel/mm/ksm ---- */

#define BKSM_DIR "/sys/kernel/mm/ksm/"

bool bksm_has(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), BKSM_DIR "%s", name);
	return access(path, F_OK) == 0;
}

/* A number of the built-in KSM's sysfs directory; exits if it cannot be read. */
long bksm_read(const char *name)
{
	char path[128], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), BKSM_DIR "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open %s", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		die("read %s", path);
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* Write a number to a sysfs file of the built-in KSM; exits on failure. */
void bksm_write(const char *name, long value)
{
	char path[128], buf[32];
	int fd, len;

	snprintf(path, sizeof(path), BKSM_DIR "%s", name);
	len = snprintf(buf, sizeof(buf), "%ld", value);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		die("open %s", path);
	if (write(fd, buf, len) != len)
		die("write %ld to %s", value, path);
	close(fd);
}

/* ---- memory ---- */

/*
 * Pseudo-random content for page @index of the set @seed: xorshift64 from a
 * splitmix64 of (seed, index). Cheap (it matters under TCG), and every word of
 * two different pages differs, so that no comparison stops early by luck.
 */
void fill_page(void *page, uint64_t seed, uint64_t index)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (index + 1) * 0xbf58476d1ce4e5b9ULL;
	uint64_t *w = page;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 29;
	x |= 1;
	for (long k = 0; k < PAGE_SZ / 8; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[k] = x;
	}
}

/* Private anonymous memory; THP off unless @thp. */
void *map_anon(size_t bytes, bool thp)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes", bytes);
	if (!thp && madvise(p, bytes, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE)");
	return p;
}

/*
 * The pfns that process @pid maps at @npages pages from @addr (0 where no page
 * is present), from /proc/PID/pagemap. Returns @npages, or -1.
 */
long pagemap_pfns(pid_t pid, uintptr_t addr, long npages, uint64_t *pfns)
{
	char path[64];
	size_t want = npages * sizeof(uint64_t), got = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	while (got < want) {
		ssize_t n = pread(fd, (char *)pfns + got, want - got,
				  (off_t)(addr / PAGE_SZ * sizeof(uint64_t) + got));

		if (n <= 0) {
			close(fd);
			return -1;
		}
		got += n;
	}
	close(fd);
	for (long i = 0; i < npages; i++)
		pfns[i] = (pfns[i] >> 63) ? pfns[i] & ((1ULL << 55) - 1) : 0;
	return npages;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The @p-th quantile (0..1) of @v; sorts @v. */
double percentile(double *v, long n, double p)
{
	double pos;
	long i;

	if (n <= 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	pos = p * (n - 1);
	i = (long)pos;
	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* The median of @v (left untouched). */
double median(const double *v, int n)
{
	double tmp[MAX_REPS * 4];

	if (n <= 0)
		return NAN;
	if (n > (int)(sizeof(tmp) / sizeof(tmp[0])))
		n = sizeof(tmp) / sizeof(tmp[0]);
	memcpy(tmp, v, n * sizeof(*v));
	return percentile(tmp, n, 0.5);
}

double mean(const double *v, long n)
{
	double s = 0;

	for (long i = 0; i < n; i++)
		s += v[i];
	return n ? s / n : NAN;
}

/* ---- strings and JSON ---- */

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			die("out of memory");
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

void sb_free(struct sbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* ,"key":number (null when not a number: JSON has no NaN). */
void json_num(struct sbuf *b, const char *key, double v)
{
	if (isfinite(v))
		sb_printf(b, ",\"%s\":%.6g", key, v);
	else
		sb_printf(b, ",\"%s\":null", key);
}

void json_int(struct sbuf *b, const char *key, long long v)
{
	sb_printf(b, ",\"%s\":%lld", key, v);
}

/* ,"key":"value" (the values here never need escaping beyond quotes). */
void json_str(struct sbuf *b, const char *key, const char *v)
{
	sb_printf(b, ",\"%s\":\"", key);
	for (; *v; v++)
		sb_printf(b, *v == '"' || *v == '\\' ? "\\%c" : "%c", *v);
	sb_printf(b, "\"");
}

void json_bool(struct sbuf *b, const char *key, bool v)
{
	sb_printf(b, ",\"%s\":%s", key, v ? "true" : "false");
}

/* ,"key":[numbers] */
void json_nums(struct sbuf *b, const char *key, const double *v, int n)
{
	sb_printf(b, ",\"%s\":[", key);
	for (int i = 0; i < n; i++) {
		if (isfinite(v[i]))
			sb_printf(b, "%s%.6g", i ? "," : "", v[i]);
		else
			sb_printf(b, "%snull", i ? "," : "");
	}
	sb_printf(b, "]");
}

/* Print one JSON result line, and append it to the -o file if there is one. */
void emit_json(const char *line)
{
	printf("%s\n", line);
	if (opt.json_out) {
		FILE *f = fopen(opt.json_out, "a");

		if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f))
			die("write %s", opt.json_out);
	}
}
