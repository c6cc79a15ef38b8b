import Logging
import Synchronization

/// One connection to PostgreSQL.
///
/// An actor whose executor is a thread of its own: libpq's blocking calls run there, never on
/// Swift's cooperative thread pool, so a slow statement stalls only its own connection.
///
/// ```swift
/// let connection = try await PostgresConnection.connect(to: PostgresConfiguration("postgresql://localhost/app"))
/// let rows = try await connection.query("SELECT id, name FROM users WHERE active = \(true)")
/// for row in rows {
///     let (id, name) = try row.decode((Int, String).self)
/// }
/// ```
///
/// Cancelling the calling `Task` sends libpq's cancel request for the running statement and
/// makes the call throw `CancellationError`.
public actor PostgresConnection {
    private let thread: ConnectionThread
    private let handle: LibPQHandle
    private let cancelToken: CancelToken
    private var isClosed = false
    private let brokenFlag = Atomic<Bool>(false)
    private let logger: Logger
    /// A number that tells this connection apart in logs.
    public nonisolated let id: Int

    /// The connection's own thread: every call on the actor runs there, so libpq never blocks Swift's cooperative pool.
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        self.thread.asUnownedSerialExecutor()
    }

    private static let nextID = Atomic<Int>(1)

    private init(configuration: PostgresConfiguration, logger: Logger) throws(PostgresError) {
        let id = Self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.id = id
        self.thread = ConnectionThread(name: "jobkit.pg.\(id)")
        self.cancelToken = CancelToken()
        self.handle = try LibPQHandle(configuration: configuration, cancelToken: self.cancelToken)
        var logger = logger
        logger[metadataKey: "jobkit.pg.connection.id"] = "\(id)"
        self.logger = logger
    }

    deinit {
        self.thread.shutdown()
    }

    /// Opens a connection.
    /// - Parameters:
    ///   - configuration: Where and how to connect.
    ///   - logger: Receives a `trace` entry per statement and `debug` lifecycle entries.
    /// - Returns: The open connection.
    /// - Throws: ``PostgresError`` `.connectionFailed` naming host, port, database, user and
    ///   libpq's reason (never the password); `.invalidConfiguration` for a malformed string.
    public static func connect(
        to configuration: PostgresConfiguration,
        logger: Logger = Logger(label: "jobkit.pg", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> PostgresConnection {
        let connection = try PostgresConnection(configuration: configuration, logger: logger)
        try await connection.open()
        return connection
    }

    private func open() throws(PostgresError) {
        try self.handle.open()
        self.logger.debug("Connection opened")
    }

    /// Whether the connection broke in a way that it cannot recover from, or was closed.
    /// A pool discards such connections.
    public nonisolated var isBroken: Bool {
        self.brokenFlag.load(ordering: .relaxed)
    }

    /// Closes the connection. Statements after this throw `.connectionClosed`.
    public func close() {
        guard !self.isClosed else { return }
        self.isClosed = true
        self.brokenFlag.store(true, ordering: .relaxed)
        self.handle.close()
        self.logger.debug("Connection closed")
    }

    // MARK: - Statements

    /// Runs one statement and returns its rows.
    /// - Parameter query: The statement; interpolated values are sent as parameters.
    /// - Returns: The rows (empty for statements that return none) and the affected-row count.
    /// - Throws: ``PostgresError`` (`.server` with its ``SQLState``, `.connectionClosed`),
    ///   or `CancellationError` when the calling task is cancelled.
    @discardableResult
    public nonisolated func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRows {
        try await self.cancellable(file: file, line: line) { handle throws(PostgresError) in
            try handle.execute(query)
        }
    }

    /// Runs SQL text that may hold several statements separated by semicolons (no parameters),
    /// for migrations and set-up scripts.
    /// - Parameter sql: The statements.
    /// - Throws: ``PostgresError`` or `CancellationError`.
    public nonisolated func execute(script sql: String, file: String = #fileID, line: Int = #line) async throws {
        _ = try await self.cancellable(file: file, line: line) { handle throws(PostgresError) in
            try handle.executeSimple(sql)
        }
    }

    /// Sends many statements in one round trip (libpq pipeline mode) and returns each outcome.
    ///
    /// The statements run as one implicit transaction: after a failure, the rest fail with
    /// ``SQLState/inFailedTransaction`` and nothing of the pipeline is committed.
    /// - Parameter queries: The statements, in order.
    /// - Returns: One outcome per statement, in order.
    /// - Throws: ``PostgresError`` when the connection fails, or `CancellationError`.
    public nonisolated func pipeline(_ queries: [PostgresQuery], file: String = #fileID, line: Int = #line) async throws -> [Result<PostgresRows, PostgresError>] {
        try await self.cancellable(file: file, line: line) { handle throws(PostgresError) in
            try handle.pipeline(queries)
        }
    }

    /// Bulk-loads rows with `COPY … FROM STDIN`.
    /// - Parameters:
    ///   - statement: The `COPY table (columns) FROM STDIN` statement (text format).
    ///   - rows: The rows, built with ``PostgresCopyRows/append(_:)``.
    /// - Returns: The number of rows copied.
    /// - Throws: ``PostgresError`` or `CancellationError`.
    @discardableResult
    public nonisolated func copyFrom(_ statement: String, rows: PostgresCopyRows, file: String = #fileID, line: Int = #line) async throws -> Int {
        try await self.cancellable(file: file, line: line) { handle throws(PostgresError) in
            try handle.copyIn(statement, data: rows.bytes)
        }
    }

    /// Runs `body` inside a transaction: commits when it returns, rolls back when it throws or
    /// when the calling task is cancelled.
    /// - Parameter body: The work; use the connection it is given.
    /// - Returns: What `body` returned.
    /// - Throws: What `body` threw, ``PostgresError`` from `BEGIN`/`COMMIT`, or `CancellationError`.
    nonisolated(nonsending) public func withTransaction<Result>(
        file: String = #fileID,
        line: Int = #line,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.query("BEGIN", file: file, line: line)
        let result: Result
        do {
            result = try await body(self)
            try Task.checkCancellation()
        } catch {
            await self.rollback()
            throw error
        }
        do {
            try await self.query("COMMIT", file: file, line: line)
        } catch {
            await self.rollback()
            throw error
        }
        return result
    }

    /// Rolls back, even when the task is cancelled; a failure here leaves nothing to undo.
    private func rollback() {
        _ = try? self.handle.execute("ROLLBACK")
    }

    // MARK: - Running on the connection's thread

    private nonisolated func cancellable<Value: Sendable>(
        file: String,
        line: Int,
        _ work: @escaping @Sendable (LibPQHandle) throws(PostgresError) -> Value
    ) async throws -> Value {
        try Task.checkCancellation()
        let ticket = self.cancelToken.makeTicket()
        return try await withTaskCancellationHandler {
            try await self.run(ticket: ticket, file: file, line: line, work)
        } onCancel: {
            self.cancelToken.request(ticket)
        }
    }

    private func run<Value: Sendable>(
        ticket: Int,
        file: String,
        line: Int,
        _ work: @Sendable (LibPQHandle) throws(PostgresError) -> Value
    ) throws -> Value {
        guard !self.isClosed else {
            throw PostgresError(code: .connectionClosed, message: "the connection is closed", file: file, line: line)
        }
        defer { self.cancelToken.end() }
        if self.cancelToken.begin(ticket) { throw CancellationError() }
        try Task.checkCancellation()
        do {
            return try work(self.handle)
        } catch var error {
            if self.handle.isPoisoned { self.brokenFlag.store(true, ordering: .relaxed) }
            if error.sqlState == .queryCanceled && Task.isCancelled {
                throw CancellationError()
            }
            error.file = file
            error.line = line
            self.logger.trace("Statement failed", metadata: [
                "jobkit.pg.statement.name": "\(error.statementName ?? "")",
                "jobkit.pg.error": "\(error.debugDescription)",
            ])
            throw error
        }
    }
}
