#!/usr/bin/env python3
"""scripts/bench/history.py -- the history journal (issue 17): what keeping N finished messages
costs at start-up and in memory.

One message is delivered to sink.py, which gives a real journal record; the record is copied N
times (default 100,000, history_max's default) with fresh IDs and arrival times into the
segments of spool/history/, as N deliveries would have left them. qksmtp (release build) is then
started on that spool, status page on, and measured:
  - exec -> "qksmtp: ready" (start-up must not wait for the history: it is read in the background)
  - exec -> the oldest copy found by the API's search (/api/messages?q=ID): the read-back done
  - RSS once read back, against the same spool started with history_max = 0 (nothing read):
    kB per message kept
  - GET /api/messages/ID of the oldest (its text read from the journal), median of 5
  - every page and API request the page makes, median of 5 each (REQUESTS: the listing's
    page 0 and page 1000, text searches, filters, a detail, counts, /metrics, the page)
  - the same once more after a restart on the same spool (what the first start wrote beside
    the journal is then there)
Runs as any user; standard library only. Usage:
  scripts/bench/history.py [--records 100000] [--before docs/bench/history-<stamp>.json]
      [--section NAME]
--before: the raw results of an earlier build's run (BENCH_QKSMTP_BIN=that binary), shown
beside this one's. --section: the docs/benchmarks.md section written (default service).
Writes docs/bench/history-<stamp>.json and its section of docs/benchmarks.md.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.environ.get("BENCH_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "bench")
sys.path.insert(0, HERE)
import mdsection  # noqa: E402

BIN = os.environ.get("BENCH_QKSMTP_BIN") or os.path.join(ROOT, "target", "release", "qksmtp")
MAGIC = b"qksmtp-history 1 "


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ini(smtp, page, sink, history_max):
    return (
        "[server]\nlisten = 127.0.0.1:%d\nstatus_listen = 127.0.0.1:%d\nspool_dir = spool\n"
        "log_file =\nlog_level = warn\nhistory_max = %d\n[delivery]\ndns_server = 127.0.0.1:9\n"
        "[domain:*]\nmx = 127.0.0.1:%d\n" % (smtp, page, history_max, sink)
    )


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get(page, path):
    c = http.client.HTTPConnection("127.0.0.1", page, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def start(dir_):
    """Starts qksmtp in dir_; returns (process, seconds from exec to the ready line)."""
    t0 = time.monotonic()
    p = subprocess.Popen([BIN, "--config", os.path.join(dir_, "qksmtp.ini")],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.startswith("qksmtp: ready"):
            return p, time.monotonic() - t0
    raise SystemExit("qksmtp did not start")


def stop(p):
    p.terminate()
    p.wait(timeout=60)


def one_record(dir_, smtp, page, sink_port):
    """Delivers one message to the sink; returns the journal record it left (bytes)."""
    sink = subprocess.Popen([sys.executable, os.path.join(BENCH, "sink.py"), "--listen",
                             "127.0.0.1:%d" % sink_port], stdout=subprocess.PIPE, text=True)
    sink.stdout.readline()
    p, _ = start(dir_)
    body = "Subject: history bench\r\nFrom: a@sender.test\r\n\r\n" + "x" * 2000 + "\r\n"
    with smtplib.SMTP("127.0.0.1", smtp) as s:
        s.sendmail("a@sender.test", ["bob@example.test"], body)
    deadline = time.monotonic() + 30
    while get(page, "/api/status")[1].find('"delivered":1') < 0:
        if time.monotonic() > deadline:
            raise SystemExit("the message was not delivered")
        time.sleep(0.05)
    stop(p)
    sink.terminate()
    hist = os.path.join(dir_, "spool", "history")
    data = b"".join(open(os.path.join(hist, n), "rb").read()
                    for n in sorted(os.listdir(hist)) if n.endswith(".log"))
    shutil.rmtree(hist)
    return data


def copies(record, n, dir_, per_segment):
    """Writes n copies of record with fresh IDs and times; returns the oldest copy's ID."""
    head, rest = record.split(b"\n", 1)
    at, env_len, head_len, steps_len = [int(x) for x in head[len(MAGIC):].split()]
    env = rest[:env_len].decode()
    tail = rest[env_len:]
    old_id = re.search(r"^id (\w+)$", env, re.M).group(1)
    hist = os.path.join(dir_, "spool", "history")
    os.makedirs(hist)
    base = int(time.time() * 1e6) - n * 1000
    first = None
    for seg in range(0, (n + per_segment - 1) // per_segment):
        with open(os.path.join(hist, "%08d.log" % (seg + 1)), "wb") as f:
            for i in range(seg * per_segment, min(n, (seg + 1) * per_segment)):
                micros = base + i * 1000
                new_id = "%013X%03X" % (micros & 0x1FFFFFFFFFFFFF, i & 0xFFF)
                first = first or new_id
                e = env.replace(old_id, new_id).encode()
                f.write(MAGIC + b"%d %d %d %d\n" % (micros, len(e), head_len, steps_len) + e + tail)
    return first


# (name, path): OLDEST is the oldest copy's ID.
REQUESTS = [
    ("listing, page 0", "/api/messages"),
    ("listing, page 1000", "/api/messages?page=1000"),
    ("text search, no match", "/api/messages?q=nobody.invalid"),
    ("text search, the oldest by ID", "/api/messages?q=OLDEST"),
    ("text search, every message (page 1000)", "/api/messages?q=history+bench&page=1000"),
    ("state filter (failed: none)", "/api/messages?state=failed"),
    ("destination filter, page 1000", "/api/messages?dest=example.test&page=1000"),
    ("a message's detail by ID", "/api/messages/OLDEST"),
    ("counts and totals (/api/status)", "/api/status"),
    ("/metrics", "/metrics"),
    ("the page (/)", "/"),
]


def cpu_ms(pid):
    """CPU time qksmtp has used (user and system), ms."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def timed(page, path, pid):
    """Median ms of 5 GETs of path (after one unmeasured), and the CPU ms qksmtp spends on
    one (over 20 more: the clock-tick resolution; hardly moved by other load)."""
    get(page, path)
    ms = []
    for _ in range(5):
        t = time.monotonic()
        status, _ = get(page, path)
        assert status == 200, (path, status)
        ms.append((time.monotonic() - t) * 1000)
    before = cpu_ms(pid)
    for _ in range(20):
        get(page, path)
    return statistics.median(ms), (cpu_ms(pid) - before) / 20


def measure(dir_, page, oldest, with_history):
    p, ready = start(dir_)
    t0 = time.monotonic() - ready
    found = None
    if with_history:
        while True:
            _, body = get(page, "/api/messages?q=" + oldest)
            if oldest in body:
                found = time.monotonic() - t0
                break
            time.sleep(0.02)
        time.sleep(1)
    else:
        time.sleep(2)
    rss = rss_kb(p.pid)
    detail = []
    if with_history:
        for _ in range(5):
            t = time.monotonic()
            status, _ = get(page, "/api/messages/" + oldest)
            assert status == 200
            detail.append((time.monotonic() - t) * 1000)
    requests, cpu = {}, {}
    if with_history:
        for name, path in REQUESTS:
            requests[name], cpu[name] = timed(page, path.replace("OLDEST", oldest), p.pid)
    stop(p)
    return {"ready_s": ready, "read_back_s": found, "rss_kb": rss,
            "detail_ms": statistics.median(detail) if detail else None, "requests": requests,
            "request_cpu_ms": cpu}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--before", help="raw JSON of an earlier build's run, to compare")
    ap.add_argument("--section", default="service", help="docs/benchmarks.md section")
    a = ap.parse_args()
    dir_ = tempfile.mkdtemp(prefix="qksmtp-history-bench-")
    smtp, page, sink = free_port(), free_port(), free_port()
    path = os.path.join(dir_, "qksmtp.ini")
    open(path, "w").write(ini(smtp, page, sink, a.records))
    record = one_record(dir_, smtp, page, sink)
    oldest = copies(record, a.records, dir_, max(a.records // 10, 100))
    size = sum(os.path.getsize(os.path.join(dir_, "spool", "history", n))
               for n in os.listdir(os.path.join(dir_, "spool", "history")))
    on = measure(dir_, page, oldest, True)
    again = measure(dir_, page, oldest, True)
    open(path, "w").write(ini(smtp, page, sink, 0))
    off = measure(dir_, page, oldest, False)
    shutil.rmtree(dir_)
    per = (on["rss_kb"] - off["rss_kb"]) / a.records
    result = {"records": a.records, "record_bytes": len(record), "journal_bytes": size,
              "history": on, "restart": again, "no_history": off, "kb_per_message": per,
              "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load": os.getloadavg()[0]}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(os.path.join(ROOT, "docs", "bench"), exist_ok=True)
    raw = os.path.join("docs", "bench", "history-%s.json" % stamp)
    json.dump(result, open(os.path.join(ROOT, raw), "w"), indent=1)
    text = """## History journal: %(n)s finished messages read back at start

%(at)s, 1 run on a shared machine (2 cores, load average %(load).2f at the start), release build.

Reproduce: `scripts/bench/history.py --records %(n)s%(before)s`. Raw results: `%(raw)s`.

A real record (one delivered 2 KB message: envelope, headers, step record, %(rb)s bytes) copied
%(n)s times into `spool/history/` (%(mb).1f MB), then qksmtp started on it with the status page on:

| measure | history_max = %(n)s | history_max = 0 |
|---|---|---|
| exec -> ready (s) | %(r1).3f | %(r0).3f |
| exec -> the oldest found by the API search (s) | %(rb1).2f | - |
| RSS once read back (kB) | %(m1)s | %(m0)s |
| GET /api/messages/ID of the oldest (ms, median of 5) | %(d1).2f | - |

Memory per message kept in the history: %(bytes).0f bytes (its compact listing: ID, sender,
subject, recipients with their final states, times, journal place; its envelope, headers and
steps stay in the journal except for the newest 200).
""" % {"n": a.records, "at": result["at"], "load": result["load"], "raw": raw, "rb": len(record),
       "mb": size / 1e6, "r1": on["ready_s"], "r0": off["ready_s"], "rb1": on["read_back_s"],
       "m1": on["rss_kb"], "m0": off["rss_kb"], "d1": on["detail_ms"], "bytes": per * 1000,
       "before": " --before " + a.before if a.before else ""}
    text += requested(result)
    if a.before:
        text += compared(json.load(open(a.before)), a.before, result)
    mdsection.replace(os.path.join(ROOT, "docs", "benchmarks.md"), a.section, text)
    print(text)


def requested(result):
    """The page's requests, at the first start and after a restart."""
    first, again = result["history"].get("requests"), result.get("restart", {}).get("requests")
    if not first:
        return ""
    text = "\nEach request of the page and its API with %d finished messages listed (ms, median of\n" \
        "5), at the first start on the journal and after a restart on the same spool:\n\n" \
        % result["records"]
    text += "| request | first start | after a restart | CPU ms a request (after a restart) |\n" \
        "|---|---|---|---|\n"
    cpu = result.get("restart", {}).get("request_cpu_ms", {})
    for name, _ in REQUESTS:
        text += "| %s | %.1f | %s | %s |\n" % (
            name, first[name], "%.1f" % again[name] if again else "-",
            "%.1f" % cpu[name] if name in cpu else "-")
    text += "| RSS once read back (kB) | %d | %s | |\n" % (
        result["history"]["rss_kb"], result["restart"]["rss_kb"] if again else "-")
    text += "| exec -> the oldest found by the API search (s) | %.2f | %s | |\n" % (
        result["history"]["read_back_s"],
        "%.2f" % result["restart"]["read_back_s"] if again else "-")
    return text


def compared(before, path, now):
    """The earlier build's figures beside this one's."""
    rows = [("RSS once read back, history_max = N (kB)", "%d", lambda r: r["history"]["rss_kb"]),
            ("RSS, history_max = 0 (kB)", "%d", lambda r: r["no_history"]["rss_kb"]),
            ("memory per finished message kept (bytes)", "%.0f",
             lambda r: r["kb_per_message"] * 1000),
            ("exec -> the oldest found by the API search (s)", "%.2f",
             lambda r: r["history"]["read_back_s"]),
            ("GET /api/messages/ID of the oldest (ms)", "%.2f",
             lambda r: r["history"]["detail_ms"]),
            ("RSS after a restart on the same spool (kB)", "%s",
             lambda r: r.get("restart", {}).get("rss_kb", "-")),
            ("load average at the start", "%.2f", lambda r: r["load"])]
    text = "\nAgainst the earlier build (`%s`, %s, same command):\n\n" % (path, before["at"])
    text += "| measure | this build | before |\n|---|---|---|\n"
    for name, fmt, get in rows:
        text += "| %s | %s | %s |\n" % (name, fmt % get(now), fmt % get(before))
    for key, unit in [("requests", "ms"), ("request_cpu_ms", "CPU ms")]:
        mine = now.get("restart", {}).get(key, {})
        theirs = before.get("restart", {}).get(key, {})
        for name, _ in REQUESTS:
            if name in mine and name in theirs:
                text += "| %s, after a restart (%s) | %.1f | %.1f |\n" % (
                    name, unit, mine[name], theirs[name])
    return text


if __name__ == "__main__":
    main()
