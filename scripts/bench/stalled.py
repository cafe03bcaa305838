#!/usr/bin/env python3
"""scripts/bench/stalled.py -- healthy mail while stalled servers hold connections (issue 22).

Two measures, qksmtp only (Postfix has its own process limits; the question is ours):
  - idle RSS of the server with `workers` = 8, 64 and 256 (no mail), and the RSS per worker
  - latency of mail to a healthy destination while N destinations' servers never greet
    (N = 0, 4, 10, 25, 50): each stalled destination has max_connections = 2 and 3 messages
    queued, its server (one loopback listener each) accepts and never says a word, so every
    connection waits for timeout_greeting (5 minutes, the default). Once the stalled servers
    hold their connections, K messages (default 20) go one after another to healthy.test,
    whose server (a small sink here) records when each arrives: e2e latency = arrival -
    submission start. A message not arrived within --give-up seconds counts as that long
    (">" in the table): the healthy mail waited behind the stalls.
--bin: the binary (default target/release/qksmtp, else target/debug/qksmtp); --before BIN
runs the same plan with another build (e.g. main before this change) for a second column.
Everything listens on 127.0.0.1 ports chosen by the kernel; no root needed.
Usage: scripts/bench/stalled.py [--bin B] [--before B] [--messages 20] [--counts 0,4,10,25,50]
       scripts/bench/stalled.py --render docs/bench/stalled-STAMP.json (the section again)
Writes docs/bench/stalled-<stamp>.json and its section of docs/benchmarks.md.
"""
import argparse
import json
import os
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import mdsection  # noqa: E402


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(256)
    return s


class Stalled:
    """Accepts connections and never answers; counts the connections it holds."""

    def __init__(self):
        self.sock = listener()
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


class Sink:
    """A well-behaved SMTP server recording each message's X-Bench-Id and arrival time."""

    def __init__(self):
        self.sock = listener()
        self.port = self.sock.getsockname()[1]
        self.arrivals = {}
        self.cond = threading.Condition()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 sink.test ESMTP\r\n")
        for line in f:
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-sink.test\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go on\r\n")
                bench_id = None
                for data in f:
                    if data == b".\r\n":
                        break
                    if data.lower().startswith(b"x-bench-id:"):
                        bench_id = data.split(b":", 1)[1].strip().decode()
                with self.cond:
                    self.arrivals[bench_id] = time.time()
                    self.cond.notify_all()
                conn.sendall(b"250 2.0.0 ok\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            else:
                conn.sendall(b"250 ok\r\n")
        conn.close()

    def wait(self, bench_id, until):
        with self.cond:
            while bench_id not in self.arrivals:
                left = until - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.arrivals[bench_id]


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(binary, folder, workers, routes):
    port = listener_port()
    ini = (
        "[server]\nlisten = 127.0.0.1:%d\nhostname = bench-stalled.test\nstatus_listen =\n"
        "spool_dir = spool\nlog_file = delivery.log\nlog_level = warn\n"
        "[delivery]\ndns_server = 127.0.0.1:9\n%s"
        "[domain:*]\nmx = 127.0.0.1:9\n%s"
    ) % (port, "" if workers is None else "workers = %d\n" % workers, routes)
    with open(os.path.join(folder, "qksmtp.ini"), "w") as f:
        f.write(ini)
    proc = subprocess.Popen([binary, "--config", "qksmtp.ini"], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("qksmtp did not start")


def listener_port():
    s = listener()
    port = s.getsockname()[1]
    s.close()
    return port


def submit(port, to, bench_id):
    msg = "From: a@sender.test\r\nTo: %s\r\nSubject: stalled\r\nX-Bench-Id: %s\r\n\r\nHello.\r\n" % (to, bench_id)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.sendmail("a@sender.test", [to], msg)


def idle_rss(binary, workers):
    folder = tempfile.mkdtemp(prefix="qk-stalled-")
    proc, _ = start(binary, folder, workers, "")
    time.sleep(1.0)
    kb = rss_kb(proc.pid)
    proc.terminate()
    proc.wait()
    shutil.rmtree(folder, ignore_errors=True)
    return kb


def latency(binary, n, messages, give_up):
    stalled = [Stalled() for _ in range(n)]
    sink = Sink()
    routes = "".join("[domain:stall%d.test]\nmx = 127.0.0.1:%d\nmax_connections = 2\n" % (i, s.port)
                     for i, s in enumerate(stalled))
    routes += "[domain:healthy.test]\nmx = 127.0.0.1:%d\n" % sink.port
    folder = tempfile.mkdtemp(prefix="qk-stalled-")
    proc, port = start(binary, folder, None, routes)
    try:
        for i in range(n):
            for k in range(3):
                submit(port, "r%d@stall%d.test" % (k, i), "stall-%d-%d" % (i, k))
        # Until the stalled servers' connections stop growing (0.5 s without a new one).
        last, since = -1, time.time()
        while time.time() - since < 0.5:
            held = sum(len(s.held) for s in stalled)
            if held != last:
                last, since = held, time.time()
            time.sleep(0.05)
        held = sum(len(s.held) for s in stalled)
        lat = []
        for k in range(messages):
            t0 = time.time()
            submit(port, "ok%d@healthy.test" % k, "ok-%d" % k)
            at = sink.wait("ok-%d" % k, t0 + give_up)
            lat.append((at - t0) * 1000 if at else give_up * 1000.0)
            if at is None:
                break
        t0 = time.time()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop = time.time() - t0
        return {"stalled": n, "connections_held": held, "latency_ms": lat,
                "delivered": len(sink.arrivals), "stop_s": round(stop, 2)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for s in stalled:
            s.close()
        shutil.rmtree(folder, ignore_errors=True)


def default_bin():
    for kind in ("release", "debug"):
        p = os.path.join(ROOT, "target", kind, "qksmtp")
        if os.path.exists(p):
            return p
    raise SystemExit("build qksmtp first (cargo build --release)")


def cell(r, give_up):
    lat = r["latency_ms"]
    if r["delivered"] < len(lat) or not lat:
        return "> %d s (not delivered while they stall)" % give_up
    return "%.1f / %.1f" % (statistics.median(lat), max(lat))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--before", default=None)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--counts", default="0,4,10,25,50")
    ap.add_argument("--give-up", type=int, default=15)
    ap.add_argument("--render", metavar="JSON", help="only write the section from these raw results")
    args = ap.parse_args()
    if args.render:
        result = json.load(open(args.render))
        for b in result["builds"].values():
            b["idle_rss_kb"] = {int(k): v for k, v in b["idle_rss_kb"].items()}
        counts = [r["stalled"] for r in next(iter(result["builds"].values()))["runs"]]
        raw = os.path.relpath(os.path.abspath(args.render), ROOT)
        mdsection.replace(os.path.join(ROOT, "docs", "benchmarks.md"), "throttle",
                          section(result, raw, counts, args.give_up))
        return
    binary = os.path.abspath(args.bin) if args.bin else default_bin()
    counts = [int(c) for c in args.counts.split(",")]
    builds = [("this build", binary)] + ([("before", os.path.abspath(args.before))] if args.before else [])
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load": os.getloadavg()[0],
              "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
              "builds": {}}
    for name, b in builds:
        rss = {w: idle_rss(b, w) for w in (8, 64, 256)}
        runs = [latency(b, n, args.messages, args.give_up) for n in counts]
        result["builds"][name] = {"bin": os.path.relpath(b, ROOT) if b.startswith(ROOT) else b,
                                  "idle_rss_kb": rss, "runs": runs}
        print(name, rss, [(r["stalled"], r["connections_held"], cell(r, args.give_up), r["stop_s"]) for r in runs])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(os.path.join(ROOT, "docs", "bench"), exist_ok=True)
    raw = "docs/bench/stalled-%s.json" % stamp
    with open(os.path.join(ROOT, raw), "w") as f:
        json.dump(result, f, indent=1)
    mdsection.replace(os.path.join(ROOT, "docs", "benchmarks.md"), "throttle",
                      section(result, raw, counts, args.give_up))


def section(result, raw, counts, give_up):
    builds = result["builds"]
    names = list(builds)
    out = ["## Issue 22: healthy mail while stalled servers hold connections (qksmtp only)", "",
           result.get("note", ""), "",
           "PROVISIONAL: %s, 1 run on a shared, busy machine (2 cores, load average %.2f at the start)."
           % (result["when"], result["load"]), "",
           "Reproduce: `%s`. Raw results: `%s`. Binaries: %s." % (
               result["command"], raw, ", ".join("%s `%s`" % (n, b["bin"]) for n, b in builds.items())), "",
           "Each stalled destination: its server accepts and never greets (so every connection "
           "waits for timeout_greeting, 5 min), max_connections = 2, 3 messages queued; default "
           "`workers`. Then %d messages one after another to a healthy destination; e2e latency "
           "from the start of submission to the arrival at its server." % len(
               builds[names[0]]["runs"][0]["latency_ms"] or [0]), "",
           "| stalled destinations | " + " | ".join(
               "%s: connections held | %s: healthy p50 / max ms" % (n, n) for n in names) + " |",
           "|---|" + "---|---|" * len(names)]
    for i, n in enumerate(counts):
        row = ["%d" % n]
        for name in names:
            r = builds[name]["runs"][i]
            row += ["%d" % r["connections_held"], cell(r, give_up)]
        out.append("| " + " | ".join(row) + " |")
    out += ["", "How to read it: \"connections held\" is what the stalled servers hold once their "
            "connections stop growing (at most 2 per destination). Before this change the pool was "
            "8 workers and every one of them went to the stalls; now it is 64, a destination not "
            "yet seen answering quickly gets its second connection only while fewer than 16 jobs "
            "are out to such destinations, slow destinations' jobs hold at most 48 workers, and "
            "the others are served first. The max latency includes QK's pause of continuous_delay "
            "(1 s) after every max_continuous (5) messages to one destination, by design. "
            "Stopping the server (SIGTERM) while the stalled connections wait took the full 20 s "
            "the script allows (then SIGKILL): a stop waits for deliveries in flight.",
            "", "Idle RSS (no mail) by `workers`:", "",
            "| build | 8 | 64 | 256 | per worker (256 vs 8) |", "|---|---|---|---|---|"]
    for name in names:
        r = builds[name]["idle_rss_kb"]
        per = (r[256] - r[8]) / 248.0
        out.append("| %s | %s kB | %s kB | %s kB | %.1f kB |" % (
            name, format(r[8], ","), format(r[64], ","), format(r[256], ","), per))
    return "\n".join(out)


if __name__ == "__main__":
    main()
