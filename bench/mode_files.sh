# bench/run.sh files: the file targets of docs/files.md.
#   big_mib_s / scp_mib_s     one 1 GiB file (BENCH_BIG_MIB) to cluster host h1
#                             over one ssh hop: push_file, and `scp`
#   small1000_ms              push_tree of 1,000 files of 1 KiB to h1
#   mitogen_small1000_ms      the same files with Mitogen 0.3.3's FileService
#                             (bench/mitogen_files_bench.py)
#   push20_ms / pscp20_ms     256 MiB (BENCH_PUSH_MIB) to h2..h21, every one
#                             reached through the bastion h1: mitosis::push,
#                             and parallel-scp with a ProxyCommand through h1
#   push20_upstream_ratio     bytes the master wrote toward the bastion during
#                             the push / the file size
#   small1000_floor_ms        the same 1,000 files written on h1 by a plain loop
#                             (part file, rename, no sync): what the file
#                             system alone costs; not a target, a floor
#   big_local_mib_s, small1000_local_ms, mitogen_small1000_local_ms,
#   small1000_floor_local_ms: the same to a local child (no cluster needed)
# BENCH_FILES_LOCAL=1 runs only the local figures (no root, no cluster).
# Needs root for the rest: brings the cluster up with 21 hosts unless it is
# up with 21 (and takes it down again, or back to its N, at exit), as
# bench/mode_ssh.sh does. The hosts share this machine's file system: each
# destination is its own path under a work dir in /tmp.
# Sourced by bench/run.sh (its variables and functions: root, build, out,
# py, run, cpu_busy); exits with the mode's status.
rounds="${BENCH_ROUNDS:-1}"
big_mib="${BENCH_BIG_MIB:-1024}"
push_mib="${BENCH_PUSH_MIB:-256}"
bin="$build/bench/mitosis-bench-files"
work="$(mktemp -d /tmp/mitosis-bench-files.XXXXXX)"
local_only="${BENCH_FILES_LOCAL:-0}"
. "$root/bench/cluster_lib.sh"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  bench_cluster_restore
  rm -rf "$work" "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$local_only" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: files mode needs root (cluster); BENCH_FILES_LOCAL=1 for the local figures" >&2; exit 1; }
  command -v parallel-scp >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends pssh >&2
  }
  bench_cluster_up 21
  hosts="$cluster_behind"
  bastion="$cluster_bastion"
  # shellcheck disable=SC2086  # the first of the host list
  h1="$(set -- $cluster_hosts && echo "$1")"
  sshopt="-i $ckey -o UserKnownHostsFile=$ckh -o BatchMode=yes -o LogLevel=ERROR"
fi

# scp and parallel-scp timings, in ms, as key=value lines.
scp_figures() {
  f="$work/scp.bin"
  [ -f "$f" ] || head -c "$((big_mib * 1048576))" /dev/urandom >"$f"
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  $ns scp -q $sshopt "$f" "root@$h1:$work/scp.out"
  t1=$(date +%s%N)
  awk -v m="$big_mib" -v a="$t0" -v b="$t1" 'BEGIN { printf "scp_mib_s=%.1f\n", m * 1e9 / (b - a) }'
  p="$work/pscp.bin"
  [ -f "$p" ] || head -c "$((push_mib * 1048576))" /dev/urandom >"$p"
  # shellcheck disable=SC2086
  printf '%s\n' $hosts >"$work/hosts"
  # parallel-scp writes one path on every host: here the hosts share this
  # file system, so all 20 write the same file (on a fleet, 20 disks).
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  $ns parallel-scp -p 20 -t 600 -l root -h "$work/hosts" \
    -x "$sshopt -o ProxyCommand='ssh $sshopt -W %h:%p root@$bastion'" \
    "$p" "$work/pscp.out" >&2
  t1=$(date +%s%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "pscp20_ms=%.1f\n", (b - a) / 1e6 }'
}

r=1
while [ "$r" -le "$rounds" ]; do
  cpu_busy >"$out/env.$r"
  mkdir -p "$work/l.$r" "$work/ml.$r"
  run "local.$r" "$bin" local "$work/l.$r" "$big_mib"
  run "mitogen_local.$r" "$py" bench/mitogen_files_bench.py local "$work/ml.$r"
  if [ "$local_only" != 1 ]; then
    mkdir -p "$work/s.$r" "$work/ms.$r" "$work/p.$r"
    # shellcheck disable=SC2086
    {
      run "ssh.$r" $ns "$bin" ssh "$h1" 22 "$ckey" "$ckh" "$work/s.$r" "$big_mib"
      run "mitogen_ssh.$r" $ns "$py" bench/mitogen_files_bench.py ssh "$h1" 22 "$ckey" "$ckh" "$work/ms.$r"
      run "push20.$r" $ns "$bin" push20 "$ckey" "$ckh" "$work/p.$r" "$push_mib" "$bastion" $hosts
    }
    scp_figures >"$out/scp.$r"
  fi
  rm -rf "$work/l.$r" "$work/ml.$r" "$work/s.$r" "$work/ms.$r" "$work/p.$r" "$work"/scp.out "$work"/pscp.out
  r=$((r + 1))
done

"$py" - "$out"/* <<'PYEOF'
import sys

sys.path.insert(0, "bench")  # run from the repository root
from bench_util import json_value, print_json, print_target_rows, read_rounds, require

samples, text, v = read_rounds(sys.argv[1:])
rounds = len(samples.get("big_local_mib_s", []))
require(v, ["big_local_mib_s", "small1000_local_ms", "mitogen_small1000_local_ms"])
rows = [("small1000_local_ms", v["small1000_local_ms"], "mitogen", v["mitogen_small1000_local_ms"],
         None, "<= 1000 and <= mitogen / 10",
         v["small1000_local_ms"] <= 1000
         and v["small1000_local_ms"] <= v["mitogen_small1000_local_ms"] / 10)]
# The floor is not a target: what the file system alone costs for the files.
floors = [(k, v[k]) for k in ("small1000_floor_local_ms", "small1000_floor_ms") if k in v]
have_ssh = "big_mib_s" in v
if have_ssh:
    require(v, ["big_mib_s", "scp_mib_s", "small1000_ms", "mitogen_small1000_ms", "push20_ms",
                "pscp20_ms", "push20_upstream_ratio"])
    rows += [
        ("big_mib_s", v["big_mib_s"], "scp", v["scp_mib_s"], None, ">= 0.9 x scp",
         v["big_mib_s"] >= 0.9 * v["scp_mib_s"]),
        ("push20_upstream_ratio", v["push20_upstream_ratio"], "", None, None, "<= 1.05",
         v["push20_upstream_ratio"] <= 1.05),
        ("push20_ms", v["push20_ms"], "pscp", v["pscp20_ms"], None, "<= pscp / 3",
         v["push20_ms"] <= v["pscp20_ms"] / 3),
        ("small1000_ms", v["small1000_ms"], "mitogen", v["mitogen_small1000_ms"], None,
         "<= 1000 and <= mitogen / 10",
         v["small1000_ms"] <= 1000 and v["small1000_ms"] <= v["mitogen_small1000_ms"] / 10),
    ]
failed = print_target_rows(rows)
print()
for k, x in floors:
    print("%s: %.1f ms (1,000 part files created, written and renamed by a plain loop in the "
          "target, no sync: the file system's share)" % (k, x))
print("targets failed: %s" % (", ".join(failed) if failed else "none"))
keys = ["big_mib_s", "scp_mib_s", "push20_ms", "pscp20_ms", "push20_upstream_ratio",
        "small1000_ms", "mitogen_small1000_ms", "big_local_mib_s", "small1000_local_ms",
        "mitogen_small1000_local_ms", "small1000_floor_ms", "small1000_floor_local_ms",
        "cpu_busy_pct", "cpus"]
result = {k: (json_value(v[k]) if k in v else None) for k in keys}
print_json(result, rounds, "none", failed)
PYEOF
exit 0
