#!/bin/bash
# scripts/bench/history-off.sh -- a BENCH_QKSMTP_BIN for scripts/bench/qksmtp.sh that runs
# $REAL_BIN with `history_max = 0` put into [server] of the INI the adapter wrote (no history
# listing in memory, so that it does not hide the rest of the memory; measuring only).
# With CALLGRIND_OUT set, the server runs under `valgrind --tool=callgrind` into that file
# (instructions counted; `summary:` in the file). Any GLIBC_TUNABLES of the caller is passed on.
#   REAL_BIN=target/release/qksmtp BENCH_QKSMTP_BIN=scripts/bench/history-off.sh \
#     python3 ../shared/bench/bench.py --adapter scripts/bench/qksmtp.sh --phases throughput --out F
set -e
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[$i]}" = --config ]; then
        ini=${args[$((i + 1))]}
        grep -q '^history_max = 0' "$ini" || sed -i 's/^\[server\]$/[server]\nhistory_max = 0/' "$ini"
    fi
done
if [ -n "${CALLGRIND_OUT:-}" ] && [ "$1" != check ]; then
    exec valgrind --tool=callgrind --callgrind-out-file="$CALLGRIND_OUT" "$REAL_BIN" "$@"
fi
exec "$REAL_BIN" "$@"
