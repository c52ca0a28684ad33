#!/bin/sh
# The test container: a real podman container made offline from a tarball
# holding a static busybox (no registry is needed), for the podman method's
# tests (tests/container/). As root.
#
#   sh scripts/container.sh up            image + a running container
#   sh scripts/container.sh down [--check] remove them; --check fails when
#                                          anything is left behind
#
# Podman needs, on the machines we test on: the runc runtime with the
# cgroupfs manager (crun refuses hosts that mount cgroups v1 and v2 side by
# side), the vfs storage driver (no overlay inside some sandboxes) and
# explicit nofile/nproc limits (setrlimit is refused otherwise). The same
# global options go to every podman command, the method's included
# (container_settings::global_args).
set -eu

name=mitosis-test
image=localhost/mitosis-bb:1
P="podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs"

die() {
  echo "container: $*" >&2
  exit 1
}

up() {
  [ "$(id -u)" = 0 ] || die "needs root"
  command -v podman >/dev/null || die "podman is not installed (scripts/setup.sh installs it)"
  command -v runc >/dev/null || die "runc is not installed (scripts/setup.sh installs it)"
  bb=/bin/busybox
  [ -x "$bb" ] || die "no static busybox at $bb (busybox-static)"
  $P rm -f "$name" >/dev/null 2>&1 || true
  if ! $P image exists "$image"; then
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/tmp" "$root/root" "$root/proc" "$root/etc"
    chmod 1777 "$root/tmp"
    cp "$bb" "$root/bin/busybox"
    for a in sh sleep cat tar gzip sha256sum head mkdir rm mv ls ps env chmod ln cp uname id; do
      ln -sf busybox "$root/bin/$a"
    done
    echo "mitosis test image" > "$root/etc/mitosis-image"
    tar -C "$root" -cf "$root.tar" .
    $P import "$root.tar" "$image" >/dev/null 2>&1 || die "podman import failed"
    rm -f "$root.tar"
  fi
  $P run -d --name "$name" --network none --ulimit nofile=1024:1024 \
    --ulimit nproc=1024:1024 "$image" /bin/sleep 100000 >/dev/null
  $P exec "$name" /bin/sh -c 'test -f /etc/mitosis-image' || die "the container does not run"
  echo "container: $name is up ($image)"
}

down() {
  $P rm -f -t 0 "$name" >/dev/null 2>&1 || true
  $P rmi -f "$image" >/dev/null 2>&1 || true
  if [ "${1:-}" = --check ]; then
    if $P container exists "$name" 2>/dev/null; then
      die "container $name is still there"
    fi
    if $P image exists "$image" 2>/dev/null; then
      die "image $image is still there"
    fi
  fi
}

case "${1:-}" in
  up) up ;;
  down) shift; down "$@" ;;
  *) echo "usage: $0 up|down [--check]" >&2; exit 64 ;;
esac
