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
#
# bench/run.sh scale — 1,000 local contexts in a tree under `ulimit -n 1024`,
# the master's fds and RSS and an agent's RSS at that point, then start /
# call / kill -9 churn (bench/mode_scale.sh says more).
#
# bench/run.sh files — pushing files (docs/files.md): one 1 GiB file over
# one ssh hop against scp, 1,000 small files against Mitogen's FileService,
# 256 MiB to 20 cluster hosts behind one bastion against parallel-scp, and
# the local variants (BENCH_FILES_LOCAL=1: only those, no root needed).
#
# Each mode's runs and report are in bench/mode_<mode>.sh.
set -eu

mode="${1:-}"
case "$mode" in
  local|ssh|actors|scale|files) ;;
  *)
    echo "usage: $0 local|ssh|actors|scale|files" >&2
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
elif [ "$mode" = scale ]; then
  cmake --build "$build" -j"${JOBS:-2}" --target mitosis-bench-scale >&2
elif [ "$mode" = files ]; then
  cmake --build "$build" -j"${JOBS:-2}" --target mitosis-bench-files >&2
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


# Each mode's runs and report (sourced: they share what is set above).
. "$root/bench/mode_$mode.sh"
