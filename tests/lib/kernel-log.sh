# SPDX-License-Identifier: GPL-2.0
# The kernel-log lines that fail a guest run or a test, whatever the tests said (source it): BUG:,
# WARNING:, Oops, Bad rss-counter, bad page, soft lockup, hung task, RCU stall, panic, a freed page
# found written to (page_poison=1: "pagealloc: memory corruption") and SLUB's reports of a damaged slab
# object or cache (slub_debug: "BUG ksmdev_item (Tainted: ...): Redzone overwritten"). An extended regex.
bad='BUG:|WARNING:|Oops|Bad rss-counter|[Bb]ad page|soft lockup|blocked for more than|detected (expedited )?stalls? on|kthread starved|Kernel panic|pagealloc: (single bit error|memory corruption)|BUG [^ :]+ \('
