#!/bin/bash
# Guest test (suite packaging): the command lines of packaging/ksm.service do what the unit means when run
# by hand the way systemd runs them: ExecCondition with KSM_ENABLED values, and ExecStart, ExecReload and
# ExecStop with the settings of packaging/ksm.conf (sourced as systemd's EnvironmentFile= reads it),
# checked in /sys/class/misc/ksm/kksmd/, and ExecStop once the module is unloaded. ExecStartPre
# (modprobe ksm) is tests/host/dkms.sh's business. ksmctl is $KSMCTL, else the one on PATH (guest-run
# puts build/tools first); without it the kksmd points are skipped.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unit=packaging/ksm.service
ksmctl=${KSMCTL:-$(command -v ksmctl || true)}
kk=/sys/class/misc/ksm/kksmd

# unit_cmd KEY: the command line of KEY= in the unit, as sh words, with ksmctl's installed path replaced by
# the ksmctl under test and systemd's "$$" turned back into "$". ${NAME} stays for the caller to expand.
unit_cmd() {
	local line
	line=$(sed -n "s/^$1=//p" "$unit")
	[ -n "$line" ] || { echo "no $1= in $unit" >&2; return 1; }
	line=${line//\$\$/\$}
	printf '%s\n' "${line//\/usr\/local\/sbin\/ksmctl/$ksmctl}"
}

declare -A cmd
for key in ExecCondition ExecStart ExecReload ExecStop; do
	cmd[$key]=$(unit_cmd "$key") || cmd[$key]=false
done
# The unit's Environment= defaults, NAME=value words.
read -r -a defaults <<< "$(sed -n 's/^Environment=//p' "$unit")"

# run_as_systemd CONF KEY: run KEY's command with the environment systemd would give it: the unit's
# Environment= defaults, then CONF's variables (EnvironmentFile=), ${NAME} expanded.
run_as_systemd() {
	env -i PATH="$PATH" "${defaults[@]}" bash -c 'set -a; . "$1"; set +a; eval "exec $2"' run "$1" "${cmd[$2]}"
}

# The ExecStart command must be exactly this (the tests below run it by hand, as docs/install.md says).
start_cmd=$(sed -n 's/^ExecStart=//p' "$unit")
want='/usr/local/sbin/ksmctl start ${KSM_PAGES_TO_SCAN} ${KSM_MAX_PAGES_TO_MERGE} ${KSM_SLEEP_USECS}'
ok "$([ "$start_cmd" = "$want" ]; echo $?)" "ExecStart is '$want' (it is '$start_cmd')"

# ExecCondition: KSM_ENABLED=no (and the like) skips the unit, yes (or unset) lets it run.
for v in yes 1 ""; do
	printf 'KSM_ENABLED=%s\n' "$v" > "$tmp/enabled.conf"
	run_as_systemd "$tmp/enabled.conf" ExecCondition
	ok $? "ExecCondition lets the unit start with KSM_ENABLED='$v'"
done
for v in no 0 false off; do
	printf 'KSM_ENABLED=%s\n' "$v" > "$tmp/enabled.conf"
	rc=0
	run_as_systemd "$tmp/enabled.conf" ExecCondition || rc=$?
	# 1 ... 254 skips the unit; 255 or a signal would fail it.
	ok "$([ "$rc" -ge 1 ] && [ "$rc" -le 254 ]; echo $?)" "ExecCondition skips the unit with KSM_ENABLED=$v (status $rc)"
done

if [ -z "$ksmctl" ] || [ ! -x "$ksmctl" ]; then
	for what in "ExecStart with ksm.conf starts kksmd with its settings" \
		"ExecReload applies changed settings" "ExecStop stops kksmd"; do
		skip "$what" "no ksmctl (make tools; tools/ksmctl.c is not in the tree yet?)"
	done
	tap_end
	exit
fi
if [ ! -d "$kk" ]; then
	ok 1 "the module is loaded ($kk exists)"
	echo "1..$n"
	exit 1
fi
settings() {
	local r p m s
	read -r r < $kk/running; read -r p < $kk/pages_to_scan; read -r m < $kk/max_pages_to_merge; read -r s < $kk/sleep_usecs
	echo "$r $p $m $s"
}

# ExecStart with the shipped ksm.conf: kksmd runs with its settings.
conf_vals=$(env -i sh -c '. ./packaging/ksm.conf; echo "$KSM_PAGES_TO_SCAN $KSM_MAX_PAGES_TO_MERGE $KSM_SLEEP_USECS"')
out=$(run_as_systemd packaging/ksm.conf ExecStart 2>&1)
rc=$?
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
got=$(settings)
ok "$([ $rc = 0 ] && [ "$got" = "1 $conf_vals" ]; echo $?)" \
	"ExecStart with ksm.conf starts kksmd with its settings (status $rc; want running 1 $conf_vals, have $got)"
ok "$(pgrep -x kksmd > /dev/null; echo $?)" "a kksmd thread runs"

# ExecReload with other values (not the module's defaults): they come from the configuration file.
sed -e 's/^KSM_PAGES_TO_SCAN=.*/KSM_PAGES_TO_SCAN=321/' -e 's/^KSM_MAX_PAGES_TO_MERGE=.*/KSM_MAX_PAGES_TO_MERGE=17/' \
	-e 's/^KSM_SLEEP_USECS=.*/KSM_SLEEP_USECS=25000/' packaging/ksm.conf > "$tmp/ksm.conf"
out=$(run_as_systemd "$tmp/ksm.conf" ExecReload 2>&1)
rc=$?
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
got=$(settings)
ok "$([ $rc = 0 ] && [ "$got" = "1 321 17 25000" ]; echo $?)" \
	"ExecReload applies changed settings (status $rc; want 1 321 17 25000, have $got)"

# A configuration file without the settings: the unit's Environment= defaults apply.
echo 'KSM_ENABLED=yes' > "$tmp/empty.conf"
out=$(run_as_systemd "$tmp/empty.conf" ExecStart 2>&1)
rc=$?
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
got=$(settings)
ok "$([ $rc = 0 ] && [ "$got" = "1 100 100 10000" ]; echo $?)" \
	"ExecStart without settings in ksm.conf uses the unit's defaults (status $rc; want 1 100 100 10000, have $got)"

# ExecStop.
out=$(run_as_systemd packaging/ksm.conf ExecStop 2>&1)
rc=$?
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
ok "$([ $rc = 0 ] && [ "$(cat $kk/running)" = 0 ]; echo $?)" "ExecStop stops kksmd (status $rc)"
sleep 0.2
ok "$(! pgrep -x kksmd > /dev/null; echo $?)" "no kksmd thread is left"

# ExecStop once the module was unloaded (rmmod; removing ksm-tools runs the unit's stop): nothing to stop,
# a success, and the module is not loaded again (ksmctl stop would load it).
if [ -n "${KSM_MODULE:-}" ] && rmmod ksm 2> /dev/null; then
	out=$(run_as_systemd packaging/ksm.conf ExecStop 2>&1)
	rc=$?
	[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
	ok "$([ $rc = 0 ] && [ ! -d /sys/module/ksm ]; echo $?)" \
		"ExecStop with the module unloaded succeeds and does not load it again (status $rc)"
	[ -d /sys/module/ksm ] || insmod "$KSM_MODULE" || echo "# could not load $KSM_MODULE again"
else
	skip "ExecStop with the module unloaded succeeds and does not load it again" "it could not be unloaded"
fi

tap_end
