#!/usr/bin/env python3
"""Runs postfix-mta-sts-resolver (a resolver nobody on qksmtp wrote) on MTA-STS policy texts:
its own STSResolver.resolve, with the DNS answer (`v=STSv1; id=1`) and the HTTPS answer
(200, text/plain, the policy text as the body) given in memory instead of the network, so
that its fetch limits, its parser and its checks all run as they do for Postfix.

Usage: sts_resolver_check.py POLICIES   (POLICIES: a JSON list of policy texts)
Prints one line per policy: `refused`, or `MODE<TAB>MAX_AGE` followed by `<TAB>MX` for each
mx value as the resolver keeps it. Exits 3 when postfix-mta-sts-resolver is missing.
"""
import asyncio
import json
import logging
import sys

try:
    from postfix_mta_sts_resolver import resolver as sts
except ImportError as e:
    print(f"missing: {e}", file=sys.stderr)
    sys.exit(3)


class Txt:
    text = "v=STSv1; id=1"


class Content:
    def __init__(self, body):
        self.body = body

    async def read(self, n):
        chunk, self.body = self.body[:n], self.body[n:]
        return chunk


class Response:
    status = 200
    charset = None

    def __init__(self, body):
        self.headers = {"Content-Type": "text/plain"}
        self.content = Content(body)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


class Session:
    body = b""

    def __init__(self, *args, **kwargs):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    def get(self, url, **kwargs):
        assert url == "https://mta-sts.example.test/.well-known/mta-sts.txt", url
        return Response(Session.body)


async def check(texts):
    resolver = sts.STSResolver(loop=asyncio.get_running_loop())

    async def query(name, rtype):
        assert (name, rtype) == ("_mta-sts.example.test", "TXT"), (name, rtype)
        return [Txt()]

    resolver._resolver.query = query
    sts.aiohttp.ClientSession = Session
    results = []
    for text in texts:
        Session.body = text.encode("utf-8")
        status, found = await resolver.resolve("example.test")
        if status != sts.STSFetchResult.VALID:
            results.append("refused")
            continue
        _, policy = found
        fields = [policy["mode"], str(policy["max_age"])] + policy["mx"]
        results.append("\t".join(fields))
    return results


logging.basicConfig(stream=sys.stderr, level=logging.CRITICAL)
texts = json.load(open(sys.argv[1], encoding="utf-8"))
for line in asyncio.run(check(texts)):
    print(line)
