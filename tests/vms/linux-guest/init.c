// SPDX-License-Identifier: GPL-2.0
/*
 * init - the whole userspace of the small Linux guests that the real-VM test
 * (tests/vms/qemu_linux.c) and the demo boot: a Debian kernel and an
 * initramfs holding only this program, built static (tools/tools.mk).
 *
 * It runs a workload that can tell whether its memory still holds what it
 * wrote, and says so on the serial port, once per heartbeat:
 *
 *   - DATA pages: the first SHARED of them have the same content in every guest
 *     (seeded by the page number and a generation), the others are the guest's
 *     own (seeded by vmid too). Merging finds the shared ones, and the guests'
 *     kernels and this program.
 *   - Every heartbeat it rewrites a few shared pages with their next generation
 *     (the same content every guest writes at that point: they can merge again),
 *     and every BURST heartbeats a larger run of them: writes that break sharing.
 *   - Every heartbeat it reads all its data back and sums it. The expected sum is
 *     kept from what it wrote, not from what it reads, so a lost write, a page
 *     of someone else's or a stale copy shows as a wrong sum.
 *
 * Kernel command line (the rest is the kernel's): ksm.vmid=N ksm.mib=M
 * ksm.shared=PERCENT ksm.hb_ms=MS. Serial lines (ttyS0):
 *
 *   ksm-guest ready vmid V pages P shared S sum HEX
 *   ksm-guest hb N gen G sum HEX ok|BAD [burst]
 *
 * It never exits (init must not): on a wrong sum it keeps going and keeps
 * saying BAD, and the test decides.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define WRITES_PER_HB 8		/* shared pages rewritten every heartbeat */
#define BURST_EVERY 16		/* heartbeats between bursts */
#define BURST_PAGES 512		/* shared pages rewritten in a burst (2 MiB) */

static unsigned long vmid, mib = 48, shared_pct = 75, hb_ms = 1000;

/* The value of kernel parameter ksm.@name in @cmdline, or @def. */
static unsigned long param(const char *cmdline, const char *name, unsigned long def)
{
	char key[32];
	const char *p;

	snprintf(key, sizeof(key), "ksm.%s=", name);
	p = strstr(cmdline, key);
	return p ? strtoul(p + strlen(key), NULL, 0) : def;
}

/* splitmix64: the generator of every page's content. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * Fill @page with page @n's content at generation @gen: a function of (n, gen)
 * for shared pages, of (n, gen, vmid) for the guest's own. Returns its sum.
 */
static uint64_t fill(uint64_t *page, unsigned long n, unsigned long gen, int own)
{
	uint64_t s = mix(((uint64_t)n << 20) ^ gen ^ (own ? (vmid + 1) << 52 : 0));
	uint64_t sum = 0;

	for (unsigned long i = 0; i < WORDS; i++) {
		s = mix(s);
		page[i] = s;
		sum += s * (2 * i + 1);
	}
	return sum * (2 * n + 1);
}

/* Sum of @page as fill() computes it, for page number @n. */
static uint64_t page_sum(const volatile uint64_t *page, unsigned long n)
{
	uint64_t sum = 0;

	for (unsigned long i = 0; i < WORDS; i++)
		sum += page[i] * (2 * i + 1);
	return sum * (2 * n + 1);
}

int main(void)
{
	static uint64_t scratch[WORDS];
	char cmdline[1024] = "";
	unsigned long pages, shared, next = 0, hb = 0;
	unsigned long *gen;
	uint64_t *data, expect = 0;
	int fd;

	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	fd = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open("/proc/cmdline", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);

		cmdline[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	vmid = param(cmdline, "vmid", 0);
	mib = param(cmdline, "mib", mib);
	shared_pct = param(cmdline, "shared", shared_pct);
	hb_ms = param(cmdline, "hb_ms", hb_ms);
	pages = mib * (1 << 20) / PAGE;
	shared = pages * (shared_pct > 100 ? 100 : shared_pct) / 100;

	data = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gen = calloc(pages, sizeof(*gen));
	if (data == MAP_FAILED || !gen) {
		printf("ksm-guest failed: no memory for %lu MiB\n", mib);
		for (;;)
			pause();
	}
	for (unsigned long n = 0; n < pages; n++)
		expect += fill(data + n * WORDS, n, 0, n >= shared);
	printf("ksm-guest ready vmid %lu pages %lu shared %lu sum %016llx\n", vmid, pages, shared,
	       (unsigned long long)expect);

	for (;; hb++) {
		struct timespec ts = { hb_ms / 1000, (hb_ms % 1000) * 1000000 };
		unsigned long writes = WRITES_PER_HB;
		int burst = hb && hb % BURST_EVERY == 0;
		uint64_t sum = 0;

		if (burst)
			writes = BURST_PAGES < shared ? BURST_PAGES : shared;
		for (unsigned long w = 0; shared && w < writes; w++) {
			unsigned long n = next++ % shared;
			uint64_t *page = data + n * WORDS;

			/* What it wrote there last, from the generator, not from the page. */
			expect -= fill(scratch, n, gen[n], 0);
			expect += fill(page, n, ++gen[n], 0);
		}
		for (unsigned long n = 0; n < pages; n++)
			sum += page_sum(data + n * WORDS, n);
		printf("ksm-guest hb %lu gen %lu sum %016llx %s%s\n", hb, next / (shared ? shared : 1),
		       (unsigned long long)sum, sum == expect ? "ok" : "BAD", burst ? " burst" : "");
		nanosleep(&ts, NULL);
	}
}
