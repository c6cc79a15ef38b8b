import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Synchronization
import Testing

/// Runs `body` with a service over a fresh, migrated database of its own, then closes the pool
/// and drops the database, whether the test passed or threw.
func withTestingService<Result>(
    _ prefix: String,
    heartbeatInterval: Duration = .milliseconds(200),
    _ body: (JobService) async throws -> Result
) async throws -> Result {
    let configuration = try await TestPostgres.makeDatabase(prefix: prefix)
    let pool = PostgresConnectionPool(connection: configuration, configuration: .init(maximumConnections: 10))
    let jobs = JobService(pool: pool, configuration: .init(
        workerID: "testing-\(UUID().uuidString.prefix(8))", leaseDuration: .seconds(30), heartbeatInterval: heartbeatInterval,
        pollInterval: .milliseconds(100)))
    do {
        try await jobs.migrate()
        let result = try await body(jobs)
        await pool.close()
        await dropDatabase(configuration)
        return result
    } catch {
        await pool.close()
        await dropDatabase(configuration)
        throw error
    }
}

/// Drops a test database, best effort.
private func dropDatabase(_ configuration: PostgresConfiguration) async {
    guard let server = try? await TestPostgres.serverURL(), let admin = try? await PostgresConnection.connect(to: PostgresConfiguration(server)),
        let probe = try? await PostgresConnection.connect(to: configuration)
    else { return }
    let name = try? await probe.query("SELECT current_database()").first?.decode(String.self, at: 0)
    await probe.close()
    if let name { _ = try? await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)") }
    await admin.close()
}

/// A condition did not hold before its deadline.
struct DeadlinePassed: Error, CustomStringConvertible {
    var condition: String
    var description: String { "timed out waiting for \(self.condition)" }
}

/// Polls `condition` every 10 ms until it holds; throws ``DeadlinePassed`` after `timeout`.
func pollUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw DeadlinePassed(condition: what) }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A value set from one task and read from another.
final class Box<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { self.storage = Mutex(value) }
    var value: Value { self.storage.withLock { $0 } }
    func set(_ value: Value) { self.storage.withLock { $0 = value } }
    func update(_ change: (inout Value) -> Void) { self.storage.withLock { change(&$0) } }
}

// MARK: - Handlers

/// Sends nothing; records whom it would have written to.
struct SendEmail: JobHandler {
    struct Payload: Codable, Sendable, Equatable { var to: String; var subject: String }
    struct Output: Codable, Sendable, Equatable { var accepted: String }
    static let type = "send-email"
    static let retryPolicy = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(3600), maximumDelay: .seconds(3600), jitter: 0)
    let sent: Box<[String]>
    func run(_ payload: Payload, context: JobContext) async throws -> Output {
        self.sent.update { $0.append(payload.to) }
        return Output(accepted: payload.to)
    }
}

/// Makes thumbnails of nothing.
struct Thumbnail: JobHandler {
    struct Payload: Codable, Sendable { var image: String }
    static let type = "thumbnail"
    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload { EmptyPayload() }
}

/// Throws `Boom` on its first `failures` attempts; retries after 1 hour.
struct Flaky: JobHandler {
    struct Payload: Codable, Sendable { var failures: Int }
    struct Boom: Error, CustomStringConvertible {
        var attempt: Int
        var description: String { "boom on attempt \(self.attempt)" }
    }
    static let type = "flaky"
    static let retryPolicy = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(3600), maximumDelay: .seconds(3600), jitter: 0)
    func run(_ payload: Payload, context: JobContext) async throws -> Int {
        if context.attempt <= payload.failures { throw Boom(attempt: context.attempt) }
        return context.attempt
    }
}
