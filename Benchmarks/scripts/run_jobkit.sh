#!/bin/bash
# Runs jobkit-bench (workloads A, B, C, S of BENCHMARKS.md) against an already-running
# PostgreSQL cluster, each run in a fresh database that this script creates and drops,
# ROUNDS runs per workload. With PEERS="jobkit pgqueuer" (or procrastinate) it interleaves
# the Python peers of the shared peers/ folder in the same session, rotating the order each
# round, as peers/run_python_peers.sh does; summarize.py turns the output into medians and ratios.
#
# Environment (all optional):
#   PG         PostgreSQL binaries                         (default /usr/lib/postgresql/15/bin)
#   PGHOST_    the cluster's host                          (default 127.0.0.1)
#   PGPORT     the cluster's port                          (default 5432)
#   PGUSER_    a superuser (creates/drops databases)       (default postgres)
#   ROUNDS     runs per workload (and per peer)            (default 3)
#   WORKLOADS  subset of "A B C S"                         (default "A B C S")
#   PEERS      subset of "jobkit pgqueuer procrastinate"   (default "jobkit")
#   VARIANT    default | synccommit_off (ALTER DATABASE … SET synchronous_commit = off)  (default default)
#   OUT        JSON lines are appended here                (default $WORKDIR/results/raw_jobkit.jsonl)
#   WORKDIR    scratch folder                              (default ${TMPDIR:-/tmp}/jobkitbench)
#   BIN        the jobkit-bench executable                 (default: built here with swift build -c release)
#   PEERS_DIR  folder with bench_<peer>.py                 (default /work/shared/peers)
#   VENV       virtualenv with the Python peers installed  (default $WORKDIR/venv)
#   JOBKIT_ARGS  extra jobkit-bench flags (e.g. "--pool-connections 20"); label them with VARIANT
#   CALIB      1: before each round, time durable commits with pgbench -N at 1 and 10 clients
#              (fresh database) and log them as workload "commit" (default 1; 0 to skip)
#
# Example:
#   PGPORT=5497 ROUNDS=3 Benchmarks/scripts/run_jobkit.sh
#   PGPORT=5497 PEERS="jobkit pgqueuer" WORKLOADS=B VENV=/tmp/venv Benchmarks/scripts/run_jobkit.sh
#   python3 Benchmarks/scripts/summarize.py /tmp/jobkitbench/results/raw_jobkit.jsonl
set -u
PG=${PG:-/usr/lib/postgresql/15/bin}
ROUNDS=${ROUNDS:-3}
WORKLOADS=${WORKLOADS:-"A B C S"}
PEERS=(${PEERS:-jobkit})
VARIANT=${VARIANT:-default}
WORKDIR=${WORKDIR:-${TMPDIR:-/tmp}/jobkitbench}
OUT=${OUT:-$WORKDIR/results/raw_jobkit.jsonl}
PEERS_DIR=${PEERS_DIR:-/work/shared/peers}
VENV=${VENV:-$WORKDIR/venv}
JOBKIT_ARGS=${JOBKIT_ARGS:-}
CALIB=${CALIB:-1}
mkdir -p "$(dirname "$OUT")"
. "$(dirname "$0")/common.sh"
$PSQL -c "SELECT 1" >/dev/null || { echo "no PostgreSQL at $PGHOST_:$PGPORT" >&2; exit 1; }

fresh_db() {
  $PSQL -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  if [ "$VARIANT" = synccommit_off ]; then $PSQL -c "ALTER DATABASE $1 SET synchronous_commit = off" >/dev/null; fi
  $PSQL -c "CHECKPOINT" >/dev/null
}
drop_db() { $PSQL -c "DROP DATABASE IF EXISTS $1" >/dev/null; }
nfor() { case $1 in A|B) echo 20000;; C) echo 200;; S) echo 2000;; esac; }

run_one() {
  local peer=$1 wl=$2 r=$3 n db dsn
  n=$(nfor "$wl"); db="b_${peer}_${wl,,}_${VARIANT}_r${r}"
  dsn="postgresql://$PGUSER_@$PGHOST_:$PGPORT/$db"
  fresh_db "$db"
  echo "[$(date +%T)] $peer $wl run $r (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  if [ "$peer" = jobkit ]; then
    timeout 900 "$BIN" --workload "$wl" --n "$n" --run "$r" --variant "$VARIANT" --dsn "$dsn" $JOBKIT_ARGS
  else
    (cd "$PEERS_DIR" && timeout 900 "$VENV/bin/python" "bench_$peer.py" --workload "$wl" --n "$n" \
        --run "$r" --variant "$VARIANT" --dsn "$dsn")
  fi | grep '^{' | tee -a "$OUT"
  drop_db "$db"
}

# Durable commit rates on this machine today: one client (pgbench -N -c 1 -T 5), the bound of
# S and of each statement a worker commits; and ten (pgbench -N -c 10 -j 2 -T 10), BENCHMARKS.md's
# reference for comparing days. Logged as workload "commit".
calib() {
  local r=$1 db="b_pgbench_${VARIANT}_r$1" c out tps lat opts=""
  fresh_db "$db"
  [ "$VARIANT" = synccommit_off ] && opts="-c synchronous_commit=off"
  $PG/pgbench -h "$PGHOST_" -p "$PGPORT" -U "$PGUSER_" -i -q "$db" >/dev/null 2>&1
  for c in 1 10; do
    $PSQL -c "CHECKPOINT" >/dev/null
    out=$(PGOPTIONS="$opts" $PG/pgbench -h "$PGHOST_" -p "$PGPORT" -U "$PGUSER_" -N -c $c -j $(( c > 1 ? 2 : 1 )) \
        -T $(( c > 1 ? 10 : 5 )) "$db" 2>/dev/null)
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p')
    lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
    echo "{\"latency_ms\": ${lat:-null}, \"peer\": \"pgbench-N-c$c\", \"run\": \"$r\", \"tps\": ${tps:-null}, \"variant\": \"$VARIANT\", \"workload\": \"commit\"}" | tee -a "$OUT"
  done
  drop_db "$db"
}

np=${#PEERS[@]}
for r in $(seq 1 "$ROUNDS"); do
  [ "$CALIB" = 1 ] && calib "$r"
  for wl in $WORKLOADS; do
    for i in $(seq 0 $((np - 1))); do run_one "${PEERS[$(( (i + r - 1) % np ))]}" "$wl" "$r"; done
  done
done
