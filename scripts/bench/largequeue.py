#!/usr/bin/env python3
"""scripts/bench/largequeue.py -- qksmtp with a large queue (issue 20, workload 3).

M messages (default 200,000) are submitted through SMTP (smtp-source, 20 sessions, 2 KB) for
dead.test, whose fixed MX 127.77.254.1:25 refuses connections (retry_delay 1h: the queue waits,
as it does behind a destination that is down). Then, with the queue waiting:
  - RSS: idle before the load, peak while accepting, settled after it (the scheduler quiet);
    the same after a restart, and kB per queued message beyond the idle base
  - restart: SIGTERM -> exit time; exec -> first new message accepted (250 after DATA, to
    the healthy destination); exec -> "qksmtp: spool ... (N message(s)" (the scan finished)
  - `qksmtp queue`: time to its first byte of output and to its end, server running and stopped
  - status page and API: time to first byte and total of GET /, /api/status, /api/messages,
    /metrics (median of 5)
  - new mail to a healthy destination (example.test, mx = a sink.py on 127.77.254.2) while the
    queue waits: latency_client.py, --healthy messages (2000), 10 threads: e2e msg/s and
    p50/p99, also measured on the empty server first, in the same run
Postfix has no equivalent of these measures' goals (its queue is scanned by qmgr in the
background, `mailq` is showq), so this workload runs qksmtp only.

--heaptrack: the restart runs under heaptrack (smaller M advised: 20,000); its peak
consumers are written beside the JSON (heaptrack_print), for the memory analysis.

Runs as any user (no privileged port); needs Debian postfix (smtp-source), a release build and,
for --heaptrack, heaptrack. The first message after the restart goes to dead.test too, so that
it cannot reach the healthy sink and be counted there. Usage:
  scripts/bench/largequeue.py [--messages 200000] [--healthy 2000] [--heaptrack] [--record]
Writes docs/bench/largequeue-<stamp>.json and prints its section of docs/benchmarks.md; with
--record it also writes that section (a trial run leaves the recorded figures alone).
--from-json FILE writes the section again from a results file.

--restart-from WORKDIR (a work directory kept by --keep) measures only restarts of
BENCH_QKSMTP_BIN on that spool, --runs times: exec -> first new message accepted, exec -> spool
read, the peak RSS of the whole start (VmHWM) and the settled RSS; writes --out only. Run it
for two binaries on one kept spool to compare them without filling it again.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.environ.get("BENCH_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "bench")
sys.path.insert(0, BENCH)
sys.path.insert(0, HERE)
import bench as B  # noqa: E402
import mdsection  # noqa: E402

BIN = os.environ.get("BENCH_QKSMTP_BIN") or os.path.join(ROOT, "target", "release", "qksmtp")
SINK = ("127.77.254.2", 2626)
DEAD_MX = "127.77.254.1:25"
EXTRA = """
[domain:dead.test]
mx = %s
direct_attempts = 100
relay_attempts = 0
max_connections = 2
retry_delay = 1h
max_retry_delay = 1h
""" % DEAD_MX


def status_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    return out


def wait_quiet(pid, idle_cpu=0.05, window=2.0, limit=600):
    """Waits until the process used under idle_cpu CPU seconds in a window; returns seconds."""
    t0 = time.time()
    last, _ = B.tree_cpu([pid])
    while time.time() - t0 < limit:
        time.sleep(window)
        cpu, _ = B.tree_cpu([pid])
        if cpu - last < idle_cpu:
            return time.time() - t0
        last = cpu
    return None


def send_one(listen, n, timeout=5):
    s = smtplib.SMTP(listen[0], listen[1], local_hostname="bench-client.test", timeout=timeout)
    s.sendmail("sender@client.test", ["first@dead.test"],
               b"Subject: first after restart %d\r\nX-Bench-Id: first-%d\r\n\r\nhello\r\n" % (n, n))
    s.quit()


def http_times(port, path, n=5):
    """Median time to first byte and total of GET path, and the body size."""
    ttfb, tot, size = [], [], 0
    for _ in range(n):
        t0 = time.time()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("GET", path, headers={"Host": "127.0.0.1:%d" % port})
        r = c.getresponse()
        t1 = time.time()
        body = r.read()
        t2 = time.time()
        c.close()
        ttfb.append((t1 - t0) * 1000)
        tot.append((t2 - t0) * 1000)
        size = len(body)
    return {"ttfb_ms": round(statistics.median(ttfb), 2), "total_ms": round(statistics.median(tot), 2),
            "bytes": size, "status": r.status}


def listing_times(ini):
    """`qksmtp queue`: seconds to its first byte of output and to its end, and the lines."""
    t0 = time.time()
    p = subprocess.Popen([BIN, "queue", "--config", ini], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = p.stdout.read(1)
    t1 = time.time()
    lines = first.count(b"\n")
    for chunk in iter(lambda: p.stdout.read(1 << 16), b""):
        lines += chunk.count(b"\n")
    p.wait()
    return {"first_byte_s": round(t1 - t0, 3), "total_s": round(time.time() - t0, 3), "lines": lines}


def healthy_load(listen, n, wd, tag):
    """latency_client.py -> qksmtp -> sink.py for example.test: e2e msg/s, p50/p99."""
    sink = B.PySink(SINK[0], SINK[1], wd, n, 600)
    rep = os.path.join(wd, "client-%s.json" % tag)
    rc, wall, _ = B.run_child([B.PY, os.path.join(BENCH, "latency_client.py"), "--server", "%s:%d" % listen,
                               "--count", str(n), "--threads", "10", "--to", "rcpt@example.test",
                               "--run-id", tag, "--report", rep], 600,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok, t_done = sink.wait_all(300, 60)
    s = sink.stop()
    cl = json.load(open(rep))
    out = {"accepted": cl["accepted"], "delivered": s["count"], "duplicates": s["duplicates"]}
    if ok and t_done:
        out["e2e_mps"] = round(n / (t_done - cl["start"]), 1)
    if s["latency"]:
        out["e2e_ms_p50"] = round(s["latency"]["p50"] * 1000, 2)
        out["e2e_ms_p99"] = round(s["latency"]["p99"] * 1000, 2)
    return out


class Server:
    """qksmtp on the INI the adapter wrote; started by exec here so that restart is timed."""

    def __init__(self, wd, heaptrack=None):
        self.wd, self.q = wd, os.path.join(wd, "qksmtp")
        self.ini = os.path.join(self.q, "qksmtp.ini")
        argv = [BIN, "--config", self.ini]
        if heaptrack:
            argv = ["heaptrack", "-o", heaptrack] + argv
        self.out = os.path.join(self.q, "stdout-%d.log" % time.time_ns())
        self.t_exec = time.time()
        self.p = subprocess.Popen(argv, stdout=open(self.out, "wb"), stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        self.pid = self.p.pid
        if heaptrack:   # the traced qksmtp is heaptrack's child
            for _ in range(200):
                kids = [p for p, v in B.read_proc_table().items() if v[0] == self.p.pid]
                exe = [k for k in kids if os.path.basename(os.readlink("/proc/%d/exe" % k)) == "qksmtp"] \
                    if kids else []
                if exe:
                    self.pid = exe[0]
                    break
                time.sleep(0.05)
        with open(os.path.join(self.q, "pid"), "w") as f:
            f.write("%d\n" % self.pid)

    def spool_read_s(self, limit=600):
        end = time.time() + limit
        while time.time() < end:
            if b"qksmtp: spool " in open(self.out, "rb").read():
                return round(time.time() - self.t_exec, 3)
            time.sleep(0.01)
        return None

    def stop(self):
        t0 = time.time()
        os.kill(self.pid, 15)
        self.p.wait(300)
        return round(time.time() - t0, 3)


def first_accept(listen, t_exec, limit=120):
    n = 0
    while time.time() - t_exec < limit:
        n += 1
        try:
            send_one(listen, n)
            return round(time.time() - t_exec, 3)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.005)
    return None


def measure_waiting(res, key, srv, status_port, listen, wd, a):
    """Everything measured while the large queue waits."""
    m = res.setdefault(key, {})
    m["mem_kb"] = status_kb(srv.pid)
    for path in ("/", "/api/status", "/metrics", "/api/messages"):
        try:
            m["http " + path] = http_times(status_port, path, 1 if path == "/api/messages" else 5)
        except OSError as e:
            m["http " + path] = {"error": str(e)}
    m["listing_running"] = listing_times(srv.ini)
    B.log(key, json.dumps(m))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--healthy", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--heaptrack", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--record", action="store_true",
                    help="write the results into the largequeue section of docs/benchmarks.md")
    ap.add_argument("--from-json", help="only write the section of docs/benchmarks.md again from a results file")
    ap.add_argument("--restart-from", help="only restarts on the spool of a work directory kept by --keep")
    ap.add_argument("--runs", type=int, default=3, help="restarts with --restart-from")
    a = ap.parse_args()
    if a.restart_from:
        return restarts_only(a)
    if a.from_json:
        md = markdown(json.load(open(a.from_json)), os.path.relpath(os.path.abspath(a.from_json), ROOT))
        mdsection.replace(os.path.join(ROOT, "docs", "benchmarks.md"), "largequeue", md)
        print(md)
        return
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = a.out or os.path.join(ROOT, "docs", "bench", "largequeue-%s.json" % stamp)
    wd = tempfile.mkdtemp(prefix="bench-largequeue-")
    os.chmod(wd, 0o755)
    listen = ("127.0.0.1", B.free_port("127.0.0.1"))
    os.environ.update(BENCH_QKSMTP_EXTRA=EXTRA, BENCH_QKSMTP_WORKERS=str(a.workers))
    adapter = B.Adapter(os.path.join(HERE, "qksmtp.sh"))
    res = {"messages": a.messages, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "loadavg": open("/proc/loadavg").read().split()[0], "version": adapter.version(wd),
           "args": vars(a), "command": " ".join(["scripts/bench/largequeue.py"] + sys.argv[1:])}
    srv = None
    try:
        adapter.start(wd, listen, SINK, "example.test")
        ini = os.path.join(wd, "qksmtp", "qksmtp.ini")
        status_port = int(re.search(r"status_listen = 127\.0\.0\.1:(\d+)", open(ini).read()).group(1))
        pid = adapter.roots[0]
        B.wait_greeting(listen[0], listen[1], 30)
        time.sleep(1)
        res["idle_kb"] = status_kb(pid)
        res["healthy_empty"] = healthy_load(listen, a.healthy, wd, "empty")
        B.log("healthy, empty queue:", res["healthy_empty"])
        base = status_kb(pid)["VmRSS"]
        res["base_kb"] = base
        # -- fill
        sampler = B.Sampler([pid])
        sampler.start()
        rc, wall, _ = B.run_child(["smtp-source", "-s", str(a.sessions), "-m", str(a.messages), "-l", "2048",
                                   "-f", "sender@client.test", "-t", "rcpt@dead.test", "-M", "bench-client.test",
                                   "%s:%d" % listen], 3600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res["fill"] = {"rc": rc, "seconds": round(wall, 1), "ingest_mps": round(a.messages / wall, 1)}
        res["fill"]["quiet_after_s"] = wait_quiet(pid)
        sampler.stop()
        res["fill"]["peak_rss_kb"] = sampler.peak_rss
        B.log("filled:", res["fill"])
        srv = type("Adopted", (), {})()
        srv.pid, srv.ini = pid, ini
        measure_waiting(res, "waiting", srv, status_port, listen, wd, a)
        res["healthy_waiting"] = healthy_load(listen, a.healthy, wd, "waiting")
        B.log("healthy, queue waiting:", res["healthy_waiting"])
        # -- restart
        t0 = time.time()
        adapter.stop()
        res["stop_s"] = round(time.time() - t0, 3)
        res["listing_stopped"] = listing_times(ini)
        B.log("listing, stopped:", res["listing_stopped"])
        heap = os.path.splitext(out)[0] + ".heaptrack" if a.heaptrack else None
        srv = Server(wd, heap)
        r = {"first_accept_s": first_accept(listen, srv.t_exec), "spool_read_s": srv.spool_read_s()}
        sampler = B.Sampler([srv.pid])
        sampler.start()
        r["quiet_after_s"] = wait_quiet(srv.pid)
        sampler.stop()
        r["peak_rss_kb_sampled"] = sampler.peak_rss
        res["restart"] = r
        B.log("restart:", r)
        measure_waiting(res, "restarted", srv, status_port, listen, wd, a)
        res["healthy_restarted"] = healthy_load(listen, a.healthy, wd, "restarted")
        q = res["restarted"]["mem_kb"]
        res["kb_per_message"] = round((q["VmRSS"] - base) / a.messages, 3)
        res["bytes_per_message"] = round((q["VmRSS"] - base) * 1024 / a.messages)
        srv.stop()
        srv = None
        if heap:
            files = [f for f in os.listdir(os.path.dirname(heap)) if f.startswith(os.path.basename(heap))]
            if files:
                src = os.path.join(os.path.dirname(heap), files[0])
                txt = subprocess.run(["heaptrack_print", "--print-peaks", "1", "--print-allocators", "0",
                                      "--print-temporary", "0", "--print-leaks", "0", "--peak-limit", "25",
                                      "--print-histogram", "", src], capture_output=True, text=True).stdout
                with open(os.path.splitext(out)[0] + "-heaptrack.txt", "w") as f:
                    f.write(txt)
                os.remove(src)
    except Exception as e:  # noqa: BLE001
        res["error"] = "%s: %s" % (type(e).__name__, e)
        B.log("ERROR", res["error"])
    finally:
        if srv is not None:
            srv.stop()
        adapter.stop()
    keep = a.keep or "error" in res
    if keep:
        res["workdir"] = wd
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    md = markdown(res, os.path.relpath(out, ROOT))
    if a.record:
        mdsection.replace(os.path.join(ROOT, "docs", "benchmarks.md"), "largequeue", md)
    else:
        B.log("docs/benchmarks.md left as it is (--record writes the section)")
    print(md, flush=True)
    if not keep:    # removing M spooled messages takes a while: after the results are written
        shutil.rmtree(wd, ignore_errors=True)
    sys.exit(0 if "error" not in res else 1)


def restarts_only(a):
    """--restart-from: restarts of BIN on a kept spool; the figures go to --out (or stdout)."""
    ini = os.path.join(a.restart_from, "qksmtp", "qksmtp.ini")
    port = int(re.search(r"^listen = 127\.0\.0\.1:(\d+)", open(ini).read(), re.M).group(1))
    listen = ("127.0.0.1", port)
    res = {"bin": BIN, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": [],
           "command": " ".join(["scripts/bench/largequeue.py"] + sys.argv[1:])}
    for _ in range(a.runs):
        res["runs"].append({"loadavg": open("/proc/loadavg").read().split()[0]})
        srv = Server(a.restart_from)
        r = res["runs"][-1]
        r["first_accept_s"] = first_accept(listen, srv.t_exec)
        r["spool_read_s"] = srv.spool_read_s()
        r["quiet_after_s"] = wait_quiet(srv.pid)
        m = status_kb(srv.pid)
        r.update(peak_rss_kb=m["VmHWM"], settled_rss_kb=m["VmRSS"], threads=m["Threads"])
        r["stop_s"] = srv.stop()
        B.log("restart:", r)
    text = json.dumps(res, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


def markdown(r, out):
    def g(*keys):
        v = r
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return "-" if v is None else format(v, ",") if isinstance(v, int) else v

    command = r.get("command") or "scripts/bench/largequeue.py"

    n = r["messages"]
    lines = ["## Large queue: %s messages waiting for a dead destination (qksmtp only)" % format(n, ","), "",
             "PROVISIONAL: %s, 1 run on a shared, busy machine (%s cores, load average %s at the start); %s."
             % (r["started"], os.cpu_count(), r["loadavg"], r["version"]), "",
             "Reproduce: `sudo %s` (or `sudo %s`). Raw results: `%s`."
             % (command, command.replace("scripts/bench/largequeue.py", "scripts/bench.sh largequeue"), out), "",
             "Postfix has no counterpart run here: its queue manager always reads the queue in the "
             "background and `mailq` is a separate daemon, so the restart and listing goals are "
             "qksmtp's own.", "",
             "| measure | value | goal |", "|---|---|---|",
             "| fill: ingest msg/s (smtp-source, 20 sessions) | %s | - |" % g("fill", "ingest_mps"),
             "| RSS idle, before the load | %s kB | - |" % g("base_kb"),
             "| RSS peak while accepting | %s kB | - |" % g("fill", "peak_rss_kb"),
             "| RSS with the queue waiting (settled) | %s kB | - |" % g("waiting", "mem_kb", "VmRSS"),
             "| RSS after a restart (settled) / peak | %s / %s kB | under 70 MB |"
             % (g("restarted", "mem_kb", "VmRSS"), g("restarted", "mem_kb", "VmHWM")),
             "| RSS per queued message beyond the idle base (after restart) | %s bytes | at most 300 |"
             % g("bytes_per_message"),
             "| stop (SIGTERM to exit) | %s s | - |" % g("stop_s"),
             "| restart: exec to first new message accepted | %s s | within 1 s |" % g("restart", "first_accept_s"),
             "| restart: exec to spool read | %s s | - |" % g("restart", "spool_read_s"),
             "| `qksmtp queue`, running: first byte / end | %s / %s s | first byte within 0.1 s |"
             % (g("waiting", "listing_running", "first_byte_s"), g("waiting", "listing_running", "total_s")),
             "| `qksmtp queue`, stopped: first byte / end | %s / %s s | first byte within 0.1 s |"
             % (g("listing_stopped", "first_byte_s"), g("listing_stopped", "total_s"))]
    for path in ("/", "/api/status", "/metrics", "/api/messages"):
        h = r.get("waiting", {}).get("http " + path, {})
        lines.append("| GET %s: first byte / total (bytes) | %s / %s ms (%s) | under 50 ms |"
                     % (path, h.get("ttfb_ms", "-"), h.get("total_ms", "-"), format(h.get("bytes", 0), ",")))
    for key, label in (("healthy_empty", "empty queue"), ("healthy_waiting", "queue waiting"),
                       ("healthy_restarted", "after the restart")):
        h = r.get(key, {})
        lines.append("| new mail to a healthy destination, %s: e2e msg/s, p50 / p99 ms | %s, %s / %s | - |"
                     % (label, h.get("e2e_mps", "-"), h.get("e2e_ms_p50", "-"), h.get("e2e_ms_p99", "-")))
    if r.get("error"):
        lines += ["", "ERROR: " + r["error"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
