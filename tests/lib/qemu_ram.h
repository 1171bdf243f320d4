/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qemu_ram.h - find a QEMU process's guest RAM in its /proc/PID/maps. Shared
 * by the QEMU tests (tests/tools/helpers/qemu.h) and the benchmark
 * (bench/savings.c); needs nothing but libc.
 */
#ifndef KSM_QEMU_RAM_H
#define KSM_QEMU_RAM_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/*
 * The guest RAM of QEMU @pid: the biggest private anonymous read-write
 * mapping of /proc/PID/maps that is about @size bytes (at least @size, less
 * than twice). Returns its start, or 0 (not mapped yet).
 */
static inline uintptr_t qemu_find_ram(pid_t pid, uint64_t size)
{
	char path[64], line[512];
	uintptr_t best = 0;
	uint64_t best_len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e, inode;
		char perms[8];
		int name = 0;

		if (sscanf(line, "%lx-%lx %7s %*x %*s %lu %n", &s, &e, perms, &inode, &name) < 4)
			continue;
		if (strcmp(perms, "rw-p") || inode || (name && line[name] && line[name] != '\n'))
			continue;
		if (e - s >= size && e - s < 2 * size && e - s > best_len) {
			best = s;
			best_len = e - s;
		}
	}
	fclose(f);
	return best;
}

#endif /* KSM_QEMU_RAM_H */
