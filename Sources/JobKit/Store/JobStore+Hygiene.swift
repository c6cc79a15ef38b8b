import Foundation
import LibPQ

/// The statement behind the storage part of health: the jobs table's dead row versions and
/// vacuums, the claim index's size, and whether the indexes JobKit needs exist and are valid.
extension JobStore {
    /// The indexes of the jobs table that JobKit's hot path and recovery need, with what each serves.
    ///
    /// Keep in step with the migrations: a migration that renames or replaces one of these
    /// indexes changes this list.
    static let requiredIndexes: [(name: String, purpose: String)] = [
        ("jobs_claim_idx", "the claim"),
        ("jobs_lease_idx", "the recovery of expired leases"),
        ("jobs_finished_idx", "retention and stats"),
        ("jobs_unique_key_idx", "unique keys"),
        ("jobs_running_key_idx", "the per-key limits (its uniqueness over key slots holds them)"),
    ]

    /// The claim index, whose size health compares with the number of `scheduled` jobs.
    static let claimIndex = "jobs_claim_idx"

    /// Reads the jobs table's statistics and its indexes' state in one statement, with the
    /// database's clock; `nil` when the table does not exist (the schema is not migrated).
    func storage() async throws -> (storage: JobHealth.Storage, now: Date)? {
        let tables = try await self.run("jobs.storageTables", """
            SELECT to_regclass(\(self.jobs)) IS NOT NULL,
                to_regclass(\(self.schema + ".job_counts")) IS NOT NULL AND to_regclass(\(self.schema + ".job_count_changes")) IS NOT NULL
            """)
        guard let existing = tables.first, try existing.decode(Bool.self, at: 0) else { return nil }
        let hasCounts = try existing.decode(Bool.self, at: 1)
        let names = Self.requiredIndexes.map(\.name)
        var query: PostgresQuery = """
            WITH t AS (SELECT c.oid, c.reloptions FROM pg_class AS c WHERE c.oid = to_regclass(\(self.jobs))),
            idx AS (
                SELECT name, CASE WHEN i.indexrelid IS NULL THEN 'missing' WHEN i.indisvalid AND i.indisready THEN 'valid' ELSE 'invalid' END AS state
                FROM t CROSS JOIN unnest(\(names)::text[]) AS name
                LEFT JOIN pg_index AS i ON i.indexrelid = to_regclass(\(self.schema) || '.' || name) AND i.indrelid = t.oid)
            SELECT COALESCE(s.n_live_tup, 0), COALESCE(s.n_dead_tup, 0),
                greatest(s.last_vacuum, s.last_autovacuum), s.last_autovacuum,
                current_setting('autovacuum')::bool AND COALESCE(
                    (SELECT option_value::bool FROM pg_options_to_table(t.reloptions) WHERE option_name = 'autovacuum_enabled'), true),
                pg_relation_size(t.oid),
                pg_relation_size(to_regclass(\(self.schema + "." + Self.claimIndex))),
            """
        query.append(hasCounts ? """
                (SELECT sum(n)::int8 FROM (
                    SELECT n FROM \(unescaped: self.schema).job_counts WHERE status = 'scheduled'
                    UNION ALL SELECT delta FROM \(unescaped: self.schema).job_count_changes WHERE status = 'scheduled'
                    UNION ALL SELECT 0) AS parts),
            """ : "NULL::int8,")
        query.append("""
                ARRAY(SELECT name FROM idx WHERE state = 'missing' ORDER BY name),
                ARRAY(SELECT name FROM idx WHERE state = 'invalid' ORDER BY name),
                statement_timestamp()
            FROM t LEFT JOIN pg_stat_user_tables AS s ON s.relid = t.oid
            """)
        guard let row = try await self.run("jobs.storage", query).first else { return nil }
        let (live, dead, lastVacuum, lastAutovacuum, autovacuum, tableBytes, claimIndexBytes, scheduled, missing, invalid, now) =
            try row.decode((Int, Int, Date?, Date?, Bool, Int, Int?, Int?, [String], [String], Date).self)
        let storage = JobHealth.Storage(
            liveTuples: live, deadTuples: dead, deadTupleRatio: live + dead == 0 ? 0 : Double(dead) / Double(live + dead),
            lastVacuumAt: lastVacuum, lastAutovacuumAt: lastAutovacuum, isAutovacuumEnabled: autovacuum, tableBytes: tableBytes,
            claimIndexBytes: claimIndexBytes, scheduledJobs: scheduled, missingIndexes: missing, invalidIndexes: invalid)
        return (storage, now)
    }
}

extension JobHealth.Storage {
    /// What is wrong with the table and its indexes, by `thresholds`, as health problems.
    /// - Parameters:
    ///   - thresholds: When bloat counts.
    ///   - schema: The schema, to name the table and indexes in full.
    ///   - now: The time vacuum ages are measured to.
    /// - Returns: One sentence per problem; empty when all is well.
    func problems(thresholds: JobHealth.Thresholds, schema: String, now: Date) -> [String] {
        var problems: [String] = []
        let purposes = Dictionary(uniqueKeysWithValues: JobStore.requiredIndexes.map { ($0.name, $0.purpose) })
        for name in self.missingIndexes {
            problems.append("""
                index \(schema).\(name), which \(purposes[name] ?? "JobKit") uses, is missing: those queries read the whole jobs table; \
                create it again as JobKit's migrations define it
                """)
        }
        for name in self.invalidIndexes {
            problems.append("""
                index \(schema).\(name), which \(purposes[name] ?? "JobKit") uses, is invalid (a failed CREATE INDEX CONCURRENTLY or \
                REINDEX CONCURRENTLY leaves one): queries ignore it; run REINDEX INDEX CONCURRENTLY \(schema).\(name)
                """)
        }
        let lastVacuum = self.lastVacuumAt.map { "last vacuumed \(Self.format(now.timeIntervalSince($0))) ago" } ?? "never vacuumed since statistics began"
        let autovacuumNote = self.isAutovacuumEnabled ? "" : "; autovacuum is disabled for it"
        if self.deadTuples >= thresholds.minimumDeadTuples && self.deadTupleRatio > thresholds.maximumDeadTupleRatio {
            problems.append("""
                table \(schema).jobs is bloated: \(Int((self.deadTupleRatio * 100).rounded())) % of its row versions \
                (\(self.deadTuples) dead, \(self.liveTuples) live) wait for a vacuum, and every claim steps over them; \
                \(lastVacuum)\(autovacuumNote)
                """)
        }
        let vacuumAge = self.lastVacuumAt.map { now.timeIntervalSince($0) }
        if self.deadTuples >= thresholds.minimumDeadTuples,
            vacuumAge.map({ $0 > Double(thresholds.maximumVacuumAge.milliseconds) / 1000 }) ?? true
        {
            problems.append("""
                vacuum is falling behind on \(schema).jobs: \(self.deadTuples) dead row versions, \(lastVacuum)\(autovacuumNote)
                """)
        }
        if let bytes = self.claimIndexBytes, let scheduled = self.scheduledJobs, bytes > thresholds.minimumClaimIndexBytes,
            bytes > thresholds.maximumClaimIndexBytesPerJob * max(scheduled, 1)
        {
            problems.append("""
                index \(schema).\(JobStore.claimIndex) is bloated: \(bytes / 1024) KiB for \(scheduled) scheduled jobs \
                (\(bytes / max(scheduled, 1)) bytes each), so each claim reads pages of dead entries; VACUUM \(schema).jobs, \
                or REINDEX INDEX CONCURRENTLY \(schema).\(JobStore.claimIndex)
                """)
        }
        return problems
    }

    /// A duration in seconds as `45 s`, `12 min` or `3 h`.
    private static func format(_ seconds: TimeInterval) -> String {
        switch seconds {
        case ..<120: "\(Int(seconds)) s"
        case ..<7200: "\(Int(seconds / 60)) min"
        default: "\(Int(seconds / 3600)) h"
        }
    }
}
