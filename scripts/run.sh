#!/usr/bin/env bash
# Starts a working one-node Rudder cluster: `rudderd` with no flags (both roles, data under
# ./.rudder, bus on 127.0.0.1:7946). Extra arguments go to rudderd.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
rudder_ensure_deps
# The dev profile builds dependencies optimised (see Cargo.toml) and shares its cache
# with scripts/test.sh.
# The same build as the tests (`scripts/test.sh`), so that running both compiles RocksDB
# once: building only the binaries selects other dependency features.
cargo build --workspace --all-targets --locked -q
exec "${CARGO_TARGET_DIR:-target}"/debug/rudderd "$@"
