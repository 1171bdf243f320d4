/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The counters of struct ksm_stats (ksm.h), listed once with their unit and
 * meaning. Not an ABI of its own (the ABI is struct ksm_stats) and not a
 * header to include once: a list to expand. Define KSM_STAT() and/or
 * KSM_SKIP_REASON() as you need them, then include this file; it undefines
 * both at its end. Generated from it: the module's per-CPU event counters
 * and sysfs files (/sys/class/misc/ksm/ and skipped/), ksmctl's text and
 * Prometheus output, and the table in docs/ioctl.md (scripts/gen-docs). The
 * module checks at build time that the list names every field of struct
 * ksm_stats before skipped[], once each.
 *
 * KSM_STAT(field, kind, unit, help), kind:
 *   KSM_STAT_EVENT  events since load: only grows (a Prometheus counter); the
 *                   module keeps it per CPU
 *   KSM_STAT_LEVEL  a level computed when read
 *   KSM_STAT_PAGES  a level counted in pages (ksmctl also shows MiB)
 *   KSM_STAT_SIGNED a level that may be negative (an __s64)
 * KSM_SKIP_REASON(name, enum value, help): one per enum ksm_skip_reason.
 */
#ifndef __LINUX_KSM_STAT_KINDS
#define __LINUX_KSM_STAT_KINDS
#define KSM_STAT_EVENT	0
#define KSM_STAT_LEVEL	1
#define KSM_STAT_PAGES	2
#define KSM_STAT_SIGNED	3
#endif

#ifndef KSM_STAT
#define KSM_STAT(...)
#endif
#ifndef KSM_SKIP_REASON
#define KSM_SKIP_REASON(...)
#endif

KSM_STAT(pages_shared, KSM_STAT_PAGES, "pages",
	 "Kernel pages mapped by at least one process.")
KSM_STAT(pages_sharing, KSM_STAT_PAGES, "pages",
	 "Mappings saved: mappings of the kernel pages minus pages_shared.")
KSM_STAT(pages_scanned, KSM_STAT_EVENT, "pages",
	 "Pages the scanners looked at.")
KSM_STAT(full_scans, KSM_STAT_EVENT, "passes",
	 "Completed passes over all registered regions.")
KSM_STAT(merges, KSM_STAT_EVENT, "PTEs",
	 "Page table entries switched to a kernel page.")
KSM_STAT(kpages_created, KSM_STAT_EVENT, "pages",
	 "Kernel pages allocated.")
KSM_STAT(kpages_freed, KSM_STAT_EVENT, "pages",
	 "Kernel pages freed after their last mapping went.")
KSM_STAT(kpages_held, KSM_STAT_PAGES, "pages",
	 "Kernel pages the module holds now (unswappable).")
KSM_STAT(regions, KSM_STAT_LEVEL, "regions",
	 "Registered regions.")
KSM_STAT(region_pages, KSM_STAT_PAGES, "pages",
	 "Pages in registered regions.")
KSM_STAT(unstable_pages, KSM_STAT_LEVEL, "pages",
	 "Pages waiting for a twin in the content hash table.")
KSM_STAT(hash_buckets, KSM_STAT_LEVEL, "buckets",
	 "Size of the content hash table.")
KSM_STAT(hash_used, KSM_STAT_LEVEL, "buckets",
	 "Hash buckets holding at least one entry.")
KSM_STAT(hash_max_chain, KSM_STAT_LEVEL, "entries",
	 "Longest hash bucket chain.")
KSM_STAT(sha1_computed, KSM_STAT_EVENT, "digests",
	 "SHA-1 digests computed.")
KSM_STAT(sha1_mismatch, KSM_STAT_EVENT, "pages",
	 "Merge candidates rejected by SHA-1.")
KSM_STAT(memcmp_mismatch, KSM_STAT_EVENT, "pages",
	 "Merge candidates rejected by the final full compare.")
KSM_STAT(thp_split, KSM_STAT_EVENT, "pages",
	 "Transparent huge pages split to merge a subpage.")
KSM_STAT(merges_undone, KSM_STAT_EVENT, "pages",
	 "New kernel pages whose first twin could not be switched (kept, for later twins to join).")
KSM_STAT(zero_pages, KSM_STAT_EVENT, "PTEs",
	 "Mappings switched to the shared zero page (use_zero_pages).")
KSM_STAT(cow_breaks, KSM_STAT_EVENT, "PTEs",
	 "Merged mappings a scan later found replaced by a private page.")
KSM_STAT(unmerged, KSM_STAT_EVENT, "PTEs",
	 "Merged mappings given a private copy by KSM_UNMERGE.")
KSM_STAT(smart_skipped, KSM_STAT_EVENT, "visits",
	 "Page visits skipped by smart scanning.")
KSM_STAT(volatile_skipped, KSM_STAT_EVENT, "pages",
	 "Pages not merged because they changed since the last pass.")
KSM_STAT(last_full_scan_ms, KSM_STAT_LEVEL, "ms",
	 "Duration of the last pass of any scanner over all regions.")
KSM_STAT(general_profit, KSM_STAT_SIGNED, "bytes",
	 "Bytes saved (pages_sharing and zero pages) minus the module's metadata.")
KSM_STAT(metadata_bytes, KSM_STAT_LEVEL, "bytes",
	 "Memory the module uses for its tables and per-page state.")
KSM_STAT(kpages_poisoned, KSM_STAT_EVENT, "pages",
	 "Kernel pages found marked hardware-poisoned, taken out of the table.")
KSM_STAT(kpages_moved, KSM_STAT_EVENT, "pages",
	 "Kernel pages copied into a fuller block, so that a sparse block can be given back whole.")
KSM_STAT(kpool_spare, KSM_STAT_PAGES, "pages",
	 "Free pages the module keeps in its blocks of kernel pages, for new ones.")
KSM_STAT(hardened_alone, KSM_STAT_EVENT, "pages",
	 "Kernel pages made in a hardened domain: for an idle page no kernel page held the content of.")
KSM_STAT(memcg_refused, KSM_STAT_EVENT, "pages",
	 "Kernel pages not made because the memory cgroup to charge was at its limit: merges (or moves to empty a block) not done.")

KSM_SKIP_REASON(absent, KSM_SKIP_ABSENT, "nothing mapped there")
KSM_SKIP_REASON(no_vma, KSM_SKIP_NO_VMA, "no VMA, or no longer private anonymous")
KSM_SKIP_REASON(swapped, KSM_SKIP_SWAPPED, "swapped out")
KSM_SKIP_REASON(migrating, KSM_SKIP_MIGRATING, "under migration")
KSM_SKIP_REASON(device, KSM_SKIP_DEVICE, "device (ZONE_DEVICE) memory")
KSM_SKIP_REASON(zero_page, KSM_SKIP_ZERO_PAGE, "maps the shared zero page")
KSM_SKIP_REASON(pinned, KSM_SKIP_PINNED, "may be pinned for DMA or O_DIRECT")
KSM_SKIP_REASON(builtin_ksm, KSM_SKIP_BUILTIN_KSM, "a page of the kernel's built-in KSM")
KSM_SKIP_REASON(locked, KSM_SKIP_LOCKED, "in an mlock()ed VMA")
KSM_SKIP_REASON(busy, KSM_SKIP_BUSY, "unexpected references or locked, tried later")
KSM_SKIP_REASON(swapcache, KSM_SKIP_SWAPCACHE, "in the swap cache")
KSM_SKIP_REASON(exiting, KSM_SKIP_EXITING, "the process was exiting")
KSM_SKIP_REASON(thp, KSM_SKIP_THP, "a huge page that could not be split")
KSM_SKIP_REASON(other, KSM_SKIP_OTHER, "some other kind of page")
KSM_SKIP_REASON(hwpoison, KSM_SKIP_HWPOISON, "marked hardware-poisoned: never read, never merged")

#undef KSM_STAT
#undef KSM_SKIP_REASON
