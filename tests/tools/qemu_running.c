// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_running - two running guests are merged and keep running.
 *
 * Two unmodified qemu-system-x86_64 (TCG) under `ksmctl run' boot a 64 KiB
 * firmware of our own (helpers/serial-counter.s) with the same 256 KiB random
 * blob loaded at 0x20000. The firmware loops forever: it sums the blob, writes
 * its counter into the blob's last page and restores it (so that page is
 * written after it was merged too), and prints "counter checksum ok" on the
 * serial port, which goes to a file.
 *
 * With kksmd started, the test waits until the blob's pages (all but the
 * scratch page) map one pfn in both QEMUs, then checks that both guests still
 * make progress, right after the merge and again while kksmd keeps running,
 * that the blob stayed merged, and, at the end, that every line each guest
 * printed is right: consecutive counters, the blob's checksum, "ok".
 */
#include "ktest.h"
#include "helpers/qemu.h"

#define RAM_MIB 32
#define BLOB_GPA 0x20000UL
#define BLOB_LEN (256UL << 10)	/* as in serial-counter.s */

/*
 * Look at a serial log: the last complete line's counter (*@last, -1 if
 * none) and whether every complete line is "%08x %08x ok" with consecutive
 * counters from 0 and checksum @sum. Returns the number of bad lines.
 */
static long check_serial(const char *path, uint32_t sum, long *last, long *lines)
{
	char line[128];
	long bad = 0, expect = 0;
	FILE *f = fopen(path, "r");

	*last = -1;
	*lines = 0;
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		unsigned int c, s;
		char word[8];

		if (!strchr(line, '\n'))
			break;	/* the line being written */
		if (sscanf(line, "%8x %8x %7s", &c, &s, word) != 3 || c != (unsigned int)expect ||
		    s != sum || strcmp(word, "ok")) {
			if (bad++ < 3)
				ktest_diag("%s: line %ld: %s", path, *lines + 1, line);
		}
		*last = c;
		expect = (long)c + 1;
		(*lines)++;
	}
	fclose(f);
	return bad;
}

/* Wait up to @seconds until each guest printed more than @after[q]; false on timeout. */
static bool wait_progress(const char serial[2][96], uint32_t sum, const long after[2],
			  long now[2], int seconds)
{
	long lines;

	for (int i = 0; i < seconds * 5; i++) {
		check_serial(serial[0], sum, &now[0], &lines);
		check_serial(serial[1], sum, &now[1], &lines);
		if (now[0] > after[0] && now[1] > after[1])
			return true;
		usleep(200000);
	}
	return false;
}

int main(void)
{
	static char blob[BLOB_LEN];
	char dir[64], blob_path[96], fw[PATH_MAX], log[2][96], serial[2][96], out[4096];
	char loader[160], serial_arg[2][128];
	uint64_t ram_size = (uint64_t)RAM_MIB << 20;
	unsigned long npages = BLOB_LEN / QPAGE - 1;	/* all but the scratch page */
	unsigned long shared = 0;
	long start[2] = { -1, -1 }, before[2] = { -1, -1 }, after_merge[2] = { -1, -1 };
	long later[2] = { -1, -1 };
	uint32_t sum = 0;
	uintptr_t ram[2];
	pid_t pid[2];
	bool ok;
	int rc;

	ktest_find_ksmctl();
	qemu_helper_path(fw, sizeof(fw), "serial-counter.bin");
	if (access(fw, R_OK))
		ktest_fatal("the firmware %s is missing (make tests)", fw);
	snprintf(dir, sizeof(dir), "/tmp/ksm-qemu-running.%d", getpid());
	if (mkdir(dir, 0755))
		ktest_fatal("mkdir %s", dir);
	snprintf(blob_path, sizeof(blob_path), "%s/blob.bin", dir);
	qemu_make_blob(blob_path, blob, BLOB_LEN);
	for (size_t i = 0; i < BLOB_LEN; i += 4) {
		uint32_t w;

		memcpy(&w, blob + i, 4);
		sum += w;
	}
	snprintf(loader, sizeof(loader), "loader,file=%s,addr=0x%lx", blob_path, BLOB_GPA);

	for (int q = 0; q < 2; q++) {
		char mem[16];

		snprintf(log[q], sizeof(log[q]), "%s/qemu%d.log", dir, q);
		snprintf(serial[q], sizeof(serial[q]), "%s/serial%d.log", dir, q);
		snprintf(serial_arg[q], sizeof(serial_arg[q]), "file:%s", serial[q]);
		snprintf(mem, sizeof(mem), "%d", RAM_MIB);
		const char *args[] = { "-accel", "tcg", "-m", mem, "-display", "none",
				       "-nodefaults", "-monitor", "none", "-bios", fw,
				       "-device", loader, "-serial", serial_arg[q], NULL };

		pid[q] = qemu_start(args, log[q]);
	}
	for (int q = 0; q < 2; q++) {
		ram[q] = ksmu_qemu_wait_ready(pid[q], ram_size, BLOB_GPA, blob, BLOB_LEN - QPAGE,
					      true, 90);
		if (!ktest_ok(ram[q] != 0, "QEMU %d (pid %d): guest RAM at 0x%lx, registered, "
			      "holding the blob", q, pid[q], (unsigned long)ram[q])) {
			qemu_show_log(log[q]);
			for (int k = 0; k < 2; k++)
				ksmu_terminate(pid[k]);
			return ktest_done();
		}
	}
	ok = wait_progress(serial, sum, start, before, 60);
	ktest_ok(ok, "both guests run: they print lines (last counters %ld, %ld)", before[0],
		 before[1]);

	rc = ksmctl_run(out, sizeof(out), "start 4000 4000 5000");
	ktest_ok(rc == 0 && !strcmp(out, "created scanner\n"), "ksmctl start: kksmd runs (%d: %s)",
		 rc, qemu_oneline(out));
	for (int i = 0; i < 450 && shared < npages; i++) {	/* 90 s at most */
		usleep(200000);
		shared = ktest_same_pfns(pid[0], ram[0] + BLOB_GPA, pid[1], ram[1] + BLOB_GPA,
					 npages);
	}
	ktest_ok(shared == npages,
		 "the blob's pages (but the scratch page) map one pfn in both QEMUs (%lu of %lu)",
		 shared, npages);
	ktest_diag("saved in the blob alone: %lu KiB", shared * (unsigned long)QPAGE / 1024);
	qemu_show_saved();

	ok = wait_progress(serial, sum, before, after_merge, 60);
	ktest_ok(ok, "after the merge both guests still make progress (counters %ld -> %ld, "
		 "%ld -> %ld)", before[0], after_merge[0], before[1], after_merge[1]);
	sleep(3);	/* kksmd keeps scanning them */
	ok = wait_progress(serial, sum, after_merge, later, 60);
	ktest_ok(ok, "with kksmd still running they keep making progress (counters %ld -> %ld, "
		 "%ld -> %ld)", after_merge[0], later[0], after_merge[1], later[1]);
	shared = ktest_same_pfns(pid[0], ram[0] + BLOB_GPA, pid[1], ram[1] + BLOB_GPA, npages);
	ktest_ok(shared == npages, "the blob is still merged (%lu of %lu pages)", shared, npages);

	rc = ksmctl_run(out, sizeof(out), "stop");
	ktest_ok(rc == 0 && !strcmp(out, "stopped scanner\n"), "ksmctl stop (%d: %s)", rc, qemu_oneline(out));
	for (int q = 0; q < 2; q++) {
		long last, lines, bad;
		int status = ksmu_terminate(pid[q]);

		bad = check_serial(serial[q], sum, &last, &lines);
		ktest_ok(bad == 0 && lines > 0,
			 "guest %d: all %ld lines it printed are right (consecutive counters, "
			 "checksum %08x, ok): %ld bad", q, lines, sum, bad);
		if (bad || (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM))
			qemu_show_log(log[q]);
		unlink(log[q]);
		unlink(serial[q]);
	}
	unlink(blob_path);
	rmdir(dir);
	return ktest_done();
}
