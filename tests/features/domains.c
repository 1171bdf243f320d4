// SPDX-License-Identifier: GPL-2.0
/*
 * Merge domains: pages merge only within one domain. Private domains are
 * handed out by the kernel and cannot be joined; named ones need
 * CAP_SYS_ADMIN. Four processes with the same content in three domains.
 */
#include "ktest.h"

static int set_domain(int sma, uint32_t *domain)
{
	struct ksm_domain d = { .domain = *domain };
	int r = ioctl(sma, KSM_SMA_SET_DOMAIN, &d);

	*domain = d.domain;
	return r;
}

static void test_api(int dev)
{
	int s1 = ksm_sma(dev), s2 = ksm_sma(dev), s3 = ksm_sma(dev);
	uint32_t d1 = KSM_DOMAIN_PRIVATE, d2 = KSM_DOMAIN_PRIVATE, d;
	struct ksm_domain bad = { .domain = 5, .flags = 1U << 1 };
	char *m = anon_map(4 * ktest_page, 0);

	ktest_ok(set_domain(s1, &d1) == 0 && d1 >= 0x80000000U && d1 != KSM_DOMAIN_PRIVATE,
		 "KSM_DOMAIN_PRIVATE gives a kernel id (%#x)", d1);
	ktest_ok(set_domain(s2, &d2) == 0 && d2 != d1, "another private domain is another id (%#x)", d2);
	d = d1;
	KTEST_ERRNO(set_domain(s3, &d), EINVAL, "asking for a kernel id explicitly: EINVAL");
	KTEST_ERRNO(ioctl(s3, KSM_SMA_SET_DOMAIN, &bad), EINVAL, "a flag it does not know: EINVAL");
	bad = (struct ksm_domain){ .domain = 5, .reserved = { 0, 1, 0 } };
	KTEST_ERRNO(ioctl(s3, KSM_SMA_SET_DOMAIN, &bad), EINVAL, "reserved != 0: EINVAL");
	KTEST_ERRNO(ioctl(dev, KSM_SMA_SET_DOMAIN, &bad), ENOTTY, "on /dev/ksm: ENOTTY");
	d = 42;
	ktest_ok(set_domain(s3, &d) == 0 && d == 42, "root names domain 42");
	ktest_ok(ksmu_register(s3, m, 4) == 0, "registers on it");
	d = 43;
	KTEST_ERRNO(set_domain(s3, &d), EBUSY, "changing the domain of an SMA with regions: EBUSY");
	d = KSM_DOMAIN_PRIVATE;
	KTEST_ERRNO(set_domain(s3, &d), EBUSY, "and asking it for a private one: EBUSY");
	int s4 = ksm_sma(dev);
	uint32_t d4 = KSM_DOMAIN_PRIVATE;

	/* Each call that failed used to take a private id: enough of them brought the count round. */
	ktest_ok(set_domain(s4, &d4) == 0 && d4 == d2 + 1,
		 "a call that failed took no private domain: the next one is %#x (%#x)", d2 + 1, d4);
	pid_t pid = fork();

	if (!pid) {
		int s = ksm_sma(dev);
		uint32_t x = 42, y = KSM_DOMAIN_PRIVATE, z = KSM_DOMAIN_DEFAULT;

		if (setresuid(65534, 65534, 65534))
			_exit(9);
		_exit((set_domain(s, &x) == -1 && errno == EPERM ? 0 : 1) |
		      (set_domain(s, &y) == 0 ? 0 : 2) | (set_domain(s, &z) == 0 ? 0 : 4));
	}
	int st;

	waitpid(pid, &st, 0);
	ktest_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		 "unprivileged: a named domain is EPERM, private and default work (%d)", st);
	close(s1);
	close(s2);
	close(s3);
	close(s4);
	munmap(m, 4 * ktest_page);
}

int main(void)
{
	const long n = 256;
	int dev = ksm_open(), scan = ksm_scanfd(dev);

	test_api(dev);

	peer_domain = 42;
	struct peer a = peer_start(dev, n, 80, n), b = peer_start(dev, n, 80, n);

	peer_domain = 43;
	struct peer c = peer_start(dev, n, 80, n), d = peer_start(dev, n, 80, n);

	peer_domain = KSM_DOMAIN_PRIVATE;
	struct peer e = peer_start(dev, n, 80, n), f = peer_start(dev, n, 80, n);

	peer_domain = KSM_DOMAIN_DEFAULT;
	struct peer g = peer_start(dev, n, 80, n), h = peer_start(dev, n, 80, n);

	ksmu_scan_settle(scan, 3);
	ktest_ok(peers_shared(&a, &b) == n, "domain 42: its two processes merged");
	ktest_ok(peers_shared(&c, &d) == n, "domain 43: its two processes merged");
	ktest_ok(peers_shared(&g, &h) == n, "the default domain: merged");
	ktest_ok(peers_shared(&a, &c) == 0 && peers_shared(&a, &g) == 0 && peers_shared(&c, &g) == 0,
		 "never across domains (42/43/default)");
	ktest_ok(peers_shared(&e, &f) == 0 && peers_shared(&e, &a) == 0 && peers_shared(&e, &g) == 0,
		 "a private domain shares with nobody, not even another private one");
	bool ok = true;
	struct peer *all[] = { &a, &b, &c, &d, &e, &f, &g, &h };

	for (int i = 0; i < 8; i++)
		ok &= peer_check(all[i]);
	ktest_ok(ok, "all eight read right");
	for (int i = 0; i < 8; i++)
		peer_stop(all[i]);
	return ktest_done();
}
