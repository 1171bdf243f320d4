// SPDX-License-Identifier: GPL-2.0
/*
 * Merged pages under every mm operation a debugger, a checkpointer or a VM
 * manager uses, each compared with what the same operation does to an
 * unmerged page in the same guest: mprotect round trips, mremap, mlock and
 * munlock and unmapping while locked (Mlocked comes back), writes through
 * /proc/self/mem into writable and read-only mappings, PTRACE_POKEDATA,
 * process_vm_writev, fork with writes on both sides, MADV_COLD,
 * MADV_PAGEOUT, MADV_FREE, MADV_WIPEONFORK, MADV_DONTNEED, and munmap and a
 * fresh mmap of part of a region while a scanner runs. After each, every
 * byte is checked in the process and in its twin, which keeps the kernel
 * page.
 *
 * Each case runs on two sets: a process whose pages are merged with a twin's
 * ("merged"), and a process with pages of its own ("unmerged"); the
 * operation's result (return value, errno, what was read) must be the same.
 */
#include "ktest.h"

#include <sys/ptrace.h>
#include <sys/uio.h>

#define N 16

struct pair {
	struct peer p, twin;	/* for an unmerged set, twin is a peer with other content */
	bool merged;
};

static int dev, scan;
static uint64_t seed = 200;

/* A set: @merged, N pages of P shared with a twin; else N pages of P's own. */
static struct pair pair_start(bool merged)
{
	struct pair s = { .merged = merged };

	seed++;
	s.p = peer_start(dev, N, seed, N);
	s.twin = peer_start(dev, N, merged ? seed : seed + 1000, N);
	ksmu_scan_settle(scan, 3);
	if (peers_shared(&s.p, &s.twin) != (merged ? N : 0))
		ktest_fatal("the %s set did not start %s (%ld shared)", merged ? "merged" : "unmerged",
			    merged ? "merged" : "unmerged", peers_shared(&s.p, &s.twin));
	return s;
}

/* Both processes hold what they wrote (P: its shadow, which the commands keep). */
static bool pair_intact(struct pair *s)
{
	return peer_check(&s->p) && peer_check(&s->twin);
}

static void pair_stop(struct pair *s)
{
	peer_stop(&s->p);
	peer_stop(&s->twin);
}

/* Page @i of P: does it still share the twin's pfn? */
static bool shared(struct pair *s, long i)
{
	uint64_t a = peer_pfn(&s->p, i), b = peer_pfn(&s->twin, i);

	return a && a == b;
}

static const char *const set_name[2] = { "unmerged", "merged" };

/* Run @fn on an unmerged and a merged set; report that the two results agree. */
#define BOTH(what, fn)								\
	do {									\
		long r_[2];							\
		for (int m_ = 0; m_ < 2; m_++) {				\
			struct pair s_ = pair_start(m_);			\
			r_[m_] = fn(&s_, set_name[m_]);				\
			pair_stop(&s_);						\
		}								\
		ktest_ok(r_[0] == r_[1], "%s: the same result merged and unmerged (%ld, %ld)", \
			 what, r_[1], r_[0]);					\
	} while (0)

/* mprotect(PROT_READ) and back: still merged, then a write copies the page. */
static long op_mprotect(struct pair *s, const char *set)
{
	long r = peer_cmd(&s->p, PEER_MPROTECT, 0, N, PROT_READ);

	r = r * 10 + peer_cmd(&s->p, PEER_MPROTECT, 0, N, PROT_READ | PROT_WRITE);
	ktest_ok(pair_intact(s) && shared(s, 5) == s->merged,
		 "%s: mprotect read-only and back: contents right, sharing as it was", set);
	peer_cmd(&s->p, PEER_WRITE, 5, 9, 0x5a);
	ktest_ok(pair_intact(s) && !shared(s, 5), "%s: a write after it makes the page private", set);
	return r;
}

/* mremap to a new address: the pages go along, still shared; a write copies. */
static long op_mremap(struct pair *s, const char *set)
{
	char *to = (char *)(uintptr_t)peer_cmd(&s->p, PEER_MREMAP, 0, 0, 0);
	long moved = to != s->p.addr;

	s->p.addr = to;
	ktest_ok(moved && pair_intact(s) && shared(s, 5) == s->merged,
		 "%s: mremap to another address: contents right, sharing as it was", set);
	peer_cmd(&s->p, PEER_WRITE, 5, 9, 0x5a);
	ktest_ok(pair_intact(s) && !shared(s, 5), "%s: a write there makes the page private", set);
	return moved;
}

/* Drain every CPU's LRU and mlock batches and fold the vmstat counters. */
static long mlocked_kb(void)
{
	ksmu_write_str("/proc/sys/vm/compact_memory", "1");
	ksmu_write_str("/proc/sys/vm/stat_refresh", "1");
	return ksmu_proc_kb("/proc/meminfo", "Mlocked");
}

/*
 * mlock a read-only (so still merged) range, munmap it while locked: Mlocked
 * comes back. A kernel page is counted in Mlocked from 5.11 on; 5.10 mlocks
 * only pages with a mapping (follow_page_mask()), so there it counts none
 * (docs/design.md).
 */
static long op_mlock_unmap(struct pair *s, const char *set)
{
	long before = mlocked_kb(), locked, after, r;

	r = peer_cmd(&s->p, PEER_MPROTECT, 0, 8, PROT_READ);
	r = r * 10 + peer_cmd(&s->p, PEER_MLOCK, 0, 8, 1);
	locked = mlocked_kb();
	ktest_ok((locked - before == 8 * 4 || (s->merged && locked == before)) &&
		 shared(s, 3) == s->merged && pair_intact(s),
		 "%s: mlock of 8 read-only pages: Mlocked +%ld kB, sharing as it was", set,
		 locked - before);
	r = r * 10 + peer_cmd(&s->p, PEER_MUNMAP, 0, 8, 0);
	after = mlocked_kb();
	ktest_ok(after == before, "%s: munmap while locked: Mlocked back (%ld -> %ld -> %ld kB)", set,
		 before, locked, after);
	return r;
}

/* mlock and munlock of a writable range: the pages become private (mlock write-faults them). */
static long op_mlock_munlock(struct pair *s, const char *set)
{
	long before = mlocked_kb(), r;

	r = peer_cmd(&s->p, PEER_MLOCK, 0, N, 1);
	r = r * 10 + peer_cmd(&s->p, PEER_MLOCK, 0, N, 0);
	ktest_ok(mlocked_kb() == before && pair_intact(s),
		 "%s: mlock and munlock of a writable range: Mlocked back, contents right", set);
	return r * 10 + shared(s, 0);
}

/* pwrite() through /proc/self/mem into a writable page, then into a read-only one. */
static long op_procmem(struct pair *s, const char *set)
{
	long w = peer_cmd(&s->p, PEER_PROCMEM, 2, 100, 0x11), ro;

	ktest_ok(w == 0 && pair_intact(s) && !shared(s, 2),
		 "%s: /proc/self/mem write into a writable page: private copy, twin intact", set);
	peer_cmd(&s->p, PEER_MPROTECT, 0, N, PROT_READ);
	ro = peer_cmd(&s->p, PEER_PROCMEM, 4, 100, 0x22);
	ktest_ok(pair_intact(s) && shared(s, 4) == (s->merged && ro != 0),
		 "%s: /proc/self/mem write into a read-only page (%s): contents right, twin intact", set,
		 ro ? strerror(-ro) : "written");
	return w * 1000 + ro;
}

/*
 * PTRACE_POKEDATA by a tracer into a read-only page, of the word that is
 * there already (so every byte stays what the peer expects): the forced write
 * still copies the page.
 */
static long op_poke(struct pair *s, const char *set)
{
	uintptr_t at = (uintptr_t)(s->p.addr + 6 * ktest_page + 64);
	long word, r = -1;
	int status;

	peer_cmd(&s->p, PEER_MPROTECT, 0, N, PROT_READ);
	if (ptrace(PTRACE_ATTACH, s->p.pid, NULL, NULL) == 0 &&
	    waitpid(s->p.pid, &status, 0) == s->p.pid) {
		errno = 0;
		word = ptrace(PTRACE_PEEKDATA, s->p.pid, (void *)at, NULL);
		r = errno ? -errno : ptrace(PTRACE_POKEDATA, s->p.pid, (void *)at, (void *)word) ?
		    -errno : 0;
		ptrace(PTRACE_DETACH, s->p.pid, NULL, NULL);
	}
	ktest_ok(r == 0 && !shared(s, 6) && pair_intact(s),
		 "%s: PTRACE_POKEDATA into a read-only page: a private copy, every byte right", set);
	return r;
}

/* process_vm_writev() from another process into P, of the bytes already there. */
static long op_vm_writev(struct pair *s, const char *set)
{
	char buf[32];
	struct iovec local = { buf, sizeof(buf) };
	struct iovec remote = { s->p.addr + 7 * ktest_page + 200, sizeof(buf) };
	long r = process_vm_readv(s->p.pid, &local, 1, &remote, 1, 0);

	if (r == sizeof(buf))
		r = process_vm_writev(s->p.pid, &local, 1, &remote, 1, 0);
	ktest_ok(r == sizeof(buf) && pair_intact(s) && !shared(s, 7),
		 "%s: process_vm_writev of %zu bytes: written, a private copy, twin intact", set,
		 sizeof(buf));
	return r;
}

/* fork(), then parent and child each write the page. */
static long op_fork(struct pair *s, const char *set)
{
	long r = peer_cmd(&s->p, PEER_FORK_WRITE, 8, 0, 0);

	ktest_ok(r == 1 && pair_intact(s), "%s: fork, writes on both sides: each sees its own, "
		 "twin intact", set);
	return r;
}

/* madvise(@advice) on the whole range: nothing to see, contents and sharing as they were. */
static long op_madvise(struct pair *s, const char *set, int advice, const char *name)
{
	long r = peer_cmd(&s->p, PEER_MADVISE, 0, N, advice);

	ktest_ok(pair_intact(s) && shared(s, 9) == s->merged, "%s: %s (%ld): contents right, "
		 "sharing as it was", set, name, r);
	return r;
}

static long op_cold(struct pair *s, const char *set)
{
	return op_madvise(s, set, MADV_COLD, "MADV_COLD");
}

static long op_pageout(struct pair *s, const char *set)
{
	return op_madvise(s, set, MADV_PAGEOUT, "MADV_PAGEOUT");
}

static long op_free(struct pair *s, const char *set)
{
	return op_madvise(s, set, MADV_FREE, "MADV_FREE (no memory pressure)");
}

static long op_wipeonfork(struct pair *s, const char *set)
{
	long r = peer_cmd(&s->p, PEER_WIPE_FORK, 10, 4, 0);

	ktest_ok(r == 1 && pair_intact(s), "%s: MADV_WIPEONFORK: the child sees zeroes there and "
		 "the rest as it was", set);
	return r;
}

static long op_dontneed(struct pair *s, const char *set)
{
	long r = peer_cmd(&s->p, PEER_DONTNEED, 11, 2, 0);

	ktest_ok(r == 0 && pair_intact(s) && !shared(s, 11),
		 "%s: MADV_DONTNEED: the pages read zero, twin intact", set);
	return r;
}

/* munmap part of the region and map fresh memory there, again and again, while a thread scans. */
static long op_remap_scanning(struct pair *s, const char *set)
{
	struct ktest_scanner sc;
	long r = 0;

	ktest_scanner_start(&sc, ksm_scanfd(dev), 64);
	for (int i = 0; i < 20; i++)
		r |= peer_cmd(&s->p, PEER_REMAP, 4 + i % 8, 4, 900 + i);
	ktest_scanner_stop(&sc);
	ktest_ok(r == 0 && pair_intact(s), "%s: 20 munmap and fresh mmap of 4 pages under scans: "
		 "every byte right", set);
	ksmu_scan_settle(scan, 3);
	ktest_ok(pair_intact(s), "%s: and after the scans settled", set);
	return r;
}

int main(void)
{
	dev = ksm_open();
	scan = ksm_scanfd(dev);

	BOTH("mprotect round trip", op_mprotect);
	BOTH("mremap", op_mremap);
	BOTH("mlock, munmap while locked", op_mlock_unmap);
	BOTH("mlock, munlock", op_mlock_munlock);
	BOTH("/proc/self/mem writes", op_procmem);
	BOTH("PTRACE_POKEDATA", op_poke);
	BOTH("process_vm_writev", op_vm_writev);
	BOTH("fork with writes on both sides", op_fork);
	BOTH("MADV_COLD", op_cold);
	BOTH("MADV_PAGEOUT", op_pageout);
	BOTH("MADV_FREE", op_free);
	BOTH("MADV_WIPEONFORK", op_wipeonfork);
	BOTH("MADV_DONTNEED", op_dontneed);
	BOTH("munmap and mmap under scans", op_remap_scanning);
	return ktest_done();
}
