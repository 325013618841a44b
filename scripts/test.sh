#!/usr/bin/env bash
# Runs every test of the workspace: unit, actor, fuzz and the black-box tests over real
# rudderd processes. Installs what a fresh machine lacks first. Extra arguments go to
# `cargo nextest run` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
rudder_ensure_deps
rudder_ensure_nextest
rudder_ensure_kubectl
rudder_ensure_python_client
rudder_ensure_prometheus
rudder_ensure_chromium
# The black-box tests start the rudderd binary, which `nextest run` alone does not build.
# `--all-targets`, not `--bins`: built together with the tests, the binaries share their
# dependency features (dev-dependencies unify some), so RocksDB's C++ is compiled once.
cargo build --workspace --all-targets --locked
cargo nextest run --workspace --locked --no-fail-fast "$@"
