#!/bin/bash
# Workload B with and without periodic schedules: ROUNDS rounds, each running B with 0 and with
# SCHEDULES schedules (the order alternating from round to round), each run in a fresh
# database that this script creates and drops. JSON lines are appended to OUT; the variant is
# "schedules_<n>". Summarize with summarize.py, or read jobs_per_sec per variant.
#
# Environment (all optional):
#   PGHOST_ PGPORT PGUSER_   the cluster (default 127.0.0.1, 5432, postgres)
#   ROUNDS                   rounds (default 3)
#   SCHEDULES                schedules in the second variant (default 1000)
#   OUT                      JSON lines go here (default /tmp/schedules_cost.jsonl)
#   BIN                      the jobkit-bench executable (default: built here with swift build -c release)
#
# Example:
#   PGPORT=5499 ROUNDS=6 Benchmarks/scripts/schedules_cost.sh
set -u
ROUNDS=${ROUNDS:-3}
SCHEDULES=${SCHEDULES:-1000}
OUT=${OUT:-/tmp/schedules_cost.jsonl}
. "$(dirname "$0")/common.sh"

for r in $(seq 1 "$ROUNDS"); do
  order="0 $SCHEDULES"
  [ $((r % 2)) -eq 0 ] && order="$SCHEDULES 0"
  for s in $order; do
    db="b_schedules_${s}_r${r}"
    $PSQL -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    echo "[$(date +%T)] B with $s schedules, round $r (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    timeout 900 "$BIN" --workload B --dsn "postgresql://$PGUSER_@$PGHOST_:$PGPORT/$db" --run "$r" \
        --variant "schedules_$s" --schedules "$s" | grep '^{' | tee -a "$OUT"
    $PSQL -c "DROP DATABASE IF EXISTS $db" >/dev/null
  done
done
