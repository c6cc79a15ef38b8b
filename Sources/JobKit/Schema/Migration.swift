/// One numbered change to JobKit's schema, with its way back.
public struct Migration: Sendable, Hashable {
    /// The version it brings the schema to.
    public var version: Int
    /// What it does, in a few words.
    public var name: String
    /// The SQL that applies it; `{schema}` stands for the schema's name.
    public var up: String
    /// The SQL that reverts it; `{schema}` stands for the schema's name.
    public var down: String
}

extension Migration {
    /// Every migration, in order. The last one's version is the schema version this code needs.
    public static let all: [Migration] = [
        Migration(
            version: 1,
            name: "jobs and job_events",
            up: """
                CREATE TYPE {schema}.job_status AS ENUM ('scheduled', 'in_progress', 'done', 'failed', 'cancelled');

                CREATE TABLE {schema}.jobs (
                    id uuid PRIMARY KEY,
                    queue text NOT NULL DEFAULT 'default',
                    job_type text NOT NULL CHECK (job_type <> ''),
                    status {schema}.job_status NOT NULL DEFAULT 'scheduled',
                    priority smallint NOT NULL DEFAULT 0,
                    payload jsonb NOT NULL DEFAULT '{}',
                    result jsonb,
                    error_message text,
                    attempt integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
                    max_attempts integer NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
                    progress smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
                    current_step text,
                    reference_type text,
                    reference_id text,
                    unique_key text,
                    run_at timestamptz NOT NULL DEFAULT now(),
                    created_at timestamptz NOT NULL DEFAULT now(),
                    started_at timestamptz,
                    finished_at timestamptz,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    timeout_ms bigint CHECK (timeout_ms > 0),
                    lease_owner text,
                    lease_token uuid,
                    lease_expires_at timestamptz,
                    cancel_requested_at timestamptz,
                    CONSTRAINT jobs_attempts_within_limit CHECK (attempt <= max_attempts),
                    CONSTRAINT jobs_reference_complete CHECK ((reference_type IS NULL) = (reference_id IS NULL)),
                    CONSTRAINT jobs_in_progress_has_lease CHECK (
                        status <> 'in_progress'
                        OR (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL AND started_at IS NOT NULL)),
                    CONSTRAINT jobs_finished_has_time CHECK (
                        (status IN ('done', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
                );

                -- The claim: runnable jobs of a queue, in order.
                CREATE INDEX jobs_claim_idx ON {schema}.jobs (queue, priority, run_at) WHERE status = 'scheduled';
                -- Running jobs by lease expiry: stuck-job recovery.
                CREATE INDEX jobs_lease_idx ON {schema}.jobs (lease_expires_at) WHERE status = 'in_progress';
                -- Finished jobs by age: retention.
                CREATE INDEX jobs_finished_idx ON {schema}.jobs (finished_at) WHERE finished_at IS NOT NULL;
                CREATE INDEX jobs_reference_idx ON {schema}.jobs (reference_type, reference_id) WHERE reference_type IS NOT NULL;
                CREATE UNIQUE INDEX jobs_unique_key_idx ON {schema}.jobs (unique_key) WHERE unique_key IS NOT NULL;

                CREATE TABLE {schema}.job_events (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    job_id uuid NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
                    at timestamptz NOT NULL DEFAULT now(),
                    kind text NOT NULL,
                    from_status {schema}.job_status,
                    to_status {schema}.job_status,
                    message text,
                    actor text,
                    attempt integer
                );
                CREATE INDEX job_events_job_idx ON {schema}.job_events (job_id, id);
                """,
            down: """
                DROP TABLE {schema}.job_events;
                DROP TABLE {schema}.jobs;
                DROP TYPE {schema}.job_status;
                """
        ),
        Migration(
            version: 2,
            name: "workers and maintenance runs",
            up: """
                -- Live executors, from their heartbeats: for health checks and stats.
                CREATE TABLE {schema}.workers (
                    id text PRIMARY KEY,
                    queues text[] NOT NULL,
                    concurrency integer NOT NULL,
                    running integer NOT NULL DEFAULT 0,
                    started_at timestamptz NOT NULL DEFAULT now(),
                    last_seen_at timestamptz NOT NULL DEFAULT now()
                );
                -- The outcome of each maintenance run (the last few are kept).
                CREATE TABLE {schema}.maintenance_runs (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    started_at timestamptz NOT NULL,
                    duration_ms double precision NOT NULL,
                    leader text NOT NULL,
                    succeeded boolean NOT NULL,
                    report jsonb NOT NULL
                );
                """,
            down: """
                DROP TABLE {schema}.maintenance_runs;
                DROP TABLE {schema}.workers;
                """
        ),
        Migration(
            version: 3,
            name: "job counts kept by triggers",
            up: """
                -- Exact counts per queue, type and status without counting the jobs table: every
                -- statement that adds, moves or deletes jobs appends its net changes to
                -- job_count_changes (a statement-level trigger over its transition tables), and
                -- rolling up folds those into job_counts. Counts = job_counts + job_count_changes.
                CREATE TABLE {schema}.job_counts (
                    queue text NOT NULL,
                    job_type text NOT NULL,
                    status {schema}.job_status NOT NULL,
                    n bigint NOT NULL,
                    PRIMARY KEY (queue, job_type, status)
                );
                CREATE TABLE {schema}.job_count_changes (
                    queue text NOT NULL,
                    job_type text NOT NULL,
                    status {schema}.job_status NOT NULL,
                    delta bigint NOT NULL
                );

                CREATE FUNCTION {schema}.jobs_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO {schema}.job_count_changes (queue, job_type, status, delta)
                    SELECT queue, job_type, status, count(*) FROM inserted GROUP BY 1, 2, 3;
                    RETURN NULL;
                END $$;
                CREATE FUNCTION {schema}.jobs_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO {schema}.job_count_changes (queue, job_type, status, delta)
                    SELECT queue, job_type, status, sum(delta) FROM (
                        SELECT queue, job_type, status, 1 AS delta FROM updated
                        UNION ALL
                        SELECT queue, job_type, status, -1 FROM replaced) AS moves
                    GROUP BY 1, 2, 3 HAVING sum(delta) <> 0;
                    RETURN NULL;
                END $$;
                CREATE FUNCTION {schema}.jobs_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO {schema}.job_count_changes (queue, job_type, status, delta)
                    SELECT queue, job_type, status, -count(*) FROM deleted GROUP BY 1, 2, 3;
                    RETURN NULL;
                END $$;
                CREATE FUNCTION {schema}.jobs_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    DELETE FROM {schema}.job_count_changes;
                    DELETE FROM {schema}.job_counts;
                    RETURN NULL;
                END $$;
                CREATE TRIGGER jobs_count_inserted AFTER INSERT ON {schema}.jobs
                    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_count_inserted();
                CREATE TRIGGER jobs_count_updated AFTER UPDATE ON {schema}.jobs
                    REFERENCING OLD TABLE AS replaced NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_count_updated();
                CREATE TRIGGER jobs_count_deleted AFTER DELETE ON {schema}.jobs
                    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_count_deleted();
                CREATE TRIGGER jobs_count_truncated AFTER TRUNCATE ON {schema}.jobs
                    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_count_truncated();

                -- The triggers' lock on jobs holds writers off until this commits: the count is exact.
                INSERT INTO {schema}.job_counts (queue, job_type, status, n)
                SELECT queue, job_type, status, count(*) FROM {schema}.jobs GROUP BY 1, 2, 3;
                """,
            down: """
                DROP TRIGGER jobs_count_truncated ON {schema}.jobs;
                DROP TRIGGER jobs_count_deleted ON {schema}.jobs;
                DROP TRIGGER jobs_count_updated ON {schema}.jobs;
                DROP TRIGGER jobs_count_inserted ON {schema}.jobs;
                DROP FUNCTION {schema}.jobs_count_truncated();
                DROP FUNCTION {schema}.jobs_count_deleted();
                DROP FUNCTION {schema}.jobs_count_updated();
                DROP FUNCTION {schema}.jobs_count_inserted();
                DROP TABLE {schema}.job_count_changes;
                DROP TABLE {schema}.job_counts;
                """
        ),
        Migration(
            version: 4,
            name: "flow control: unique states, concurrency keys, queue settings",
            up: """
                -- Unique jobs count only while in these states; NULL means in every state (the
                -- idempotency key of create and getOrCreate).
                ALTER TABLE {schema}.jobs ADD COLUMN unique_states {schema}.job_status[];
                DROP INDEX {schema}.jobs_unique_key_idx;
                CREATE UNIQUE INDEX jobs_unique_key_idx ON {schema}.jobs (unique_key)
                    WHERE unique_key IS NOT NULL AND (unique_states IS NULL OR status = ANY (unique_states));

                -- At most a queue's key_limit jobs of one key run at once.
                ALTER TABLE {schema}.jobs ADD COLUMN concurrency_key text;
                CREATE INDEX jobs_running_key_idx ON {schema}.jobs (queue, concurrency_key)
                    WHERE status = 'in_progress' AND concurrency_key IS NOT NULL;

                -- A queue's settings across the fleet; a queue without a row has none.
                CREATE TABLE {schema}.queues (
                    name text PRIMARY KEY,
                    paused_at timestamptz,
                    concurrency_limit integer CHECK (concurrency_limit > 0),
                    key_limit integer CHECK (key_limit > 0),
                    rate_limit integer CHECK (rate_limit > 0),
                    rate_period_ms bigint CHECK (rate_period_ms > 0),
                    rate_window_started_at timestamptz,
                    rate_window_count integer NOT NULL DEFAULT 0,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT queues_rate_complete CHECK ((rate_limit IS NULL) = (rate_period_ms IS NULL))
                );
                """,
            down: """
                DROP TABLE {schema}.queues;
                DROP INDEX {schema}.jobs_running_key_idx;
                ALTER TABLE {schema}.jobs DROP COLUMN concurrency_key;
                DROP INDEX {schema}.jobs_unique_key_idx;
                ALTER TABLE {schema}.jobs DROP COLUMN unique_states;
                CREATE UNIQUE INDEX jobs_unique_key_idx ON {schema}.jobs (unique_key) WHERE unique_key IS NOT NULL;
                """
        ),
        Migration(
            version: 5,
            name: "trace context of jobs",
            up: """
                -- The trace context of the code that created the job (the key/values a tracer injects,
                -- such as W3C traceparent), so that the run continues its trace in any process.
                -- Nullable, no default: adding it rewrites nothing.
                ALTER TABLE {schema}.jobs ADD COLUMN trace_context jsonb;
                """,
            down: """
                ALTER TABLE {schema}.jobs DROP COLUMN trace_context;
                """
        ),
        Migration(
            version: 6,
            name: "periodic job schedules",
            up: """
                -- Periodic schedules, as registered by any process: what the scheduler leader
                -- enqueues from, and what `jobkit schedules` and the admin API list. next_tick_at is
                -- the first tick not yet enqueued (or skipped); the leader moves it forward with a
                -- compare-and-set on (next_tick_at, revision) in the statement that enqueues the
                -- tick's job, so a tick is enqueued once however many schedulers race.
                CREATE TABLE {schema}.schedules (
                    name text PRIMARY KEY CHECK (name <> ''),
                    job_type text NOT NULL CHECK (job_type <> ''),
                    queue text NOT NULL,
                    priority smallint NOT NULL DEFAULT 0,
                    max_attempts integer NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
                    timeout_ms bigint CHECK (timeout_ms > 0),
                    reference_type text,
                    reference_id text,
                    payload jsonb NOT NULL DEFAULT '{}',
                    kind text NOT NULL CHECK (kind IN ('cron', 'interval')),
                    expression text NOT NULL,
                    interval_seconds bigint CHECK (interval_seconds >= 1),
                    time_zone text NOT NULL,
                    missed_ticks text NOT NULL CHECK (missed_ticks IN ('skip', 'backfill')),
                    backfill_limit integer CHECK (backfill_limit >= 1),
                    next_tick_at timestamptz,
                    last_tick_at timestamptz,
                    last_enqueued_at timestamptz,
                    revision bigint NOT NULL DEFAULT 1,
                    registered_by text,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT schedules_interval_has_seconds CHECK ((kind = 'interval') = (interval_seconds IS NOT NULL)),
                    CONSTRAINT schedules_backfill_has_limit CHECK ((missed_ticks = 'backfill') = (backfill_limit IS NOT NULL))
                );
                -- The leader's question: which schedule ticks next?
                CREATE INDEX schedules_next_tick_idx ON {schema}.schedules (next_tick_at) WHERE next_tick_at IS NOT NULL;
                """,
            down: """
                DROP TABLE {schema}.schedules;
                """
        ),
        // Fillfactor and autovacuum settings for a queue's churn (see TableSettings).
        TableSettings.migration(version: 7),
        Migration(
            version: 8,
            name: "key slots",
            up: """
                -- A running job of a queue with a key limit holds one of its key's slots, 1 to
                -- key_limit, given by the claim. The index of running keyed jobs becomes unique
                -- over the slot: two claims racing for a key's last slot cannot both commit, so a
                -- queue with only a key limit is claimed without a queue-wide lock. Jobs started
                -- otherwise hold no slot (NULL, never equal to another) and count toward the
                -- limit all the same.
                ALTER TABLE {schema}.jobs ADD COLUMN key_slot smallint CHECK (key_slot >= 1);
                DROP INDEX {schema}.jobs_running_key_idx;
                CREATE UNIQUE INDEX jobs_running_key_idx ON {schema}.jobs (queue, concurrency_key, key_slot)
                    WHERE status = 'in_progress' AND concurrency_key IS NOT NULL;
                """,
            down: """
                DROP INDEX {schema}.jobs_running_key_idx;
                CREATE INDEX jobs_running_key_idx ON {schema}.jobs (queue, concurrency_key)
                    WHERE status = 'in_progress' AND concurrency_key IS NOT NULL;
                ALTER TABLE {schema}.jobs DROP COLUMN key_slot;
                """
        ),
    ]
}
