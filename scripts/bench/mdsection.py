#!/usr/bin/env python3
"""scripts/bench/mdsection.py -- one workload's section of docs/benchmarks.md, between
`<!-- workload:NAME -->` and `<!-- /workload:NAME -->`: replaced in place, or appended.
`mdsection.py keep FILE` prints the workload sections of FILE (scripts/bench.sh puts them back
after table.py rewrote the one-destination tables)."""
import re
import sys


def replace(path, name, text):
    block = "<!-- workload:%s -->\n%s\n<!-- /workload:%s -->" % (name, text.rstrip(), name)
    try:
        doc = open(path).read()
    except FileNotFoundError:
        doc = ""
    pat = re.compile(r"<!-- workload:%s -->.*?<!-- /workload:%s -->" % (re.escape(name), re.escape(name)), re.S)
    doc = pat.sub(lambda _: block, doc) if pat.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(doc)


def sections(path):
    return re.findall(r"<!-- workload:[\w-]+ -->.*?<!-- /workload:[\w-]+ -->", open(path).read(), re.S)


if __name__ == "__main__" and sys.argv[1:2] == ["keep"]:
    for s in sections(sys.argv[2]):
        print("\n" + s)
