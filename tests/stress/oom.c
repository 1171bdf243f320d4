// SPDX-License-Identifier: GPL-2.0
/*
 * Merging at the edge of OOM: a hog eats memory until the OOM killer kills
 * it, while kksmd merges and three processes keep writing registered pages.
 * The survivors' memory must be intact, and after everything exits the
 * module holds nothing (counters and slab caches back to where they began).
 */
#include "ktest.h"

static void set_oom_adj(pid_t pid, const char *v)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", pid);
	ksmu_write_str(path, v);
}

int main(void)
{
	const long n = 4096;
	int dev = ksm_open();
	struct ksm_kthread_info on = { .sleep = 0, .pages_to_scan = 1024, .max_pages_to_merge = 1024,
				       .running = 1 }, off = { .running = 0 };
	long items0 = ksmu_slab_objects("ksmdev_item"), kpages0 = ksmu_slab_objects("ksmdev_kpage");
	struct peer p[3];

	set_oom_adj(getpid(), "-1000");
	for (int i = 0; i < 3; i++) {
		p[i] = peer_start(dev, n, 55, n / 4);
		set_oom_adj(p[i].pid, "-1000");
	}
	ktest_ok(ioctl(dev, KSM_START_STOP_KTHREAD, &on) == 0, "kksmd unthrottled");

	pid_t hog = fork();

	if (!hog) {
		set_oom_adj(getpid(), "1000");
		for (;;) {
			char *m = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

			if (m == MAP_FAILED)
				continue;
			/*
			 * Small pages: at the edge of OOM a 6.12 guest under TCG was caught
			 * three times not scheduling for over 120 s in the hog's huge-page
			 * faults (soft lockup, cause not found; the hog never uses the
			 * module). The hog only has to eat memory.
			 */
			madvise(m, 64 << 20, MADV_NOHUGEPAGE);
			for (long k = 0; k < (64 << 20); k += 4096)
				m[k] = (char)k | 1;	/* distinct, never mergeable: it eats memory */
		}
	}
	int st = 0, round = 0;
	bool ok = true;

	while (waitpid(hog, &st, WNOHANG) == 0) {
		for (int i = 0; i < 3; i++) {
			peer_cmd(&p[i], PEER_WRITE, (round * 7 + i) % n, round % 4096, round);
			ok &= peer_check(&p[i]);
		}
		round++;
	}
	ktest_ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the hog was killed by the OOM killer (status %#x)", st);
	ktest_ok(ok, "%d rounds of writes and checks while memory ran out", round);
	for (int i = 0; i < 3; i++)
		ktest_ok(peer_check(&p[i]), "survivor %d: every byte right", i);
	struct ksm_stats s;

	ksmu_stats(dev, &s);
	ktest_ok(s.pages_sharing > 0, "merging went on (%llu pages sharing)", (unsigned long long)s.pages_sharing);
	ioctl(dev, KSM_START_STOP_KTHREAD, &off);
	for (int i = 0; i < 3; i++)
		peer_stop(&p[i]);
	ktest_ok(KTEST_WAIT(ksmu_stats(dev, &s) == 0 && s.regions == 0 && s.kpages_held == 0 &&
			    s.unstable_pages == 0, 10000), "afterwards the module holds nothing");
	/* Kernel page entries are freed an RCU grace period after their last reference. */
	ktest_ok(KTEST_WAIT(ksmu_slab_objects("ksmdev_item") == items0 &&
			    ksmu_slab_objects("ksmdev_kpage") == kpages0, 10000),
		 "slab caches back to the baseline (%ld/%ld, %ld/%ld)", ksmu_slab_objects("ksmdev_item"), items0,
		 ksmu_slab_objects("ksmdev_kpage"), kpages0);
	return ktest_done();
}
