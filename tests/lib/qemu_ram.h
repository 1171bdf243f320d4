/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qemu_ram.h - find a QEMU process's guest RAM in its /proc/PID/maps, and
 * count the SMA fds it holds. Shared by the QEMU tests
 * (tests/tools/helpers/qemu.h) and the benchmark (bench/savings.c); needs
 * nothing but libc.
 */
#ifndef KSM_QEMU_RAM_H
#define KSM_QEMU_RAM_H

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

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

/* Number of SMA fds process @pid holds (the preload library: one per region), or -1. */
static inline int qemu_sma_fds(pid_t pid)
{
	char dir[64], path[PATH_MAX], target[64];
	struct dirent *d;
	int n = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	dp = opendir(dir);
	if (!dp)
		return -1;
	while ((d = readdir(dp))) {
		ssize_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += !strcmp(target, "anon_inode:ksm-sma");
	}
	closedir(dp);
	return n;
}

#endif /* KSM_QEMU_RAM_H */
