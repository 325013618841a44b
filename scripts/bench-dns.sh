#!/usr/bin/env bash
# Benchmarks the cluster DNS (the `dns` actor) against dnsmasq serving the same names,
# side by side on 127.0.0.1: installs dnsmasq (Debian package dnsmasq-base) if missing,
# builds release, and runs bench-dns (see tests/src/bin/bench-dns.rs); `--from-pod` runs the
# client in a pod (needs root and Docker).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
rudder_ensure_deps

if ! command -v dnsmasq >/dev/null 2>&1; then
  echo "installing: dnsmasq-base" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dnsmasq-base >/dev/null
fi

cargo build --release -q -p rudder -p rudder-tests

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="./$target_dir" ;;
esac
RUDDERD_BIN="$target_dir/release/rudderd" RUDDERCTL_BIN="$target_dir/release/rudderctl" \
  exec "$target_dir/release/bench-dns" "$@"
