/*
 * The ksmctl example from the 2008 /dev/ksm patch series ([PATCH 0/4] ksm -
 * dynamic page sharing driver for linux, Izik Eidus, 2008-11-11), unchanged
 * but for the indentation and a line break that the mail archive introduced
 * (in the usage string). It includes "ksm.h":
 * tests/abi/compat2008.sh compiles it against uapi/linux/ksm.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "ksm.h"

int main(int argc, char *argv[])
{
	int fd;
	int used = 0;
	int fd_start;
	struct ksm_kthread_info info;


	if (argc < 2) {
		fprintf(stderr, "usage: %s {start npages sleep | stop | info}\n", argv[0]);
		exit(1);
	}

	fd = open("/dev/ksm", O_RDWR | O_TRUNC, (mode_t)0600);
	if (fd == -1) {
		fprintf(stderr, "could not open /dev/ksm\n");
		exit(1);
	}

	if (!strncmp(argv[1], "start", strlen(argv[1]))) {
		used = 1;
		if (argc < 5) {
			fprintf(stderr, "usage: %s start npages_to_scan",
				argv[0]);
			fprintf(stderr, "npages_max_merge sleep\n");
			exit(1);
		}
		info.pages_to_scan = atoi(argv[2]);
		info.max_pages_to_merge = atoi(argv[3]);
		info.sleep = atoi(argv[4]);
		info.running = 1;

		fd_start = ioctl(fd, KSM_START_STOP_KTHREAD, &info);
		if (fd_start == -1) {
			fprintf(stderr, "KSM_START_KTHREAD failed\n");
			exit(1);
		}
		printf("created scanner\n");
	}

	if (!strncmp(argv[1], "stop", strlen(argv[1]))) {
		used = 1;
		info.running = 0;
		fd_start = ioctl(fd, KSM_START_STOP_KTHREAD, &info);
		if (fd_start == -1) {
			fprintf(stderr, "KSM_START_STOP_KTHREAD failed\n");
			exit(1);
		}
		printf("stopped scanner\n");
	}

	if (!strncmp(argv[1], "info", strlen(argv[1]))) {
		used = 1;
		fd_start = ioctl(fd, KSM_GET_INFO_KTHREAD, &info);
		if (fd_start == -1) {
			fprintf(stderr, "KSM_GET_INFO_KTHREAD failed\n");
			exit(1);
		}
		printf("running %d, pages_to_scan %d pages_max_merge %d",
		       info.running, info.pages_to_scan,
		       info.max_pages_to_merge);
		printf("sleep_time %d\n", info.sleep);
	}

	if (!used)
		fprintf(stderr, "unknown command %s\n", argv[1]);

	return 0;
}
