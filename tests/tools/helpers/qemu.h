/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qemu.h - what the QEMU tests of the tools suite share (ksmctl_scan uses
 * ksmctl_run() too): starting an unmodified qemu-system-x86_64 under
 * `ksmctl run', running ksmctl, showing what went wrong. Finding the guest
 * RAM, reading it and comparing pfns are lib/ksmu.h's (ksmu_qemu_*,
 * ksmu_holds, ksmu_same_pfns). Include after ktest.h, and call
 * ktest_find_ksmctl() first.
 */
#ifndef KSM_TESTS_QEMU_H
#define KSM_TESTS_QEMU_H

#define QPAGE ((uint64_t)ktest_page)

/* The build tree's directory of test helpers (next to this test binary). */
__attribute__((unused))
static void qemu_helper_path(char *out, size_t len, const char *name)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", ktest_self_exe);
	*strrchr(dir, '/') = '\0';
	if (snprintf(out, len, "%s/helpers/%s", dir, name) >= (int)len)
		ktest_fatal("path too long: %s/helpers/%s", dir, name);
}

/*
 * Run `ksmctl ARGS' (a shell word list), output into @out (NUL-terminated);
 * returns its exit status, or -1.
 */
__attribute__((format(printf, 3, 4), unused))
static int ksmctl_run(char *out, size_t len, const char *fmt, ...)
{
	char args[512], cmd[PATH_MAX + 600];
	va_list ap;
	size_t n = 0;
	FILE *p;
	int status;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", ktest_ksmctl, args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (n + 1 < len && !feof(p)) {
		size_t r = fread(out + n, 1, len - 1 - n, p);

		if (!r)
			break;
		n += r;
	}
	out[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* @s on one line, for a TAP message: newlines shown as \n (a static buffer). */
__attribute__((unused))
static const char *qemu_oneline(const char *s)
{
	static char buf[512];
	size_t n = 0;

	for (; *s && n + 3 < sizeof(buf); s++) {
		if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* Write @len random bytes (from /dev/urandom) to @path, and keep them in @buf. */
__attribute__((unused))
static void qemu_make_blob(const char *path, void *buf, size_t len)
{
	int r = open("/dev/urandom", O_RDONLY), w;

	if (r < 0 || read(r, buf, len) != (ssize_t)len)
		ktest_fatal("/dev/urandom");
	close(r);
	w = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w < 0 || write(w, buf, len) != (ssize_t)len)
		ktest_fatal("write %s", path);
	close(w);
}

/*
 * Start `ksmctl run -- qemu-system-x86_64 ARGS...' (@args NULL-terminated) at
 * nice 10, output to @log (ksmu_qemu_start()). Returns QEMU's pid.
 */
__attribute__((unused))
static pid_t qemu_start(const char *const *args, const char *log)
{
	pid_t pid = ksmu_qemu_start(ktest_ksmctl, "qemu-system-x86_64", args, log);

	if (pid < 0)
		ktest_fatal("start qemu-system-x86_64");
	return pid;
}

/* Print the log of a QEMU as TAP comments (when something went wrong). */
__attribute__((unused))
static void qemu_show_log(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("# %s: %s", path, line);
	fclose(f);
}

/* The "memory saved" line of `ksmctl stats', as a TAP comment. */
__attribute__((unused))
static void qemu_show_saved(void)
{
	char out[8192], *line;

	if (ksmctl_run(out, sizeof(out), "stats") != 0) {
		ktest_diag("ksmctl stats failed: %s", out);
		return;
	}
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "memory saved", 12) || !strncmp(line, "pages_s", 7))
			ktest_diag("ksmctl stats: %s", line);
	}
}

#endif /* KSM_TESTS_QEMU_H */
