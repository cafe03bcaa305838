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
# The workloads of issue 20 (each writes docs/bench/<workload>-<date>.json and its own section of
# docs/benchmarks.md, which the one-destination table keeps):
#   scripts/bench.sh newsletter [ARGS]  10,000 messages over 500 domains through dnsmasq, both relays
#   scripts/bench.sh mixed [ARGS]       the same with 20% of the domains unhealthy
#   scripts/bench.sh largequeue [ARGS]  200,000 messages queued for a dead destination (qksmtp only)
#   (ARGS go to scripts/bench/newsletter.py or scripts/bench/largequeue.py: --help there)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH_DIR:-$(cd ../shared/bench && pwd)}
cargo build --release
bash "$BENCH/install-peers.sh"
case "${1:-}" in
newsletter|mixed)
    command -v dnsmasq >/dev/null || apt-get install -y dnsmasq-base
    exec python3 scripts/bench/newsletter.py "$@" ;;
largequeue)
    shift; exec python3 scripts/bench/largequeue.py "$@" ;;
esac
mkdir -p docs/bench
out=docs/bench/results-$(date -u +%Y%m%d-%H%M%S).json
python3 "$BENCH/bench.py" --adapter "$BENCH/adapters/postfix.sh" --adapter "$PWD/scripts/bench/qksmtp.sh" \
    --runs "${RUNS:-3}" --out "$out" "$@"
# No machine paths in the recorded results: the adapters relative to the repository.
sed -i "s#$PWD/##g; s#$BENCH/#../shared/bench/#g" "$out"
keep=$(python3 scripts/bench/mdsection.py keep docs/benchmarks.md 2>/dev/null || true)
{ python3 scripts/bench/table.py "$out"; printf '%s\n' "$keep"; } > docs/benchmarks.md.new
mv docs/benchmarks.md.new docs/benchmarks.md
echo "wrote $out and docs/benchmarks.md"
