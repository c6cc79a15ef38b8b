import Foundation
import JobKit
import LibPQ

/// The statements of `JobKitTesting` that JobKit's public API has no call for, in one place.
struct TestingQueries: Sendable {
    let pool: PostgresConnectionPool
    /// `schema.jobs`
    let jobs: String

    init(service: JobService) {
        self.pool = service.pool
        self.jobs = "\(service.configuration.schema).jobs"
    }

    /// Moves the run-at of every `scheduled` job of `queue` that lies in the future to now, so
    /// the next claim takes them: delayed jobs and retries waiting out their backoff.
    /// - Returns: How many jobs it moved.
    @discardableResult
    func makeDueNow(queue: String) async throws -> Int {
        let query: PostgresQuery = """
            UPDATE \(unescaped: self.jobs) SET run_at = now(), updated_at = now()
            WHERE status = 'scheduled' AND queue = \(queue) AND run_at > now()
            """
        return try await self.pool.query(query.named("testing.makeDueNow")).affectedRows
    }
}
