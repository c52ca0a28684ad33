#!/bin/sh
# Installs the built tree into a temporary prefix, builds tests/install as an
# outside project against it with find_package(mitosis), and runs it.
# usage: run.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
cmake -S "$src" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" $launcher >/dev/null
cmake --build "$work/build" -j2 >/dev/null
out=$("$work/build/outside")
echo "$out"
[ "$out" = "square(12) = 144 in another process" ]
