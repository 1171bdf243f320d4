// SPDX-License-Identifier: GPL-2.0
/* 5.14 added device-exclusive swap entries (is_device_exclusive_entry()). */
#include <linux/mm.h>
#include <linux/swap.h>
#include <linux/swapops.h>

bool probe(swp_entry_t entry);
bool probe(swp_entry_t entry)
{
	return is_device_exclusive_entry(entry);
}
