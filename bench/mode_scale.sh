# bench/run.sh scale: 1,000 local contexts in a tree (10 below the master,
# 99 below each of those), started and each called once, with the master
# under `ulimit -n 1024`; its fds and RSS and an agent's RSS at that point;
# then BENCH_CHURN (default 10000) start / call / kill -9 cycles of a
# local child and the master's fd and RSS growth over them (after a
# warm-up). One round (BENCH_ROUNDS); not pinned unless BENCH_PIN is set.
# Then ssh200: the test cluster with 21 hosts (bench/cluster_lib.sh), one
# context on h1 (the bastion) and 10 contexts on each of h2..h21 started
# from it over ssh, each called once, the master again under
# `ulimit -n 1024` (needs root; BENCH_SSH200=0 skips it and the JSON says
# null).
# BENCH_HEARTBEAT_MS sets the heartbeat interval of the bench's master and
# so of its contexts (default: the library's 1 s); on a slow VM the tree
# needs more (see docs/benchmarks.md, scale).
# Sourced by bench/run.sh (its variables and functions: root, build, out,
# py, run, cpu_busy); exits with the mode's status.
rounds="${BENCH_ROUNDS:-1}"
pin="${BENCH_PIN:-none}"
pin_cmd=""
[ "$pin" = none ] || pin_cmd="taskset -c $pin"
churn="${BENCH_CHURN:-10000}"
echo "bench: $rounds round(s), $churn churn cycles, pinned to CPUs: $pin" >&2
bin="$build/bench/mitosis-bench-scale"
r=1
while [ "$r" -le "$rounds" ]; do
  cpu_busy >"$out/env.$r"
  # shellcheck disable=SC2086  # pin_cmd is a command and its arguments
  run "scale.$r" sh -c "ulimit -n 1024 && exec $pin_cmd \"$bin\" 10 99 $churn"
  r=$((r + 1))
done

if [ "${BENCH_SSH200:-1}" != 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: ssh200 needs root (sshd, netns); BENCH_SSH200=0 skips it" >&2; exit 1; }
  . bench/cluster_lib.sh
  scale_cache="$(mktemp -d /tmp/mitosis-bench-scale.XXXXXX)"
  # shellcheck disable=SC2317  # called by the EXIT trap
  scale_cleanup() {
    bench_cluster_restore
    rm -rf "$scale_cache"
  }
  trap scale_cleanup EXIT
  trap 'exit 130' INT TERM
  bench_cluster_up 21
  # BENCH_SSH_USER: the user the contexts behind the bastion log in as
  # (default root; the cluster gives root an empty ~/.bashrc, see
  # scripts/cluster.sh).
  [ "${BENCH_SSH_USER:-root}" = root ] && BENCH_SSH_USER=""
  export BENCH_SSH_USER
  # shellcheck disable=SC2086  # $ns and $cluster_behind are word lists
  run "ssh200" $ns sh -c "ulimit -n 1024 && exec \"\$0\" \"\$@\"" "$bin" ssh "$ckey" "$ckh" \
    "$scale_cache" 10 "$cluster_bastion" $cluster_behind
fi

ssh_out=""
[ -f "$out/ssh200" ] && ssh_out="$out/ssh200"
# shellcheck disable=SC2086  # ssh_out: nothing or one path
BENCH_PIN_LIST="$pin" "$py" - "$out"/env.* "$out"/scale.* $ssh_out <<'PYEOF'
import os
import sys

sys.path.insert(0, "bench")  # run from the repository root
from bench_util import json_value, print_json, print_target_rows, read_rounds, require

pin = os.environ.get("BENCH_PIN_LIST", "none")
samples, text, v = read_rounds(sys.argv[1:])
rounds = len(samples.get("ctx_ms", []))
required = ["ctx_ms", "contexts", "master_fds", "master_children", "master_rss_kb",
            "agent_rss_kb", "leaf_rss_kb", "churn_cycles", "churn_ms", "churn_fd_growth",
            "churn_rss_growth_kb", "churn_zombies"]
require(v, required)
fd_cap = 64 + v["master_children"]
rows = [
    ("ctx1000_ms", v["ctx_ms"], "contexts", v["contexts"], None, "<= 3000 ms",
     v["ctx_ms"] <= 3000 and v["contexts"] == 1000),
    ("master_fds", v["master_fds"], "children", v["master_children"], None,
     "<= 64 + children", v["master_fds"] <= fd_cap),
    ("master_rss_kb", v["master_rss_kb"], "", None, None, "<= 65536",
     v["master_rss_kb"] <= 65536),
    ("churn_fd_growth", v["churn_fd_growth"], "cycles", v["churn_cycles"], None, "0",
     v["churn_fd_growth"] == 0),
    ("churn_rss_growth_kb", v["churn_rss_growth_kb"], "cycles", v["churn_cycles"], None,
     "<= 1024", v["churn_rss_growth_kb"] <= 1024),
    ("churn_zombies", v["churn_zombies"], "cycles", v["churn_cycles"], None, "0",
     v["churn_zombies"] == 0),
]
failed = print_target_rows(rows)
print()
print("agent RSS: %d KiB (an intermediate with 99 children), %d KiB (a leaf); churn: %d cycles in %.0f ms"
      % (v["agent_rss_kb"], v["leaf_rss_kb"], v["churn_cycles"], v["churn_ms"]))
if "ssh_ms" in v:
    print("ssh200: %d contexts on 20 hosts behind one bastion in %.0f ms; master fds %d, "
          "bastion fds %d, bastion RSS %d KiB"
          % (v["ssh_contexts"], v["ssh_ms"], v["ssh_master_fds"], v["ssh_bastion_fds"],
             v["ssh_bastion_rss_kb"]))
else:
    print("ssh200_ms: not measured (BENCH_SSH200=0)")
print("targets failed: %s" % (", ".join(failed) if failed else "none"))
result = {"ctx1000_ms": json_value(v["ctx_ms"]),
          "ssh200_ms": json_value(v["ssh_ms"]) if "ssh_ms" in v else None}
for k in ("ssh_contexts", "ssh_master_fds", "ssh_bastion_fds", "ssh_bastion_rss_kb"):
    if k in v:
        result[k] = json_value(v[k])
for k in required[1:] + ["cpu_busy_pct", "cpus"]:
    if k in v:
        result[k] = json_value(v[k])
print_json(result, rounds, pin, failed)
PYEOF
exit 0
