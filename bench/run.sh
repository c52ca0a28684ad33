#!/bin/sh
# bench/run.sh local — the local targets of docs/benchmarks.md (Targets), side by
# side in one run: mitosis (mitosis-bench-local), the raw socketpair baseline
# (socketpair-pingpong) and Mitogen 0.3.3 (mitogen_bench.py).
#
# Builds a Release tree in ./build-bench (relative to the repository root;
# BENCH_BUILD_DIR overrides it), installs python3-mitogen with apt-get when
# it is missing, runs the three programs BENCH_ROUNDS times (default 3,
# interleaved), prints a table, and prints as the very last line of stdout
# one JSON object with the medians. Build and install chatter goes to stderr.
# mitosis-bench-local also measures call chains (chain_*: 100 pipelined
# no-reply calls and a final call, against 100 sequential calls and one
# round trip; docs/channels.md); `mitosis-bench-local chain` runs only those.
#
# BENCH_PIN (default 0) pins every program, and so every context it starts,
# to that CPU list with taskset; BENCH_PIN=none leaves placement to the
# scheduler. Unpinned, on this 2-vCPU VM, the same raw ping-pong measures
# either ~3 us or ~60 us from one run to the next (waking a halted vCPU
# costs tens of us), which makes every ratio a coin toss; pinned, the
# figures repeat and a thread hop costs a context switch.
#
# Exit status: 0 when every program ran (whatever the targets say; see
# "targets_failed" in the JSON), 1 when one failed, 64 for bad usage.
#
# bench/run.sh ssh — the ssh targets of docs/benchmarks.md, side by side in one run:
# mitosis over libssh (mitosis-bench-ssh), the OpenSSH client (`ssh ...
# true`, `ssh ... cat`), parallel-ssh and Mitogen 0.3.3's ssh()
# (mitogen_ssh_bench.py). Needs root. It starts its own sshd on a free
# loopback port (2222 or the next free one; own host key, client key,
# config and known_hosts in a temp dir), brings the test cluster up with
# 21 hosts (scripts/cluster.sh up 21; the fan-out runs inside mitosis-ctl
# against h1..h20) unless it is already up with 21, and at exit kills its
# sshd and takes the cluster down again if it brought it up (a cluster
# that was up with another N is brought back up with that N, with new host
# keys). Installs pssh, openssh-server/-client and python3-mitogen when
# missing. Bundle caches on the target are explicit directories in the
# temp dir, one per measurement kind (cached; cold: a fresh one per start;
# fan-out). The call-chain figures over one ssh hop are ssh_chain_*.
# BENCH_PIN pins the bench programs and the ssh/pssh clients
# they start, never the sshds (nor the agents and the remote `cat`/`true`
# that the sshds start). See docs/benchmarks.md, "ssh".
#
# bench/run.sh actors — the actor targets of docs/benchmarks.md, side by side
# in one run: mitosis-bench-actors (an actor in the master and one in a local
# child: request/response, one-way messages, spawn; ctx.call of the same
# shape), the same program's basp-server/basp-client modes (CAF 0.17's own
# network layer between two local processes) and mitosis-bench-actors-loss
# (50 monitored actors behind an intermediate: kill -9 and SIGSTOP with a
# 100 ms heartbeat). BENCH_PIN defaults to 0-1 here (both CPUs: a one-way
# stream needs a sender and a receiver running at once).
set -eu

mode="${1:-}"
case "$mode" in
  local|ssh|actors) ;;
  *)
    echo "usage: $0 local|ssh|actors" >&2
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
if [ "$mode" = ssh ]; then
  cmake --build "$build" -j"${JOBS:-2}" --target mitosis-bench-ssh >&2
elif [ "$mode" = actors ]; then
  cmake --build "$build" -j"${JOBS:-2}" --target mitosis-bench-actors mitosis-bench-actors-loss >&2
else
  cmake --build "$build" -j"${JOBS:-2}" --target socketpair-pingpong mitosis-bench-local >&2
fi

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

if [ "$mode" = ssh ]; then
  # -- ssh: more dependencies ------------------------------------------------------
  [ "$(id -u)" = 0 ] || { echo "bench: ssh mode needs root (sshd, netns)" >&2; exit 1; }
  missing=""
  command -v parallel-ssh >/dev/null 2>&1 || missing="$missing pssh"
  [ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
  command -v ssh >/dev/null 2>&1 || missing="$missing openssh-client"
  command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
  if [ -n "$missing" ]; then
    echo "bench: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    # shellcheck disable=SC2086  # a list of package names
    apt-get install -y -q --no-install-recommends $missing >&2
  fi

  rm -rf "$out"  # the local mode's output dir; this mode keeps its own in $work
  bin="$build/bench/mitosis-bench-ssh"
  cdir="${MITOSIS_CLUSTER_DIR:-/tmp/mitosis-cluster}"
  work="$(mktemp -d /tmp/mitosis-bench-ssh.XXXXXX)"
  out="$work/out"
  mkdir "$out"
  sshd_pid=""
  cluster_ours=0
  cluster_prev=""
  # shellcheck disable=SC2317  # called by the EXIT trap
  cleanup() {
    [ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null || true
    if [ "$cluster_ours" = 1 ]; then
      echo "bench: taking the cluster down" >&2
      MITOSIS_CLUSTER_QUIET=1 sh scripts/cluster.sh down >&2 || true
      if [ -n "$cluster_prev" ]; then
        echo "bench: bringing the cluster back up with N=$cluster_prev (new host keys)" >&2
        MITOSIS_CLUSTER_QUIET=1 sh scripts/cluster.sh up "$cluster_prev" >&2 || true
      fi
    fi
    rm -rf "$work"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  # -- our sshd on loopback ------------------------------------------------------------
  # Two free ports from 2222 up: sshd's, and the byte-counting proxy's (the
  # bench programs forward it to sshd for the two byte counts).
  # shellcheck disable=SC2046  # two port numbers
  set -- $("$py" - <<'PYEOF'
import socket
found, port = [], 2222
while len(found) < 2 and port < 2600:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        found.append(port)
    except OSError:
        pass
    finally:
        s.close()
    port += 1
print(*found)
PYEOF
)
  port="$1"
  pport="$2"
  ssh-keygen -q -N '' -t ed25519 -C mitosis-bench-host -f "$work/host_key"
  ssh-keygen -q -N '' -t ed25519 -C mitosis-bench -f "$work/id_ed25519"
  cp "$work/id_ed25519.pub" "$work/authorized_keys"
  hk="$(cut -d' ' -f1,2 "$work/host_key.pub")"
  printf '[127.0.0.1]:%s %s\n[127.0.0.1]:%s %s\n' "$port" "$hk" "$pport" "$hk" >"$work/known_hosts"
  cat >"$work/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
StrictModes no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
MaxStartups 200:30:400
MaxSessions 200
PrintMotd no
PrintLastLog no
LogLevel ERROR
EOF
  mkdir -p /run/sshd
  # Not pinned: sshd and the sessions it starts run where the scheduler says.
  /usr/sbin/sshd -f "$work/sshd_config" -E "$work/sshd.log" </dev/null >&2
  "$py" - "$port" <<'PYEOF'
import socket, sys, time
deadline = time.time() + 10
while True:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1) as s:
            if s.recv(64).startswith(b"SSH-2.0-"):
                s.sendall(b"SSH-2.0-mitosis-bench-probe\r\n")
                break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit("bench: sshd on port %s not answering" % sys.argv[1])
    time.sleep(0.05)
PYEOF
  sshd_pid="$(cat "$work/sshd.pid")"
  echo "bench: sshd (pid $sshd_pid) on 127.0.0.1:$port, byte-count proxy port $pport" >&2
  key="$work/id_ed25519"
  kh="$work/known_hosts"

  # -- the cluster (20 hosts for the fan-out) -------------------------------------
  if [ -f "$cdir/env" ] && sh scripts/cluster.sh status >/dev/null 2>&1; then
    cluster_prev="$(sed -n 's/^CLUSTER_N=//p' "$cdir/env")"
  fi
  if [ "$cluster_prev" = 21 ]; then
    echo "bench: cluster already up with 21 hosts; left up" >&2
    cluster_prev=""
  else
    [ -z "$cluster_prev" ] || echo "bench: cluster up with N=$cluster_prev; replacing it with N=21" >&2
    cluster_ours=1
    MITOSIS_CLUSTER_QUIET=1 sh scripts/cluster.sh up 21 >&2
  fi
  hosts=""
  i=1
  while [ "$i" -le 20 ]; do
    a="$(sed -n "s/^CLUSTER_ADDR_h$i=//p" "$cdir/env")"
    hosts="$hosts $a"
    i=$((i + 1))
  done
  ckey="$cdir/id_ed25519"
  ckh="$cdir/known_hosts"
  ns="ip netns exec mitosis-ctl"

  rounds="${BENCH_ROUNDS:-3}"
  pin="${BENCH_PIN:-0}"
  pin_cmd=""
  [ "$pin" = none ] || pin_cmd="taskset -c $pin"
  echo "bench: $rounds round(s), bench programs and clients pinned to CPUs: $pin (sshds not)" >&2

  # Untimed: installs the bundle for the fan-out (the 20 hosts share this
  # machine's file system, so one install serves all of them).
  # shellcheck disable=SC2086  # $ns, $pin_cmd and $hosts are word lists
  run fanout-warm $ns $pin_cmd "$bin" fanout "$ckey" "$ckh" "$work/cache-fanout" 0 $hosts

  r=1
  while [ "$r" -le "$rounds" ]; do
    cpu_busy >"$out/env.$r"
    # shellcheck disable=SC2086
    {
      run "ours.$r" $pin_cmd "$bin" loopback "$port" "$pport" "$key" "$kh" "$work" 10 5000 100
      run "openssh.$r" $pin_cmd "$bin" openssh "$port" "$pport" "$key" "$kh" 10 5000 256
      run "mitogen.$r" $pin_cmd "$py" bench/mitogen_ssh_bench.py loopback "$port" "$key" "$kh" 10 2000
      run "fanout.$r" $ns $pin_cmd "$bin" fanout "$ckey" "$ckh" "$work/cache-fanout" 3 $hosts
      run "pssh.$r" $ns $pin_cmd "$bin" pssh "$ckey" "$ckh" 3 $hosts
      run "mitogen_fanout.$r" $ns $pin_cmd "$py" bench/mitogen_ssh_bench.py fanout "$ckey" "$ckh" 3 $hosts
    }
    rm -rf "$work"/cold.*
    r=$((r + 1))
  done

  # -- report -----------------------------------------------------------------------
  BENCH_PIN_LIST="$pin" "$py" - "$out"/env.* "$out"/ours.* "$out"/openssh.* "$out"/mitogen.* \
    "$out"/fanout.* "$out"/pssh.* "$out"/mitogen_fanout.* <<'PYEOF'
import os
import sys

sys.path.insert(0, "bench")  # run from the repository root
from bench_util import (json_value, num, print_json, print_table, print_target_rows,
                        read_rounds, require, warn_if_busy)

pin = os.environ.get("BENCH_PIN_LIST", "none")

samples, text, v = read_rounds(sys.argv[1:])
for k in ("rtt_stalls", "rtt2_stalls"):
    if k in samples:
        v[k] = sum(samples[k])  # every stall, not a median
rounds = len(samples.get("rtt_us", []))

required = ["start_cached_ms", "start_cold_ms", "ssh_true_ms", "mitogen_start_ms",
            "rtt_us", "rtt2_us", "ssh_echo_rtt_us", "mitogen_rtt_us", "mitogen_rtt2_us",
            "mib_s", "ssh_cat_mib_s", "fanout20_ms", "pssh20_ms", "mitogen_fanout20_ms",
            "cached_start_bytes", "ssh_true_bytes"]
require(v, required)

ratios = {
    "start_cached_vs_ssh_true": v["start_cached_ms"] / v["ssh_true_ms"],
    "start_cold_vs_ssh_true": v["start_cold_ms"] / v["ssh_true_ms"],
    "rtt_vs_ssh_echo": v["rtt_us"] / v["ssh_echo_rtt_us"],
    "mitogen_rtt_vs_rtt": v["mitogen_rtt_us"] / v["rtt_us"],
    "mitogen_rtt2_vs_rtt2": v["mitogen_rtt2_us"] / v["rtt2_us"],
    "mib_s_vs_ssh_cat": v["mib_s"] / v["ssh_cat_mib_s"],
    "fanout20_vs_pssh20": v["fanout20_ms"] / v["pssh20_ms"],
    "mitogen_fanout20_vs_fanout20": v["mitogen_fanout20_ms"] / v["fanout20_ms"],
    "mitogen_start_vs_start_cached": v["mitogen_start_ms"] / v["start_cached_ms"],
    "cached_start_bytes_minus_ssh_true": v["cached_start_bytes"] - v["ssh_true_bytes"],
}
if "ssh_true_c25519_ms" in v:
    ratios["start_cached_vs_ssh_true_c25519"] = v["start_cached_ms"] / v["ssh_true_c25519_ms"]
    ratios["start_cold_vs_ssh_true_c25519"] = v["start_cold_ms"] / v["ssh_true_c25519_ms"]
rt = ratios

# (metric, ours, baseline name, baseline, ratio text, target text, pass or None)
rows = [
    ("start_cached_ms", v["start_cached_ms"], "ssh true", v["ssh_true_ms"],
     "%.2fx" % rt["start_cached_vs_ssh_true"], "ours/ssh <= 1.1",
     rt["start_cached_vs_ssh_true"] <= 1.1),
    ("start_cold_ms", v["start_cold_ms"], "ssh true", v["ssh_true_ms"],
     "%.2fx" % rt["start_cold_vs_ssh_true"], "ours/ssh <= 1.5",
     rt["start_cold_vs_ssh_true"] <= 1.5),
    ("rtt_us", v["rtt_us"], "ssh cat echo", v["ssh_echo_rtt_us"],
     "%.2fx" % rt["rtt_vs_ssh_echo"], "ours/raw <= 1", rt["rtt_vs_ssh_echo"] <= 1),
    ("rtt_us vs mitogen", v["rtt_us"], "mitogen", v["mitogen_rtt_us"],
     "%.2fx" % rt["mitogen_rtt_vs_rtt"], "mitogen/ours >= 3", rt["mitogen_rtt_vs_rtt"] >= 3),
    ("mib_s", v["mib_s"], "ssh cat", v["ssh_cat_mib_s"],
     "%.2fx" % rt["mib_s_vs_ssh_cat"], "ours/raw >= 0.8", rt["mib_s_vs_ssh_cat"] >= 0.8),
    ("fanout20_ms", v["fanout20_ms"], "parallel-ssh", v["pssh20_ms"],
     "%.2fx" % rt["fanout20_vs_pssh20"], "ours/pssh <= 1", rt["fanout20_vs_pssh20"] <= 1),
    ("cached_start_bytes", v["cached_start_bytes"], "ssh true", v["ssh_true_bytes"],
     "%+d B" % rt["cached_start_bytes_minus_ssh_true"], "ours <= ssh + 2048 B",
     rt["cached_start_bytes_minus_ssh_true"] <= 2048),
    ("rtt2_us (2 hops)", v["rtt2_us"], "mitogen", v["mitogen_rtt2_us"],
     "%.2fx" % rt["mitogen_rtt2_vs_rtt2"], "mitogen/ours >= 3", rt["mitogen_rtt2_vs_rtt2"] >= 3),
    ("start_cached_ms vs mitogen", v["start_cached_ms"], "mitogen", v["mitogen_start_ms"],
     "%.2fx" % rt["mitogen_start_vs_start_cached"], "-", None),
    ("fanout20_ms vs mitogen", v["fanout20_ms"], "mitogen", v["mitogen_fanout20_ms"],
     "%.2fx" % rt["mitogen_fanout20_vs_fanout20"], "-", None),
]
if "ssh_true_c25519_ms" in v:
    rows.append(("start_cached_ms vs curve25519", v["start_cached_ms"],
                 "ssh true, curve25519 kex", v["ssh_true_c25519_ms"],
                 "%.2fx" % rt["start_cached_vs_ssh_true_c25519"], "-", None))
if "ssh_chain_chain100_us" in v:
    # 100 pipelined calls over the hop: about one round trip plus their run time.
    rows.append(("chain100_us (ssh hop)", v["ssh_chain_chain100_us"], "seq100",
                 v["ssh_chain_seq100_us"],
                 "%.2fx" % (v["ssh_chain_chain100_us"] / v["ssh_chain_seq100_us"]),
                 "chain <= 1 rtt + 100 x 10 us",
                 v["ssh_chain_chain100_us"] <= v["ssh_chain_one_rtt_us"] + 1000))
if "rtt_busy_us" in v:
    rows.append(("rtt_us, 20 more contexts", v["rtt_busy_us"], "ssh cat echo",
                 v["ssh_echo_rtt_us"], "%.2fx" % (v["rtt_busy_us"] / v["ssh_echo_rtt_us"]),
                 "-", None))

print_table([(name, num(ours), "%s (%s)" % (num(base), bname), ratio, target,
              "-" if ok is None else ("pass" if ok else "FAIL"))
             for name, ours, bname, base, ratio, target, ok in rows])

failed = [r[0] for r in rows if r[6] is False]
print()
print("pinned to CPUs: %s (bench programs and ssh clients; sshds and agents not)"
      % (pin if pin != "none" else "no (scheduler's choice)"))
per_round = ("start_cached_ms", "start_cold_ms", "ssh_true_ms", "rtt_us", "ssh_echo_rtt_us",
             "mitogen_rtt_us", "mib_s", "ssh_cat_mib_s", "fanout20_ms", "pssh20_ms",
             "mitogen_fanout20_ms")
print("medians over %d round(s); per round:" % rounds)
for k in per_round:
    print("  %-20s %s" % (k, " ".join(num(x) for x in samples[k])))
print("calls that took > 100 ms (ssh pump stalls, over all rounds): %d one hop, %d two hops"
      % (v.get("rtt_stalls", 0), v.get("rtt2_stalls", 0)))
print("bytes: cached start %d up + %d down; ssh true %d up + %d down"
      % (v.get("cached_start_bytes_up", 0), v.get("cached_start_bytes_down", 0),
         v.get("ssh_true_bytes_up", 0), v.get("ssh_true_bytes_down", 0)))
print("mitogen %s" % text.get("mitogen_version", "?"))
print("targets failed: %s" % (", ".join(failed) if failed else "none"))
warn_if_busy(v, "every figure")

keys = required + ["ssh_true_c25519_ms", "rtt_busy_us", "ssh_chain_one_rtt_us",
                   "ssh_chain_chain100_us", "ssh_chain_seq100_us",
                   "start_cached_min_ms", "start_cold_min_ms", "ssh_true_min_ms",
                   "mitogen_start_min_ms", "rtt_min_us", "rtt2_min_us",
                   "ssh_echo_rtt_min_us", "rtt_stalls", "rtt2_stalls",
                   "fanout20_first_ms", "cached_start_bytes_up", "cached_start_bytes_down",
                   "cached_start_first_call_bytes", "ssh_true_bytes_up",
                   "ssh_true_bytes_down", "cpu_busy_pct", "cpus"]
result = {k: json_value(v[k]) for k in keys if k in v}
for k, x in ratios.items():
    result[k] = json_value(x)
print_json(result, rounds, pin, failed)
PYEOF
  exit 0
fi

if [ "$mode" = actors ]; then
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
fi

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
