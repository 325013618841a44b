#!/usr/bin/env bash
# The benchmark record: runs every benchmark program (tests/src/bin/bench-*.rs) in a quick
# mode, a few minutes in all, and appends one line per figure (date, commit, machine,
# figure, value, baseline, ratio, unit; see tests/src/bench_record.rs) to
# docs/bench-record.tsv, so that a regression shows up in review as a changed line.
#
#   scripts/bench.sh [--record FILE] [--only bench-a,bench-b]
#
# --record FILE appends there instead (CI uses a scratch copy); --only runs some programs.
# Installs what the baselines need (etcd-server, dnsmasq-base, the project's kubectl),
# builds release, and prints this run's figures at the end. A benchmark that fails or
# records nothing is reported loudly and the others still run; the exit status is then
# non-zero. Run it on an otherwise idle machine: the machine column carries the 1-minute
# load average at the start, so a contended run shows.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# The quick mode of each program: one line per run, the program then its arguments.
# Every tests/src/bin/bench-*.rs needs at least one line here (checked below).
QUICK_MODES='
bench-store       --ops 3000
bench-bus
bench-stream
bench-api         --seconds 3 --big 2000
bench-scheduler   --nodes 1000 --pods 2000 --anti-pods 1000
bench-deployment  --nodes 200 --replicas 1000
bench-daemonset   --nodes 1000
bench-podstart
bench-footprint
bench-footprint-scale --pods 1000 --nodes 100
bench-portforward
bench-proxy
bench-dns
bench-dns         --from-pod
'
# Programs that run pods on the node's Docker engine.
NEEDS_DOCKER=" bench-podstart bench-footprint bench-portforward bench-proxy "
# Longest any one program may take (each prints its progress).
PROGRAM_TIMEOUT=900

record=docs/bench-record.tsv
only=""
while (($#)); do
  case $1 in
    --record) record=${2:?--record FILE}; shift 2 ;;
    --only) only=",${2:?--only bench-a,bench-b},"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

missing=()
for f in tests/src/bin/bench-*.rs; do
  name=$(basename "$f" .rs)
  grep -qE "^$name( |$)" <<<"$QUICK_MODES" || missing+=("$name")
done
if ((${#missing[@]})); then
  echo "bench.sh: no quick mode for ${missing[*]}: add a line to QUICK_MODES" >&2
  exit 2
fi

rudder_ensure_deps
rudder_ensure_command etcd etcd-server
rudder_ensure_command dnsmasq dnsmasq-base
rudder_ensure_kubectl

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$PWD/$target_dir" ;;
esac
bins=()
for f in tests/src/bin/bench-*.rs; do bins+=(--bin "$(basename "$f" .rs)"); done
build_start=$SECONDS
cargo build --release --locked -p rudder --bin rudderd --bin rudderctl -p rudder-tests "${bins[@]}"
echo "bench.sh: release build took $((SECONDS - build_start)) s"

export RUDDERD_BIN="$target_dir/release/rudderd"
export RUDDERCTL_BIN="$target_dir/release/rudderctl"
export RUDDER_BENCH_RECORD
RUDDER_BENCH_RECORD=$(realpath -m "$record")
mkdir -p "$(dirname "$RUDDER_BENCH_RECORD")"
touch "$RUDDER_BENCH_RECORD"
# Let the load of the build (or of CI's tests) fade first, 90 s at most, so that the
# load average recorded says whether something else runs.
for _ in $(seq 18); do
  awk -v cores="$(nproc)" '{ exit !($1 > cores / 2) }' /proc/loadavg || break
  sleep 5
done
# What every line of this run shares: its start, and the load then.
export RUDDER_BENCH_DATE RUDDER_BENCH_LOAD1
RUDDER_BENCH_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
RUDDER_BENCH_LOAD1=$(cut -d' ' -f1 /proc/loadavg)
first_line=$(($(wc -l <"$RUDDER_BENCH_RECORD") + 1))
echo "bench.sh: run of $RUDDER_BENCH_DATE on $(git rev-parse --short=12 HEAD), $(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); figures to $RUDDER_BENCH_RECORD"

# Figure lines in the record (the header is not one).
figures() { grep -vc $'^date\t' "$RUDDER_BENCH_RECORD" || true; }
docker_ok=true
docker info >/dev/null 2>&1 || docker_ok=false
logs=$(mktemp -d -t rudder-bench.XXXXXX)
failed=()
summary=()
while read -r name args; do
  [[ -n $name ]] || continue
  [[ -z $only || $only == *",$name,"* ]] || continue
  label="$name${args:+ $args}"
  if [[ $NEEDS_DOCKER == *" $name "* || $args == *--from-pod* ]] && ! $docker_ok; then
    echo "!!!!! bench.sh: $label SKIPPED: no Docker engine answers 'docker info'" >&2
    failed+=("$label (skipped: no Docker)")
    continue
  fi
  echo
  echo "===== $label"
  before=$(figures)
  start=$SECONDS
  log="$logs/${name}${args:+-${args//[^a-z0-9]/}}.log"
  status=0
  # shellcheck disable=SC2086 # the arguments are words
  timeout --kill-after=30 "$PROGRAM_TIMEOUT" "$target_dir/release/$name" $args </dev/null 2>&1 | tee "$log" ||
    status=$?
  took=$((SECONDS - start))
  added=$(($(figures) - before))
  summary+=("$(printf '%-44s %4d s  %3d figures  exit %d' "$label" "$took" "$added" "$status")")
  if ((status != 0 || added == 0)); then
    echo "!!!!! bench.sh: $label FAILED (exit $status, $added figures recorded; log $log)" >&2
    failed+=("$label")
  fi
done <<<"$QUICK_MODES"

echo
echo "===== bench.sh: programs (run of $RUDDER_BENCH_DATE)"
printf '%s\n' "${summary[@]}"
echo
echo "===== bench.sh: figures of this run (ratio = value / baseline; 'last' = the figure's"
echo "      previous value in the record; throughput: higher is better, p50/p99/time/rss: lower)"
awk -F'\t' -v first="$first_line" '
  NR == 1 && $1 == "date" { next }
  NR < first { last[$4] = $5; next }
  {
    printf "%-44s %10s %10s %8s  %-9s last %s\n", $4, $5, $6, $7, $8, ($4 in last ? last[$4] : "-")
  }' "$RUDDER_BENCH_RECORD"
if ((${#failed[@]})); then
  echo
  echo "!!!!! bench.sh: ${#failed[@]} benchmark(s) FAILED or recorded nothing:" >&2
  printf '!!!!!   %s\n' "${failed[@]}" >&2
  exit 1
fi
