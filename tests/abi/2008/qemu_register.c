/*
 * ksm_register_memory() from the 2008 QEMU patch (qemu/vl.c, [PATCH 0/4] ksm -
 * dynamic page sharing driver for linux), unchanged but for indentation,
 * around a main() that stands in for QEMU: phys_ram_base/phys_ram_size are
 * QEMU 0.9 globals (guest RAM), TARGET_PAGE_SIZE its page size.
 *
 * Usage: qemu_register NPAGES - maps NPAGES pages filled with identical
 * content in two halves, registers them the 2008 way, runs KSM_SCAN through a
 * scan fd and prints "registered" and then how many pages share a pfn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "ksm.h"

#define TARGET_PAGE_SIZE 4096
static uint8_t *phys_ram_base;
static unsigned long phys_ram_size;

int ksm_register_memory(void)
{
	int fd;
	int ksm_fd;
	int r = 1;
	struct ksm_memory_region ksm_region;

	fd = open("/dev/ksm", O_RDWR | O_TRUNC, (mode_t)0600);
	if (fd == -1)
		goto out;

	ksm_fd = ioctl(fd, KSM_CREATE_SHARED_MEMORY_AREA);
	if (ksm_fd == -1)
		goto out_free;

	ksm_region.npages = phys_ram_size / TARGET_PAGE_SIZE;
	ksm_region.addr = phys_ram_base;
	r = ioctl(ksm_fd, KSM_REGISTER_MEMORY_REGION, &ksm_region);
	if (r)
		goto out_free1;

	return r;

out_free1:
	close(ksm_fd);
out_free:
	close(fd);
out:
	return r;
}

static uint64_t pfn_of(void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pread(fd, &e, 8, (uintptr_t)addr / 4096 * 8) != 8)
		e = 0;
	close(fd);
	return (e >> 63) ? (e & ((1ULL << 55) - 1)) : 0;
}

int main(int argc, char **argv)
{
	unsigned long npages = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	struct ksm_user_scan scan = { 4 * npages, 4 * npages };
	unsigned long i, shared = 0;
	int dev, scan_fd;

	phys_ram_size = npages * TARGET_PAGE_SIZE;
	phys_ram_base = mmap(NULL, phys_ram_size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (phys_ram_base == MAP_FAILED)
		return 2;
	/* Two identical halves: page i and page npages/2 + i hold the same bytes. */
	for (i = 0; i < npages; i++)
		memset(phys_ram_base + i * TARGET_PAGE_SIZE, (int)(i % (npages / 2)) + 1,
		       TARGET_PAGE_SIZE);
	if (ksm_register_memory()) {
		perror("ksm_register_memory");
		return 1;
	}
	printf("registered\n");
	dev = open("/dev/ksm", O_RDWR);
	scan_fd = ioctl(dev, KSM_CREATE_SCAN);
	if (scan_fd < 0 || ioctl(scan_fd, KSM_SCAN, &scan)) {
		perror("KSM_SCAN");
		return 1;
	}
	for (i = 0; i < npages / 2; i++) {
		uint64_t a = pfn_of(phys_ram_base + i * TARGET_PAGE_SIZE);

		if (a && a == pfn_of(phys_ram_base + (npages / 2 + i) * TARGET_PAGE_SIZE))
			shared++;
	}
	printf("%lu of %lu pairs share a pfn\n", shared, npages / 2);
	return 0;
}
