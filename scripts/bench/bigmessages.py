#!/usr/bin/env python3
"""scripts/bench/bigmessages.py -- memory while many large messages arrive at once (issue 21).

Starts qksmtp (a throwaway instance in a temporary folder, loopback only, every domain routed
to a closed loopback port so that nothing is delivered and nothing leaves 127.0.0.1), opens
SESSIONS SMTP sessions at once, and has each send one message of SIZE bytes with DATA (or BDAT
with --bdat), all in parallel; samples the server's RSS (VmRSS, every 50 ms) and reads its peak
(VmHWM) at the end. Every session must get its 250, and every message must be in the spool
with the right size. Bounded: one message per session, a deadline per phase; it stops by
itself and removes its folder.

  scripts/bench/bigmessages.py [--bin target/release/qksmtp] [--sessions 100] [--size 25M]
                               [--bdat] [--md docs/benchmarks.md] [--label after]

Prints one JSON line; with --md, writes the table row to its own section of that file
(`<!-- workload:harden -->`, see mdsection.py), keeping the rows of other labels.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEADLINE = 600


def size_arg(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if not m:
        raise argparse.ArgumentTypeError("a size like 25M")
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def make_content(size):
    """A message of `size` bytes: headers, then 78-character lines (none starts with a dot)."""
    head = b"From: big@sender.test\r\nTo: x@dest.test\r\nSubject: big\r\n\r\n"
    line = (b"0123456789abcdefghijklmnopqrstuvwxyz" * 3)[:76] + b"\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    return head + body[: size - len(head) - 2] + b"\r\n"


def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise IOError("connection closed after %r" % lines)
        lines.append(line.decode(errors="replace").rstrip())
        if line[3:4] != b"-":
            return "\n".join(lines)


def session(port, content, bdat, results, i, start):
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    f = s.makefile("rb")
    try:
        reply(f)
        s.sendall(b"EHLO load.test\r\n")
        reply(f)
        s.sendall(b"MAIL FROM:<big@sender.test>\r\n")
        assert reply(f).startswith("250")
        s.sendall(b"RCPT TO:<x%d@dest.test>\r\n" % i)
        assert reply(f).startswith("250")
        start.wait()
        view = memoryview(content)
        if bdat:
            s.sendall(b"BDAT %d LAST\r\n" % len(content))
            s.sendall(view)
        else:
            s.sendall(b"DATA\r\n")
            assert reply(f).startswith("354")
            for at in range(0, len(content), 1 << 20):
                s.sendall(view[at : at + (1 << 20)])
            s.sendall(b".\r\n")
        results[i] = reply(f)
        s.sendall(b"QUIT\r\n")
    except Exception as e:  # reported, counted as a failure
        results[i] = "error: %s" % e
    finally:
        s.close()


def ini(port, spool, size):
    return """[server]
listen = 127.0.0.1:%d
hostname = bench-big.test
status_listen =
spool_dir = %s
log_file =
log_level = warn
max_message_size = %d
max_sessions = 1000
max_sessions_per_ip = 1000

[access]
relay_from = 127.0.0.0/8

[delivery]
dns_server = 127.0.0.1:9

[domain:*]
mx = 127.0.0.1:9
retry_delay = 1h
""" % (port, spool, size + (1 << 20))


def run(args):
    work = tempfile.mkdtemp(prefix="qksmtp-bigmsg-")
    try:
        port = free_port()
        spool = os.path.join(work, "spool")
        path = os.path.join(work, "qksmtp.ini")
        with open(path, "w") as f:
            f.write(ini(port, spool, args.size))
        proc = subprocess.Popen([args.bin, "--config", path], stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(work, "stderr"), "w"))
        try:
            return measure(args, proc, port, spool)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args, proc, port, spool):
    t0 = time.time()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() - t0 > 30 or proc.poll() is not None:
                raise SystemExit("qksmtp did not start")
            time.sleep(0.05)
    base = status_kib(proc.pid, "VmRSS")
    content = make_content(args.size)
    results = [None] * args.sessions
    start = threading.Event()
    threads = [threading.Thread(target=session, args=(port, content, args.bdat, results, i, start))
               for i in range(args.sessions)]
    for t in threads:
        t.start()
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], status_kib(proc.pid, "VmRSS"))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    time.sleep(0.5)  # every session has sent its RCPT and waits
    t1 = time.time()
    start.set()
    for t in threads:
        t.join(DEADLINE)
    elapsed = time.time() - t1
    done.set()
    sampler.join()
    hwm = status_kib(proc.pid, "VmHWM")
    ok = sum(1 for r in results if r and r.startswith("250"))
    sizes = [os.path.getsize(os.path.join(spool, n)) for n in os.listdir(spool) if n.endswith(".msg")]
    whole = sum(1 for s in sizes if s >= args.size)
    failures = sorted({r for r in results if not (r and r.startswith("250"))})
    return {
        "label": args.label, "sessions": args.sessions, "size": args.size,
        "command": "BDAT" if args.bdat else "DATA", "accepted": ok, "stored_whole": whole,
        "rss_start_kib": base, "rss_peak_sampled_kib": peak[0], "rss_hwm_kib": hwm,
        "seconds": round(elapsed, 2), "mb_per_s": round(args.sessions * args.size / elapsed / 1e6, 1),
        "failures": failures[:3], "version": subprocess.run([args.bin, "--version"],
                                                            capture_output=True, text=True).stdout.strip(),
    }


def table(rows):
    out = ["## Large messages at once (issue 21: message data off the heap)", "",
           "100 sessions send one 25 MiB message each, all at once, to a qksmtp on loopback",
           "(nothing delivered: every domain goes to a closed port). RSS of the server process:",
           "peak is VmHWM at the end. Reproduce: `scripts/bench/bigmessages.py --label after`",
           "(`--bin` another binary for the before row; `--bdat` for BDAT).", "",
           "| build | command | sessions x size | accepted | stored whole | RSS at start | peak RSS | s | MB/s |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %s | %d x %d MiB | %d | %d | %.1f MiB | %.1f MiB | %.1f | %.0f |" % (
            r["label"], r["command"], r["sessions"], r["size"] >> 20, r["accepted"], r["stored_whole"],
            r["rss_start_kib"] / 1024, r["rss_hwm_kib"] / 1024, r["seconds"], r["mb_per_s"]))
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(ROOT, "target/release/qksmtp"))
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--size", type=size_arg, default=25 << 20)
    p.add_argument("--bdat", action="store_true")
    p.add_argument("--label", default="after")
    p.add_argument("--md", help="write the row to this file's `harden` section")
    p.add_argument("--json", default=os.path.join(ROOT, "docs/bench/bigmessages.json"),
                   help="the rows so far (one per label and command), for --md")
    args = p.parse_args()
    result = run(args)
    print(json.dumps(result))
    if args.md:
        try:
            rows = json.load(open(args.json))
        except (OSError, ValueError):
            rows = []
        rows = [r for r in rows if (r["label"], r["command"]) != (args.label, result["command"])]
        rows.append(result)
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
        sys.path.insert(0, HERE)
        import mdsection
        mdsection.replace(args.md, "harden", table(rows))
    if result["accepted"] != args.sessions:
        sys.exit("only %d of %d accepted: %s" % (result["accepted"], args.sessions, result["failures"]))


if __name__ == "__main__":
    main()
