#!/bin/sh
# README command one: set-up, build, then the demo (a tree of local contexts).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
exec ./build/samples/demo/mitosis-demo "$@"
