#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The generated parts of the docs are up to date (TAP, host side): scripts/gen-docs --check finds the
# kernel-differences table and the symbol list of docs/design.md, and the counters table of
# docs/ioctl.md, as the probes, module/ksm_syms.h and uapi/linux/ksm_stat_list.h say.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/lib/tap.sh"

log=$(scripts/gen-docs --check 2>&1)
rc=$?
[ $rc = 0 ] || printf '%s\n' "$log" | sed 's/^/# /'
ok $rc "the docs' generated tables match the probes, the symbol list and the counter list"
tap_end
