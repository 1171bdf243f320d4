# SPDX-License-Identifier: GPL-2.0
# The benchmark (bench/), included by the top Makefile (which defines CC, CFLAGS_USER, KERNELS and
# KSMU_HDRS/KSMU_CFLAGS, the helper library lib/ksmu.h):
#
#   make bench                      build the module, the tools and build/bench/ksm-bench, then boot a
#                                   guest of each kernel in turn and run the benchmark in it
#   make bench BENCH_ARGS="-s 64 -r 1"      smaller and quicker (any ksm-bench options, see --help)
#   make bench BENCH_KERNELS=6.12   one kernel only
#   make bench-build                only build build/bench/ksm-bench
#
# Results: build/bench/<kernel version>.jsonl (one JSON line per mode) and .log (the whole output).
# See docs/performance.md.

BENCH_ARGS ?=
BENCH_KERNELS ?= 6.1 6.12
BENCH_MEMORY ?= 4096
BENCH_SMP ?= 2
BENCH_TIMEOUT ?= 3000
BENCH_SRCS := $(wildcard bench/*.c)

.PHONY: bench-build

build/bench/ksm-bench: $(BENCH_SRCS) bench/ksm_bench.h $(KSMU_HDRS) $(wildcard uapi/linux/*.h) \
		bench/bench.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) $(KSMU_CFLAGS) -o $@ $(BENCH_SRCS) -lm

bench-build: build/bench/ksm-bench

bench: modules-all tools build/bench/ksm-bench
	BENCH_ARGS="$(BENCH_ARGS)" BENCH_MEMORY="$(BENCH_MEMORY)" BENCH_SMP="$(BENCH_SMP)" \
		BENCH_TIMEOUT="$(BENCH_TIMEOUT)" bench/run-vm $(BENCH_KERNELS)
