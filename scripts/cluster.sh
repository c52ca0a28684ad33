#!/bin/sh
# shellcheck disable=SC2015,SC2046,SC2086  # word splitting of address lists is wanted
# A localhost test cluster made of network namespaces, each host with its
# own sshd. See docs/cluster.md.
#
#   scripts/cluster.sh up [N]          N hosts (default 4, 2..30); idempotent
#   scripts/cluster.sh down            remove everything 'up' made
#   scripts/cluster.sh exec <ns> cmd   run cmd in namespace ctl, h1 .. hN
#   scripts/cluster.sh status          print the cluster; exit 1 if not up
#
# Run as root. State lives in ${MITOSIS_CLUSTER_DIR:-/tmp/mitosis-cluster}.
set -eu

DIR=${MITOSIS_CLUSTER_DIR:-/tmp/mitosis-cluster}
PFX=mitosis-
SW=${PFX}sw
CTL=${PFX}ctl
NET0=10.77.0
NET1=10.77.1
CTL_ADDR=$NET0.1
SUDOERS=/etc/sudoers.d/mitosis-cluster
DOAS_CONF=/etc/doas.conf
DOAS_BIN=/usr/bin/doas
SSHD=/usr/sbin/sshd
MARK='# mitosis-cluster'
USER_TAG='mitosis-cluster test user'
ADMIN=mitosis-admin ADMIN_PW=admin-pw
NOPW=mitosis-nopw NOPW_PW=nopw-pw
PLAIN=mitosis-user PLAIN_PW=user-pw
# a user whose login shell is tcsh: sshd and su run stage-1 through it
CSH=mitosis-csh CSH_PW=csh-pw CSH_SHELL=/bin/tcsh
ALL_USERS="$ADMIN $NOPW $PLAIN $CSH"
WAIT_SECONDS=${MITOSIS_CLUSTER_WAIT:-5}

die() { echo "cluster: error: $*" >&2; exit 1; }
log() { [ -n "${MITOSIS_CLUSTER_QUIET:-}" ] || echo "cluster: $*" >&2; }

usage() {
  cat >&2 <<EOF
usage: $0 up [N]             start N hosts (default 4, 2..30)
       $0 down [--check]     remove everything (--check: fail if anything is left)
       $0 exec <ns> cmd...   run cmd in namespace ctl, h1 .. hN
       $0 status             show the cluster; exit 1 if not up
EOF
  exit 2
}

check_dir() {
  case $DIR in
    /*) ;;
    *) die "MITOSIS_CLUSTER_DIR must be an absolute path (got '$DIR')" ;;
  esac
  case $DIR in
    *[!A-Za-z0-9_./-]*) die "MITOSIS_CLUSTER_DIR may only hold [A-Za-z0-9_./-] (got '$DIR')" ;;
  esac
  [ "$DIR" != / ] || die "MITOSIS_CLUSTER_DIR must not be /"
}

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (netns, users, sudoers)"
}

need_tools() {
  for t in ip ssh-keygen bash timeout useradd usermod userdel chpasswd visudo flock; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' not found (apt-get install iproute2 openssh-client passwd sudo util-linux)"
  done
  [ -x "$SSHD" ] || die "$SSHD not found (apt-get install openssh-server)"
  [ -x "$CSH_SHELL" ] || die "$CSH_SHELL not found (apt-get install tcsh)"
}

# Serialise up/down. The lock is on this script itself, so nothing is left.
take_lock() {
  exec 9<"$0"
  flock -w 120 9 || die "timed out waiting for another cluster.sh up/down"
}

# --- layout -----------------------------------------------------------------
# host i of n: h1..h(n-1) on lan0 at 10.77.0.(10+i); h1 also on lan1 at
# 10.77.1.11; hn on lan1 only at 10.77.1.(10+n).
addr0() { [ "$1" -lt "$2" ] && echo "$NET0.$((10 + $1))" || true; }
addr1() {
  if [ "$1" = 1 ]; then echo "$NET1.11"
  elif [ "$1" = "$2" ]; then echo "$NET1.$((10 + $2))"
  fi
}
addrs() { a0=$(addr0 "$1" "$2"); a1=$(addr1 "$1" "$2"); echo $a0 $a1; }
main_addr() { a0=$(addr0 "$1" "$2"); [ -n "$a0" ] && echo "$a0" || addr1 "$1" "$2"; }

# 0 if pid $1 runs (a zombie does not count; kill -0 succeeds on zombies)
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  _state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$_state" ] && [ "$_state" != Z ]
}

our_netns() { ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PFX" || true; }

# --- checks -----------------------------------------------------------------
# 0 if the cluster in $DIR is fully up with n hosts.
is_up() {
  n=$1
  [ -f "$DIR/env" ] || return 1
  grep -qx "CLUSTER_N=$n" "$DIR/env" || return 1
  for ns in $SW $CTL; do [ -e "/run/netns/$ns" ] || return 1; done
  i=1
  while [ "$i" -le "$n" ]; do
    [ -e "/run/netns/${PFX}h$i" ] || return 1
    pid=$(cat "$DIR/h$i/sshd.pid" 2>/dev/null) || return 1
    alive "$pid" || return 1
    i=$((i + 1))
  done
  # no extra hosts from a bigger cluster
  [ ! -e "/run/netns/${PFX}h$i" ] || return 1
  return 0
}

tagged_users() {
  for u in $ALL_USERS; do
    gecos=$(getent passwd "$u" | cut -d: -f5) || continue
    [ "$gecos" = "$USER_TAG" ] && echo "$u"
  done
  return 0
}

anything_present() {
  [ -n "$(our_netns)" ] && return 0
  [ -e "$DIR" ] && return 0
  [ -e "$SUDOERS" ] && return 0
  [ -n "$(tagged_users)" ] && return 0
  [ -f "$DOAS_CONF" ] && head -n1 "$DOAS_CONF" | grep -q "^$MARK" && return 0
  return 1
}

# --- down -------------------------------------------------------------------
# ppid of pid $1 (empty if gone)
ppid_of() { sed -n 's/^PPid:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null || true; }

# 0 if pid $1 is this script, one of its ancestors (down run through
# 'exec ctl') or one of its descendants (command substitutions): never killed.
is_self() {
  case $ANCESTORS in *" $1 "*) return 0 ;; esac
  p=$1
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    [ "$p" != $$ ] || return 0
    p=$(ppid_of "$p")
  done
  return 1
}

# Sets $left to the live processes in our namespaces, except us.
netns_left() {
  left=""
  for ns in $(our_netns); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      if alive "$pid" && ! is_self "$pid"; then left="$left $pid"; fi
    done
  done
}

kill_netns_procs() {
  ANCESTORS=" "
  p=$$
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do ANCESTORS="$ANCESTORS$p "; p=$(ppid_of "$p"); done
  for sig in TERM TERM TERM TERM KILL KILL; do
    netns_left
    [ -n "$left" ] || return 0
    kill -"$sig" $left 2>/dev/null || true
    sleep 0.2
  done
  netns_left
  [ -z "$left" ] || echo "cluster: warning: processes still in namespaces:$left" >&2
}

teardown() {
  # sshd by pid file first (they live in the namespaces anyway)
  for f in "$DIR"/h*/sshd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null) || continue
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  kill_netns_procs
  for ns in $(our_netns); do
    ip netns del "$ns" 2>/dev/null || echo "cluster: warning: could not delete netns $ns" >&2
  done
  for u in $(tagged_users); do
    userdel -r "$u" >/dev/null 2>&1 || userdel -f -r "$u" >/dev/null 2>&1 || true
    if id "$u" >/dev/null 2>&1; then echo "cluster: warning: could not remove user $u" >&2; fi
  done
  if [ -e "$SUDOERS" ]; then
    if grep -q "^$MARK" "$SUDOERS"; then rm -f "$SUDOERS"
    else echo "cluster: warning: $SUDOERS is not ours, left alone" >&2; fi
  fi
  if [ -f "$DOAS_CONF" ] && head -n1 "$DOAS_CONF" | grep -q "^$MARK"; then
    rm -f "$DOAS_CONF"
  fi
  # /run/sshd only if 'up' made it and no other (non-zombie) sshd runs
  if [ -f "$DIR/.made-run-sshd" ] &&
     ! ps -eo stat=,comm= | awk '$2 == "sshd" && $1 !~ /^Z/ { found = 1 } END { exit !found }'; then
    rmdir /run/sshd 2>/dev/null || true
  fi
  if [ -e "$DIR" ]; then
    if [ -f "$DIR/.mitosis-cluster" ] || [ -z "$(ls -A "$DIR" 2>/dev/null)" ]; then
      rm -rf "$DIR"
    else
      echo "cluster: warning: $DIR is not a cluster state dir, left alone" >&2
    fi
  fi
}

cmd_down() {
  check=0
  [ "${1:-}" = --check ] && { check=1; shift; }
  [ $# -eq 0 ] || usage
  check_dir; need_root
  command -v ip >/dev/null 2>&1 || die "'ip' not found (apt-get install iproute2)"
  take_lock
  if anything_present; then
    teardown
    log "down"
  else
    log "nothing to remove"
  fi
  # --check: fail when anything of ours is still there.
  if [ "$check" = 1 ] && anything_present; then
    die "down left something behind (namespaces, users, sudoers or state dir)"
  fi
}

# --- up ---------------------------------------------------------------------
ensure_user() {
  u=$1 pw=$2 sh=${3:-/bin/sh}
  if id "$u" >/dev/null 2>&1; then
    log "reusing existing user $u (password and shell reset)"
    usermod -s "$sh" "$u"
  else
    if getent group "$u" >/dev/null 2>&1; then
      useradd -m -s "$sh" -c "$USER_TAG" -g "$u" "$u"
    else
      useradd -m -s "$sh" -c "$USER_TAG" "$u"
    fi
  fi
  printf '%s:%s\n' "$u" "$pw" | chpasswd
}

write_sudoers() {
  t=$DIR/sudoers.tmp
  cat >"$t" <<EOF
$MARK: written by scripts/cluster.sh up, removed by scripts/cluster.sh down
Defaults:$ADMIN,$NOPW,$PLAIN !lecture
Defaults:$ADMIN timestamp_timeout=0
$ADMIN ALL=(ALL:ALL) ALL
$NOPW ALL=(ALL:ALL) NOPASSWD: ALL
EOF
  visudo -cqf "$t" >/dev/null || die "visudo rejected the sudoers file ($t)"
  chown root:root "$t"
  chmod 0440 "$t"
  mv -f "$t" "$SUDOERS"
}

write_doas() {
  DOAS=0
  [ -x "$DOAS_BIN" ] || return 0
  if [ -e "$DOAS_CONF" ] && ! head -n1 "$DOAS_CONF" | grep -q "^$MARK"; then
    log "$DOAS_CONF exists and is not ours: doas rules not written"
    return 0
  fi
  t=$DIR/doas.tmp
  cat >"$t" <<EOF
$MARK: written by scripts/cluster.sh up, removed by scripts/cluster.sh down
permit $ADMIN as root
permit nopass $NOPW as root
permit nopass root
EOF
  "$DOAS_BIN" -C "$t" || die "doas rejected the config ($t)"
  chown root:root "$t"
  chmod 0600 "$t"
  mv -f "$t" "$DOAS_CONF"
  DOAS=1
}

write_sshd_config() {
  hd=$1; shift
  # h2 takes passwords only through keyboard-interactive (PAM), so that
  # both password kinds are tested.
  pwauth=yes
  [ "$(basename "$hd")" = h2 ] && pwauth=no
  {
    echo "$MARK sshd for $(basename "$hd")"
    echo "Port 22"
    echo "AddressFamily inet"
    for a in "$@"; do echo "ListenAddress $a"; done
    cat <<EOF
HostKey $hd/ssh_host_ed25519_key
PidFile $hd/sshd.pid
MaxStartups 200:30:400
MaxSessions 200
UseDNS no
PermitRootLogin yes
PasswordAuthentication $pwauth
KbdInteractiveAuthentication yes
UsePAM yes
StrictModes no
PubkeyAuthentication yes
AuthorizedKeysFile $DIR/authorized_keys
AllowTcpForwarding yes
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
  } >"$hd/sshd_config"
}

# Wait until the sshd at every address in $2.. sends its SSH banner, seen
# from netns $1. The probe answers with a banner of its own before it
# closes: a bare TCP connect would leave "kex_exchange_identification"
# errors in sshd.log. (ssh-keyscan works too but costs ~0.1 s CPU a host.)
# Prints the addresses that never answered.
wait_sshd() {
  ns=$1; shift
  # shellcheck disable=SC2016  # the script is for bash, not expanded here
  ip netns exec "$ns" bash -c '
    probe() {
      { read -r -t 1 l <&3 &&
        printf "SSH-2.0-mitosis-cluster-probe\r\n" >&3 &&
        case $l in SSH-2.0-*) return 0 ;; esac
        return 1
      } 3<>"/dev/tcp/$1/22"
    } 2>/dev/null
    deadline=$((SECONDS + $1)); shift
    for a in "$@"; do
      until probe "$a"; do
        if [ "$SECONDS" -ge "$deadline" ]; then echo "$a"; exit 1; fi
        sleep 0.05
      done
    done' wait_sshd "$WAIT_SECONDS" "$@"
}

on_up_exit() {
  rc=$?
  [ "$rc" -ne 0 ] || return 0
  trap - EXIT
  echo "cluster: error: up failed (exit $rc)" >&2
  for f in "$DIR"/h*/sshd.log "$DIR"/h*/sshd.start; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
  done
  if [ -n "${MITOSIS_CLUSTER_KEEP:-}" ]; then
    echo "cluster: MITOSIS_CLUSTER_KEEP set: leaving the half-made cluster; run 'down' later" >&2
  else
    echo "cluster: tearing down what was made (MITOSIS_CLUSTER_KEEP=1 keeps it)" >&2
    teardown || true
  fi
  exit "$rc"
}

do_up() {
  n=$1
  umask 022
  # sshd's privilege separation directory; ip netns exec does not touch /run
  if [ ! -d /run/sshd ]; then mkdir -p /run/sshd; made_run=1; else made_run=0; fi
  chmod 755 /run/sshd

  mkdir -p "$DIR"
  chmod 0711 "$DIR"   # others may reach authorized_keys (sshd reads it as the user)
  : >"$DIR/.mitosis-cluster"
  [ "$made_run" = 0 ] || : >"$DIR/.made-run-sshd"

  # client key, authorized for every user
  ssh-keygen -q -N '' -t ed25519 -C mitosis-cluster -f "$DIR/id_ed25519"
  cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
  chmod 0644 "$DIR/authorized_keys" "$DIR/id_ed25519.pub"
  chmod 0600 "$DIR/id_ed25519"

  # users, sudo, doas
  ensure_user "$ADMIN" "$ADMIN_PW"
  ensure_user "$NOPW" "$NOPW_PW"
  ensure_user "$PLAIN" "$PLAIN_PW"
  ensure_user "$CSH" "$CSH_PW" "$CSH_SHELL"
  write_sudoers
  write_doas

  # switch namespace with two bridges
  ip netns add "$SW"
  ip -n "$SW" link set lo up
  ip -n "$SW" link add lan0 type bridge
  ip -n "$SW" link add lan1 type bridge
  ip -n "$SW" link set lan0 up
  ip -n "$SW" link set lan1 up

  # control host
  ip netns add "$CTL"
  ip -n "$CTL" link set lo up
  ip -n "$SW" link add mx-ctlp type veth peer name mx-ctl netns "$CTL"
  ip -n "$SW" link set mx-ctlp master lan0 up
  ip -n "$CTL" addr add "$CTL_ADDR/24" dev mx-ctl
  ip -n "$CTL" link set mx-ctl up

  # hosts
  i=1
  while [ "$i" -le "$n" ]; do
    ns=${PFX}h$i
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
    a0=$(addr0 "$i" "$n"); a1=$(addr1 "$i" "$n")
    if [ -n "$a0" ]; then
      ip -n "$SW" link add "mx-h$i-0p" type veth peer name "mx-h$i-0" netns "$ns"
      ip -n "$SW" link set "mx-h$i-0p" master lan0 up
      ip -n "$ns" addr add "$a0/24" dev "mx-h$i-0"
      ip -n "$ns" link set "mx-h$i-0" up
    fi
    if [ -n "$a1" ]; then
      ip -n "$SW" link add "mx-h$i-1p" type veth peer name "mx-h$i-1" netns "$ns"
      ip -n "$SW" link set "mx-h$i-1p" master lan1 up
      ip -n "$ns" addr add "$a1/24" dev "mx-h$i-1"
      ip -n "$ns" link set "mx-h$i-1" up
    fi
    i=$((i + 1))
  done

  # sshd per host
  : >"$DIR/known_hosts"
  i=1
  while [ "$i" -le "$n" ]; do
    hd=$DIR/h$i
    mkdir -p "$hd"
    : >"$hd/empty_bashrc"
    ssh-keygen -q -N '' -t ed25519 -C "mitosis-cluster-h$i" -f "$hd/ssh_host_ed25519_key"
    key=$(cut -d' ' -f1,2 "$hd/ssh_host_ed25519_key.pub")
    for a in $(addrs "$i" "$n"); do echo "$a $key" >>"$DIR/known_hosts"; done
    write_sshd_config "$hd" $(addrs "$i" "$n")
    # Each host's sshd in a mount namespace of its own where root's
    # ~/.bashrc is empty: the hosts share this machine's files, and bash
    # sources that file for every command sshd runs. On a developer's
    # machine it can be slow and take locks (pyenv's rehash: 0.8 s a root
    # login here, and up to 60 s when parallel logins wait on its lock), a
    # cost of this machine, not of the host being modelled.
    ip netns exec "${PFX}h$i" unshare -m --propagation private sh -c '
      if [ -f /root/.bashrc ]; then mount --bind "$1/empty_bashrc" /root/.bashrc || exit 1; fi
      exec "$2" -f "$1/sshd_config" -E "$1/sshd.log"' sh "$hd" "$SSHD" \
      </dev/null >/dev/null 2>"$hd/sshd.start" 9<&- ||
      die "sshd for h$i did not start: $(cat "$hd/sshd.start")"
    i=$((i + 1))
  done
  chmod 0644 "$DIR/known_hosts"

  # wait until every sshd accepts connections: lan0 from ctl, lan1 from h1
  lan0=""; lan1=""
  i=1
  while [ "$i" -le "$n" ]; do
    a0=$(addr0 "$i" "$n"); a1=$(addr1 "$i" "$n")
    [ -z "$a0" ] || lan0="$lan0 $a0"
    [ -z "$a1" ] || lan1="$lan1 $a1"
    i=$((i + 1))
  done
  bad=$(wait_sshd "$CTL" $lan0) || die "sshd at $bad not answering from $CTL after ${WAIT_SECONDS}s"
  bad=$(wait_sshd "${PFX}h1" $lan1) || die "sshd at $bad not answering from ${PFX}h1 after ${WAIT_SECONDS}s"
  i=1
  while [ "$i" -le "$n" ]; do
    [ -s "$DIR/h$i/sshd.pid" ] || die "sshd for h$i wrote no pid file"
    i=$((i + 1))
  done

  # client config
  {
    echo "$MARK: OpenSSH client config; use with ssh -F $DIR/ssh_config hN"
    i=1
    while [ "$i" -le "$n" ]; do
      echo
      echo "Host h$i $(addrs "$i" "$n")"
      echo "  HostName $(main_addr "$i" "$n")"
      echo "  User root"
      echo "  Port 22"
      echo "  IdentityFile $DIR/id_ed25519"
      echo "  IdentitiesOnly yes"
      echo "  UserKnownHostsFile $DIR/known_hosts"
      echo "  GlobalKnownHostsFile /dev/null"
      echo "  StrictHostKeyChecking yes"
      echo "  LogLevel ERROR"
      [ "$i" != "$n" ] || echo "  ProxyJump h1"
      i=$((i + 1))
    done
  } >"$DIR/ssh_config"
  chmod 0644 "$DIR/ssh_config"

  # sourceable environment, written last: its presence means "up"
  hosts=""; i=1
  while [ "$i" -le "$n" ]; do hosts="$hosts h$i"; i=$((i + 1)); done
  {
    echo "$MARK: source this file (. $DIR/env)"
    echo "CLUSTER_DIR=$DIR"
    echo "CLUSTER_N=$n"
    echo "CLUSTER_HOSTS=\"${hosts# }\""
    echo "CLUSTER_CTL_NS=$CTL"
    echo "CLUSTER_CTL_ADDR=$CTL_ADDR"
    i=1
    while [ "$i" -le "$n" ]; do
      echo "CLUSTER_ADDR_h$i=$(main_addr "$i" "$n")"
      echo "CLUSTER_NS_h$i=${PFX}h$i"
      i=$((i + 1))
    done
    echo "CLUSTER_HIDDEN=h$n"
    echo "CLUSTER_GATEWAY=h1"
    echo "CLUSTER_GATEWAY_INNER=$NET1.11"
    echo "CLUSTER_KEY=$DIR/id_ed25519"
    echo "CLUSTER_KNOWN_HOSTS=$DIR/known_hosts"
    echo "CLUSTER_SSH_CONFIG=$DIR/ssh_config"
    echo "CLUSTER_ADMIN=$ADMIN"
    echo "CLUSTER_ADMIN_PW=$ADMIN_PW"
    echo "CLUSTER_NOPW=$NOPW"
    echo "CLUSTER_NOPW_PW=$NOPW_PW"
    echo "CLUSTER_USER=$PLAIN"
    echo "CLUSTER_USER_PW=$PLAIN_PW"
    echo "CLUSTER_CSH_USER=$CSH"
    echo "CLUSTER_CSH_USER_PW=$CSH_PW"
    echo "CLUSTER_DOAS=$DOAS"
  } >"$DIR/env.tmp"
  chmod 0644 "$DIR/env.tmp"
  mv -f "$DIR/env.tmp" "$DIR/env"
}

cmd_up() {
  [ $# -le 1 ] || usage
  n=${1:-4}
  case $n in ''|*[!0-9]*) die "N must be a number from 2 to 30 (got '$n')" ;; esac
  n=$((n + 0))
  [ "$n" -ge 2 ] && [ "$n" -le 30 ] || die "N must be from 2 to 30 (got $n)"
  check_dir; need_root; need_tools
  take_lock
  if is_up "$n"; then
    log "already up with N=$n ($DIR)"
    return 0
  fi
  if anything_present; then
    log "found a partial or different cluster; tearing it down first"
    teardown
  fi
  [ ! -e "$DIR" ] || die "$DIR exists and is not a cluster state dir; remove it or set MITOSIS_CLUSTER_DIR"
  start=$(date +%s.%N)
  trap on_up_exit EXIT
  do_up "$n"
  trap - EXIT
  end=$(date +%s.%N)
  log "up: $n hosts in $(echo "$start $end" | awk '{printf "%.1f", $2 - $1}') s; state in $DIR (. $DIR/env)"
}

# --- exec, status -----------------------------------------------------------
cmd_exec() {
  [ $# -ge 2 ] || usage
  ns=$1; shift
  case $ns in
    "$PFX"*) ;;
    ctl|sw|h[0-9]|h[0-9][0-9]) ns=$PFX$ns ;;
    *) die "unknown namespace '$ns' (ctl, h1 .. hN)" ;;
  esac
  [ -e "/run/netns/$ns" ] || die "namespace $ns does not exist (is the cluster up?)"
  exec ip netns exec "$ns" "$@"
}

cmd_status() {
  [ $# -eq 0 ] || usage
  check_dir
  if [ ! -f "$DIR/env" ]; then
    echo "cluster: not up (no $DIR/env)"
    left=$(our_netns | tr '\n' ' ')
    [ -z "$left" ] || echo "cluster: left-over namespaces: $left(run: $0 down)"
    return 1
  fi
  n=$(sed -n 's/^CLUSTER_N=//p' "$DIR/env")
  ok=0
  echo "dir   $DIR"
  printf '%-4s %-14s %-24s %s\n' host netns addresses sshd
  for ns in $SW $CTL; do
    [ -e "/run/netns/$ns" ] || { ok=1; echo "missing namespace $ns"; }
  done
  printf '%-4s %-14s %-24s %s\n' ctl "$CTL" "$CTL_ADDR" -
  i=1
  while [ "$i" -le "$n" ]; do
    ns=${PFX}h$i
    pid=$(cat "$DIR/h$i/sshd.pid" 2>/dev/null || echo none)
    st="pid $pid"
    if [ ! -e "/run/netns/$ns" ]; then st="$st (no namespace)"; ok=1
    elif [ "$pid" = none ] || ! alive "$pid"; then st="$st (dead)"; ok=1
    fi
    note=""
    [ "$i" != "$n" ] || note=" hidden, via h1"
    printf '%-4s %-14s %-24s %s%s\n' "h$i" "$ns" "$(addrs "$i" "$n")" "$st" "$note"
    i=$((i + 1))
  done
  if [ "$ok" = 0 ]; then echo "cluster: up, N=$n"; else echo "cluster: broken (run: $0 down)"; fi
  return "$ok"
}

[ $# -ge 1 ] || usage
sub=$1; shift
case $sub in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  exec) cmd_exec "$@" ;;
  status) cmd_status "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
