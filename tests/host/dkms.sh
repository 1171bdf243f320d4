#!/bin/bash
# DKMS packaging, host side (TAP). For each test kernel (KERNELS, default `make print-kernels'): DKMS builds
# and installs ksm from dkms.conf, modules.dep knows it, and a guest of that kernel booted without the
# module loads it with `modprobe ksm' and uses it (tests/host/dkms-in-guest). Then `make dkms-remove' must
# leave nothing behind. The first kernel goes through the documented commands (`dkms add .', dkms build,
# dkms install), the other host kernels through `make dkms-install', whose source copy has no build/ and no
# .git. A kernel of a build root (5.10, 7.x: tests/vm/kroot) gets the same source copy in that root and is
# built and installed there by that release's own dkms, as on a bullseye or sid system.
#
# Needs root and dkms; changes /usr/src, /var/lib/dkms and /lib/modules/*/updates/dkms, and always
# undoes that on exit, so that later tests do not find a stale installed module.
. "$(dirname "$0")/../lib/host-tap.sh"

if [ "$(id -u)" != 0 ]; then
	not_ok "dkms test runs as root (it installs into /lib/modules)"
	exit 1
fi
if ! command -v dkms > /dev/null; then
	not_ok "dkms is installed (apt install dkms, or tests/deps)"
	exit 1
fi

# The version is written once, in dkms.conf: make print-version and the module (module/Kbuild) read it
# there; each built module's modinfo is checked below.
version=$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' dkms.conf)
if [ -n "$version" ] && [ "$version" = "$(make -s --no-print-directory print-version)" ] &&
	grep -q '^MODULE_VERSION(KSM_VERSION);' module/ksm_main.c; then
	ok "dkms.conf PACKAGE_VERSION ($version) = make print-version, and the module takes it from there"
else
	not_ok "dkms.conf PACKAGE_VERSION (${version:-none}) = make print-version, and the module takes it from there"
	exit 1
fi

read -r -a series <<< "${KERNELS:-$(make -s --no-print-directory print-kernels)}"
kvers=()
kroots=() # per kernel: its build root, or empty for the host's
for s in "${series[@]}"; do
	kvers+=("$(tests/vm/kver "$s")")
	kroots+=("$(tests/vm/kver --root "${kvers[-1]}")")
done

# DKMS state is system wide: one run of this test at a time.
exec 9> /run/lock/ksm-dkms-test.lock
if ! flock -w 1200 9; then
	not_ok "no other dkms test holds /run/lock/ksm-dkms-test.lock (waited 20 minutes)"
	exit 1
fi

tmp=$(mktemp -d)
log=$tmp/log

# Remove every version of ksm from DKMS, its sources and any installed .ko, whatever state it is in.
remove_all() {
	local v k
	for v in /var/lib/dkms/ksm/*/; do
		[ -d "$v" ] || continue
		v=$(basename "$v")
		dkms remove "ksm/$v" --all > /dev/null 2>&1 || true
	done
	rm -rf /var/lib/dkms/ksm /usr/src/ksm-*
	for i in "${!kvers[@]}"; do
		k=${kvers[$i]}
		r=${kroots[$i]}
		if [ -n "$r" ]; then
			tests/vm/in-root "$r" dkms remove "ksm/$version" --all > /dev/null 2>&1 || true
			rm -rf "$r"/var/lib/dkms/ksm "$r"/usr/src/ksm-*
		fi
		if compgen -G "$r/lib/modules/$k/updates/dkms/ksm.ko*" > /dev/null; then
			rm -f "$r"/lib/modules/"$k"/updates/dkms/ksm.ko*
			depmod -b "${r:-/}" -a "$k" || true
		fi
	done
}
cleanup() {
	remove_all
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ -e /var/lib/dkms/ksm ] || compgen -G "/usr/src/ksm-*" > /dev/null ||
	compgen -G "/lib/modules/*/updates/dkms/ksm.ko*" > /dev/null; then
	echo "# a ksm DKMS installation was already there (an interrupted run?): removing it first"
	remove_all
fi

# 1. The documented registration, from the top of the tree.
if dkms add . > "$log" 2>&1 && [ -f "/usr/src/ksm-$version/dkms.conf" ] && [ -L "/var/lib/dkms/ksm/$version/source" ]; then
	ok "dkms add . registers ksm/$version with its source in /usr/src/ksm-$version"
else
	not_ok "dkms add . registers ksm/$version with its source in /usr/src/ksm-$version"
	show "$log"
	exit 1
fi

# Kernels older than 5.10 are refused by BUILD_EXCLUSIVE_KERNEL (status 77), without building anything.
# (Keep this list in step with dkms.conf when the supported range changes.)
for old in 5.9.0-99-amd64 5.4.0-99-amd64 4.19.0-99-amd64; do
	rc=0
	dkms build -m ksm -v "$version" -k "$old" > "$log" 2>&1 || rc=$?
	if [ "$rc" = 77 ] && grep -q BUILD_EXCLUSIVE "$log" && [ ! -e "/var/lib/dkms/ksm/$version/$old/x86_64/module" ]; then
		ok "dkms build for $old is refused by BUILD_EXCLUSIVE_KERNEL"
	else
		not_ok "dkms build for $old is refused by BUILD_EXCLUSIVE_KERNEL (status $rc)"
		show "$log"
	fi
done

# Probe results left by an earlier build must not reach a build: dkms.conf's CLEAN deletes them (the
# build would stop at this #error otherwise: the planted file is newer than the kernel's headers).
for k in "${kvers[@]}"; do
	stale=/usr/src/ksm-$version/module/probes.out/_lib_modules_${k}_build
	mkdir -p "$stale"
	echo '#error stale compat_probes.h: the CLEAN command of dkms.conf did not run' > "$stale/compat_probes.h"
done

installed=() # kernels DKMS installed the module for
for i in "${!kvers[@]}"; do
	k=${kvers[$i]}
	r=${kroots[$i]}
	start=$(date +%s)
	rc=0
	if [ -n "$r" ]; then
		how="dkms add + build + install in the $(basename "$r") root"
		{
			make --no-print-directory dkms-source DKMS_SRC="$r/usr/src/ksm-$version" &&
				tests/vm/in-root "$r" dkms add -m ksm -v "$version" &&
				tests/vm/in-root "$r" dkms build -m ksm -v "$version" -k "$k" &&
				tests/vm/in-root "$r" dkms install -m ksm -v "$version" -k "$k"
		} > "$log" 2>&1 || rc=$?
		if [ "$rc" = 0 ] && tests/vm/in-root "$r" dkms status -m ksm -v "$version" -k "$k" 2>/dev/null |
			grep -q ': installed'; then
			ok "$how builds and installs ksm/$version for $k ($(($(date +%s) - start))s)"
		else
			not_ok "$how builds and installs ksm/$version for $k (status $rc)"
			show "$log"
			[ -e "$r/var/lib/dkms/ksm/$version/build/make.log" ] && show "$r/var/lib/dkms/ksm/$version/build/make.log"
			continue
		fi
	elif [ "$i" = 0 ]; then
		how="dkms build + dkms install"
		{ dkms build -m ksm -v "$version" -k "$k" && dkms install -m ksm -v "$version" -k "$k"; } > "$log" 2>&1 || rc=$?
	else
		how="make dkms-install KVER=$k"
		make --no-print-directory dkms-install KVER="$k" > "$log" 2>&1 || rc=$?
	fi
	if [ -n "$r" ]; then
		: # checked above, with the root's dkms
	elif [ "$rc" = 0 ] && dkms status -m ksm -v "$version" -k "$k" 2>/dev/null | grep -q ': installed'; then
		ok "$how builds and installs ksm/$version for $k ($(($(date +%s) - start))s)"
	else
		not_ok "$how builds and installs ksm/$version for $k (status $rc)"
		show "$log"
		[ -e "/var/lib/dkms/ksm/$version/build/make.log" ] && show "/var/lib/dkms/ksm/$version/build/make.log"
		continue
	fi
	if [ "$i" != 0 ] && [ -z "$r" ]; then
		# make dkms-install replaced the `dkms add .' copy with the module sources alone.
		if [ ! -e "/usr/src/ksm-$version/build" ] && [ ! -e "/usr/src/ksm-$version/.git" ] &&
			[ ! -e "/usr/src/ksm-$version/module/probes.out" ] && [ -f "/usr/src/ksm-$version/uapi/linux/ksm.h" ]; then
			ok "make dkms-install's /usr/src/ksm-$version has module/ and uapi/, no build/, .git or generated header"
		else
			not_ok "make dkms-install's /usr/src/ksm-$version has module/ and uapi/, no build/, .git or generated header"
			ls -la "/usr/src/ksm-$version" "/usr/src/ksm-$version/module" | show
		fi
	fi

	# The .ko is in updates/dkms (compressed like the kernel's own modules: ksm.ko.xz on 6.12).
	ko=$(compgen -G "$r/lib/modules/$k/updates/dkms/ksm.ko*" | head -n 1 || true)
	if [ -n "$ko" ]; then
		ok "$k: the module is installed as $ko"
	else
		not_ok "$k: the module is installed in $r/lib/modules/$k/updates/dkms"
		continue
	fi
	rel=${ko#"$r"/lib/modules/"$k"/}
	found=$(modinfo -b "${r:-/}" -k "$k" -n ksm 2>&1)
	if cut -d: -f1 "$r/lib/modules/$k/modules.dep" | grep -qxF "$rel" && [ "$found" -ef "$ko" ]; then
		ok "$k: modules.dep lists $rel and modinfo -k $k ksm resolves to it"
	else
		not_ok "$k: modules.dep lists $rel and modinfo -k $k ksm resolves to it ($found)"
	fi
	v=$(modinfo -F version "$ko" 2>&1)
	if [ "$v" = "$version" ]; then ok "$k: modinfo reports version $version"; else not_ok "$k: modinfo reports version $version (got $v)"; fi
	installed+=("$i")
done

# 2. Each kernel loads its DKMS module with modprobe, in a guest (which sees the host's /lib/modules).
for i in "${!kvers[@]}"; do
	k=${kvers[$i]}
	s=${series[$i]}
	if [[ " ${installed[*]} " != *" $i "* ]]; then
		not_ok "guest $s: modprobe ksm (not run: DKMS did not install the module for $k)"
		continue
	fi
	ko=$(compgen -G "${kroots[$i]}/lib/modules/$k/updates/dkms/ksm.ko*" | head -n 1)
	case "$ko" in
	*.xz) xz -dc "$ko" > "$tmp/ksm.ko" ;;
	*.zst) zstd -qdc "$ko" > "$tmp/ksm.ko" ;;
	*.gz) gzip -dc "$ko" > "$tmp/ksm.ko" ;;
	*) cp "$ko" "$tmp/ksm.ko" ;;
	esac
	# readelf may exit non-zero on notes newer than it (sid's binutils): the build ID is what counts.
	build_id=$(readelf -n "$tmp/ksm.ko" 2>/dev/null | awk '/Build ID:/ { print $3 }' || true)
	if [ -z "$build_id" ]; then
		not_ok "guest $s: the DKMS .ko of $k has a build ID (readelf -n $ko)"
		continue
	fi
	: > "$tmp/results"
	rc=0
	tests/vm/run --kernel "$s" --no-load --memory 1024 --timeout 600 --results "$tmp/results" \
		-- tests/host/dkms-in-guest "$version" "$build_id" > "$tmp/console" 2>&1 || rc=$?
	sed -E 's/^(not )?ok - /&guest '"$s"': /' "$tmp/results"
	if grep -q '^not ok' "$tmp/results"; then failed=1; fi
	if [ "$rc" != 0 ] || ! grep -q '^ok' "$tmp/results"; then
		not_ok "guest $s: the modprobe checks ran to the end with a clean kernel log (status $rc)"
		grep -av '^\[' "$tmp/console" | tail -n 30 | show
	fi
done

# 3. Removal leaves nothing: no .ko, no sources, no DKMS tree, no modules.dep entry.
if make --no-print-directory dkms-remove > "$log" 2>&1; then
	ok "make dkms-remove (dkms remove ksm/$version --all) succeeds"
else
	not_ok "make dkms-remove (dkms remove ksm/$version --all) succeeds"
	show "$log"
fi
left=
for r in $(printf '%s\n' "${kroots[@]}" | sort -u); do
	if tests/vm/in-root "$r" dkms remove "ksm/$version" --all > "$log" 2>&1 && rm -rf "$r/usr/src/ksm-$version"; then
		ok "dkms remove ksm/$version --all in the $(basename "$r") root succeeds"
	else
		not_ok "dkms remove ksm/$version --all in the $(basename "$r") root succeeds"
		show "$log"
	fi
	left+=$(compgen -G "$r/lib/modules/*/updates/dkms/ksm.ko*" || true)
	left+=$(compgen -G "$r/usr/src/ksm-*" || true)
	[ ! -e "$r/var/lib/dkms/ksm" ] || left+=" $r/var/lib/dkms/ksm"
done
left+=$(compgen -G "/lib/modules/*/updates/dkms/ksm.ko*" || true)
left+=$(compgen -G "/usr/src/ksm-*" || true)
[ ! -e /var/lib/dkms/ksm ] || left+=" /var/lib/dkms/ksm"
for i in "${!kvers[@]}"; do
	k=${kvers[$i]}
	r=${kroots[$i]}
	if grep -q '\(^\|/\)ksm\.ko' "$r/lib/modules/$k/modules.dep" || modinfo -b "${r:-/}" -k "$k" ksm > /dev/null 2>&1; then
		left+=" ksm in $r/lib/modules/$k/modules.dep"
	fi
done
if [ -z "$left" ]; then
	ok "nothing of ksm is left after dkms-remove"
else
	not_ok "nothing of ksm is left after dkms-remove; left:$(echo " $left" | tr '\n' ' ')"
fi

exit $failed
