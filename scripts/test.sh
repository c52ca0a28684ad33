#!/bin/sh
# README command two: set-up, build, then the whole test suite through ctest.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
cd build
ctest --output-on-failure -j"${JOBS:-2}" --timeout 600
