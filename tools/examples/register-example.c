// SPDX-License-Identifier: GPL-2.0
/*
 * register-example - the 2008 QEMU integration of /dev/ksm, as a small program.
 *
 * It does what ksm_register_memory() of the 2008 qemu/vl.c patch did for the
 * guest's RAM (open /dev/ksm, KSM_CREATE_SHARED_MEMORY_AREA,
 * KSM_REGISTER_MEMORY_REGION over the whole block, keep the SMA fd open for
 * the life of the process), on memory it maps and fills itself: NPAGES pages
 * (default 256), each holding the same content. Then it runs a scan, with the
 * 2008 KSM_SCAN ioctl, and reads /proc/self/pagemap to tell how many pages
 * now share a physical page (pfn). Reading pfns needs CAP_SYS_ADMIN: run it
 * as root.
 *
 * usage: register-example [NPAGES]
 * Exit status: 0 if pages were merged, 1 if not (or on an error), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/ksm.h>

/*
 * The 2008 patch's function, with phys_ram_base / phys_ram_size as
 * parameters. Returns 0 with *@sma_fd open (closing it would unregister the
 * memory), or non-zero. As in 2008, the /dev/ksm fd stays open on success.
 */
static int ksm_register_memory(void *phys_ram_base, unsigned long phys_ram_size,
			       unsigned long target_page_size, int *sma_fd)
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

	ksm_region.npages = phys_ram_size / target_page_size;
	ksm_region.addr = (uintptr_t)phys_ram_base;
	r = ioctl(ksm_fd, KSM_REGISTER_MEMORY_REGION, &ksm_region);
	if (r)
		goto out_free1;

	*sma_fd = ksm_fd;
	return r;

out_free1:
	close(ksm_fd);
out_free:
	close(fd);
out:
	return r;
}

/* The pfn mapped at @addr (0 if none, or if pagemap hides pfns from us). */
static uint64_t pfn_of(int pagemap, const void *addr, long page_size)
{
	uint64_t e;

	if (pread(pagemap, &e, sizeof(e), (off_t)((uintptr_t)addr / page_size * sizeof(e))) !=
	    sizeof(e) || !(e & (1ULL << 63)))
		return 0;
	return e & ((1ULL << 55) - 1);
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long page_size = sysconf(_SC_PAGESIZE);
	unsigned long npages = 256, sharing = 0, distinct = 0, present = 0;
	struct ksm_user_scan scan;
	uint64_t *pfns;
	char *mem, *end;
	int sma = -1, dev, scan_fd, pagemap;

	if (argc > 2 || (argc == 2 && !strcmp(argv[1], "--help"))) {
		fprintf(stderr, "usage: %s [NPAGES]\n", argv[0]);
		return 2;
	}
	if (argc == 2) {
		errno = 0;
		npages = strtoul(argv[1], &end, 10);
		if (errno || *end || argv[1][0] < '0' || argv[1][0] > '9' || npages < 2 ||
		    npages > (1UL << 20)) {
			fprintf(stderr, "%s: NPAGES must be a number from 2 to %lu\n", argv[0],
				1UL << 20);
			return 2;
		}
	}

	/* "Guest RAM": private anonymous memory, every page with the same content. */
	mem = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (unsigned long i = 0; i < npages; i++) {
		for (long k = 0; k < page_size; k++)
			mem[i * page_size + k] = (char)(k * 7 + 1);
	}

	if (ksm_register_memory(mem, npages * page_size, page_size, &sma)) {
		fprintf(stderr, "%s: registering the memory with /dev/ksm failed: %s\n", argv[0],
			strerror(errno));
		return 1;
	}
	printf("registered %lu pages at %p on SMA fd %d\n", npages, (void *)mem, sma);

	/* A scan of twice the pages: one pass finds the twins, a second one finishes up. */
	dev = open("/dev/ksm", O_RDWR);
	scan_fd = dev < 0 ? -1 : ioctl(dev, KSM_CREATE_SCAN);
	if (scan_fd < 0) {
		fprintf(stderr, "%s: KSM_CREATE_SCAN: %s\n", argv[0], strerror(errno));
		return 1;
	}
	scan.pages_to_scan = (uint32_t)(2 * npages);
	scan.max_pages_to_merge = (uint32_t)(2 * npages);
	if (ioctl(scan_fd, KSM_SCAN, &scan)) {
		fprintf(stderr, "%s: KSM_SCAN: %s\n", argv[0], strerror(errno));
		return 1;
	}

	/* From the outside: which physical page backs each virtual page now? */
	pagemap = open("/proc/self/pagemap", O_RDONLY);
	pfns = calloc(npages, sizeof(*pfns));
	if (pagemap < 0 || !pfns) {
		fprintf(stderr, "%s: /proc/self/pagemap: %s\n", argv[0], strerror(errno));
		return 1;
	}
	for (unsigned long i = 0; i < npages; i++) {
		pfns[present] = pfn_of(pagemap, mem + i * page_size, page_size);
		if (pfns[present])
			present++;
	}
	if (!present) {
		fprintf(stderr, "%s: pagemap shows no pfns (reading them needs CAP_SYS_ADMIN)\n",
			argv[0]);
		return 1;
	}
	qsort(pfns, present, sizeof(*pfns), compare_u64);
	for (unsigned long i = 0; i < present; i++) {
		if (i == 0 || pfns[i] != pfns[i - 1])
			distinct++;
		if ((i > 0 && pfns[i] == pfns[i - 1]) || (i + 1 < present && pfns[i] == pfns[i + 1]))
			sharing++;
	}
	printf("%lu pages, %lu distinct pfns: %lu pages share a pfn with another, "
	       "%lu KiB saved\n", npages, distinct, sharing,
	       (present - distinct) * (unsigned long)page_size / 1024);

	/* The memory still reads back as written. */
	for (unsigned long i = 0; i < npages; i++) {
		for (long k = 0; k < page_size; k++) {
			if (mem[i * page_size + k] != (char)(k * 7 + 1)) {
				fprintf(stderr, "%s: page %lu changed at byte %ld\n", argv[0], i, k);
				return 1;
			}
		}
	}
	return sharing ? 0 : 1;
}
