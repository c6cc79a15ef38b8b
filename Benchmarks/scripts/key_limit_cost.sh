#!/bin/bash
# Workload B with a per-key limit, against plain B and against the same keyed jobs without the
# limit (issue 7's benchmark): ROUNDS rounds, each running the four variants in turn, each run
# in a fresh database that this script creates and drops. JSON lines are appended to OUT, with
# the variants "plain", "keys" (KEYS keys, no limit), "key_limit" (limit 1 per key) and
# "key_limit_schedules" (the limit, and SCHEDULES periodic schedules led while draining). The
# per-round ratios against "plain" and "keys" are printed at the end.
#
# Environment (all optional):
#   PGHOST_ PGPORT PGUSER_   the cluster (default 127.0.0.1, 5432, postgres)
#   ROUNDS                   rounds (default 3)
#   KEYS                     concurrency keys the keyed jobs spread over (default 100)
#   SCHEDULES                schedules of the last variant (default 1000)
#   OUT                      JSON lines go here (default /tmp/key_limit_cost.jsonl)
#   BIN                      the jobkit-bench executable (default: built here with swift build -c release)
#
# Example:
#   PGPORT=5499 ROUNDS=7 Benchmarks/scripts/key_limit_cost.sh
set -u
ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-100}
SCHEDULES=${SCHEDULES:-1000}
OUT=${OUT:-/tmp/key_limit_cost.jsonl}
. "$(dirname "$0")/common.sh"

# The summary reads only this invocation's lines.
first_line=$(( $( (cat "$OUT" 2>/dev/null || true) | wc -l) + 1 ))
variants=(
  "plain|"
  "keys|--keys $KEYS"
  "key_limit|--keys $KEYS --key-limit 1"
  "key_limit_schedules|--keys $KEYS --key-limit 1 --schedules $SCHEDULES"
)
for r in $(seq 1 "$ROUNDS"); do
  for variant in "${variants[@]}"; do
    name=${variant%%|*}
    read -r -a options <<< "${variant#*|}"
    db="b_${name}_r${r}"
    $PSQL -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    echo "[$(date +%T)] B $name, round $r (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    timeout 900 "$BIN" --workload B --dsn "postgresql://$PGUSER_@$PGHOST_:$PGPORT/$db" --run "$r" \
        --variant "$name" ${options[@]+"${options[@]}"} | grep '^{' | tee -a "$OUT"
    $PSQL -c "DROP DATABASE IF EXISTS $db" >/dev/null
  done
done

tail -n "+$first_line" "$OUT" | python3 -c '
import collections, json, statistics, sys
runs = collections.defaultdict(dict)
for line in sys.stdin:
    row = json.loads(line)
    runs[row["run"]][row["variant"]] = row["jobs_per_sec"]
for name in ("keys", "key_limit", "key_limit_schedules"):
    for base in ("plain", "keys"):
        if name == base:
            continue
        ratios = [r[name] / r[base] for r in runs.values() if name in r and base in r]
        if ratios:
            print(f"{name} / {base}: median of per-round ratios {statistics.median(ratios):.2f}, "
                  f"range {min(ratios):.2f}-{max(ratios):.2f} ({len(ratios)} rounds)")
'
