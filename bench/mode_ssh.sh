# bench/run.sh ssh: see bench/run.sh for what it measures.
# Sourced by bench/run.sh (its variables and functions: root, build, out,
# py, run, cpu_busy); exits with the mode's status.
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
. "$root/bench/cluster_21.sh"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null || true
  cluster_restore
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
cluster_up_21
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
