# SPDX-License-Identifier: GPL-2.0
# Userspace tools, included by the top Makefile (which defines CC, CFLAGS_USER and the `tools' target):
#
#   build/tools/ksmctl              the control program (libkmod)
#   build/tools/libksm-preload.so   the LD_PRELOAD library that registers MADV_MERGEABLE memory
#   build/tools/register-example    the 2008 QEMU integration, as a small program (not installed)
#
# and the helpers of the tools test suite (tests/tools/helpers/), built with the tests.
#
# KSM_PRELOAD_PATH: where `ksmctl run' looks for the library when it is neither next to ksmctl nor in
# ../lib/ksm/ from it: make install's KSMLIBDIR (packaging/packaging.mk), evaluated when ksmctl is built.
# KSMCTL_VERSION: what `ksmctl version' prints, dkms.conf's PACKAGE_VERSION (KSM_VERSION, from
# packaging/packaging.mk): the version is written there only.
# TOOLS_DIR: where the programs are built (build/tools; the Debian build uses a directory of its own).
# CPPFLAGS, CFLAGS and LDFLAGS from the environment are added (the Debian build's hardening flags).

KSM_PRELOAD_PATH ?= $(if $(KSMLIBDIR),$(KSMLIBDIR),/usr/local/lib/ksm)/libksm-preload.so
KMOD_CFLAGS := $(shell pkg-config --cflags libkmod 2>/dev/null)
KMOD_LIBS := $(shell pkg-config --libs libkmod 2>/dev/null || echo -lkmod)

TOOLS_DIR ?= build/tools
TOOLS_BINS := $(TOOLS_DIR)/ksmctl $(TOOLS_DIR)/libksm-preload.so $(TOOLS_DIR)/register-example

tools: $(TOOLS_BINS)

$(TOOLS_DIR)/ksmctl: tools/ksmctl.c tools/ksm_preload_env.h uapi/linux/ksm.h uapi/linux/ksm_stat_list.h tools/tools.mk dkms.conf
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) $(CPPFLAGS) $(CFLAGS) $(KMOD_CFLAGS) -DKSM_PRELOAD_PATH='"$(KSM_PRELOAD_PATH)"' \
		-DKSMCTL_VERSION='"$(KSM_VERSION)"' -o $@ $< $(LDFLAGS) $(KMOD_LIBS)

$(TOOLS_DIR)/libksm-preload.so: tools/ksm_preload.c tools/ksm_preload_env.h uapi/linux/ksm.h tools/tools.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) $(CPPFLAGS) $(CFLAGS) -fPIC -shared -pthread -fvisibility=hidden -Wl,-z,defs \
		-o $@ $< $(LDFLAGS) -ldl

$(TOOLS_DIR)/register-example: tools/examples/register-example.c uapi/linux/ksm.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS)

# Test helpers: C programs (built like the tests, by the pattern rule of the top Makefile) and the tiny
# guest firmware of the QEMU tests. They live in a subdirectory, so tests/guest-run does not run them.
TOOLS_TEST_HELPERS := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/tools/helpers/*.c)) \
	build/tests/tools/helpers/serial-counter.bin build/tests/vms/helpers/linux-guest.cpio

tests: $(TOOLS_TEST_HELPERS)

build/tests/tools/qemu_paused build/tests/tools/qemu_running build/tests/tools/ksmctl_scan \
	build/tests/vms/qemu_linux: tests/tools/helpers/qemu.h

# The initramfs of the small Linux guests (tests/vms/qemu_linux, the demo): init, static, and the
# mount points it needs.
build/tests/vms/helpers/linux-guest.cpio: tests/vms/linux-guest/init.c
	@rm -rf $@.d && mkdir -p $@.d/dev $@.d/proc
	$(CC) $(CFLAGS_USER) -static -s -o $@.d/init $<
	@cd $@.d && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 > ../$(notdir $@)
	@rm -rf $@.d

build/tests/tools/helpers/serial-counter.bin: tests/tools/helpers/serial-counter.s
	@mkdir -p $(dir $@)
	as --32 -o $@.o $<
	objcopy -O binary -j .text $@.o $@
	@rm -f $@.o
	@test "$$(stat -c %s $@)" = 65536 || { echo "$@: not 64 KiB" >&2; rm -f $@; exit 1; }
