# SPDX-License-Identifier: GPL-2.0
# check_memory_debugging (source it; the module must be loaded): in a guest booted with
# tests/vm/run --debug-memory, print TAP lines saying whether the memory checks it asks for are on, so
# that a clean kernel log means "checked and found nothing", not "never checked". Prints nothing for
# checks the kernel command line does not ask for.
check_memory_debugging() {
	local cmd c f v bad_flags=
	cmd=$(cat /proc/cmdline)
	if [[ $cmd == *slub_debug=* ]]; then
		for c in ksmdev_item ksmdev_kpage; do
			for f in sanity_checks red_zone poison store_user; do
				v=$(cat "/sys/kernel/slab/$c/$f" 2>/dev/null)
				[ "$v" = 1 ] || bad_flags+=" $c/$f=${v:-missing}"
			done
		done
		if [ -z "$bad_flags" ]; then
			echo "ok - SLUB checks the module's slab caches (red zones, poisoning, sanity checks, owners)"
		else
			echo "not ok - SLUB checks the module's slab caches:$bad_flags"
		fi
	fi
	if [[ $cmd == *kfence.sample_interval=* ]]; then
		v=$(cat /sys/module/kfence/parameters/sample_interval 2>/dev/null)
		if [ ! -d /sys/module/kfence ]; then
			echo "ok - KFENCE samples slab allocations # SKIP $(uname -r) has no KFENCE"
		elif [ "$v" = 100 ]; then
			echo "ok - KFENCE samples slab allocations every 100 ms"
		else
			echo "not ok - KFENCE samples slab allocations every 100 ms (sample_interval ${v:-missing})"
		fi
	fi
}
