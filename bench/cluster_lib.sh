# The test cluster for the bench modes that need it (ssh, scale's ssh200):
# sourced; defines
#   bench_cluster_up N       brings scripts/cluster.sh up with N hosts unless
#                            it is already up with N; sets $cdir, $ckey,
#                            $ckh, $ns, $cluster_hosts (h1..h(N-1)'s
#                            addresses: the hosts the control namespace
#                            reaches directly), $cluster_bastion (h1's
#                            address) and $cluster_behind (h2..hN's, as h1
#                            reaches them: hN is on lan1 only, which the
#                            control namespace does not reach, so a fan-out
#                            "behind one bastion" goes through h1)
#   bench_cluster_restore    at exit: takes it down again if we brought it
#                            up, and brings back a cluster that was up with
#                            another N (with new host keys)
cdir="${MITOSIS_CLUSTER_DIR:-/tmp/mitosis-cluster}"
cluster_ours=0
cluster_prev=""

# The addresses of hosts h$1..h$2, from the cluster's env file.
cluster_addrs() {
  i=$1
  while [ "$i" -le "$2" ]; do
    sed -n "s/^CLUSTER_ADDR_h$i=//p" "$cdir/env"
    i=$((i + 1))
  done | paste -sd ' ' -
}

bench_cluster_up() {
  if [ -f "$cdir/env" ] && sh scripts/cluster.sh status >/dev/null 2>&1; then
    cluster_prev="$(sed -n 's/^CLUSTER_N=//p' "$cdir/env")"
  fi
  if [ "$cluster_prev" = "$1" ]; then
    echo "bench: cluster already up with $1 hosts; left up" >&2
    cluster_prev=""
  else
    [ -z "$cluster_prev" ] || echo "bench: cluster up with N=$cluster_prev; replacing it with N=$1" >&2
    cluster_ours=1
    MITOSIS_CLUSTER_QUIET=1 sh scripts/cluster.sh up "$1" >&2
  fi
  cluster_hosts="$(cluster_addrs 1 $(($1 - 1)))"
  cluster_bastion="$(cluster_addrs 1 1)"
  cluster_behind="$(cluster_addrs 2 "$1")"
  ckey="$cdir/id_ed25519"
  ckh="$cdir/known_hosts"
  ns="ip netns exec mitosis-ctl"
}

# shellcheck disable=SC2317  # called by the modes' EXIT traps
bench_cluster_restore() {
  if [ "$cluster_ours" = 1 ]; then
    echo "bench: taking the cluster down" >&2
    MITOSIS_CLUSTER_QUIET=1 sh scripts/cluster.sh down >&2 || true
    if [ -n "$cluster_prev" ]; then
      echo "bench: bringing the cluster back up with N=$cluster_prev (new host keys)" >&2
      MITOSIS_CLUSTER_QUIET=1 sh scripts/cluster.sh up "$cluster_prev" >&2 || true
    fi
  fi
}
