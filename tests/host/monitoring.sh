#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Monitoring, host side (TAP): what `ksmctl stats --prometheus' prints passes `promtool check metrics'
# (Debian's prometheus package: format and lint), system wide and with --pid, for ordinary and extreme
# values; ksm-metrics.service's own command writes the file node_exporter's textfile collector reads, at
# once and atomically (a reader never sees half a file, no temporary file is left), and Debian's
# node_exporter exports it without a scrape error; the service and its timer pass systemd-analyze verify,
# and the timer fires every 30 seconds.
#
# No module on the host: ksmctl runs with tests/host/helpers/ksm-dev-stub.c preloaded, which answers
# its /dev/ksm ioctls with made-up counters, so ksmctl's real output code is what is checked (the guest
# half, tests/host/deb-guest, checks the same with the packaged ksmctl and the real module). promtool and
# node_exporter are extracted from Debian's packages into build/deb-tools (tests/host/deb-deps), not
# installed. Needs `make tools'.
. "$(dirname "$0")/../lib/host-tap.sh"

ksmctl=$top/build/tools/ksmctl
[ -x "$ksmctl" ] || { not_ok "$ksmctl is built (make tools)"; exit 1; }
promtool=$top/build/deb-tools/prometheus/usr/bin/promtool
exporter=$top/build/deb-tools/prometheus-node-exporter/usr/bin/prometheus-node-exporter
if [ "${KSM_NO_DEPS:-0}" != 1 ] && [ "$(id -u)" = 0 ]; then
	tests/host/deb-deps promtool > /dev/null || true
fi
if [ ! -x "$promtool" ] || [ ! -x "$exporter" ]; then
	not_ok "promtool and node_exporter are in build/deb-tools (tests/host/deb-deps promtool)"
	exit 1
fi
tmp=$(mktemp -d)
exporter_pid=
cleanup() {
	[ -z "$exporter_pid" ] || kill "$exporter_pid" 2> /dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
if ! cc -std=c11 -Wall -Wextra -Werror -fPIC -shared -Iuapi -o "$tmp/stub.so" tests/host/helpers/ksm-dev-stub.c \
	-ldl 2> "$tmp/cc.log"; then
	not_ok "tests/host/helpers/ksm-dev-stub.c builds"
	show "$tmp/cc.log"
	exit 1
fi
stub() { LD_PRELOAD=$tmp/stub.so "$ksmctl" --no-load "$@"; }
promver=$("$promtool" --version 2>&1 | head -n 1 | awk '{ print $3 }')

# check NAME FILE: promtool check metrics reads FILE from its standard input: exit 0 and no message.
check() {
	local rc=0
	"$promtool" check metrics < "$2" > "$tmp/promtool.out" 2>&1 || rc=$?
	if [ $rc = 0 ] && [ ! -s "$tmp/promtool.out" ]; then
		ok "promtool $promver check metrics: $1"
	else
		not_ok "promtool $promver check metrics: $1 (exit $rc)"
		show "$tmp/promtool.out"
	fi
}
# families FILE: the number of metric families (TYPE lines).
families() { grep -c '^# TYPE ' "$1" || true; }

for values in small max; do
	rc=0
	KSM_STUB_VALUES=$values stub stats --prometheus > "$tmp/$values.prom" 2> "$tmp/err" || rc=$?
	n=$(families "$tmp/$values.prom")
	if [ $rc = 0 ] && [ "$n" -ge 30 ]; then
		check "ksmctl stats --prometheus ($n families, $values values)" "$tmp/$values.prom"
	else
		not_ok "ksmctl stats --prometheus prints the module's counters ($values values; exit $rc, $n families)"
		show "$tmp/err"
	fi
done
# The stub's values are in the output, unit conversions included (1234 ms, a negative profit).
if grep -qx 'ksm_last_full_scan_seconds 1.234' "$tmp/small.prom" && grep -qx 'ksm_general_profit -4096' "$tmp/small.prom" &&
	grep -qx 'ksm_kksmd_sleep_seconds 0.020000' "$tmp/small.prom" && ! grep -q '_ms ' "$tmp/small.prom"; then
	ok "durations are in seconds (ksm_last_full_scan_seconds 1.234 for 1234 ms), signed values keep their sign"
else
	not_ok "durations are in seconds (ksm_last_full_scan_seconds 1.234) and signed values keep their sign"
	grep -E 'last_full|general_profit|sleep' "$tmp/small.prom" | show
fi
rc=0
stub stats --prometheus --pid 1 > "$tmp/pid.prom" 2> "$tmp/err" || rc=$?
if [ $rc = 0 ] && [ "$(families "$tmp/pid.prom")" -ge 7 ]; then
	check "ksmctl stats --prometheus --pid 1 ($(families "$tmp/pid.prom") families)" "$tmp/pid.prom"
else
	not_ok "ksmctl stats --prometheus --pid 1 (exit $rc)"
	show "$tmp/err"
fi

# --- ksm-metrics.service's command, into a stand-in of node_exporter's textfile directory ---------------
unit=packaging/ksm-metrics.service
textdir=/var/lib/prometheus/node-exporter
cmd=$(sed -n 's/^ExecStart=//p' "$unit")
dir=$tmp/textfile
mkdir "$dir"
# The unit's own command line, with the built ksmctl and the temporary directory.
read -r -a argv <<< "${cmd//$textdir/$dir}"
if [ "${argv[0]}" = /usr/local/sbin/ksmctl ] && [[ " ${argv[*]} " == *" --no-load "* ]] &&
	[ "${argv[-1]}" = "$dir/ksm.prom" ] && grep -qx "ConditionPathIsDirectory=$textdir" "$unit" &&
	grep -qx "ConditionPathExists=/dev/ksm" "$unit"; then
	ok "ksm-metrics.service runs ksmctl --no-load stats --prometheus -o $textdir/ksm.prom, only where that directory and /dev/ksm exist"
else
	not_ok "ksm-metrics.service runs ksmctl --no-load ... -o $textdir/ksm.prom with its two conditions ($cmd)"
fi
argv[0]=$ksmctl
rc=0
LD_PRELOAD=$tmp/stub.so "${argv[@]}" > "$tmp/out" 2>&1 || rc=$?
if [ $rc = 0 ] && [ ! -s "$tmp/out" ] && [ "$(stat -c %a "$dir/ksm.prom" 2>/dev/null)" = 644 ] &&
	[ "$(ls "$dir")" = ksm.prom ]; then
	ok "it writes ksm.prom (mode 644, readable by node_exporter's user) and nothing else"
	check "the ksm.prom it writes" "$dir/ksm.prom"
else
	not_ok "it writes ksm.prom, mode 644, and nothing else (exit $rc; files: $(ls "$dir" | tr '\n' ' '))"
	show "$tmp/out"
fi

# Atomic: a reader polling the file while 100 runs replace it never sees a partial file.
last=$(tail -n 1 "$dir/ksm.prom" | cut -d' ' -f1)
lines=$(wc -l < "$dir/ksm.prom")
(
	for _ in $(seq 100); do LD_PRELOAD=$tmp/stub.so "${argv[@]}" || exit 1; done
	touch "$tmp/writer.done"
) > "$tmp/writer.log" 2>&1 &
writer=$!
reads=0
torn=0
while [ ! -e "$tmp/writer.done" ] && kill -0 "$writer" 2> /dev/null; do
	if content=$(cat "$dir/ksm.prom" 2> /dev/null); then
		reads=$((reads + 1))
		if [ "$(printf '%s\n' "$content" | wc -l)" != "$lines" ] ||
			[ "$(printf '%s\n' "$content" | tail -n 1 | cut -d' ' -f1)" != "$last" ]; then
			torn=$((torn + 1))
		fi
	fi
done
wrc=0
wait "$writer" || wrc=$?
leftover=$(ls "$dir" | grep -vx ksm.prom || true)
if [ $wrc = 0 ] && [ "$reads" -gt 0 ] && [ $torn = 0 ] && [ -z "$leftover" ]; then
	ok "100 runs replace ksm.prom atomically: $reads reads while they ran, none saw a partial file; no temporary file left"
else
	not_ok "100 runs replace ksm.prom atomically (writer exit $wrc; $reads reads, $torn partial; left: ${leftover:-none})"
	show "$tmp/writer.log"
fi

# Debian's node_exporter, with only its textfile collector, on a loopback port: it exports the counters
# and reports no scrape error for the directory.
port=$((20000 + $$ % 20000))
"$exporter" --collector.disable-defaults --collector.textfile --collector.textfile.directory="$dir" \
	--web.listen-address="127.0.0.1:$port" > "$tmp/exporter.log" 2>&1 &
exporter_pid=$!
scraped=
for _ in $(seq 50); do
	scraped=$(python3 -c 'import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=2).read().decode())' "$port" 2> /dev/null) && break
	sleep 0.2
done
kill "$exporter_pid" 2> /dev/null || true
wait "$exporter_pid" 2> /dev/null || true
exporter_pid=
if grep -q '^ksm_memory_saved_bytes ' <<< "$scraped" && grep -q '^ksm_pages_skipped_total{reason="swapped"} ' <<< "$scraped" &&
	grep -qx 'node_textfile_scrape_error 0' <<< "$scraped"; then
	ok "node_exporter $("$exporter" --version 2>&1 | awk 'NR == 1 { print $3 }') reads ksm.prom with its textfile collector: the ksm_* families are exported, node_textfile_scrape_error 0"
else
	not_ok "node_exporter reads ksm.prom with its textfile collector, without a scrape error"
	grep -E '^(node_textfile|ksm_memory)' <<< "$scraped" | show || true
	tail -n 5 "$tmp/exporter.log" | show
fi

# --- the units ------------------------------------------------------------------------------------------
if command -v systemd-analyze > /dev/null; then
	p=$tmp/prefix
	if make --no-print-directory install-tools install-system DESTDIR=/ PREFIX="$p" SYSCONFDIR="$p/etc" \
		UDEVRULESDIR="$p/udev" > "$tmp/log" 2>&1; then
		rc=0
		MANPATH="$p/share/man:" systemd-analyze verify "$p/lib/systemd/system/ksm-metrics.service" \
			"$p/lib/systemd/system/ksm-metrics.timer" > "$tmp/log" 2>&1 || rc=$?
		if [ $rc = 0 ] && [ ! -s "$tmp/log" ] && grep -q "^ExecStart=$p/sbin/ksmctl " "$p/lib/systemd/system/ksm-metrics.service"; then
			ok "systemd-analyze verify ksm-metrics.service ksm-metrics.timer (installed with PREFIX): exit 0, no message"
		else
			not_ok "systemd-analyze verify ksm-metrics.service ksm-metrics.timer (status $rc)"
			show "$tmp/log"
		fi
	else
		not_ok "make install-tools install-system under a temporary PREFIX"
		show "$tmp/log"
	fi
	spec=$(sed -n 's/^OnCalendar=//p' packaging/ksm-metrics.timer)
	next=$(systemd-analyze calendar --iterations=3 "$spec" 2> /dev/null | sed -n 's/^ *\(Next elapse\|Iter\. #[23]\): [A-Za-z]* //p' |
		while read -r d t z; do date -d "$d $t $z" +%s; done | tr '\n' ' ')
	read -r a b c <<< "$next"
	if [ -n "${c:-}" ] && [ $((b - a)) = 30 ] && [ $((c - b)) = 30 ] && grep -qx 'WantedBy=timers.target' packaging/ksm-metrics.timer; then
		ok "ksm-metrics.timer (OnCalendar=$spec) fires every 30 seconds, wanted by timers.target"
	else
		not_ok "ksm-metrics.timer (OnCalendar=$spec) fires every 30 seconds (next: $next)"
	fi
else
	echo "ok - systemd-analyze verify ksm-metrics.service ksm-metrics.timer # SKIP no systemd-analyze"
fi
exit $failed
