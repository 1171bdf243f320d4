// SPDX-License-Identifier: GPL-2.0
/*
 * The hardened domain hides merges from the tenants' write faults.
 *
 * A victim holds N pages; an attacker in another process of the same domain
 * holds N pages with the victim's content and N of its own. After the
 * scanner has been over them, the attacker writes one byte to each page and
 * counts its minor faults (getrusage(), exact) for each half. In a normal
 * domain the merged half faults and the other does not: the attacker learns
 * which contents the victim holds (so this test can tell). In the hardened
 * domain both halves fault alike, while the victim's and the attacker's
 * twins still share their pages and save the memory. And an attacker whose
 * pages go idle one to three passes after the victim's, its region scanned
 * after the victim's or before, sees all its pages merged in the same pass,
 * its twins of the victim's pages no earlier than the others.
 */
#include "ktest.h"

#include <sys/resource.h>

#define N 256
#define SEED_SHARED 1700
#define SEED_OWN 1701
#define SEED_JUNK 1702	/* 1702 and 1703: what a tenant holds before 'r' */

/* A tenant: a child process with @halves * N pages registered in domain 0 (@flags). */
struct tenant {
	pid_t pid;
	long halves;
	int to, from;	/* command pipe to it, result pipe from it */
	char *mem;	/* its mapping (same address in the parent, not shared) */
};

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Fill the halves of @mem: the shared content and the tenant's own, or junk. */
static void tenant_fill(char *mem, long halves, bool junk)
{
	ksmu_fill_pages(mem, N, junk ? SEED_JUNK : SEED_SHARED, N);
	if (halves > 1)
		ksmu_fill_pages(mem + N * ktest_page, N, junk ? SEED_JUNK + 1 : SEED_OWN, N);
}

/*
 * The tenant's life: register (holding junk first if @junk), report ready,
 * wait for a command; 'r': write the shared and own contents (both halves
 * at once) and report; 'w': write one byte to every page of each half and
 * report the faults of each, then check both halves; 'q': exit.
 */
static void tenant_main(int dev, char *mem, long halves, uint32_t flags, bool junk, int in, int out)
{
	struct ksm_domain d = { .domain = KSM_DOMAIN_DEFAULT, .flags = flags };
	int sma = ksmu_sma_create(dev);
	long res[3] = { 0 };
	char cmd;

	/* Written here, not before the fork: a page shared with the parent would fault on COW. */
	tenant_fill(mem, halves, junk);
	if (sma < 0 || ioctl(sma, KSM_SMA_SET_DOMAIN, &d) || ksmu_register(sma, mem, halves * N))
		_exit(3);
	if (write(out, res, sizeof(res)) != sizeof(res))
		_exit(4);
	while (read(in, &cmd, 1) == 1 && (cmd == 'w' || cmd == 'r')) {
		if (cmd == 'r') {
			tenant_fill(mem, halves, false);
			if (write(out, res, sizeof(res)) != sizeof(res))
				_exit(4);
			continue;
		}
		for (long h = 0; h < halves; h++) {
			long f0 = minor_faults();

			/* Write back the byte read: contents unchanged, a write fault if read-only. */
			for (long i = 0; i < N; i++) {
				volatile char *b = mem + (h * N + i) * ktest_page + 7;

				*b = *b;
			}
			res[h] = minor_faults() - f0;
		}
		/* Pages that do not hold what they should (ksmu_check_pages(): -1 if all do). */
		res[2] = (ksmu_check_pages(mem, N, SEED_SHARED, N) >= 0) +
			 (halves > 1 && ksmu_check_pages(mem + N * ktest_page, N, SEED_OWN, N) >= 0);
		if (write(out, res, sizeof(res)) != sizeof(res))
			_exit(4);
	}
	_exit(0);
}

static struct tenant tenant_start_as(int dev, long halves, uint32_t flags, bool junk)
{
	struct tenant t = { .halves = halves, .mem = anon_map(halves * N * ktest_page, 0) };
	int to[2], from[2];
	long res[3];

	if (pipe(to) || pipe(from))
		ktest_fatal("pipe");
	t.pid = fork();
	if (t.pid < 0)
		ktest_fatal("fork");
	if (!t.pid) {
		close(to[1]);
		close(from[0]);
		tenant_main(dev, t.mem, halves, flags, junk, to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	t.to = to[1];
	t.from = from[0];
	if (read(t.from, res, sizeof(res)) != sizeof(res))
		ktest_fatal("tenant did not start (status of its registration)");
	return t;
}

static struct tenant tenant_start(int dev, long halves, uint32_t flags)
{
	return tenant_start_as(dev, halves, flags, false);
}

/* Merged mappings of @pid (KSM_GET_PROCESS_STATS). */
static long merged_of(int dev, pid_t pid)
{
	struct ksm_process_stats st = { .pid = pid };

	return ioctl(dev, KSM_GET_PROCESS_STATS, &st) ? -1 : (long)st.merged_pages;
}

static void tenant_stop(struct tenant *t)
{
	int status;

	if (write(t->to, "q", 1) != 1)
		kill(t->pid, SIGKILL);
	waitpid(t->pid, &status, 0);
	close(t->to);
	close(t->from);
	munmap(t->mem, t->halves * N * ktest_page);
}

/* One round in domain 0 with @flags: returns the attacker's faults on its shared and own halves. */
static void round_in(int dev, int scan, uint32_t flags, const char *name, long *shared, long *own)
{
	struct tenant victim = tenant_start(dev, 1, flags), attacker = tenant_start(dev, 2, flags);
	bool hardened = flags & KSM_DOMAIN_HARDENED;
	/* Hardened: every idle page is merged, the attacker's own half too. */
	long want = hardened ? 2 * N : N, res[3] = { 0 };
	struct ksm_stats st;
	int pass;

	for (pass = 0; pass < 12 && (merged_of(dev, attacker.pid) < want ||
				      merged_of(dev, victim.pid) < N); pass++)
		ksmu_scan_pass(scan);
	ksmu_stats(dev, &st);
	ktest_ok(merged_of(dev, victim.pid) == N && merged_of(dev, attacker.pid) == want,
		 "%s: after %d passes the victim has %d pages merged, the attacker %ld (%ld, %ld)",
		 name, pass, N, want, merged_of(dev, victim.pid), merged_of(dev, attacker.pid));
	ktest_ok(ktest_same_pfns(victim.pid, (uintptr_t)victim.mem, attacker.pid,
				 (uintptr_t)attacker.mem, N) == N,
		 "%s: the twins share their pages (memory saved: %llu pages sharing)", name,
		 (unsigned long long)st.pages_sharing);
	if (write(attacker.to, "w", 1) != 1 || read(attacker.from, res, sizeof(res)) != sizeof(res))
		ktest_fatal("attacker did not answer");
	*shared = res[0];
	*own = res[1];
	ktest_ok(res[2] == 0, "%s: the attacker's pages hold what it wrote (%ld half wrong)", name, res[2]);
	if (write(victim.to, "w", 1) != 1 || read(victim.from, res, sizeof(res)) != sizeof(res))
		ktest_fatal("victim did not answer");
	ktest_ok(res[2] == 0, "%s: the victim's pages too (%ld half wrong)", name, res[2]);
	tenant_stop(&attacker);
	tenant_stop(&victim);
}

/*
 * Tenants that go idle at different times in the hardened domain: after
 * each pass the attacker must have none or all of its pages merged, never
 * its twins of the victim's pages alone, or its writes (or its own
 * statistics) would tell it, for that pass, that the victim holds those
 * contents. @first: the attacker registers first (its region scanned
 * before the victim's), holding junk, and takes on the shared and its own
 * contents @lag passes after the victim registered; else it registers with
 * them @lag passes after the victim. Returns how many passes showed it
 * partly merged; *@merged: its merged pages at the end.
 */
static int idle_later(int dev, int scan, bool first, int lag, long *merged)
{
	struct tenant victim, attacker;
	int pass, partial = 0;
	long res[3];

	if (first)
		attacker = tenant_start_as(dev, 2, KSM_DOMAIN_HARDENED, true);
	victim = tenant_start(dev, 1, KSM_DOMAIN_HARDENED);
	for (pass = 0; pass < lag; pass++)
		ksmu_scan_pass(scan);
	if (!first)
		attacker = tenant_start(dev, 2, KSM_DOMAIN_HARDENED);
	else if (write(attacker.to, "r", 1) != 1 || read(attacker.from, res, sizeof(res)) != sizeof(res))
		ktest_fatal("attacker did not answer");
	for (pass = 0; pass < 12; pass++) {
		ksmu_scan_pass(scan);
		*merged = merged_of(dev, attacker.pid);
		if (*merged > 0 && *merged < 2 * N) {
			ktest_diag("%s, lag %d, pass %d: the attacker has %ld of %d pages merged",
				   first ? "first" : "later", lag, pass, *merged, 2 * N);
			partial++;
		}
		if (*merged == 2 * N)
			break;
	}
	tenant_stop(&attacker);
	tenant_stop(&victim);
	return partial;
}

int main(void)
{
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	struct ksm_domain bad = { .domain = KSM_DOMAIN_PRIVATE, .flags = KSM_DOMAIN_HARDENED };
	struct ksm_features f;
	long shared, own;
	int sma;

	if (ioctl(dev, KSM_GET_FEATURES, &f) || !(f.features & KSM_FEATURE_HARDENED))
		ktest_fatal("KSM_FEATURE_HARDENED is not offered");
	sma = ksm_sma(dev);
	KTEST_ERRNO(ioctl(sma, KSM_SMA_SET_DOMAIN, &bad), EINVAL, "a hardened private domain");
	bad.domain = KSM_DOMAIN_DEFAULT;
	bad.flags = 2;
	KTEST_ERRNO(ioctl(sma, KSM_SMA_SET_DOMAIN, &bad), EINVAL, "an unknown domain flag");
	close(sma);

	round_in(dev, scan, 0, "normal domain", &shared, &own);
	ktest_ok(shared >= N && own < N / 8,
		 "normal domain: the attacker tells merged from unmerged by its faults (%ld vs %ld)",
		 shared, own);

	/*
	 * The signal is N faults against none. A stray fault of the tenant's
	 * own (its stack, the page it reports through) lands in either count
	 * now and then: the normal domain above gives N + 1 at times. A few
	 * faults of slack, nowhere near what would tell the halves apart.
	 */
	round_in(dev, scan, KSM_DOMAIN_HARDENED, "hardened domain", &shared, &own);
	ktest_ok(labs(shared - own) <= 4 && shared >= N && own >= N,
		 "hardened domain: the attacker's faults are the same either way (%ld, %ld)",
		 shared, own);

	for (int first = 0; first < 2; first++) {
		for (int lag = 1; lag <= 3; lag++) {
			int partial = idle_later(dev, scan, first, lag, &shared);

			ktest_ok(!partial && shared == 2 * N,
				 "hardened domain, the attacker %s, idle %d passes after the victim: "
				 "its twins merge with the rest of its pages, never before (%d passes "
				 "partly merged; %ld of %d merged)", first ? "registered first" :
				 "registered later", lag, partial, shared, 2 * N);
		}
	}
	return ktest_done();
}
