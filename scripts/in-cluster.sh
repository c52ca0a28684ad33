#!/bin/sh
# Runs a test program inside the test cluster's control namespace
# (mitosis-ctl). Listing tests needs no cluster; anything else fails
# loudly when the cluster is not up.
case " $* " in
  *" --list-test-names-only "*|*" --list-tests "*|*" --list-reporters "*) exec "$@" ;;
esac
if ! ip netns list 2>/dev/null | grep -q '^mitosis-ctl\b'; then
  echo "in-cluster: the test cluster is not up (scripts/cluster.sh up)" >&2
  exit 1
fi
exec ip netns exec mitosis-ctl "$@"
