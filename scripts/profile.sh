#!/bin/bash
# scripts/profile.sh -- load-independent cost per message of the release binary.
#
# Builds target/release/qksmtp, starts it from a throwaway INI (the settings of
# scripts/bench/qksmtp.sh) with smtp-sink as the MX, sends a fixed load with smtp-source
# (default 2,000 messages of 2 KiB over 10 sessions, one message per connection), waits until
# the spool is empty, and prints per message:
#   - CPU ms (utime+stime of the whole process, /proc/PID/stat) and context switches
#     (sum over its threads, /proc/PID/task/*/status, live threads only: session threads that
#     ended are not counted, use `perf` mode for those),
#   - with MODE=strace: syscalls by kind (strace -c -f), fsyncs (fsync+fdatasync),
#   - with MODE=perf: perf stat software counters (task-clock, context switches, migrations),
#   - with MODE=record: perf record (cpu-clock samples, kernel included), top symbols,
#   - with MODE=callgrind: instructions (valgrind callgrind, counted only during the load).
# Counts (syscalls, fsyncs, instructions) do not depend on the machine's load; CPU ms does.
#
# usage: scripts/profile.sh [MODE]        MODE: cpu (default) | strace | perf | record | callgrind
# env:   MSGS=2000 SESSIONS=10 SIZE=2048 (smtp-source -m/-s/-l), REUSE=1 (smtp-source -d),
#        KEEP=1 (keep the work dir), QKSMTP_BIN (skip the build, use this binary)
# needs: smtp-source/smtp-sink (Debian postfix; ../shared/bench/install-peers.sh), python3,
#        strace / perf / valgrind for their modes. Everything stays on 127.0.0.1.
# A tool, not a test: it asserts nothing.
set -euo pipefail
MODE=${1:-cpu}
MSGS=${MSGS:-2000}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-2048}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for t in smtp-source smtp-sink python3; do
    command -v $t >/dev/null || { echo "missing $t (install Debian postfix)" >&2; exit 1; }
done
if [ -n "${QKSMTP_BIN:-}" ]; then
    BIN=$QKSMTP_BIN
else
    (cd "$ROOT" && cargo build --release --locked -q)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/qksmtp
fi
W=$(mktemp -d /tmp/qksmtp-profile.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "work dir: $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
LPORT=$(free_port); SPORT=$(free_port)
# The benchmark adapter's settings (scripts/bench/qksmtp.sh), without the status page.
mkdir -p "$W/qksmtp/spool"
BENCH_WORKDIR=$W BENCH_LISTEN_HOST=127.0.0.1 BENCH_LISTEN_PORT=$LPORT BENCH_SINK_HOST=127.0.0.1 \
    BENCH_SINK_PORT=$SPORT BENCH_DOMAIN=example.test STATUS_PORT= \
    bash "$ROOT/scripts/bench/qksmtp.sh" ini > "$W/qksmtp.ini"

smtp-sink -u "$(id -un)" 127.0.0.1:$SPORT 256 >/dev/null 2>&1 &
pids+=($!)
case "$MODE" in
callgrind)
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$W/callgrind.out" \
        "$BIN" --config "$W/qksmtp.ini" >"$W/stderr.log" 2>&1 &
    ;;
cpu | strace | perf | record)
    "$BIN" --config "$W/qksmtp.ini" >"$W/stderr.log" 2>&1 &
    ;;
*) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
QPID=$!
pids+=($QPID)
for _ in $(seq 300); do
    [ -n "$(ss -Hltn "sport = :$LPORT" 2>/dev/null)" ] && [ -n "$(ss -Hltn "sport = :$SPORT" 2>/dev/null)" ] && break
    kill -0 $QPID 2>/dev/null || { cat "$W/stderr.log" >&2; exit 1; }
    sleep 0.1
done

cpu_ticks() { awk '{print $14+$15, $14, $15}' "/proc/$QPID/stat"; }
ctx_switches() {
    cat /proc/$QPID/task/*/status 2>/dev/null |
        awk '/^voluntary_ctxt/{v+=$2} /^nonvoluntary_ctxt/{n+=$2} END{print v+0, n+0}'
}
spool_count() { find "$W/qksmtp/spool" -maxdepth 1 -name '*.env' | wc -l; }

ATTACH=
case "$MODE" in
strace)
    strace -c -f -o "$W/strace.txt" -p $QPID 2>/dev/null &
    ATTACH=$!; sleep 1 ;;
perf)
    perf stat -e task-clock,context-switches,cpu-migrations,page-faults -o "$W/perf.txt" -p $QPID &
    ATTACH=$!; sleep 1 ;;
record)
    perf record -q -e cpu-clock -F 2000 -g -o "$W/perf.data" -p $QPID 2>/dev/null &
    ATTACH=$!; sleep 1 ;;
callgrind)
    callgrind_control -i on $QPID >/dev/null 2>&1 ;;
esac

read -r t0 u0 k0 <<<"$(cpu_ticks)"; read -r v0 n0 <<<"$(ctx_switches)"; s0=$(date +%s.%N)
reuse=(); [ -n "${REUSE:-}" ] && reuse=(-d)
smtp-source "${reuse[@]}" -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -f sender@profile.test \
    -t rcpt@example.test 127.0.0.1:$LPORT
for _ in $(seq 6000); do
    [ "$(spool_count)" -eq 0 ] && break
    sleep 0.05
done
s1=$(date +%s.%N); read -r t1 u1 k1 <<<"$(cpu_ticks)"; read -r v1 n1 <<<"$(ctx_switches)"
delivered=$(grep -c 'result="delivered"' "$W/qksmtp/delivery.log" || true)
left=$(spool_count)

case "$MODE" in
strace | perf | record) kill -INT $ATTACH; wait $ATTACH 2>/dev/null || true ;;
callgrind) callgrind_control -d $QPID >/dev/null 2>&1; callgrind_control -i off $QPID >/dev/null 2>&1 ;;
esac

HZ=$(getconf CLK_TCK)
echo "load: $MSGS msgs x $SIZE B over $SESSIONS sessions${REUSE:+ (reuse)}; delivered $delivered, left in spool $left; wall $(echo "$s1 - $s0" | bc) s (mode $MODE)"
awk -v t=$((t1 - t0)) -v u=$((u1 - u0)) -v k=$((k1 - k0)) -v hz="$HZ" -v m="$MSGS" \
    'BEGIN{printf "cpu ms/msg      %.3f (user %.3f, system %.3f)\n", t*1000/hz/m, u*1000/hz/m, k*1000/hz/m}'
awk -v v=$((v1 - v0)) -v n=$((n1 - n0)) -v m="$MSGS" \
    'BEGIN{printf "ctx switches/msg (live threads) voluntary %.2f involuntary %.2f\n", v/m, n/m}'
case "$MODE" in
strace)
    awk -v m="$MSGS" '
        /^[ ]*[0-9.]+[ ]+[0-9.]+[ ]+[0-9]+[ ]+[0-9]+/ {
            calls=$4; name=$NF; if (name=="total") next; tot+=calls; c[name]=calls
            if (name=="fsync" || name=="fdatasync") fs+=calls }
        END {
            printf "syscalls/msg    %.2f\n", tot/m
            printf "fsyncs/msg      %.3f\n", fs/m
            n=0; for (k in c) keys[n++]=k
            for (i=0;i<n;i++) for (j=i+1;j<n;j++) if (c[keys[j]]>c[keys[i]]) {x=keys[i];keys[i]=keys[j];keys[j]=x}
            for (i=0;i<n;i++) printf "  %-18s %7.3f\n", keys[i], c[keys[i]]/m
        }' "$W/strace.txt"
    ;;
perf)
    awk -v m="$MSGS" '
        /task-clock/ {gsub(",","",$1); printf "task-clock ms/msg %.3f\n", $1/m}
        /context-switches/ {gsub(",","",$1); printf "context switches/msg (all threads) %.2f\n", $1/m}
        /cpu-migrations/ {gsub(",","",$1); printf "cpu migrations/msg %.2f\n", $1/m}
        /page-faults/ {gsub(",","",$1); printf "page faults/msg %.2f\n", $1/m}' "$W/perf.txt"
    ;;
record)
    perf report -i "$W/perf.data" --no-children --sort sym -g none --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
    ;;
callgrind)
    ir=$(awk '/^totals:/{print $2; exit}' "$W/callgrind.out.1")
    awk -v ir="$ir" -v m="$MSGS" 'BEGIN{printf "instructions/msg %.0f\n", ir/m}'
    echo "profile: callgrind_annotate $W/callgrind.out.1 (set KEEP=1 to keep it)"
    ;;
esac
