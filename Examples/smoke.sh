#!/usr/bin/env bash
# Builds every example package under Examples/ and smoke-runs each one against a real
# PostgreSQL, non-interactively, checking what it really did:
#   RunAsJob        the long job is cancelled by the command the example prints
#                   (`DATABASE_URL=… swift run jobkit cancel ID`: the main package's CLI, run
#                   from its built binary), and the example reports the job `cancelled`;
#   Batch           a folder of files goes through; the summary reports every file done;
#   HummingbirdApp  POST /documents, then GET /jobs/{id} until `done`; /admin refuses a request
#                   without the token and answers one with it;
#   VaporApp        POST /documents, then GET /jobs/:id until `done`;
#   both apps       SIGTERM, and they exit 0 once their workers have drained.
#
# The examples start their own private PostgreSQL cluster (EmbeddedPostgres) from the installed
# server binaries, as they do on a fresh machine: DATABASE_URL is unset for them. Needs the
# PostgreSQL server binaries and libpq-dev (`apt-get install postgresql libpq-dev`) and curl;
# .ci/run installs them. Every wait polls with a deadline; every process it started is stopped
# on the way out, even on failure.
#
# Usage: Examples/smoke.sh [EXAMPLE...]   (default: RunAsJob Batch HummingbirdApp VaporApp)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
unset DATABASE_URL

if [ "$#" -gt 0 ]; then EXAMPLES=("$@"); else EXAMPLES=(RunAsJob Batch HummingbirdApp VaporApp); fi
command -v curl > /dev/null 2>&1 || { echo "smoke: curl is missing (apt-get install curl)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/jobkit-examples-smoke.XXXXXX")"
STARTED=()          # the pids of the examples this script started
CURRENT_LOG=""      # the log shown when a check fails
SUMMARY=()          # one line per example: build and run times

# ---------------------------------------------------------------------------------------------
# Processes

# Whether a process is alive (a zombie, exited but not yet reaped, is not).
running() {
    local stat
    stat="$(cat "/proc/$1/stat" 2> /dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat:0:1}" != "Z" ]
}

# start NAME COMMAND...: runs COMMAND in the background, its output in $WORK/NAME.log; sets PID.
start() {
    local name=$1
    shift
    CURRENT_LOG="$WORK/$name.log"
    "$@" > "$CURRENT_LOG" 2>&1 &
    PID=$!
    STARTED+=("$PID")
}

# wait_exit PID SECONDS: waits for PID to end; sets EXIT_CODE. Fails on the deadline.
wait_exit() {
    local deadline=$((SECONDS + $2))
    while running "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "process $1 still running after $2 s"
        sleep 0.2
    done
    EXIT_CODE=0
    wait "$1" || EXIT_CODE=$?
}

# wait_for_line FILE REGEX SECONDS PID: waits for a line matching REGEX; sets LINE. Fails if PID
# ends first or on the deadline.
wait_for_line() {
    local deadline=$((SECONDS + $3))
    while :; do
        if LINE="$(grep -E -m1 -- "$2" "$1")"; then return 0; fi
        running "$4" || fail "the process ended before printing /$2/"
        [ "$SECONDS" -lt "$deadline" ] || fail "no line /$2/ within $3 s"
        sleep 0.2
    done
}

stop_all() {
    local pid deadline
    for pid in ${STARTED[@]+"${STARTED[@]}"}; do
        running "$pid" && kill -TERM "$pid" 2> /dev/null || true
    done
    deadline=$((SECONDS + 20))
    for pid in ${STARTED[@]+"${STARTED[@]}"}; do
        while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        running "$pid" && kill -KILL "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    STARTED=()
}

cleanup() {
    local status=$?
    stop_all
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "smoke: FAIL: $*" >&2
    if [ -n "$CURRENT_LOG" ] && [ -f "$CURRENT_LOG" ]; then
        echo "---- last lines of $(basename "$CURRENT_LOG") ----" >&2
        tail -n 60 "$CURRENT_LOG" >&2
        echo "----" >&2
    fi
    exit 1
}

expect_in_log() {
    grep -E -q -- "$1" "$CURRENT_LOG" || fail "the output has no line /$1/"
}

# ---------------------------------------------------------------------------------------------
# HTTP

# http METHOD URL [CURL ARGS...]: sets HTTP_STATUS and HTTP_BODY.
http() {
    local method=$1 url=$2
    shift 2
    HTTP_STATUS="$(curl -sS --max-time 10 -o "$WORK/http.body" -w '%{http_code}' -X "$method" "$@" "$url")" \
        || fail "curl $method $url failed"
    HTTP_BODY="$(cat "$WORK/http.body")"
}

# json_field NAME: the string or number value of "NAME" in HTTP_BODY (first occurrence).
json_field() {
    sed -nE "s/.*\"$1\" *: *\"?([^\",}]*)\"?.*/\1/p" <<< "$HTTP_BODY" | head -n 1
}

# post_document_and_wait BASE_URL: posts a document, polls its job until done; sets JOB_ID.
post_document_and_wait() {
    local base=$1 status progress deadline
    http POST "$base/documents" -H 'content-type: application/json' \
        -d '{"title": "smoke test", "body": "JobKit runs this document through a worker, step by step."}'
    [ "$HTTP_STATUS" = 202 ] || fail "POST /documents answered $HTTP_STATUS: $HTTP_BODY"
    JOB_ID="$(json_field job_id)"
    [[ "$JOB_ID" =~ ^[0-9a-f-]{36}$ ]] || fail "POST /documents answered no job_id: $HTTP_BODY"
    echo "   POST /documents -> 202, job $JOB_ID"
    deadline=$((SECONDS + 60))
    while :; do
        http GET "$base/jobs/$JOB_ID"
        [ "$HTTP_STATUS" = 200 ] || fail "GET /jobs/$JOB_ID answered $HTTP_STATUS: $HTTP_BODY"
        status="$(json_field status)"
        progress="$(json_field progress)"
        case "$status" in
            done) break ;;
            failed | cancelled) fail "the job ended $status: $HTTP_BODY" ;;
        esac
        [ "$SECONDS" -lt "$deadline" ] || fail "the job is still $status ($progress%) after 60 s"
        sleep 0.2
    done
    [ "$(json_field words)" = 10 ] || fail "the job's result is not 10 words: $HTTP_BODY"
    echo "   GET /jobs/$JOB_ID -> done, 100%, result $(json_field words) words"
    http GET "$base/jobs/00000000-0000-0000-0000-000000000000"
    [ "$HTTP_STATUS" = 404 ] || fail "GET /jobs/<unknown id> answered $HTTP_STATUS"
}

# sigterm_and_expect_clean_exit: SIGTERM to PID, which must exit 0 within 60 s.
sigterm_and_expect_clean_exit() {
    kill -TERM "$PID"
    wait_exit "$PID" 60
    [ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE after SIGTERM"
    echo "   SIGTERM -> exited 0"
}

# ---------------------------------------------------------------------------------------------
# The examples

smoke_RunAsJob() {
    local bin=$1 id url cancelled
    start runasjob "$bin/RunAsJob" --pages 1200 --page-milliseconds 100
    wait_for_line "$CURRENT_LOG" 'swift run jobkit cancel [0-9a-f-]{36}$' 120 "$PID"
    # The command the example prints, for a person: DATABASE_URL='…' swift run jobkit cancel ID.
    [[ "$LINE" =~ ^\ +DATABASE_URL=\'(postgresql://[^\']+)\'\ swift\ run\ jobkit\ cancel\ ([0-9a-f-]{36})$ ]] \
        || fail "the printed cancel command is not DATABASE_URL='URL' swift run jobkit cancel ID: $LINE"
    url="${BASH_REMATCH[1]}"
    id="${BASH_REMATCH[2]}"
    expect_in_log '^1\. tracked\("summarize-note"\) returned 7 words'
    wait_for_line "$CURRENT_LOG" 'page [0-9]+ of 1200' 30 "$PID"
    # The same command, with the jobkit binary built above rather than `swift run`, whose
    # build check alone can outlast the job on a busy machine.
    echo "   job $id running; cancelling it: DATABASE_URL='$url' jobkit cancel $id"
    cancelled="$(DATABASE_URL="$url" "$JOBKIT" cancel "$id" --reason "smoke test" --actor smoke 2>&1)" \
        || fail "jobkit cancel failed: $cancelled"
    echo "   jobkit: $cancelled"
    wait_exit "$PID" 30
    [ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
    expect_in_log "^3\. Job $id was cancelled from outside this process; it ended cancelled at [0-9]+% \(by smoke: smoke test\)\.$"
    echo "   the example reported: $(grep -E '^3\. ' "$CURRENT_LOG")"
}

smoke_Batch() {
    local bin=$1 folder="$WORK/files" i
    mkdir -p "$folder"
    for i in $(seq -w 1 16); do
        for _ in $(seq 1 "$((10#$i))"); do echo "line $i of a file with seven words"; done > "$folder/file-$i.txt"
    done
    start batch "$bin/Batch" "$folder" --concurrency 4 --work-milliseconds 200
    wait_exit "$PID" 120
    [ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
    expect_in_log '^Summary: 16 files, 16 done, 0 failed in [0-9.]+ s \(at most 4 at once\)\.$'
    expect_in_log '^Totals: 136 lines, 1088 words'
    expect_in_log '16/16'
    echo "   $(grep -E '^Summary: ' "$CURRENT_LOG")"
}

smoke_HummingbirdApp() {
    local bin=$1 base token="smoke-admin-token"
    JOBKIT_ADMIN_TOKEN="$token" start hummingbird "$bin/HummingbirdApp" --port 0 --step-milliseconds 200
    wait_for_line "$CURRENT_LOG" '^Listening on http://127\.0\.0\.1:[0-9]+$' 120 "$PID"
    base="${LINE#Listening on }"
    echo "   listening on $base"
    post_document_and_wait "$base"
    http GET "$base/admin/stats"
    [ "$HTTP_STATUS" = 401 ] || fail "GET /admin/stats without the token answered $HTTP_STATUS"
    http GET "$base/admin/jobs/$JOB_ID" -H "authorization: Bearer wrong-$token"
    [ "$HTTP_STATUS" = 401 ] || fail "GET /admin/jobs/ID with a wrong token answered $HTTP_STATUS"
    http GET "$base/admin/jobs/$JOB_ID" -H "authorization: Bearer $token"
    [ "$HTTP_STATUS" = 200 ] && [ "$(json_field status)" = done ] || fail "GET /admin/jobs/ID with the token answered $HTTP_STATUS: $HTTP_BODY"
    http GET "$base/admin/"
    [ "$HTTP_STATUS" = 303 ] || fail "GET /admin/ without a session answered $HTTP_STATUS, not a redirect to the login"
    echo "   /admin: 401 without the token, 200 with it; the page redirects to its login"
    sigterm_and_expect_clean_exit
    expect_in_log '^Stopped\.$'
}

smoke_VaporApp() {
    local bin=$1 base
    STEP_MILLISECONDS=200 start vapor "$bin/VaporApp" serve --hostname 127.0.0.1 --port 0
    wait_for_line "$CURRENT_LOG" 'Server started on http://127\.0\.0\.1:[0-9]+' 120 "$PID"
    base="$(grep -oE 'http://127\.0\.0\.1:[0-9]+' <<< "$LINE")"
    echo "   listening on $base"
    expect_in_log 'JobKit workers started'
    post_document_and_wait "$base"
    sigterm_and_expect_clean_exit
    expect_in_log 'JobKit workers stopped'
}

# ---------------------------------------------------------------------------------------------

echo "==> Building the jobkit CLI (the RunAsJob smoke run cancels with it)"
swift build --product jobkit
JOBKIT="$(swift build --show-bin-path)/jobkit"

for example in "${EXAMPLES[@]}"; do
    [ -f "Examples/$example/Package.swift" ] || fail "no example Examples/$example"
    declare -F "smoke_$example" > /dev/null || fail "no smoke run for $example"
    echo "==> $example: swift build --package-path Examples/$example"
    CURRENT_LOG="$WORK/$example.build.log"
    build_start=$SECONDS
    swift build --package-path "Examples/$example" > "$CURRENT_LOG" 2>&1 || fail "the build of $example failed"
    tail -n 1 "$CURRENT_LOG"
    # The examples compile without warnings in their own code.
    if grep -E "^$ROOT/Examples/$example/.*warning:" "$CURRENT_LOG"; then fail "$example compiles with warnings"; fi
    build_seconds=$((SECONDS - build_start))
    bin="$(swift build --package-path "Examples/$example" --show-bin-path)"
    echo "==> $example: smoke run"
    run_start=$SECONDS
    "smoke_$example" "$bin"
    stop_all
    run_seconds=$((SECONDS - run_start))
    SUMMARY+=("$(printf '  %-16s build %4d s   run %3d s   ok' "$example" "$build_seconds" "$run_seconds")")
done

echo "==> Examples smoke test passed"
printf '%s\n' "${SUMMARY[@]}"
