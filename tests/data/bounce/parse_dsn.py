#!/usr/bin/env python3
"""Parses a delivery report with Python's own `email` package and prints what it found, one
`key=value` per line, for the Rust tests to check (tests/data/bounce/*.eml).

usage: parse_dsn.py FILE
"""
import email
import email.policy
import sys


def main(path):
    with open(path, "rb") as f:
        raw = f.read()
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    out = []
    out.append("content-type=" + msg.get_content_type())
    out.append("report-type=" + str(msg.get_param("report-type")))
    for name in ("From", "To", "Subject", "Auto-Submitted", "In-Reply-To"):
        if msg[name] is not None:
            out.append("header.%s=%s" % (name, msg[name]))
    if msg.defects:
        out.append("defects=%r" % msg.defects)
    parts = msg.get_payload()
    for part in parts:
        out.append("part=" + part.get_content_type())
        if part.defects:
            out.append("defects=%r" % part.defects)
        ctype = part.get_content_type()
        if ctype == "text/plain":
            text = part.get_payload(decode=True).decode("utf-8")
            for line in text.splitlines():
                out.append("text=" + line)
        elif ctype == "message/delivery-status":
            blocks = part.get_payload()
            for key, value in blocks[0].items():
                out.append("message.%s=%s" % (key, " ".join(value.split())))
            for n, block in enumerate(blocks[1:], start=1):
                for key, value in block.items():
                    out.append("rcpt%d.%s=%s" % (n, key, " ".join(value.split())))
        elif ctype == "text/rfc822-headers":
            inner = email.message_from_bytes(part.get_payload(decode=True))
            out.append("returned.Subject=%s" % inner["Subject"])
            out.append("returned.body=%r" % inner.get_payload())
        elif ctype == "message/rfc822":
            inner = part.get_payload()[0]
            out.append("returned.Subject=%s" % inner["Subject"])
            out.append("returned.body=%r" % inner.get_payload())
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
