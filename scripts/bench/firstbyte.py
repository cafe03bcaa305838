#!/usr/bin/env python3
"""Times a command to the first byte of its standard output and to its end, 3 runs: python3 scripts/bench/firstbyte.py CMD ARGS..."""
import subprocess, sys, time
cmd = sys.argv[1:]
for i in range(3):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    first = p.stdout.read(1)
    t1 = time.monotonic()
    rest = p.stdout.read()
    p.wait()
    t2 = time.monotonic()
    lines = (first + rest).count(b"\n")
    print(f"first byte {t1-t0:.3f} s, end {t2-t0:.3f} s, {lines} lines")
