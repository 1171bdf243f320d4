# SPDX-License-Identifier: GPL-2.0
# Installation, included by the top Makefile. See docs/install.md.
#
#   make install   [KVER=<version>] [DESTDIR=<dir>] [PREFIX=/usr/local]
#                  the module for KVER (default: the running kernel) into /lib/modules/KVER/updates/ksm.ko
#                  and depmod; ksmctl, libksm-preload.so, the man page and bash completion under PREFIX; the
#                  udev rule, the systemd unit, /etc/ksm.conf and /etc/modprobe.d/ksm.conf (those two only
#                  if they do not exist yet: they are the administrator's).
#   make uninstall [KVER=...] [DESTDIR=...] [PREFIX=...]
#                  removes all that; the two configuration files only if they are unchanged.
#   make install-module | install-tools | install-system    parts of install (uninstall-* likewise)
#   make dkms-install [KVER=<version>]    copy the module sources to /usr/src/ksm-VERSION, dkms add, build,
#                                         install for KVER (default: the running kernel)
#   make dkms-remove                      dkms remove ksm/VERSION --all, and delete /usr/src/ksm-VERSION
#   make install-dkms-source [DESTDIR=...]   the module sources DKMS builds, in DESTDIR/usr/src/ksm-VERSION
#                                         (without dkms.conf: the Debian build's dh_dkms installs it)
#   make deb                              the Debian packages ksm-dkms and ksm-tools (debian/), built with
#                                         dpkg-buildpackage in a copy of the tree, into build/deb/
#
# With DESTDIR set nothing outside DESTDIR is touched: no depmod, no systemd or udev reload.

# The version is written once, in dkms.conf.
KSM_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$$/\1/p' $(TOP)/dkms.conf)

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
KSMLIBDIR ?= $(LIBDIR)/ksm
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
MODPROBEDIR ?= $(SYSCONFDIR)/modprobe.d
# udev reads /lib/udev/rules.d and /etc/udev/rules.d (not /usr/local); systemd also reads
# /usr/local/lib/systemd/system, so the unit follows PREFIX.
UDEVRULESDIR ?= /lib/udev/rules.d
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
MODDIR ?= /lib/modules
# The kernel `make install' installs the module for (KVER is the top Makefile's variable: unset means
# the running kernel here, not an error).
INSTALL_KVER = $(or $(KVER),$(shell uname -r))
INSTALL_MODDIR = $(MODDIR)/$(INSTALL_KVER)/updates

INSTALL ?= install
DEPMOD ?= depmod
DKMS ?= dkms
DKMS_SRC = /usr/src/ksm-$(KSM_VERSION)

# Userspace files, each installed only if its source exists (the tools are optional in this tree).
KSM_TOOL_FILES := $(if $(wildcard $(TOP)/tools/ksmctl.c),ksmctl) \
	$(if $(wildcard $(TOP)/tools/ksm_preload.c),preload) \
	$(if $(wildcard $(TOP)/docs/ksmctl.8),man) \
	$(if $(wildcard $(TOP)/tools/ksmctl.bash-completion),completion)

# What DKMS needs to build the module: no build/ products, no generated header.
DKMS_FILES = dkms.conf $(sort $(wildcard uapi/linux/*.h)) module/Makefile module/Kbuild module/conftest.sh \
	$(filter-out module/compat_probes.h module/%.mod.c,$(sort $(wildcard module/*.c module/*.h))) \
	$(sort $(wildcard module/probes/*.c))

.PHONY: install-module install-tools install-system uninstall-module uninstall-tools uninstall-system \
	dkms-source dkms-install dkms-remove print-version install-dkms-source deb deb-src

print-version:
	@echo $(KSM_VERSION)

install: install-module install-tools install-system

uninstall: uninstall-module uninstall-tools uninstall-system

# --- the module ------------------------------------------------------------------------------------
install-module:
	@test -d $(MODDIR)/$(INSTALL_KVER)/build || { echo "make install: no headers for kernel $(INSTALL_KVER)" \
		"($(MODDIR)/$(INSTALL_KVER)/build is missing): install linux-headers-$(INSTALL_KVER) or pass KVER=<version>" >&2; exit 2; }
	$(MAKE) --no-print-directory build/kmod/$(INSTALL_KVER)/ksm.ko KVER=$(INSTALL_KVER)
	$(INSTALL) -D -m 0644 build/kmod/$(INSTALL_KVER)/ksm.ko $(DESTDIR)$(INSTALL_MODDIR)/ksm.ko
	@if [ -z "$(DESTDIR)" ]; then \
		echo "$(DEPMOD) -a $(INSTALL_KVER)"; $(DEPMOD) -a $(INSTALL_KVER) || exit 1; \
		if [ -e $(MODDIR)/$(INSTALL_KVER)/updates/dkms/ksm.ko ] || [ -e $(MODDIR)/$(INSTALL_KVER)/updates/dkms/ksm.ko.xz ]; then \
			echo "make install: warning: DKMS also installed ksm for $(INSTALL_KVER) (updates/dkms): keep only one (make dkms-remove or make uninstall)" >&2; \
		fi; \
	fi

uninstall-module:
	rm -f $(DESTDIR)$(INSTALL_MODDIR)/ksm.ko
	@-rmdir $(DESTDIR)$(INSTALL_MODDIR) 2>/dev/null || true
	@if [ -z "$(DESTDIR)" ] && [ -d $(MODDIR)/$(INSTALL_KVER)/kernel ]; then \
		echo "$(DEPMOD) -a $(INSTALL_KVER)"; $(DEPMOD) -a $(INSTALL_KVER); fi

# --- the userspace tools (built by tools/tools.mk) ---------------------------------------------------
install-tools: tools
	@set -e; \
	need() { test -e "$$1" || { echo "make install: $$1 is missing (make tools)" >&2; exit 1; }; }; \
	for t in $(KSM_TOOL_FILES); do case $$t in \
	ksmctl) need $(TOOLS_DIR)/ksmctl; \
		echo "install $(TOOLS_DIR)/ksmctl $(DESTDIR)$(SBINDIR)/ksmctl"; \
		$(INSTALL) -D -m 0755 $(TOOLS_DIR)/ksmctl $(DESTDIR)$(SBINDIR)/ksmctl ;; \
	preload) need $(TOOLS_DIR)/libksm-preload.so; \
		echo "install $(TOOLS_DIR)/libksm-preload.so $(DESTDIR)$(KSMLIBDIR)/libksm-preload.so"; \
		$(INSTALL) -D -m 0644 $(TOOLS_DIR)/libksm-preload.so $(DESTDIR)$(KSMLIBDIR)/libksm-preload.so ;; \
	man) echo "install docs/ksmctl.8 $(DESTDIR)$(MANDIR)/man8/ksmctl.8"; \
		$(INSTALL) -D -m 0644 docs/ksmctl.8 $(DESTDIR)$(MANDIR)/man8/ksmctl.8 ;; \
	completion) echo "install tools/ksmctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/ksmctl"; \
		$(INSTALL) -D -m 0644 tools/ksmctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/ksmctl ;; \
	esac; done
	@for f in tools/ksmctl.c tools/ksm_preload.c docs/ksmctl.8 tools/ksmctl.bash-completion; do \
		[ -e $$f ] || echo "make install: $$f is not in this tree: not installed"; done

uninstall-tools:
	rm -f $(DESTDIR)$(SBINDIR)/ksmctl $(DESTDIR)$(KSMLIBDIR)/libksm-preload.so \
		$(DESTDIR)$(MANDIR)/man8/ksmctl.8 $(DESTDIR)$(BASHCOMPDIR)/ksmctl
	@-rmdir $(DESTDIR)$(KSMLIBDIR) 2>/dev/null || true

# --- udev rule, systemd units, configuration --------------------------------------------------------
# The units name ksmctl and ksm.conf by path: rewrite them for SBINDIR and SYSCONFDIR. ksm.service loads
# the module and starts kksmd; ksm-metrics.timer runs ksm-metrics.service, which writes the counters for
# node_exporter's textfile collector (docs/monitoring.md).
KSM_UNIT_SED = -e 's|/usr/local/sbin/ksmctl|$(SBINDIR)/ksmctl|g' -e 's|/etc/ksm\.conf|$(SYSCONFDIR)/ksm.conf|g'
KSM_UNITS = ksm.service ksm-metrics.service ksm-metrics.timer

install-system:
	$(INSTALL) -D -m 0644 packaging/60-ksm.rules $(DESTDIR)$(UDEVRULESDIR)/60-ksm.rules
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR)
	@set -e; for u in $(KSM_UNITS); do \
		echo "sed ... packaging/$$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u"; \
		sed $(KSM_UNIT_SED) packaging/$$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
	done
	@set -e; for pair in ksm.conf:$(SYSCONFDIR)/ksm.conf ksm.modprobe.conf:$(MODPROBEDIR)/ksm.conf; do \
		src=packaging/$${pair%%:*}; dst=$(DESTDIR)$${pair#*:}; \
		if [ -e "$$dst" ]; then echo "make install: $$dst exists: kept (the new default is $$src)"; \
		else echo "install $$src $$dst"; $(INSTALL) -D -m 0644 "$$src" "$$dst"; fi; \
	done
	@if [ -z "$(DESTDIR)" ]; then \
		if [ -d /run/systemd/system ]; then echo "systemctl daemon-reload"; systemctl daemon-reload || true; fi; \
		if udevadm control --reload 2>/dev/null; then echo "udevadm control --reload"; fi; \
	fi

uninstall-system:
	rm -f $(DESTDIR)$(UDEVRULESDIR)/60-ksm.rules $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(KSM_UNITS))
	@set -e; for pair in ksm.conf:$(SYSCONFDIR)/ksm.conf ksm.modprobe.conf:$(MODPROBEDIR)/ksm.conf; do \
		src=packaging/$${pair%%:*}; dst=$(DESTDIR)$${pair#*:}; \
		[ -e "$$dst" ] || continue; \
		if cmp -s "$$src" "$$dst"; then echo "rm -f $$dst"; rm -f "$$dst"; \
		else echo "make uninstall: $$dst was changed: kept"; fi; \
	done
	@if [ -z "$(DESTDIR)" ]; then \
		if [ -d /run/systemd/system ]; then echo "systemctl daemon-reload"; systemctl daemon-reload || true; fi; \
		if udevadm control --reload 2>/dev/null; then echo "udevadm control --reload"; fi; \
	fi

# --- DKMS -------------------------------------------------------------------------------------------
# `dkms add .' works too but copies the whole tree (build/ included); this copies what the build needs.
dkms-source:
	@test "$$(id -u)" = 0 || { echo "make $@: run as root (writes $(DKMS_SRC))" >&2; exit 2; }
	@test -n "$(KSM_VERSION)" || { echo "make $@: no PACKAGE_VERSION in dkms.conf" >&2; exit 2; }
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)
	cp --parents $(DKMS_FILES) $(DKMS_SRC)/

dkms-install: dkms-source
	@set -e; m="-m ksm -v $(KSM_VERSION)"; k=$(INSTALL_KVER); \
	if [ -d /var/lib/dkms/ksm/$(KSM_VERSION)/$$k ]; then \
		echo "$(DKMS) remove $$m -k $$k (rebuild from the new sources)"; $(DKMS) remove $$m -k $$k; fi; \
	if [ ! -e /var/lib/dkms/ksm/$(KSM_VERSION)/source ]; then echo "$(DKMS) add $$m"; $(DKMS) add $$m; fi; \
	echo "$(DKMS) build $$m -k $$k"; $(DKMS) build $$m -k $$k; \
	echo "$(DKMS) install $$m -k $$k"; $(DKMS) install $$m -k $$k

dkms-remove:
	@test "$$(id -u)" = 0 || { echo "make $@: run as root" >&2; exit 2; }
	@set -e; if [ -e /var/lib/dkms/ksm/$(KSM_VERSION) ]; then \
		echo "$(DKMS) remove ksm/$(KSM_VERSION) --all"; $(DKMS) remove ksm/$(KSM_VERSION) --all; fi
	rm -rf $(DKMS_SRC)

# The sources of the ksm-dkms package (debian/rules), without dkms.conf, which dh_dkms installs.
install-dkms-source:
	@test -n "$(KSM_VERSION)" || { echo "make $@: no PACKAGE_VERSION in dkms.conf" >&2; exit 2; }
	$(INSTALL) -d $(DESTDIR)/usr/src/ksm-$(KSM_VERSION)
	cp --parents $(filter-out dkms.conf,$(DKMS_FILES)) $(DESTDIR)/usr/src/ksm-$(KSM_VERSION)/

# --- Debian packages ---------------------------------------------------------------------------------
# dpkg-buildpackage in a copy of the tree (the files git tracks or would track, without build/), so the
# work tree gets no debian/ build products and build/ (tools, kernel build roots) is left alone. The
# packages, .changes and .buildinfo land in DEB_OUT. Build dependencies: debian/control's Build-Depends
# (apt-get build-dep ./ installs them). DEB_BUILD_FLAGS: more dpkg-buildpackage options.
# `make deb-src' makes only that copy, DEB_OUT/src/ksm-VERSION (tests/host/deb.sh builds bullseye's
# ksm-tools from it in a bullseye root).
DEB_OUT ?= build/deb
DEB_BUILD_FLAGS ?=
deb-src:
	@set -e; src=$(DEB_OUT)/src/ksm-$(KSM_VERSION); rm -rf $(DEB_OUT)/src; mkdir -p $$src; \
	if [ -d .git ] && command -v git > /dev/null; then \
		git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' | \
			xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
			tar --null -T - -cf - | tar -xf - -C $$src; \
	else \
		tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C $$src; \
	fi

deb: deb-src
	@command -v dpkg-buildpackage > /dev/null || { echo "make deb: dpkg-buildpackage is missing:" \
		"apt install dpkg-dev debhelper dh-dkms libkmod-dev pkg-config" >&2; exit 2; }
	@set -e; src=$(DEB_OUT)/src/ksm-$(KSM_VERSION); \
	rm -f $(DEB_OUT)/*.deb $(DEB_OUT)/*.changes $(DEB_OUT)/*.buildinfo; \
	echo "dpkg-buildpackage -us -uc -b $(DEB_BUILD_FLAGS) (in $$src)"; \
	(cd $$src && dpkg-buildpackage -us -uc -b $(DEB_BUILD_FLAGS)) > $(DEB_OUT)/build.log 2>&1 || \
		{ tail -n 40 $(DEB_OUT)/build.log >&2; echo "make deb: dpkg-buildpackage failed (log: $(DEB_OUT)/build.log)" >&2; exit 1; }; \
	mv $(DEB_OUT)/src/*.deb $(DEB_OUT)/src/*.changes $(DEB_OUT)/src/*.buildinfo $(DEB_OUT)/; \
	rm -rf $(DEB_OUT)/src; \
	ls -1 $(DEB_OUT)/*.deb
