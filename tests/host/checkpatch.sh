#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Kernel coding style (TAP, host side): the kernel's scripts/checkpatch.pl --no-tree -f finds no error
# and no warning in any module source or in the uapi header, one line per file.
#
# checkpatch.pl comes from $CHECKPATCH if set, else from an installed linux-headers or linux-source
# tree, else from Debian's linux-source-6.12 package, downloaded (apt-get download, no install) and
# unpacked once into build/checkpatch/ (only checkpatch.pl and the lists it reads).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/lib/tap.sh"

# find_checkpatch: print the path of a checkpatch.pl, fetching one if there is none.
find_checkpatch() {
	local cp dir deb
	if [ -n "${CHECKPATCH:-}" ]; then
		echo "$CHECKPATCH"
		return
	fi
	for cp in /usr/src/linux-headers-*/scripts/checkpatch.pl /usr/src/linux-source-*/scripts/checkpatch.pl \
		build/checkpatch/scripts/checkpatch.pl; do
		[ -f "$cp" ] && { echo "$cp"; return; }
	done
	dir=$(mktemp -d "$top/build/checkpatch.XXXXXX") || return 1
	(
		cd "$dir" && { apt-get download -q linux-source-6.12 > /dev/null 2>&1 ||
			{ apt-get update -q > /dev/null 2>&1 && apt-get download -q linux-source-6.12 > /dev/null 2>&1; }; } &&
			deb=$(ls linux-source-6.12_*.deb) &&
			dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-6.12.tar.xz | xz -dc |
			tar -x --strip-components=1 linux-source-6.12/scripts/checkpatch.pl \
				linux-source-6.12/scripts/spelling.txt \
				linux-source-6.12/scripts/const_structs.checkpatch 2> /dev/null
		[ -f scripts/checkpatch.pl ] && rm -f "$deb"
	) && rm -rf build/checkpatch && mv "$dir" build/checkpatch &&
		echo build/checkpatch/scripts/checkpatch.pl && return
	rm -rf "$dir"
	return 1
}

mkdir -p build
if ! cp=$(find_checkpatch) || [ ! -f "$cp" ]; then
	ok 1 "checkpatch.pl is available (from the headers, linux-source, or apt-get download linux-source-6.12)"
	tap_end
	exit
fi
echo "# $cp"
for f in module/*.c module/*.h module/probes/*.c uapi/linux/ksm.h uapi/linux/ksm_stat_list.h; do
	out=$(perl "$cp" --no-tree -f -q --terse --show-types "$f" 2>&1 | grep -v '^total: ')
	[ -z "$out" ]
	ok $? "checkpatch: $f${out:+: $(echo "$out" | head -n 5 | tr '\n' ' ')}"
done
tap_end
