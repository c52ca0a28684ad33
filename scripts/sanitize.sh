#!/bin/sh
# The unit and integration suites (and, with --cluster, the cluster suite)
# under a sanitizer; --build-only only builds them. $1 is "address"
# (AddressSanitizer + LeakSanitizer, and UBSan in the library's sources) or
# "thread" (ThreadSanitizer), built in ./build-asan or ./build-tsan.
#
# Every process of a test writes its reports to <build dir>/reports/
# (agents are started copies of the test program: their stderr is not the
# test's), and the run fails when any report is there, even when every
# test passed.
# ThreadSanitizer applies tests/sanitize/tsan.supp: it hides only reports
# whose racing access is inside CAF itself (see that file for why), and a
# test program that races on purpose proves races in our code still show.
set -eu
cd "$(dirname "$0")/.."
usage="usage: scripts/sanitize.sh address|thread [--cluster] [--build-only]"
kind=${1:-}
[ $# -gt 0 ] && shift
cluster=no
build_only=no
for arg in "$@"; do
  case "$arg" in
    --cluster) cluster=yes ;;
    --build-only) build_only=yes ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case "$kind" in
  address|thread) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
dir=build-asan
[ "$kind" = thread ] && dir=build-tsan
src=$(pwd)
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
# -O1 -g1: line numbers in reports, a third of the -O2 -g compile time.
cmake -S . -B "$dir" -DMITOSIS_SANITIZE="$kind" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMITOSIS_UNITY_LIBRARY=ON \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" $launcher >/dev/null
targets="mitosis_unit_tests mitosis_integration_tests mitosis-plugin-inventory"
[ "$kind" = thread ] && targets="$targets mitosis_race_on_purpose"
[ "$cluster" = yes ] && targets="$targets mitosis_cluster_tests"
# shellcheck disable=SC2086
cmake --build "$dir" -j"${JOBS:-2}" --target $targets
[ "$build_only" = yes ] && exit 0
reports=$src/$dir/reports
rm -rf "$reports" "$src/$dir/lsan-tracer-crashes" "$dir/Testing/Temporary/FirstRun.log"
mkdir -p "$reports"
# LeakSanitizer checks every process at exit. Its tracer (the thread that
# stops the world to scan it) sometimes crashes by itself ("Tracer caught
# signal 11 ... LeakSanitizer has encountered a fatal error"; seen once in
# two runs, at the exit of the ProxyJump test, all its assertions passed;
# a known intermittent LSan fault: google/sanitizers issue 1353). That is
# no leak and no report about our code, so such a crash is set aside and
# the failed tests run once more (below); a leak report still fails.
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0"
# UBSan's log_path is ignored when it runs inside ASan (GCC 12): its
# reports go to stderr, which ctest keeps in Testing/Temporary/LastTest.log
# (local agents share the test's stderr), searched below.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The TSan suppressions (tests/sanitize/tsan.supp) are built into the test
# programs (tests/sanitize/tsan_defaults.cpp.in), so that agents in a
# chroot or behind `sudo -i` have them too.
export TSAN_OPTIONS="log_path=$reports/tsan:second_deadlock_stack=1:history_size=4"
tests="^(unit|integration|sanitize):"
[ "$cluster" = yes ] && tests="^(unit|integration|sanitize|cluster):"
status=0
(cd "$dir" && ctest --output-on-failure -j"${JOBS:-2}" --timeout 900 -R "$tests") || status=$?
# LSan tracer crashes: a report file that holds the fatal error and no
# sanitizer "ERROR:" line is that crash. Set them aside; when there are at
# least as many as failed tests, run the failed tests once more.
crashes=0
for f in $(find "$reports" -type f -size +0 | sort); do
  if grep -q "LeakSanitizer has encountered a fatal error" "$f" && ! grep -q "ERROR: " "$f"; then
    mkdir -p "$src/$dir/lsan-tracer-crashes"
    mv "$f" "$src/$dir/lsan-tracer-crashes/"
    crashes=$((crashes + 1))
  fi
done
failed=0 # ctest writes the list only when a test failed
[ -f "$dir/Testing/Temporary/LastTestsFailed.log" ] \
  && failed=$(wc -l < "$dir/Testing/Temporary/LastTestsFailed.log")
if [ "$status" != 0 ] && [ "$crashes" -gt 0 ] && [ "$failed" -le "$crashes" ]; then
  echo "sanitize($kind): $crashes LeakSanitizer tracer crash(es), $failed failed test(s): running those once more" >&2
  cp "$dir/Testing/Temporary/LastTest.log" "$dir/Testing/Temporary/FirstRun.log"
  status=0
  (cd "$dir" && ctest --output-on-failure --timeout 900 --rerun-failed) || status=$?
fi
found=$(find "$reports" -type f -size +0 | sort)
if [ -n "$found" ]; then
  echo "sanitize($kind): reports in $reports:" >&2
  for f in $found; do
    echo "== $f" >&2
    head -60 "$f" >&2
  done
  status=1
fi
# ctest's log also holds each test's command line: the race-on-purpose
# test's names the TSan warning it expects, and is no report.
report_lines() {
  grep -n -E "runtime error:|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer" "$1" \
    | grep -v -E "^[0-9]+:Command: "
}
for log in "$dir/Testing/Temporary/FirstRun.log" "$dir/Testing/Temporary/LastTest.log"; do
  [ -f "$log" ] || continue
  first=$(report_lines "$log" | head -1 | cut -d: -f1)
  if [ -n "$first" ]; then
    echo "sanitize($kind): reports in the tests' output ($log):" >&2
    report_lines "$log" | head -20 >&2
    echo "-- the first in full:" >&2
    sed -n "${first},$((first + 40))p" "$log" >&2
    status=1
  fi
done
[ "$status" = 0 ] && echo "sanitize($kind): every test passed, no report"
exit "$status"
