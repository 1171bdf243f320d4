// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_paused - two unmodified qemu-system-x86_64 under `ksmctl run' get their
 * guest RAM registered, and kksmd merges what their RAMs have in common.
 *
 * Both QEMUs are paused (-S, TCG), with the same firmware (the default) and
 * the same 1 MiB random blob loaded into guest RAM at 2 MiB
 * (-device loader), plus a 256 KiB blob of their own at 4 MiB. QEMU
 * madvise(MADV_MERGEABLE)s its RAM; the preload library registers it. With
 * kksmd started by `ksmctl start', the test waits until every page of the
 * common blob maps the same pfn in both processes (/proc/PID/pagemap), and
 * checks that the blobs of their own were not merged and that the guest RAM
 * still holds what was loaded (/proc/PID/mem).
 */
#include "ktest.h"
#include "helpers/qemu.h"

#define RAM_MIB 128
#define COMMON_GPA 0x200000UL
#define COMMON_LEN (1UL << 20)
#define OWN_GPA 0x400000UL
#define OWN_LEN (256UL << 10)

int main(void)
{
	static char common[COMMON_LEN], own[2][OWN_LEN];
	char dir[64], common_path[96], own_path[2][96], log[2][96], out[4096];
	char loader_common[160], loader_own[2][160];
	uint64_t ram_size = (uint64_t)RAM_MIB << 20;
	unsigned long npages = COMMON_LEN / QPAGE, own_pages = OWN_LEN / QPAGE;
	unsigned long shared = 0, own_shared = 0;
	struct ksm_stats st0, st;
	uintptr_t ram[2];
	pid_t pid[2];
	int dev, rc;

	ktest_find_ksmctl();
	dev = ksm_open();
	snprintf(dir, sizeof(dir), "/tmp/ksm-qemu-paused.%d", getpid());
	if (mkdir(dir, 0755))
		ktest_fatal("mkdir %s", dir);
	snprintf(common_path, sizeof(common_path), "%s/common.bin", dir);
	qemu_make_blob(common_path, common, COMMON_LEN);
	snprintf(loader_common, sizeof(loader_common), "loader,file=%s,addr=0x%lx", common_path,
		 COMMON_GPA);
	if (ksmu_stats(dev, &st0))
		ktest_fatal("KSM_GET_STATS");

	for (int q = 0; q < 2; q++) {
		char mem[16];

		snprintf(own_path[q], sizeof(own_path[q]), "%s/own%d.bin", dir, q);
		qemu_make_blob(own_path[q], own[q], OWN_LEN);
		snprintf(loader_own[q], sizeof(loader_own[q]), "loader,file=%s,addr=0x%lx",
			 own_path[q], OWN_GPA);
		snprintf(log[q], sizeof(log[q]), "%s/qemu%d.log", dir, q);
		snprintf(mem, sizeof(mem), "%d", RAM_MIB);
		const char *args[] = { "-accel", "tcg", "-S", "-m", mem, "-display", "none",
				       "-nodefaults", "-monitor", "none",
				       "-device", loader_common, "-device", loader_own[q], NULL };

		pid[q] = qemu_start(args, log[q]);
	}
	for (int q = 0; q < 2; q++) {
		ram[q] = ksmu_qemu_wait_ready(pid[q], ram_size, COMMON_GPA, common, COMMON_LEN, true,
					      90);
		if (!ktest_ok(ram[q] != 0,
			      "QEMU %d (pid %d): guest RAM mapped at 0x%lx, registered, holding the "
			      "blob", q, pid[q], (unsigned long)ram[q])) {
			qemu_show_log(log[q]);
			for (int k = 0; k < 2; k++)
				ksmu_terminate(pid[k]);
			return ktest_done();
		}
	}
	if (ksmu_stats(dev, &st))
		ktest_fatal("KSM_GET_STATS");
	ktest_ok(st.region_pages - st0.region_pages >= 2 * ram_size / QPAGE,
		 "both guest RAMs are registered: region_pages %+lld (>= 2 x %llu)",
		 (long long)(st.region_pages - st0.region_pages),
		 (unsigned long long)(ram_size / QPAGE));

	rc = ksmctl_run(out, sizeof(out), "start 4000 4000 5000");
	ktest_ok(rc == 0 && !strcmp(out, "created scanner\n"),
		 "ksmctl start 4000 4000 5000: kksmd runs (%d: %s)", rc, qemu_oneline(out));

	for (int i = 0; i < 450 && shared < npages; i++) {	/* 90 s at most */
		usleep(200000);
		shared = ktest_same_pfns(pid[0], ram[0] + COMMON_GPA, pid[1], ram[1] + COMMON_GPA,
					 npages);
	}
	ktest_ok(shared == npages,
		 "every page of the common blob maps one pfn in both QEMUs (%lu of %lu)", shared,
		 npages);
	for (unsigned long i = 0; i < own_pages; i++) {
		uint64_t f0 = ksmu_pagemap_pfn(pid[0], (void *)(ram[0] + OWN_GPA + i * QPAGE));

		for (unsigned long k = 0; k < own_pages; k++) {
			uint64_t f1 = ksmu_pagemap_pfn(pid[1], (void *)(ram[1] + OWN_GPA + k * QPAGE));

			own_shared += f0 && f0 == f1;
		}
	}
	ktest_ok(own_shared == 0, "the blobs of their own were not merged (%lu pages)",
		 own_shared);
	ktest_ok(ksmu_holds(pid[0], ram[0] + COMMON_GPA, common, COMMON_LEN) &&
		 ksmu_holds(pid[1], ram[1] + COMMON_GPA, common, COMMON_LEN) &&
		 ksmu_holds(pid[0], ram[0] + OWN_GPA, own[0], OWN_LEN) &&
		 ksmu_holds(pid[1], ram[1] + OWN_GPA, own[1], OWN_LEN),
		 "both guest RAMs still hold what was loaded");
	ktest_diag("saved in the blob alone: %lu pages, %lu KiB", shared,
		   shared * (unsigned long)QPAGE / 1024);
	qemu_show_saved();

	rc = ksmctl_run(out, sizeof(out), "stop");
	ktest_ok(rc == 0 && !strcmp(out, "stopped scanner\n"), "ksmctl stop (%d: %s)", rc, qemu_oneline(out));
	for (int q = 0; q < 2; q++) {
		int status = ksmu_terminate(pid[q]);

		if (!ktest_ok(ksmu_qemu_find_ram(pid[q], ram_size) == 0 &&
			      (!WIFSIGNALED(status) || WTERMSIG(status) == SIGTERM),
			      "QEMU %d ends on SIGTERM (status 0x%x)", q, status))
			qemu_show_log(log[q]);
	}
	if (ksmu_stats(dev, &st))
		ktest_fatal("KSM_GET_STATS");
	ktest_ok(st.regions == st0.regions,
		 "their regions went away with them (regions %llu, before %llu)",
		 (unsigned long long)st.regions, (unsigned long long)st0.regions);
	for (int q = 0; q < 2; q++) {
		unlink(own_path[q]);
		unlink(log[q]);
	}
	unlink(common_path);
	rmdir(dir);
	return ktest_done();
}
