#!/bin/sh
# README command two: set-up, build, a short fuzzing run, the whole test
# suite through ctest, then the unit, integration and cluster suites under
# AddressSanitizer + LeakSanitizer (+ UBSan in the library), and the unit
# and integration suites under ThreadSanitizer (scripts/sanitize.sh;
# docs/architecture.md, "Sanitizers"). SANITIZE=0 leaves the sanitizer runs
# out (a quicker local run; CI runs them).
#
# The two sanitizer trees are built in the background under SCHED_IDLE
# (chrt -i 0: it runs only on a CPU nothing else wants) while the fuzzers
# and the normal suite run: the integration tests run one at a time and
# leave most of the CPU idle. (nice 19 was not enough: on a 2-vCPU VM the
# cluster sample's bundle upload to 4 hosts then outlasted its 10 s.) Each tree's
# suite then runs once its build is done. Build logs:
# build/sanitize-{address,thread}-build.log.
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = --sanitizer-builds ]; then
  # The background part: both trees, one after the other.
  for kind in address thread; do
    extra=""
    [ "$kind" = address ] && extra=--cluster
    st=0
    # shellcheck disable=SC2086
    chrt -i 0 nice -n 19 sh scripts/sanitize.sh "$kind" $extra --build-only \
      > "build/sanitize-$kind-build.log" 2>&1 || st=$?
    echo "$st" > "build/sanitize-$kind.status"
  done
  exit 0
fi
t0=$(date +%s)
# Prints how long the run has taken at the end of each stage (CI has a
# time budget; this says where it goes).
stage() { echo "test: $1 done at $(( $(date +%s) - t0 )) s"; }
sh scripts/setup.sh
stage set-up
sanitize=${SANITIZE:-1}
if [ "$sanitize" != 0 ]; then
  rm -f build/sanitize-address.status build/sanitize-thread.status
  # A process group of its own, stopped with this script however it ends.
  setsid sh scripts/test.sh --sanitizer-builds &
  builds=$!
  trap 'kill -- -"$builds" 2>/dev/null || true' EXIT
fi
# Waits for the background build of sanitizer tree $1; fails with its log.
built() {
  while [ ! -f "build/sanitize-$1.status" ]; do sleep 2; done
  st=$(cat "build/sanitize-$1.status")
  if [ "$st" != 0 ]; then
    echo "test: the $1 sanitizer build failed ($st):" >&2
    tail -60 "build/sanitize-$1-build.log" >&2
    exit 1
  fi
}
# The decoders under libFuzzer first (a short run; FUZZ_SECONDS to change).
sh scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
stage fuzzing
(cd build && ctest --output-on-failure -j"${JOBS:-2}" --timeout 600)
stage "the suite"
if [ "$sanitize" != 0 ]; then
  built address
  stage "the address sanitizer build"
  sh scripts/sanitize.sh address --cluster
  stage "the address sanitizer suite"
  built thread
  stage "the thread sanitizer build"
  sh scripts/sanitize.sh thread
  stage "the thread sanitizer suite"
fi
