// SPDX-License-Identifier: GPL-2.0
/*
 * ksm - merges identical pages of the processes that register memory with
 * /dev/ksm, and gives the memory back.
 *
 * A revival of the 2008 /dev/ksm driver by Izik Eidus, Andrea Arcangeli and
 * Chris Wright (Red Hat), for today's kernels, as an out-of-tree module.
 *
 * This file: module parameters, load and unload.
 */
#include "ksm_internal.h"

#include <linux/module.h>
#include <linux/moduleparam.h>

static unsigned long ksmdev_rmap_hash_size;
module_param_named(rmap_hash_size, ksmdev_rmap_hash_size, ulong, 0444);
MODULE_PARM_DESC(rmap_hash_size,
		 "Accepted for compatibility with the 2008 driver and unused: the reverse map is a per-region list");

static char *ksmdev_test_require_symbol;
module_param_named(test_require_symbol, ksmdev_test_require_symbol, charp, 0);
MODULE_PARM_DESC(test_require_symbol,
		 "For tests: one more kernel function that must resolve for the load to succeed");

/*
 * Load: resolve the kernel functions, then set up the layers bottom-up
 * (page contents, kernel pages, items, the content table, the registry's
 * tables, kksmd's cursor) and open /dev/ksm last.
 */
static int __init ksmdev_init(void)
{
	int ret;

	ret = ksmdev_syms_init(ksmdev_test_require_symbol);
	if (ret)
		return ret;
	if (ksmdev_rmap_hash_size)
		pr_info("rmap_hash_size is accepted for compatibility and unused\n");

	ret = ksmdev_page_init();
	if (ret)
		return ret;
	ret = ksmdev_kpool_init();
	if (ret)
		goto page_exit;
	ret = ksmdev_kpage_init();
	if (ret)
		goto kpool_exit;
	ret = ksmdev_region_init();
	if (ret)
		goto kpage_exit;
	ret = ksmdev_table_init();
	if (ret)
		goto region_exit;
	ret = ksmdev_registry_init();
	if (ret)
		goto table_exit;
	ksmdev_kthread_init();
	ret = ksmdev_dev_init();
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", KSMDEV_NAME, ret);
		ksmdev_kthread_exit();
		ksmdev_registry_exit();
		goto table_exit;
	}
	pr_info("loaded: at most %lu kernel pages\n", ksmdev_max_kernel_pages);
	return 0;

table_exit:
	ksmdev_table_exit();
region_exit:
	ksmdev_region_exit();
kpage_exit:
	ksmdev_kpage_exit();
kpool_exit:
	ksmdev_kpool_exit();
page_exit:
	ksmdev_page_exit();
	return ret;
}

/* Unload: /dev/ksm first (no new users), then the layers top-down. */
static void __exit ksmdev_exit(void)
{
	ksmdev_dev_exit();
	ksmdev_kthread_exit();
	ksmdev_registry_exit();
	ksmdev_table_exit();
	ksmdev_region_exit();
	ksmdev_kpage_exit();
	ksmdev_kpool_exit();
	ksmdev_page_exit();
	pr_info("unloaded\n");
}

module_init(ksmdev_init);
module_exit(ksmdev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("ksm developers; after the 2008 driver by Izik Eidus, Andrea Arcangeli, Chris Wright");
MODULE_DESCRIPTION("Kernel shared memory: merges identical pages of processes registered with /dev/ksm");
MODULE_VERSION(KSM_VERSION);	/* dkms.conf's PACKAGE_VERSION (Kbuild) */
