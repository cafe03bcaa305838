#!/usr/bin/env python3
"""The status page with a big queue: times page and API requests with N messages queued.

    cargo build --release && python3 scripts/bench/status_page.py [N]   (default 100000)

Starts target/release/qksmtp (or the binary in $QKSMTP) on loopback ports in a temporary folder, submits N messages with
Python's smtplib (8 connections) to a domain whose MX refuses connections (so they stay
queued), waits until the queue holds them all, then times each request 20 times over a fresh
HTTP connection and prints the median and the slowest as a Markdown table. Only 127.0.0.1.
"""
import http.client
import json
import os
import re
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXE = os.environ.get("QKSMTP") or os.path.join(ROOT, "target", "release", "qksmtp")
INI = """[server]
listen = 127.0.0.1:0
hostname = mx.qksmtp.test
status_listen = 127.0.0.1:0
spool_dir = spool
log_file = delivery.log
log_level = warn
max_sessions_per_ip = 64
[delivery]
dns_server = 127.0.0.1:9
[domain:*]
mx = 127.0.0.1:9
retry_delay = 1d
"""


def start(folder):
    with open(os.path.join(folder, "qksmtp.ini"), "w") as f:
        f.write(INI)
    proc = subprocess.Popen([EXE, "--config", os.path.join(folder, "qksmtp.ini")],
                            stdout=subprocess.PIPE, text=True)
    smtp = page = None
    for line in proc.stdout:
        m = re.search(r"listening on (127\.0\.0\.1):(\d+)", line)
        if m and not smtp:
            smtp = int(m.group(2))
        m = re.search(r"status page http://127\.0\.0\.1:(\d+)/", line)
        if m:
            page = int(m.group(1))
        if "ready" in line:
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, smtp, page


def submit(port, start_at, count):
    with smtplib.SMTP("127.0.0.1", port) as s:
        for i in range(start_at, start_at + count):
            dom = f"d{i % 50}.test"
            msg = f"Subject: message {i} word{i % 1000}\r\nFrom: a@sender.test\r\n\r\nHi.\r\n"
            s.sendmail(f"s{i % 100}@sender.test", [f"r{i}@{dom}"], msg)


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t = time.perf_counter()
    c.request("GET", path)
    body = c.getresponse().read()
    took = (time.perf_counter() - t) * 1000
    c.close()
    return took, body


def main():
    with tempfile.TemporaryDirectory() as folder:
        proc, smtp, page = start(folder)
        try:
            t = time.perf_counter()
            per = N // 8
            threads = [threading.Thread(target=submit, args=(smtp, k * per, per)) for k in range(8)]
            [th.start() for th in threads]
            [th.join() for th in threads]
            total = per * 8
            while json.loads(get(page, "/api/status")[1])["queue"]["messages"] < total:
                time.sleep(0.2)
            print(f"{total} messages queued in {time.perf_counter() - t:.0f} s\n")
            print("| request | median ms | slowest ms | bytes |\n|---|---|---|---|")
            for path in ["/", "/api/status", "/api/messages?page=0", "/api/messages?page=1000",
                         "/api/messages?state=deferred&dest=d7.test&page=3",
                         "/api/messages?q=r4242@", "/api/messages?q=word42&page=1",
                         "/?q=word42", "/api/messages?q=s42@sender&since=1d",
                         "/api/messages?since=1h&before=2099-01-01&page=3", "/metrics"]:
                first, body = get(page, path)
                times = [get(page, path)[0] for _ in range(20)]
                print(f"| `GET {path}` | {statistics.median(times):.1f} | {max(times + [first]):.1f} "
                      f"(first {first:.1f}) | {len(body):,} |")
        finally:
            proc.terminate()
            proc.wait()


main()
