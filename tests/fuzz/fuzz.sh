#!/bin/bash
# The ioctl fuzzer, short form for make check: fixed seeds (a failure names its seed; replay it with
# build/tests/fuzz/fuzz -s SEED -n N). make stress runs it long with fresh seeds.
set -u
cd "$(dirname "$0")/../.."
status=0
for seed in ${FUZZ_SEEDS:-1 20081111 4242}; do
	build/tests/fuzz/fuzz -s "$seed" -n "${FUZZ_ITERATIONS:-20000}" || status=1
done
exit $status
