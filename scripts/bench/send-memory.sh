#!/usr/bin/env bash
# scripts/bench/send-memory.sh BIN... -- peak memory of `qksmtp send` piping one large message
# (SIZE_MB, default 20, of 100-byte LF lines, as a program writes it) into a stopped server's
# spool, for each binary given (e.g. main's and this branch's), RUNS times each (default 3).
# Prints one line per run: binary, max RSS (KB, from /usr/bin/time), seconds. Loopback only:
# nothing is delivered (no server runs); the temporary folder is removed at the end.
#   scripts/bench/send-memory.sh ../main/target/debug/qksmtp target/debug/qksmtp
set -euo pipefail
size_mb=${SIZE_MB:-20}
runs=${RUNS:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '[server]\nlisten = 127.0.0.1:0\nstatus_listen =\nspool_dir = spool\nmax_message_size = %dM\n' \
    $((size_mb * 2)) > "$dir/qksmtp.ini"
python3 - "$dir/big.eml" "$size_mb" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("To: you@example.test\nSubject: big\n\n")
    for n in range(mb * 10_000):
        f.write("%08d %s\n" % (n, "x" * 91))
PY
for bin in "$@"; do
    for _ in $(seq "$runs"); do
        out=$(/usr/bin/time -f "%M %e" "$bin" send -t -f me@example.test \
            --config "$dir/qksmtp.ini" < "$dir/big.eml" 2>&1 >/dev/null | tail -1)
        echo "$bin ${out% *} KB ${out#* } s"
    done
done
