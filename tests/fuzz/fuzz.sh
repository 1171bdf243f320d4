#!/bin/bash
# The ioctl fuzzer, short form for make check: fixed seeds (a failure names its seed; replay it with
# build/tests/fuzz/fuzz -s SEED -n N). make stress runs it long with fresh seeds.
set -u
cd "$(dirname "$0")/../.."
status=0
# The watchdog works: a step that blocks the signal and sleeps is reported as a hang (its "not ok" is
# this check's input, not a result: it is not passed on).
out=$(build/tests/fuzz/fuzz -s 1 -n 1000 -H -W 3 2>&1)
if [ $? -ne 0 ] && grep -q '^not ok - fuzz step 101 (seed 1) has not returned in 3 s' <<< "$out"; then
	echo "ok - the fuzzer's watchdog reports a step that does not return (a simulated hang)"
else
	echo "not ok - the fuzzer's watchdog reports a step that does not return (a simulated hang)"
	sed 's/^/# /' <<< "$out"
	status=1
fi
for seed in ${FUZZ_SEEDS:-1 20081111 4242}; do
	build/tests/fuzz/fuzz -s "$seed" -n "${FUZZ_ITERATIONS:-20000}" || status=1
done
exit $status
