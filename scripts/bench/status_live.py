#!/usr/bin/env python3
"""How soon the live status page hears of a delivery: from the MX's final reply to the
Server-Sent Event after which the API says "delivered".

    cargo build --release && python3 scripts/bench/status_live.py [ROUNDS]   (default 50)

Starts target/release/qksmtp on loopback ports with a tiny SMTP sink of its own as the MX,
follows /api/events, submits one message at a time with smtplib, and prints the median and
slowest latency. Only 127.0.0.1.
"""
import http.client
import json
import os
import re
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXE = os.path.join(ROOT, "target", "release", "qksmtp")
final_reply_at = []


def sink(listener):
    """Accepts everything; notes when each final 250 after the data went out."""
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=session, args=(conn,), daemon=True).start()


def session(conn):
    f = conn.makefile("rb")
    conn.sendall(b"220 sink.test ESMTP\r\n")
    data = False
    for line in f:
        if data:
            if line == b".\r\n":
                data = False
                conn.sendall(b"250 2.0.0 ok\r\n")
                final_reply_at.append(time.perf_counter())
            continue
        verb = line[:4].upper()
        if verb == b"EHLO":
            conn.sendall(b"250-sink.test\r\n250 PIPELINING\r\n")
        elif verb == b"DATA":
            data = True
            conn.sendall(b"354 go\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"250 ok\r\n")


def main():
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=sink, args=(listener,), daemon=True).start()
    mx = listener.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        ini = os.path.join(folder, "qksmtp.ini")
        with open(ini, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:0\nhostname = mx.qksmtp.test\n"
                    "status_listen = 127.0.0.1:0\nspool_dir = spool\nlog_file = delivery.log\n"
                    f"log_level = warn\n[delivery]\ndns_server = 127.0.0.1:9\n"
                    f"[domain:*]\nmx = 127.0.0.1:{mx}\n")
        proc = subprocess.Popen([EXE, "--config", ini], stdout=subprocess.PIPE, text=True)
        smtp = page = None
        for line in proc.stdout:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            smtp = smtp or (int(m.group(1)) if m else None)
            m = re.search(r"status page http://127\.0\.0\.1:(\d+)/", line)
            page = int(m.group(1)) if m else page
            if "ready" in line:
                break
        try:
            events = socket.create_connection(("127.0.0.1", page))
            events.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            stream = events.makefile("rb")
            while stream.readline() != b"\r\n":
                pass
            latencies = []
            with smtplib.SMTP("127.0.0.1", smtp) as s:
                for i in range(ROUNDS):
                    s.sendmail("a@sender.test", [f"r{i}@sink.test"], "Subject: x\r\n\r\nhi\r\n")
                    while True:
                        line = stream.readline()
                        if not line.startswith(b"data: "):
                            continue
                        heard = time.perf_counter()
                        c = http.client.HTTPConnection("127.0.0.1", page)
                        c.request("GET", "/api/messages?state=delivered&page=0")
                        body = c.getresponse().read()
                        c.close()
                        if json.loads(body)["total"] >= i + 1 and len(final_reply_at) > i:
                            latencies.append((heard - final_reply_at[i]) * 1000)
                            break
            print(f"final reply -> event: median {statistics.median(latencies):.1f} ms, "
                  f"slowest {max(latencies):.1f} ms over {ROUNDS} deliveries")
        finally:
            proc.terminate()
            proc.wait()


main()
