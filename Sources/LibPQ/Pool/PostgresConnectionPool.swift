import Logging
import Synchronization

/// A bounded pool of ``PostgresConnection``s.
///
/// Callers borrow a connection for the length of a closure. When all are in use, callers wait
/// (in order) up to ``Configuration/acquireTimeout``. A connection whose server went away
/// while it sat idle reopens itself before its next statement; one that broke in use is
/// discarded on return and replaced on demand, so a server restart needs nothing from callers.
///
/// ```swift
/// let pool = PostgresConnectionPool(connection: PostgresConfiguration("postgresql://localhost/app"))
/// let count = try await pool.query("SELECT count(*) FROM jobs").first?.decode(Int.self, at: 0)
/// try await pool.withTransaction { connection in
///     try await connection.query("UPDATE accounts SET balance = balance - \(amount) WHERE id = \(id)")
/// }
/// await pool.close()
/// ```
public final class PostgresConnectionPool: Sendable {
    /// How the pool sizes itself and waits.
    public struct Configuration: Sendable {
        /// The most connections open at once. Defaults to 10; must be at least 1.
        public var maximumConnections: Int
        /// How long a caller waits for a free connection before ``PostgresError/Code/acquireTimeout``,
        /// and how long the pool keeps trying to open a connection to a server that refuses one.
        /// Defaults to 10 seconds.
        public var acquireTimeout: Duration

        /// Creates a configuration.
        /// - Parameters:
        ///   - maximumConnections: The most connections open at once. Defaults to 10.
        ///   - acquireTimeout: How long to wait for a free connection. Defaults to 10 seconds.
        public init(maximumConnections: Int = 10, acquireTimeout: Duration = .seconds(10)) {
            precondition(maximumConnections >= 1, "a pool needs at least one connection")
            self.maximumConnections = maximumConnections
            self.acquireTimeout = acquireTimeout
        }
    }

    private struct Waiter {
        var id: Int
        /// Resumed with a connection, or with `nil` to say "a slot is free: open one".
        var continuation: CheckedContinuation<PostgresConnection?, any Error>
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var openCount = 0
        var waiters: [Waiter] = []
        var nextWaiterID = 0
        var isClosed = false
    }

    /// Where the pool's connections go.
    public let connectionConfiguration: PostgresConfiguration
    /// The pool's limits.
    public let configuration: Configuration
    private let state = Mutex(State())
    private let logger: Logger

    /// Creates a pool. Connections open on first use.
    /// - Parameters:
    ///   - connection: Where and how to connect.
    ///   - configuration: Size and timeouts.
    ///   - logger: Passed to every connection.
    public init(
        connection: PostgresConfiguration,
        configuration: Configuration = .init(),
        logger: Logger = Logger(label: "jobkit.pg", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.connectionConfiguration = connection
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: - Borrowing

    /// Lends a connection to `body` and takes it back when `body` ends.
    /// - Parameter body: The work; do not keep the connection after it returns.
    /// - Returns: What `body` returned.
    /// - Throws: ``PostgresError`` `.acquireTimeout`, `.poolClosed`, `.connectionFailed`, or what `body` threw.
    nonisolated(nonsending) public func withConnection<Result>(
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await self.acquire()
        defer { self.release(connection) }
        return try await body(connection)
    }

    /// Runs one statement on a pooled connection.
    /// - Parameter query: The statement.
    /// - Returns: Its rows.
    /// - Throws: ``PostgresError`` or `CancellationError`.
    @discardableResult
    public func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRows {
        let connection = try await self.acquire()
        defer { self.release(connection) }
        return try await connection.query(query, file: file, line: line)
    }

    /// Runs `body` in a transaction on a pooled connection (see ``PostgresConnection/withTransaction(file:line:_:)``).
    /// - Parameter body: The work.
    /// - Returns: What `body` returned.
    /// - Throws: What `body` threw, ``PostgresError``, or `CancellationError`.
    nonisolated(nonsending) public func withTransaction<Result>(
        file: String = #fileID,
        line: Int = #line,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await self.acquire()
        defer { self.release(connection) }
        return try await connection.withTransaction(file: file, line: line, body)
    }

    /// The number of open connections, idle or lent.
    public var openConnections: Int {
        self.state.withLock { $0.openCount }
    }

    /// Closes idle connections and refuses new borrowers; lent connections close when returned.
    public func close() async {
        let (idle, waiters) = self.state.withLock { state in
            state.isClosed = true
            defer {
                state.idle = []
                state.waiters = []
            }
            state.openCount -= state.idle.count
            return (state.idle, state.waiters)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the pool is closed"))
        }
        for connection in idle {
            await connection.close()
        }
    }

    // MARK: - Internals

    private enum Decision {
        case use(PostgresConnection)
        case open
        case wait
    }

    private func acquire() async throws -> PostgresConnection {
        let decision: Decision = try self.state.withLock { state in
            guard !state.isClosed else { throw PostgresError(code: .poolClosed, message: "the pool is closed") }
            if let connection = state.idle.popLast() { return .use(connection) }
            if state.openCount < self.configuration.maximumConnections {
                state.openCount += 1
                return .open
            }
            return .wait
        }
        switch decision {
        case .use(let connection):
            return connection
        case .open:
            return try await self.openConnection()
        case .wait:
            if let connection = try await self.waitForConnection() { return connection }
            return try await self.openConnection()
        }
    }

    /// Opens a connection for a slot already counted in `openCount`.
    ///
    /// A server that refuses or is slow to accept (restarting, overloaded) is tried again with
    /// backoff until the acquire timeout has passed; then the last failure is thrown, so the
    /// caller learns why.
    private func openConnection() async throws -> PostgresConnection {
        let deadline = ContinuousClock.now + self.configuration.acquireTimeout
        var delay = Duration.milliseconds(50)
        while true {
            do {
                return try await PostgresConnection.connect(to: self.connectionConfiguration, logger: self.logger)
            } catch let error as PostgresError where error.code == .connectionFailed && ContinuousClock.now + delay < deadline {
                self.logger.debug("Connecting failed; trying again", metadata: ["jobkit.pg.error": "\(error.message)"])
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    self.giveUpSlot()
                    throw error
                }
                delay = min(delay * 2, .seconds(1))
            } catch {
                self.giveUpSlot()
                throw error
            }
        }
    }

    private func waitForConnection() async throws -> PostgresConnection? {
        let id = self.state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let timeout = self.configuration.acquireTimeout
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.failWaiter(id, with: PostgresError(code: .acquireTimeout, message: "no connection became free within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresConnection?, any Error>) in
                let immediate: Result<PostgresConnection?, any Error>? = self.state.withLock { state in
                    if state.isClosed { return .failure(PostgresError(code: .poolClosed, message: "the pool is closed")) }
                    // A connection may have come back between the first look and now.
                    if let connection = state.idle.popLast() { return .success(connection) }
                    if state.openCount < self.configuration.maximumConnections {
                        state.openCount += 1
                        return .success(nil)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            self.failWaiter(id, with: CancellationError())
        }
    }

    private func failWaiter(_ id: Int, with error: any Error) {
        let waiter = self.state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    private func release(_ connection: PostgresConnection) {
        let broken = connection.isBroken
        let waiter = self.state.withLock { state -> Waiter? in
            if broken || state.isClosed {
                state.openCount -= 1
                guard !state.isClosed, !state.waiters.isEmpty else { return nil }
                // The freed slot goes to the longest waiter, who opens a fresh connection.
                state.openCount += 1
                return state.waiters.removeFirst()
            }
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(connection)
            return nil
        }
        guard let waiter else { return }
        waiter.continuation.resume(returning: broken ? nil : connection)
    }

    private func giveUpSlot() {
        let waiter = self.state.withLock { state -> Waiter? in
            state.openCount -= 1
            guard !state.waiters.isEmpty else { return nil }
            state.openCount += 1
            return state.waiters.removeFirst()
        }
        waiter?.continuation.resume(returning: nil)
    }
}
