# bench/run.sh local: see bench/run.sh for what it measures.
# Sourced by bench/run.sh (its variables and functions: root, build, out,
# py, run, cpu_busy); exits with the mode's status.
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
import os
import sys

sys.path.insert(0, "bench")  # run from the repository root
from bench_util import (json_value, num, print_json, print_table, print_target_rows,
                        read_rounds, require, warn_if_busy)

pin = os.environ.get("BENCH_PIN_LIST", "none")

samples, text, v = read_rounds(sys.argv[1:])
rounds = len(samples.get("rtt_us", []))

required = ["rtt_us", "socketpair_rtt_us", "mitogen_rtt_us", "mib_s",
            "socketpair_mib_s", "start_ms", "mitogen_start_ms",
            "fanout100_ms", "rss_kb"]
require(v, required)

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
if "chain_chain100_us" in v:
    # 100 pipelined calls and a final one cost about one round trip plus
    # what the 100 calls take to send and run (measured: ~3 us each).
    rows.append(("chain100_us", v["chain_chain100_us"], "seq100",
                 v["chain_seq100_us"], v["chain_chain100_us"] / v["chain_seq100_us"],
                 "chain <= 1 rtt + 100 x 4 us",
                 v["chain_chain100_us"] <= v["chain_one_rtt_us"] + 400))

failed = print_target_rows(rows)
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
warn_if_busy(v)

keys = required + ["chain_one_rtt_us", "chain_chain100_us", "chain_seq100_us",
                   "mib_s_vector", "mitogen_mib_s", "rss_after_mib_kb", "master_rss_kb",
                   "rtt_min_us", "socketpair_rtt_min_us", "start_min_ms",
                   "mitogen_start_min_ms", "cpu_busy_pct", "cpus"]
result = {k: json_value(v[k]) for k in keys if k in v}
print_json(result, rounds, pin, failed)
PYEOF
