#!/usr/bin/env python3
"""scripts/bench/mx_farm.py -- many receiving MX servers in one process, for the multi-domain
benchmarks (scripts/bench/newsletter.py).

Each domain of the plan has its own loopback address; the farm listens on ADDR:PORT for every
domain whose behaviour is not "refuse" (nothing listens there, so a connection is refused) and
plays the domain's receiving server:
  ok       accepts everything (EHLO offers PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES)
  451      answers every RCPT with "451 4.7.1 try again later" (greylisting, a busy server)
  stall    waits --stall seconds before its 220 greeting, then accepts everything
  refuse   not listened on: connect() gets a RST
For each message it records: the listening address's domain, X-Bench-Id, X-Bench-Sent and the
arrival time. Messages that carry no X-Bench-Id (bounces, delay notices) are counted as
"notices" per domain.

Plan (JSON, --plan FILE): {"port": 25, "stall": 30, "domains": [{"name": "d1.test",
"addr": "127.77.0.1", "mode": "ok"}, ...]}.

Prints "READY" on stdout once every listener is bound, then "count=N notices=M" on stdout
every 0.1 s while counts change; on SIGTERM writes --report (JSON: arrivals as
[id, domain, sent, arrival], notices per domain, duplicates, sessions per mode) and exits.
Standard library only (asyncio).
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time


class Farm:
    def __init__(self, plan):
        self.plan = plan
        self.arrivals = []       # (id, domain, sent, arrival)
        self.ids = set()
        self.dups = 0
        self.notices = {}        # domain -> count of messages without X-Bench-Id
        self.sessions = {}       # mode -> sessions
        self.changed = True

    def record(self, domain, data, now):
        hdr_end = data.find(b"\r\n\r\n")
        hdr_end = len(data) if hdr_end < 0 else hdr_end
        mid = header(data, b"X-Bench-Id:", hdr_end)
        if mid is None:
            self.notices[domain] = self.notices.get(domain, 0) + 1
        else:
            sent = header(data, b"X-Bench-Sent:", hdr_end)
            if mid in self.ids:
                self.dups += 1
            self.ids.add(mid)
            self.arrivals.append((mid, domain, float(sent) if sent else None, now))
        self.changed = True

    async def session(self, domain, mode, reader, writer):
        self.sessions[mode] = self.sessions.get(mode, 0) + 1
        write = writer.write
        try:
            if mode == "stall":
                await asyncio.sleep(self.plan.get("stall", 30))
            write(b"220 mx." + domain.encode() + b" ESMTP bench farm\r\n")
            in_mail, nrcpt = False, 0
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line[:4].upper()
                if cmd == b"EHLO":
                    write(b"250-mx.bench.test\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n"
                          b"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n")
                    in_mail = False
                elif cmd == b"HELO":
                    write(b"250 mx.bench.test\r\n")
                    in_mail = False
                elif cmd == b"MAIL":
                    in_mail, nrcpt = True, 0
                    write(b"250 2.1.0 Ok\r\n")
                elif cmd == b"RCPT":
                    if not in_mail:
                        write(b"503 5.5.1 Error: need MAIL command\r\n")
                    elif mode == "451":
                        write(b"451 4.7.1 Try again later\r\n")
                    else:
                        nrcpt += 1
                        write(b"250 2.1.5 Ok\r\n")
                elif cmd == b"DATA":
                    if not in_mail or nrcpt == 0:
                        write(b"554 5.5.1 Error: no valid recipients\r\n")
                        in_mail = False
                        await writer.drain()
                        continue
                    write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    await writer.drain()
                    buf = b""
                    while True:
                        buf += await reader.readuntil(b".\r\n")
                        if len(buf) == 3 or buf.endswith(b"\r\n.\r\n"):
                            break
                    self.record(domain, buf, time.time())
                    write(b"250 2.0.0 Ok: queued\r\n")
                    in_mail = False
                elif cmd == b"RSET":
                    in_mail = False
                    write(b"250 2.0.0 Ok\r\n")
                elif cmd == b"NOOP":
                    write(b"250 2.0.0 Ok\r\n")
                elif cmd == b"QUIT":
                    write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    break
                else:
                    write(b"502 5.5.2 Error: command not recognized\r\n")
                if not reader._buffer:
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    def report(self):
        return {"arrivals": self.arrivals, "duplicates": self.dups, "notices": self.notices,
                "sessions": self.sessions, "count": len(self.arrivals)}


def header(data, name, end):
    i = data.find(name, 0, end)
    if i < 0:
        return None
    j = data.find(b"\r\n", i)
    return data[i + len(name):j].strip().decode("ascii", "replace")


async def main_async(a):
    plan = json.load(open(a.plan))
    farm = Farm(plan)
    servers = []
    for d in plan["domains"]:
        if d["mode"] == "refuse":
            continue

        def handler(r, w, name=d["name"], mode=d["mode"]):
            return farm.session(name, mode, r, w)
        servers.append(await asyncio.start_server(handler, d["addr"], plan.get("port", 25),
                                                  limit=64 * 1024 * 1024, backlog=256,
                                                  reuse_address=True))
    print("READY %d listeners" % len(servers), flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    while not stop.is_set():
        if farm.changed:
            farm.changed = False
            print("count=%d notices=%d" % (len(farm.arrivals), sum(farm.notices.values())),
                  flush=True)
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except asyncio.TimeoutError:
            pass
    for s in servers:
        s.close()
    tmp = a.report + ".tmp"
    with open(tmp, "w") as f:
        json.dump(farm.report(), f)
    os.replace(tmp, a.report)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True)
    ap.add_argument("--report", required=True)
    sys.exit(asyncio.run(main_async(ap.parse_args())))


if __name__ == "__main__":
    main()
