#!/bin/sh
# README command two: set-up, build, a short fuzzing run, the whole test
# suite through ctest, then the unit, integration and cluster suites under
# AddressSanitizer + UBSan + LeakSanitizer, and the unit and integration
# suites under ThreadSanitizer (scripts/sanitize.sh; docs/architecture.md,
# "Sanitizers"). SANITIZE=0 leaves the sanitizer runs out (a quicker local
# run; CI runs them).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
# The decoders under libFuzzer first (a short run; FUZZ_SECONDS to change).
sh scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
(cd build && ctest --output-on-failure -j"${JOBS:-2}" --timeout 600)
if [ "${SANITIZE:-1}" != 0 ]; then
  sh scripts/sanitize.sh address --cluster
  sh scripts/sanitize.sh thread
fi
