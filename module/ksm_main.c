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

unsigned long ksmdev_page_hash_size;
module_param_named(page_hash_size, ksmdev_page_hash_size, ulong, 0444);
MODULE_PARM_DESC(page_hash_size,
		 "Buckets of the page content hash table (0: a quarter of the RAM pages; rounded up to a power of two)");

static unsigned long ksmdev_rmap_hash_size;
module_param_named(rmap_hash_size, ksmdev_rmap_hash_size, ulong, 0444);
MODULE_PARM_DESC(rmap_hash_size,
		 "Accepted for compatibility with the 2008 driver and unused: the reverse map is a per-region array");

unsigned long ksmdev_sha1_hash_size;
module_param_named(sha1_hash_size, ksmdev_sha1_hash_size, ulong, 0444);
MODULE_PARM_DESC(sha1_hash_size,
		 "Buckets of the kernel-page table by pfn, the SHA-1 cache (0: RAM pages / 16; rounded up to a power of two)");

unsigned int ksmdev_max_regions = 65536;
module_param_named(max_regions, ksmdev_max_regions, uint, 0444);
MODULE_PARM_DESC(max_regions, "Most regions registered at once, system wide");

unsigned int ksmdev_max_regions_per_sma = 4096;
module_param_named(max_regions_per_sma, ksmdev_max_regions_per_sma, uint, 0444);
MODULE_PARM_DESC(max_regions_per_sma, "Most regions registered on one SMA fd");

unsigned long ksmdev_max_kernel_pages;
module_param_named(max_kernel_pages, ksmdev_max_kernel_pages, ulong, 0444);
MODULE_PARM_DESC(max_kernel_pages,
		 "Most kernel pages (unswappable) the module may hold (0: half of the RAM pages)");

static char *ksmdev_test_require_symbol;
module_param_named(test_require_symbol, ksmdev_test_require_symbol, charp, 0);
MODULE_PARM_DESC(test_require_symbol,
		 "For tests: one more kernel function that must resolve for the load to succeed");

static int __init ksmdev_init(void)
{
	int ret;

	ret = ksmdev_syms_init(ksmdev_test_require_symbol);
	if (ret)
		return ret;
	if (!ksmdev_max_kernel_pages)
		ksmdev_max_kernel_pages = totalram_pages() / 2;
	if (ksmdev_rmap_hash_size)
		pr_info("rmap_hash_size is accepted for compatibility and unused\n");

	ret = ksmdev_hash_init();
	if (ret)
		return ret;
	ksmdev_kthread_init();
	ret = ksmdev_dev_init();
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", KSMDEV_NAME, ret);
		ksmdev_kthread_exit();
		ksmdev_hash_exit();
		return ret;
	}
	pr_info("loaded: %lu hash buckets, %lu pfn buckets, at most %lu kernel pages\n",
		ksmdev_page_hash_size, ksmdev_sha1_hash_size, ksmdev_max_kernel_pages);
	return 0;
}

static void __exit ksmdev_exit(void)
{
	ksmdev_dev_exit();
	ksmdev_kthread_exit();
	ksmdev_regions_exit();
	ksmdev_hash_exit();
	pr_info("unloaded\n");
}

module_init(ksmdev_init);
module_exit(ksmdev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("ksm developers; after the 2008 driver by Izik Eidus, Andrea Arcangeli, Chris Wright");
MODULE_DESCRIPTION("Kernel shared memory: merges identical pages of processes registered with /dev/ksm");
MODULE_VERSION("0.1");
