#!/usr/bin/env bash
# A private single-node Slurm 22.05 (Debian 12 packages) for development and the `slurm` test tier.
#
#   scripts/dev/slurm-local.sh start|stop|status|start-ctld|stop-ctld|install [DIR]
#
# Everything it creates lives in DIR (default ${SLURM_LOCAL_DIR:-/tmp/eessi-bot-slurm}): config,
# munge key and socket, state, spool, logs and PID files. It runs munged, slurmctld and slurmd as
# root without systemd, on non-default ports so it never meets a system Slurm, and it only ever
# stops processes whose PID files it wrote. Clients find it through SLURM_CONF (printed by start).
#
# Environment overrides:
#   SLURM_LOCAL_DIR            default DIR
#   SLURM_LOCAL_CTLD_PORT      slurmctld port (default 6917)
#   SLURM_LOCAL_SLURMD_PORT    slurmd port (default 6918)
#   SLURM_LOCAL_SCHED_PARAMS   SchedulerParameters (default batch_sched_delay=0: released jobs
#                              start in well under a second instead of ~2.5 s)
#   SLURM_LOCAL_READY_TIMEOUT  seconds start waits for the node to be usable (default 30)
set -euo pipefail

PROG=slurm-local
NODE=localhost
FEATURES='shape=c4.2xlarge,shape=c5a.2xlarge'
PACKAGES=(slurmctld slurmd slurm-client munge)

say() { echo "$PROG: $*" >&2; }
die() {
  local code=$1
  shift
  say "$*"
  exit "$code"
}

usage() {
  cat >&2 <<EOF
usage: $0 start|stop|status|start-ctld|stop-ctld|install [DIR]
  start       start munged, slurmctld and slurmd (idempotent) and wait until node $NODE is usable
  stop        stop the daemons (and job steps) this script started in DIR
  status      show which daemons run; exit 0 only if all three run
  stop-ctld   stop only slurmctld (simulates a controller outage; queued jobs are kept)
  start-ctld  start slurmctld again and wait until the node is usable
  install     apt-get install -y --no-install-recommends ${PACKAGES[*]} (root, Debian)
DIR defaults to \${SLURM_LOCAL_DIR:-/tmp/eessi-bot-slurm}
EOF
}

CMD=${1:-}
[[ -n $CMD ]] || {
  usage
  exit 2
}
DIR=${2:-${SLURM_LOCAL_DIR:-/tmp/eessi-bot-slurm}}
case $DIR in
/*) ;;
*) DIR="$PWD/$DIR" ;;
esac
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6917}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6918}
SCHED_PARAMS=${SLURM_LOCAL_SCHED_PARAMS:-batch_sched_delay=0}
READY_TIMEOUT=${SLURM_LOCAL_READY_TIMEOUT:-30}

CONF="$DIR/etc/slurm.conf"
MUNGE_KEY="$DIR/munge/munge.key"
MUNGE_SOCKET="$DIR/munge-run/munge.socket"
RUN="$DIR/run"
LOG="$DIR/log"

# The daemons and every client we run find this private instance only through SLURM_CONF.
export SLURM_CONF="$CONF"

missing_commands() {
  local c missing=()
  for c in munged slurmctld slurmd sinfo scontrol sbatch squeue scancel; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  if ! command -v mungekey >/dev/null 2>&1 && ! command -v create-munge-key >/dev/null 2>&1; then
    missing+=(mungekey)
  fi
  echo "${missing[*]}"
}

require_packages() {
  local missing
  missing=$(missing_commands)
  if [[ -n $missing ]]; then
    say "missing commands: $missing"
    die 2 "install the Debian packages ${PACKAGES[*]} (as root: $0 install), then run start again"
  fi
}

require_root() {
  [[ $(id -u) -eq 0 ]] || die 2 "must run as root: this private Slurm runs its daemons and jobs as root (SlurmUser=root)"
}

# pid_of NAME: prints the PID from NAME's PID file if that process is alive and really is NAME
# (a stale PID file may name a reused PID that belongs to someone else).
pid_of() {
  local name=$1 file="$RUN/$1.pid" pid comm
  [[ -s $file ]] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [[ -n $pid ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == "$name" ]] || return 1
  echo "$pid"
}

is_running() { pid_of "$1" >/dev/null; }

# wait_pidfile NAME SECONDS: daemons fork; the PID file appears once the child is set up.
wait_pidfile() {
  local name=$1 limit=$(($2 * 10)) i
  for ((i = 0; i < limit; i++)); do
    is_running "$name" && return 0
    sleep 0.1
  done
  return 1
}

stop_one() {
  local name=$1 pid i
  pid=$(pid_of "$name") || {
    rm -f "$RUN/$name.pid"
    return 0
  }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) ignored SIGTERM for 10 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
  say "stopped $name (pid $pid)"
}

# slurmstepd and the job under it outlive slurmd. Our step daemons are recognised by the
# SLURM_CONF they inherited from our slurmd; each is killed with every process below it.
step_pids() {
  local p comm
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    [[ $comm == slurmstepd ]] || continue
    if tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF"; then
      echo "${p#/proc/}"
    fi
  done
}

stop_job_steps() {
  local p pid ppid stat steps=() tree=() i child
  declare -A children=()
  mapfile -t steps < <(step_pids)
  ((${#steps[@]})) || return 0
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    stat=$(cat "$p/stat" 2>/dev/null) || continue
    # Field 4 of /proc/PID/stat, read after the ")" that ends the command name.
    stat=${stat##*) }
    read -r _ ppid _ <<<"$stat"
    children[$ppid]+=" $pid"
  done
  tree=("${steps[@]}")
  for ((i = 0; i < ${#tree[@]}; i++)); do
    for child in ${children[${tree[$i]}]:-}; do tree+=("$child"); done
  done
  # SIGSTOP first so that nothing in the tree forks or respawns while it is being killed.
  kill -STOP "${tree[@]}" 2>/dev/null || true
  kill -KILL "${tree[@]}" 2>/dev/null || true
  say "stopped slurmstepd (pids ${steps[*]}) and ${#tree[@]} processes in all"
}

write_config() {
  mkdir -p "$DIR/etc" "$DIR/munge" "$DIR/munge-run" "$RUN" "$LOG" "$DIR/state" "$DIR/spool/slurmd"
  # munged refuses directories that others can write to.
  chmod 0755 "$DIR" "$DIR/munge-run" "$RUN" "$LOG"
  chmod 0700 "$DIR/munge"
  local cpus mem tmp
  cpus=$(nproc)
  # RealMemory above what slurmd finds drains the node ("Low RealMemory"); 90% of MemTotal is safe.
  mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  tmp=$(mktemp "$DIR/etc/.slurm.conf.XXXXXX")
  cat >"$tmp" <<EOF
# Written by scripts/dev/slurm-local.sh: a private single-node cluster; do not edit (start rewrites it).
ClusterName=eessi-bot-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups, no accounting daemon: neither exists in a container without systemd.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=$SCHED_PARAMS
# Finished jobs leave scontrol's memory after 2 s, so tests see purging quickly.
MinJobAge=2
# A stopped controller makes clients fail after seconds, not the default 10 s per try.
MessageTimeout=3
SlurmctldTimeout=30
SlurmdTimeout=30
ReturnToService=2
# A job whose node failed ends as NODE_FAIL instead of silently running again.
JobRequeue=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Features=$FEATURES State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=$NODE MaxTime=INFINITE State=UP
EOF
  if [[ -f $CONF ]] && cmp -s "$tmp" "$CONF"; then
    rm -f "$tmp"
  else
    if [[ -f $CONF ]] && { is_running slurmctld || is_running slurmd; }; then
      say "slurm.conf changed while daemons run: run '$0 stop $DIR' and start again to apply it"
    fi
    chmod 0644 "$tmp"
    mv -f "$tmp" "$CONF"
  fi
  if [[ ! -s $MUNGE_KEY ]]; then
    if command -v mungekey >/dev/null 2>&1; then
      mungekey --create --keyfile="$MUNGE_KEY" >/dev/null
    else
      dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
    chmod 0600 "$MUNGE_KEY"
  fi
}

start_munged() {
  is_running munged && return 0
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
  # --force: munged otherwise refuses to run as root.
  munged --force --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" --pid-file="$RUN/munged.pid" \
    --log-file="$LOG/munged.log" --seed-file="$DIR/munge/munged.seed" ||
    die 1 "munged failed to start; see $LOG/munged.log"
  wait_pidfile munged 10 || die 1 "munged did not write $RUN/munged.pid; see $LOG/munged.log"
  say "started munged (pid $(pid_of munged))"
}

start_slurmctld() {
  is_running slurmctld && return 0
  # Without -c slurmctld keeps the jobs of its last run, as a real controller restart would.
  slurmctld -f "$CONF" >>"$LOG/slurmctld.stderr" 2>&1 ||
    die 1 "slurmctld failed to start; see $LOG/slurmctld.log and $LOG/slurmctld.stderr"
  wait_pidfile slurmctld 15 || {
    tail_logs
    die 1 "slurmctld did not start"
  }
  say "started slurmctld (pid $(pid_of slurmctld))"
}

start_slurmd() {
  is_running slurmd && return 0
  slurmd -N "$NODE" -f "$CONF" >>"$LOG/slurmd.stderr" 2>&1 ||
    die 1 "slurmd failed to start; see $LOG/slurmd.log and $LOG/slurmd.stderr"
  wait_pidfile slurmd 15 || {
    tail_logs
    die 1 "slurmd did not start"
  }
  say "started slurmd (pid $(pid_of slurmd))"
}

tail_logs() {
  local f
  for f in slurmctld.log slurmctld.stderr slurmd.log slurmd.stderr munged.log; do
    [[ -s "$LOG/$f" ]] || continue
    echo "----- last lines of $LOG/$f" >&2
    tail -n 25 "$LOG/$f" >&2
  done
}

# Waits until sinfo reports the node in a state that runs jobs; resumes it once if a previous
# run left it down or drained.
wait_ready() {
  local start=$SECONDS state resumed=0
  while ((SECONDS - start < READY_TIMEOUT)); do
    state=$(sinfo --noheader --Node --nodes="$NODE" --format=%T 2>/dev/null | head -n 1 || true)
    case $state in
    idle | mixed | allocated | completing)
      say "ready: node $NODE $state after $((SECONDS - start)) s"
      return 0
      ;;
    *drain* | *down* | *fail*)
      if ((resumed == 0)); then
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        resumed=1
      fi
      ;;
    esac
    sleep 0.2
  done
  say "node $NODE not usable after $READY_TIMEOUT s (last state: '${state:-no answer}')"
  tail_logs
  exit 1
}

# After a stop or crash, slurmctld's saved state still shows the jobs that were running, and it
# may take many minutes to notice they are gone, keeping the node's CPUs allocated. With no
# slurmstepd of ours alive they cannot be running: taking the node down ends them (NODE_FAIL,
# not requeued: JobRequeue=0), as a real node reboot would.
fail_lost_jobs() {
  local lost
  [[ -z $(step_pids) ]] || return 0
  lost=$(squeue --noheader --states=RUNNING,COMPLETING,CONFIGURING,SUSPENDED --format=%i 2>/dev/null | tr '\n' ' ')
  [[ -n ${lost// /} ]] || return 0
  say "jobs ${lost% } were running when the cluster stopped: ending them by taking node $NODE down and up"
  scontrol update NodeName="$NODE" State=DOWN Reason="slurm-local.sh: restarted without its jobs" || true
  scontrol update NodeName="$NODE" State=RESUME || true
}

print_clients() {
  say "clients: export SLURM_CONF=$CONF"
  echo "export SLURM_CONF=$CONF"
}

cmd_start() {
  require_root
  require_packages
  write_config
  if ! is_running munged && { is_running slurmctld || is_running slurmd; }; then
    say "munged is not running but Slurm daemons are: restarting all"
    stop_one slurmd
    stop_one slurmctld
  fi
  start_munged
  start_slurmctld
  start_slurmd
  wait_ready
  fail_lost_jobs
  print_clients
}

cmd_start_ctld() {
  require_root
  require_packages
  [[ -f $CONF ]] || die 1 "no cluster in $DIR: run '$0 start $DIR' first"
  is_running munged || die 1 "munged is not running: run '$0 start $DIR'"
  start_slurmctld
  wait_ready
  print_clients
}

cmd_stop() {
  stop_one slurmd
  stop_job_steps
  stop_one slurmctld
  stop_one munged
}

cmd_status() {
  local name pid ok=0
  for name in munged slurmctld slurmd; do
    if pid=$(pid_of "$name"); then
      echo "$name: running (pid $pid)"
    else
      echo "$name: not running"
      ok=1
    fi
  done
  echo "config: $CONF"
  return $ok
}

cmd_install() {
  local missing
  missing=$(missing_commands)
  if [[ -z $missing ]]; then
    say "already installed: ${PACKAGES[*]}"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die 2 "missing: $missing; install the packages ${PACKAGES[*]} (Debian 12: apt-get install -y --no-install-recommends ${PACKAGES[*]}) as root"
  fi
  # Packaging scripts would try to start the system services; a policy-rc.d may refuse, which is fine.
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}" ||
    {
      apt-get update
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
    }
}

case $CMD in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
start-ctld) cmd_start_ctld ;;
stop-ctld) stop_one slurmctld ;;
install) cmd_install ;;
-h | --help | help) usage ;;
*)
  usage
  exit 2
  ;;
esac
