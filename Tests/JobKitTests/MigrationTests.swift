import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

/// Schema migrations: once under concurrency, reversible, and per schema.
@Suite(.timeLimit(.minutes(3)))
struct MigrationTests {
    static let allVersions = Migration.all.map(\.version)

    /// Versions start at 1 and rise. A gap is allowed while branches merge: observability took
    /// version 4 while version 3 was in review elsewhere.
    @Test func migrationVersionsAreNumberedOneUpwards() {
        #expect(Self.allVersions.first == 1)
        #expect(zip(Self.allVersions, Self.allVersions.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func freshDatabaseHasEveryMigrationPending() async throws {
        try await withJobKitFixture("migration", migrate: false) { fixture in
            let status = try await Migrator(pool: fixture.pool).status()
            #expect(status.applied == [])
            #expect(status.pending == Self.allVersions)
            #expect(status.current == 0)
            #expect(status.latest == Self.allVersions.last)
            #expect(!status.isCurrent)
        }
    }

    @Test func tenConcurrentMigratorsApplyEachMigrationExactlyOnce() async throws {
        try await withJobKitFixture("migration", migrate: false) { fixture in
            // Ten processes: each migrator has a pool of its own.
            let migrators = (0..<10).map { _ in Migrator(pool: fixture.makePool(maximumConnections: 2)) }
            let results = try await withThrowingTaskGroup(of: [Int].self) { group in
                for migrator in migrators {
                    group.addTask { try await migrator.migrateUp() }
                }
                return try await group.reduce(into: [[Int]]()) { $0.append($1) }
            }

            #expect(results.count == 10)
            #expect(results.filter { $0 == Self.allVersions }.count == 1)
            #expect(results.filter(\.isEmpty).count == 9)
            let rows = try await fixture.pool.query(
                "SELECT version, count(*) FROM jobkit.schema_migrations GROUP BY version ORDER BY version")
            let counts = try rows.map { try $0.decode((Int, Int).self) }
            #expect(counts.map(\.0) == Self.allVersions)
            #expect(counts.allSatisfy { $0.1 == 1 })
            #expect(try await Migrator(pool: fixture.pool).status().isCurrent)
        }
    }

    @Test func migrateUpTwiceAppliesNothingTheSecondTime() async throws {
        try await withJobKitFixture("migration", migrate: false) { fixture in
            let first = try await fixture.jobs.migrate()
            let second = try await fixture.jobs.migrate()
            #expect(first == Self.allVersions)
            #expect(second.isEmpty)
        }
    }

    @Test func migrateDownRevertsAndStatusShowsItPending() async throws {
        try await withJobKitFixture("migration") { fixture in
            let migrator = Migrator(pool: fixture.pool)
            let latest = try #require(Self.allVersions.last)

            #expect(try await migrator.migrateDown() == [latest])

            let status = try await migrator.status()
            #expect(!status.applied.contains(latest))
            #expect(status.pending.contains(latest))
            #expect(!status.isCurrent)
            #expect(status.current == Self.allVersions.dropLast().last ?? 0)
        }
    }

    @Test func migrateDownToZeroDropsTheTables() async throws {
        try await withJobKitFixture("migration") { fixture in
            let migrator = Migrator(pool: fixture.pool)
            #expect(try await migrator.migrateDown(to: 0) == Self.allVersions.reversed())

            let tables = try await fixture.pool.query(
                "SELECT to_regclass('jobkit.jobs') IS NULL AND to_regclass('jobkit.job_events') IS NULL")
            #expect(try #require(tables.first).decode(Bool.self, at: 0))
            #expect(try await migrator.status().pending == Self.allVersions)
        }
    }

    @Test func migrateUpAfterDownRestoresAWorkingSchema() async throws {
        try await withJobKitFixture("migration") { fixture in
            let migrator = Migrator(pool: fixture.pool)
            _ = try await fixture.jobs.create("before")
            try await migrator.migrateDown(to: 0)

            #expect(try await migrator.migrateUp() == Self.allVersions)

            #expect(try await migrator.status().isCurrent)
            let job = try await fixture.jobs.create("after")
            _ = try await fixture.jobs.start(job.id)
            #expect(try await fixture.jobs.complete(job.id).status == .done)
            #expect(try await fixture.count("jobs") == 1, "the jobs from before the revert are gone")
        }
    }

    @Test func migrateUpToAnEarlierTargetStopsThere() async throws {
        try await withJobKitFixture("migration", migrate: false) { fixture in
            let migrator = Migrator(pool: fixture.pool)
            let none = try await migrator.migrateUp(to: 0)
            let appliedAfterNone = try await migrator.status().applied
            let one = try await migrator.migrateUp(to: 1)
            let appliedAfterOne = try await migrator.status().applied
            #expect(none.isEmpty)
            #expect(appliedAfterNone.isEmpty)
            #expect(one == [1])
            #expect(appliedAfterOne == [1])
        }
    }

    @Test func customSchemaWorksBesideTheDefaultOneInTheSameDatabase() async throws {
        try await withJobKitFixture("migration") { fixture in
            let tenant = fixture.makeService(workerID: "worker-tenant", schema: "tenant_a")
            #expect(try await tenant.migrate() == Self.allVersions)
            #expect(try await Migrator(pool: fixture.pool, schema: "tenant_a").status().isCurrent)
            #expect(try await Migrator(pool: fixture.pool, schema: "jobkit").status().isCurrent)

            let mainJob = try await fixture.jobs.create("ocr", options: .init(uniqueKey: "shared-key"))
            let tenantJob = try await tenant.create("ocr", options: .init(uniqueKey: "shared-key"))
            _ = try await tenant.start(tenantJob.id)
            try await tenant.complete(tenantJob.id)

            #expect(try await fixture.jobs.list().jobs.map(\.id) == [mainJob.id])
            #expect(try await tenant.list().jobs.map(\.id) == [tenantJob.id])
            #expect(try await fixture.jobs.job(mainJob.id).status == .scheduled)
            let error = try await #require(throws: JobError.self) { try await fixture.jobs.job(tenantJob.id) }
            #expect(error.code == .notFound)
            let tenantRows = try await fixture.pool.query("SELECT count(*) FROM tenant_a.jobs")
            #expect(try #require(tenantRows.first).decode(Int.self, at: 0) == 1)
        }
    }

    @Test func revertingACustomSchemaLeavesTheDefaultOneAlone() async throws {
        try await withJobKitFixture("migration") { fixture in
            let tenant = Migrator(pool: fixture.pool, schema: "tenant_b")
            try await tenant.migrateUp()
            let job = try await fixture.jobs.create("ocr")

            try await tenant.migrateDown(to: 0)

            #expect(try await tenant.status().applied == [])
            #expect(try await Migrator(pool: fixture.pool).status().isCurrent)
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }
}
