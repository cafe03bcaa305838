#!/usr/bin/env python3
"""scripts/bench/smaps_peak.py -- where a process's resident memory is at its largest: samples
/proc/PID/smaps every --every seconds while the process lives, keeps the sample with the most
RSS, and prints it by kind: file-backed pages per file; anonymous pages split into the main heap
([heap]), thread stacks (the mapping each thread's stack pointer is in, from
/proc/PID/task/TID/syscall), malloc's other arenas (64 MiB-aligned heaps of glibc) and the rest
(large allocations malloc maps on their own, thread-local areas, ...).

  scripts/bench/smaps_peak.py --match qksmtp-after --out peak.json &   # then run the bench
It waits for a process whose command line contains --match (not itself), and follows the first
one found; with --runs N it follows N such processes one after the other (one per bench run),
printing each one's peak."""
import argparse
import json
import os
import sys
import time

ARENA = 64 << 20  # glibc's HEAP_MAX_SIZE on 64-bit: a non-main arena's heaps are aligned to it


def find(match):
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # the server itself (`--config`), not the `check` run nor a wrapper shell
        if match in cmd and " --config " in cmd and " check " not in cmd and not cmd.startswith(("/bin/bash", "bash")):
            return int(pid)
    return None


def describe(pid):
    """The binary's name and the MALLOC_ settings of its environment."""
    try:
        argv0 = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")[0].decode()
        env = open("/proc/%d/environ" % pid, "rb").read().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    return " ".join([os.path.basename(argv0)] + [e for e in env if e.startswith(("MALLOC_", "GLIBC_TUNABLES"))])


def smaps(pid):
    """[(start, end, perms, path, rss_kb, anon_kb)]"""
    out, cur = [], None
    for line in open("/proc/%d/smaps" % pid):
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            a, b = head[0].split("-")
            cur = [int(a, 16), int(b, 16), head[1], " ".join(head[5:]), 0, 0]
            out.append(cur)
        elif head[0] == "Rss:":
            cur[4] = int(head[1])
        elif head[0] == "Anonymous:":
            cur[5] = int(head[1])
    return out


def stack_pointers(pid):
    """{stack pointer: thread name without its number}"""
    sps = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            f = open("/proc/%d/task/%s/syscall" % (pid, tid)).read().split()
            name = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip().rstrip("0123456789-")
        except OSError:
            continue
        if len(f) >= 3 and f[0] not in ("running",):
            sps[int(f[-2], 16)] = name
    return sps


def classify(maps, sps):
    kinds = {}

    def add(kind, kb, n=1):
        k = kinds.setdefault(kind, [0, 0, []])
        k[0] += kb
        k[1] += n
        return k

    for start, end, perms, path, rss, anon in maps:
        if not rss:
            continue
        if path and not path.startswith("["):
            add("file " + os.path.basename(path), rss)
            continue
        if path == "[heap]":
            add("main heap", rss)
        elif path.startswith("[stack"):
            add("main thread stack", rss)
        elif path:
            add(path, rss)
        elif any(start <= sp < end for sp in sps):
            name = next(n for sp, n in sps.items() if start <= sp < end)
            add("thread stacks %d KiB: %s" % ((end - start) >> 10, name), rss)[2].append(rss)
        elif start % ARENA == 0:
            add("malloc arena heaps", rss)[2].append(rss)
        else:
            add("other anonymous", rss)[2].append(((end - start) >> 10, rss))
    return kinds


def follow(pid, every):
    best, best_sum, samples = None, -1, 0
    while True:
        try:
            maps = smaps(pid)
            sps = stack_pointers(pid)
            threads = len(os.listdir("/proc/%d/task" % pid))
        except (OSError, ValueError, IndexError):
            break
        total = sum(m[4] for m in maps)
        samples += 1
        if total > best_sum:
            best_sum, best = total, (maps, sps, threads, time.time())
        time.sleep(every)
    if best is None:
        return None
    maps, sps, threads, at = best
    kinds = classify(maps, sps)
    anon = sum(m[5] for m in maps)
    return {"pid": pid, "samples": samples, "rss_kb": best_sum, "anon_kb": anon, "threads": threads,
            "kinds": {k: {"kb": v[0], "mappings": v[1], "detail": sorted(v[2], reverse=True)[:12]}
                      for k, v in sorted(kinds.items(), key=lambda kv: -kv[1][0])}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--match", required=True)
    ap.add_argument("--every", type=float, default=0.1)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args()
    results = []
    for _ in range(a.runs):
        pid = None
        while pid is None:
            pid = find(a.match)
            time.sleep(0.05)
        label = describe(pid)
        r = follow(pid, a.every)
        if r is None:
            continue
        r["label"] = label
        results.append(r)
        print("%s pid %d: peak RSS %d kB (anonymous %d kB), %d threads, %d samples" % (
            label, pid, r["rss_kb"], r["anon_kb"], r["threads"], r["samples"]))
        for k, v in r["kinds"].items():
            print("  %8d kB  %3d  %s  %s" % (v["kb"], v["mappings"], k, v["detail"] or ""))
        sys.stdout.flush()
    if a.out:
        json.dump(results, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
