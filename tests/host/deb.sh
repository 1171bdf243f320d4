#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The Debian packages, host side (TAP): `make deb' builds ksm-dkms and ksm-tools; lintian finds no error
# and no warning that is not overridden with a reason; the packages hold what docs/install.md says, and
# the version is dkms.conf's everywhere. Then, in a clean root of each supported release (bullseye 5.10,
# bookworm 6.1, bookworm-backports 6.12, sid 7.x: tests/host/deb-root, with that release's kernel and
# headers), as an administrator would:
#   apt install ./ksm-dkms_*.deb ./ksm-tools_*.deb   DKMS builds and installs the module for the root's
#       kernel with no error; the module has the package's version and that kernel's vermagic; the
#       release's systemd-analyze verify passes on the installed units, whose paths are the package's;
#   apt purge ksm-dkms ksm-tools   removes the module, the DKMS tree and every file the packages
#       installed (modules.dep is again what it was), and the root is what it was before the install:
#       listed before and after (type, mode, owner, size, link target) and the content of every file
#       written compared, apart from apt's and dpkg's own logs, caches and state. (What apt installs with
#       the packages, dkms and a compiler, goes in first, so "before" has it and the comparison shows what
#       the two packages themselves leave.)
#   a kernel installed later (bookworm's 6.1 headers in the backports root) gets the module from DKMS.
# ksm-tools built on bookworm needs glibc 2.34: bullseye refuses it (checked), and gets ksm-tools built
# in a bullseye root. The guest half (the DKMS module of each root loads in a guest of its kernel and
# passes the ABI suite) is tests/host/deb-guest.
#
# KSM_DEB_RELEASES: the releases (default: those of KERNELS, make check's kernels, or all four). Needs
# root; the first run makes the roots (2-4 minutes each, kept as build/deb-roots/*.tar.zst) and fills
# the apt cache build/deb-roots/apt-cache. About 4 minutes with both in place.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. "$top/tests/host/deb-common"

# Everything below runs in a mount namespace of its own: the overlay mounts go away with it.
if [ "${KSM_DEB_NS:-}" != "$$" ] && [ "$(id -u)" = 0 ]; then
	export KSM_DEB_NS=
	exec unshare --mount --propagation private bash -c 'export KSM_DEB_NS=$$; exec "$0" "$@"' "$0" "$@"
fi

failed=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }
show() { sed 's/^/#   /' "$@"; }

if [ "$(id -u)" != 0 ]; then
	not_ok "the package test runs as root (debootstrap, chroot, mount)"
	exit 1
fi
if [ "${KSM_NO_DEPS:-0}" != 1 ] && ! tests/host/deb-deps build lintian > /dev/null; then
	not_ok "tests/host/deb-deps installs dpkg-dev, debhelper, dh-dkms, lintian"
	exit 1
fi
# The releases: KSM_DEB_RELEASES, or those of make check's KERNELS (5.10 bullseye, 6.1 bookworm, 6.12
# bookworm-backports, 7 sid), or all four.
if [ -z "${KSM_DEB_RELEASES:-}" ] && [ -n "${KERNELS:-}" ]; then
	KSM_DEB_RELEASES=
	for r in $deb_releases; do
		[[ " $KERNELS " == *" $(deb_series "$r") "* ]] && KSM_DEB_RELEASES+=" $r"
	done
	[ -n "$KSM_DEB_RELEASES" ] || echo "# KERNELS=\"$KERNELS\" names no release the packages are tested on: the roots are skipped"
fi
read -r -a releases <<< "${KSM_DEB_RELEASES-$deb_releases}"
tmp=$(mktemp -d)
log=$tmp/log
mounted=()
cleanup() {
	local m
	for m in "${mounted[@]}"; do umount -l "$m" 2> /dev/null || true; done
	rm -rf "$tmp" "$deb_roots"/*.run
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# The roots and the apt cache are shared with tests/host/deb-guest: one user at a time.
mkdir -p "$deb_roots"
exec 8> "$deb_roots/.test.lock"
flock -w 1800 8 || { not_ok "no other package test holds $deb_roots/.test.lock (waited 30 minutes)"; exit 1; }

# --- 1. make deb ----------------------------------------------------------------------------------------
version=$(make -s --no-print-directory print-version)
start=$(date +%s)
if make --no-print-directory deb > "$log" 2>&1; then
	ok "make deb builds ksm-dkms and ksm-tools ($(($(date +%s) - start))s)"
else
	not_ok "make deb builds ksm-dkms and ksm-tools"
	show "$log"
	exit 1
fi
dkms_deb=$(compgen -G "build/deb/ksm-dkms_*_all.deb")
tools_deb=$(compgen -G "build/deb/ksm-tools_*_amd64.deb")
changes=$(compgen -G "build/deb/ksm_*_amd64.changes")
debversion=$(dpkg-deb -f "$dkms_deb" Version)
if [ "${debversion%-*}" = "$version" ] && [ "$(dpkg-deb -f "$tools_deb" Version)" = "$debversion" ] &&
	[[ "$dkms_deb" == *"_${debversion}_all.deb" ]]; then
	ok "the packages are version $debversion: dkms.conf's $version and a Debian revision"
else
	not_ok "the packages' version ($debversion) is dkms.conf's $version and a Debian revision"
fi

# A changelog that disagrees with dkms.conf stops the build (the version is written in dkms.conf only).
cp -r "$top/debian" "$tmp/debian-bad"
sed -i "1s/(\([^)]*\))/(9.9.9-1)/" "$tmp/debian-bad/changelog"
if ! make --no-print-directory deb-src DEB_OUT="$tmp/bad" > /dev/null 2>&1 ||
	! cp "$tmp/debian-bad/changelog" "$tmp"/bad/src/ksm-*/debian/changelog; then
	not_ok "a copy of the tree with a changed changelog (make deb-src)"
elif (cd "$tmp"/bad/src/ksm-* && debian/rules clean > "$log" 2>&1); then
	not_ok "debian/rules refuses a changelog whose upstream version (9.9.9) is not dkms.conf's ($version)"
else
	grep -q "dkms.conf's PACKAGE_VERSION is $version" "$log" &&
		ok "debian/rules refuses a changelog whose upstream version (9.9.9) is not dkms.conf's ($version)" ||
		{ not_ok "debian/rules refuses a changelog at 9.9.9, naming dkms.conf's version"; show "$log"; }
fi
rm -rf "$tmp/bad" "$tmp/debian-bad"

# --- 2. lintian -------------------------------------------------------------------------------------------
# Every tag at every level is shown; errors and warnings fail, overridden ones (debian/*.lintian-overrides,
# each with its reason) are listed as O: lines.
lintian --pedantic --display-info --show-overrides "$changes" > "$tmp/lintian" 2>&1 || true
grep -v '^running with root privileges' "$tmp/lintian" > "$tmp/lintian.tags" || true
counts=$(for l in E W I P O; do printf '%s %s, ' "$(grep -c "^$l: " "$tmp/lintian.tags" || true)" "$l"; done)
if ! command -v lintian > /dev/null; then
	not_ok "lintian is installed (tests/host/deb-deps lintian)"
elif grep -qE '^[EW]: ' "$tmp/lintian.tags" || grep -qE '^(internal error|Traceback)' "$tmp/lintian.tags"; then
	not_ok "lintian --pedantic: no error and no warning that is not overridden (${counts%, })"
	grep -E '^[EW]: ' "$tmp/lintian.tags" | show
else
	ok "lintian --pedantic: no error and no warning that is not overridden (${counts%, } overridden, with reasons)"
	grep -E '^[IPO]: ' "$tmp/lintian.tags" | show || true
fi

# --- 3. what the packages hold -----------------------------------------------------------------------------
dpkg-deb -c "$dkms_deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' | sort > "$tmp/dkms.files"
want=$(make -s --no-print-directory -f - print-dkms-files <<EOF
include Makefile
print-dkms-files:
	@echo \$(DKMS_FILES)
EOF
)
missing=
for f in $want; do grep -qx "/usr/src/ksm-$version/$f" "$tmp/dkms.files" || missing+=" $f"; done
extra=$(grep "^/usr/src/ksm-$version/" "$tmp/dkms.files" | sed "s|^/usr/src/ksm-$version/||" |
	while read -r f; do [ -d "$f" ] || [[ " $want " == *" $f "* ]] || printf ' %s' "$f"; done)
if [ -z "$missing" ] && [ -z "$extra" ] && ! grep -qvE "^(/usr/src/ksm-$version(/.*)?|/usr/share/(doc|lintian/overrides)/ksm-dkms(/.*)?|/usr(/share(/doc|/lintian(/overrides)?)?|/src)?|)$" "$tmp/dkms.files"; then
	ok "ksm-dkms holds /usr/src/ksm-$version: dkms.conf, module/ and uapi/ as make dkms-source copies them, and its docs"
else
	not_ok "ksm-dkms holds the module sources in /usr/src/ksm-$version (missing:${missing:- none}; extra:${extra:- none})"
fi
dpkg-deb --ctrl-tarfile "$dkms_deb" | tar -xO ./postinst > "$tmp/dkms.postinst"
if grep -q 'dkms' <<< "$(dpkg-deb -f "$dkms_deb" Depends)" && grep -q "common.postinst" "$tmp/dkms.postinst" &&
	grep -q "DKMS_VERSION=$version" "$tmp/dkms.postinst"; then
	ok "ksm-dkms depends on dkms and its postinst (dh_dkms) adds, builds and installs ksm/$version"
else
	not_ok "ksm-dkms depends on dkms and its postinst (dh_dkms) adds, builds and installs ksm/$version"
fi

dpkg-deb -c "$tools_deb" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' | grep -v '^/usr/share/doc/' | sort > "$tmp/tools.files"
cat > "$tmp/tools.want" <<'EOF'
/etc/ksm.conf
/etc/modprobe.d/ksm.conf
/lib/systemd/system/ksm-metrics.service
/lib/systemd/system/ksm-metrics.timer
/lib/systemd/system/ksm.service
/lib/udev/rules.d/60-ksm.rules
/usr/lib/ksm/libksm-preload.so
/usr/sbin/ksmctl
/usr/share/bash-completion/completions/ksmctl
/usr/share/lintian/overrides/ksm-tools
/usr/share/man/man8/ksmctl.8.gz
EOF
if diff "$tmp/tools.want" "$tmp/tools.files" > "$log"; then
	ok "ksm-tools holds ksmctl, the preload library, the man page, the completion, the udev rule, three units, two configuration files"
else
	not_ok "ksm-tools holds what docs/install.md lists (- missing, + extra)"
	show "$log"
fi
dpkg-deb --ctrl-tarfile "$tools_deb" | tar -xO ./conffiles > "$tmp/conffiles" 2> /dev/null || true
if [ "$(sort "$tmp/conffiles" | tr '\n' ' ')" = "/etc/ksm.conf /etc/modprobe.d/ksm.conf " ]; then
	ok "/etc/ksm.conf and /etc/modprobe.d/ksm.conf are conffiles"
else
	not_ok "/etc/ksm.conf and /etc/modprobe.d/ksm.conf are conffiles (conffiles: $(tr '\n' ' ' < "$tmp/conffiles"))"
fi
mkdir "$tmp/x"
dpkg-deb -x "$tools_deb" "$tmp/x"
got=$("$tmp/x/usr/sbin/ksmctl" version 2>&1 || true)
strings "$tmp/x/usr/sbin/ksmctl" > "$tmp/strings"
if [[ "$got" == "ksmctl $version "* ]] && grep -qx /usr/lib/ksm/libksm-preload.so "$tmp/strings"; then
	ok "the packaged ksmctl says version $version and looks for /usr/lib/ksm/libksm-preload.so"
else
	not_ok "the packaged ksmctl says version $version ($got) and looks for /usr/lib/ksm/libksm-preload.so"
fi
bad=$(grep -hE '^(Exec[A-Za-z]*|EnvironmentFile)=' "$tmp"/x/lib/systemd/system/ksm* | grep -oE '/[^ ]*' |
	grep -vE '^(/usr/sbin/ksmctl|/etc/ksm\.conf|/sbin/modprobe|/bin/sh|/var/lib/prometheus/node-exporter(/ksm\.prom)?)$' || true)
if [ -z "$bad" ] && grep -qx 'ExecStart=/usr/sbin/ksmctl start ${KSM_PAGES_TO_SCAN} ${KSM_MAX_PAGES_TO_MERGE} ${KSM_SLEEP_USECS}' \
	"$tmp/x/lib/systemd/system/ksm.service" && grep -qx 'EnvironmentFile=-/etc/ksm.conf' "$tmp/x/lib/systemd/system/ksm.service"; then
	ok "the units run /usr/sbin/ksmctl and read /etc/ksm.conf (no /usr/local path)"
else
	not_ok "the units run /usr/sbin/ksmctl and read /etc/ksm.conf (other paths:$(echo " $bad" | tr '\n' ' '))"
fi
dpkg-deb --ctrl-tarfile "$tools_deb" | tar -xO ./postinst > "$tmp/tools.postinst"
if grep -q "enable 'ksm.service'" "$tmp/tools.postinst" && ! grep -q "start 'ksm.service'" "$tmp/tools.postinst" &&
	grep -q "enable 'ksm-metrics.timer'" "$tmp/tools.postinst"; then
	ok "ksm-tools enables ksm.service (not started on install: the module may not be built yet) and ksm-metrics.timer"
else
	not_ok "ksm-tools enables ksm.service without starting it, and ksm-metrics.timer"
fi

# --- 4. install and purge in a clean root of each release ----------------------------------------------
# listing DIR: one line per file of the root (path, type, mode, owner, size but of directories, target).
listing() {
	(cd "$1" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp -o \
		-path ./var/cache/apt/archives \) -prune -o -printf '%p|%y|%m|%u:%g|%s|%l\n') |
		awk -F'|' -v OFS='|' '$2 == "d" { $5 = "-" } { print }' | LC_ALL=C sort
}
# What apt and dpkg keep about their own work (logs, caches, status, auto-installed marks), ld.so's cache,
# and Python's bytecode caches (bullseye's dkms runs lsb_release, a Python program, which caches its
# bytecode in __pycache__ the first time it runs): they change with any install and purge.
volatile='\./(var/log/|var/cache/(apt|debconf|ldconfig)/|var/lib/apt/(extended_states|lists/)|var/lib/dpkg/(status|status-old|available|lock|lock-frontend|triggers/)|etc/ld\.so\.cache([|]|$)|usr/lib/python3[^/]*/dist-packages/__pycache__([|/]|$))'

# The roots missing (the first run: 2-4 minutes each), two at a time.
start=$(date +%s)
missing=$(for r in "${releases[@]}"; do
	[ "$(cat "$deb_roots/$r.tar.zst.recipe" 2> /dev/null)" = "$(sed -n 's/^recipe=//p' tests/host/deb-root)" ] || echo "$r"
done)
if [ -n "$missing" ]; then
	xargs -P 2 -I{} sh -c 'tests/host/deb-root "$1" > /dev/null 2>&1 || true' sh {} <<< "$missing"
	echo "# made the package test roots of $(echo $missing) in $(($(date +%s) - start))s"
fi

for release in "${releases[@]}"; do
	series=$(deb_series "$release")
	rstart=$(date +%s)
	echo "# --- $release (kernel series $series) ---"
	if ! tarball=$(deb_tarball "$release" 2> "$log"); then
		not_ok "$release: a clean root with its kernel's headers (tests/host/deb-root $release)"
		show "$log"
		continue
	fi
	# The pristine root, unpacked once per tarball; every run mounts a fresh overlay on it.
	lower=$deb_roots/$release.pristine
	if [ ! -e "$lower/.ksm-deb-root" ] || [ "$tarball" -nt "$lower/.ksm-deb-root" ]; then
		rm -rf "$lower" && mkdir -p "$lower"
		tar --zstd -C "$lower" -xf "$tarball"
		touch "$lower/.ksm-deb-root"
	fi
	kver=$(sed -n 's/^kver=//p' "$lower/.ksm-deb-root")
	run=$deb_roots/$release.run
	rm -rf "$run"
	# overlay ROOTNAME: a fresh writable view of the pristine root at $run/ROOTNAME.
	overlay() {
		mkdir -p "$run/$1.upper" "$run/$1.work" "$run/$1"
		mount -t overlay overlay -o "lowerdir=$lower,upperdir=$run/$1.upper,workdir=$run/$1.work" "$run/$1"
		mounted=("$run/$1" "${mounted[@]}")
	}

	# bullseye: bookworm's ksm-tools is refused (glibc), and ksm-tools is built in a bullseye root.
	if [ "$release" = bullseye ]; then
		overlay build
		mkdir -p "$run/build/tmp/ksm-debs" && cp "$tools_deb" "$run/build/tmp/ksm-debs/"
		if ! deb_in_root "$run/build" apt-get install -s "/tmp/ksm-debs/$(basename "$tools_deb")" > "$log" 2>&1 &&
			grep -q 'libc6 (>= 2.3[4-9])' "$log"; then
			ok "$release: bookworm's ksm-tools is refused ($(grep -o 'Depends: libc6 (>= [0-9.]*)' "$log" | head -n 1)): bullseye has glibc 2.31"
		else
			not_ok "$release: bookworm's ksm-tools is refused for its libc6 dependency"
			show "$log"
		fi
		rm -rf "$run/build/tmp/ksm-debs"
		bstart=$(date +%s)
		if deb_build_tools "$run/build" "$(deb_tools_dir bullseye)" > "$log" 2>&1; then
			ok "$release: ksm-tools builds in a bullseye root ($(basename "$(compgen -G "$(deb_tools_dir bullseye)/ksm-tools_*.deb")"), $(($(date +%s) - bstart))s)"
		else
			not_ok "$release: ksm-tools builds in a bullseye root"
			tail -n 30 "$log" | show
		fi
		umount "$run/build" && mounted=("${mounted[@]:1}")
	fi
	if ! debs=$(deb_files "$release" 2> "$log"); then
		not_ok "$release: the two packages to install"
		show "$log"
		continue
	fi
	read -r -a debs <<< "$debs"

	overlay root
	root=$run/root
	# What apt installs with the two packages (dkms, a compiler, ...) goes in first: "before" is the root
	# with those, so that what is left after the purge is what the two packages left.
	rc=0
	deb_install --deps-only "$root" "${debs[@]}" > "$log" 2>&1 || rc=$?
	deb_in_root "$root" dpkg-query -W -f '${Package}\n' | sort > "$tmp/pkgs.deps"
	added=$(comm -13 <(tar --zstd -xOf "$tarball" ./var/lib/dpkg/status | sed -n 's/^Package: //p' | sort) "$tmp/pkgs.deps")
	if [ $rc = 0 ] && grep -qx dkms <<< "$added"; then
		ok "$release: apt resolves what the two packages need ($(wc -l <<< "$added") packages: dkms, $(grep -x 'gcc\|make\|kmod\|sudo\|fakeroot' <<< "$added" | tr '\n' ' ')...)"
	else
		not_ok "$release: apt resolves and installs what the two packages need (status $rc)"
		tail -n 20 "$log" | show
	fi
	listing "$root" > "$tmp/before"
	# The content of every file written so far (the overlay's upper layer), to compare after the purge.
	(cd "$run/root.upper" && find . -type f -print0 | xargs -0r sha1sum) | LC_ALL=C sort -k2 > "$tmp/sums.before"

	# apt install ./ksm-dkms_*.deb ./ksm-tools_*.deb
	istart=$(date +%s)
	rc=0
	deb_install "$root" "${debs[@]}" > "$tmp/install.log" 2>&1 || rc=$?
	# DKMS's and dpkg's messages: an error, a failed build or a skipped kernel would be here. (dkms 3.0.10
	# and later read the compiler's name from the kernel's .comment sections with readelf, which warns
	# about every file that has none: a message of dkms's own probing, not of the build.)
	problems=$(grep -inE 'error|fail|bad return status|skipped|warning' "$tmp/install.log" |
		grep -vE "readelf: Warning: Section '\.comment' was not dumped because it does not exist" || true)
	if [ $rc = 0 ] && grep -qF -e "Building initial module for $kver" -e "Building initial module ksm/$version for $kver" "$tmp/install.log" && [ -z "$problems" ] &&
		grep -q '^0 upgraded, 2 newly installed' "$tmp/install.log" &&
		[[ "$(deb_in_root "$root" dkms status -m ksm -v "$version" -k "$kver" 2> /dev/null)" == *': installed'* ]]; then
		ok "$release: apt install ./$(basename "${debs[0]}") ./$(basename "${debs[1]}") builds and installs ksm/$version for $kver through DKMS, no error ($(($(date +%s) - istart))s)"
	else
		not_ok "$release: apt install of the two packages builds and installs ksm/$version for $kver through DKMS, no error (status $rc)"
		tail -n 40 "$tmp/install.log" | show
		[ -z "$problems" ] || { echo "# the lines that look wrong:"; show <<< "$problems"; }
		for f in "$root"/var/lib/dkms/ksm/*/build/make.log; do [ -e "$f" ] && tail -n 30 "$f" | show; done
	fi
	ko=$(compgen -G "$root/lib/modules/$kver/updates/dkms/ksm.ko*" | head -n 1 || true)
	if [ -n "$ko" ]; then
		rel=${ko#"$root"/lib/modules/"$kver"/}
		v=$(deb_in_root "$root" modinfo -F version "/lib/modules/$kver/$rel" 2>&1 || true)
		magic=$(deb_in_root "$root" modinfo -F vermagic "/lib/modules/$kver/$rel" 2>&1 || true)
		if [ "$v" = "$version" ] && [[ "$magic" == "$kver "* ]] &&
			awk -F: -v m="$rel" '$1 == m { found = 1 } END { exit !found }' "$root/lib/modules/$kver/modules.dep"; then
			ok "$release: /lib/modules/$kver/$rel: version $version, vermagic $kver, in modules.dep"
		else
			not_ok "$release: /lib/modules/$kver/$rel has version $version ($v), vermagic $kver ($magic) and is in modules.dep"
		fi
	else
		not_ok "$release: DKMS installed the module in /lib/modules/$kver/updates/dkms"
	fi
	got=$(deb_in_root "$root" ksmctl version 2>&1 || true)
	if [[ "$got" == "ksmctl $version "* ]] && [ -f "$root/usr/lib/ksm/libksm-preload.so" ] &&
		deb_in_root "$root" sh -c '. /etc/ksm.conf && [ "$KSM_ENABLED" = yes ]' &&
		[ -L "$root/etc/systemd/system/multi-user.target.wants/ksm.service" ] &&
		[ -L "$root/etc/systemd/system/timers.target.wants/ksm-metrics.timer" ]; then
		ok "$release: ksmctl $version runs there; /etc/ksm.conf is read by sh; ksm.service and ksm-metrics.timer are enabled"
	else
		not_ok "$release: ksmctl runs ($got); /etc/ksm.conf; ksm.service and ksm-metrics.timer enabled"
	fi
	# The release's own systemd-analyze: every command must exist in the root, and its owner is the package
	# (ksmctl, ksm.conf) or the system (sh, modprobe). Any message is a failure.
	if DEB_ROOT_SYS=1 deb_in_root "$root" systemd-analyze verify --man=no /lib/systemd/system/ksm.service \
		/lib/systemd/system/ksm-metrics.service /lib/systemd/system/ksm-metrics.timer > "$log" 2>&1 && [ ! -s "$log" ]; then
		owners=$(deb_in_root "$root" dpkg -S /usr/sbin/ksmctl /etc/ksm.conf /lib/systemd/system/ksm.service 2>&1 |
			cut -d: -f1 | sort -u | tr '\n' ' ')
		if [ "$owners" = "ksm-tools " ] && [ -x "$root/sbin/modprobe" ] && [ -x "$root/bin/sh" ]; then
			ok "$release: systemd-analyze verify ($(deb_in_root "$root" systemd-analyze --version | head -n 1 | cut -d' ' -f1-2)) passes on ksm.service, ksm-metrics.service and .timer; ksmctl and ksm.conf are ksm-tools' files"
		else
			not_ok "$release: the units' ksmctl and ksm.conf are ksm-tools' files (owners: $owners)"
		fi
	else
		not_ok "$release: systemd-analyze verify passes on the installed units"
		show "$log"
	fi
	deb_in_root "$root" dpkg -L ksm-dkms ksm-tools 2> /dev/null | sort -u > "$tmp/pkg.files"

	# apt purge ksm-dkms ksm-tools
	rc=0
	deb_in_root "$root" apt-get purge -y ksm-dkms ksm-tools > "$log" 2>&1 || rc=$?
	listing "$root" > "$tmp/after"
	left=
	while read -r f; do
		# A package's directories that were there before (the system's) stay, of course.
		[ -n "$f" ] && [ "$f" != /. ] || continue
		if [ -e "$root$f" ] || [ -L "$root$f" ]; then
			[ -d "$root$f" ] && [ -d "$lower$f" ] && continue
			left+=" $f"
		fi
	done < "$tmp/pkg.files"
	for p in "/usr/src/ksm-$version" /var/lib/dkms/ksm "/lib/modules/$kver/updates/dkms/ksm.ko" \
		"/lib/modules/$kver/updates/dkms/ksm.ko.xz" "/lib/modules/$kver/updates/dkms/ksm.ko.zst"; do
		[ ! -e "$root$p" ] || left+=" $p"
	done
	depsame=yes
	for f in modules.dep modules.dep.bin modules.alias modules.symbols; do
		[ ! -e "$lower/lib/modules/$kver/$f" ] || cmp -s "$lower/lib/modules/$kver/$f" "$root/lib/modules/$kver/$f" || depsame="no ($f)"
	done
	if [ $rc = 0 ] && [ -z "$left" ] && [ "$depsame" = yes ] && grep -q '^0 upgraded, 0 newly installed, 2 to remove' "$log"; then
		ok "$release: apt purge ksm-dkms ksm-tools removes the module, the DKMS tree and every file of the two packages; modules.dep is what it was"
	else
		not_ok "$release: apt purge removes everything of ksm (status $rc; left:${left:- none}; modules.dep the same: $depsame)"
		[ $rc = 0 ] || tail -n 20 "$log" | show
	fi
	# The root listed before the install and after the purge: the same, but apt's and dpkg's own state,
	# and DKMS's signing key: newer dkms (sid's) makes /var/lib/dkms/mok.key and mok.pub at its first
	# build of any module and keeps them (the key is enrolled once in the firmware), so they are dkms's,
	# there after any DKMS package has been installed; they are listed as a note.
	diff "$tmp/before" "$tmp/after" | grep -E '^[<>]' | grep -vE "^[<>] $volatile" > "$tmp/diff.all" || true
	grep -E '^> \./var/lib/dkms/mok\.(key|pub)\|f\|' "$tmp/diff.all" | sed 's/^> \./# note: left by dkms, its signing key: /; s/|.*//' || true
	grep -vE '^> \./var/lib/dkms/mok\.(key|pub)\|f\|' "$tmp/diff.all" > "$tmp/diff" || true
	# Files whose listing is the same but whose content changed since "before" (the overlay holds every
	# file written since the pristine root).
	(cd "$run/root.upper" && find . -type f -print0 | xargs -0r sha1sum) | LC_ALL=C sort -k2 > "$tmp/sums.after"
	changed=$(awk 'NR == FNR { b[substr($0, 43)] = $1; next }
		{ p = substr($0, 43) } (p in b) { if (b[p] != $1) print p; next } { print "new " p }' \
		"$tmp/sums.before" "$tmp/sums.after" | while read -r f; do
		case "$f" in
		"new "*) f=${f#new }; [ -f "$lower/$f" ] && ! cmp -s "$lower/$f" "$root/$f" || continue ;;
		esac
		[[ "$f" =~ ^$volatile ]] || [[ "$f" =~ ^\./var/lib/dkms/mok\.(key|pub)$ ]] || printf ' %s' "${f#.}"
	done || true)
	nfiles=$(wc -l < "$tmp/before")
	if [ ! -s "$tmp/diff" ] && [ -z "$changed" ]; then
		ok "$release: the root after the purge is the root before the install: $nfiles paths listed (type, mode, owner, size, target), contents of changed files compared, apt's and dpkg's own logs and state aside"
	else
		not_ok "$release: the root after the purge is the root before the install (contents changed:${changed:- none}; listing differences:)"
		head -n 40 "$tmp/diff" | show
	fi
	# A kernel installed later gets the module too: in the backports root (a host running 6.12), bookworm's
	# 6.1 headers, installed after ksm-dkms, make DKMS's kernel hook build and install ksm for 6.1.
	if [ "$release" = bookworm-backports ] && other=$(tests/vm/kver 6.1 2> /dev/null); then
		rc=0
		lstart=$(date +%s)
		{
			deb_install "$root" "${debs[0]}" &&
				deb_in_root "$root" apt-get install -y --no-install-recommends "linux-headers-$other"
		} > "$log" 2>&1 || rc=$?
		st=$(deb_in_root "$root" dkms status -m ksm -v "$version" -k "$other" 2> /dev/null || true)
		if [ $rc = 0 ] && [[ "$st" == *': installed'* ]] && compgen -G "$root/lib/modules/$other/updates/dkms/ksm.ko*" > /dev/null; then
			ok "$release: headers of another kernel ($other) installed after ksm-dkms: DKMS's kernel hook builds and installs ksm for it too ($(($(date +%s) - lstart))s)"
		else
			not_ok "$release: headers of another kernel ($other) installed after ksm-dkms: DKMS builds ksm for it (status $rc; dkms: ${st:-nothing})"
			tail -n 20 "$log" | show
		fi
	fi
	umount "$root" && mounted=("${mounted[@]:1}")
	rm -rf "$run"
	echo "# $release: $(($(date +%s) - rstart))s"
done

exit $failed
