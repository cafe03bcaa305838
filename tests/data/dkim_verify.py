#!/usr/bin/env python3
"""Verifies every DKIM-Signature of a message with dkimpy (a verifier nobody on qksmtp wrote),
the DNS answered from a file instead of the network.

Usage: dkim_verify.py MESSAGE RECORDS   (RECORDS: lines "NAME<TAB>TXT")
Prints "N pass" or "N fail" per signature, top first; exits 0 when there is at least one
signature and every one passes, 1 otherwise, 3 when dkimpy (or PyNaCl, for Ed25519) is missing.
"""
import logging
import sys

try:
    import dkim
    import nacl.signing  # noqa: F401  (dkimpy needs it for ed25519-sha256)
except ImportError as e:
    print(f"missing: {e}", file=sys.stderr)
    sys.exit(3)

message = open(sys.argv[1], "rb").read()
records = {}
for line in open(sys.argv[2], "rb").read().splitlines():
    name, txt = line.split(b"\t", 1)
    records[name.lower().rstrip(b".")] = txt


def dnsfunc(name, timeout=5):
    return records.get(name.lower().rstrip(b"."))


logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
headers, _ = dkim.rfc822_parse(message)
count = sum(1 for name, _ in headers if name.lower() == b"dkim-signature")
verifier = dkim.DKIM(message, logger=logging.getLogger("dkim"), minkey=1024)
results = []
for idx in range(count):
    try:
        ok = verifier.verify(idx=idx, dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        print(f"{idx}: {e}", file=sys.stderr)
        ok = False
    print(f"{idx} {'pass' if ok else 'fail'}")
    results.append(ok)
sys.exit(0 if results and all(results) else 1)
