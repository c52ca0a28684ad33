#!/bin/sh
# Installs the Debian 12 packages mitosis needs (only those missing), then
# configures and builds ./build. Safe to run again.
set -eu
cd "$(dirname "$0")/.."
pkgs="g++ cmake make ccache libcaf-dev libssh-dev libboost-serialization-dev libspdlog-dev libfmt-dev catch2 openssh-server tcsh openssh-client sudo opendoas busybox-static tar gzip iproute2 procps clang libclang-rt-14-dev podman runc"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  if [ "$(id -u)" != 0 ]; then echo "setup: need root to install:$missing" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends $missing
fi
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
cmake -S . -B build -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} $launcher >/dev/null
cmake --build build -j"${JOBS:-2}"
