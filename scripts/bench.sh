#!/usr/bin/env bash
# scripts/bench.sh -- qksmtp against Postfix, side by side, in one interleaved run.
#
# Builds the release binary, installs Debian's postfix (smtp-source, smtp-sink and the peer;
# no system instance is configured or started), then runs ../shared/bench/bench.py with the
# Postfix adapter and ours (scripts/bench/qksmtp.sh), run by run, and writes:
#   docs/bench/results-<date>.json   every run, the settings and the versions
#   docs/benchmarks.md               the table (medians, min..max, qksmtp/Postfix ratio)
# Run as root, ~15 min with the defaults. Everything stays on 127.0.0.0/8.
#   RUNS=5 scripts/bench.sh            more runs
#   scripts/bench.sh --phases paced    extra arguments go to bench.py
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH_DIR:-$(cd ../shared/bench && pwd)}
cargo build --release
bash "$BENCH/install-peers.sh"
mkdir -p docs/bench
out=docs/bench/results-$(date -u +%Y%m%d-%H%M%S).json
python3 "$BENCH/bench.py" --adapter "$BENCH/adapters/postfix.sh" --adapter "$PWD/scripts/bench/qksmtp.sh" \
    --runs "${RUNS:-3}" --out "$out" "$@"
# The table replaces the file; the "status page" section (scripts/bench/status_page.py and
# status_live.py, measured by hand) is kept.
kept=$(sed -n '/^## status page/,$p' docs/benchmarks.md 2>/dev/null || true)
python3 scripts/bench/table.py "$out" > docs/benchmarks.md
if [ -n "$kept" ]; then printf '\n%s\n' "$kept" >> docs/benchmarks.md; fi
echo "wrote $out and docs/benchmarks.md"
