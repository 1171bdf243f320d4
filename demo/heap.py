#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A worker process whose heap is mostly the same as its siblings' (the demo's second workload).

Like several workers of one service that each load the same reference data at start, it builds:

  - a dataset of SHARED_MIB MiB: records generated from a fixed seed, the same bytes in every worker
    started with the same --seed (in 1 MiB blocks: malloc gives each its own mapping);
  - an index over it (a dict of small Python objects: full of pointers, different in every process);
  - OWN_MIB MiB of state of its own (random, never the same in two workers).

Then it asks for its memory to be merged: madvise(MADV_MERGEABLE) on each of its private anonymous
writable mappings (the heap, malloc's mappings; not the stack). The call goes through the dynamic
linker, so under `ksmctl run' the preload library turns it into /dev/ksm registrations, and without
it the kernel marks the memory for its built-in KSM. It prints "ready PID BYTES" (BYTES madvised),
waits for the end of its standard input, and checks that its dataset still holds what it generated
(CRC-32 of every block): exit 0 if so, 3 if not.

usage: heap.py [--shared-mib N] [--own-mib N] [--seed N]
"""
import argparse
import ctypes
import os
import random
import sys
import zlib

MADV_MERGEABLE = 12
BLOCK = 1 << 20


def build(shared_mib, own_mib, seed):
    """The dataset (and its CRCs), its index and the worker's own state."""
    rng = random.Random(seed)
    dataset = [rng.randbytes(BLOCK) for _ in range(shared_mib)]
    crcs = [zlib.crc32(b) for b in dataset]
    # An index of every 4 KiB record by its first 8 bytes: small objects, pointers, per process.
    index = {b[off:off + 8]: (i, off) for i, b in enumerate(dataset) for off in range(0, BLOCK, 4096)}
    own = [os.urandom(BLOCK) for _ in range(own_mib)]
    return dataset, crcs, index, own


def private_anonymous_rw():
    """The private anonymous writable mappings of this process, as (start, end), but the stack."""
    spans = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            perms, inode = fields[1], fields[4]
            name = fields[5] if len(fields) > 5 else ""
            if perms.startswith("rw") and perms[3] == "p" and inode == "0" and \
                    (name in ("", "[heap]") or name.startswith("[anon:")):
                spans.append((start, end))
    return spans


def advise_mergeable():
    """madvise(MADV_MERGEABLE) every private anonymous writable mapping; returns the bytes advised."""
    libc = ctypes.CDLL(None, use_errno=True)  # the global scope: the preload library comes first
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    done = 0
    for start, end in private_anonymous_rw():
        if libc.madvise(start, end - start, MADV_MERGEABLE) == 0:
            done += end - start
        else:
            print(f"heap.py: madvise 0x{start:x}-0x{end:x}: {os.strerror(ctypes.get_errno())}",
                  file=sys.stderr)
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-mib", type=int, default=64, help="MiB of data all workers share")
    parser.add_argument("--own-mib", type=int, default=16, help="MiB of data of this worker only")
    parser.add_argument("--seed", type=int, default=2008, help="the dataset's seed")
    args = parser.parse_args()

    dataset, crcs, index, own = build(args.shared_mib, args.own_mib, args.seed)
    advised = advise_mergeable()
    print(f"ready {os.getpid()} {advised}", flush=True)
    sys.stdin.read()
    bad = sum(zlib.crc32(b) != c for b, c in zip(dataset, crcs))
    if bad:
        print(f"heap.py: {bad} dataset blocks changed", file=sys.stderr)
        return 3
    del index, own
    return 0


if __name__ == "__main__":
    sys.exit(main())
