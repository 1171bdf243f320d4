#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ksmctl's command line: the 2008 commands and their exact output, stats in its three formats, the
# exit codes of usage errors and failures, and what an unprivileged user gets. Runs as root in a test
# guest with the module loaded and kksmd stopped; leaves kksmd stopped and /dev/ksm root only.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# tests/guest-run puts build/tools on PATH; run alone, find it from here.
command -v ksmctl > /dev/null || PATH=$top/build/tools:$PATH
. "$top/tests/lib/tap.sh"
. "$top/tests/tools/helpers/ksmctl.sh"
tmp=$(mktemp -d)
trap 'chmod 600 /dev/ksm 2>/dev/null; ksmctl stop >/dev/null 2>&1; rm -rf "$tmp"' EXIT
sysfs=/sys/class/misc/ksm


# The 2008 info line, built from sysfs: "running %d, pages_to_scan %d pages_max_merge %dsleep_time %d".
expected_info() {
	printf 'running %d, pages_to_scan %d pages_max_merge %dsleep_time %d\n' \
		"$(cat $sysfs/kksmd/running)" "$(cat $sysfs/kksmd/pages_to_scan)" \
		"$(cat $sysfs/kksmd/max_pages_to_merge)" "$(cat $sysfs/kksmd/sleep_usecs)"
}
# first_line: the first line of $out (info's 2008 line; the second is the last full scan's duration).
first_line() { printf '%s\n' "${out%%$'\n'*}"; }

# ---- start / info / stop: the 2008 strings, byte for byte ----
ksmctl stop > /dev/null 2>&1
run info
expected_info > "$tmp/want"
head -n 1 "$tmp/out" | cmp -s - "$tmp/want"
ok $? "ksmctl info prints the 2008 line first, byte for byte ($(first_line))"
printf 'last_full_scan_ms %d\n' "$(cat $sysfs/last_full_scan_ms)" >> "$tmp/want"
cmp -s "$tmp/out" "$tmp/want"
ok $? "... then only the duration of the last full scan, as in sysfs ($(tail -n 1 "$tmp/out"))"
[ $rc = 0 ] && [ -z "$err" ]
ok $? "ksmctl info exits 0, nothing on stderr"

run start 123 45 6789
printf 'created scanner\n' > "$tmp/want"
cmp -s "$tmp/out" "$tmp/want" && [ $rc = 0 ]
ok $? "ksmctl start 123 45 6789 prints 'created scanner' and exits 0 ($rc)"
[ "$(cat $sysfs/kksmd/running)" = 1 ] && grep -qx kksmd /proc/[0-9]*/comm
ok $? "kksmd runs (sysfs running = 1, a kksmd thread exists)"
run info
printf 'running 1, pages_to_scan 123 pages_max_merge 45sleep_time 6789\n' > "$tmp/want"
head -n 1 "$tmp/out" | cmp -s - "$tmp/want"
ok $? "ksmctl info shows the new settings in the 2008 format ($(first_line))"

run start 10 20 15ms
[ $rc = 0 ] && [ "$(cat $sysfs/kksmd/sleep_usecs)" = 15000 ] && [ "$(cat $sysfs/kksmd/pages_to_scan)" = 10 ]
ok $? "ksmctl start 10 20 15ms changes the running kksmd's settings (sleep 15000 us)"
run inf
[ $rc = 0 ] && [ "$(first_line)" = "running 1, pages_to_scan 10 pages_max_merge 20sleep_time 15000" ]
ok $? "a prefix of a 2008 command works, as in 2008 (ksmctl inf: $(first_line))"

run stop
printf 'stopped scanner\n' > "$tmp/want"
cmp -s "$tmp/out" "$tmp/want" && [ $rc = 0 ]
ok $? "ksmctl stop prints 'stopped scanner' and exits 0"
[ "$(cat $sysfs/kksmd/running)" = 0 ] && ! grep -qx kksmd /proc/[0-9]*/comm
ok $? "kksmd is gone"
run info
[ "${out%%,*}" = "running 0" ]
ok $? "ksmctl info says running 0 ($(first_line))"

# ---- usage errors: exit 2, a message naming the problem, nothing started ----
usage_case() { # usage_case PATTERN DESCRIPTION ARGS...
	local pattern=$1 what=$2
	shift 2
	run "$@"
	[ $rc = 2 ] && [ -z "$out" ] && grep -q -- "$pattern" "$tmp/err"
	ok $? "$what: exit 2, stderr says '$pattern' (rc $rc: $(head -n 1 "$tmp/err"))"
}
usage_case "not a number" "ksmctl start abc 1 1" start abc 1 1
usage_case "not a number" "ksmctl start -5 1 1 (negative)" start -5 1 1
usage_case "not a number" "ksmctl start 1x 1 1 (trailing garbage)" start 1x 1 1
usage_case "too large" "ksmctl start 4294967296 1 1 (over 32 bits)" start 4294967296 1 1
usage_case "too large" "ksmctl start 99999999999999999999999 1 1 (overflow)" start 99999999999999999999999 1 1
usage_case "at least 1" "ksmctl start 0 1 1" start 0 1 1
usage_case "at least 1" "ksmctl start 1 0 1" start 1 0 1
usage_case "too large" "ksmctl start 1 1 60000001 (sleep over a minute)" start 1 1 60000001
usage_case "not a number" "ksmctl start 1 1 5min" start 1 1 5min
usage_case "usage" "ksmctl start 1 1 (missing SLEEP)" start 1 1
usage_case "unknown command 'frobnicate'" "ksmctl frobnicate" frobnicate
usage_case "ambiguous" "ksmctl st (start or stop)" st
usage_case "unknown option" "ksmctl --bogus info" --bogus info
usage_case "unknown argument" "ksmctl stats --yaml" stats --yaml
usage_case "no command" "ksmctl run --all (no command)" run --all
usage_case "no arguments" "ksmctl info extra" info extra
[ "$(cat $sysfs/kksmd/running)" = 0 ]
ok $? "none of them started kksmd"
run
[ $rc = 2 ] && grep -q "^usage:" "$tmp/err"
ok $? "ksmctl without a command prints the usage on stderr, exit 2"
run --help
[ $rc = 0 ] && grep -q "^usage:" "$tmp/out" && grep -q "stats \[--json|--prometheus\]" "$tmp/out" &&
	grep -q "^  config " "$tmp/out" && grep -q "^  unmerge " "$tmp/out" && grep -q -- "--domain ID|private" "$tmp/out"
ok $? "ksmctl --help prints the usage on stdout, exit 0"

# ---- run: exec failures ----
run run -- /nonexistent/program
[ $rc = 127 ] && grep -q "cannot run /nonexistent/program: No such file" "$tmp/err"
ok $? "ksmctl run of a missing program: exit 127 and says so ($rc)"
# shellcheck disable=SC2016 # expanded by the inner shell
run run -- sh -c 'echo "$LD_PRELOAD"; exit 7'
[ $rc = 7 ] && [ -r "$out" ] && [ "${out##*/}" = libksm-preload.so ]
ok $? "ksmctl run execs the command with LD_PRELOAD=$out and returns its status ($rc)"
lib=$out
run run --library /nonexistent.so -- true
[ $rc = 1 ] && grep -q "nonexistent.so" "$tmp/err"
ok $? "ksmctl run --library with a missing file fails with exit 1 ($rc)"
mkdir -p "$tmp/a b" && cp "$lib" "$tmp/a b/libksm-preload.so"
run run --library "$tmp/a b/libksm-preload.so" -- true
[ $rc = 1 ] && grep -q "space or a colon" "$tmp/err"
ok $? "ksmctl run --library with a space in its path (LD_PRELOAD would split it) fails with exit 1 ($rc)"

# ---- stats ----
run stats
ok "$([ $rc = 0 ] && echo 0 || echo 1)" "ksmctl stats exits 0"
missing=
for f in pages_shared pages_sharing pages_scanned full_scans merges kpages_created kpages_freed \
	kpages_held regions region_pages unstable_pages hash_buckets hash_used hash_max_chain \
	sha1_computed sha1_mismatch memcmp_mismatch thp_split merges_undone zero_pages cow_breaks \
	unmerged smart_skipped volatile_skipped last_full_scan_ms general_profit metadata_bytes \
	absent no_vma swapped migrating device zero_page pinned builtin_ksm locked busy swapcache \
	exiting thp other; do
	grep -qE "^ *$f +-?[0-9]+ " "$tmp/out" || missing+=" $f"
done
[ -z "$missing" ]
ok $? "the text output has every counter and skip reason, by name (missing:${missing:- none})"
buckets=$(cat $sysfs/hash_buckets)
grep -qE "^hash_buckets +$buckets buckets" "$tmp/out" && grep -qE "^memory saved +[0-9.]+ MiB" "$tmp/out"
ok $? "it shows real values with units (hash_buckets $buckets buckets, memory saved in MiB)"

# The JSON output: valid, complete, and the same numbers as sysfs (nothing runs meanwhile).
run stats --json
cat > "$tmp/check.py" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
sysfs = sys.argv[2]
fields = ["pages_shared", "pages_sharing", "pages_scanned", "full_scans", "merges", "kpages_created",
          "kpages_freed", "kpages_held", "regions", "region_pages", "unstable_pages", "hash_buckets",
          "hash_used", "hash_max_chain", "sha1_computed", "sha1_mismatch", "memcmp_mismatch", "thp_split",
          "merges_undone", "zero_pages", "cow_breaks", "unmerged", "smart_skipped", "volatile_skipped",
          "last_full_scan_ms", "metadata_bytes"]
reasons = ["absent", "no_vma", "swapped", "migrating", "device", "zero_page", "pinned", "builtin_ksm",
           "locked", "busy", "swapcache", "exiting", "thp", "other"]
problems = []
for f in fields:
    if not isinstance(d.get(f), int):
        problems.append("no integer " + f)
    elif d[f] != int(open(f"{sysfs}/{f}").read()):
        problems.append(f"{f} {d[f]} != sysfs")
for r in reasons:
    if d.get("skipped", {}).get(r) != int(open(f"{sysfs}/skipped/{r}").read()):
        problems.append("skipped." + r)
if not isinstance(d.get("general_profit"), int):
    problems.append("no integer general_profit")
if d.get("memory_saved_bytes") != d.get("pages_sharing", -1) * d.get("page_size", -1):
    problems.append("memory_saved_bytes")
k = d.get("kksmd", {})
for key, name in [("running", "running"), ("sleep_us", "sleep_usecs"),
                  ("pages_to_scan", "pages_to_scan"), ("max_pages_to_merge", "max_pages_to_merge")]:
    if k.get(key) != int(open(f"{sysfs}/kksmd/{name}").read()):
        problems.append("kksmd." + key)
print(", ".join(problems) or "all right")
sys.exit(1 if problems else 0)
PY
why=$(python3 "$tmp/check.py" "$tmp/out" "$sysfs" 2>&1 | tail -n 1)
ok "$([ $rc = 0 ] && [ "$why" = "all right" ] && echo 0 || echo 1)" \
	"ksmctl stats --json is valid JSON with every counter, equal to sysfs ($why)"

# The Prometheus text format: HELP and TYPE before the samples of each family, valid names and values,
# counters named _total, the skip reasons as labels. Also -o FILE (written atomically).
run stats --prometheus
cat > "$tmp/prom.py" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
problems, helped, typed, samples = [], set(), {}, {}
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
for line in text.splitlines():
    m = re.fullmatch(rf"# HELP ({name_re}) \S.*", line)
    if m:
        helped.add(m.group(1)); continue
    m = re.fullmatch(rf"# TYPE ({name_re}) (counter|gauge)", line)
    if m:
        if m.group(1) not in helped: problems.append("TYPE before HELP: " + m.group(1))
        typed[m.group(1)] = m.group(2); continue
    m = re.fullmatch(rf'({name_re})(\{{reason="([a-z_]+)"\}})? (-?[0-9]+(\.[0-9]+)?)', line)
    if not m:
        problems.append("bad line: " + line); continue
    name = m.group(1)
    if name not in typed: problems.append("sample before TYPE: " + name)
    if typed.get(name) == "counter" and not name.endswith("_total"): problems.append("counter " + name)
    key = (name, m.group(3))
    if key in samples: problems.append("duplicate " + line)
    samples[key] = float(m.group(4))
for want in ["ksm_pages_shared", "ksm_pages_sharing", "ksm_memory_saved_bytes", "ksm_regions",
             "ksm_pages_scanned_total", "ksm_merges_total", "ksm_kksmd_running",
             "ksm_cow_breaks_total", "ksm_general_profit", "ksm_metadata_bytes"]:
    if (want, None) not in samples: problems.append("missing " + want)
for r in ["absent", "swapped", "zero_page", "builtin_ksm", "thp", "other"]:
    if ("ksm_pages_skipped_total", r) not in samples: problems.append("missing reason " + r)
if typed.get("ksm_pages_skipped_total") != "counter" or typed.get("ksm_pages_shared") != "gauge":
    problems.append("types")
print(", ".join(problems[:5]) or "all right")
sys.exit(1 if problems else 0)
PY
why=$(python3 "$tmp/prom.py" "$tmp/out" 2>&1 | tail -n 1)
ok "$([ $rc = 0 ] && [ "$why" = "all right" ] && echo 0 || echo 1)" \
	"ksmctl stats --prometheus follows the text exposition format ($why)"
grep -qx "ksm_hash_buckets $buckets" "$tmp/out" && grep -qx 'ksm_pages_skipped_total{reason="swapped"} [0-9]*' "$tmp/out"
ok $? "its values are the module's (ksm_hash_buckets $buckets, ksm_pages_skipped_total{reason=\"swapped\"})"
run stats --prometheus -o "$tmp/ksm.prom"
[ $rc = 0 ] && [ -z "$out" ] && [ "$(grep -c '^# TYPE' "$tmp/ksm.prom")" -ge 20 ] &&
	[ -z "$(find "$tmp" -name 'ksm.prom.*')" ]
ok $? "ksmctl stats --prometheus -o FILE writes FILE (no temporary file left behind)"
run stats -o /nonexistent-dir/ksm.prom
[ $rc = 1 ] && grep -q "/nonexistent-dir/ksm.prom" "$tmp/err"
ok $? "-o into a missing directory fails with exit 1 and names the file ($rc)"

# ---- an unprivileged user ----
as_nobody info
[ $rc = 1 ] && [ -z "$out" ] && grep -q "Permission denied" "$tmp/err" && grep -q "root" "$tmp/err"
ok $? "as nobody, ksmctl info fails with exit 1: $(head -n 1 "$tmp/err")"
chmod 666 /dev/ksm
as_nobody start 1 1 1
[ $rc = 1 ] && grep -q "CAP_SYS_ADMIN" "$tmp/err" && [ "$(cat $sysfs/kksmd/running)" = 0 ]
ok $? "as nobody with /dev/ksm open to all, ksmctl start fails with exit 1: $(head -n 1 "$tmp/err")"
as_nobody stop
[ $rc = 1 ] && grep -q "CAP_SYS_ADMIN" "$tmp/err"
ok $? "... and so does ksmctl stop"
as_nobody info
[ $rc = 0 ] && [ "${out%%,*}" = "running 0" ]
ok $? "... while ksmctl info works (reading needs no privilege): $(first_line)"
chmod 600 /dev/ksm

tap_end
