// SPDX-License-Identifier: GPL-2.0
/*
 * KSM_REGISTER_MEMORY_REGION validation: every bad input gets its errno, good
 * ones are accepted, and nothing leaks (the module's counters and slab caches
 * are back where they started once the fds are closed).
 */
#include "ktest.h"

#include <sys/syscall.h>

/* The module's view of what is registered and held, to compare before/after. */
struct snapshot {
	uint64_t regions, region_pages, unstable, kpages;
	long items, kpage_objs;
};

static void snap(int dev, struct snapshot *s)
{
	struct ksm_stats st;

	if (ksmu_stats(dev, &st))
		ktest_fatal("KSM_GET_STATS");
	s->regions = st.regions;
	s->region_pages = st.region_pages;
	s->unstable = st.unstable_pages;
	s->kpages = st.kpages_held;
	s->items = ksmu_slab_objects("ksmdev_item");
	s->kpage_objs = ksmu_slab_objects("ksmdev_kpage");
}

static bool same(const struct snapshot *a, const struct snapshot *b)
{
	return a->regions == b->regions && a->region_pages == b->region_pages &&
	       a->unstable == b->unstable && a->kpages == b->kpages && a->items == b->items &&
	       a->kpage_objs == b->kpage_objs;
}

/* The address range of a line of /proc/self/maps that ends with @name. */
static bool maps_range(const char *name, uintptr_t *start, uintptr_t *end)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	bool found = false;

	while (f && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n >= strlen(name) && !strcmp(line + n - strlen(name), name)) {
			found = sscanf(line, "%lx-%lx", start, end) == 2;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static void test_bad_ranges(int sma)
{
	char *mem = anon_map(16 * ktest_page, 0);
	struct ksm_memory_region r;

	KTEST_ERRNO(ksmu_register(sma, mem, 0), EINVAL, "npages = 0: EINVAL");
	KTEST_ERRNO(ksmu_register(sma, mem + 1, 1), EINVAL, "unaligned address: EINVAL");
	KTEST_ERRNO(ksmu_register(sma, mem + 2048, 2), EINVAL, "half-page aligned address: EINVAL");
	KTEST_ERRNO(ksmu_register(sma, (void *)0xffff888000000000UL, 1), EINVAL,
		    "kernel address: EINVAL");
	KTEST_ERRNO(ksmu_register(sma, (void *)0xfffffffffffff000UL, 1), EINVAL,
		    "last page of the address space: EINVAL");
	uintptr_t top = user_space_end();

	ktest_diag("user space ends at %#lx", (unsigned long)top);
	KTEST_ERRNO(ksmu_register(sma, (void *)(top - 0x10000), 0xffffffffUL), EINVAL,
		    "4G pages from 64 KiB below the end of user space: EINVAL");
	r.npages = 1;
	r.pad = 0;
	r.addr = (uint64_t)(uintptr_t)mem | (1ULL << 63);
	KTEST_ERRNO(ioctl(sma, KSM_REGISTER_MEMORY_REGION, &r), EINVAL, "address with bit 63 set: EINVAL");
	r.addr = top - 4096;
	r.npages = 2;
	KTEST_ERRNO(ioctl(sma, KSM_REGISTER_MEMORY_REGION, &r), EINVAL,
		    "range crossing the end of user space: EINVAL");
	r.addr = top;
	r.npages = 1;
	KTEST_ERRNO(ioctl(sma, KSM_REGISTER_MEMORY_REGION, &r), EINVAL,
		    "the first page past user space: EINVAL");

	KTEST_ERRNO(ksmu_register(sma, NULL, 1), EFAULT, "page 0 (unmapped): EFAULT");
	munmap(mem + 8 * ktest_page, 8 * ktest_page);	/* a hole after the 8 pages */
	munmap(mem + 3 * ktest_page, ktest_page);
	KTEST_ERRNO(ksmu_register(sma, mem, 8), EFAULT, "range with an unmapped hole: EFAULT");
	KTEST_ERRNO(ksmu_register(sma, mem + 4 * ktest_page, 8), EFAULT,
		    "range running past the end of its mapping: EFAULT");
	munmap(mem, 8 * ktest_page);
	KTEST_ERRNO(ksmu_register(sma, mem, 1), EFAULT, "unmapped range: EFAULT");
}

static void test_wrong_memory(int sma)
{
	char path[] = "/tmp/ksm-register-XXXXXX";
	int fd = mkstemp(path);
	void *p;

	if (fd < 0 || ftruncate(fd, 4 * ktest_page))
		ktest_fatal("temporary file");
	unlink(path);
	p = mmap(NULL, 4 * ktest_page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	KTEST_ERRNO(ksmu_register(sma, p, 4), EINVAL, "private file mapping: EINVAL");
	munmap(p, 4 * ktest_page);
	p = mmap(NULL, 4 * ktest_page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	KTEST_ERRNO(ksmu_register(sma, p, 4), EINVAL, "shared file mapping: EINVAL");
	munmap(p, 4 * ktest_page);
	close(fd);

	p = mmap(NULL, 4 * ktest_page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	KTEST_ERRNO(ksmu_register(sma, p, 4), EINVAL, "shared anonymous mapping: EINVAL");
	munmap(p, 4 * ktest_page);

	/* Private anonymous next to shared anonymous: the whole range is refused. */
	char *a = anon_map(8 * ktest_page, 0);

	p = mmap(a + 4 * ktest_page, 4 * ktest_page, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	KTEST_ERRNO(ksmu_register(sma, a, 8), EINVAL, "range ending in shared memory: EINVAL");
	ktest_ok(ksmu_register(sma, a, 4) == 0, "its private half alone is accepted");
	ioctl(sma, KSM_REMOVE_MEMORY_REGION);
	munmap(a, 8 * ktest_page);

	ksmu_write_str("/proc/sys/vm/nr_hugepages", "4");
	p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		 -1, 0);
	if (p == MAP_FAILED) {
		ktest_skip("no hugetlb pages in this guest");
	} else {
		KTEST_ERRNO(ksmu_register(sma, p, 512), EINVAL, "hugetlb mapping: EINVAL");
		munmap(p, 2 << 20);
	}
	ksmu_write_str("/proc/sys/vm/nr_hugepages", "0");

	uintptr_t s, e;

	if (maps_range("[vdso]", &s, &e))
		KTEST_ERRNO(ksmu_register(sma, (void *)s, (e - s) / ktest_page), EINVAL,
			    "the vDSO (a special mapping): EINVAL");
	else
		ktest_skip("no [vdso] in /proc/self/maps");
	if (maps_range("[vvar]", &s, &e))
		KTEST_ERRNO(ksmu_register(sma, (void *)s, (e - s) / ktest_page), EINVAL,
			    "[vvar] (a PFN mapping): EINVAL");
	else
		ktest_skip("no [vvar] in /proc/self/maps");
}

static void test_good_ranges(int dev, int sma)
{
	char *a = anon_map(16 * ktest_page, 0);
	char *ro = mmap(NULL, 4 * ktest_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *none = mmap(NULL, 4 * ktest_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int sma2 = ksm_sma(dev);
	struct ksm_memory_region r;
	struct ksm_stats st;

	ktest_ok(ksmu_register(sma, a, 4) == 0, "4 pages of private anonymous memory");
	ktest_ok(ksmu_register(sma, a + 4 * ktest_page, 4) == 0, "the next 4 pages, adjacent");
	KTEST_ERRNO(ksmu_register(sma, a, 4), EEXIST, "the same range again: EEXIST");
	KTEST_ERRNO(ksmu_register(sma, a + 2 * ktest_page, 4), EEXIST, "a partial overlap: EEXIST");
	KTEST_ERRNO(ksmu_register(sma, a + ktest_page, 1), EEXIST, "a range inside a region: EEXIST");
	KTEST_ERRNO(ksmu_register(sma, a, 16), EEXIST, "a range around two regions: EEXIST");
	KTEST_ERRNO(ksmu_register(sma2, a + 3 * ktest_page, 2), EEXIST,
		    "overlap through another SMA of the same process: EEXIST");
	ktest_ok(ksmu_register(sma2, a + 8 * ktest_page, 8) == 0, "a disjoint range on another SMA");

	r = (struct ksm_memory_region){ .npages = 4, .pad = 0xdeadbeef,
					.addr = (uintptr_t)ro };
	ktest_ok(ioctl(sma, KSM_REGISTER_MEMORY_REGION, &r) == 0,
		 "read-only anonymous memory, garbage in pad (2008 callers leave it unset)");
	ktest_ok(ksmu_register(sma, none, 4) == 0, "PROT_NONE anonymous memory");
	ksmu_stats(dev, &st);
	ktest_ok(st.regions == 5 && st.region_pages == 4 + 4 + 8 + 4 + 4,
		 "stats count 5 regions of 24 pages (%llu, %llu)", (unsigned long long)st.regions,
		 (unsigned long long)st.region_pages);

	/* Another process may register the same addresses of its own memory (on its own SMA). */
	pid_t pid = fork();

	if (!pid)
		_exit(ksmu_register(ksm_sma(dev), a, 4) == 0 ? 0 : 1);
	int status;

	waitpid(pid, &status, 0);
	ktest_ok(WIFEXITED(status) && !WEXITSTATUS(status),
		 "a forked child registers the same addresses of its own memory");

	ktest_ok(ioctl(sma, KSM_REMOVE_MEMORY_REGION) == 0, "KSM_REMOVE_MEMORY_REGION");
	ktest_ok(ksmu_register(sma, a, 4) == 0, "after removal the range registers again");
	close(sma2);
	ioctl(sma, KSM_REMOVE_MEMORY_REGION);
	munmap(a, 16 * ktest_page);
	munmap(ro, 4 * ktest_page);
	munmap(none, 4 * ktest_page);
}

int main(void)
{
	int dev = ksm_open();
	struct snapshot before, after;

	snap(dev, &before);
	int sma = ksm_sma(dev);

	test_bad_ranges(sma);
	test_wrong_memory(sma);
	test_good_ranges(dev, sma);
	close(sma);
	snap(dev, &after);
	ktest_ok(same(&before, &after),
		 "nothing left behind: regions %llu/%llu pages %llu/%llu items %ld/%ld kpages %ld/%ld",
		 (unsigned long long)before.regions, (unsigned long long)after.regions,
		 (unsigned long long)before.region_pages, (unsigned long long)after.region_pages,
		 before.items, after.items, before.kpage_objs, after.kpage_objs);
	close(dev);
	return ktest_done();
}
