#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The direction of calls among the module's files (TAP, host side): for every kernel's build of the
# module, scripts/module-deps finds no cycle and no call from a file into one listed after it in
# module/ksm_internal.h. Needs the objects of make modules-all (make check builds them first).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/lib/tap.sh"

found=0
# Each kernel's build: build/kmod/VERSION/src/module, or build/roots/RELEASE/ksm-build/VERSION/module.
for dir in build/kmod/*/src/module build/roots/*/ksm-build/*/module; do
	compgen -G "$dir/ksm_*.o" > /dev/null || continue
	found=1
	case $dir in
	build/kmod/*) kver=${dir#build/kmod/}; kver=${kver%%/*} ;;
	*) kver=${dir%/module}; kver=${kver##*/} ;;
	esac
	log=$(scripts/module-deps "$dir" 2>&1)
	rc=$?
	[ $rc = 0 ] || printf '%s\n' "$log" | sed 's/^/# /'
	ok $rc "calls between module files go one way ($kver)"
done
[ $found = 1 ] || ok 1 "calls between module files go one way (no built module objects)"
tap_end
