# The test cluster with 21 hosts for the ssh and files benches (sourced;
# uses $cdir, the cluster's directory). cluster_up_21 brings it up with 21
# hosts unless it is up with 21 already; cluster_restore (for the EXIT
# trap) takes it down again if cluster_up_21 brought it up, back up with
# its former N if it had one (with new host keys).
cluster_ours=0
cluster_prev=""
# shellcheck disable=SC2317  # called by the EXIT trap
cluster_restore() {
  if [ "$cluster_ours" = 1 ]; then
    echo "bench: taking the cluster down" >&2
    MITOSIS_CLUSTER_QUIET=1 sh scripts/cluster.sh down >&2 || true
    if [ -n "$cluster_prev" ]; then
      echo "bench: bringing the cluster back up with N=$cluster_prev (new host keys)" >&2
      MITOSIS_CLUSTER_QUIET=1 sh scripts/cluster.sh up "$cluster_prev" >&2 || true
    fi
  fi
}
cluster_up_21() {
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
}
