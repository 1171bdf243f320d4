/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Calling the unexported kernel functions of ksm_sym_list.h: each has an
 * index, and ksmdev_sym_addr[] its address, filled once during module init
 * by ksmdev_syms_init() and read-only after. ksmdev_call(fn) gives the
 * function with the type of the kernel's own declaration (typeof), so a
 * wrong probe answer is a compile error, not a call with the wrong
 * arguments.
 */
#ifndef KSMDEV_SYMS_H
#define KSMDEV_SYMS_H

#define KSMDEV_SYM(fn, ...) KSMDEV_SYM_##fn,
enum ksmdev_sym_index {
#include "ksm_sym_list.h"
	KSMDEV_NR_SYMS
};

#undef KSMDEV_SYM

extern unsigned long ksmdev_sym_addr[KSMDEV_NR_SYMS];

/* The resolved function @fn of the list, to call. */
#define ksmdev_call(fn) ((typeof(&fn))ksmdev_sym_addr[KSMDEV_SYM_##fn])
/* Did the optional function @fn resolve? */
#define ksmdev_have(fn) (ksmdev_sym_addr[KSMDEV_SYM_##fn] != 0)

int ksmdev_syms_init(const char *extra_required);

#endif /* KSMDEV_SYMS_H */
