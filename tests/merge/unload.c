// SPDX-License-Identifier: GPL-2.0
/*
 * Unloading the module while processes still map its kernel pages: the pages
 * outlive the module (they are ordinary pages with no pointer into it), read
 * right, copy on write, and are freed when the processes exit.
 */
#include "ktest.h"

#include <sys/syscall.h>

int main(void)
{
	const long n = 1024;
	int dev = ksm_open(), scan = ksm_scanfd(dev);
	struct peer a = peer_start(dev, n, 90, n);
	struct peer b = peer_start(dev, n, 90, n);

	ktest_ok(ksmu_scan_pass(scan) == 2 * n && peers_shared(&a, &b) == n, "merged %ld pages", n);
	ktest_ok(peer_cmd(&a, PEER_CLOSE_SMA, 0, 0, 0) == 0 && peer_cmd(&b, PEER_CLOSE_SMA, 0, 0, 0) == 0,
		 "the processes close their SMA fds");
	close(scan);
	close(dev);
	long free0 = ksmu_free_kb();

	ktest_ok(syscall(SYS_delete_module, "ksm", O_NONBLOCK) == 0, "the module unloads");
	ktest_ok(peers_shared(&a, &b) == n, "the processes still share the pages");
	ktest_ok(peer_check(&a) && peer_check(&b), "and read them right");
	peer_cmd(&a, PEER_WRITE_ALL, 0x10, 0, 0);
	ktest_ok(peer_check(&a) && peer_check(&b) && peers_shared(&a, &b) == 0,
		 "writes copy on write without the module");
	ktest_ok(WIFEXITED(peer_stop(&a)) && WIFEXITED(peer_stop(&b)), "the processes exit normally");
	long free1 = ksmu_free_kb();

	ktest_ok(free1 - free0 >= n * 4 * 8 / 10, "the pages were freed (free memory +%ld kB)",
		 free1 - free0);
	ktest_ok(module_load(NULL) == 0 && ksmu_dev_wait(), "the module loads again");
	return ktest_done();
}
