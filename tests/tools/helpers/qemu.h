/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qemu.h - what the QEMU tests of the tools suite share (ksmctl_scan uses
 * ksmctl_run() too): starting an unmodified qemu-system-x86_64 under
 * `ksmctl run', finding its guest RAM in /proc/PID/maps, reading it through
 * /proc/PID/mem, comparing two processes' pfns through /proc/PID/pagemap,
 * running ksmctl. Include after ktest.h.
 */
#ifndef KSM_TESTS_QEMU_H
#define KSM_TESTS_QEMU_H

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>

#include "../../lib/qemu_ram.h"

#define QPAGE ((uint64_t)ktest_page)

static char qemu_self_exe[PATH_MAX];
static char qemu_ksmctl[PATH_MAX];

/* Find ksmctl: on PATH (tests/guest-run puts build/tools there), else in the build tree. */
__attribute__((unused))
static void qemu_find_ksmctl(void)
{
	char *dir, *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	ssize_t n = readlink("/proc/self/exe", qemu_self_exe, sizeof(qemu_self_exe) - 1);

	if (n <= 0)
		ktest_fatal("readlink /proc/self/exe");
	qemu_self_exe[n] = '\0';
	for (dir = path ? strtok(path, ":") : NULL; dir; dir = strtok(NULL, ":")) {
		snprintf(qemu_ksmctl, sizeof(qemu_ksmctl), "%s/ksmctl", dir);
		if (!access(qemu_ksmctl, X_OK)) {
			free(path);
			return;
		}
	}
	free(path);
	/* build/tests/tools/NAME -> build/tools/ksmctl */
	snprintf(qemu_ksmctl, sizeof(qemu_ksmctl), "%s", qemu_self_exe);
	for (int i = 0; i < 3; i++)
		*strrchr(qemu_ksmctl, '/') = '\0';
	strcat(qemu_ksmctl, "/tools/ksmctl");
	if (access(qemu_ksmctl, X_OK))
		ktest_fatal("cannot find ksmctl (on PATH or at %s)", qemu_ksmctl);
}

/* The build tree's directory of test helpers (next to this test binary). */
__attribute__((unused))
static void qemu_helper_path(char *out, size_t len, const char *name)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", qemu_self_exe);
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
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", qemu_ksmctl, args);
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
 * nice 10 (the TCG vCPU must not starve kksmd and the test), with stdin from
 * /dev/null and stdout/stderr to @log. Returns the pid: ksmctl execs QEMU,
 * so it is QEMU's.
 */
__attribute__((unused))
static pid_t qemu_start(const char *const *args, const char *log)
{
	const char *argv[48];
	int argc = 0;
	pid_t pid;

	argv[argc++] = qemu_ksmctl;
	argv[argc++] = "run";
	argv[argc++] = "--";
	argv[argc++] = "qemu-system-x86_64";
	for (; *args && argc < 47; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0)
		ktest_fatal("fork");
	if (!pid) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		setpriority(PRIO_PROCESS, 0, 10);
		execv(qemu_ksmctl, (char **)argv);
		_exit(127);
	}
	return pid;
}

/* Stop a QEMU: SIGTERM, then SIGKILL after 10 s. Returns its wait status. */
__attribute__((unused))
static int qemu_stop(pid_t pid)
{
	int status = 0;

	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return status;
}


/* Read @len bytes at @addr of process @pid (/proc/PID/mem). */
__attribute__((unused))
static bool qemu_read(pid_t pid, uintptr_t addr, void *buf, size_t len)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len;
}

/* Does process @pid hold @len bytes equal to @want at @addr? */
__attribute__((unused))
static bool qemu_holds(pid_t pid, uintptr_t addr, const void *want, size_t len)
{
	char *buf = malloc(len);
	bool same = buf && qemu_read(pid, addr, buf, len) && !memcmp(buf, want, len);

	free(buf);
	return same;
}

/* Is process @pid still alive (and not a zombie we could reap)? */
__attribute__((unused))
static bool qemu_alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

/*
 * Wait up to @seconds for QEMU @pid to have its RAM (@ram_size bytes)
 * mapped, registered (an SMA fd) and holding @blob at guest-physical @gpa.
 * Returns the RAM's host address, or 0.
 */
__attribute__((unused))
static uintptr_t qemu_wait_ready(pid_t pid, uint64_t ram_size, uint64_t gpa, const void *blob,
				 size_t blob_len, int seconds)
{
	for (int i = 0; i < seconds * 5; i++) {
		uintptr_t ram = qemu_find_ram(pid, ram_size);

		if (!qemu_alive(pid))
			return 0;
		if (ram && qemu_sma_fds(pid) > 0 && qemu_holds(pid, ram + gpa, blob, blob_len))
			return ram;
		usleep(200000);
	}
	return 0;
}

/* How many of @npages pages at @a1 of @p1 and @a2 of @p2 map the same pfn. */
__attribute__((unused))
static unsigned long qemu_shared_pages(pid_t p1, uintptr_t a1, pid_t p2, uintptr_t a2,
				       unsigned long npages)
{
	unsigned long same = 0;

	for (unsigned long i = 0; i < npages; i++) {
		uint64_t f1 = pagemap_pfn(p1, (void *)(a1 + i * QPAGE));

		same += f1 && f1 == pagemap_pfn(p2, (void *)(a2 + i * QPAGE));
	}
	return same;
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
