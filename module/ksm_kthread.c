// SPDX-License-Identifier: GPL-2.0
/*
 * kksmd: the background scanner. It exists only while started
 * (KSM_START_STOP_KTHREAD with running = 1); it scans pages_to_scan pages,
 * merging at most max_pages_to_merge, then sleeps `sleep' microseconds, at
 * nice 5, freezable. Stopping it waits for the page it is on (and, when it
 * waits for a region's lock, for that lock's holder: at most the unmerge of
 * that region on its removal).
 * With the scan-time advisor on, it sets pages_to_scan itself after each
 * full pass.
 */
#include "ksm_internal.h"

#include <linux/freezer.h>
#include <linux/ktime.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/wait.h>

/* Upper bound of the sleep setting: one minute. */
#define KSMDEV_MAX_SLEEP_US (60U * USEC_PER_SEC)

/* Protects the settings below (but the advisor's pages_to_scan) and the thread's start and stop. */
static DEFINE_MUTEX(ksmdev_kthread_lock);

/*
 * The settings (running mirrors whether the thread exists). Written under
 * ksmdev_kthread_lock, and pages_to_scan also by the thread itself when the
 * scan-time advisor is on (ksmdev_advise(): the advisor has the last word,
 * a value set meanwhile is where it starts from); read with READ_ONCE().
 */
static struct ksm_kthread_info ksmdev_kthread_info = {
	.sleep = 10000,
	.pages_to_scan = 100,
	.max_pages_to_merge = 100,
};

/* Bumped on every settings change, to wake the thread from its sleep. */
static atomic_t ksmdev_kthread_gen = ATOMIC_INIT(0);

static struct task_struct *ksmdev_kthread_task;	/* ksmdev_kthread_lock */
static struct ksmdev_scanner ksmdev_kthread_scanner;	/* the thread's cursor */
static DECLARE_WAIT_QUEUE_HEAD(ksmdev_kthread_wait);

static bool ksmdev_kthread_should_stop(void)
{
	return kthread_should_stop() || freezing(current);
}

/* Time kksmd spent scanning and in all (ns) since its current pass began. */
struct ksmdev_advisor_clock {
	u64 work;
	u64 total;
};

/*
 * ksmdev_advise - the scan-time advisor, after a pass of kksmd ended
 *
 * Scales pages_to_scan so that the next pass takes advisor_target_scan_ms,
 * by at most a factor of 4 either way, then lowers it so that kksmd's share
 * of a CPU (work / (work + sleep)) stays within advisor_max_cpu, and keeps it
 * between the min and max bounds. Called by the thread only.
 */
static void ksmdev_advise(struct ksmdev_advisor_clock *clock)
{
	u64 pages = READ_ONCE(ksmdev_kthread_info.pages_to_scan);
	u64 last = ksmdev_kthread_scanner.last_pass_ms;
	u64 target = READ_ONCE(ksmdev_cfg.advisor_target_scan_ms);
	u64 max_cpu = READ_ONCE(ksmdev_cfg.advisor_max_cpu);
	u64 want = pages, cpu;

	if (last && target)
		want = clamp(div64_u64(pages * last, target), pages / 4, pages * 4);
	if (clock->total) {
		cpu = div64_u64(clock->work * 100, clock->total);
		if (cpu > max_cpu)
			want = min(want, div64_u64(pages * max_cpu, cpu));
	}
	want = clamp_t(u64, want, READ_ONCE(ksmdev_cfg.advisor_min_pages_to_scan),
		       READ_ONCE(ksmdev_cfg.advisor_max_pages_to_scan));
	WRITE_ONCE(ksmdev_kthread_info.pages_to_scan, want);
	clock->work = 0;
	clock->total = 0;
}

static int ksmdev_kthread_fn(void *unused)
{
	struct ksmdev_advisor_clock clock = { 0, 0 };

	set_freezable();

	while (!kthread_should_stop()) {
		struct ksmdev_scan_ctl ctl = {
			.to_scan = READ_ONCE(ksmdev_kthread_info.pages_to_scan),
			.max_merge = READ_ONCE(ksmdev_kthread_info.max_pages_to_merge),
			.should_stop = ksmdev_kthread_should_stop,
		};
		int gen = atomic_read(&ksmdev_kthread_gen);
		u64 t0 = ktime_get_ns(), t1;
		unsigned int sleep;

		ksmdev_scan(&ksmdev_kthread_scanner, &ctl);
		t1 = ktime_get_ns();

		sleep = READ_ONCE(ksmdev_kthread_info.sleep);
		if (sleep)
			wait_event_freezable_timeout(ksmdev_kthread_wait,
						     kthread_should_stop() ||
						     atomic_read(&ksmdev_kthread_gen) != gen,
						     usecs_to_jiffies(sleep));
		else
			try_to_freeze();
		cond_resched();

		clock.work += t1 - t0;
		clock.total += ktime_get_ns() - t0;
		if (ctl.full_scans &&
		    READ_ONCE(ksmdev_cfg.advisor_mode) == KSM_ADVISOR_SCAN_TIME)
			ksmdev_advise(&clock);
		else if (ctl.full_scans)
			clock.work = clock.total = 0;
	}
	return 0;
}

/**
 * ksmdev_kthread_set - KSM_START_STOP_KTHREAD
 *
 * running = 1 starts kksmd (or changes the settings of the running one):
 * sleep must be at most one minute, pages_to_scan and max_pages_to_merge at
 * least 1. running = 0 stops it; the other fields are then ignored (the 2008
 * ksmctl leaves them uninitialised). Returns 0, -EINVAL, or the error of
 * creating the thread.
 */
int ksmdev_kthread_set(const struct ksm_kthread_info *info)
{
	struct task_struct *task;
	int ret = 0;

	if (info->running > 1)
		return -EINVAL;
	if (info->running && (info->sleep > KSMDEV_MAX_SLEEP_US || !info->pages_to_scan ||
			      !info->max_pages_to_merge))
		return -EINVAL;

	mutex_lock(&ksmdev_kthread_lock);
	if (!info->running) {
		task = ksmdev_kthread_task;
		ksmdev_kthread_task = NULL;
		WRITE_ONCE(ksmdev_kthread_info.running, 0);
		if (task)
			kthread_stop(task);
		goto unlock;
	}

	WRITE_ONCE(ksmdev_kthread_info.sleep, info->sleep);
	WRITE_ONCE(ksmdev_kthread_info.pages_to_scan, info->pages_to_scan);
	WRITE_ONCE(ksmdev_kthread_info.max_pages_to_merge, info->max_pages_to_merge);
	atomic_inc(&ksmdev_kthread_gen);
	if (ksmdev_kthread_task) {
		wake_up(&ksmdev_kthread_wait);
		goto unlock;
	}
	task = kthread_create(ksmdev_kthread_fn, NULL, "kksmd");
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		goto unlock;
	}
	/* Its priority is set before it first runs: the ioctl returns with it in place. */
	set_user_nice(task, 5);
	wake_up_process(task);
	ksmdev_kthread_task = task;
	WRITE_ONCE(ksmdev_kthread_info.running, 1);
unlock:
	mutex_unlock(&ksmdev_kthread_lock);
	return ret;
}

/* ksmdev_kthread_get - KSM_GET_INFO_KTHREAD: the current settings. */
void ksmdev_kthread_get(struct ksm_kthread_info *info)
{
	mutex_lock(&ksmdev_kthread_lock);
	info->sleep = ksmdev_kthread_info.sleep;
	info->pages_to_scan = READ_ONCE(ksmdev_kthread_info.pages_to_scan);	/* the advisor's too */
	info->max_pages_to_merge = ksmdev_kthread_info.max_pages_to_merge;
	info->running = ksmdev_kthread_info.running;
	mutex_unlock(&ksmdev_kthread_lock);
}

/* Set up the thread's cursor at load. */
void ksmdev_kthread_init(void)
{
	ksmdev_scanner_init(&ksmdev_kthread_scanner, NULL);	/* kksmd scans every region */
}

/* At unload: stop the thread if it runs, and drop its cursor. */
void ksmdev_kthread_exit(void)
{
	struct ksm_kthread_info stop = { .running = 0 };

	ksmdev_kthread_set(&stop);
	ksmdev_scanner_release(&ksmdev_kthread_scanner);
}
