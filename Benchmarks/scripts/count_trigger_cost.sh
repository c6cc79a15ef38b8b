#!/usr/bin/env bash
# The count triggers' cost on writes: runs workloads A and B (ROUNDS times, fresh database each)
# with PostgreSQL's function statistics on, and prints each run's time beside the time spent in
# the trigger functions (pg_stat_user_functions). Needs a superuser URL (to set track_functions)
# and the release jobkit-bench and a debug jobkit built.
#   SERVER=postgresql://postgres@127.0.0.1:5499 ROUNDS=3 Benchmarks/scripts/count_trigger_cost.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SERVER=${SERVER:-postgresql://postgres@127.0.0.1:5499}
ROUNDS=${ROUNDS:-3}
for r in $(seq 1 "$ROUNDS"); do
  for w in A B; do
    db=trigcost_$(echo "$w" | tr A-Z a-z)_$r
    psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" -c "ALTER DATABASE $db SET track_functions = 'pl'"
    .build/debug/jobkit migrate --database-url "$SERVER/$db" > /dev/null
    line=$(Benchmarks/.build/release/jobkit-bench --workload "$w" --dsn "$SERVER/$db" --run "$r" 2> /dev/null)
    triggers=$(psql "$SERVER/$db" -Atc "SELECT pg_stat_force_next_flush()" \
      -c "SELECT string_agg(funcname || ': ' || calls || ' calls, ' || round(total_time::numeric, 1) || ' ms', '; ') FROM pg_stat_user_functions")
    echo "$w run $r: $(python3 -c 'import sys, json; j = json.loads(sys.argv[1]); print(round(j["seconds"] * 1000), "ms,", round(j["jobs_per_sec"]), "jobs/s")' "$line") | ${triggers//$'\n'/ }"
    psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $db"
  done
done
