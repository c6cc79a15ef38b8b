import Foundation
import LibPQ
import PostgresTestSupport
import Synchronization
import Testing

// MARK: - A database per suite

/// One fresh database per suite, created on first use and shared by that suite's tests, so
/// suites run in parallel without seeing each other's tables. Tests inside a suite also run in
/// parallel: each makes its own tables with ``uniqueName(_:)``.
enum SuiteDatabase {
    private static let databases = Mutex<[String: Task<PostgresConfiguration, any Error>]>([:])

    /// The configuration of the suite's database.
    /// - Parameter suite: A short name for the suite, used as the database name's prefix.
    static func configuration(_ suite: String) async throws -> PostgresConfiguration {
        let task = self.databases.withLock { databases in
            if let task = databases[suite] { return task }
            let task = Task { try await TestPostgres.makeDatabase(prefix: "libpq_\(suite)") }
            databases[suite] = task
            return task
        }
        return try await task.value
    }
}

/// A name no other test uses, for tables, channels and application names.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
}

/// Opens a connection, lends it to `body` and closes it, whether `body` returns or throws.
func withConnection<Result>(
    to configuration: PostgresConfiguration,
    _ body: (PostgresConnection) async throws -> Result
) async throws -> Result {
    let connection = try await PostgresConnection.connect(to: configuration)
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw error
    }
}

/// Counts the rows of a table.
func count(_ table: String, on connection: PostgresConnection, where condition: String = "TRUE") async throws -> Int {
    let rows = try await connection.query("SELECT count(*) FROM \(unescaped: table) WHERE \(unescaped: condition)")
    return try #require(rows.first).decode(Int.self, at: 0)
}

// MARK: - Waiting for conditions

/// A condition was not met before its deadline.
struct TimedOut: Error, CustomStringConvertible {
    var condition: String
    var description: String { "timed out waiting for \(self.condition)" }
}

/// Polls `condition` until it holds, failing after `timeout`: awaits a state, never sleeps for one.
func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(60),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while try await !condition() {
        guard clock.now < deadline else { throw TimedOut(condition: what) }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Waits until the backend `pid` is running a statement that contains `fragment`, as seen by
/// `observer` (another connection) in `pg_stat_activity`.
func waitUntilRunning(_ fragment: String, pid: Int32, observer: PostgresConnection) async throws {
    try await waitUntil("backend \(pid) to run \(fragment)") {
        let rows = try await observer.query("""
            SELECT count(*) FROM pg_stat_activity
            WHERE pid = \(pid) AND state = 'active' AND position(\(fragment) IN query) > 0
            """)
        return try #require(rows.first).decode(Int.self, at: 0) == 1
    }
}

/// The server process id of a connection.
func backendPID(of connection: PostgresConnection) async throws -> Int32 {
    try #require(try await connection.query("SELECT pg_backend_pid()").first).decode(Int32.self, at: 0)
}

// MARK: - Small synchronisation tools

/// A gate tasks wait at until it opens, once, for all of them.
final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = self.state.withLock { state in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }

    func open() {
        let waiters = self.state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Values collected from several tasks, read back by the test.
final class Recorder<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])

    func append(_ value: Value) {
        self.storage.withLock { $0.append(value) }
    }

    var values: [Value] {
        self.storage.withLock { $0 }
    }
}

/// Runs the work that loads the CPU for seconds (large values, COPY, starting a cluster) one at
/// a time, and apart from the test that measures whether Swift's cooperative threads stay free:
/// on a 2-core machine it could starve that test's ticker for reasons that have nothing to do
/// with libpq.
enum CPUHeavy {
    private struct State {
        var isHeld = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private static let state = Mutex(State())

    static func run<Result>(_ body: () async throws -> Result) async throws -> Result {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = self.state.withLock { state in
                if state.isHeld {
                    state.waiters.append(continuation)
                    return false
                }
                state.isHeld = true
                return true
            }
            if acquired { continuation.resume() }
        }
        defer {
            let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.waiters.isEmpty {
                    state.isHeld = false
                    return nil
                }
                return state.waiters.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
