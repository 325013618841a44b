#!/usr/bin/env bash
# A multi-host Rudder cluster on this machine's Docker engine: 3 control-plane nodes and
# 2 workers, each a container of the locally built image rudder/rudderd:dev.
#
#   scripts/cluster.sh up        build what is missing, start the cluster, wait until ready
#   scripts/cluster.sh down      remove the containers, networks, the workers' pod containers,
#                                volumes and networks, and the state directory
#   scripts/cluster.sh status    containers, store group and nodes
#   scripts/cluster.sh partition NODE   disconnect NODE from the cluster network
#   scripts/cluster.sh heal NODE        reconnect it (same address)
#
# Layout (configs in cluster-config/multihost/):
# - network rudder-mh (10.213.0.0/24): the bus. mh-cp-N at 10.213.0.1N, mh-worker-N at
#   10.213.0.2N. Partitions disconnect a container from this network only.
# - network rudder-mh-api (10.213.1.0/24): control-plane nodes only; each one's API port
#   6443 is published on 127.0.0.1:1644N, so the API of a partitioned node stays reachable
#   from the host (its writes must fail there, not be unreachable).
# - each worker runs its own container engine (dockerd, started by the image's entry point
#   rudder-node before rudderd), so its pods live inside that host: on its bridge network
#   rudder-mh-worker-N (the node's pod CIDR), in its network namespace, behind its packet
#   filter. Pod traffic between workers crosses rudder-mh, routed host-gw style by each
#   worker's netroute actor; Services and cluster DNS work through each worker's proxy.
#   The engine's data is on the host under $STATE/docker-mh-worker-N (vfs storage).
#   Worker containers get the capabilities a container engine needs (all this machine
#   grants, seccomp and AppArmor unconfined, every device): not --privileged, which the
#   machine's own engine may refuse when it runs with a reduced capability set itself.
# - state on the host under $RUDDER_MH_DIR (default .rudder/multihost): the cluster token
#   (mounted into the control-plane nodes only), each worker's node key
#   (mh-worker-N.key, from `rudderctl node-key`: workers never hold the token),
#   each node's data dir (mounted at /var/lib/rudder), per-node kubeconfigs
#   (kubeconfig-mh-cp-N, API via 127.0.0.1:1644N), `kubeconfig` (= mh-cp-1's) and
#   `client.toml` for rudderctl and the Rust client (bus of mh-cp-1, reachable from the
#   host on the rudder-mh bridge).
#
# Everything is idempotent: `up` on a running cluster only waits for it; `down` on none
# does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

IMAGE=rudder/rudderd:dev
NET=rudder-mh
NET_SUBNET=10.213.0.0/24
API_NET=rudder-mh-api
API_SUBNET=10.213.1.0/24
CLUSTER_ID=rudder-multihost
CPS=(mh-cp-1 mh-cp-2 mh-cp-3)
WORKERS=(mh-worker-1 mh-worker-2)
STATE=${RUDDER_MH_DIR:-$ROOT/.rudder/multihost}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/debug
# Every container, network and directory this script creates carries this label.
LABEL=io.rudder.multihost=1

log() { echo "cluster: $*" >&2; }

# The bus address of a node (10.213.0.1N / 10.213.0.2N).
bus_ip() {
  case $1 in
    mh-cp-*) echo "10.213.0.1${1#mh-cp-}" ;;
    mh-worker-*) echo "10.213.0.2${1#mh-worker-}" ;;
    *) echo "unknown node $1" >&2; return 1 ;;
  esac
}
api_ip() { echo "10.213.1.1${1#mh-cp-}"; }
api_port() { echo "1644${1#mh-cp-}"; }
config_of() { echo "cluster-config/multihost/${1#mh-}.toml"; }

build_binaries() {
  # RUDDER_MH_BIN: a directory that already holds rudderd and rudderctl (the tests pass
  # their own build's, which a second cargo build could only slow down).
  if [[ -n ${RUDDER_MH_BIN:-} ]]; then
    BIN=$RUDDER_MH_BIN
    return
  fi
  source scripts/lib.sh
  rudder_ensure_deps
  log "building rudderd and rudderctl (cargo build --workspace --bins)"
  cargo build -q --workspace --bins
}

# Host programs copied into the image with the shared libraries they load: a worker's
# container engine (dockerd starts containerd; runc runs the containers; docker-init and
# docker-proxy are its helpers; the docker CLI is for people and tests), iptables (nft
# back end, as the engine and the proxy use it) and iproute2's ip and bridge (netroute's
# routes and VXLAN tunnel).
ENGINE_PROGRAMS=(/usr/sbin/dockerd /usr/bin/containerd /usr/bin/containerd-shim-runc-v2
  /usr/sbin/runc /usr/bin/docker-init /usr/sbin/docker-proxy /usr/bin/docker
  /usr/sbin/xtables-nft-multi /bin/ip /usr/sbin/bridge)

# Copies program $1 to the same path under root $2, with the libraries ldd lists.
copy_program() {
  local prog=$1 root=$2 lib
  mkdir -p "$root$(dirname "$prog")"
  cp -L "$prog" "$root$prog"
  # (A static program has no libraries: ldd and grep fail, which is fine.)
  { ldd "$prog" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

# The image: FROM scratch with rudderd, rudderctl, a container engine (for the workers),
# the shared libraries ldd lists, the loader and a static busybox (a shell for `docker
# exec`, and the kubelet's fallback for building its sandbox image). Built by `docker
# import` of that root file system: no registry and no builder needed. Rebuilt only when
# the binaries or the entry point change.
build_image() {
  local prog
  for prog in "${ENGINE_PROGRAMS[@]}"; do
    [[ -x $prog ]] || { echo "cluster: $prog is missing (Debian: docker.io, iptables, iproute2)" >&2; exit 1; }
  done
  local hash
  hash=$(cat "$BIN/rudderd" "$BIN/rudderctl" scripts/rudder-node.sh | sha256sum | cut -c1-16)
  if [[ $(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" 2>/dev/null |
    grep '^RUDDER_BUILD=' || true) == "RUDDER_BUILD=$hash" ]]; then
    return
  fi
  log "building image $IMAGE ($hash)"
  local root
  root=$(mktemp -d)
  mkdir -p "$root"/{usr/local/bin,bin,tmp,etc/rudder,var/lib/rudder}
  chmod 1777 "$root/tmp"
  mkdir -p "$root"/{var/log,var/run,var/lib/docker,usr/sbin}
  for b in rudderd rudderctl; do
    # Debug info is most of a debug binary; the image does not need it.
    objcopy --strip-debug "$BIN/$b" "$root/usr/local/bin/$b"
    ldd "$BIN/$b" | grep -o '/[^ ]*' | while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
  for prog in "${ENGINE_PROGRAMS[@]}"; do copy_program "$prog" "$root"; done
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -s xtables-nft-multi "$root/usr/sbin/$t"
  done
  mkdir -p "$root/usr/lib/x86_64-linux-gnu"
  cp -r /usr/lib/x86_64-linux-gnu/xtables "$root/usr/lib/x86_64-linux-gnu/"
  install -m 755 scripts/rudder-node.sh "$root/usr/local/bin/rudder-node"
  cp /bin/busybox "$root/bin/busybox"
  for applet in sh ls cat ps nc ping sleep wget mount umount mkdir rmdir basename; do
    ln -s busybox "$root/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/bin:/usr/sbin:/usr/bin' \
    --change "ENV RUDDER_BUILD=$hash" \
    --change 'ENV RUST_LOG=info' \
    --change 'WORKDIR /var/lib/rudder' \
    --change 'ENTRYPOINT ["/usr/local/bin/rudder-node"]' \
    - "$IMAGE" >/dev/null
  rm -rf "$root"
}

ensure_network() {
  local name=$1 subnet=$2
  if ! docker network inspect "$name" >/dev/null 2>&1; then
    log "creating network $name ($subnet)"
    docker network create --driver bridge --subnet "$subnet" --label "$LABEL" "$name" >/dev/null
  fi
}

running() { [[ $(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

# What a worker's container engine needs: every capability but CAP_SYS_RESOURCE and
# CAP_MAC_OVERRIDE, which a machine whose own engine runs in a container may not hold to
# grant (and the engine does not need).
ENGINE_CAPS=()
for cap in CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP \
  LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER \
  SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE \
  SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_ADMIN SYSLOG \
  WAKE_ALARM BLOCK_SUSPEND AUDIT_READ; do
  ENGINE_CAPS+=(--cap-add "$cap")
done

start_node() {
  local node=$1
  if docker inspect "$node" >/dev/null 2>&1; then
    if [[ $(docker inspect -f '{{.Image}}' "$node") == "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]]; then
      running "$node" || docker start "$node" >/dev/null
      return
    fi
    # Built from an older image: replaced (its data dir on the host stays).
    log "recreating $node from the new image"
    docker rm -f "$node" >/dev/null
  fi
  mkdir -p "$STATE/$node"
  local args=(
    --name "$node" --hostname "$node" --label "$LABEL"
    -v "$ROOT/cluster-config/multihost:/etc/rudder/multihost:ro"
    -v "$STATE/$node:/var/lib/rudder"
  )
  case $node in
    mh-cp-*)
      # The control plane holds the cluster token; a worker only its own node key.
      args+=(-v "$STATE/token:/etc/rudder/token:ro")
      # Created on the API network (which carries the published port), then joined to
      # the bus network before it starts.
      args+=(--network "$API_NET" --ip "$(api_ip "$node")"
        -p "127.0.0.1:$(api_port "$node"):6443")
      ;;
    mh-worker-*)
      mkdir -p "$STATE/docker-$node"
      args+=(-v "$STATE/$node.key:/etc/rudder/node.key:ro"
        --network "$NET" --ip "$(bus_ip "$node")"
        -v "$STATE/docker-$node:/var/lib/docker"
        -e RUDDER_DOCKERD=1 --init
        "${ENGINE_CAPS[@]}" --device-cgroup-rule 'a *:* rwm'
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined
        --security-opt systempaths=unconfined)
      ;;
  esac
  docker create "${args[@]}" "$IMAGE" --config "/etc/rudder/multihost/$(basename "$(config_of "$node")")" >/dev/null
  if [[ $node == mh-cp-* ]]; then
    docker network connect --ip "$(bus_ip "$node")" "$NET" "$node"
  fi
  docker start "$node" >/dev/null
}

write_client_config() {
  cat >"$STATE/client.toml" <<EOF
bus_address = "$(bus_ip mh-cp-1):7946"
cluster_id = "$CLUSTER_ID"
token_file = "token"
EOF
}

write_client_files() {
  write_client_config
  local node
  for node in "${CPS[@]}"; do
    [[ -f $STATE/$node/kubeconfig ]] || return 1
    sed "s#https://127.0.0.1:6443#https://127.0.0.1:$(api_port "$node")#" \
      "$STATE/$node/kubeconfig" >"$STATE/kubeconfig-$node"
    chmod 600 "$STATE/kubeconfig-$node"
  done
  cp "$STATE/kubeconfig-mh-cp-1" "$STATE/kubeconfig"
}

rudderctl() { "$BIN/rudderctl" --client-config "$STATE/client.toml" "$@"; }

# Ready: kubeconfigs written, three store voters following one leader, both workers Ready.
wait_ready() {
  local deadline=$((SECONDS + ${RUDDER_MH_TIMEOUT:-180}))
  until write_client_files 2>/dev/null; do
    ((SECONDS < deadline)) || { log "no kubeconfig from the control plane"; return 1; }
    sleep 1
  done
  local ready voters
  while ((SECONDS < deadline)); do
    ready=$(KUBECONFIG=$STATE/kubeconfig "${RUDDER_KUBECTL:-kubectl}" get nodes --no-headers 2>/dev/null |
      awk '$2 == "Ready"' | grep -c '^mh-worker-' || true)
    voters=$(rudderctl store status 2>/dev/null |
      awk '$2 == "voter" && ($3 == "Leader" || $3 == "Follower")' | wc -l)
    if [[ $ready == 2 && $voters == 3 ]]; then
      log "ready: 3 control-plane nodes, 2 workers Ready"
      return 0
    fi
    sleep 2
  done
  log "cluster not ready within the timeout"
  return 1
}

up() {
  command -v docker >/dev/null || { echo "docker not found" >&2; exit 1; }
  build_binaries
  build_image
  mkdir -p "$STATE"
  if [[ ! -s $STATE/token ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/token")
  fi
  write_client_config
  local node
  for node in "${WORKERS[@]}"; do
    # What the worker proves on the bus instead of the token (from the token, so it is
    # made again whenever the token is).
    rudderctl node-key "$node" --out "$STATE/$node.key"
  done
  ensure_network "$NET" "$NET_SUBNET"
  ensure_network "$API_NET" "$API_SUBNET"
  for node in "${CPS[@]}" "${WORKERS[@]}"; do start_node "$node"; done
  # A node left partitioned by an interrupted run is reconnected.
  for node in "${CPS[@]}" "${WORKERS[@]}"; do heal "$node"; done
  wait_ready
  cat >&2 <<EOF
cluster: use it with
  export KUBECONFIG=$STATE/kubeconfig
  export RUDDER_CLIENT_CONFIG=$STATE/client.toml
EOF
}

down() {
  local ids
  ids=$(docker ps -aq --filter "label=$LABEL")
  [[ -z $ids ]] || { log "removing node containers"; docker rm -f $ids >/dev/null; }
  local node
  # The workers' pods lived in their own engines, whose data is under $STATE.
  for net in "$NET" "$API_NET"; do
    docker network rm "$net" >/dev/null 2>&1 || true
  done
  rm -rf "$STATE"
  log "down"
}

status() {
  docker ps -a --filter "label=$LABEL" --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
  [[ -f $STATE/client.toml ]] || return 0
  echo
  rudderctl store status || true
  echo
  KUBECONFIG=$STATE/kubeconfig "${RUDDER_KUBECTL:-kubectl}" get nodes -o wide || true
}

partition() {
  local node=$1
  docker network disconnect "$NET" "$node"
  log "$node disconnected from $NET"
}

heal() {
  local node=$1
  if [[ -z $(docker inspect -f "{{with index .NetworkSettings.Networks \"$NET\"}}x{{end}}" "$node") ]]; then
    docker network connect --ip "$(bus_ip "$node")" "$NET" "$node"
    log "$node reconnected to $NET"
  fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  partition) partition "${2:?node}" ;;
  heal) heal "${2:?node}" ;;
  image) build_image ;;
  *)
    echo "usage: $0 up|down|status|partition NODE|heal NODE" >&2
    exit 2
    ;;
esac
