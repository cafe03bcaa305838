#!/usr/bin/env python3
"""scripts/bench/table.py -- turns a bench.py results JSON into the markdown of docs/benchmarks.md:
per phase and measure, each relay's median and min..max, and the qksmtp/Postfix ratio."""
import json
import sys

MEASURES = [
    ("e2e_mps", "e2e msg/s", "higher"),
    ("ingest_mps", "ingest msg/s", "higher"),
    ("e2e_ms_p50", "e2e latency p50 ms", "lower"),
    ("e2e_ms_p99", "e2e latency p99 ms", "lower"),
    ("submit_ms_p50", "submit latency p50 ms", "lower"),
    ("submit_ms_p99", "submit latency p99 ms", "lower"),
    ("peak_rss_kb", "peak RSS kB (sum over processes)", "lower"),
    ("peak_pss_kb", "peak PSS kB", "lower"),
    ("peak_procs", "processes", "lower"),
    ("relay_cpu_ms_per_msg", "relay CPU ms/msg", "lower"),
]


def fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def cell(stat):
    if not stat or stat.get("median") is None:
        return "-"
    return f"{fmt(stat['median'])} ({fmt(stat['min'])}..{fmt(stat['max'])})"


def relay_name(name):
    return "qksmtp" if "qksmtp" in name else name


def main(path):
    data = json.load(open(path))
    meta = data["meta"]
    rows = {}
    for s in data["summary"]:
        rows.setdefault(s["phase"], {})[relay_name(s["relay"])] = s
    out = ["# qksmtp against Postfix", ""]
    out.append(f"Run {meta.get('started')} on {meta['host']['nproc']} cores, kernel {meta['host']['kernel']}; "
               f"versions: {', '.join(f'{relay_name(k)} {v}' for k, v in meta['versions'].items())}. "
               f"{meta['args']['runs']} interleaved runs per relay and phase; median (min..max).")
    out.append("")
    out.append("Reproduce: `sudo scripts/bench.sh` (builds, installs Postfix, runs `../shared/bench/bench.py "
               "--adapter adapters/postfix.sh --adapter scripts/bench/qksmtp.sh --runs 3`). "
               f"Raw results: `{path}`.")
    for phase, relays in rows.items():
        q, p = relays.get("qksmtp"), relays.get("postfix")
        out += ["", f"## {phase}", "", "| measure | qksmtp | Postfix | qksmtp/Postfix |", "|---|---|---|---|"]
        for key, label, _ in MEASURES:
            qs, ps = (q or {}).get(key), (p or {}).get(key)
            if not qs and not ps:
                continue
            ratio = "-"
            if qs and ps and qs.get("median") and ps.get("median"):
                ratio = f"{qs['median'] / ps['median']:.2f}"
            out.append(f"| {label} | {cell(qs)} | {cell(ps)} | {ratio} |")
        ok = " / ".join(f"{relay_name(r)} {s['ok_runs']}/{s['runs']} ok" for r, s in relays.items())
        out.append("")
        out.append(f"Runs: {ok}.")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
