import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

@Suite(.timeLimit(.minutes(2)))
struct OperationsSmokeTests {
    @Test func statsHealthAndMaintenanceRunOnAFreshDatabase() async throws {
        let database = try await TestPostgres.makeDatabase(prefix: "opsmoke")
        let pool = PostgresConnectionPool(connection: database)
        let jobs = JobService(pool: pool)
        try await jobs.migrate()
        let done = try await jobs.create("a")
        let started = try await jobs.start(done.id)
        try await jobs.complete(done.id, lease: started.lease?.token)
        let stuck = try await jobs.create("b", options: .init(maxAttempts: 2))
        _ = try await jobs.start(stuck.id)
        try await pool.query("UPDATE jobkit.jobs SET lease_expires_at = now() - interval '1 minute' WHERE id = \(stuck.id)")
        let stats = try await jobs.stats()
        #expect(stats.total == 2)
        #expect(stats.stuck == 1)
        #expect(stats.byStatus["done"] == 1)
        let maintenance = MaintenanceService(service: jobs)
        let report = try await maintenance.runOnce()
        #expect(report.errors.isEmpty)
        #expect(report.recovery.rescheduled == 1)
        let health = await jobs.health()
        #expect(health.isHealthy, "\(health.problems)")
        #expect(health.lastMaintenance?.succeeded == true)
        #expect(health.schemaVersion == 2)
        let forced = try await jobs.forceFail(try await jobs.start(stuck.id).id, reason: "stuck for good", actor: "ops")
        #expect(forced.status == .failed)
        let reset = try await jobs.forceReset(stuck.id, reason: "try again", actor: "ops")
        #expect(reset.status == .scheduled)
        #expect(try await jobs.validate(stuck.id).isEmpty)
    }
}
