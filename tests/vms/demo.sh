#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo's guest half (demo/in-guest), smaller: two VMs booting Linux with a 32 MiB workload (24 MiB
# the same in both) and two python workers with the same 16 MiB dataset, merged by the module, then by
# the built-in KSM. Checks that it completes, that no workload was corrupted (the VMs kept running, every
# sum they printed right), and that the module saves what the built-in KSM saves.
# Runs as root in a test guest with the module loaded.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0

ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

# KSM_VM_RESULTS: demo/in-guest writes its report there, and here that is the TAP results file
# of the whole guest run (tests/guest-run), which it must not replace.
DEMO_HEAP_MIB=16 DEMO_OWN_MIB=4 DEMO_VM_MIB=32 DEMO_TIMEOUT=120 DEMO_JSON=$tmp/r.json KSM_VM_RESULTS=$tmp/report \
	"$top/demo/in-guest" > "$tmp/out" 2>&1
rc=$?
sed 's/^/# /' "$tmp/out"
ok $rc "demo/in-guest completes, every workload holds what it wrote (status $rc)"
python3 - "$tmp/r.json" <<'PY'
import json, sys
try:
    res = {r["engine"]: r for r in json.load(open(sys.argv[1]))}
except (OSError, ValueError) as e:
    res = {}
    print(f"# no results: {e}")
n = 1
def ok(cond, msg):
    global n
    n += 1
    print(f"{'ok' if cond else 'not ok'} {n} - {msg}")
m, k = res.get("module", {}), res.get("built-in", {})
ms = m.get("after", {}).get("sharing", 0)
ks = k.get("after", {}).get("sharing", 0)
ok(m.get("ok") and k.get("ok"), "both engines ran the workloads to the end")
# The VMs keep writing (a 2 MiB burst rewrites some 2% of what is shared) and the module's count is
# as of its last full pass: 90% in all, and 95% of the heap workers' merges, which stay still.
# Each engine merges VMs of its own boot, and how much memory a VM's kernel has touched when the
# scanner stops varies from boot to boot, for either engine, and what both merge with it (6.1: 44.5k
# to 50.7k pages resident per VM, 23.4k to 26.8k of them merged): so per page the workloads hold.
mr, kr = sum(m.get("resident", {}).values()), sum(k.get("resident", {}).values())
ok(ks > 0 and mr > 0 and kr > 0 and ms / mr >= 0.9 * ks / kr,
   f"the module saves what the built-in KSM saves, per page the workloads hold ({ms} pages of {mr}: "
   f"{100 * ms / max(mr, 1):.1f}%; {ks} of {kr}: {100 * ks / max(kr, 1):.1f}%)")
mh, kh = m.get("merged", {}).get("heap x2", 0), k.get("merged", {}).get("heap x2", 0)
ok(kh > 0 and mh >= 0.95 * kh, f"in the heap workers, the module merges what the built-in KSM merges "
   f"({mh} vs {kh} pages)")
# 16 MiB of dataset in each of two workers: at least 90% of its 4096 pages merged, in both.
heap = m.get("merged", {}).get("heap x2", 0)
ok(heap >= 2 * 4096 * 0.9, f"the module merged the heap workers' common dataset ({heap} pages)")
# 24 MiB of each VM's data is the same in both: 6144 pages, some always being rewritten.
for vm in ("VM 0", "VM 1"):
    got = m.get("merged", {}).get(vm, 0)
    ok(got >= 6144 * 0.9, f"the module merged {vm}'s data common with the other VM ({got} pages)")
print("# " + "\n# ".join(m.get("vms", []) + k.get("vms", [])))
print(f"1..{n}")
PY
