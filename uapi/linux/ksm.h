/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef __LINUX_KSM_H
#define __LINUX_KSM_H

/*
 * Userspace interface for /dev/ksm - kvm shared memory
 *
 * The first part of this file is the 2008 interface, unchanged: the same
 * ioctl numbers and the same struct layouts, so that a program written for
 * the 2008 header compiles against this one and works. Everything after it
 * is new: new numbers, fixed-size structs without implicit padding, reserved
 * fields that must be zero on input and are zero on output.
 *
 * The ioctl magic 0xAB is also nbd's (Documentation/userspace-api/ioctl/
 * ioctl-number.rst). It is kept for compatibility with the 2008 driver; the
 * numbers below do not collide with nbd's, which are only ever issued on nbd
 * block devices.
 *
 * See docs/ioctl.md for every call, its arguments and its errors.
 */

#include <linux/types.h>
#include <linux/ioctl.h>

#define KSM_API_VERSION 1

/* for KSM_REGISTER_MEMORY_REGION */
struct ksm_memory_region {
	__u32 npages; /* number of pages to share */
	__u32 pad;
	__u64 addr; /* the begining of the virtual address */
};

struct ksm_user_scan {
	__u32 pages_to_scan;
	__u32 max_pages_to_merge;
};

struct ksm_kthread_info {
	__u32 sleep; /* number of microsecoends to sleep */
	__u32 pages_to_scan; /* number of pages to scan */
	__u32 max_pages_to_merge;
	__u32 running;
};

#define KSMIO 0xAB

/* ioctls for /dev/ksm */
#define KSM_GET_API_VERSION              _IO(KSMIO,   0x00)
#define KSM_CREATE_SHARED_MEMORY_AREA    _IO(KSMIO,   0x01) /* return SMA fd */
#define KSM_CREATE_SCAN                  _IO(KSMIO,   0x02) /* return SCAN fd */
#define KSM_START_STOP_KTHREAD		 _IOW(KSMIO,  0x03,\
					      struct ksm_kthread_info)
/* Declared _IOW in 2008 although it writes to the caller: kept as it was. */
#define KSM_GET_INFO_KTHREAD		 _IOW(KSMIO,  0x04,\
					      struct ksm_kthread_info)


/* ioctls for SMA fds */
#define KSM_REGISTER_MEMORY_REGION       _IOW(KSMIO,  0x20,\
					      struct ksm_memory_region)
#define KSM_REMOVE_MEMORY_REGION         _IO(KSMIO,   0x21)

/* ioctls for SCAN fds */
#define KSM_SCAN                         _IOW(KSMIO,  0x40,\
					      struct ksm_user_scan)

/* ------------------------------------------------------------------------ */
/* Additions (not in the 2008 driver). Discover them with KSM_GET_FEATURES. */

/* The same call as KSM_GET_INFO_KTHREAD, with the direction encoded right. */
#define KSM_GET_INFO_KTHREAD_R           _IOR(KSMIO,  0x04,\
					      struct ksm_kthread_info)

/* Bits of ksm_features.features. */
#define KSM_FEATURE_GET_FEATURES	(1ULL << 0)  /* KSM_GET_FEATURES */
#define KSM_FEATURE_INFO_KTHREAD_R	(1ULL << 1)  /* KSM_GET_INFO_KTHREAD_R */
#define KSM_FEATURE_STATS		(1ULL << 2)  /* KSM_GET_STATS */
#define KSM_FEATURE_SCAN_EXT		(1ULL << 3)  /* KSM_SCAN_EXT */
#define KSM_FEATURE_THP			(1ULL << 4)  /* THP inside regions merges */
#define KSM_FEATURE_CONFIG		(1ULL << 5)  /* KSM_GET_CONFIG, KSM_SET_CONFIG */
#define KSM_FEATURE_UNMERGE		(1ULL << 6)  /* KSM_UNMERGE, KSM_REMOVE_MEMORY_REGION_EXT */
#define KSM_FEATURE_DOMAINS		(1ULL << 7)  /* KSM_SMA_SET_DOMAIN */
#define KSM_FEATURE_PROCESS_STATS	(1ULL << 8)  /* KSM_SMA_GET_STATS, KSM_GET_PROCESS_STATS */
#define KSM_FEATURE_ZERO_PAGES		(1ULL << 9)  /* ksm_config.use_zero_pages */
#define KSM_FEATURE_NUMA		(1ULL << 10) /* ksm_config.merge_across_nodes */
#define KSM_FEATURE_VOLATILITY		(1ULL << 11) /* ksm_config.volatility_filter */
#define KSM_FEATURE_SMART_SCAN		(1ULL << 12) /* ksm_config.smart_scan */
#define KSM_FEATURE_ADVISOR		(1ULL << 13) /* ksm_config.advisor_* */
#define KSM_FEATURE_HARDENED		(1ULL << 14) /* KSM_DOMAIN_HARDENED */

struct ksm_features {
	__u32 api_version;	/* out: KSM_API_VERSION */
	__u32 page_size;	/* out: the kernel's PAGE_SIZE */
	__u64 features;		/* out: KSM_FEATURE_* this module supports */
	__u64 reserved[6];	/* out: zero */
};

#define KSM_GET_FEATURES                 _IOR(KSMIO,  0x05, struct ksm_features)

/*
 * Why a page was passed over by the scanner: indexes of ksm_stats.skipped[]
 * (and the files of /sys/class/misc/ksm/skipped/).
 */
enum ksm_skip_reason {
	KSM_SKIP_ABSENT = 0,	/* nothing mapped there (never touched, unmapped) */
	KSM_SKIP_NO_VMA,	/* no VMA, or a VMA that is no longer private anon */
	KSM_SKIP_SWAPPED,	/* swapped out */
	KSM_SKIP_MIGRATING,	/* under migration */
	KSM_SKIP_DEVICE,	/* device (ZONE_DEVICE) memory */
	KSM_SKIP_ZERO_PAGE,	/* maps the shared zero page */
	KSM_SKIP_PINNED,	/* may be pinned for DMA / O_DIRECT */
	KSM_SKIP_BUILTIN_KSM,	/* a page of the kernel's built-in KSM */
	KSM_SKIP_LOCKED,	/* in an mlock()ed VMA */
	KSM_SKIP_BUSY,		/* unexpected references or locked, try later */
	KSM_SKIP_SWAPCACHE,	/* in the swap cache */
	KSM_SKIP_EXITING,	/* the process is exiting */
	KSM_SKIP_THP,		/* a huge page that could not be split */
	KSM_SKIP_OTHER,		/* some other kind of page (not anonymous) */
	KSM_SKIP_HWPOISON,	/* marked hardware-poisoned: never read, never merged */
	KSM_SKIP_NR,
	KSM_SKIP_MAX = 16	/* size of ksm_stats.skipped[] */
};

/* KSM_GET_STATS: every counter of the module, system wide. */
struct ksm_stats {
	__u64 pages_shared;	/* kernel pages mapped by at least one process */
	__u64 pages_sharing;	/* mappings saved: mappings of them minus pages_shared */
	__u64 pages_scanned;	/* pages the scanners looked at */
	__u64 full_scans;	/* completed passes over all registered regions */
	__u64 merges;		/* page table entries switched to a kernel page */
	__u64 kpages_created;	/* kernel pages allocated */
	__u64 kpages_freed;	/* kernel pages freed after their last mapping went (COW, unmap) */
	__u64 kpages_held;	/* kernel pages the module holds now (pages_shared + unmapped ones) */
	__u64 regions;		/* registered regions */
	__u64 region_pages;	/* pages in registered regions */
	__u64 unstable_pages;	/* pages waiting for a twin in the hash table */
	__u64 hash_buckets;	/* size of the content hash table */
	__u64 hash_used;	/* buckets holding at least one entry */
	__u64 hash_max_chain;	/* longest bucket chain */
	__u64 sha1_computed;	/* SHA-1 digests computed (only for hash collisions) */
	__u64 sha1_mismatch;	/* candidates rejected by SHA-1 */
	__u64 memcmp_mismatch;	/* candidates rejected by a whole-page compare */
	__u64 thp_split;	/* transparent huge pages split to merge a subpage */
	__u64 merges_undone;	/* new kernel pages whose twin could not be switched (kept) */
	__u64 zero_pages;	/* mappings switched to the shared zero page (use_zero_pages) */
	__u64 cow_breaks;	/* merged mappings a scan later found replaced by a private page */
	__u64 unmerged;		/* merged mappings given a private copy by KSM_UNMERGE */
	__u64 smart_skipped;	/* page visits skipped by smart scanning */
	__u64 volatile_skipped;	/* pages not merged because they changed since the last pass */
	__u64 last_full_scan_ms; /* duration of the last pass of any scanner over all regions */
	__s64 general_profit;	/* bytes saved (pages_sharing + zero pages) minus the module's metadata */
	__u64 metadata_bytes;	/* memory the module uses for its tables and per-page state */
	__u64 kpages_poisoned;	/* kernel pages found marked hardware-poisoned, out of the table */
	__u64 kpages_moved;	/* kernel pages copied into a fuller block (to free a sparse one) */
	__u64 kpool_spare;	/* free pages kept in the blocks kernel pages come from */
	__u64 hardened_alone;	/* kernel pages made for a hardened domain's page with no twin */
	__u64 memcg_refused;	/* kernel pages not made: the memory cgroup to charge was at its limit */
	__u64 skipped[KSM_SKIP_MAX]; /* pages passed over, by enum ksm_skip_reason */
	__u64 reserved1[16];	/* zero */
};

#define KSM_GET_STATS                    _IOR(KSMIO,  0x06, struct ksm_stats)

/* KSM_SCAN_EXT: KSM_SCAN that reports what it did. */
#define KSM_SCAN_PASS_END	(1U << 0) /* also stop when a pass over all regions ends */

struct ksm_scan_ext {
	__u32 pages_to_scan;	  /* in: pages to look at */
	__u32 max_pages_to_merge; /* in: stop after this many merges, 0 = no limit */
	__u32 flags;		  /* in: KSM_SCAN_* */
	__u32 reserved0;	  /* in: zero */
	__u64 pages_scanned;	  /* out: pages looked at */
	__u64 pages_merged;	  /* out: page table entries switched to a kernel page */
	__u64 full_scans;	  /* out: passes over all regions completed by this call */
	__u64 reserved[3];	  /* in: zero; out: zero */
};

#define KSM_SCAN_EXT                     _IOWR(KSMIO, 0x41, struct ksm_scan_ext)

/*
 * KSM_GET_CONFIG / KSM_SET_CONFIG on /dev/ksm: the engine's switches. SET
 * needs CAP_SYS_ADMIN and takes every field (read, change, write back).
 */
#define KSM_ADVISOR_NONE	0
#define KSM_ADVISOR_SCAN_TIME	1	/* kksmd adapts pages_to_scan to a full-scan time */

struct ksm_config {
	/* 1 (default): any nodes; 0: same node only (-EBUSY to change while kernel pages are held) */
	__u32 merge_across_nodes;
	__u32 use_zero_pages;		/* 1: all-zero pages map the shared zero page (default 0) */
	__u32 volatility_filter;	/* 1: merge only pages unchanged since the previous pass */
	__u32 smart_scan;		/* 1: skip pages that keep failing to merge for 1, 2, 4, 8 passes */
	__u32 advisor_mode;		/* KSM_ADVISOR_* (default NONE) */
	__u32 advisor_target_scan_ms;	/* wanted duration of a full scan, 1 s .. 1 h */
	__u32 advisor_max_cpu;		/* percent of one CPU kksmd may use, 1 .. 100 */
	__u32 advisor_min_pages_to_scan; /* bounds of what the advisor sets, >= 1 */
	__u32 advisor_max_pages_to_scan;
	__u32 reserved0;		/* zero */
	__u64 reserved[5];		/* zero */
};

#define KSM_GET_CONFIG                   _IOR(KSMIO,  0x07, struct ksm_config)
#define KSM_SET_CONFIG                   _IOW(KSMIO,  0x08, struct ksm_config)

/* KSM_UNMERGE (SMA fd: its regions; /dev/ksm: every region, CAP_SYS_ADMIN). */
struct ksm_unmerge {
	__u32 flags;		/* in: zero */
	__u32 reserved0;	/* in: zero */
	__u64 pages_unmerged;	/* out: merged mappings given a private copy */
	__u64 pages_failed;	/* out: those that could not be (out of memory; */
				/* before 6.2, userfaultfd write-protected) */
	__u64 reserved[3];	/* in: zero; out: zero */
};

#define KSM_UNMERGE_ALL                  _IOWR(KSMIO, 0x09, struct ksm_unmerge)

/* Per-SMA and per-process counters. */
struct ksm_process_stats {
	__s32 pid;		/* in (KSM_GET_PROCESS_STATS): the process, 0 for the caller */
	__u32 reserved0;	/* in: zero */
	__u64 regions;		/* out: registered regions */
	__u64 region_pages;	/* out: pages in them */
	__u64 merged_pages;	/* out: mappings of kernel pages (as of the last scan of each page) */
	__u64 zero_pages;	/* out: mappings of the zero page made by the module */
	__u64 merges;		/* out: merges done (events) */
	__u64 cow_breaks;	/* out: merged mappings later found replaced by a private copy */
	__u64 unmerged;		/* out: merged mappings given back by KSM_UNMERGE */
	__u64 reserved[8];	/* in: zero; out: zero */
};

#define KSM_GET_PROCESS_STATS            _IOWR(KSMIO, 0x0a, struct ksm_process_stats)

/* ioctls for SMA fds (additions) */
#define KSM_DOMAIN_DEFAULT	0		/* the 2008 behaviour: everyone merges with everyone */
#define KSM_DOMAIN_PRIVATE	0xffffffffU	/* a new domain of this SMA alone (no privilege needed) */

/*
 * ksm_domain.flags: KSM_DOMAIN_HARDENED joins the hardened domain of that id
 * (not with KSM_DOMAIN_PRIVATE), which merges only with SMAs that joined it
 * hardened too: there a page that could be merged behaves the same whether
 * another process holds its content or not (docs/security.md).
 */
#define KSM_DOMAIN_HARDENED	(1U << 0)

struct ksm_domain {
	__u32 domain;		/* in: 0, KSM_DOMAIN_PRIVATE, or any id (CAP_SYS_ADMIN); out: the id */
	__u32 flags;		/* in: 0 or KSM_DOMAIN_HARDENED */
	__u64 reserved[3];	/* in: zero */
};

/* Set the merge domain of an SMA that has no region yet (pages merge within one domain only). */
#define KSM_SMA_SET_DOMAIN               _IOWR(KSMIO, 0x22, struct ksm_domain)
#define KSM_SMA_GET_STATS                _IOR(KSMIO,  0x23, struct ksm_process_stats)
#define KSM_UNMERGE                      _IOWR(KSMIO, 0x24, struct ksm_unmerge)

#define KSM_REMOVE_UNMERGE	(1U << 0)	/* give every merged page a private copy first */

struct ksm_remove_region {
	__u32 flags;		/* in: KSM_REMOVE_* */
	__u32 reserved0;	/* in: zero */
	__u64 addr;		/* in: start of the region to remove; 0: all regions of the SMA */
	__u64 reserved[2];	/* in: zero */
};

/* KSM_REMOVE_MEMORY_REGION with options: one region (by start) or all, unmerging first. */
#define KSM_REMOVE_MEMORY_REGION_EXT     _IOW(KSMIO,  0x25, struct ksm_remove_region)

#endif
