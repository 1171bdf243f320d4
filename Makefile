# SPDX-License-Identifier: GPL-2.0
# ksm: a /dev/ksm page-merging module for today's kernels. See README.md.
#
#   make                 the module for the running kernel (if its headers are installed) and the tools
#   make KVER=<version>  the module against /lib/modules/<version>/build
#   make modules-all     the module for every kernel the tests use (KERNELS), warnings are errors
#   make tools           the userspace programs (-Wall -Wextra -Werror)
#   make check           install what is missing, build, run every suite in a guest of each KERNELS
#   make demo            boot a guest, merge real workloads, print what was saved
#   make stress          torture, fuzz and OOM tests with fresh seeds, 30 minutes in each guest
#   make checkpatch      the kernel's checkpatch.pl on the module sources

SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build
# The kernels make check tests: Debian's 6.1 and 6.12 on the host, 5.10 (bullseye) and 7.x (sid) in
# build roots of their own (tests/vm/kroot), then the PREEMPT_RT images of 6.1 and 6.12 (host). Fast
# ones first. Written here only: tests/check and the host tests ask `make print-kernels'.
KERNELS ?= 6.1 6.12 5.10 7 6.1-rt 6.12-rt
CC ?= cc
CFLAGS_USER := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I$(TOP)/uapi
# lib/ksmu.h: the userspace helpers the tests and the benchmark share (header-only).
KSMU_HDRS := $(wildcard lib/*.h)
KSMU_CFLAGS := -I$(TOP)/lib

MODULE_SRCS := $(wildcard module/*.c module/*.h module/probes/*.c) module/Kbuild module/Makefile \
	module/conftest.sh uapi/linux/ksm.h uapi/linux/ksm_stat_list.h dkms.conf

.PHONY: all module modules-all tools tests check stress demo bench deps checkpatch clean install uninstall \
	print-kernels

print-kernels:
	@echo $(KERNELS)

# Userspace tools add their targets as prerequisites of `tools' (tools/tools.mk);
# install/uninstall/DKMS targets live in packaging/packaging.mk.
tools:
	@mkdir -p build/tools

-include tools/tools.mk
-include packaging/packaging.mk
-include bench/bench.mk
-include demo/demo.mk

all: tools
	@if [ -d /lib/modules/$(shell uname -r)/build ]; then $(MAKE) module KVER=$(shell uname -r); \
	else echo "make: no headers for the running kernel $$(uname -r): module not built (try make KVER=...)"; fi

# Build in a per-kernel copy of the sources: kbuild writes its outputs next to them. A kernel
# that lives in a build root (5.10, sid: tests/vm/kroot) is built inside that root, by the
# compiler it was built with (tests/vm/in-root).
build/kmod/%/ksm.ko: $(MODULE_SRCS)
	@rm -rf $(BUILD)/kmod/$*/src && mkdir -p $(BUILD)/kmod/$*/src
	@cp -r module uapi dkms.conf $(BUILD)/kmod/$*/src/
	@set -e; root=$$(tests/vm/kver --root $*); \
	if [ -z "$$root" ]; then \
		$(MAKE) -C $(BUILD)/kmod/$*/src/module KVER=$* WERROR=$(WERROR); \
		cp $(BUILD)/kmod/$*/src/module/ksm.ko $@; \
	else \
		rm -rf "$$root/ksm-build/$*" && mkdir -p "$$root/ksm-build/$*"; \
		cp -r module uapi dkms.conf "$$root/ksm-build/$*/"; \
		echo "  building for $* in $$root"; \
		tests/vm/in-root "$$root" make -C /ksm-build/$*/module KVER=$* WERROR=$(WERROR); \
		cp "$$root/ksm-build/$*/module/ksm.ko" $@; \
	fi

module:
	@test -n "$(KVER)" || { echo "make module: KVER is not set"; exit 2; }
	$(MAKE) build/kmod/$(KVER)/ksm.ko KVER=$(KVER)
	@cp build/kmod/$(KVER)/ksm.ko module/ksm.ko
	@echo "built module/ksm.ko for $(KVER)"

# Each kernel's build is independent (its own source copy, or its own build root): run them in
# parallel. tests/vm/kver makes a missing build root first (5.10, 7).
modules-all:
	@set -e; kos=; for k in $(KERNELS); do \
		v=$$(tests/vm/kver $$k); kos="$$kos build/kmod/$$v/ksm.ko"; \
	done; \
	$(MAKE) --no-print-directory -j$$(nproc) $$kos WERROR=1

# Tests: tests/SUITE/NAME.c -> build/tests/SUITE/NAME. Each includes tests/lib/ktest.h, which
# includes lib/ksmu.h and the uapi header.
TEST_SRCS := $(filter-out tests/lib/%,$(wildcard tests/*/*.c))
TEST_BINS := $(patsubst tests/%.c,build/tests/%,$(TEST_SRCS))
TEST_HDRS := tests/lib/ktest.h $(KSMU_HDRS) $(wildcard uapi/linux/*.h)

build/tests/%: tests/%.c $(TEST_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) $(KSMU_CFLAGS) -Itests/lib -pthread -o $@ $< -lm

tests: $(TEST_BINS)

check:
	tests/check

# Kernel coding style of the module and the uapi header (make check runs it too).
checkpatch:
	tests/host/checkpatch.sh

# The long form of the stress suites (STRESS_MINUTES per kernel, default 30).
stress: modules-all tools tests
	tests/stress/long

clean:
	rm -rf build module/ksm.ko
