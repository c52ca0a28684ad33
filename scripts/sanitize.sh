#!/bin/sh
# The unit and integration suites (and, with --cluster, the cluster suite)
# under a sanitizer: $1 is "address" (AddressSanitizer + UBSan + LeakSanitizer)
# or "thread" (ThreadSanitizer), built in ./build-asan or ./build-tsan.
#
# Every process of a test writes its reports to <build dir>/reports/
# (agents are started copies of the test program: their stderr is not the
# test's), and the run fails when any report is there, even when every
# test passed.
# ThreadSanitizer reads tests/sanitize/tsan.supp: it hides only reports
# whose racing access is inside CAF itself (see that file for why), and a
# test program that races on purpose proves races in our code still show.
set -eu
cd "$(dirname "$0")/.."
kind=$1
shift
cluster=no
[ "${1:-}" = --cluster ] && cluster=yes
case "$kind" in
  address|thread) ;;
  *) echo "usage: scripts/sanitize.sh address|thread [--cluster]" >&2; exit 2 ;;
esac
dir=build-asan
[ "$kind" = thread ] && dir=build-tsan
src=$(pwd)
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
# -O1 -g1: line numbers in reports, a third of the -O2 -g compile time.
cmake -S . -B "$dir" -DMITOSIS_SANITIZE="$kind" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" $launcher >/dev/null
targets="mitosis_unit_tests mitosis_integration_tests mitosis-plugin-inventory"
[ "$kind" = thread ] && targets="$targets mitosis_race_on_purpose"
[ "$cluster" = yes ] && targets="$targets mitosis_cluster_tests"
# shellcheck disable=SC2086
cmake --build "$dir" -j"${JOBS:-2}" --target $targets
reports=$src/$dir/reports
rm -rf "$reports"
mkdir -p "$reports"
# detect_leaks=0: LeakSanitizer crashed in its own tracer at the exit of
# one test program ("Tracer caught signal 11 ... LeakSanitizer has
# encountered a fatal error", the ProxyJump test, 1 run in 2), which fails
# the run with no leak found; leaks are not checked until that is understood.
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=0:abort_on_error=0:detect_stack_use_after_return=0"
# UBSan's log_path is ignored when it runs inside ASan (GCC 12): its
# reports go to stderr, which ctest keeps in Testing/Temporary/LastTest.log
# (local agents share the test's stderr), searched below.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="log_path=$reports/tsan:suppressions=$src/tests/sanitize/tsan.supp:second_deadlock_stack=1:history_size=4"
tests="^(unit|integration|sanitize):"
[ "$cluster" = yes ] && tests="^(unit|integration|sanitize|cluster):"
status=0
(cd "$dir" && ctest --output-on-failure -j"${JOBS:-2}" --timeout 900 -R "$tests") || status=$?
found=$(find "$reports" -type f -size +0 | sort)
if [ -n "$found" ]; then
  echo "sanitize($kind): reports in $reports:" >&2
  for f in $found; do
    echo "== $f" >&2
    head -60 "$f" >&2
  done
  status=1
fi
log=$dir/Testing/Temporary/LastTest.log
if grep -q -E "runtime error:|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer" "$log"; then
  echo "sanitize($kind): reports in the tests' output ($log):" >&2
  grep -n -E -A20 "runtime error:|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer" "$log" \
    | head -200 >&2
  status=1
fi
[ "$status" = 0 ] && echo "sanitize($kind): every test passed, no report"
exit "$status"
