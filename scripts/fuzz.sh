#!/usr/bin/env bash
# Runs the fuzz targets under fuzz/ for SECONDS each (default 30), one after the other, with
# cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1 lets it pass its -Z flags), starting
# from the committed seeds in fuzz/seeds/TARGET. Exits non-zero on the first crash; the
# crashing input is left in fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh                 # every target, 30 s each
#   scripts/fuzz.sh 600 data reply  # 10 minutes each for two targets
#   FUZZ_SEED=1 scripts/fuzz.sh 30  # what CI runs: the same mutations every time
#
# With FUZZ_SEED set, libFuzzer starts from that seed, so a run from the committed seeds does
# (nearly: it stops on time, not on a count) the same thing on every machine and a failure in
# CI shows up again with the same command. Without it every run explores something new.
# Needs cargo-fuzz (`cargo install cargo-fuzz`, installed here when missing). Prints one
# summary line per target: executions and seconds (libFuzzer's own figures).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(command reply data envelope ini)

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="logs/$t.log"
  echo "fuzz: $t for ${seconds}s (log: fuzz/$log)"
  seed=(); [ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")
  if ! cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- "${seed[@]}" -max_total_time="$seconds" \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz: $t ok: ${runs:-?} executions in ${seconds}s"
done
