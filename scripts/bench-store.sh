#!/usr/bin/env bash
# Benchmarks Rudder's replicated store against etcd, side by side on 127.0.0.1: installs
# etcd (Debian package etcd-server) if `etcd` is missing, builds release, and runs
# bench-store (see tests/src/bin/bench-store.rs). Arguments go to bench-store, e.g.
#   scripts/bench-store.sh --ops 5000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
rudder_ensure_deps

rudder_ensure_command etcd etcd-server

cargo build --release -q -p rudder -p rudder-tests

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="./$target_dir" ;;
esac
exec "$target_dir/release/bench-store" "$@"
