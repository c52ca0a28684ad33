#!/bin/sh
# bench/run.sh local — the measured targets of DESIGN.md section 9, side by
# side in one run: mitosis (mitosis-bench-local), the raw socketpair baseline
# (socketpair-pingpong) and Mitogen 0.3.3 (mitogen_bench.py).
#
# Builds a Release tree in ./build-bench (relative to the repository root;
# BENCH_BUILD_DIR overrides it), installs python3-mitogen with apt-get when
# it is missing, runs the three programs BENCH_ROUNDS times (default 3,
# interleaved), prints a table, and prints as the very last line of stdout
# one JSON object with the medians. Build and install chatter goes to stderr.
#
# BENCH_PIN (default 0) pins every program, and so every context it starts,
# to that CPU list with taskset; BENCH_PIN=none leaves placement to the
# scheduler. Unpinned, on this 2-vCPU VM, the same raw ping-pong measures
# either ~3 us or ~60 us from one run to the next (waking a halted vCPU
# costs tens of us), which makes every ratio a coin toss; pinned, the
# figures repeat and a thread hop costs a context switch.
#
# Exit status: 0 when every program ran (whatever the targets say; see
# "targets_failed" in the JSON), 1 when one failed, 2 for an unimplemented
# mode, 64 for bad usage.
#
# bench/run.sh ssh — not implemented yet (issue 3).
set -eu

mode="${1:-}"
case "$mode" in
  local) ;;
  ssh)
    echo "ssh benchmarks: not implemented yet (issue 3)"
    exit 2 ;;
  *)
    echo "usage: $0 local|ssh" >&2
    exit 64 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="${BENCH_BUILD_DIR:-$root/build-bench}"

# Debian's interpreter: python3-mitogen lives in its dist-packages, which
# another python3 first on PATH (pyenv, venv) does not see.
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# -- dependencies ---------------------------------------------------------------
if ! dpkg -s python3-mitogen >/dev/null 2>&1; then
  echo "bench: installing python3-mitogen" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "bench: need root to install python3-mitogen" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends python3-mitogen >&2
fi

# -- build ------------------------------------------------------------------------
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
echo "bench: building Release in $build" >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMITOSIS_BUILD_TESTS=OFF \
  -DMITOSIS_BUILD_SAMPLES=OFF -DMITOSIS_BUILD_BENCH=ON $launcher >&2
cmake --build "$build" -j"${JOBS:-2}" --target socketpair-pingpong mitosis-bench-local >&2

# -- run ----------------------------------------------------------------------------
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT INT TERM

run() {  # run NAME CMD...: stdout to $out/NAME, stderr passes through
  name="$1"
  shift
  echo "bench: running $name" >&2
  if ! timeout 600 "$@" >"$out/$name"; then
    echo "bench: $name failed; its output:" >&2
    cat "$out/$name" >&2
    exit 1
  fi
}

# How busy the CPUs are just before a round (other jobs skew every figure
# that needs a thread wake-up): share of non-idle time over half a second.
cpu_busy() {
"$py" - <<'PYEOF'
import os, time
def snap():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait
t0, i0 = snap()
time.sleep(0.5)
t1, i1 = snap()
print("cpu_busy_pct=%.1f" % (100.0 * (1 - (i1 - i0) / max(1, t1 - t0))))
print("cpus=%d" % os.cpu_count())
PYEOF
}

# Rounds interleave the three programs so that a neighbour's load hits
# ours and the baselines alike; the report takes each figure's median over
# the rounds.
rounds="${BENCH_ROUNDS:-3}"
pin="${BENCH_PIN:-0}"
pin_cmd=""
[ "$pin" = none ] || pin_cmd="taskset -c $pin"
echo "bench: $rounds round(s), pinned to CPUs: $pin" >&2
r=1
while [ "$r" -le "$rounds" ]; do
  cpu_busy >"$out/env.$r"
  run "socketpair.$r" $pin_cmd "$build/bench/socketpair-pingpong"
  run "mitosis.$r" $pin_cmd "$build/bench/mitosis-bench-local"
  run "mitogen.$r" $pin_cmd "$py" bench/mitogen_bench.py
  r=$((r + 1))
done

# -- report -------------------------------------------------------------------------
BENCH_PIN_LIST="$pin" "$py" - "$out"/env.* "$out"/socketpair.* "$out"/mitosis.* "$out"/mitogen.* <<'PYEOF'
import json
import os
import statistics
import sys

pin = os.environ.get("BENCH_PIN_LIST", "none")

samples = {}
text = {}
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            key, sep, val = line.strip().partition("=")
            if not sep:
                continue
            text[key] = val
            try:
                x = float(val)
            except ValueError:
                continue  # e.g. mitogen_version
            samples.setdefault(key, []).append(x)
v = {k: statistics.median(xs) for k, xs in samples.items()}
v["cpu_busy_pct"] = max(samples["cpu_busy_pct"])  # the worst round
rounds = len(samples.get("rtt_us", []))

required = ["rtt_us", "socketpair_rtt_us", "mitogen_rtt_us", "mib_s",
            "socketpair_mib_s", "start_ms", "mitogen_start_ms",
            "fanout100_ms", "rss_kb"]
missing = [k for k in required if k not in v]
if missing:
    sys.stderr.write("bench: missing figures: %s\n" % ", ".join(missing))
    sys.exit(1)

# (metric, ours, baseline name, baseline, ratio, target text, pass)
rows = [
    ("rtt_us", v["rtt_us"], "socketpair", v["socketpair_rtt_us"],
     v["rtt_us"] / v["socketpair_rtt_us"], "ours/raw <= 2",
     v["rtt_us"] <= 2 * v["socketpair_rtt_us"]),
    ("rtt_us vs mitogen", v["rtt_us"], "mitogen", v["mitogen_rtt_us"],
     v["mitogen_rtt_us"] / v["rtt_us"], "mitogen/ours >= 10",
     v["mitogen_rtt_us"] / v["rtt_us"] >= 10),
    ("mib_s", v["mib_s"], "socketpair", v["socketpair_mib_s"],
     v["mib_s"] / v["socketpair_mib_s"], "ours/raw >= 0.7",
     v["mib_s"] >= 0.7 * v["socketpair_mib_s"]),
    ("start_ms", v["start_ms"], "mitogen", v["mitogen_start_ms"],
     v["mitogen_start_ms"] / v["start_ms"], "ours <= 10 ms",
     v["start_ms"] <= 10),
    ("fanout100_ms", v["fanout100_ms"], "", None, None, "ours <= 1000 ms",
     v["fanout100_ms"] <= 1000),
    ("rss_kb", v["rss_kb"], "", None, None, "ours <= 8192 KiB",
     v["rss_kb"] <= 8192),
]

def num(x):
    if x is None:
        return "-"
    if float(x).is_integer():
        return "%d" % x
    return "%.1f" % x if abs(x) >= 100 else "%.3g" % x

table = [("metric", "ours", "baseline", "ratio", "target", "result")]
for name, ours, bname, base, ratio, target, ok in rows:
    table.append((name, num(ours),
                  "-" if base is None else "%s (%s)" % (num(base), bname),
                  "-" if ratio is None else "%.2fx" % ratio,
                  target, "pass" if ok else "FAIL"))
widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
for i, r in enumerate(table):
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))

failed = [r[0] for r in rows if not r[6]]
print()
print("pinned to CPUs: %s" % (pin if pin != "none" else "no (scheduler's choice)"))
print("medians over %d round(s); rtt_us per round: %s; socketpair_rtt_us: %s"
      % (rounds, " ".join(num(x) for x in samples["rtt_us"]),
         " ".join(num(x) for x in samples["socketpair_rtt_us"])))
print("mitogen %s: 1 MiB argument %s MiB/s" % (
    text.get("mitogen_version", "?"), num(v.get("mitogen_mib_s"))))
print("ours with a std::vector<char> parameter instead of mitosis::blob: %s MiB/s (%.2fx raw)" % (
    num(v.get("mib_s_vector")), v.get("mib_s_vector", 0) / v["socketpair_mib_s"]))
print("targets failed: %s" % (", ".join(failed) if failed else "none"))
busy = v.get("cpu_busy_pct", 0.0)
if busy > 20:
    print("warning: CPUs were up to %.0f%% busy before a round (%d cpus): other jobs "
          "skew the wake-up-bound figures; run again on a quiet machine"
          % (busy, v.get("cpus", 0)))

keys = required + ["mib_s_vector", "mitogen_mib_s", "rss_after_mib_kb", "master_rss_kb",
                   "rtt_min_us", "socketpair_rtt_min_us", "start_min_ms",
                   "mitogen_start_min_ms", "cpu_busy_pct", "cpus"]
result = {k: int(v[k]) if v[k].is_integer() else round(v[k], 3)
          for k in keys if k in v}
result["rounds"] = rounds
result["pinned"] = 0 if pin == "none" else 1
result["targets_failed"] = len(failed)
print(json.dumps(result, separators=(",", ":")))
PYEOF
