/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How the preload library reads its merge-domain settings from the
 * environment, for the library itself and for `ksmctl run', which checks
 * what the library will do before it runs a command. Allocates nothing (the
 * library never calls malloc()).
 */
#ifndef KSM_PRELOAD_ENV_H
#define KSM_PRELOAD_ENV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/ksm.h>

/* A boolean setting's value (KSM_PRELOAD_HARDENED, ...): set, non-empty and not "0". */
static inline bool ksm_env_flag_value(const char *v)
{
	return v && *v && strcmp(v, "0");
}

/*
 * KSM_PRELOAD_DOMAIN's value @v into *@domain: "private"
 * (KSM_DOMAIN_PRIVATE), or a decimal id from 0 to 2147483647; unset or empty
 * is the default domain (0). Returns 0, or -1 for anything else (*@domain
 * unchanged), with which the library registers nothing.
 */
static inline int ksm_env_domain_value(const char *v, uint32_t *domain)
{
	unsigned long long n;
	char *end;

	if (!v || !*v) {
		*domain = KSM_DOMAIN_DEFAULT;
		return 0;
	}
	if (!strcmp(v, "private")) {
		*domain = KSM_DOMAIN_PRIVATE;
		return 0;
	}
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || errno || *end || n > 0x7fffffffULL)
		return -1;
	*domain = (uint32_t)n;
	return 0;
}

#endif
