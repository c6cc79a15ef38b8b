import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

/// The jobs table's storage settings, and health saying when an index the claim needs is
/// missing or invalid, or when the table or the claim index is bloated.
@Suite(.timeLimit(.minutes(3)))
struct TableHygieneTests {
    /// A service over the fixture's database with `thresholds`.
    static func service(_ fixture: JobKitFixture, thresholds: JobHealth.Thresholds) -> JobService {
        JobService(pool: fixture.makePool(), configuration: .init(schema: fixture.schema, workerID: "health", healthThresholds: thresholds))
    }

    /// The jobs table's storage options, such as `["fillfactor=70"]`.
    static func reloptions(_ fixture: JobKitFixture) async throws -> [String] {
        try #require(try await fixture.pool.query("""
            SELECT COALESCE(reloptions, '{}') FROM pg_class WHERE oid = \(fixture.schema + ".jobs")::regclass
            """).first).decode([String].self, at: 0)
    }

    /// The problems of `health` that mention `text`.
    static func problems(_ health: JobHealth, mentioning text: String) -> [String] {
        health.problems.filter { $0.contains(text) }
    }

    // MARK: - Settings

    @Test func tableSettingsApplyAndRevertWithoutBlockingWriters() async throws {
        try await withJobKitFixture("hygiene") { fixture in
            // A transaction holding a row lock stays open across the change: ALTER TABLE … SET
            // takes SHARE UPDATE EXCLUSIVE, which row locks do not conflict with.
            let job = try await fixture.job(in: .scheduled)
            try await fixture.pool.withTransaction { connection in
                _ = try await connection.query("SELECT 1 FROM \(unescaped: fixture.schema).jobs WHERE id = \(job.id) FOR UPDATE")
                try await fixture.makePool(maximumConnections: 1).withConnection { other in
                    try await other.execute(script: TableSettings.up.replacingOccurrences(of: "{schema}", with: fixture.schema))
                }
            }
            #expect(try await Self.reloptions(fixture).sorted() == [
                "autovacuum_analyze_scale_factor=0.02", "autovacuum_analyze_threshold=1000",
                "autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_threshold=1000", "fillfactor=70",
            ])
            try await fixture.pool.withConnection { connection in
                try await connection.execute(script: TableSettings.down.replacingOccurrences(of: "{schema}", with: fixture.schema))
            }
            #expect(try await Self.reloptions(fixture).isEmpty)
        }
    }

    // MARK: - Indexes

    @Test func healthOfAFreshDatabaseReportsItsStorageWithoutProblems() async throws {
        try await withJobKitFixture("hygiene") { fixture in
            _ = try await fixture.job(in: .scheduled)
            let health = await fixture.jobs.health()
            #expect(health.isHealthy, "\(health.problems)")
            let storage = try #require(health.storage)
            #expect(storage.missingIndexes.isEmpty && storage.invalidIndexes.isEmpty)
            #expect(storage.isAutovacuumEnabled)
            #expect(storage.scheduledJobs == 1)
            #expect((storage.claimIndexBytes ?? 0) > 0)
            #expect(storage.tableBytes > 0)
        }
    }

    @Test(arguments: ["jobs_claim_idx", "jobs_lease_idx", "jobs_finished_idx", "jobs_running_key_idx"])
    func healthNamesADroppedIndex(_ index: String) async throws {
        try await withJobKitFixture("hygiene") { fixture in
            try await fixture.execute("DROP INDEX \(unescaped: fixture.schema).\(unescaped: index)")
            let health = await fixture.jobs.health()
            #expect(health.storage?.missingIndexes == [index])
            let problem = try #require(Self.problems(health, mentioning: "\(fixture.schema).\(index)").onlyElement)
            #expect(problem.contains("is missing"))
            #expect(!health.isHealthy)
        }
    }

    @Test func healthNamesAnIndexThatAFailedConcurrentBuildLeftInvalid() async throws {
        try await withJobKitFixture("hygiene") { fixture in
            for _ in 0..<2 { _ = try await fixture.job(in: .scheduled) }
            // Rebuilt as a unique index over a column with duplicates: the concurrent build fails
            // and leaves the index behind, invalid, under the claim index's name.
            try await fixture.execute("DROP INDEX \(unescaped: fixture.schema).jobs_claim_idx")
            await #expect(throws: PostgresError.self) {
                try await fixture.execute("""
                    CREATE UNIQUE INDEX CONCURRENTLY jobs_claim_idx ON \(unescaped: fixture.schema).jobs (queue) WHERE status = 'scheduled'
                    """)
            }
            let health = await fixture.jobs.health()
            #expect(health.storage?.invalidIndexes == ["jobs_claim_idx"])
            #expect(health.storage?.missingIndexes == [])
            let problem = try #require(Self.problems(health, mentioning: "\(fixture.schema).jobs_claim_idx").onlyElement)
            #expect(problem.contains("is invalid") && problem.contains("REINDEX INDEX CONCURRENTLY"))
        }
    }

    // MARK: - Bloat

    @Test func healthSaysTheTableIsBloatedWhenDeadRowsPileUpAndNotOnceVacuumed() async throws {
        try await withJobKitFixture("hygiene") { fixture in
            let thresholds = JobHealth.Thresholds(maximumDeadTupleRatio: 0.2, minimumDeadTuples: 1000)
            let jobs = Self.service(fixture, thresholds: thresholds)
            try await fixture.execute("ALTER TABLE \(unescaped: fixture.schema).jobs SET (autovacuum_enabled = false)")
            try await jobs.enqueueMany(QueueTests.Work.self, Array(repeating: .init(), count: 2000))
            // Two updates of every row leave 4,000 dead versions beside 2,000 live ones.
            for _ in 0..<2 {
                try await fixture.execute("UPDATE \(unescaped: fixture.schema).jobs SET priority = priority + 1")
            }
            // Statistics reach pg_stat_user_tables a moment after each transaction.
            var health = await jobs.health()
            try await pollUntil("health to call the table bloated") {
                health = await jobs.health()
                return !Self.problems(health, mentioning: "table \(fixture.schema).jobs is bloated").isEmpty
            }
            let bloat = try #require(Self.problems(health, mentioning: "table \(fixture.schema).jobs is bloated").onlyElement)
            // Each connection's counts arrive on their own: the live ones may not be there yet.
            #expect(bloat.contains(" dead, ") && bloat.contains(" live) wait for a vacuum"))
            #expect(bloat.contains("autovacuum is disabled for it"))
            #expect(Self.problems(health, mentioning: "vacuum is falling behind").count == 1)
            let storage = try #require(health.storage)
            #expect(storage.deadTuples >= 1000 && storage.deadTupleRatio > 0.2)
            #expect(health.storage?.isAutovacuumEnabled == false)

            try await fixture.execute("VACUUM \(unescaped: fixture.schema).jobs")
            try await pollUntil("the vacuum to reach the statistics") {
                health = await jobs.health()
                return health.storage?.lastVacuumAt != nil && health.storage?.deadTuples == 0
            }
            #expect(Self.problems(health, mentioning: "\(fixture.schema).jobs").isEmpty, "\(health.problems)")
        }
    }

    @Test func healthSaysTheClaimIndexIsBloatedWhenItsEntriesOutnumberTheScheduledJobs() async throws {
        try await withJobKitFixture("hygiene") { fixture in
            let thresholds = JobHealth.Thresholds(minimumDeadTuples: 1_000_000, maximumClaimIndexBytesPerJob: 512, minimumClaimIndexBytes: 128 << 10)
            let jobs = Self.service(fixture, thresholds: thresholds)
            try await fixture.execute("ALTER TABLE \(unescaped: fixture.schema).jobs SET (autovacuum_enabled = false)")
            // Distinct run-at times: identical keys would share posting lists and keep the index small.
            try await fixture.execute("""
                INSERT INTO \(unescaped: fixture.schema).jobs (id, job_type, run_at)
                SELECT gen_random_uuid(), 'work', now() - g * interval '1 millisecond' FROM generate_series(1, 20000) AS g
                """)
            let before = await jobs.health()
            #expect(Self.problems(before, mentioning: "jobs_claim_idx").isEmpty, "\(before.problems)")
            #expect(before.storage?.scheduledJobs == 20_000)

            // Every job leaves `scheduled` but keeps its claim index entry until a vacuum.
            try await fixture.execute("""
                UPDATE \(unescaped: fixture.schema).jobs SET status = 'done', finished_at = now(), progress = 100
                WHERE id NOT IN (SELECT id FROM \(unescaped: fixture.schema).jobs LIMIT 10)
                """)
            let after = await jobs.health()
            #expect(after.storage?.scheduledJobs == 10)
            let problem = try #require(Self.problems(after, mentioning: "index \(fixture.schema).jobs_claim_idx is bloated").onlyElement)
            #expect(problem.contains("for 10 scheduled jobs"))
        }
    }
}
