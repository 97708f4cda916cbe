#!/usr/bin/env bash
# Runs taskfarm-workers.sbatch on a real, throwaway one-node Slurm cluster:
# its own munged (own key and socket) and slurmctld + slurmd on free loopback
# ports, all under a temporary directory, stopped at the end.
#
#   deploy/slurm/check-with-local-slurm.sh [BIN_DIR]     # BIN_DIR has worker, coordinator
#
# 1. coordinator in the job (TASKFARM_TASKS), CURVE keys, bound to loopback:
#    the job completes, exit 0, every record ok, from 2 workers;
# 2. workers for a coordinator outside the job (TASKFARM_CONNECT), submitted
#    before it starts: the run completes, the job ends by itself with exit 0
#    (or, see the known issue below, on scancel);
# 3. TASKFARM_FOREVER=1: the workers serve two runs, then scancel ends them
#    (SIGTERM: they say they hand back their tasks) and no worker is left;
# 4. taskfarm-shards.sbatch, --array 0-3 over one file of 4,000 tasks: each
#    element's output has its shard's ids (id % 4 == K) once; a merge job
#    (--dependency=afterok) joins them into every id once;
# 5. the same, one element scancelled mid-run: merge says its tasks were
#    cancelled (outputs) or are missing (journals); that element resubmitted
#    alone (--array 2, TASKFARM_RESUME=1, TASKFARM_SHARDS=4) takes its
#    journalled tasks and runs the rest: merged, every id once.
# Needs root and Debian's slurm-wlm and munge (scripts/setup installs them,
# starting no system daemon); otherwise prints SKIP and exits 77 (or, with
# CI=true, FAIL and exits 1).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(cd "${1:-$ROOT/build/bin}" 2>/dev/null && pwd) || { echo "FAIL: no directory ${1:-$ROOT/build/bin}"; exit 1; }
SBATCH_SCRIPT=$HERE/taskfarm-workers.sbatch

# CI must show this test run, not skipped: there a missing prerequisite fails.
skip() {
  [[ ${CI:-} == true ]] && { echo "FAIL: CI=true but cannot run: $*"; exit 1; }
  echo "SKIP: $*"; exit 77
}
[[ $(id -u) == 0 ]] || skip "not root (slurmd must run as root)"
for t in slurmctld slurmd sbatch squeue scancel scontrol munged mungekey; do
  command -v "$t" >/dev/null 2>&1 || skip "$t missing (apt-get install slurm-wlm munge)"
done
[[ -x $BIN/worker && -x $BIN/coordinator ]] || { echo "FAIL: no worker/coordinator in $BIN"; exit 1; }

PASSED=0 FAILED=0
check() {
  local what=$1; shift
  if "$@"; then echo "ok   - $what"; PASSED=$((PASSED + 1)); else echo "FAIL - $what"; FAILED=$((FAILED + 1)); fi
}

T=$(mktemp -d /tmp/slurm-check.XXXXXX)
chmod 755 "$T"
PIDS=()      # daemons we started
CPORTS=()
cleanup() {
  set +e
  local p
  if [[ -n ${SLURM_CONF:-} ]] && [[ -f $SLURM_CONF ]]; then
    for j in $(squeue -h -o %i 2>/dev/null); do scancel "$j" 2>/dev/null; done
  fi
  # Coordinators of this script's task files (local workers die with them).
  for p in $(pgrep -f -- "--tasks $T/"); do kill -KILL "$p" 2>/dev/null; done
  for port in "${CPORTS[@]}"; do
    for p in $(pgrep -f -- "--connect tcp://127.0.0.1:$port( |\$)"); do kill -KILL "$p" 2>/dev/null; done
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  if ((FAILED)); then
    echo "---- slurmctld / slurmd logs"; tail -n 15 "$T"/log/*.log 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

read -r EPH_LO _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPH_LO=32768
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((10000 + RANDOM % (EPH_LO - 10000)))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}
wait_until() {  # seconds command...
  local deadline=$((SECONDS + $1)); shift
  while ((SECONDS < deadline)); do "$@" && return 0; sleep 0.3; done
  "$@"
}

# --- munge and slurm --------------------------------------------------------
mkdir -p "$T"/{munge,state,spool,log,run,keys/authorized,jobs}
chmod 700 "$T/munge"
mungekey -c -k "$T/munge/munge.key" || { echo "FAIL: mungekey"; exit 1; }
munged -F --force --socket="$T/munge/munge.sock" --key-file="$T/munge/munge.key" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" \
  >"$T/log/munged.out" 2>&1 &
PIDS+=($!)
check "munged runs" wait_until 10 test -S "$T/munge/munge.sock"

NODE=$(hostname -s)
CTLD_PORT=$(free_port); SLURMD_PORT=$(free_port)
export SLURM_CONF=$T/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=taskfarmcheck
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/run/slurmctld.pid
SlurmdPidFile=$T/run/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=10
# 4 CPUs on a 2-core machine (config_overrides: the node is not drained for
# it): the 4 shards of test 4 run at once, as on 4 nodes. Their tasks sleep.
SlurmdParameters=config_overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=4 RealMemory=1000 State=UNKNOWN
PartitionName=check Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i >"$T/log/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -N "$NODE" >"$T/log/slurmd.out" 2>&1 &
PIDS+=($!)
node_idle() { sinfo -h -o %t 2>/dev/null | grep -q '^idle'; }
if ! check "slurmctld and slurmd up, the node idle" wait_until 30 node_idle; then
  tail -n 5 "$T"/log/*.out; exit 1
fi

# --- keys and tasks ---------------------------------------------------------
(cd "$T/keys" && "$BIN/coordinator" keygen coordinator >/dev/null && "$BIN/coordinator" keygen worker >/dev/null &&
  cp worker.pub authorized/) || { echo "FAIL: coordinator keygen"; exit 1; }
chmod 700 "$T/keys"
TASKS=$T/jobs/tasks.txt
{ for _ in $(seq 30); do echo "sleep 150"; done; echo "cpu primes 300000"; } >"$TASKS"
NTASKS=31

job_done() { [[ -z $(squeue -h -j "$1" 2>/dev/null) ]]; }
job_field() { scontrol show job "$1" 2>/dev/null | grep -o "$2=[^ ]*" | head -n1 | cut -d= -f2; }
records_ok() {  # file
  [[ -f $1 ]] || return 1
  local total ok workers
  total=$(grep -c '"id"' "$1"); ok=$(grep -c '"ok":true' "$1")
  workers=$(grep -o '"worker":"[^"]*"' "$1" | sort -u | wc -l)
  echo "# $(basename "$1"): $total records, $ok ok, $workers worker(s)"
  ((total == NTASKS && ok == NTASKS && workers == 2))
}
submit() {  # exports...
  sbatch --parsable --chdir="$T/jobs" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=5 \
    --output="$T/jobs/slurm-%j.out" --export="ALL,TASKFARM_BIN=$BIN,TASKFARM_KEYS=$T/keys,$1" "$SBATCH_SCRIPT"
}
coordinator() {  # port output
  timeout 90 "$BIN/coordinator" --workers 0 --bind "tcp://127.0.0.1:$1" \
    --curve-secret "$T/keys/coordinator.key" --authorized-keys "$T/keys/authorized" \
    --min-workers 2 --wait-workers 60 --tasks "$TASKS" --output "$2" --quiet --no-progress >"$2.log" 2>&1
  local rc=$?
  if ((rc != 0)); then
    echo "# coordinator exited $rc after the run; its output:"; tail -n 20 "$2.log"
    echo "# the workers' job output:"; tail -n 20 "$T/jobs/slurm-$job.out"
  fi
  return "$rc"
}

# 1. coordinator inside the job.
P1=$(free_port); CPORTS+=("$P1")
job=$(submit "TASKFARM_TASKS=$TASKS,TASKFARM_BIND_ADDR=127.0.0.1,TASKFARM_PORT=$P1,TASKFARM_OUTPUT=$T/jobs/in-job.jsonl")
check "in-job coordinator: sbatch accepted the script (job $job)" test -n "$job"
check "in-job coordinator: the job finished within 90 s" wait_until 90 job_done "$job"
check "in-job coordinator: job COMPLETED, exit 0:0 ($(job_field "$job" JobState) $(job_field "$job" ExitCode))" \
  test "$(job_field "$job" JobState)" = COMPLETED -a "$(job_field "$job" ExitCode)" = 0:0
check "in-job coordinator: $NTASKS ok records from 2 workers" records_ok "$T/jobs/in-job.jsonl"
((FAILED)) && tail -n 30 "$T/jobs/slurm-$job.out"

# 2. workers for an outside coordinator, submitted before it starts.
P2=$(free_port); CPORTS+=("$P2")
job=$(submit "TASKFARM_CONNECT=tcp://127.0.0.1:$P2")
job_running() { [[ $(squeue -h -j "$job" -o %t 2>/dev/null) == R ]]; }
check "outside coordinator: the workers' job runs (job $job)" wait_until 30 job_running
sleep 1
coordinator "$P2" "$T/jobs/outside.jsonl"
rc=$?
check "outside coordinator: the run completed with exit 0 (got $rc)" test "$rc" -eq 0
check "outside coordinator: $NTASKS ok records from 2 workers" records_ok "$T/jobs/outside.jsonl"
# Without --forever the workers leave on the coordinator's Shutdown, and the
# job ends with them. Known issue (coordinator/worker, not this script): the
# coordinator closes its connections right after queueing Shutdown, and a
# worker that had not read it yet loses it and keeps reconnecting; then the
# job runs until scancel or its time limit.
if wait_until 20 job_done "$job"; then
  check "outside coordinator: the job ended by itself after the run" true
  check "outside coordinator: job COMPLETED, exit 0:0" \
    test "$(job_field "$job" JobState)" = COMPLETED -a "$(job_field "$job" ExitCode)" = 0:0
else
  echo "note - a worker was still there 20 s after the run (lost Shutdown); cancelling the job"
  scancel "$job"
  check "outside coordinator: scancel ended the job" wait_until 60 job_done "$job"
fi

# 3. --forever workers: two runs, then scancel.
P3=$(free_port); CPORTS+=("$P3")
job=$(submit "TASKFARM_CONNECT=tcp://127.0.0.1:$P3,TASKFARM_FOREVER=1")
check "forever: the workers' job runs (job $job)" wait_until 30 job_running
for run in a b; do
  coordinator "$P3" "$T/jobs/forever-$run.jsonl"
  rc=$?
  check "forever: run $run completed with exit 0 (got $rc)" test "$rc" -eq 0
  check "forever: run $run has $NTASKS ok records from 2 workers" records_ok "$T/jobs/forever-$run.jsonl"
done
check "forever: the job is still running after two runs" job_running
scancel "$job"
check "forever: scancel ended the job" wait_until 60 job_done "$job"
check "forever: both workers said they hand back their tasks on SIGTERM" \
  test "$(grep -c 'signal 15, handing back' "$T/jobs/slurm-$job.out")" -eq 2

# 4. Shards (taskfarm-shards.sbatch): an array of 4 coordinators over one task
#    file, each with its own local worker; merged, every id once.
SHARD_TASKS=$T/jobs/shard-tasks.txt
SHARD_N=4000
for _ in $(seq $SHARD_N); do echo "sleep 20"; done >"$SHARD_TASKS"
submit_shards() {  # array dir [more exports]
  local env=ALL,TASKFARM_BIN=$BIN,TASKFARM_TASKS=$SHARD_TASKS,TASKFARM_COORDINATOR_ARGS=--concurrency=4
  sbatch --parsable --chdir="$T/jobs" --array="$1" --cpus-per-task=1 --time=5 \
    --output="$T/jobs/shards-%A_%a.out" --export="$env,TASKFARM_DIR=$2${3:+,$3}" "$HERE/taskfarm-shards.sbatch"
}
states() {  # job: each element's ArrayTaskId:JobState:ExitCode, sorted
  scontrol -o show job "$1" 2>/dev/null |
    sed -n 's/.*ArrayTaskId=\([0-9]*\) .*JobState=\([A-Z_]*\) .*ExitCode=\([0-9:]*\).*/\1:\2:\3/p' |
    sort -n | tr '\n' ' '
}
# FILE holds every id below N that is K mod M (all with M=1) once, each ok, and
# no other id.
ids_once() {  # file n [m k]
  [[ -f $1 ]] || { echo "# $1: missing"; return 1; }
  awk -v n="$2" -v m="${3:-1}" -v k="${4:-0}" -v f="$(basename "$1")" '
    match($0, /"id":[0-9]+/) {
      id = substr($0, RSTART + 5, RLENGTH - 5) + 0
      if (id >= n || id % m != k) foreign++; else if (seen[id]++) dup++
      if ($0 !~ /"ok":true/) notok++
    }
    END {
      for (i = k; i < n; i += m) if (!(i in seen)) missing++
      printf "# %s: %d ids, %d missing, %d duplicate, %d not theirs, %d not ok\n",
        f, length(seen), missing, dup, foreign, notok
      exit (missing || dup || foreign || notok) ? 1 : 0
    }' "$1"
}
merge() {  # out shards...
  "$BIN/coordinator" merge --tasks "$SHARD_TASKS" "$@" >"$1.log" 2>&1
}
records() { local n; n=$(grep -c '"id"' "$1" 2>/dev/null); echo "${n:-0}"; }

R1=$T/jobs/run1
job=$(submit_shards 0-3 "$R1")
check "shards: sbatch accepted the array (job $job)" test -n "$job"
# The merge the script's header shows: a job that waits for the whole array.
mjob=$(sbatch --parsable --chdir="$T/jobs" --dependency="afterok:$job" --time=5 --output="$T/jobs/merge-%j.out" \
  --wrap "$BIN/coordinator merge --tasks $SHARD_TASKS $R1/merged.jsonl $R1/shard-*-of-4.jsonl")
both_done() { job_done "$job" && job_done "$mjob"; }
check "shards: the array and its afterok merge job finished within 90 s" wait_until 90 both_done
st=$(states "$job")
check "shards: all 4 elements COMPLETED, exit 0:0 ($st)" \
  test "$st" = "0:COMPLETED:0:0 1:COMPLETED:0:0 2:COMPLETED:0:0 3:COMPLETED:0:0 "
for k in 0 1 2 3; do
  check "shards: shard $k/4 has its 1000 ids (id % 4 == $k), once each" ids_once "$R1/shard-$k-of-4.jsonl" $SHARD_N 4 $k
done
check "shards: the afterok merge job COMPLETED ($(job_field "$mjob" JobState) $(job_field "$mjob" ExitCode))" \
  test "$(job_field "$mjob" JobState)" = COMPLETED -a "$(job_field "$mjob" ExitCode)" = 0:0
check "shards: its merged output has every id of the $SHARD_N once" ids_once "$R1/merged.jsonl" $SHARD_N
((FAILED)) && tail -n 20 "$T"/jobs/shards-"$job"_*.out "$T/jobs/merge-$mjob.out"

# 5. One element cancelled mid-run, then resubmitted alone with resume.
R2=$T/jobs/run2
job=$(submit_shards 0-3 "$R2")
# Some of shard 2's records journalled, not all: it is mid-run.
mid_run() { local n; n=$(records "$R2/shard-2-of-4.journal"); ((n >= 50 && n < 800)); }
check "cancel: shard 2 is mid-run (job ${job}_2)" wait_until 60 mid_run
scancel "${job}_2"
check "cancel: the array finished within 60 s" wait_until 60 job_done "$job"
st=$(states "$job")
two_cancelled() { [[ $st == "0:COMPLETED:0:0 1:COMPLETED:0:0 2:CANCELLED:"*" 3:COMPLETED:0:0 " ]]; }
check "cancel: shard 2 CANCELLED, the others COMPLETED ($st)" two_cancelled
ok2=$(grep -c '"ok":true' "$R2/shard-2-of-4.journal")
check "cancel: shard 2's journal holds some of its tasks ($ok2 of 1000 ok)" test "$ok2" -gt 0 -a "$ok2" -lt 1000
# The outputs have a record for every id (shard 2's unfinished ones cancelled);
# its journal has only what finished, and merging journals names what is not.
merge "$R2/merged.jsonl" "$R2"/shard-*-of-4.jsonl
rc=$?
check "cancel: merging the outputs exits 1, naming the cancelled tasks and their shard (got $rc)" \
  test "$rc" -eq 1 -a "$(grep -o "ok, 0 failed, [0-9]* cancelled" "$R2/merged.jsonl.log")" = "ok, 0 failed, $((1000 - ok2)) cancelled" \
  -a "$(grep -c "by shard: shard 2/4 ($((1000 - ok2)))" "$R2/merged.jsonl.log")" -eq 1
merge "$R2/merged-journals.jsonl" "$R2"/shard-*-of-4.journal
rc=$?
check "cancel: merging the journals exits 2, naming shard 2 (got $rc)" \
  test "$rc" -eq 2 -a "$(grep -c "by shard: shard 2/4 ($((1000 - ok2)))" "$R2/merged-journals.jsonl.log")" -eq 1
sed 's/^/#   /' "$R2/merged-journals.jsonl.log"
# --array 2 alone does not say how many shards there are: the script asks.
bad=$(submit_shards 2 "$R2" TASKFARM_RESUME=1)
wait_until 30 job_done "$bad"
check "resubmit: without TASKFARM_SHARDS the element fails with exit 2, saying why ($(states "$bad"))" \
  test "$(states "$bad")" = "2:FAILED:2:0 " -a "$(grep -c "set TASKFARM_SHARDS=N" "$T/jobs/shards-${bad}_2.out")" -eq 1
job=$(submit_shards 2 "$R2" TASKFARM_RESUME=1,TASKFARM_SHARDS=4)
check "resubmit: sbatch --array 2 with TASKFARM_RESUME=1 finished within 60 s (job $job)" wait_until 60 job_done "$job"
check "resubmit: COMPLETED, exit 0:0 ($(states "$job"))" test "$(states "$job")" = "2:COMPLETED:0:0 "
check "resubmit: it took the $ok2 journalled tasks from the journal" \
  grep -q "($ok2 from the journal)" "$T/jobs/shards-${job}_2.out"
check "resubmit: shard 2 now has its 1000 ids once" ids_once "$R2/shard-2-of-4.jsonl" $SHARD_N 4 2
merge "$R2/merged.jsonl" "$R2"/shard-*-of-4.jsonl
rc=$?
check "resubmit: merge exits 0 (got $rc)" test "$rc" -eq 0
check "resubmit: the merged output has every id of the $SHARD_N once" ids_once "$R2/merged.jsonl" $SHARD_N
merge "$R2/merged-journals.jsonl" "$R2"/shard-*-of-4.journal
rc=$?
check "resubmit: merging the journals exits 0 too (got $rc)" test "$rc" -eq 0
((FAILED)) && tail -n 20 "$T"/jobs/shards-*.out

left=$(pgrep -f -- "--connect tcp://127.0.0.1:($P1|$P2|$P3)( |\$)|--tasks $SHARD_TASKS" | tr '\n' ' ')
check "no worker or coordinator process is left${left:+ (left: $left)}" test -z "$left"

echo "slurm_sbatch: $PASSED passed, $FAILED failed"
((FAILED == 0))
