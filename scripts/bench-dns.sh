#!/usr/bin/env bash
# Benchmarks the cluster DNS (the `dns` actor) against dnsmasq serving the same names,
# side by side on 127.0.0.1: installs dnsmasq (Debian package dnsmasq-base) if missing,
# builds release, and runs bench-dns (see tests/src/bin/bench-dns.rs); `--from-pod` runs the
# client in a pod (needs root and Docker).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
rudder_ensure_deps

rudder_ensure_command dnsmasq dnsmasq-base

cargo build --release -q -p rudder -p rudder-tests

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="./$target_dir" ;;
esac
RUDDERD_BIN="$target_dir/release/rudderd" RUDDERCTL_BIN="$target_dir/release/rudderctl" \
  exec "$target_dir/release/bench-dns" "$@"
