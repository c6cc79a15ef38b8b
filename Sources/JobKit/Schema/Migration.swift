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
            version: 4,
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
    ]
}
