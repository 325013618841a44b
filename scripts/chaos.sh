#!/usr/bin/env bash
# All five chaos scenarios of issue 9, in one command:
#   1, 2, 5  the `scenario*` tests of tests/tests/chaos.rs (local rudderd processes)
#   3, 4     target/debug/chaos-multihost against the multi-host cluster on Docker
#            (scripts/cluster.sh up before, scripts/cluster.sh down after, also on failure)
#
#   scripts/chaos.sh            everything
#   scripts/chaos.sh local      scenarios 1, 2, 5 only
#   scripts/chaos.sh multihost  scenarios 3, 4 only
#
# Set RUDDER_KEEP_CLUSTER=1 to leave the Docker cluster running afterwards.
# Exits non-zero when any scenario fails; every scenario runs either way.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
rudder_ensure_deps || exit 1
rudder_ensure_nextest || exit 1
rudder_ensure_kubectl || exit 1
TARGET=${CARGO_TARGET_DIR:-target}
which=${1:-all}
failed=()

echo "== building (cargo build --workspace --bins)"
cargo build -q --workspace --bins || exit 1

if [[ $which == all || $which == local ]]; then
  echo "== scenarios 1, 2, 5 (tests/tests/chaos.rs)"
  if [[ ! -f tests/tests/chaos.rs ]]; then
    echo "tests/tests/chaos.rs is missing: scenarios 1, 2, 5 cannot run" >&2
    failed+=("scenarios 1, 2, 5 (missing)")
  elif ! cargo nextest run -p rudder-tests --test chaos -E 'test(/^scenario/)' \
    --no-fail-fast --no-capture; then
    failed+=("scenarios 1, 2, 5")
  fi
fi

if [[ $which == all || $which == multihost ]]; then
  echo "== scenarios 3, 4 (multi-host cluster on Docker)"
  if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
    echo "!!! no Docker engine: scenarios 3 and 4 cannot run !!!" >&2
    failed+=("scenarios 3, 4 (no Docker)")
  else
    teardown() { [[ ${RUDDER_KEEP_CLUSTER:-} == 1 ]] || scripts/cluster.sh down; }
    trap teardown EXIT
    # A cluster left by an interrupted run starts from scratch.
    scripts/cluster.sh down
    if ! scripts/cluster.sh up; then
      failed+=("scenarios 3, 4 (cluster did not start)")
    elif ! "$TARGET/debug/chaos-multihost" all; then
      failed+=("scenarios 3, 4")
    fi
  fi
fi

if ((${#failed[@]})); then
  echo "== FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "== all chaos scenarios passed"
