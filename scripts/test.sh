#!/bin/sh
# README command two: set-up, build, a short fuzzing run, the whole test
# suite through ctest, then the unit, integration and cluster suites under
# AddressSanitizer + UBSan (scripts/sanitize.sh; docs/architecture.md,
# "Sanitizers"). SANITIZE=0 leaves the sanitizer run out (a quicker local
# run; CI runs it). The ThreadSanitizer run (scripts/sanitize.sh thread)
# is not in it yet: it has not had a clean run of the whole suite.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
# The decoders under libFuzzer first (a short run; FUZZ_SECONDS to change).
sh scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
(cd build && ctest --output-on-failure -j"${JOBS:-2}" --timeout 600)
if [ "${SANITIZE:-1}" != 0 ]; then
  sh scripts/sanitize.sh address --cluster
fi
