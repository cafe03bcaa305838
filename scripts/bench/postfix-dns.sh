#!/bin/bash
# scripts/bench/postfix-dns.sh -- bench adapter: the peer harness's throwaway Postfix
# (../shared/bench/adapters/postfix.sh), routing by MX through a loopback DNS server.
#
# Same contract as that adapter (version|start|stop|settings|queue, env BENCH_*), plus:
#   BENCH_RESOLV_CONF     a resolv.conf naming the loopback DNS server (dnsmasq, port 53)
#   BENCH_MAX_CONNECTIONS connections per destination (default 2, as qksmtp's max_connections)
# Postfix resolves through the system resolver, which reads /etc/resolv.conf and cannot take a
# port, so `start` runs in a private mount namespace (unshare -m) where that file is
# bind-mounted over /etc/resolv.conf; master and every daemon it forks stay in the namespace,
# and the rest of the machine keeps its own resolver.
# Routing: every domain through smtp (MX lookups, smtp_host_lookup = dns), no transport_maps,
# so nothing routes except what the loopback DNS server answers (it has no upstream).
set -euo pipefail
cmd=${1:-}
BENCH=${BENCH_DIR:-$(cd "$(dirname "$0")/../../../shared/bench" && pwd)}
PEER=$BENCH/adapters/postfix.sh
C=${BENCH_MAX_CONNECTIONS:-2}
# Later lines of main.cf override the adapter's earlier ones.
export BENCH_POSTFIX_EXTRA="transport_maps =
default_transport = smtp
smtp_host_lookup = dns
default_destination_concurrency_limit = $C
smtp_destination_concurrency_limit = $C
initial_destination_concurrency = $C
default_destination_rate_delay = 0
${BENCH_POSTFIX_EXTRA:-}"

case "$cmd" in
start)
    : "${BENCH_RESOLV_CONF:?BENCH_RESOLV_CONF not set}"
    exec unshare -m --propagation private \
        sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$1" start' "$BENCH_RESOLV_CONF" "$PEER"
    ;;
*)
    exec "$PEER" "$cmd"
    ;;
esac
