// SPDX-License-Identifier: GPL-2.0
/*
 * Symbol resolution: the kernel functions the module needs but the kernel
 * does not export, found once at load through kallsyms_lookup_name() (itself
 * found with a kprobe). Every address is checked to be the entry of the named
 * function before anything calls it; a missing one fails the load.
 */
#include "ksm_internal.h"

#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/cpufeature.h>

/* Filled by ksmdev_syms_init(), read-only afterwards. */
unsigned long ksmdev_sym_addr[KSMDEV_NR_SYMS];

/* One symbol to resolve, in the order of enum ksmdev_sym_index. */
struct ksmdev_sym_desc {
	const char *name;
	bool required;		/* the load fails without it */
};

#define KSMDEV_SYM(fn, req) { .name = #fn, .required = req },
static const struct ksmdev_sym_desc ksmdev_sym_table[KSMDEV_NR_SYMS] = {
#include "ksm_sym_list.h"
};

#undef KSMDEV_SYM

/* Resolved kallsyms_lookup_name(); only used during init. */
static unsigned long (*ksmdev_lookup_name)(const char *name);

/* ENDBR64: the first instruction of an indirect-call target under IBT. */
#define KSMDEV_ENDBR64 0xfa1e0ff3U

/*
 * ksmdev_symbol_offset - where @addr lies inside the function @name
 *
 * Returns the offset of @addr from the start of @name, or -1 when @addr is
 * not inside @name (kallsyms names another symbol).
 */
static long ksmdev_symbol_offset(unsigned long addr, const char *name)
{
	char buf[KSYM_SYMBOL_LEN];
	unsigned long off, size;
	char *plus;

	sprint_symbol(buf, addr);
	plus = strchr(buf, '+');
	if (!plus)
		return -1;
	*plus = '\0';
	if (strcmp(buf, name))
		return -1;
	if (sscanf(plus + 1, "0x%lx/0x%lx", &off, &size) != 2 || off >= size)
		return -1;
	return off;
}

/*
 * ksmdev_callable - may the function at @addr be called through a pointer?
 *
 * It must be the entry of @name and, when the CPU enforces indirect branch
 * tracking, begin with ENDBR64 (the kernel seals functions that are never
 * called indirectly: calling those would fault).
 */
static bool ksmdev_callable(unsigned long addr, const char *name)
{
	u32 insn;

	if (ksmdev_symbol_offset(addr, name) != 0) {
		pr_err("%s: %#lx is not the entry of that function\n", name, addr);
		return false;
	}
	if (ksmdev_kernel_ibt()) {
		if (get_kernel_nofault(insn, (u32 *)addr) || insn != KSMDEV_ENDBR64) {
			pr_err("%s: not an indirect branch target under IBT (boot with ibt=off)\n",
			       name);
			return false;
		}
	}
	return true;
}

/*
 * ksmdev_find_lookup_name - find kallsyms_lookup_name() with a kprobe
 *
 * The kprobe's address may be past the function's ENDBR (or at its ftrace
 * call): kallsyms gives the offset to step back to the entry.
 */
static int ksmdev_find_lookup_name(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long addr;
	long off;
	int ret;

	ret = register_kprobe(&kp);
	if (ret < 0) {
		pr_err("missing symbol kallsyms_lookup_name (kprobe: %d)\n", ret);
		return -ENOENT;
	}
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);

	off = ksmdev_symbol_offset(addr, "kallsyms_lookup_name");
	if (off < 0) {
		pr_err("missing symbol kallsyms_lookup_name (kprobe at %#lx)\n", addr);
		return -ENOENT;
	}
	addr -= off;
	if (!ksmdev_callable(addr, "kallsyms_lookup_name"))
		return -ENOENT;
	ksmdev_lookup_name = (void *)addr;
	return 0;
}

/* The address of the function @name, or 0 if it is missing or not callable. */
static unsigned long ksmdev_resolve(const char *name)
{
	unsigned long addr = ksmdev_lookup_name(name);

	if (!addr || !ksmdev_callable(addr, name))
		return 0;
	return addr;
}

/**
 * ksmdev_syms_init - resolve every unexported function the module calls
 * @extra_required: one more function name that must resolve, or NULL (the
 *	test_require_symbol parameter: lets tests exercise a failed load)
 *
 * Called once from module init, before any other part of the module runs.
 * Returns 0, or -ENOENT after naming each missing symbol in the kernel log.
 */
int ksmdev_syms_init(const char *extra_required)
{
	unsigned int i, missing = 0;
	int ret;

	ret = ksmdev_find_lookup_name();
	if (ret)
		return ret;

	for (i = 0; i < ARRAY_SIZE(ksmdev_sym_table); i++) {
		const struct ksmdev_sym_desc *d = &ksmdev_sym_table[i];
		unsigned long addr = ksmdev_resolve(d->name);

		if (!addr && d->required) {
			pr_err("missing symbol %s\n", d->name);
			missing++;
		}
		ksmdev_sym_addr[i] = addr;
	}

	if (extra_required && *extra_required && !ksmdev_resolve(extra_required)) {
		pr_err("missing symbol %s\n", extra_required);
		missing++;
	}
	if (missing) {
		memset(ksmdev_sym_addr, 0, sizeof(ksmdev_sym_addr));
		return -ENOENT;
	}
	return 0;
}
