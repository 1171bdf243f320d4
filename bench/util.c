// SPDX-License-Identifier: GPL-2.0
/*
 * util.c - messages, CPU time of threads and kernel threads, the built-in
 * KSM's sysfs files (through lib/ksmu.h, exiting on failure), statistics and
 * JSON.
 */
#include "ksm_bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
		t0 = ksmu_now_s();
	fprintf(stderr, "[%7.1fs] ", ksmu_now_s() - t0);
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
	char path[64], buf[64];
	long ut, st;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	if (ksmu_read_str(path, buf, sizeof(buf)) > 0) {
		char *end;
		unsigned long long ns = strtoull(buf, &end, 10);

		if (end != buf)
			return ns / 1e9;
	}
	ut = ksmu_stat_field(pid, 14);
	st = ksmu_stat_field(pid, 15);
	if (ut < 0 || st < 0)
		die("read /proc/%d/stat", pid);
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

/* ---- the built-in KSM's sysfs files (KSMU_BUILTIN_DIR) ---- */

bool bksm_has(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), KSMU_BUILTIN_DIR "%s", name);
	return access(path, F_OK) == 0;
}

/* A number of the built-in KSM's sysfs directory; exits if it cannot be read. */
long bksm_read(const char *name)
{
	char path[128];
	long v;

	snprintf(path, sizeof(path), KSMU_BUILTIN_DIR "%s", name);
	if (ksmu_read_num(path, &v))
		die("read %s", path);
	return v;
}

/* Write @value to a sysfs file of the built-in KSM; exits on failure. */
void bksm_write_str(const char *name, const char *value)
{
	char path[128];

	snprintf(path, sizeof(path), KSMU_BUILTIN_DIR "%s", name);
	if (ksmu_write_str(path, value))
		die("write %s to %s", value, path);
}

/* Write a number to a sysfs file of the built-in KSM; exits on failure. */
void bksm_write(const char *name, long value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", value);
	bksm_write_str(name, buf);
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
