# bench/run.sh actors: see bench/run.sh for what it measures.
# Sourced by bench/run.sh (its variables and functions: root, build, out,
# py, run, cpu_busy); exits with the mode's status.
# -- actors: ours and CAF's middleman (BASP) in each round --------------------------
rounds="${BENCH_ROUNDS:-3}"
pin="${BENCH_PIN:-0-1}"
pin_cmd=""
[ "$pin" = none ] || pin_cmd="taskset -c $pin"
echo "bench: $rounds round(s), pinned to CPUs: $pin" >&2
bin="$build/bench/mitosis-bench-actors"
r=1
while [ "$r" -le "$rounds" ]; do
  cpu_busy >"$out/env.$r"
  # CAF's own network layer: a server publishing an echo and a sink on two
  # loopback ports (it prints them), a client in another process; the
  # server lives until its stdin (a fifo we hold open) closes.
  mkfifo "$out/basp_in.$r"
  $pin_cmd "$bin" basp-server <"$out/basp_in.$r" >"$out/basp_ports.$r" &
  server=$!
  exec 9>"$out/basp_in.$r"
  i=0
  while [ ! -s "$out/basp_ports.$r" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  # shellcheck disable=SC2046  # two port numbers
  run "basp.$r" $pin_cmd "$bin" basp-client $(cat "$out/basp_ports.$r") 5 2000 200000
  exec 9>&-
  wait "$server" || true
  run "ours.$r" $pin_cmd "$bin" 5 2000 200000
  run "loss.$r" $pin_cmd "$build/bench/mitosis-bench-actors-loss" 100 50
  r=$((r + 1))
done
BENCH_PIN_LIST="$pin" "$py" - "$out"/env.* "$out"/basp.* "$out"/ours.* "$out"/loss.* <<'PYEOF'
import os
import sys

sys.path.insert(0, "bench")  # run from the repository root
from bench_util import (json_value, num, print_json, print_table, print_target_rows,
                        read_rounds, require, warn_if_busy)

pin = os.environ.get("BENCH_PIN_LIST", "none")
samples, text, v = read_rounds(sys.argv[1:])
rounds = len(samples.get("actor_rtt_us", []))
required = ["actor_rtt_us", "call_rtt_us", "basp_rtt_us", "actor_msgs_s", "basp_msgs_s",
            "spawn_us", "down_ms", "down_count", "down_expected", "freeze_ms", "heartbeat_ms"]
require(v, required)
# The counts must hold in every round, not in the median.
down_ok = samples["down_count"] == samples["down_expected"]
rows = [
    ("actor_rtt_us", v["actor_rtt_us"], "call", v["call_rtt_us"],
     v["actor_rtt_us"] / v["call_rtt_us"], "ours/call <= 1.5",
     v["actor_rtt_us"] <= 1.5 * v["call_rtt_us"]),
    ("actor_rtt_us vs basp", v["actor_rtt_us"], "basp", v["basp_rtt_us"],
     v["basp_rtt_us"] / v["actor_rtt_us"], "basp/ours >= 10",
     v["actor_rtt_us"] * 10 <= v["basp_rtt_us"]),
    ("actor_msgs_s", v["actor_msgs_s"], "basp", v["basp_msgs_s"],
     v["actor_msgs_s"] / v["basp_msgs_s"], "ours/basp >= 2",
     v["actor_msgs_s"] >= 2 * v["basp_msgs_s"]),
    ("actor_msgs_s", v["actor_msgs_s"], "", None, None, "ours >= 1000000",
     v["actor_msgs_s"] >= 1000000),
    ("spawn_us", v["spawn_us"], "call", v["call_rtt_us"], v["spawn_us"] / v["call_rtt_us"],
     "ours/call <= 3", v["spawn_us"] <= 3 * v["call_rtt_us"]),
    ("down_count", v["down_count"], "expected", v["down_expected"], None,
     "equal, every round", down_ok),
    ("down_ms", v["down_ms"], "", None, None, "ours <= 50 ms", v["down_ms"] <= 50),
    ("freeze_ms", v["freeze_ms"], "heartbeat", v["heartbeat_ms"],
     v["freeze_ms"] / v["heartbeat_ms"], "<= 3 x hb + 100",
     v["freeze_ms"] <= 3 * v["heartbeat_ms"] + 100),
]
failed = print_target_rows(rows)
print()
print("pinned to CPUs: %s" % (pin if pin != "none" else "no (scheduler's choice)"))
print("medians over %d round(s); actor_rtt_us per round: %s; call_rtt_us: %s; basp_rtt_us: %s"
      % (rounds, " ".join(num(x) for x in samples["actor_rtt_us"]),
         " ".join(num(x) for x in samples["call_rtt_us"]),
         " ".join(num(x) for x in samples["basp_rtt_us"])))
print("targets failed: %s" % (", ".join(failed) if failed else "none"))
warn_if_busy(v)
keys = required + ["actor_rtt_min_us", "call_rtt_min_us", "basp_rtt_min_us", "spawn_min_us",
                   "freeze_count", "cpu_busy_pct", "cpus"]
result = {k: json_value(v[k]) for k in keys if k in v}
print_json(result, rounds, pin, failed)
PYEOF
exit 0
