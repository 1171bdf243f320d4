#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ksmctl's engine commands: config (read, change, round trip, every validation error and its exit
# code, CAP_SYS_ADMIN, EBUSY), stats --pid (text, JSON, Prometheus; self, another process, bad pids,
# unprivileged), unmerge, the second line of info, and run --domain's checks. The settings are read
# back independently with KSM_GET_CONFIG from python. Runs as root in a test guest with the module
# loaded and kksmd stopped; leaves the settings as it found them and /dev/ksm root only.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# tests/guest-run puts build/tools on PATH; run alone, find it from here.
command -v ksmctl > /dev/null || PATH=$top/build/tools:$PATH
holder=$top/build/tests/tools/helpers/mergeable
. "$top/tests/lib/tap.sh"
. "$top/tests/tools/helpers/ksmctl.sh"
tmp=$(mktemp -d)
sysfs=/sys/class/misc/ksm
holder_pids=()
cleanup() {
	chmod 600 /dev/ksm 2>/dev/null
	for p in "${holder_pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "${saved_args:-}" ] && ksmctl config $saved_args > /dev/null 2>&1 # restore the settings
	rm -rf "$tmp"
}
trap cleanup EXIT


# The settings as the kernel has them (KSM_GET_CONFIG from python), as "KEY VALUE" lines like ksmctl's.
cat > "$tmp/getconfig.py" <<'PY'
import fcntl, os, struct
KSM_GET_CONFIG = (2 << 30) | (80 << 16) | (0xAB << 8) | 0x07   # _IOR(0xAB, 0x07, 80 bytes)
names = ["merge_across_nodes", "use_zero_pages", "volatility_filter", "smart_scan", "advisor_mode",
         "advisor_target_scan_ms", "advisor_max_cpu", "advisor_min_pages_to_scan",
         "advisor_max_pages_to_scan"]
fd = os.open("/dev/ksm", os.O_RDWR)
buf = bytearray(80)
fcntl.ioctl(fd, KSM_GET_CONFIG, buf)
values = struct.unpack_from("9I", buf)
for name, v in zip(names, values):
    if name == "advisor_mode":
        v = {0: "none", 1: "scan-time"}.get(v, v)
    print(f"{name:<26} {v}")
PY
kernel_config() { python3 "$tmp/getconfig.py"; }

# ---- info: the 2008 line, then the last full scan ----
ksmctl stop > /dev/null 2>&1
run info
printf 'running %d, pages_to_scan %d pages_max_merge %dsleep_time %d\nlast_full_scan_ms %d\n' \
	"$(cat $sysfs/kksmd/running)" "$(cat $sysfs/kksmd/pages_to_scan)" \
	"$(cat $sysfs/kksmd/max_pages_to_merge)" "$(cat $sysfs/kksmd/sleep_usecs)" \
	"$(cat $sysfs/last_full_scan_ms)" > "$tmp/want"
cmp -s "$tmp/out" "$tmp/want" && [ $rc = 0 ]
ok $? "ksmctl info: the 2008 line first, then 'last_full_scan_ms N' as in sysfs ($(tr '\n' '|' < "$tmp/out"))"

# ---- config: reading ----
run config
saved=$out
kernel_config > "$tmp/kernel"
[ $rc = 0 ] && [ "$(wc -l < "$tmp/out")" = 9 ] && cmp -s "$tmp/out" "$tmp/kernel"
ok $? "ksmctl config prints the 9 settings, as KSM_GET_CONFIG has them (rc $rc)"
saved_args=$(awk '{ printf "%s=%s ", $1, $2 }' <<< "$saved")
run config --json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
text = dict(l.split() for l in open(sys.argv[2]))
assert {k: str(v) for k, v in d.items()} == text, (d, text)
assert isinstance(d["advisor_max_cpu"], int) and isinstance(d["advisor_mode"], str)
' "$tmp/out" "$tmp/kernel" 2> "$tmp/py.err"
ok $? "ksmctl config --json: the same settings, numbers as numbers, advisor_mode as a string$(tail -n 1 "$tmp/py.err" | sed 's/^/: /')"

# ---- config: a round trip ----
run config use_zero_pages=1 volatility_filter=1 smart_scan=1 advisor_mode=scan-time \
	advisor_target_scan_ms=5000 advisor_max_cpu=25 advisor_min_pages_to_scan=100 \
	advisor_max_pages_to_scan=2000
kernel_config > "$tmp/kernel"
[ $rc = 0 ] && cmp -s "$tmp/out" "$tmp/kernel" &&
	grep -qx 'use_zero_pages *1' "$tmp/kernel" && grep -qx 'volatility_filter *1' "$tmp/kernel" &&
	grep -qx 'smart_scan *1' "$tmp/kernel" && grep -qx 'advisor_mode *scan-time' "$tmp/kernel" &&
	grep -qx 'advisor_target_scan_ms *5000' "$tmp/kernel" && grep -qx 'advisor_max_cpu *25' "$tmp/kernel" &&
	grep -qx 'advisor_min_pages_to_scan *100' "$tmp/kernel" &&
	grep -qx 'advisor_max_pages_to_scan *2000' "$tmp/kernel" &&
	[ "$(grep merge_across_nodes "$tmp/kernel")" = "$(grep merge_across_nodes <<< "$saved")" ]
ok $? "ksmctl config KEY=VALUE... changes those settings, leaves the others, prints the result (rc $rc)"
run config advisor_max_cpu=30 --json
[ $rc = 0 ] && python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); sys.exit(d["advisor_max_cpu"] != 30 or d["smart_scan"] != 1)' "$tmp/out"
ok $? "a change with --json prints the result as JSON (rc $rc)"
# shellcheck disable=SC2086 # KEY=VALUE words
run config $saved_args
[ $rc = 0 ] && [ "$out" = "$saved" ] && [ "$(kernel_config)" = "$saved" ]
ok $? "what ksmctl config prints, given back as KEY=VALUE, restores the settings (rc $rc)"

# ---- config: validation errors exit 2, before anything changes ----
usage_case() { # usage_case PATTERN DESCRIPTION ARGS...
	local pattern=$1 what=$2
	shift 2
	run "$@"
	[ $rc = 2 ] && [ -z "$out" ] && grep -q -- "$pattern" "$tmp/err"
	ok $? "$what: exit 2, says '$pattern' (rc $rc: $(head -n 1 "$tmp/err"))"
}
max=$(awk '$1 == "advisor_max_pages_to_scan" { print $2 }' <<< "$saved")
usage_case "not KEY=VALUE" "config use_zero_pages (no value)" config use_zero_pages
usage_case "not KEY=VALUE" "config =1 (no key)" config =1
usage_case "unknown setting 'pages_to_scan'" "config pages_to_scan=5 (not a setting)" config pages_to_scan=5
usage_case "0 or 1" "config use_zero_pages=2" config use_zero_pages=2
usage_case "0 or 1" "config smart_scan=yes" config smart_scan=yes
usage_case "0 or 1" "config merge_across_nodes= (empty)" config merge_across_nodes=
usage_case "none or scan-time" "config advisor_mode=fast" config advisor_mode=fast
usage_case "at least 1000" "config advisor_target_scan_ms=999 (under 1 s)" config advisor_target_scan_ms=999
usage_case "too large" "config advisor_target_scan_ms=3600001 (over 1 h)" config advisor_target_scan_ms=3600001
usage_case "at least 1" "config advisor_max_cpu=0" config advisor_max_cpu=0
usage_case "too large" "config advisor_max_cpu=101" config advisor_max_cpu=101
usage_case "not a number" "config advisor_max_cpu=-5" config advisor_max_cpu=-5
usage_case "not a number" "config advisor_max_cpu=5x" config advisor_max_cpu=5x
usage_case "at least 1" "config advisor_min_pages_to_scan=0" config advisor_min_pages_to_scan=0
usage_case "too large" "config advisor_max_pages_to_scan=4294967296" config advisor_max_pages_to_scan=4294967296
usage_case "would exceed" "config advisor_min_pages_to_scan=5000 advisor_max_pages_to_scan=4000" \
	config advisor_min_pages_to_scan=5000 advisor_max_pages_to_scan=4000
usage_case "would exceed" "config advisor_min_pages_to_scan=$((max + 1)) (above the current maximum $max)" \
	config advisor_min_pages_to_scan=$((max + 1))
usage_case "unknown option" "config --yaml" config --yaml
usage_case "unknown setting" "config smart_scan=1 bogus=1 (one bad among good ones)" config smart_scan=1 bogus=1
[ "$(kernel_config)" = "$saved" ]
ok $? "none of them changed a setting"

# ---- unprivileged ----
chmod 666 /dev/ksm
as_nobody config
[ $rc = 0 ] && [ "$out" = "$saved" ]
ok $? "as nobody (with /dev/ksm open to all), ksmctl config reads the settings (rc $rc)"
as_nobody config use_zero_pages=1
[ $rc = 1 ] && grep -q "CAP_SYS_ADMIN" "$tmp/err" && [ "$(kernel_config)" = "$saved" ]
ok $? "... but changing one fails with exit 1: $(head -n 1 "$tmp/err")"
as_nobody unmerge
[ $rc = 1 ] && grep -q "CAP_SYS_ADMIN" "$tmp/err"
ok $? "... and so does ksmctl unmerge: $(head -n 1 "$tmp/err")"
as_nobody run --domain 7 -- true
[ $rc = 1 ] && grep -q "CAP_SYS_ADMIN" "$tmp/err" && grep -q -- "--domain private" "$tmp/err"
ok $? "... and ksmctl run --domain 7 (a named domain): $(head -n 1 "$tmp/err")"
as_nobody run --domain private -- sh -c 'test "$KSM_PRELOAD_DOMAIN" = private'
[ $rc = 0 ]
ok $? "... while ksmctl run --domain private works and sets KSM_PRELOAD_DOMAIN=private (rc $rc)"
as_nobody run --hardened -- sh -c 'test "$KSM_PRELOAD_HARDENED" = 1 && test -z "$KSM_PRELOAD_DOMAIN"'
[ $rc = 0 ]
ok $? "... and ksmctl run --hardened (the default domain's hardened one) sets KSM_PRELOAD_HARDENED=1 (rc $rc)"
as_nobody run --hardened --domain private -- true
[ $rc = 1 ] && grep -q -- "--domain private" "$tmp/err"
ok $? "... but not with --domain private: $(head -n 1 "$tmp/err")"
KSM_PRELOAD_DOMAIN=7 as_nobody run -- true
[ $rc = 1 ] && grep -q "CAP_SYS_ADMIN" "$tmp/err" && grep -q "environment: KSM_PRELOAD_DOMAIN=7" "$tmp/err"
ok $? "... and so does ksmctl run with KSM_PRELOAD_DOMAIN=7 inherited, saying so: $(tr '\n' ' ' < "$tmp/err")"
KSM_PRELOAD_HARDENED=1 as_nobody run --domain private -- true
[ $rc = 1 ] && grep -q -- "--domain private" "$tmp/err"
ok $? "... and ksmctl run --domain private with KSM_PRELOAD_HARDENED=1 inherited: $(head -n 1 "$tmp/err")"
KSM_PRELOAD_DOMAIN=7 as_nobody run --domain private -- sh -c 'test "$KSM_PRELOAD_DOMAIN" = private'
[ $rc = 0 ]
ok $? "... while --domain private wins over an inherited KSM_PRELOAD_DOMAIN=7 (rc $rc)"
KSM_PRELOAD_HARDENED=1 as_nobody run --no-hardened --domain private -- \
	sh -c 'test "$KSM_PRELOAD_HARDENED" = 0 && test "$KSM_PRELOAD_DOMAIN" = private'
[ $rc = 0 ]
ok $? "... and --no-hardened over an inherited KSM_PRELOAD_HARDENED=1 (rc $rc)"
as_nobody stats --pid 0
[ $rc = 0 ] && grep -qE '^regions +0 ' "$tmp/out"
ok $? "... and ksmctl stats --pid 0 (its own counters) works (rc $rc)"
chmod 600 /dev/ksm

usage_case "ids from 2147483648 up" "run --domain 2147483648" run --domain 2147483648 -- true
usage_case "not a number" "run --domain anyone" run --domain anyone -- true
usage_case "needs an id" "run --domain (nothing after it)" run --domain
KSM_PRELOAD_DOMAIN=bogus run run -- true
[ $rc = 1 ] && grep -q "KSM_PRELOAD_DOMAIN=bogus" "$tmp/err"
ok $? "ksmctl run refuses an inherited KSM_PRELOAD_DOMAIN the library cannot use (rc $rc: $(head -n 1 "$tmp/err"))"
run run --domain 7 -- sh -c 'echo "$KSM_PRELOAD_DOMAIN"'
[ $rc = 0 ] && [ "$out" = 7 ]
ok $? "ksmctl run --domain 7 passes KSM_PRELOAD_DOMAIN=7 to the preload library ($out)"

# ---- two processes with the same 64 pages, merged ----
# start_holder NAME NPAGES SEED: `ksmctl run -- mergeable NPAGES SEED', its stdin a FIFO held open on
# fd holder_fd_NAME (and by no other holder); sets holder_pid_NAME once it printed "ready".
holder_fds=()
start_holder() {
	local name=$1 fd
	mkfifo "$tmp/$name.in"
	(
		for f in "${holder_fds[@]}"; do eval "exec $f>&-"; done
		exec ksmctl run -- "$holder" "$2" "$3"
	) < "$tmp/$name.in" > "$tmp/$name.out" 2>&1 &
	eval "holder_pid_$name=$!"
	holder_pids+=("$!")
	exec {fd}> "$tmp/$name.in"
	eval "holder_fd_$name=$fd"
	holder_fds+=("$fd")
	for _ in $(seq 100); do
		grep -q '^ready' "$tmp/$name.out" && return 0
		sleep 0.1
	done
	echo "# holder $name did not start: $(cat "$tmp/$name.out")"
	return 1
}
# running PID: is it alive (not a zombie waiting to be reaped)?
running() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2> /dev/null)" != Z ]; }
# stop_holder NAME: close its stdin and return its exit status (0: its memory was intact); after 20 s
# kill it and return 1.
stop_holder() {
	local fd pid
	eval "fd=\$holder_fd_$1 pid=\$holder_pid_$1"
	exec {fd}>&-
	for _ in $(seq 200); do
		running "$pid" || break
		sleep 0.1
	done
	if running "$pid"; then
		echo "# holder $1 (pid $pid) did not exit"
		kill -9 "$pid"
		wait "$pid"
		return 1
	fi
	wait "$pid"
}

start_holder a 64 7 && start_holder b 64 7
ok $? "two processes hold the same 64 pages, registered through ksmctl run"
# shellcheck disable=SC2154 # set by start_holder
pa=$holder_pid_a pb=$holder_pid_b
for _ in 1 2 3; do ksmctl scan --pass 1000000 > /dev/null; done
[ "$(cat $sysfs/pages_sharing)" -ge 64 ]
ok $? "after scans their pages are merged (pages_sharing $(cat $sysfs/pages_sharing))"

# ---- stats --pid ----
run stats --pid "$pa"
[ $rc = 0 ] && grep -qE "^process +$pa\$" "$tmp/out" && grep -qE '^regions +1 regions' "$tmp/out" &&
	grep -qE '^region_pages +64 pages +\(0\.2 MiB\)' "$tmp/out" && grep -qE '^merged_pages +64 pages' "$tmp/out" &&
	grep -qE '^memory merged +0\.2 MiB' "$tmp/out"
ok $? "ksmctl stats --pid PID: regions 1, region_pages 64, merged_pages 64 (rc $rc)"
missing=
for f in regions region_pages merged_pages zero_pages merges cow_breaks unmerged; do
	grep -qE "^$f +[0-9]+ " "$tmp/out" || missing+=" $f"
done
[ -z "$missing" ]
ok $? "its text output has every per-process counter (missing:${missing:- none})"
run stats --pid "$pa" --json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
want = {"pid": int(sys.argv[2]), "regions": 1, "region_pages": 64, "merged_pages": 64, "unmerged": 0}
keys = ["pid", "page_size", "regions", "region_pages", "merged_pages", "zero_pages", "merges",
        "cow_breaks", "unmerged"]
assert sorted(d) == sorted(keys), sorted(d)
assert all(isinstance(d[k], int) for k in keys)
assert all(d[k] == v for k, v in want.items()), d
assert d["merges"] >= 1
' "$tmp/out" "$pa" 2> "$tmp/py.err"
ok $? "ksmctl stats --pid PID --json: every counter, the same values$(tail -n 1 "$tmp/py.err" | sed 's/^/: /')"
run stats --pid "$pb" --prometheus
python3 -c '
import re, sys
text, pid = open(sys.argv[1]).read(), sys.argv[2]
helped, typed, samples = set(), {}, {}
for line in text.splitlines():
    if m := re.fullmatch(r"# HELP (ksm_process_[a-z_]+) \S.*", line):
        helped.add(m.group(1)); continue
    if m := re.fullmatch(r"# TYPE (ksm_process_[a-z_]+) (counter|gauge)", line):
        assert m.group(1) in helped, line
        typed[m.group(1)] = m.group(2); continue
    m = re.fullmatch(r"(ksm_process_[a-z_]+)\{pid=\"([0-9]+)\"\} ([0-9]+)", line)
    assert m, "bad line: " + line
    assert m.group(1) in typed and m.group(2) == pid, line
    assert (typed[m.group(1)] == "counter") == m.group(1).endswith("_total"), line
    samples[m.group(1)] = int(m.group(3))
assert samples.get("ksm_process_merged_pages") == 64 and samples.get("ksm_process_region_pages") == 64, samples
assert len(samples) == 7 and "ksm_process_merges_total" in samples, samples
' "$tmp/out" "$pb" 2> "$tmp/py.err"
ok $? "ksmctl stats --pid PID --prometheus: 7 families with HELP/TYPE and a pid label$(tail -n 1 "$tmp/py.err" | sed 's/^/: /')"
run stats --pid "$pa" --json -o "$tmp/pa.json"
[ $rc = 0 ] && [ -z "$out" ] && python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["merged_pages"] != 64)' "$tmp/pa.json"
ok $? "ksmctl stats --pid PID -o FILE writes FILE (rc $rc)"
run stats --pid $$
[ $rc = 0 ] && grep -qE "^process +$$\$" "$tmp/out" && grep -qE '^regions +0 ' "$tmp/out"
ok $? "ksmctl stats --pid of a process without regions (this shell): regions 0 (rc $rc)"
run stats --pid 0 --json
[ $rc = 0 ] && python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); sys.exit(d["pid"] <= 0 or d["regions"] != 0)' "$tmp/out"
ok $? "ksmctl stats --pid 0: ksmctl's own counters, under its own pid (rc $rc)"
run stats --pid 2147483647
[ $rc = 1 ] && grep -q "no such process" "$tmp/err"
ok $? "a pid nobody has: exit 1: $err"
run stats --pid 2
[ $rc = 1 ] && grep -q "no such process, or one without memory" "$tmp/err"
ok $? "a kernel thread (pid 2, kthreadd): exit 1: $err"
chmod 666 /dev/ksm
as_nobody stats --pid "$pa"
[ $rc = 1 ] && grep -q "CAP_SYS_ADMIN" "$tmp/err"
ok $? "as nobody, another process's counters: exit 1: $(head -n 1 "$tmp/err")"
chmod 600 /dev/ksm
usage_case "not a number" "stats --pid abc" stats --pid abc
usage_case "not a number" "stats --pid -1" stats --pid -1
usage_case "too large" "stats --pid 2147483648" stats --pid 2147483648
usage_case "needs a process id" "stats --pid (nothing after it)" stats --pid

# ---- merge_across_nodes cannot change while kernel pages are held ----
run config merge_across_nodes=$((1 - $(awk '$1 == "merge_across_nodes" { print $2 }' <<< "$saved")))
[ $rc = 1 ] && grep -q "Device or resource busy" "$tmp/err" && grep -q "ksmctl unmerge" "$tmp/err" &&
	[ "$(kernel_config)" = "$saved" ]
ok $? "changing merge_across_nodes with merged pages: exit 1, suggests unmerging: $(head -n 1 "$tmp/err")"

# ---- unmerge ----
unmerged0=$(cat $sysfs/unmerged)
run unmerge
unmerged1=$(cat $sysfs/unmerged)
[ $rc = 0 ] && [ "$out" = "unmerged 128 pages (0 failed)" ] && [ $((unmerged1 - unmerged0)) = 128 ]
ok $? "ksmctl unmerge gives all 2 x 64 merged mappings private copies: '$out' (sysfs unmerged +$((unmerged1 - unmerged0)))"
[ "$(cat $sysfs/pages_sharing)" = 0 ] && [ "$(cat $sysfs/pages_shared)" = 0 ]
ok $? "nothing is shared any more (pages_shared $(cat $sysfs/pages_shared), pages_sharing $(cat $sysfs/pages_sharing))"
run stats --pid "$pa" --json
python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); sys.exit(not (d["merged_pages"] == 0 and d["unmerged"] == 64 and d["regions"] == 1))' "$tmp/out"
ok $? "stats --pid: merged_pages 0, unmerged 64, still registered ($(tr -d ' \n' < "$tmp/out"))"
run unmerge
[ $rc = 0 ] && [ "$out" = "unmerged 0 pages (0 failed)" ]
ok $? "a second ksmctl unmerge has nothing to do: '$out'"
usage_case "no arguments" "unmerge extra" unmerge extra
stop_holder a && stop_holder b
ok $? "both processes' memory still holds what they wrote"
holder_pids=()

# With no kernel page held, merge_across_nodes can change (and back).
for _ in $(seq 50); do [ "$(cat $sysfs/kpages_held)" = 0 ] && break; sleep 0.1; done
mode=$(awk '$1 == "merge_across_nodes" { print $2 }' <<< "$saved")
run config merge_across_nodes=$((1 - mode))
rc1=$rc
got=$(kernel_config | awk '$1 == "merge_across_nodes" { print $2 }')
run config merge_across_nodes="$mode"
[ $rc1 = 0 ] && [ "$got" = $((1 - mode)) ] && [ $rc = 0 ] && [ "$(kernel_config)" = "$saved" ]
ok $? "with no kernel page held, merge_across_nodes changes to $((1 - mode)) and back (rc $rc1, $rc)"

tap_end
