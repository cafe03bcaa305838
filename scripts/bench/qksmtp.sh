#!/bin/bash
# scripts/bench/qksmtp.sh -- bench.py adapter: a throwaway qksmtp instance.
# The qksmtp adapter for ../shared/bench/bench.py, run by scripts/bench.sh.
# BENCH_QKSMTP_BIN: the binary (default: target/release/qksmtp of this repository).
#
# Contract: see adapters/postfix.sh and README.md (version|start|stop|settings, env BENCH_*).
# Routing: [domain:$BENCH_DOMAIN] mx = SINK_HOST:SINK_PORT (fixed host, no MX lookup).
# Settings chosen to match Postfix's defaults for one destination (up to 20 parallel
# connections, connection reuse, no pauses), so that the comparison is like for like;
# QK's own default max_continuous=5 + continuous_delay would throttle on purpose.
# dns_server points at a closed loopback port so that nothing can ever leave 127/8.
# Multi-domain workloads (scripts/bench/newsletter.py, largequeue.py) also set:
#   BENCH_DNS_SERVER     IP:port of the loopback DNS server (dnsmasq) for every other domain,
#                        whose rule is [domain:*] with BENCH_MAX_CONNECTIONS (default 2)
#   BENCH_QKSMTP_EXTRA   INI text appended at the end (more [domain:NAME] sections)
set -euo pipefail
cmd=${1:-}
W=${BENCH_WORKDIR:?BENCH_WORKDIR not set}
BIN=${BENCH_QKSMTP_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/qksmtp}
Q=$W/qksmtp

case "$cmd" in
version)
    "$BIN" --version
    ;;
ini)
    # The INI alone (also used by scripts/profile.sh); STATUS_PORT empty turns the page off.
    : "${BENCH_LISTEN_HOST:?}" "${BENCH_LISTEN_PORT:?}" "${BENCH_SINK_HOST:?}" "${BENCH_SINK_PORT:?}"
    DOM=${BENCH_DOMAIN:-example.test}
    STATUS=${STATUS_PORT:+127.0.0.1:$STATUS_PORT}
    cat <<INI
[server]
listen = $BENCH_LISTEN_HOST:$BENCH_LISTEN_PORT
hostname = bench-qksmtp.test
status_listen = $STATUS
spool_dir = $Q/spool
log_file = $Q/delivery.log
log_level = warn

max_sessions = 100
max_sessions_per_ip = 50

[access]
relay_from = 127.0.0.0/8

[delivery]
helo_name = bench-qksmtp.test
workers = ${BENCH_QKSMTP_WORKERS:-20}
dns_server = ${BENCH_DNS_SERVER:-127.0.0.1:9}

[domain:*]
direct_attempts = 5
relay_attempts = 0
max_connections = ${BENCH_MAX_CONNECTIONS:-2}
max_continuous = 1000
continuous_delay = 0
retry_delay = 60

[domain:$DOM]
mx = $BENCH_SINK_HOST:$BENCH_SINK_PORT
direct_attempts = 5
relay_attempts = 0
max_connections = 20
max_continuous = 1000
continuous_delay = 0
retry_delay = 60
${BENCH_QKSMTP_EXTRA:-}
INI
    ;;
start)
    mkdir -p "$Q/spool"
    STATUS_PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
    STATUS_PORT=$STATUS_PORT bash "$0" ini > "$Q/qksmtp.ini"
    "$BIN" check --config "$Q/qksmtp.ini" >&2
    "$BIN" --config "$Q/qksmtp.ini" > "$Q/stderr.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$Q/pid"
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { echo "qksmtp exited:" >&2; cat "$Q/stderr.log" >&2; exit 1; }
        [ -n "$(ss -Hltn "sport = :$BENCH_LISTEN_PORT" 2>/dev/null)" ] && break
        sleep 0.1
    done
    echo "$pid"
    ;;
stop)
    [ -s "$Q/pid" ] || exit 0
    pid=$(cat "$Q/pid")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$Q/pid"
    ;;
settings)
    cat "$Q/qksmtp.ini"
    ;;
queue-count)
    # messages in the queue: the count line of `qksmtp queue` (the running server's or the spool's)
    "$BIN" queue --config "$Q/qksmtp.ini" | grep -E '^[0-9]+ messages?' | tail -1
    ;;
*)
    echo "usage: $0 version|ini|start|stop|settings|queue-count   (env: see header)" >&2; exit 2 ;;
esac
