# SPDX-License-Identifier: GPL-2.0
# Running ksmctl in the shell tests (source it after setting $tmp to a scratch directory).

# run ARGS...: ksmctl with stdout in $out, stderr in $err, status in $rc.
run() {
	ksmctl "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# as_nobody ARGS...: the same, as user and group 65534 without capabilities.
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$(command -v ksmctl)" "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}
