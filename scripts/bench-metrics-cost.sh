#!/usr/bin/env bash
# What recording metrics costs (the observability issue: with metrics on, the bus and API
# benchmarks lose at most 5% of their throughput): runs bench-bus and bench-api with every
# node's metrics off, then on (`RUDDER_METRICS`, i.e. `[metrics] enabled`), alternating,
# for a few rounds, and prints each throughput figure with metrics on next to off.
#
#   scripts/bench-metrics-cost.sh [--rounds N]     (default 2)
#
# Builds release. Run it on an otherwise idle machine: the two settings take turns, so a
# disturbance lands in one round of one setting, not in all of one. A measurement, not a
# test: it exits 0 whether or not the target is met, non-zero only when it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

rounds=2
while (($#)); do
  case $1 in
    --rounds) rounds=${2:?--rounds N}; shift 2 ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-metrics-cost.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

rudder_ensure_deps
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$PWD/$target_dir" ;;
esac
cargo build --release --locked -p rudder --bin rudderd -p rudder-tests --bin bench-bus --bin bench-api
export RUDDERD_BIN="$target_dir/release/rudderd"

out=$(mktemp -d -t rudder-metrics-cost.XXXXXX)
for round in $(seq "$rounds"); do
  for metrics in off on; do
    for program in "bench-bus" "bench-api --seconds 3 --big 2000"; do
      echo "===== round $round, metrics $metrics: $program"
      # shellcheck disable=SC2086 # the program and its arguments are words
      RUDDER_METRICS=$metrics RUDDER_BENCH_RECORD="$out/$metrics.tsv" \
        "$target_dir/release/"$program </dev/null >"$out/round$round-$metrics-${program%% *}.log" 2>&1 || {
        echo "bench-metrics-cost.sh: $program with metrics $metrics failed; log:" >&2
        tail -30 "$out/round$round-$metrics-${program%% *}.log" >&2
        exit 1
      }
    done
  done
done

echo
echo "===== what metrics cost: mean throughput over $rounds rounds (target: on >= 0.95 x off)"
printf '%-32s %14s %14s %8s  %s\n' figure "metrics off" "metrics on" "on/off" verdict
awk -F'\t' '
  FNR == 1 && $1 == "date" { next }
  $4 ~ /\.throughput$/ {
    setting = (FILENAME ~ /\/on\.tsv$/) ? "on" : "off"
    sum[$4, setting] += $5; n[$4, setting]++; unit[$4] = $8; figures[$4] = 1
  }
  END {
    for (f in figures) {
      if (!n[f, "off"] || !n[f, "on"]) continue
      off = sum[f, "off"] / n[f, "off"]; on = sum[f, "on"] / n[f, "on"]
      ratio = off > 0 ? on / off : 0
      printf "%-32s %14.1f %14.1f %8.3f  %s (%s)\n", f, off, on, ratio, (ratio >= 0.95 ? "met" : "NOT met"), unit[f]
    }
  }' "$out/off.tsv" "$out/on.tsv" | sort
echo "(logs and per-run figures in $out)"
