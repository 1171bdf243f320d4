# SPDX-License-Identifier: GPL-2.0
# make demo [KERNEL=6.1|6.12]: install what is missing, build, boot a guest of KERNEL (default 6.12) and
# merge real workloads with the module and with the built-in KSM (demo/run, docs/demo.md).
# Included by the top Makefile, which declares `demo' phony. KSM_NO_DEPS=1 skips the apt step.

demo:
	demo/run --kernel $(if $(KERNEL),$(KERNEL),6.12)
