#!/usr/bin/env bash
# scripts/bench/before-after.sh BEFORE_BIN AFTER_BIN [bench.py args] -- the one-destination
# throughput workload of scripts/bench.sh (../shared/bench/bench.py, qksmtp only, no Postfix),
# two qksmtp binaries interleaved run by run so that the machine's noise hits both alike.
# The adapters are named qksmtp-before and qksmtp-after (thin wrappers of scripts/bench/qksmtp.sh).
#   scripts/bench/before-after.sh target/harden-bins/qksmtp-main target/release/qksmtp --runs 5
# (keep both binaries in a folder of your own: /tmp is shared with other builds)
# AFTER_FIRST=1 runs the after binary first in each round.
# Prints bench.py's table; the JSON goes to docs/bench/before-after-<date>.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
before=$(realpath "$1"); after=$(realpath "$2"); shift 2
BENCH=${BENCH_DIR:-$(cd ../shared/bench && pwd)}
wrappers=$(mktemp -d)
trap 'rm -rf "$wrappers"' EXIT
for side in before after; do
    bin=$before; [ "$side" = after ] && bin=$after
    printf '#!/bin/bash\nBENCH_QKSMTP_BIN=%q exec %q "$@"\n' "$bin" "$PWD/scripts/bench/qksmtp.sh" \
        > "$wrappers/qksmtp-$side.sh"
    chmod +x "$wrappers/qksmtp-$side.sh"
done
adapters=(--adapter "$wrappers/qksmtp-before.sh" --adapter "$wrappers/qksmtp-after.sh")
# AFTER_FIRST=1: the after binary runs first in each round (a load that grows during the run
# then weighs on the other side).
[ "${AFTER_FIRST:-}" = 1 ] && adapters=(--adapter "$wrappers/qksmtp-after.sh" --adapter "$wrappers/qksmtp-before.sh")
mkdir -p docs/bench
python3 "$BENCH/bench.py" "${adapters[@]}" \
    --phases throughput --runs 3 --out "docs/bench/before-after-$(date -u +%Y%m%d-%H%M%S).json" "$@"
