#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The userspace tools, host side (TAP, no guest, no module): the man page renders without warnings and
# documents every command and environment variable ksmctl --help names; the bash completion offers the
# same commands and their options (config's settings and values, run's domains); the preload library
# exports madvise() and nothing else; usage errors
# exit 2 before ksmctl touches /dev/ksm. Needs `make tools'.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/lib/tap.sh"
ksmctl=build/tools/ksmctl
[ -x "$ksmctl" ] || { echo "not ok 1 - $ksmctl is missing (make tools)"; echo "1..1"; exit 1; }

commands=$("$ksmctl" --help | sed -n 's/^  \([a-z]\+\)[ ,].*/\1/p' | sort -u | tr '\n' ' ')
[ "$commands" = "config help info run scan start stats stop unmerge version " ]
ok $? "ksmctl --help lists its commands ($commands)"

if command -v groff > /dev/null; then
	warnings=$(groff -man -ww -z docs/ksmctl.8 2>&1)
	[ -z "$warnings" ]
	ok $? "docs/ksmctl.8 renders without warnings${warnings:+: $warnings}"
	text=$(groff -man -Tutf8 docs/ksmctl.8 2>/dev/null | col -b 2>/dev/null || groff -man -Tascii docs/ksmctl.8)
	missing=
	for w in $commands --json --prometheus --pass --max-merge --all --builtin --no-builtin --library \
		--no-load --pid --domain KSMCTL_MODULE KSMCTL_MODULES_DIR KSMCTL_PRELOAD KSM_PRELOAD_BUILTIN \
		KSM_PRELOAD_ALL KSM_PRELOAD_VERBOSE KSM_PRELOAD_INTERVAL_MS KSM_PRELOAD_MAX_REGION_PAGES \
		KSM_PRELOAD_DOMAIN merge_across_nodes use_zero_pages volatility_filter smart_scan advisor_mode \
		advisor_target_scan_ms advisor_max_cpu advisor_min_pages_to_scan advisor_max_pages_to_scan \
		last_full_scan_ms "EXIT STATUS"; do
		grep -q -- "$w" <<< "$text" || missing+=" $w"
	done
	[ -z "$missing" ]
	ok $? "the man page documents every command, option and variable (missing:${missing:- none})"
else
	echo "ok $((n += 1)) # SKIP groff is not installed"
	echo "ok $((n += 1)) # SKIP groff is not installed"
fi

# complete WORDS...: what the completion offers for the last word.
complete_words() {
	bash -c 'source tools/ksmctl.bash-completion
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _ksmctl
		printf "%s\n" "${COMPREPLY[@]}" | sort -u | tr "\n" " "' completion "$@"
}
bash -n tools/ksmctl.bash-completion
ok $? "the bash completion parses"
got=$(complete_words ksmctl "")
[ "$got" = "$commands" ]
ok $? "it completes the commands --help lists ($got)"
got=$(complete_words ksmctl --no-load stats --)
[ "$got" = "--json --pid --prometheus " ]
ok $? "after a global option it completes the command's options (stats: $got)"
got=$(complete_words ksmctl run --all --)
[ "$got" = "-- --all --builtin --domain --hardened --library --no-builtin --no-hardened --verbose " ]
ok $? "run: its options ($got)"
got=$(complete_words ksmctl run --domain "")
[ "$got" = "default private " ]
ok $? "run --domain: the named domains ($got)"
got=$(complete_words ksmctl config "")
[ "$got" = "--json advisor_max_cpu= advisor_max_pages_to_scan= advisor_min_pages_to_scan= advisor_mode= advisor_target_scan_ms= merge_across_nodes= smart_scan= use_zero_pages= volatility_filter= " ]
ok $? "config: --json and every setting as KEY= ($got)"
got=$(complete_words ksmctl config smart_scan=1 advisor_mode=s)
[ "$got" = "advisor_mode=scan-time " ]
ok $? "config: the values of advisor_mode ($got)"
got=$(complete_words ksmctl config use_zero_pages=)
[ "$got" = "use_zero_pages=0 use_zero_pages=1 " ]
ok $? "config: the values of a boolean setting ($got)"
got=$(complete_words ksmctl stats --pid $$)
[ "$got" = "$$ " ] || [[ "$got" == "$$ "* ]]
ok $? "stats --pid: process ids ($$: $got)"

exported=$(nm -D --defined-only build/tools/libksm-preload.so | awk '$2 == "T" || $2 == "W" { print $3 }' | sort | tr '\n' ' ')
[ "$exported" = "madvise " ]
ok $? "libksm-preload.so exports madvise() only ($exported)"

# Usage errors are found before /dev/ksm is opened: they behave the same with or without the module.
rc=0
for args in "start 1 2" "start x 1 1" "start 1 1 61s" "scan" "scan -1" "stats --xml" "run" "nonsense" "st" \
	"config bogus=1" "config use_zero_pages=2" "config advisor_max_cpu=0" "unmerge now" "stats --pid x" \
	"run --domain 2147483648 -- true" "run --domain x -- true"; do
	# shellcheck disable=SC2086
	"$ksmctl" $args > /dev/null 2>&1
	[ $? = 2 ] || { rc=1; echo "# ksmctl $args: not exit 2"; }
done
ok $rc "usage errors exit 2 without a module"
"$ksmctl" --help > /dev/null && "$ksmctl" version | grep -q "^ksmctl [0-9]"
ok $? "--help and version exit 0"

tap_end
