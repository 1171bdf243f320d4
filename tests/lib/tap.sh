# SPDX-License-Identifier: GPL-2.0
# TAP for the shell tests (source it): `ok STATUS DESCRIPTION' prints one line, numbered, and counts
# a non-zero STATUS as a failure; `tap_end' prints the plan and returns 1 if anything failed.
n=0
failed=0

# ok STATUS DESCRIPTION: one TAP line.
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

# tap_end: the plan; the status says whether every check passed.
tap_end() {
	echo "1..$n"
	[ "$failed" = 0 ]
}
