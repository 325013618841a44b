#!/bin/sh
# Entry point of a node container of the multi-host cluster (scripts/cluster.sh puts it in
# the image as /usr/local/bin/rudder-node); its arguments go to rudderd.
#
# With RUDDER_DOCKERD=1 (the workers) the node first starts its own container engine, as
# a machine has one: the cgroup hierarchies are mounted writable (the engine makes a
# cgroup per container), dockerd starts with vfs storage (it works on any file system
# under /var/lib/docker) and its log in /var/log/dockerd.log, and the pod images are
# built into it (no registry is reachable). Then rudderd replaces this shell.
set -eu

writable_cgroups() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    # cgroup v2 in a private cgroup namespace: writable, and this container's processes
    # moved into a leaf so the root can delegate its controllers to the engine.
    mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
    mkdir -p /sys/fs/cgroup/init
    while read -r pid; do
      echo "$pid" >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    done </sys/fs/cgroup/cgroup.procs
    for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
      echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    done
    return
  fi
  # cgroup v1: each hierarchy mounted read-only is mounted again, writable.
  for dir in /sys/fs/cgroup/*; do
    [ -d "$dir" ] && [ ! -L "$dir" ] || continue
    if mkdir "$dir/rudder-probe" 2>/dev/null; then
      rmdir "$dir/rudder-probe"
      continue
    fi
    name=$(basename "$dir")
    opts=$name
    [ "$name" = systemd ] && opts=none,name=systemd
    umount "$dir"
    mount -t cgroup -o "$opts" cgroup "$dir"
  done
}

if [ "${RUDDER_DOCKERD:-0}" = 1 ]; then
  writable_cgroups
  rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
  dockerd --storage-driver vfs >/var/log/dockerd.log 2>&1 &
  tries=0
  until docker info >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 60 ]; then
      echo "rudder-node: the container engine did not start:" >&2
      tail -20 /var/log/dockerd.log >&2
      exit 1
    fi
    sleep 1
  done
  rudderctl images build >/dev/null
fi
exec rudderd "$@"
