#!/bin/bash
# Guest test (suite packaging): packaging/ksm.modprobe.conf (installed as /etc/modprobe.d/ksm.conf) sets
# nothing as shipped, documents exactly the module's parameters, and its example options line is
# accepted by modprobe (a module tree and modprobe.d of our own: -d and -C); a modprobe.d-style line
# with every parameter is accepted by insmod. Leaves the module loaded with its defaults.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tmp=$(mktemp -d)
conf=packaging/ksm.modprobe.conf
kver=$(uname -r)
ko=${KSM_MODULE:-build/kmod/$kver/ksm.ko}
params=/sys/module/ksm/parameters
finish() {
	# Back to the module with default parameters, as guest-run expects it.
	[ ! -d /sys/module/ksm ] || rmmod ksm
	insmod "$ko" || echo "# could not reload $ko"
	rm -rf "$tmp"
}
trap finish EXIT

# unload: rmmod ksm, say so if it fails.
unload() {
	[ -d /sys/module/ksm ] || return 0
	rmmod ksm && return 0
	ok 1 "rmmod ksm (to load it again with parameters)"
	return 1
}

# check_line "options ksm a=1 b=2": each a=1 shows in /sys/module/ksm/parameters/a (a bool parameter
# given as 1/0, y/n shows Y/N). Prints the mismatches.
check_line() {
	local kv bad= have want
	for kv in ${1#options ksm }; do
		have=$(cat "$params/${kv%%=*}" 2>&1)
		want=${kv#*=}
		case "$have:$want" in
		Y:1 | Y:y | N:0 | N:n) want=$have ;;
		esac
		[ "$have" = "$want" ] || bad+=" ${kv%%=*}=$have"
	done
	echo "$bad"
	[ -z "$bad" ]
}

# 1. As shipped the file only comments: installing it changes nothing.
active=$(grep -vE '^[[:space:]]*(#|$)' "$conf")
ok "$([ -z "$active" ]; echo $?)" "$conf sets nothing as shipped (${active:-only comments})"

# 2. It documents the module's parameters, no more, no fewer (test_* parameters are for tests only).
documented=$(sed -n 's/^#   \([a-z_0-9]\{1,\}\)[[:space:]]\{2,\}.*/\1/p' "$conf" | sort)
actual=$(modinfo -p "$ko" | cut -d: -f1 | grep -v '^test_' | sort)
ok "$([ -n "$actual" ] && [ "$documented" = "$actual" ]; echo $?)" \
	"$conf documents the parameters of modinfo -p ($(tr '\n' ' ' <<< "$actual"))$([ "$documented" = "$actual" ] ||
		echo "; it documents: $(tr '\n' ' ' <<< "$documented")")"

# 3. Its example line, uncommented, works with modprobe: a module tree with our ksm.ko (depmod -b) and a
# modprobe.d directory with that line.
example=$(sed -n 's/^#\(options ksm .*\)/\1/p' "$conf")
ok "$([ "$(printf '%s\n' "$example" | grep -c .)" = 1 ]; echo $?)" "$conf has one example options line ($example)"
mkdir -p "$tmp/root/lib/modules/$kver/extra" "$tmp/modprobe.d"
cp "$ko" "$tmp/root/lib/modules/$kver/extra/ksm.ko"
printf '%s\n' "$example" > "$tmp/modprobe.d/ksm.conf"
if ! depmod -b "$tmp/root" "$kver" 2> "$tmp/depmod.log"; then
	sed 's/^/# /' "$tmp/depmod.log"
	ok 1 "depmod -b of a module tree holding ksm.ko"
elif unload; then
	out=$(modprobe -d "$tmp/root" -C "$tmp/modprobe.d" ksm 2>&1)
	ok $? "modprobe ksm with the example line in modprobe.d loads the module${out:+: $out}"
	bad=$(check_line "$example")
	ok $? "the example's values are in $params${bad:+ (differ:$bad)}"
fi

# 4. A modprobe.d-style line setting every parameter (powers of two where the module rounds up), its
# arguments given to insmod.
line="options ksm page_hash_size=8192 sha1_hash_size=4096 max_kernel_pages=100000 max_regions=1000"
line+=" max_regions_per_sma=100 rmap_hash_size=512"
if unload; then
	read -r -a args <<< "${line#options ksm }"
	out=$(insmod "$ko" "${args[@]}" 2>&1)
	ok $? "insmod ksm.ko with every parameter of '$line'${out:+: $out}"
	bad=$(check_line "$line")
	ok $? "those values are in $params${bad:+ (differ:$bad)}"
	ok "$([ -c /dev/ksm ]; echo $?)" "/dev/ksm exists with those parameters"
fi

tap_end
