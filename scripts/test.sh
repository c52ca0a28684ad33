#!/bin/sh
# README command two: set-up, build, a short fuzzing run, then the whole
# test suite through ctest.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
# The decoders under libFuzzer first (a short run; FUZZ_SECONDS to change),
# then the test suite, whose summary is the last thing printed.
sh scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
cd build
ctest --output-on-failure -j"${JOBS:-2}" --timeout 600
