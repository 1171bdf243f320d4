#!/bin/bash
# Guest test (suite packaging): packaging/60-ksm.rules applied by a real systemd-udevd. The guest runs no
# udevd, so this starts one (the rules go to /run/udev/rules.d, a tmpfs in the guest), spoils the mode of
# /dev/ksm, replays the "add" uevent and checks what udev made of it: root:root 0600 with the rule as
# shipped, root:kvm 0660 with its documented group example. Only in a test guest (KSM_VM=1): it
# starts and stops udevd.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
rules=packaging/60-ksm.rules
udevd=/lib/systemd/systemd-udevd
tmp=$(mktemp -d)
# udevadm and udevd refuse to act in a chroot (the guest runs its tests in one) unless told.
export SYSTEMD_IGNORE_CHROOT=1

done_() { tap_end; exit; }
if [ "${KSM_VM:-0}" != 1 ]; then
	skip "udev applies 60-ksm.rules" "not in a test guest (KSM_VM=1): this starts its own udevd"
	done_
fi
if [ ! -x "$udevd" ] || ! command -v udevadm > /dev/null; then
	skip "udev applies 60-ksm.rules" "no $udevd or udevadm (package udev)"
	done_
fi
if [ -e /run/udev/control ]; then
	skip "udev applies 60-ksm.rules" "a udevd already runs"
	done_
fi

cleanup() {
	udevadm control --exit 2> /dev/null
	rm -rf /run/udev/rules.d/60-ksm.rules "$tmp"
	chown root:root /dev/ksm 2> /dev/null
	chmod 0600 /dev/ksm 2> /dev/null
}
trap cleanup EXIT

mkdir -p /run/udev/rules.d
cp "$rules" /run/udev/rules.d/60-ksm.rules
if ! "$udevd" --daemon > "$tmp/udevd.log" 2>&1; then
	sed 's/^/# /' "$tmp/udevd.log"
	ok 1 "systemd-udevd --daemon starts"
	done_
fi
udevadm control --ping --timeout=10 || echo "# udevd does not answer"

# The rule parses and matches: udevadm test lists our rule's assignments for the device.
udevadm test --action=add /sys/class/misc/ksm > "$tmp/test.log" 2>&1
trouble=$(grep -i '60-ksm.rules' "$tmp/test.log" | grep -iE 'invalid|error|ignor|unknown|fail' || true)
applied=$(grep -cE '60-ksm\.rules:[0-9]+ (OWNER|GROUP|MODE)' "$tmp/test.log" || true)
ok "$([ -z "$trouble" ] && [ "$applied" = 3 ]; echo $?)" \
	"udevadm test: 60-ksm.rules parses and sets OWNER, GROUP, MODE of /dev/ksm ($applied assignments)${trouble:+: $trouble}"
[ "$applied" = 3 ] || grep -E '60-ksm|Reading rules' "$tmp/test.log" | sed 's/^/# /'

# replay MODE GROUP: give /dev/ksm that mode and group, send the add uevent, wait for udev.
replay() {
	chgrp "$2" /dev/ksm && chmod "$1" /dev/ksm &&
		udevadm trigger --action=add --settle /sys/class/misc/ksm
}

# As shipped: back to root:root 0600 whatever it was.
replay 0666 kvm 2> /dev/null || replay 0666 1 # kvm may not exist: any other group
got=$(stat -c '%U:%G %a' /dev/ksm)
ok "$([ "$got" = "root:root 600" ]; echo $?)" "with 60-ksm.rules as shipped udev makes /dev/ksm root:root 0600 ($got)"

# The documented example: comment out the rule, uncomment the GROUP="kvm" line.
if ! getent group kvm > /dev/null; then
	skip "the GROUP=\"kvm\" example makes /dev/ksm root:kvm 0660" "no kvm group on this system"
else
	sed -e 's/^SUBSYSTEM==/#&/' -e 's/^#\(SUBSYSTEM==.*GROUP="kvm".*\)/\1/' "$rules" > /run/udev/rules.d/60-ksm.rules
	grep -vE '^[[:space:]]*(#|$)' /run/udev/rules.d/60-ksm.rules | sed 's/^/# active: /'
	udevadm control --reload
	replay 0644 root
	got=$(stat -c '%U:%G %a' /dev/ksm)
	ok "$([ "$got" = "root:kvm 660" ]; echo $?)" "the GROUP=\"kvm\" example makes /dev/ksm root:kvm 0660 ($got)"
fi

done_
