#!/bin/bash
# The torture test, short form for make check: an ext4 file system on a loop device (tmpfs does
# not do O_DIRECT on 6.1) gives O_DIRECT reads into registered pages.
# Environment: TORTURE_ARGS (default: a fixed seed and a size that takes well under a minute).
set -u
cd "$(dirname "$0")/../.."
args=${TORTURE_ARGS:--s 20261122 -n 24000 -p 3 -t 3 -P 1024}
dir=$(mktemp -d /tmp/ksm-odirect.XXXXXX)
img=$dir.img
cleanup() { umount "$dir" 2>/dev/null; rm -rf "$dir" "$img"; }
trap cleanup EXIT
odirect=()
if modprobe loop 2>/dev/null && modprobe ext4 2>/dev/null && truncate -s 32M "$img" &&
	mkfs.ext4 -q -F "$img" >/dev/null 2>&1 && mount -o loop "$img" "$dir" &&
	build/tests/stress/torture -g "$dir/data"; then
	odirect=(-d "$dir")
else
	echo "# no loop-mounted ext4: running without O_DIRECT"
fi
# shellcheck disable=SC2086
exec build/tests/stress/torture $args "${odirect[@]}"
