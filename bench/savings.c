// SPDX-License-Identifier: GPL-2.0
/*
 * savings.c - memory saved on a real workload: two paused QEMUs (TCG, -S)
 * with the same guest image loaded into their RAM (-device loader).
 *
 * Ours: each QEMU runs under `ksmctl run', whose preload library registers
 * the RAM QEMU madvises MERGEABLE; the scanner is KSM_SCAN_EXT, pass after
 * pass until a pass merges nothing. Built-in: plain QEMUs (QEMU madvises its
 * guest RAM MERGEABLE itself) and ksmd unthrottled until pages_sharing stays
 * the same over two full scans. Saved = pages_sharing, for both.
 *
 * The image: pages of random content, one in eight all zero, one in eight
 * from a set of 32 repeated pages, like a disk image or a booted guest.
 */
#include "ksm_bench.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM_MIB 256
#define IMAGE_GPA 0x200000UL
#define REPEATED 32

/* Kind of image page @i: 0 random, 1 zero, 2 one of the repeated ones. */
static int image_kind(long i)
{
	return i % 8 == 7 ? 1 : i % 8 == 3 ? 2 : 0;
}

/*
 * Write the image to @path; return the pages that merging two copies of its
 * non-zero pages saves (its zero pages may save nothing: QEMU may leave
 * them unallocated, mapping the shared zero page).
 */
static long make_image(const char *path, long npages)
{
	char page[PAGE_SZ];
	uint64_t seed = (uint64_t)getpid() * 0x2545f4914f6cdd1dULL + (uint64_t)ksmu_now_s();
	long rep = 0, uniq = 0;
	FILE *f = fopen(path, "w");

	if (!f)
		die("create %s", path);
	for (long i = 0; i < npages; i++) {
		switch (image_kind(i)) {
		case 0:
			ksmu_fill_page(page, seed, i);
			uniq++;
			break;
		case 1:
			memset(page, 0, sizeof(page));
			break;
		default:
			ksmu_fill_page(page, seed + 1, i % REPEATED);
			rep++;
			break;
		}
		if (fwrite(page, 1, sizeof(page), f) != sizeof(page))
			die("write %s", path);
	}
	if (fclose(f))
		die("write %s", path);
	/* Two copies of everything: one copy of each distinct content stays. */
	return uniq + (rep ? 2 * rep - (rep < REPEATED ? rep : REPEATED) : 0);
}

/* Start QEMU (under ksmctl run if @ours) at nice 10, output to @log. */
static pid_t start_qemu(bool ours, const char *image, const char *log)
{
	char loader[PATH_MAX + 64], mem[16];
	const char *args[] = { "-accel", "tcg", "-S", "-m", mem, "-nodefaults", "-display",
			       "none", "-monitor", "none", "-device", loader, NULL };
	pid_t pid;

	snprintf(loader, sizeof(loader), "loader,file=%s,addr=0x%lx", image, IMAGE_GPA);
	snprintf(mem, sizeof(mem), "%d", RAM_MIB);
	pid = ksmu_qemu_start(ours ? opt.ksmctl : NULL, opt.qemu, args, log);
	if (pid < 0)
		die("start %s", opt.qemu);
	return pid;
}

/*
 * Wait until QEMU @pid has its RAM mapped (registered, for ours) and holding
 * the @image of @len bytes at guest-physical IMAGE_GPA.
 */
static uintptr_t wait_ready(pid_t pid, bool ours, const char *image, long len, const char *log)
{
	char *want = malloc(len);
	uintptr_t ram;
	FILE *f = fopen(image, "r");

	if (!want || !f || fread(want, 1, len, f) != (size_t)len)
		die("read %s", image);
	fclose(f);
	ram = ksmu_qemu_wait_ready(pid, (uint64_t)RAM_MIB << 20, IMAGE_GPA, want, len, ours, 600);
	free(want);
	if (!ram && errno == ESRCH) {
		char buf[4096] = "";

		f = fopen(log, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);

			buf[n] = '\0';
			fclose(f);
		}
		errno = 0;
		die("QEMU exited early: %s", buf);
	}
	if (!ram) {
		errno = 0;
		die("QEMU %d not ready after 600 s", pid);
	}
	return ram;
}

/*
 * Pages of the image range mapping the same pfn in both QEMUs, in all and
 * by kind of page (@by_kind[3]: random, zero, repeated).
 */
static long image_pfns_shared(const pid_t *pid, const uintptr_t *ram, long npages, long *by_kind)
{
	uint64_t *a = malloc(npages * sizeof(*a)), *b = malloc(npages * sizeof(*b));
	long same = 0;

	if (!a || !b || ksmu_pagemap_pfns(pid[0], ram[0] + IMAGE_GPA, npages, a) < 0 ||
	    ksmu_pagemap_pfns(pid[1], ram[1] + IMAGE_GPA, npages, b) < 0)
		die("pagemap of QEMU");
	memset(by_kind, 0, 3 * sizeof(*by_kind));
	for (long i = 0; i < npages; i++) {
		bool s = a[i] && a[i] == b[i];

		same += s;
		by_kind[image_kind(i)] += s;
	}
	free(a);
	free(b);
	return same;
}

/* AnonHugePages of process @pid in KiB (/proc/PID/smaps_rollup), or -1. */
static long anon_huge_kib(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	return ksmu_proc_kb(path, "AnonHugePages");
}

/*
 * Compact memory, so that both engines' QEMUs find as many free huge pages
 * (QEMU asks for THP on guest RAM; the image's zero pages are real pages
 * inside a huge page, and merge, but untouched ones outside).
 */
static void compact_memory(void)
{
	const char *path = "/proc/sys/vm/compact_memory";

	if (!access(path, F_OK) && ksmu_write_str(path, "1"))
		note("  cannot compact memory");
}

struct savings_run {
	long saved;		/* pages_sharing */
	long image_shared;	/* image pages mapping one pfn in both QEMUs */
	long by_kind[3];	/* ... of the random, zero and repeated pages */
	long huge_kib;		/* AnonHugePages of both QEMUs when ready */
	double secs, cpu_s;	/* until stable */
	int passes;
};

/* Ours: passes of KSM_SCAN_EXT until one merges nothing (at least two). */
static void ours_settle(struct savings_run *s)
{
	int scan = ksmu_scan_create(ours_dev());
	double t0 = ksmu_now_s(), c0 = thread_cpu_s();

	if (scan < 0)
		die("KSM_CREATE_SCAN");
	for (s->passes = 0; s->passes < opt.max_passes; ) {
		struct ksm_scan_ext x = { .pages_to_scan = UINT32_MAX, .flags = KSM_SCAN_PASS_END };

		if (ioctl(scan, KSM_SCAN_EXT, &x))
			die("KSM_SCAN_EXT");
		s->passes++;
		if (!x.pages_merged && s->passes >= 2)
			break;
	}
	s->cpu_s = thread_cpu_s() - c0;
	s->secs = ksmu_now_s() - t0;
	s->saved = ours_pages_sharing();
	ours_dump_stats("QEMUs");
	close(scan);
}

/* Built-in: ksmd unthrottled until pages_sharing is the same over two full scans. */
static void builtin_settle_qemu(struct savings_run *s)
{
	pid_t ksmd = ksmu_find_kthread("ksmd");
	long f0 = bksm_read("full_scans"), f_seen = f0, last = -1, same = 0;
	double t0 = ksmu_now_s(), c0 = task_cpu_s(ksmd);

	bksm_write("pages_to_scan", 2 * MIB_PAGES(RAM_MIB) + 4096);
	bksm_write("sleep_millisecs", 0);
	bksm_write("run", 1);
	while (ksmu_now_s() - t0 < opt.timeout_s && f_seen - f0 < opt.max_passes + 2) {
		long f = bksm_read("full_scans");

		if (f != f_seen) {
			long v = bksm_read("pages_sharing");

			same = v == last ? same + (f - f_seen) : 0;
			last = v;
			f_seen = f;
			if (same >= 2 && f - f0 >= 3)
				break;
		}
		sleep_s(0.01);
	}
	s->secs = ksmu_now_s() - t0;
	s->cpu_s = task_cpu_s(ksmd) - c0;
	s->passes = (int)(f_seen - f0);
	s->saved = bksm_read("pages_sharing");
	bksm_write("run", 0);
}

/* One engine's run: two QEMUs, merge until stable, measure, stop them. */
static struct savings_run savings_once(enum engine_id e, const char *dir, const char *image,
				       long img_pages)
{
	struct savings_run s = { 0 };
	char log[2][PATH_MAX];
	uintptr_t ram[2];
	pid_t pid[2];
	double t0 = ksmu_now_s();

	if (e == BUILTIN)
		builtin_settle();
	compact_memory();
	for (int q = 0; q < 2; q++) {
		snprintf(log[q], sizeof(log[q]), "%s/qemu-%s-%d.log", dir, engine_name[e], q);
		pid[q] = start_qemu(e == OURS, image, log[q]);
	}
	for (int q = 0; q < 2; q++)
		ram[q] = wait_ready(pid[q], e == OURS, image, img_pages * PAGE_SZ, log[q]);
	s.huge_kib = anon_huge_kib(pid[0]) + anon_huge_kib(pid[1]);
	vnote("  %s: both QEMUs ready in %.1f s, AnonHugePages %ld KiB", engine_name[e],
	      ksmu_now_s() - t0, s.huge_kib);
	if (e == OURS)
		ours_settle(&s);
	else
		builtin_settle_qemu(&s);
	s.image_shared = image_pfns_shared(pid, ram, img_pages, s.by_kind);
	for (int q = 0; q < 2; q++) {
		ksmu_terminate(pid[q]);
		unlink(log[q]);
	}
	note("  %-7s: %.1f MiB saved (%ld pages; image pages shared %ld of %ld: random %ld, "
	     "zero %ld, repeated %ld) after %d passes, %.1f s, scanner CPU %.1f s", engine_name[e],
	     s.saved * (double)PAGE_SZ / (1 << 20), s.saved, s.image_shared, img_pages,
	     s.by_kind[0], s.by_kind[1], s.by_kind[2], s.passes, s.secs, s.cpu_s);
	return s;
}

/* mode_savings - MiB saved for two paused QEMUs with the same guest image. */
void mode_savings(struct result *r)
{
	char dir[] = "/tmp/ksm-bench.XXXXXX", image[PATH_MAX];
	long img_pages = MIB_PAGES(opt.image_mib);
	double saved[NENGINES][MAX_REPS], secs[NENGINES][MAX_REPS], cpu[NENGINES][MAX_REPS];
	double shared[NENGINES][MAX_REPS], huge[NENGINES][MAX_REPS];
	int reps = opt.reps;
	long expect;

	if (opt.image_mib + IMAGE_GPA / (1 << 20) > RAM_MIB)
		die("-i %ld: the image must fit in the guest's %d MiB", opt.image_mib, RAM_MIB);
	if (access(opt.ksmctl, X_OK)) {
		errno = 0;
		die("%s is missing (make tools)", opt.ksmctl);
	}
	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(image, sizeof(image), "%s/image.bin", dir);
	expect = make_image(image, img_pages);
	note("savings: 2 paused QEMUs (-m %d, TCG) with the same %ld MiB image, %d repetitions",
	     RAM_MIB, opt.image_mib, reps);
	for (int rep = 0; rep < reps; rep++) {
		for (int k = 0; k < NENGINES; k++) {
			enum engine_id e = (enum engine_id)((rep + k) % 2);
			struct savings_run s = savings_once(e, dir, image, img_pages);

			saved[e][rep] = s.saved * (double)PAGE_SZ / (1 << 20);
			secs[e][rep] = s.secs;
			cpu[e][rep] = s.cpu_s;
			shared[e][rep] = s.image_shared;
			huge[e][rep] = s.huge_kib;
		}
	}
	unlink(image);
	rmdir(dir);

	r->mode = "savings";
	r->metric = "MiB saved (pages_sharing) for two paused QEMUs with the same image (median)";
	r->unit = "MiB";
	r->lower_better = false;
	r->target = 1.0;
	r->ours = median(saved[OURS], reps);
	r->builtin = median(saved[BUILTIN], reps);
	result_finish(r);
	json_int(&r->details, "qemu_ram_mib", RAM_MIB);
	json_int(&r->details, "image_mib", opt.image_mib);
	json_num(&r->details, "image_nonzero_mib_saved_expected", expect * (double)PAGE_SZ / (1 << 20));
	json_num(&r->details, "ours_image_pages_shared", median(shared[OURS], reps));
	json_num(&r->details, "builtin_image_pages_shared", median(shared[BUILTIN], reps));
	json_num(&r->details, "ours_qemu_anon_huge_kib", median(huge[OURS], reps));
	json_num(&r->details, "builtin_qemu_anon_huge_kib", median(huge[BUILTIN], reps));
	json_num(&r->details, "ours_s", median(secs[OURS], reps));
	json_num(&r->details, "builtin_s", median(secs[BUILTIN], reps));
	json_num(&r->details, "ours_cpu_s", median(cpu[OURS], reps));
	json_num(&r->details, "builtin_cpu_s", median(cpu[BUILTIN], reps));
	sb_printf(&r->table, "  %-34s %12s %12s %8s\n", "", "ours", "builtin", "ratio");
	sb_printf(&r->table, "  %-34s %12.1f %12.1f %8.3f\n", "MiB saved", r->ours, r->builtin,
		  r->ratio);
	sb_printf(&r->table, "  %-34s %12.1f %12.1f\n", "time until stable (s)",
		  median(secs[OURS], reps), median(secs[BUILTIN], reps));
	sb_printf(&r->table, "  %-34s %12.1f %12.1f\n", "scanner CPU (s)",
		  median(cpu[OURS], reps), median(cpu[BUILTIN], reps));
	sb_printf(&r->table, "  %-34s %12.1f\n", "MiB the image's non-zero pages save",
		  expect * (double)PAGE_SZ / (1 << 20));
}
