#!/bin/sh
# Builds the libFuzzer targets with clang in ./build-fuzz and runs each for
# a short time (seconds: $1, default 10) from the seed corpus in
# tests/fuzz/corpus, with memory limits that turn a decode bomb into a
# finding. Exits non-zero on the first crash, leak, UB or limit hit; the
# reproducer is left in build-fuzz/findings/.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
cmake -S . -B build-fuzz -DMITOSIS_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo $launcher >/dev/null
cmake --build build-fuzz -j"${JOBS:-2}" >/dev/null
mkdir -p build-fuzz/findings
for t in build-fuzz/tests/fuzz/fuzz_*; do
  name=$(basename "$t")
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  if "$t" -max_total_time="$secs" -rss_limit_mb=512 -malloc_limit_mb=256 \
       -artifact_prefix=build-fuzz/findings/"$name"- "$work" >build-fuzz/"$name".log 2>&1; then
    echo "fuzz: $name: $(grep -o 'Done [0-9]* runs' build-fuzz/"$name".log) in ${secs}s, no finding"
  else
    echo "fuzz: $name FAILED; see build-fuzz/$name.log and build-fuzz/findings/" >&2
    grep -E "ERROR|SUMMARY" build-fuzz/"$name".log >&2 || tail -20 build-fuzz/"$name".log >&2
    rm -rf "$work"
    exit 1
  fi
  rm -rf "$work"
done
