#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ksmctl loads the module through libkmod when /dev/ksm is missing: from $KSMCTL_MODULE, by name from
# a module directory (modules.dep, as make install / DKMS set it up), and says precisely why when it
# cannot (not installed, not root, no module support). Runs as root in a test guest with $KSM_MODULE
# the module built for the running kernel; leaves it loaded.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# tests/guest-run puts build/tools on PATH; run alone, find it from here.
command -v ksmctl > /dev/null || PATH=$top/build/tools:$PATH
. "$top/tests/lib/tap.sh"
tmp=$(mktemp -d)
kver=$(uname -r)
trap '[ -d /sys/module/ksm ] || insmod "$KSM_MODULE"; rm -rf "$tmp"' EXIT


# run [ENV=VALUE...] ARGS...: ksmctl with stdout in $out, stderr in $err (first line), status in $rc.
run() {
	env "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(head -n 1 "$tmp/err")
}

unload() {
	rmmod ksm 2>/dev/null
	[ ! -d /sys/module/ksm ] && [ ! -e /dev/ksm ]
}

info_re='^running [01], pages_to_scan [0-9]+ pages_max_merge [0-9]+sleep_time [0-9]+$'
# The first line of info (the 2008 one; the second is the last full scan's duration).
info_line() { printf '%s' "${out%%$'\n'*}"; }

unload
ok $? "rmmod ksm: the module and /dev/ksm are gone"

# Not installed: a module directory without ksm in its modules.dep.
mkdir -p "$tmp/empty"
run KSMCTL_MODULES_DIR="$tmp/empty" ksmctl info
[ $rc = 1 ] && [ -z "$out" ] && grep -q "not installed for kernel $kver" "$tmp/err" &&
	grep -q "make install" "$tmp/err" && grep -q "DKMS" "$tmp/err"
ok $? "not installed: exit 1, says so and suggests make install or DKMS: $err"

# The real module directory: the same answer unless the module is installed on this machine.
if modinfo -k "$kver" ksm > /dev/null 2>&1; then
	echo "ok $((n += 1)) # SKIP a ksm module is installed in /lib/modules/$kver"
else
	run ksmctl info
	[ $rc = 1 ] && grep -q "not installed" "$tmp/err"
	ok $? "the same with the default module directory (/lib/modules/$kver): $err"
fi

run KSMCTL_MODULE=/nonexistent/ksm.ko ksmctl info
[ $rc = 1 ] && grep -q "/nonexistent/ksm.ko" "$tmp/err" && grep -q "No such file" "$tmp/err"
ok $? "KSMCTL_MODULE naming a missing file: exit 1: $err"

run ksmctl --no-load info
[ $rc = 1 ] && grep -q "not loaded" "$tmp/err" && [ ! -d /sys/module/ksm ]
ok $? "--no-load: exit 1, nothing loaded: $err"

# No module support: a mount namespace whose /proc has no /proc/modules.
# shellcheck disable=SC2016 # expanded by the inner shell
unshare -m sh -c 'mount -t tmpfs none /proc && exec env KSMCTL_MODULE="$KSM_MODULE" ksmctl info' \
	> "$tmp/out" 2> "$tmp/err"
rc=$?
err=$(head -n 1 "$tmp/err")
[ $rc = 1 ] && grep -q "no loadable module support" "$tmp/err" && [ ! -d /sys/module/ksm ]
ok $? "no /proc/modules: exit 1, says the kernel has no loadable module support: $err"

# Not root: finit_module() needs CAP_SYS_MODULE.
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	env KSMCTL_MODULE="$KSM_MODULE" "$(command -v ksmctl)" info > "$tmp/out" 2> "$tmp/err"
rc=$?
err=$(head -n 1 "$tmp/err")
[ $rc = 1 ] && grep -q "needs root" "$tmp/err" && [ ! -d /sys/module/ksm ]
ok $? "as nobody: exit 1, loading needs root: $err"

# From a file.
run KSMCTL_MODULE="$KSM_MODULE" ksmctl info
[ $rc = 0 ] && [[ "$(info_line)" =~ $info_re ]] && [ -d /sys/module/ksm ] && [ -c /dev/ksm ]
ok $? "KSMCTL_MODULE=\$KSM_MODULE ksmctl info loads it and prints the info line ($(info_line))"

# By name, from a module directory set up like an installed one (depmod'ed, with modules.dep).
unload
mkdir -p "$tmp/root/lib/modules/$kver/updates"
cp "$KSM_MODULE" "$tmp/root/lib/modules/$kver/updates/ksm.ko"
depmod -b "$tmp/root" "$kver" 2> "$tmp/depmod.err"
run KSMCTL_MODULES_DIR="$tmp/root/lib/modules/$kver" ksmctl stats --json
[ $rc = 0 ] && [ -d /sys/module/ksm ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out"
ok $? "by name through modules.dep (kmod_module_probe_insert_module): loaded, stats works ($rc: $err)"

# Already loaded: nothing to do.
run KSMCTL_MODULE=/nonexistent/ksm.ko ksmctl info
[ $rc = 0 ] && [[ "$(info_line)" =~ $info_re ]]
ok $? "with the module loaded ksmctl does not try to load anything ($(info_line))"

tap_end
