#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# build/tools/register-example: the 2008 QEMU integration (open /dev/ksm, create an SMA, register the
# memory as ksm_register_memory() did) on 128 identical pages, a KSM_SCAN, and pagemap: the pages share
# one pfn. Runs as root in a test guest with the module loaded.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
example=$top/build/tools/register-example
. "$top/tests/lib/tap.sh"

before=$(cat /sys/class/misc/ksm/merges)
out=$("$example" 128 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $rc = 0 ] && printf '%s\n' "$out" | grep -q "^registered 128 pages at 0x[0-9a-f]* on SMA fd [0-9]*$"
ok $? "register-example registers its 128 pages the 2008 way (exit $rc)"
printf '%s\n' "$out" | grep -q "^128 pages, 1 distinct pfns: 128 pages share a pfn with another, 508 KiB saved$"
ok $? "after one KSM_SCAN all 128 pages share one pfn (pagemap)"
after=$(cat /sys/class/misc/ksm/merges)
[ $((after - before)) -ge 127 ]
ok $? "the module counted the merges ($((after - before)))"
[ "$(cat /sys/class/misc/ksm/regions)" = 0 ]
ok $? "its region went away when it exited"
"$example" 1 > /dev/null 2>&1
[ $? = 2 ]
ok $? "register-example 1 is a usage error (exit 2)"
tap_end
