#!/usr/bin/env python3
"""scripts/bench/newsletter.py -- the multi-domain workloads of issue 20, qksmtp and Postfix side
by side in one interleaved run:

  newsletter  N messages (default 10,000), one recipient each, over D domains (default 500)
              chosen Zipf-like (rank k has weight 1/k: a few big domains, a long tail). Every
              domain has an MX record served by a real DNS server on loopback (dnsmasq, no
              upstream) and its MX is a sink on its own loopback address (127.77.x.y), port 25.
  mixed       the same, with 10% of the domains answering 451 to every RCPT, 5% stalling
              --stall seconds (30) before their greeting, 5% refusing connections (which
              domains: by rank, rank % 20 in {3, 13} -> 451, 7 -> stall, 17 -> refuse; rank 0,
              the biggest domain, is healthy).

Both relays: 2 connections per destination, no pauses, the same number of delivery processes
or threads (--workers, Postfix's default_process_limit and qksmtp's workers), the same DNS.
qksmtp's dns_server names dnsmasq; Postfix (scripts/bench/postfix-dns.sh) runs in a private
mount namespace whose /etc/resolv.conf names it. Bounces and delay notices go to the sender's
domain client.test, whose MX is one more sink: they are counted, and none is expected.

Measures per run (all clocks the same): e2e msg/s = delivered / (first submission -> last
expected arrival); ingest msg/s; e2e latency p50/p99 = arrival - X-Bench-Sent (stamped just
before MAIL FROM), over all mail (newsletter) or the healthy domains' mail (mixed); peak RSS/PSS
of the relay's process tree; relay CPU. Mixed also checks that nothing is lost or bounced: every
message to an ok or stall domain arrived exactly once, every message to a 451 or refusing
domain is still queued, no notice was sent.

Needs root (port 25 on 127.77/16, dnsmasq on 127.77.255.53:53, unshare/mount), Debian packages
dnsmasq-base and postfix, a release build. Usage (or through scripts/bench.sh newsletter|mixed):
  scripts/bench/newsletter.py newsletter [--runs 1] [--messages 10000] [--domains 500]
  scripts/bench/newsletter.py mixed --runs 1 --relays qksmtp
Writes docs/bench/<workload>-<stamp>.json and its section of docs/benchmarks.md.
"""
import argparse
import json
import os
import random
import re
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.environ.get("BENCH_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "bench")
sys.path.insert(0, BENCH)
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  the peer harness: Adapter, Sampler, tree_cpu, wait_greeting
import mdsection  # noqa: E402

DNS_ADDR = "127.77.255.53"
SENDER = "sender@client.test"
BOUNCE_ADDR = "127.77.255.1"
RELAYS = {"qksmtp": os.path.join(HERE, "qksmtp.sh"), "postfix": os.path.join(HERE, "postfix-dns.sh")}


# ----------------------------------------------------------------- the plan
def plan(a):
    """Domains (name, address, mode) and each message's domain, the same for every relay."""
    domains = []
    for k in range(a.domains):
        mode = "ok"
        if a.workload == "mixed":
            mode = {3: "451", 13: "451", 7: "stall", 17: "refuse"}.get(k % 20, "ok")
        domains.append({"name": "d%d.test" % k, "addr": "127.77.%d.%d" % (k // 250, k % 250 + 1),
                        "mode": mode})
    domains.append({"name": "client.test", "addr": BOUNCE_ADDR, "mode": "ok"})
    rng = random.Random(20)
    weights = [1.0 / (k + 1) for k in range(a.domains)]
    ranks = rng.choices(range(a.domains), weights=weights, k=a.messages)
    return {"port": 25, "stall": a.stall, "domains": domains}, ranks


def dnsmasq_conf(p, path):
    lines = ["no-resolv", "no-hosts", "no-poll", "bind-interfaces", "listen-address=" + DNS_ADDR,
             "port=53", "cache-size=10000", "local-ttl=3600", "pid-file="]
    for d in p["domains"]:
        lines.append("mx-host=%s,mx.%s,10" % (d["name"], d["name"]))
        lines.append("host-record=mx.%s,%s" % (d["name"], d["addr"]))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def dns_mx_ok(name, timeout=1.0):
    """One MX query to dnsmasq; True when it answers NOERROR with an answer."""
    import socket
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x0f\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (DNS_ADDR, 53))
        r = s.recv(512)
        return (r[3] & 0x0F) == 0 and int.from_bytes(r[6:8], "big") > 0
    except OSError:
        return False
    finally:
        s.close()


class Dns:
    def __init__(self, p, wd):
        conf = os.path.join(wd, "dnsmasq.conf")
        dnsmasq_conf(p, conf)
        self.resolv = os.path.join(wd, "resolv.conf")
        with open(self.resolv, "w") as f:
            f.write("nameserver %s\noptions attempts:2 timeout:2\n" % DNS_ADDR)
        self.p = subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--conf-file=" + conf],
                                  stderr=open(os.path.join(wd, "dnsmasq.err"), "wb"))
        for _ in range(100):
            if dns_mx_ok(p["domains"][0]["name"]):
                return
            time.sleep(0.05)
        raise RuntimeError("dnsmasq does not answer on %s:53" % DNS_ADDR)

    def stop(self):
        self.p.terminate()
        self.p.wait(10)


class FarmProc:
    """scripts/bench/mx_farm.py as a child; counts read from its stdout."""

    def __init__(self, p, wd):
        self.plan_path = os.path.join(wd, "plan.json")
        with open(self.plan_path, "w") as f:
            json.dump(p, f)
        self.report_path = os.path.join(wd, "farm.json")
        self.p = subprocess.Popen([B.PY, os.path.join(HERE, "mx_farm.py"), "--plan", self.plan_path,
                                   "--report", self.report_path], stdout=subprocess.PIPE,
                                  stderr=open(os.path.join(wd, "farm.err"), "wb"))
        line = self.p.stdout.readline()
        if not line.startswith(b"READY"):
            raise RuntimeError("mx_farm.py did not start: %r" % line)
        self.count = 0
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            m = re.match(rb"count=(\d+)", line)
            if m:
                with self.cond:
                    self.count = int(m.group(1))
                    self.cond.notify_all()

    def wait_count(self, n, timeout):
        end = time.time() + timeout
        with self.cond:
            while self.count < n and time.time() < end:
                self.cond.wait(min(1.0, max(0.0, end - time.time())))
            return self.count >= n

    def stop(self):
        self.p.terminate()
        self.p.wait(30)
        with open(self.report_path) as f:
            return json.load(f)


# ----------------------------------------------------------------- the load
def submit(target, ranks, a, run_id):
    """Send message n to user<n>@d<rank>.test from a.threads threads, a.per_conn per
    connection. Returns (accepted, errors, t_first, t_last, submit latencies)."""
    body = B"".join([b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab\r\n"]
                    * max(1, a.size // 76))
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "errors": [], "lat": []}

    def take():
        with lock:
            n = state["next"]
            state["next"] = n + 1
            return n if n < len(ranks) else None

    def worker():
        conn, used, lat, ok, err = None, 0, [], 0, []
        while True:
            n = take()
            if n is None:
                break
            to = "user%d@d%d.test" % (n, ranks[n])
            if a.rate > 0:          # paced: message n is not sent before t0 + n / rate
                time.sleep(max(0.0, t0 + n / a.rate - time.time()))
            try:
                if conn is None:
                    conn = smtplib.SMTP(target[0], target[1], local_hostname="bench-client.test",
                                        timeout=60)
                    used = 0
                ts = time.time()
                msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: newsletter %d\r\nMessage-ID: <%s.%d@client.test>\r\n"
                       "X-Bench-Id: %s-%d\r\nX-Bench-Sent: %.6f\r\n\r\n"
                       % (SENDER, to, n, run_id, n, run_id, n, ts)).encode() + body
                conn.sendmail(SENDER, [to], msg)
                lat.append(time.time() - ts)
                ok += 1
                used += 1
                if used >= a.per_conn:
                    conn.quit()
                    conn = None
            except Exception as e:  # noqa: BLE001 -- record, go on
                err.append("%d %s: %s" % (n, type(e).__name__, str(e)[:160]))
                conn = None
        if conn is not None:
            conn.quit()
        with lock:
            state["ok"] += ok
            state["errors"] += err
            state["lat"] += lat

    t0 = time.time()
    ths = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return state["ok"], state["errors"], t0, time.time(), sorted(state["lat"])


def pct(vals, p):
    """Nearest-rank percentile of a sorted list, as the peer harness computes it."""
    if not vals:
        return None
    k = max(0, min(len(vals) - 1, int(round(p / 100.0 * len(vals) + 0.5)) - 1))
    return vals[k]


def queued(relay, wd):
    """Messages still in the relay's queue."""
    if relay.name == "qksmtp":
        out = subprocess.run([os.path.join(HERE, "qksmtp.sh"), "queue-count"], env=relay.env,
                             capture_output=True, text=True).stdout
    else:
        out = subprocess.run([relay.path, "queue"], env=relay.env, capture_output=True, text=True).stdout
    m = re.search(r"(\d+)", out)
    return int(m.group(1)) if m else None


# ----------------------------------------------------------------- one run
def run_one(relay, p, ranks, a, run_no, dns):
    wd = tempfile.mkdtemp(prefix="bench-%s-%s-%d-" % (relay.name, a.workload, run_no))
    os.chmod(wd, 0o755)
    res = {"relay": relay.name, "workload": a.workload, "run": run_no, "messages": len(ranks), "ok": False}
    modes = {k: d["mode"] for k, d in enumerate(p["domains"][:-1])}
    expect = sum(1 for r in ranks if modes[r] in ("ok", "stall"))
    farm = sampler = None
    t0 = time.time()
    os.environ.update(BENCH_DNS_SERVER=DNS_ADDR + ":53", BENCH_RESOLV_CONF=dns.resolv,
                      BENCH_MAX_CONNECTIONS=str(a.connections), BENCH_QKSMTP_WORKERS=str(a.workers),
                      BENCH_POSTFIX_PROCS=str(a.workers))
    try:
        farm = FarmProc(p, wd)
        listen = ("127.0.0.1", B.free_port("127.0.0.1"))
        relay.start(wd, listen, ("127.0.0.2", 9), "example.test")
        B.wait_greeting(listen[0], listen[1], 60)
        time.sleep(1.0)
        sampler = B.Sampler(relay.roots)
        sampler.start()
        cpu0, _ = B.tree_cpu(relay.roots)
        ok, errors, t0, t_ingest, sub = submit(listen, ranks, a, "%s-%d" % (relay.name, run_no))
        res.update(accepted=ok, submit_errors=len(errors), first_errors=errors[:3],
                   ingest_mps=round(ok / (t_ingest - t0), 1),
                   submit_ms_p50=round(pct(sub, 50) * 1000, 2), submit_ms_p99=round(pct(sub, 99) * 1000, 2))
        res["delivered_expected"] = farm.wait_count(expect, a.timeout - (time.time() - t0))
        t_wait = time.time()
        if a.workload == "mixed":   # let retries and notices happen inside the window too
            time.sleep(max(0.0, a.settle_after - (t_wait - t0)))
        cpu1, _ = B.tree_cpu(relay.roots)
        sampler.stop()
        res.update(peak_rss_kb=sampler.peak_rss, peak_pss_kb=sampler.peak_pss, peak_procs=sampler.peak_procs,
                   relay_cpu_ms_per_msg=round((cpu1 - cpu0) * 1000 / len(ranks), 3))
        res["queued_at_end"] = queued(relay, wd)
    except Exception as e:  # noqa: BLE001
        res["error"] = "%s: %s" % (type(e).__name__, e)
        B.log("ERROR", relay.name, res["error"])
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        relay.stop()
        rep = farm.stop() if farm else None
    if rep:
        analyse(res, rep, modes, ranks, expect, t0)
    res["ok"] = "error" not in res and res.get("lost") == 0 and res.get("notices") == 0 \
        and res.get("duplicates") == 0 and res.get("submit_errors") == 0
    if res["ok"] and not a.keep:
        shutil.rmtree(wd, ignore_errors=True)
    else:
        res["workdir"] = wd
    return res


def analyse(res, rep, modes, ranks, expect, t0):
    """Latency over the healthy (ok) domains, what arrived where, what is lost."""
    arrived = {}
    healthy, stalled = [], []
    for mid, dom, sent, arr in rep["arrivals"]:
        n = int(mid.rsplit("-", 1)[1])
        arrived[n] = arr
        lat = arr - sent if sent else None
        if lat is not None:
            (healthy if modes[ranks[n]] == "ok" else stalled).append(lat)
    healthy.sort()
    stalled.sort()
    if arrived:
        last = max(arrived.values())
        res["e2e_s"] = round(last - t0, 3)
        res["e2e_mps"] = round(len(arrived) / (last - t0), 1)
    res["e2e_ms_p50"] = round(pct(healthy, 50) * 1000, 2) if healthy else None
    res["e2e_ms_p99"] = round(pct(healthy, 99) * 1000, 2) if healthy else None
    res["e2e_ms_max"] = round(healthy[-1] * 1000, 2) if healthy else None
    if stalled:
        res["stalled_e2e_s_p50"] = round(pct(stalled, 50), 2)
    res["arrived"] = len(arrived)
    res["duplicates"] = rep["duplicates"]
    res["notices"] = sum(rep["notices"].values())
    res["sessions"] = rep["sessions"]
    held_back = len(ranks) - expect       # mail to 451 / refusing domains: must stay queued
    res["held_back_expected"] = held_back
    res["lost"] = sum(1 for n, r in enumerate(ranks) if modes[r] in ("ok", "stall") and n not in arrived)
    if res.get("queued_at_end") is not None and held_back:
        res["lost"] += max(0, held_back - res["queued_at_end"])


# ----------------------------------------------------------------- the report
MEASURES = [("e2e_mps", "e2e msg/s"), ("ingest_mps", "ingest msg/s"),
            ("stalled_e2e_s_p50", "stalled domains' mail: e2e latency p50 s"),
            ("e2e_ms_p50", "e2e latency p50 ms"), ("e2e_ms_p99", "e2e latency p99 ms"),
            ("submit_ms_p50", "submit latency p50 ms"), ("submit_ms_p99", "submit latency p99 ms"),
            ("peak_rss_kb", "peak RSS kB (sum over processes)"), ("peak_pss_kb", "peak PSS kB"),
            ("relay_cpu_ms_per_msg", "relay CPU ms/msg")]


def markdown(a, results, meta, out):
    def med(relay, key):
        v = [r[key] for r in results if r["relay"] == relay and r.get(key) is not None]
        return (statistics.median(v), min(v), max(v)) if v else None

    def cell(m):
        if not m:
            return "-"
        f = (lambda v: "%s" % format(v, ",.0f") if abs(v) >= 100 else "%.2f" % v)
        return f(m[0]) if m[1] == m[2] else "%s (%s..%s)" % (f(m[0]), f(m[1]), f(m[2]))

    if a.workload == "mixed":
        labels = dict(MEASURES, e2e_mps="msg/s delivered until the last stalled domain's message "
                      "(set by the stalls)", e2e_ms_p50="healthy domains' mail: e2e latency p50 ms",
                      e2e_ms_p99="healthy domains' mail: e2e latency p99 ms")
    else:
        labels = dict(MEASURES)
    title = {"newsletter": "Newsletter: %s messages over %d domains through DNS",
             "mixed": "Mixed health: %s messages over %d domains, 20%% of them unhealthy"}[a.workload]
    if getattr(a, "rate", 0):
        title += ", submitted at %g msg/s" % a.rate
    command = meta.get("command") or "scripts/bench/newsletter.py %s --runs %d" % (a.workload, a.runs)
    lines = ["## " + title % (format(a.messages, ","), a.domains), "",
             "PROVISIONAL: %s, %d run(s) on a shared, busy machine (%s cores, load average %s at the start)."
             % (meta["started"], a.runs, os.cpu_count(), meta["loadavg"]),
             "Versions: %s." % ", ".join("%s %s" % kv for kv in meta["versions"].items()), "",
             "Reproduce: `sudo %s` (or `sudo %s`). Raw results: `%s`."
             % (command, command.replace("scripts/bench/newsletter.py", "scripts/bench.sh"), out), "",
             "Settings on both: %d connections per destination, no pauses, %d delivery processes/threads, "
             "MX records from dnsmasq on %s:53, each domain's MX on its own 127.77.x.y:25; Zipf-like "
             "domain sizes (rank k weight 1/k), %d submitting threads, %d messages per connection, "
             "%d-byte bodies; submission %s." % (a.connections, a.workers, DNS_ADDR, a.threads, a.per_conn, a.size,
                                     "paced at %g msg/s" % a.rate if getattr(a, "rate", 0) else
                                     "as fast as the relay takes it")]
    if a.workload == "mixed":
        lines += ["", "Domains by rank: rank %% 20 in {3, 13} answer 451 to RCPT, 7 stall %d s before "
                  "the greeting, 17 refuse connections. Latency below is the healthy domains' mail only; "
                  "the window is %d s after the first submission." % (a.stall, a.settle_after)]
    relays = [r for r in RELAYS if any(x["relay"] == r for x in results)]
    lines += ["", "| measure | " + " | ".join(relays) + (" | qksmtp/Postfix |" if len(relays) == 2 else " |"),
              "|---" * (len(relays) + 1 + (len(relays) == 2)) + "|"]
    for key, _ in MEASURES:
        label = labels[key]
        ms = [med(r, key) for r in relays]
        if not any(ms):
            continue
        ratio = ""
        if len(relays) == 2:
            ratio = " %.2f |" % (ms[0][0] / ms[1][0]) if ms[0] and ms[1] and ms[1][0] else " - |"
        lines.append("| %s | %s |%s" % (label, " | ".join(cell(m) for m in ms), ratio))
    lines += ["", "Checks per run (delivered exactly once / kept queued / lost / duplicates / notices sent):", ""]
    for r in results:
        lines.append("- %s run %d: %s arrived of %d expected, %s queued at the end (%d to 451/refusing domains), "
                     "lost %s, duplicates %s, notices %s%s%s" % (
                         r["relay"], r["run"], r.get("arrived"), r["messages"] - r.get("held_back_expected", 0),
                         r.get("queued_at_end"), r.get("held_back_expected", 0), r.get("lost"),
                         r.get("duplicates"), r.get("notices"),
                         "; stalled domains' mail p50 %ss" % r["stalled_e2e_s_p50"] if r.get("stalled_e2e_s_p50") else "",
                         "; ERROR %s" % r["error"] if r.get("error") else ""))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=["newsletter", "mixed"])
    ap.add_argument("--relays", default="qksmtp,postfix")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--domains", type=int, default=500)
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--threads", type=int, default=10)
    ap.add_argument("--per-conn", type=int, default=50)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--rate", type=float, default=0.0, help="msg/s for the whole submission; 0 = unpaced")
    ap.add_argument("--section", help="docs/benchmarks.md section name (default: the workload)")
    ap.add_argument("--from-json", help="only write the section again from a results file")
    ap.add_argument("--stall", type=float, default=30.0)
    ap.add_argument("--settle-after", type=float, default=90.0,
                    help="mixed: seconds after the first submission before the queue is counted")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.from_json:
        doc = json.load(open(a.from_json))
        saved = argparse.Namespace(**doc["meta"]["args"])
        md = markdown(saved, doc["results"], doc["meta"], os.path.relpath(os.path.abspath(a.from_json), ROOT))
        mdsection.replace(os.path.join(ROOT, "docs", "benchmarks.md"), a.section or saved.workload, md)
        print(md)
        return
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = a.out or os.path.join(ROOT, "docs", "bench", "%s-%s.json" % (a.workload, stamp))
    p, ranks = plan(a)
    relays = [B.Adapter(RELAYS[r]) for r in a.relays.split(",")]
    for r in relays:
        r.name = "qksmtp" if "qksmtp" in r.path else "postfix"
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "loadavg": open("/proc/loadavg").read().split()[0],
            "args": vars(a), "versions": {},
            "command": " ".join(["scripts/bench/newsletter.py"] + sys.argv[1:])}
    top = sorted(((ranks.count(k), k) for k in range(min(5, a.domains))), reverse=True)
    B.log("plan: %d messages, biggest domains %s" % (len(ranks), top))
    wd = tempfile.mkdtemp(prefix="bench-dns-")
    os.chmod(wd, 0o755)
    dns = Dns(p, wd)
    results = []
    try:
        for r in relays:
            meta["versions"][r.name] = r.version(wd)
        for run_no in range(1, a.runs + 1):
            for r in relays:
                res = run_one(r, p, ranks, a, run_no, dns)
                results.append(res)
                B.log(json.dumps({k: v for k, v in res.items() if k != "first_errors"}))
                time.sleep(2)
    finally:
        dns.stop()
        shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    md = markdown(a, results, meta, os.path.relpath(out, ROOT))
    mdsection.replace(os.path.join(ROOT, "docs", "benchmarks.md"), a.section or a.workload, md)
    print(md)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
