// SPDX-License-Identifier: GPL-2.0
/*
 * The device and its ioctls: /dev/ksm (a misc device, root only by default),
 * the SMA fds it creates (regions) and the scan fds (synchronous scans).
 * Every ioctl validates all of its input; an ioctl a fd does not know gets
 * -ENOTTY.
 */
#include "ksm_internal.h"

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

/* ---- SMA fds ---- */

/*
 * The last reference to the SMA fd is gone (whoever held it last): its
 * regions go too.
 */
static int ksmdev_sma_release(struct inode *inode, struct file *file)
{
	struct ksmdev_sma *sma = file->private_data;

	ksmdev_sma_remove(sma, 0, false, NULL);
	mmdrop(sma->owner);
	kfree(sma);
	return 0;
}

/* Read a struct ksm_unmerge, check its input fields, zero its outputs. */
static int ksmdev_get_unmerge_args(struct ksm_unmerge *u, void __user *argp)
{
	if (copy_from_user(u, argp, sizeof(*u)))
		return -EFAULT;
	if (u->flags || u->reserved0 || memchr_inv(u->reserved, 0, sizeof(u->reserved)))
		return -EINVAL;
	u->pages_unmerged = 0;
	u->pages_failed = 0;
	return 0;
}

/* Write back a struct ksm_unmerge after an unmerge that returned @ret. */
static int ksmdev_put_unmerge_result(struct ksm_unmerge *u, void __user *argp, int ret)
{
	if (copy_to_user(argp, u, sizeof(*u)))
		return -EFAULT;
	return ret;
}

/*
 * An SMA acts only for the process that created it: another one (a fork
 * child that inherited the fd, a process it was passed to over SCM_RIGHTS)
 * may not register, remove, unmerge, change the domain or read the counters
 * of the creator's regions, nor join its domain (docs/security.md).
 */
static bool ksmdev_sma_owner(struct ksmdev_sma *sma)
{
	return current->mm == sma->owner;
}

static long ksmdev_sma_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ksmdev_sma *sma = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case KSM_REGISTER_MEMORY_REGION:
	case KSM_REMOVE_MEMORY_REGION:
	case KSM_REMOVE_MEMORY_REGION_EXT:
	case KSM_SMA_SET_DOMAIN:
	case KSM_SMA_GET_STATS:
	case KSM_UNMERGE:
		if (!ksmdev_sma_owner(sma))
			return -EPERM;
		break;
	default:
		return -ENOTTY;
	}

	switch (cmd) {
	case KSM_REGISTER_MEMORY_REGION: {
		struct ksm_memory_region mem;

		if (copy_from_user(&mem, argp, sizeof(mem)))
			return -EFAULT;
		/* mem.pad is ignored: 2008 callers (QEMU) left it uninitialised. */
		return ksmdev_region_register(sma, mem.addr, mem.npages);
	}
	case KSM_REMOVE_MEMORY_REGION:
		return ksmdev_sma_remove(sma, 0, false, NULL);
	case KSM_REMOVE_MEMORY_REGION_EXT: {
		struct ksm_remove_region rm;
		struct ksm_unmerge res = { 0 };

		if (copy_from_user(&rm, argp, sizeof(rm)))
			return -EFAULT;
		if ((rm.flags & ~KSM_REMOVE_UNMERGE) || rm.reserved0 ||
		    memchr_inv(rm.reserved, 0, sizeof(rm.reserved)) || (rm.addr & ~PAGE_MASK))
			return -EINVAL;
		return ksmdev_sma_remove(sma, rm.addr, rm.flags & KSM_REMOVE_UNMERGE, &res);
	}
	case KSM_SMA_SET_DOMAIN: {
		struct ksm_domain d;
		int ret;

		if (copy_from_user(&d, argp, sizeof(d)))
			return -EFAULT;
		if ((d.flags & ~KSM_DOMAIN_HARDENED) || memchr_inv(d.reserved, 0, sizeof(d.reserved)))
			return -EINVAL;
		ret = ksmdev_sma_set_domain(sma, &d.domain, d.flags & KSM_DOMAIN_HARDENED);
		if (!ret && copy_to_user(argp, &d, sizeof(d)))
			ret = -EFAULT;
		return ret;
	}
	case KSM_SMA_GET_STATS: {
		struct ksm_process_stats st;

		ksmdev_sma_stats(sma, &st);
		return copy_to_user(argp, &st, sizeof(st)) ? -EFAULT : 0;
	}
	case KSM_UNMERGE: {
		struct ksm_unmerge u;
		int ret = ksmdev_get_unmerge_args(&u, argp);

		if (ret)
			return ret;
		return ksmdev_put_unmerge_result(&u, argp, ksmdev_unmerge(sma, &u));
	}
	default:
		return -ENOTTY;
	}
}

static const struct file_operations ksmdev_sma_fops = {
	.owner = THIS_MODULE,
	.release = ksmdev_sma_release,
	.unlocked_ioctl = ksmdev_sma_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * KSM_CREATE_SHARED_MEMORY_AREA: a new, empty SMA of the calling process.
 * Returns its fd, close on exec (the 2008 driver's was not; after exec its
 * regions are gone anyway, and a leaked fd would only keep the module busy).
 */
static int ksmdev_create_sma(void)
{
	struct ksmdev_sma *sma;
	int fd;

	if (!current->mm)
		return -EINVAL;
	sma = kzalloc(sizeof(*sma), GFP_KERNEL_ACCOUNT);
	if (!sma)
		return -ENOMEM;
	INIT_LIST_HEAD(&sma->regions);
	sma->owner = current->mm;
	mmgrab(sma->owner);
	fd = anon_inode_getfd("ksm-sma", &ksmdev_sma_fops, sma, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		mmdrop(sma->owner);
		kfree(sma);
	}
	return fd;
}

/* ---- scan fds ---- */

static bool ksmdev_signal_pending(void)
{
	return signal_pending(current);
}

static int ksmdev_scan_release(struct inode *inode, struct file *file)
{
	struct ksmdev_scanner *s = file->private_data;

	ksmdev_scanner_release(s);
	kfree(s);
	return 0;
}

/*
 * Run one synchronous scan on @s. A signal that cut it short returns -EINTR
 * once a page was scanned or a pass completed (what was done stays done, and
 * is reported), -ERESTARTSYS before: with nothing done, a handler with
 * SA_RESTART sees the call restarted.
 */
static int ksmdev_scan_run(struct ksmdev_scanner *s, struct ksmdev_scan_ctl *ctl)
{
	int ret;

	ctl->should_stop = ksmdev_signal_pending;
	ret = ksmdev_scan(s, ctl);
	if (!ret && ctl->scanned < ctl->to_scan && signal_pending(current))
		ret = ctl->scanned || ctl->full_scans ? -EINTR : -ERESTARTSYS;
	return ret;
}

static long ksmdev_scan_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ksmdev_scanner *s = file->private_data;
	void __user *argp = (void __user *)arg;
	struct ksmdev_scan_ctl ctl = { 0 };

	switch (cmd) {
	case KSM_SCAN: {
		struct ksm_user_scan scan;

		if (copy_from_user(&scan, argp, sizeof(scan)))
			return -EFAULT;
		/* As in 2008: nothing to do unless both counts are positive. */
		if (!scan.pages_to_scan || !scan.max_pages_to_merge)
			return 0;
		ctl.to_scan = scan.pages_to_scan;
		ctl.max_merge = scan.max_pages_to_merge;
		return ksmdev_scan_run(s, &ctl);
	}
	case KSM_SCAN_EXT: {
		struct ksm_scan_ext scan;
		int ret;

		if (copy_from_user(&scan, argp, sizeof(scan)))
			return -EFAULT;
		if ((scan.flags & ~KSM_SCAN_PASS_END) || scan.reserved0 ||
		    memchr_inv(scan.reserved, 0, sizeof(scan.reserved)))
			return -EINVAL;
		ctl.to_scan = scan.pages_to_scan;
		ctl.max_merge = scan.max_pages_to_merge;
		ctl.pass_end = scan.flags & KSM_SCAN_PASS_END;
		/* 0, -EINTR or -ERESTARTSYS: the results are written back in each case. */
		ret = ksmdev_scan_run(s, &ctl);
		scan.pages_scanned = ctl.scanned;
		scan.pages_merged = ctl.merged;
		scan.full_scans = ctl.full_scans;
		if (copy_to_user(argp, &scan, sizeof(scan)))
			return -EFAULT;
		return ret;
	}
	default:
		return -ENOTTY;
	}
}

static const struct file_operations ksmdev_scan_fops = {
	.owner = THIS_MODULE,
	.release = ksmdev_scan_release,
	.unlocked_ioctl = ksmdev_scan_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* KSM_CREATE_SCAN: a new scan cursor at the start. Returns its fd, close on exec. */
static int ksmdev_create_scan(void)
{
	/* Without CAP_SYS_ADMIN, the merge domains the caller has regions in only. */
	struct mm_struct *owner = capable(CAP_SYS_ADMIN) ? NULL : current->mm;
	struct ksmdev_scanner *s;
	int fd;

	if (!owner && !capable(CAP_SYS_ADMIN))
		return -EINVAL;
	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return -ENOMEM;
	ksmdev_scanner_init(s, owner);
	fd = anon_inode_getfd("ksm-scan", &ksmdev_scan_fops, s, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ksmdev_scanner_release(s);
		kfree(s);
	}
	return fd;
}

/* ---- /dev/ksm ---- */

static void ksmdev_get_features(struct ksm_features *f)
{
	memset(f, 0, sizeof(*f));
	f->api_version = KSM_API_VERSION;
	f->page_size = PAGE_SIZE;
	f->features = KSM_FEATURE_GET_FEATURES | KSM_FEATURE_INFO_KTHREAD_R |
		      KSM_FEATURE_STATS | KSM_FEATURE_SCAN_EXT |
		      KSM_FEATURE_CONFIG | KSM_FEATURE_UNMERGE | KSM_FEATURE_DOMAINS |
		      KSM_FEATURE_PROCESS_STATS | KSM_FEATURE_ZERO_PAGES | KSM_FEATURE_NUMA |
		      KSM_FEATURE_VOLATILITY | KSM_FEATURE_SMART_SCAN | KSM_FEATURE_ADVISOR |
		      KSM_FEATURE_HARDENED;
	/* Kernels without THP (PREEMPT_RT ones) have no huge page to split. */
	if (IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE))
		f->features |= KSM_FEATURE_THP;
}

/*
 * KSM_GET_PROCESS_STATS: the counters of process @st->pid (0: the caller).
 * Another process's needs CAP_SYS_ADMIN (its memory layout is its business).
 * Returns 0, -EINVAL, -EPERM, -ESRCH (no such process, or no memory).
 */
static int ksmdev_process_stats(struct ksm_process_stats *st)
{
	struct task_struct *task;
	struct mm_struct *mm;
	struct pid *pid;

	if (st->reserved0 || memchr_inv(st->reserved, 0, sizeof(st->reserved)))
		return -EINVAL;
	if (!st->pid || st->pid == task_tgid_vnr(current)) {
		ksmdev_mm_stats(current->mm, st);
		return 0;
	}
	if (st->pid < 0)
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	pid = find_get_pid(st->pid);
	task = pid ? get_pid_task(pid, PIDTYPE_TGID) : NULL;
	put_pid(pid);
	if (!task)
		return -ESRCH;
	mm = get_task_mm(task);
	put_task_struct(task);
	if (!mm)
		return -ESRCH;
	ksmdev_mm_stats(mm, st);
	mmput(mm);
	return 0;
}

static long ksmdev_dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case KSM_GET_API_VERSION:
		return KSM_API_VERSION;
	case KSM_CREATE_SHARED_MEMORY_AREA:
		return ksmdev_create_sma();
	case KSM_CREATE_SCAN:
		return ksmdev_create_scan();
	case KSM_START_STOP_KTHREAD: {
		struct ksm_kthread_info info;

		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (copy_from_user(&info, argp, sizeof(info)))
			return -EFAULT;
		return ksmdev_kthread_set(&info);
	}
	case KSM_GET_INFO_KTHREAD:
	case KSM_GET_INFO_KTHREAD_R: {
		struct ksm_kthread_info info;

		ksmdev_kthread_get(&info);
		if (copy_to_user(argp, &info, sizeof(info)))
			return -EFAULT;
		return 0;
	}
	case KSM_GET_FEATURES: {
		struct ksm_features f;

		ksmdev_get_features(&f);
		if (copy_to_user(argp, &f, sizeof(f)))
			return -EFAULT;
		return 0;
	}
	case KSM_GET_CONFIG: {
		struct ksm_config cfg;

		ksmdev_config_get(&cfg);
		return copy_to_user(argp, &cfg, sizeof(cfg)) ? -EFAULT : 0;
	}
	case KSM_SET_CONFIG: {
		struct ksm_config cfg;

		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (copy_from_user(&cfg, argp, sizeof(cfg)))
			return -EFAULT;
		return ksmdev_config_set(&cfg);
	}
	case KSM_UNMERGE_ALL: {
		struct ksm_unmerge u;
		int ret;

		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		ret = ksmdev_get_unmerge_args(&u, argp);
		if (ret)
			return ret;
		return ksmdev_put_unmerge_result(&u, argp, ksmdev_unmerge(NULL, &u));
	}
	case KSM_GET_PROCESS_STATS: {
		struct ksm_process_stats st;
		int ret;

		if (copy_from_user(&st, argp, sizeof(st)))
			return -EFAULT;
		ret = ksmdev_process_stats(&st);
		if (!ret && copy_to_user(argp, &st, sizeof(st)))
			ret = -EFAULT;
		return ret;
	}
	case KSM_GET_STATS: {
		struct ksm_stats *st;
		int ret = 0;

		/* System-wide figures tell of every tenant's merges. */
		if (!ksmdev_public_stats && !capable(CAP_SYS_ADMIN))
			return -EPERM;
		st = kmalloc(sizeof(*st), GFP_KERNEL);
		if (!st)
			return -ENOMEM;
		ksmdev_stats_read(st);
		if (copy_to_user(argp, st, sizeof(*st)))
			ret = -EFAULT;
		kfree(st);
		return ret;
	}
	default:
		return -ENOTTY;
	}
}

static const struct file_operations ksmdev_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = ksmdev_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice ksmdev_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = KSMDEV_NAME,
	.fops = &ksmdev_dev_fops,
	.mode = 0600,
	.groups = ksmdev_attr_groups,
};

/* Register /dev/ksm: the last step of loading, the first of unloading. */
int ksmdev_dev_init(void)
{
	return misc_register(&ksmdev_misc);
}

void ksmdev_dev_exit(void)
{
	misc_deregister(&ksmdev_misc);
}
