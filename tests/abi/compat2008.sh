#!/bin/bash
# A program written for the 2008 header compiles against uapi/linux/ksm.h unchanged and works: the
# 2008 ksmctl example and QEMU's 2008 ksm_register_memory(), built with the compiler's defaults.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The 2008 sources include "ksm.h": give them ours under that name, nothing else.
cc -I uapi/linux -o "$tmp/ksmctl" tests/abi/2008/ksmctl.c 2> "$tmp/cc1.log"
ok $? "the 2008 ksmctl compiles against our header"
cc -I uapi/linux -o "$tmp/qemu_register" tests/abi/2008/qemu_register.c 2> "$tmp/cc2.log"
ok $? "the 2008 QEMU registration code compiles against our header"
cat "$tmp"/cc*.log | sed 's/^/# /'

out=$("$tmp/ksmctl" start 100 50 2000 2>&1)
ok $([ "$out" = "created scanner" ]; echo $?) "2008 ksmctl start: '$out'"
out=$("$tmp/ksmctl" info 2>&1)
ok $([ "$out" = "running 1, pages_to_scan 100 pages_max_merge 50sleep_time 2000" ]; echo $?) \
	"2008 ksmctl info: '$out'"
ok $([ "$(cat /sys/class/misc/ksm/kksmd/running)" = 1 ] && pgrep -x kksmd >/dev/null; echo $?) \
	"kksmd runs"
out=$("$tmp/ksmctl" stop 2>&1)
ok $([ "$out" = "stopped scanner" ]; echo $?) "2008 ksmctl stop: '$out'"
out=$("$tmp/ksmctl" info 2>&1)
ok $([ "$out" = "running 0, pages_to_scan 100 pages_max_merge 50sleep_time 2000" ]; echo $?) \
	"2008 ksmctl info after stop: '$out'"
sleep 0.2
ok $(! pgrep -x kksmd >/dev/null; echo $?) "kksmd is gone"

out=$("$tmp/qemu_register" 256 2>&1)
echo "$out" | sed 's/^/# /'
ok $(echo "$out" | grep -qx registered; echo $?) "2008 QEMU-style registration succeeds"
ok $(echo "$out" | grep -qx "128 of 128 pairs share a pfn"; echo $?) "2008 KSM_SCAN merges its pages"
tap_end
