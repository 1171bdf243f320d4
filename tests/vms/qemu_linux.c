// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_linux - two Linux VMs boot, run and write while they are merged.
 *
 * Two unmodified qemu-system-x86_64 under `ksmctl run' (the preload library
 * registers the guest RAM QEMU madvises MERGEABLE) boot this guest's Debian
 * kernel with an initramfs holding only tests/vms/linux-guest/init.c: a
 * workload with 36 MiB of data common to both VMs and 12 MiB of its own, that
 * rewrites some common pages every heartbeat (a burst of 2 MiB every 16th),
 * reads all its data back and prints its sum, checked against what it wrote.
 *
 * The VMs use KVM when this guest has it (the test guests' TCG CPU, -cpu max,
 * emulates AMD SVM: kvm_amd loads, and the inner VMs run about as fast as this
 * guest), else TCG inside TCG (some ten times slower: longer waits).
 *
 * With kksmd started, the test waits until most of each VM's common data maps
 * a merged page, then checks that both keep running (heartbeats), that their
 * writes after the merge broke sharing (cow_breaks of each QEMU) without
 * breaking their sums, that kksmd merges again what they rewrote, and at the
 * end that every line each VM printed is right: consecutive heartbeats, "ok".
 */
#include "ktest.h"
#include "../tools/helpers/qemu.h"

#include <dirent.h>
#include <sys/utsname.h>

#define RAM_MIB 160
#define DATA_MIB 48		/* ksm.mib: the workload's data */
#define SHARED_PCT 75		/* ksm.shared: the part common to both VMs */
#define HB_MS 500		/* ksm.hb_ms: heartbeat period */
#define BURST_EVERY 16		/* as in init.c */
#define SHARED_PAGES (DATA_MIB * 256L * SHARED_PCT / 100)
/*
 * Attempts when VMs reset by themselves (vm_reset()) or hang while booting
 * (vm_boot_hang()): in 8 runs of this test
 * 2 had one, once while booting, before any merge.
 */
#define KSM_VM_ATTEMPTS 3

/* What a VM printed on its serial port so far (check_serial()). */
struct serial {
	bool ready;		/* its "ready" line */
	long hb;		/* the last heartbeat, -1 before the first */
	long bad;		/* lines out of order, or a sum that is not "ok" */
	long last_burst;	/* the heartbeat of the last burst, -1 if none */
	char first_bad[160];	/* the first wrong line */
};

/* Read the serial log at @path into @s (from its start every time). */
static void check_serial(const char *path, struct serial *s)
{
	char line[256];
	FILE *f = fopen(path, "r");

	memset(s, 0, sizeof(*s));
	s->hb = -1;
	s->last_burst = -1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long hb, gen;
		char sum[24], word[8], burst[8] = "";
		int n;

		if (!strchr(line, '\n'))
			break;	/* the line being written */
		if (!strncmp(line, "ksm-guest ready ", 16)) {
			s->ready = true;
			continue;
		}
		if (strncmp(line, "ksm-guest ", 10))
			continue;	/* the kernel's (loglevel=1: only emergencies) */
		n = sscanf(line, "ksm-guest hb %lu gen %lu %*s %23s %7s %7s", &hb, &gen, sum, word,
			   burst);
		if (n < 4 || !s->ready || (long)hb != s->hb + 1 || strcmp(word, "ok")) {
			if (!s->bad++)
				snprintf(s->first_bad, sizeof(s->first_bad), "%.150s", line);
		}
		if (n >= 2)
			s->hb = hb;
		if (n == 5 && !strcmp(burst, "burst"))
			s->last_burst = hb;
	}
	fclose(f);
}

/*
 * The kernel the VMs boot, into @out: this guest's own, else the newest
 * readable /boot/vmlinuz-* (a build root's kernel is not in the host's /boot).
 * Never an RT one: any kernel will do as the VMs' OS, and an RT kernel inside
 * TCG's emulated SVM boots ten times slower, or not at all under 5.10's KVM.
 * False if there is none.
 */
static bool vm_kernel(char *out, size_t len)
{
	struct utsname u;
	struct dirent *e;
	char best[256] = "";
	DIR *d;

	uname(&u);
	snprintf(out, len, "/boot/vmlinuz-%s", u.release);
	if (!strstr(u.release, "-rt") && !access(out, R_OK))
		return true;
	d = opendir("/boot");
	if (!d)
		return false;
	while ((e = readdir(d))) {
		char path[300];

		snprintf(path, sizeof(path), "/boot/%s", e->d_name);
		if (!strncmp(e->d_name, "vmlinuz-", 8) && !strstr(e->d_name, "-rt") &&
		    !access(path, R_OK) && strcmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	}
	closedir(d);
	if (!best[0])
		return false;
	snprintf(out, len, "/boot/%s", best);
	return true;
}

/* KSM_GET_PROCESS_STATS of @pid (zeroes when it fails). */
static struct ksm_process_stats pstats(int dev, pid_t pid)
{
	struct ksm_process_stats ps = { .pid = pid };

	if (ioctl(dev, KSM_GET_PROCESS_STATS, &ps))
		memset(&ps, 0, sizeof(ps));
	return ps;
}

/* One attempt: the two VMs, and what the test found, reported at its end. */
struct attempt {
	char dir[64], log[2][96], serial[2][96];
	pid_t pid[2];
	int status[2];		/* wait status, once the VM's QEMU exited */
	bool exited[2];
	int nres;
	bool res_ok[16];
	char res[16][512];
};

/* Record a test point of attempt @a (ktest_ok() at the attempt's end). Returns @cond. */
__attribute__((format(printf, 3, 4)))
static bool check(struct attempt *a, bool cond, const char *fmt, ...)
{
	va_list ap;

	if (a->nres == 16)
		ktest_fatal("too many test points");
	va_start(ap, fmt);
	vsnprintf(a->res[a->nres], sizeof(a->res[0]), fmt, ap);
	va_end(ap);
	a->res_ok[a->nres++] = cond;
	return cond;
}

/* Has VM @q's QEMU exited (reaped here)? */
static bool vm_exited(struct attempt *a, int q)
{
	if (!a->exited[q] && waitpid(a->pid[q], &a->status[q], WNOHANG) == a->pid[q])
		a->exited[q] = true;
	return a->exited[q];
}

/*
 * The first line of file @path holding one of @marks (a NULL-terminated
 * list), without its line end, into @out (@len bytes, may be 0). False when
 * there is none or no file.
 */
static bool log_find(const char *path, const char *const *marks, char *out, size_t len)
{
	char line[256];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		for (int m = 0; marks[m] && !found; m++)
			found = strstr(line, marks[m]);
	if (found && len)
		snprintf(out, len, "%.*s", (int)strcspn(line, "\r\n"), line);
	if (f)
		fclose(f);
	return found;
}

/* What a VM's serial port shows when its kernel panicked or its data went wrong. */
static const char *const vm_panic_marks[] = { "Kernel panic", " BAD", NULL };

/*
 * Did a VM reset by itself: its QEMU exited with status 0 (-no-reboot turns a
 * reset into an exit) with no kernel panic and no wrong sum on its serial
 * port? That is a triple fault, which TCG's emulation of SVM causes now and
 * then with no KSM at all (about 1 in 16 VM runs of a minute, more under
 * load): the VM is gone, but not through merging.
 */
static bool vm_reset(struct attempt *a, int q)
{
	if (!vm_exited(a, q) || !WIFEXITED(a->status[q]) || WEXITSTATUS(a->status[q]))
		return false;
	return !log_find(a->serial[q], vm_panic_marks, NULL, 0);
}

/*
 * What became of VM @q, into @buf for a test point: "running", or how its
 * QEMU ended (status or signal) and the first panic or error line its serial
 * port or its QEMU printed, so that a failure in CI, where only the failing
 * lines may be kept, says whether the VM reset, panicked or was killed.
 */
static const char *vm_fate(struct attempt *a, int q, char *buf, size_t len)
{
	static const char *const marks[] = { "Kernel panic", " BAD", "BUG:", "Oops",
					     "error", "KVM", NULL };
	char first[160] = "";
	int st;

	if (!vm_exited(a, q)) {
		snprintf(buf, len, "running");
		return buf;
	}
	if (!log_find(a->serial[q], marks, first, sizeof(first)))
		log_find(a->log[q], marks, first, sizeof(first));
	st = a->status[q];
	if (WIFSIGNALED(st))
		snprintf(buf, len, "QEMU killed by signal %d%s%s", WTERMSIG(st),
			 first[0] ? ": " : "", first);
	else
		snprintf(buf, len, "QEMU exited with status %d%s%s%s", WEXITSTATUS(st),
			 vm_reset(a, q) ? " (a reset)" : "", first[0] ? ": " : "", first);
	return buf;
}

/*
 * Did a VM of @a hang while booting: still running, with no heartbeat (@s)
 * when the boot wait ended? That comes before any scanner runs, so, like a
 * reset, it is the emulated SVM's doing (once in a make check, in the demo's
 * built-in KSM turn, with the module idle): the attempt is made again.
 */
static bool vm_boot_hang(struct attempt *a, const struct serial *s)
{
	for (int q = 0; q < 2; q++)
		if (!vm_exited(a, q) && s[q].hb < 0)
			return true;
	return false;
}

/* Has either VM of @a exited? (Nothing to wait for then.) */
static bool vm_gone(struct attempt *a)
{
	return vm_exited(a, 0) || vm_exited(a, 1);
}

/*
 * Wait up to @seconds until each VM's merged_pages reaches @want; its last
 * values into @merged. False on timeout, or at once when a VM exited.
 */
static bool wait_merged(struct attempt *a, int dev, long want, long merged[2], int seconds)
{
	for (int i = 0; i <= seconds * 2; i++) {
		for (int q = 0; q < 2; q++)
			merged[q] = pstats(dev, a->pid[q]).merged_pages;
		if (merged[0] >= want && merged[1] >= want)
			return true;
		if (vm_gone(a))
			return false;
		usleep(500000);
	}
	return false;
}

/*
 * Wait up to @seconds until both VMs printed heartbeat @until[q] (and, with
 * @burst, a burst after heartbeat @until[q] and one heartbeat after it); their
 * logs into @s. False on timeout, when a VM printed a wrong line, or once a
 * VM exited.
 */
static bool wait_beats(struct attempt *a, const long until[2], bool burst, struct serial s[2],
		       int seconds)
{
	for (int i = 0; i <= seconds * 5; i++) {
		bool done = true, gone = vm_gone(a);

		for (int q = 0; q < 2; q++) {
			check_serial(a->serial[q], &s[q]);
			if (s[q].bad)
				return false;
			if (burst)
				done &= s[q].last_burst > until[q] && s[q].hb > s[q].last_burst;
			else
				done &= s[q].hb >= until[q];
		}
		if (done)
			return true;
		if (gone)
			return false;	/* read once more after it exited: all it printed */
		usleep(200000);
	}
	return false;
}

/*
 * Boot the two VMs under `ksmctl run', merge them, check them (into @a's
 * results). Returns false when a VM reset by itself (vm_reset()) or hung
 * while booting (vm_boot_hang()): the caller tries again, up to
 * KSM_VM_ATTEMPTS in all.
 */
static bool attempt(struct attempt *a, int dev, const char *kernel, const char *initrd, bool kvm,
		    int slow)
{
	char serial_arg[2][200], append[2][256], mem[16], out[4096], fate[2][200];
	long merged[2] = { 0, 0 }, want = SHARED_PAGES * 9 / 10, until[2];
	struct ksm_process_stats before[2];
	struct serial s[2];
	double t0;
	bool ok;
	int rc;

	snprintf(a->dir, sizeof(a->dir), "/tmp/ksm-qemu-linux.%d", getpid());
	if (mkdir(a->dir, 0755) && errno != EEXIST)
		ktest_fatal("mkdir %s", a->dir);
	snprintf(mem, sizeof(mem), "%d", RAM_MIB);
	t0 = ksmu_now_s();
	for (int q = 0; q < 2; q++) {
		snprintf(a->log[q], sizeof(a->log[q]), "%s/qemu%d.log", a->dir, q);
		snprintf(a->serial[q], sizeof(a->serial[q]), "%s/serial%d.log", a->dir, q);
		unlink(a->serial[q]);
		snprintf(serial_arg[q], sizeof(serial_arg[q]), "file:%s", a->serial[q]);
		snprintf(append[q], sizeof(append[q]),
			 "console=ttyS0 loglevel=1 panic=-1 ksm.vmid=%d ksm.mib=%d ksm.shared=%d "
			 "ksm.hb_ms=%d", q, DATA_MIB, SHARED_PCT, HB_MS);
		const char *args[] = { "-accel", kvm ? "kvm" : "tcg", "-cpu", kvm ? "host" : "max",
				       "-m", mem, "-smp", "1", "-display", "none", "-nodefaults",
				       "-monitor", "none", "-no-reboot", "-kernel", kernel,
				       "-initrd", initrd, "-append", append[q],
				       "-serial", serial_arg[q], NULL };

		a->pid[q] = qemu_start(args, a->log[q]);
	}

	/* Booted: each printed "ready" and a heartbeat, its RAM registered. */
	for (int i = 0; i < 150 * slow * 5; i++) {
		check_serial(a->serial[0], &s[0]);
		check_serial(a->serial[1], &s[1]);
		if ((s[0].hb >= 0 && s[1].hb >= 0) || vm_exited(a, 0) || vm_exited(a, 1))
			break;
		usleep(200000);
	}
	ok = s[0].hb >= 0 && s[1].hb >= 0 && !s[0].bad && !s[1].bad;
	for (int q = 0; q < 2; q++)
		ok &= ksmu_sma_fds(a->pid[q]) > 0;
	ktest_diag("booted in %.0f s", ksmu_now_s() - t0);
	if (!check(a, ok, "both VMs booted Linux and run the workload (heartbeats %ld, %ld), "
		   "their RAM registered", s[0].hb, s[1].hb))
		return !vm_reset(a, 0) && !vm_reset(a, 1) && !vm_boot_hang(a, s);
	for (int q = 0; q < 2; q++)
		before[q] = pstats(dev, a->pid[q]);

	rc = ksmctl_run(out, sizeof(out), "start 4000 4000 20ms");
	check(a, rc == 0 && !strcmp(out, "created scanner\n"), "ksmctl start: kksmd runs (%d: %s)",
	      rc, qemu_oneline(out));
	t0 = ksmu_now_s();
	ok = wait_merged(a, dev, want, merged, 120 * slow);
	ktest_diag("merged in %.0f s", ksmu_now_s() - t0);
	check(a, ok, "kksmd merged at least 90%% of the %ld common data pages in each running VM "
	      "(merged_pages %ld, %ld)", SHARED_PAGES, merged[0], merged[1]);
	for (int q = 0; q < 2; q++)
		ktest_diag("VM %d: %ld pages (%.1f MiB) map a merged page", q, merged[q],
			   merged[q] / 256.0);

	/* Running and writing after the merge: a burst after it, their sums right. */
	check_serial(a->serial[0], &s[0]);
	check_serial(a->serial[1], &s[1]);
	until[0] = s[0].hb;
	until[1] = s[1].hb;
	ok = wait_beats(a, until, true, s, BURST_EVERY * HB_MS / 1000 * 4 * slow);
	check(a, ok, "after the merge both VMs keep running and rewrite 2 MiB of common data, "
	      "their sums right (heartbeats %ld -> %ld, %ld -> %ld; VMs %s, %s)", until[0], s[0].hb,
	      until[1], s[1].hb, vm_fate(a, 0, fate[0], sizeof(fate[0])),
	      vm_fate(a, 1, fate[1], sizeof(fate[1])));
	/* cow_breaks counts what kksmd found copied: wait for its next visits. */
	for (int q = 0; q < 2; q++) {
		struct ksm_process_stats now = pstats(dev, a->pid[q]);

		for (int i = 0; i < 60 * slow && now.cow_breaks <= before[q].cow_breaks + 256 &&
				!vm_exited(a, q); i++) {
			usleep(500000);
			now = pstats(dev, a->pid[q]);
		}
		check(a, now.cow_breaks > before[q].cow_breaks + 256,
		      "VM %d: its writes broke sharing (cow_breaks %llu -> %llu)", q,
		      (unsigned long long)before[q].cow_breaks,
		      (unsigned long long)now.cow_breaks);
	}
	ok = wait_merged(a, dev, want, merged, 60 * slow);
	check(a, ok, "kksmd merges the rewritten pages again (merged_pages %ld, %ld)", merged[0],
	      merged[1]);
	until[0] = s[0].hb + 4;
	until[1] = s[1].hb + 4;
	ok = wait_beats(a, until, false, s, 30 * slow);
	check(a, ok, "with kksmd still running both VMs keep running (heartbeats %ld, %ld)",
	      s[0].hb, s[1].hb);
	qemu_show_saved();

	rc = ksmctl_run(out, sizeof(out), "stop");
	check(a, rc == 0 && !strcmp(out, "stopped scanner\n"), "ksmctl stop (%d: %s)", rc,
	      qemu_oneline(out));
	/* Both still running here: a VM that stops with the other one is not our concern. */
	for (int q = 0; q < 2; q++) {
		check_serial(a->serial[q], &s[q]);
		check(a, !vm_exited(a, q) && s[q].hb > 0 && !s[q].bad,
		      "VM %d: still running (%s), all %ld heartbeats it printed are right "
		      "(consecutive, sum ok): %ld bad%s%s", q, vm_fate(a, q, fate[q], sizeof(fate[q])),
		      s[q].hb + 1, s[q].bad, s[q].bad ? ", first: " : "",
		      s[q].bad ? s[q].first_bad : "");
	}
	return !vm_reset(a, 0) && !vm_reset(a, 1);
}

/* Stop attempt @a's VMs (showing their logs when @show) and remove its files. */
static void attempt_end(struct attempt *a, bool show)
{
	for (int q = 0; q < 2; q++) {
		if (!vm_exited(a, q))
			a->status[q] = ksmu_terminate(a->pid[q]);
		if (show) {
			qemu_show_log(a->log[q]);
			qemu_show_log(a->serial[q]);
		}
		unlink(a->log[q]);
		unlink(a->serial[q]);
	}
	rmdir(a->dir);
}

int main(void)
{
	char kernel[300], initrd[PATH_MAX];
	struct attempt a;
	int dev, slow, kvm;
	bool done = false;

	ktest_find_ksmctl();
	qemu_helper_path(initrd, sizeof(initrd), "linux-guest.cpio");
	if (access(initrd, R_OK))
		ktest_fatal("the initramfs %s is missing (make tests)", initrd);
	if (!vm_kernel(kernel, sizeof(kernel))) {
		ktest_skip("no kernel in /boot to boot the VMs with");
		return ktest_done();
	}
	if (system("modprobe -q kvm_amd 2>/dev/null; modprobe -q kvm_intel 2>/dev/null") == -1)
		ktest_diag("cannot run modprobe");
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	slow = kvm < 0 ? 8 : 1;	/* TCG inside TCG: that much longer to wait */
	if (kvm >= 0)
		close(kvm);
	ktest_diag("the VMs: %s, %d MiB, %s", kernel, RAM_MIB,
		   kvm >= 0 ? "KVM (this guest's emulated SVM)" : "TCG (no /dev/kvm here)");
	dev = ksm_open();

	for (int i = 0; i < KSM_VM_ATTEMPTS && !done; i++) {
		bool failed = false;

		memset(&a, 0, sizeof(a));
		done = attempt(&a, dev, kernel, initrd, kvm >= 0, slow) || i == KSM_VM_ATTEMPTS - 1;
		if (!done) {
			ktest_diag("a VM reset by itself (QEMU exited 0, no panic, no wrong sum: the "
				   "emulated SVM's triple fault, seen without KSM too) or hung while "
				   "booting, before any scanner ran; again. What this attempt found:");
			for (int r = 0; r < a.nres; r++)
				ktest_diag("  %s - %s", a.res_ok[r] ? "ok" : "not ok", a.res[r]);
			ksmctl_run((char[256]){ 0 }, 256, "stop");
			attempt_end(&a, true);
			continue;
		}
		for (int r = 0; r < a.nres; r++)
			failed |= !ktest_ok(a.res_ok[r], "%s", a.res[r]);
		attempt_end(&a, failed);
	}
	close(dev);
	return ktest_done();
}
