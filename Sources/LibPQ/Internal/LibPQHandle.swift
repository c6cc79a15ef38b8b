import CLibPQ
import Foundation

/// One libpq connection, used from one thread at a time.
///
/// Not `Sendable`: a ``PostgresConnection`` (on its own thread) or a ``PostgresListener``
/// (on its own thread) owns it. Every call here may block.
final class LibPQHandle {
    private(set) var connection: OpaquePointer?
    private let parameters: [(String, String)]
    /// libpq's transaction status before the last statement, to know whether a connection
    /// that dropped may be reopened without losing a transaction.
    var lastTransactionStatus = PQTRANS_IDLE
    /// Set when the connection broke inside a transaction: it must not be silently reopened.
    private(set) var isPoisoned = false
    /// Set by libpq's notice processor when the server sent a FATAL message while idle.
    private let terminationNotice = TerminationNotice()
    /// Set by a ``PostgresListener``: notifications read while checking an idle connection are
    /// kept for it, and a dropped connection is not silently reopened, which would lose its
    /// `LISTEN`s; the listener reconnects and listens again itself.
    var belongsToListener = false
    let cancelToken: CancelToken
    /// The statements prepared on this session (see ``StatementCache``).
    var statements: StatementCache
    /// Prepared statements dropped from the cache that the server still holds, deallocated the
    /// next time the session is outside a transaction.
    var staleStatementNames: [String] = []

    init(configuration: PostgresConfiguration, cancelToken: CancelToken) throws(PostgresError) {
        self.parameters = try Self.parameters(for: configuration)
        self.cancelToken = cancelToken
        self.statements = StatementCache(capacity: configuration.statementCacheCapacity)
    }

    deinit {
        self.close()
    }

    // MARK: Connecting

    static func parameters(for configuration: PostgresConfiguration) throws(PostgresError) -> [(String, String)] {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(configuration.connectionString, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(code: .invalidConfiguration, message: "invalid connection string: \(reason.trimmed)")
        }
        defer { PQconninfoFree(options) }
        var result: [(String, String)] = []
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val {
                result.append((String(cString: keyword), String(cString: value)))
            }
            cursor += 1
        }
        let named = Set(result.map(\.0))
        result.append(("client_encoding", "UTF8"))
        if !named.contains("application_name") {
            result.append(("fallback_application_name", configuration.applicationName))
        }
        if !named.contains("connect_timeout") {
            let seconds = max(1, Int((Double(configuration.connectTimeout.components.seconds)
                + Double(configuration.connectTimeout.components.attoseconds) / 1e18).rounded(.up)))
            result.append(("connect_timeout", String(seconds)))
        }
        return result
    }

    /// Opens the connection (blocking).
    func open() throws(PostgresError) {
        self.close()
        let keywords = self.parameters.map { strdup($0.0) } + [nil]
        let values = self.parameters.map { strdup($0.1) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let connection = keywords.withUnsafeBufferPointer { keywordBuffer in
            values.withUnsafeBufferPointer { valueBuffer in
                keywordBuffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { k in
                    valueBuffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { v in
                        PQconnectdbParams(k.baseAddress, v.baseAddress, 0)
                    }
                }
            }
        }
        guard let connection else {
            throw PostgresError(code: .connectionFailed, message: "could not connect to PostgreSQL: out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let error = Self.connectError(connection)
            PQfinish(connection)
            throw error
        }
        // Keep notices (for example "relation already exists, skipping") out of stderr, but note
        // a FATAL one: libpq hands an error that arrives while idle (the server terminating the
        // session) to the notice processor, and the connection looks fine until the EOF after it
        // is read, which may not have arrived yet.
        self.terminationNotice.isSet = false
        PQsetNoticeProcessor(connection, { context, message in
            guard let context, let message else { return }
            if strncmp(message, "FATAL", 5) == 0 {
                Unmanaged<TerminationNotice>.fromOpaque(context).takeUnretainedValue().isSet = true
            }
        }, Unmanaged.passUnretained(self.terminationNotice).toOpaque())
        self.connection = connection
        self.statements.removeAll()
        self.staleStatementNames.removeAll()
        self.lastTransactionStatus = PQTRANS_IDLE
        self.isPoisoned = false
        self.cancelToken.replace(with: PQgetCancel(connection))
    }

    static func connectError(_ connection: OpaquePointer) -> PostgresError {
        let host = PQhost(connection).map { String(cString: $0) } ?? "?"
        let port = PQport(connection).map { String(cString: $0) } ?? "?"
        let database = PQdb(connection).map { String(cString: $0) } ?? "?"
        let user = PQuser(connection).map { String(cString: $0) } ?? "?"
        let reason = String(cString: PQerrorMessage(connection)).trimmed
        return PostgresError(
            code: .connectionFailed,
            message: "could not connect to PostgreSQL at \(host):\(port), database \"\(database)\", user \"\(user)\": \(reason)")
    }

    func close() {
        self.cancelToken.replace(with: nil)
        if let connection {
            PQfinish(connection)
            self.connection = nil
        }
    }

    var isOpen: Bool {
        guard let connection else { return false }
        return PQstatus(connection) == CONNECTION_OK
    }

    var socket: Int32 {
        guard let connection else { return -1 }
        return PQsocket(connection)
    }

    /// Makes sure the connection is usable before a statement is sent.
    ///
    /// A connection whose server went away while it sat idle outside a transaction is
    /// reopened: nothing was sent on it, so nothing is lost. One that broke inside a
    /// transaction throws `.connectionClosed`, for good.
    func ensureUsable() throws(PostgresError) {
        guard !self.isPoisoned else {
            throw PostgresError(code: .connectionClosed, message: "the connection broke inside a transaction and cannot be used again")
        }
        if let connection, PQstatus(connection) == CONNECTION_OK {
            // Whether the session is inside a transaction, read before the status is lost.
            self.lastTransactionStatus = PQtransactionStatus(connection)
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
            // A readable idle socket means the server sent something unasked: usually a
            // FATAL "terminating connection" and EOF. libpq reads the message first and sees
            // the EOF only on a second read, so read while there is something to read.
            var reads = 0
            while reads < 16, PQstatus(connection) == CONNECTION_OK, poll(&descriptor, 1, 0) > 0 {
                reads += 1
                guard PQconsumeInput(connection) == 1 else { break }
                while !self.belongsToListener, let notification = PQnotifies(connection) { PQfreemem(notification) }
            }
            if PQstatus(connection) == CONNECTION_OK && !self.terminationNotice.isSet { return }
        }
        if self.connection != nil && self.lastTransactionStatus != PQTRANS_IDLE {
            self.isPoisoned = true
            throw PostgresError(code: .connectionClosed, message: "the connection broke inside a transaction")
        }
        if self.belongsToListener {
            throw PostgresError(code: .connectionClosed, message: "the listener's connection was lost")
        }
        try self.open()
    }

    // MARK: Statements

    /// Runs one parameterised statement (extended protocol, text format).
    ///
    /// With the statement cache on, a statement without array parameters is prepared on its
    /// first run on this session and bound to its prepared form afterwards (see
    /// ``StatementCache``). A prepared statement the server no longer
    /// matches (deallocated by someone else, or its result columns changed by a migration) is
    /// prepared again and the statement re-run, when outside a transaction; inside one, the
    /// error is thrown, as the transaction is aborted anyway.
    func execute(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        try self.ensureUsable()
        guard let connection else { throw PostgresError(code: .connectionClosed, message: "the connection is closed") }
        self.lastTransactionStatus = PQtransactionStatus(connection)
        guard self.statements.prepares(query) else {
            let sent = query.bindings.withUnsafeParameters { types, values in
                PQsendQueryParams(connection, query.sql, Int32(query.bindings.count), types, values, nil, nil, 0)
            }
            guard sent == 1 else { throw self.connectionError(query: query) }
            return try self.consume(self.awaitResult(connection), query: query)
        }
        let key = StatementCache.Key(query)
        if let name = self.statements.name(for: key) {
            let result = self.executePrepared(name, query, on: connection)
            guard let result, Self.isStalePreparedStatement(result) else { return try self.consume(result, query: query) }
            self.statements.remove(key)
            self.staleStatementNames.append(name)
            guard PQtransactionStatus(connection) == PQTRANS_IDLE else { return try self.consume(result, query: query) }
            PQclear(result)
        }
        let name = try self.prepare(query, as: key, on: connection)
        return try self.consume(self.executePrepared(name, query, on: connection), query: query)
    }

    /// Sends `query` bound to the statement prepared as `name`; returns its result.
    private func executePrepared(_ name: String, _ query: PostgresQuery, on connection: OpaquePointer) -> OpaquePointer? {
        let sent = query.bindings.withUnsafeParameters { _, values in
            PQsendQueryPrepared(connection, name, Int32(query.bindings.count), values, nil, nil, 0)
        }
        guard sent == 1 else { return nil }
        return self.awaitResult(connection)
    }

    /// Prepares `query` as a new named statement and caches it; returns the name. Makes room
    /// by deallocating the least recently used statement; inside a transaction, where a
    /// deallocation could fail with the transaction, a full cache prepares the statement
    /// unnamed instead (the unnamed statement lasts until the next one).
    private func prepare(_ query: PostgresQuery, as key: StatementCache.Key, on connection: OpaquePointer) throws(PostgresError) -> String {
        let isIdle = PQtransactionStatus(connection) == PQTRANS_IDLE
        if isIdle, self.statements.isFull, let evicted = self.statements.removeLeastRecentlyUsed() {
            self.staleStatementNames.append(evicted)
        }
        if isIdle { self.deallocateStaleStatements(on: connection) }
        let name = self.statements.isFull ? "" : self.statements.makeName()
        let sent = query.bindings.withUnsafeParameters { types, _ in
            PQsendPrepare(connection, name, query.sql, Int32(query.bindings.count), types)
        }
        guard sent == 1 else { throw self.connectionError(query: query) }
        _ = try self.consume(self.awaitResult(connection), query: query)
        if !name.isEmpty { self.statements.insert(key, name: name) }
        return name
    }

    /// Deallocates the prepared statements dropped from the cache (outside a transaction
    /// only); a failure, such as a statement someone else deallocated, is ignored.
    private func deallocateStaleStatements(on connection: OpaquePointer) {
        guard !self.staleStatementNames.isEmpty else { return }
        let sql = self.staleStatementNames.map { "DEALLOCATE \($0)" }.joined(separator: "; ")
        self.staleStatementNames.removeAll()
        guard PQsendQuery(connection, sql) == 1 else { return }
        if let result = self.awaitResult(connection) { PQclear(result) }
    }

    /// Whether `result` failed because the prepared statement no longer fits the server: it
    /// does not exist (`26000`, after a `DEALLOCATE ALL` or `DISCARD ALL`), or its result
    /// columns changed (`0A000`, "cached plan must not change result type").
    static func isStalePreparedStatement(_ result: OpaquePointer) -> Bool {
        guard PQresultStatus(result) == PGRES_FATAL_ERROR,
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C")))
        else { return false }
        switch SQLState(rawValue: String(cString: state)) {
        case .invalidSQLStatementName: return true
        case .featureNotSupported:
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? ""
            return message.contains("cached plan must not change result type")
        default: return false
        }
    }

    /// Waits for the statement sent last, polling its socket and the cancellation pipe; sends
    /// (and re-sends) libpq's cancel while a cancellation is requested. Returns the statement's
    /// result: the error if any, else the last one.
    func awaitResult(_ connection: OpaquePointer) -> OpaquePointer? {
        var lastCancel: ContinuousClock.Instant?
        while PQisBusy(connection) == 1 {
            // Checked before waiting too: a cancellation requested during an earlier statement
            // of the same call (the preparation before an execution) left no byte in the pipe.
            if self.cancelToken.isRequested, lastCancel.map({ ContinuousClock.now - $0 > .milliseconds(100) }) ?? true {
                self.cancelToken.sendCancel()
                lastCancel = ContinuousClock.now
            }
            var descriptors = [
                pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0),
                pollfd(fd: self.cancelToken.wakeReader, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, 2, lastCancel == nil ? -1 : 100)
            if ready < 0 && errno != EINTR { break }
            if descriptors[0].revents != 0, PQconsumeInput(connection) == 0 { break }
        }
        var final: OpaquePointer?
        while let result = PQgetResult(connection) {
            if let kept = final {
                if PQresultStatus(kept) == PGRES_FATAL_ERROR {
                    PQclear(result)
                    continue
                }
                PQclear(kept)
            }
            final = result
        }
        return final
    }

    /// Runs one or more statements separated by semicolons (simple protocol, no parameters).
    func executeSimple(_ sql: String) throws(PostgresError) -> PostgresRows {
        try self.ensureUsable()
        guard let connection else { throw PostgresError(code: .connectionClosed, message: "the connection is closed") }
        self.lastTransactionStatus = PQtransactionStatus(connection)
        guard PQsendQuery(connection, sql) == 1 else { return try self.consume(nil, query: PostgresQuery(sql)) }
        return try self.consume(self.awaitResult(connection), query: PostgresQuery(sql))
    }

    /// Turns a result into rows, or its error into a `PostgresError`, and frees it.
    func consume(_ result: OpaquePointer?, query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw self.connectionError(query: query)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            return Self.rows(from: result)
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_COPY_OUT, PGRES_COPY_IN, PGRES_COPY_BOTH, PGRES_PIPELINE_SYNC:
            return PostgresRows(columns: [], affectedRows: Self.affectedRows(result), storage: [], cells: [], rowCount: 0)
        default:
            throw self.error(from: result, query: query)
        }
    }

    /// The error for a statement that got no result, or a result without SQLSTATE after the
    /// connection broke.
    func connectionError(query: PostgresQuery) -> PostgresError {
        let reason = self.connection.map { String(cString: PQerrorMessage($0)).trimmed } ?? "the connection is closed"
        if let connection, PQstatus(connection) != CONNECTION_OK, self.lastTransactionStatus != PQTRANS_IDLE {
            self.isPoisoned = true
        }
        var error = PostgresError(code: .connectionClosed, message: reason)
        error.statement = query.sql
        error.statementName = query.name
        return error
    }

    func error(from result: OpaquePointer, query: PostgresQuery) -> PostgresError {
        func field(_ code: UInt8) -> String? {
            PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
        }
        guard let state = field(UInt8(ascii: "C")) else {
            // No SQLSTATE: a client-side failure, typically the connection breaking.
            return self.connectionError(query: query)
        }
        var error = PostgresError(
            code: .server,
            message: field(UInt8(ascii: "M")) ?? String(cString: PQresultErrorMessage(result)).trimmed,
            sqlState: SQLState(rawValue: state))
        error.severity = field(UInt8(ascii: "V")) ?? field(UInt8(ascii: "S"))
        error.detail = field(UInt8(ascii: "D"))
        error.hint = field(UInt8(ascii: "H"))
        error.constraintName = field(UInt8(ascii: "n"))
        error.statement = query.sql
        error.statementName = query.name
        return error
    }

    static func affectedRows(_ result: OpaquePointer) -> Int {
        guard let text = PQcmdTuples(result), text.pointee != 0 else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    /// Copies a result's values into one Swift buffer.
    static func rows(from result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [PostgresRows.Column] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(PostgresRows.Column(
                name: String(cString: PQfname(result, Int32(column))),
                type: PostgresType(oid: PQftype(result, Int32(column)))))
        }
        var cells: [Range<Int>?] = []
        cells.reserveCapacity(rowCount * columnCount)
        var total = 0
        for row in 0..<rowCount {
            for column in 0..<columnCount {
                total += Int(PQgetlength(result, Int32(row), Int32(column)))
            }
        }
        var storage: [UInt8] = []
        storage.reserveCapacity(total)
        for row in 0..<rowCount {
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 {
                    cells.append(nil)
                    continue
                }
                let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                let start = storage.count
                if length > 0, let value = PQgetvalue(result, Int32(row), Int32(column)) {
                    value.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                        storage.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
                    }
                }
                cells.append(start..<storage.count)
            }
        }
        let affected = Self.affectedRows(result)
        return PostgresRows(columns: columns, affectedRows: affected == 0 ? rowCount : affected, storage: storage, cells: cells, rowCount: rowCount)
    }
}

extension String {
    var trimmed: String {
        self.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Carries cancellation requests from any task to the thread of the connection whose
/// statement they concern.
///
/// Each call takes a ticket; a request names its ticket, so a request that arrives late, after
/// its statement ended, can never cancel the next caller's statement. A request only sets a
/// flag and writes a byte to a pipe that the connection's thread polls beside its socket: the
/// thread sends libpq's cancel itself (it opens a connection of its own, which would block a
/// cooperative thread), and sends it again while the statement still runs, in case the first
/// reached the server before the statement did.
///
/// `@unchecked Sendable`: all mutable state is guarded by `lock`; the pipe's descriptors are constant.
/// Whether a FATAL notice arrived; written by libpq's notice processor on the connection's own
/// thread, read there too.
final class TerminationNotice {
    var isSet = false
}

final class CancelToken: @unchecked Sendable {
    private let lock = NSLock()
    private var cancel: OpaquePointer?
    private var nextTicket = 0
    private var activeTicket: Int?
    private var requestedTicket: Int?
    let wakeReader: Int32
    private let wakeWriter: Int32

    init() {
        var descriptors: [Int32] = [-1, -1]
        let created = pipe(&descriptors)
        precondition(created == 0, "could not create a pipe: errno \(errno)")
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        self.wakeReader = descriptors[0]
        self.wakeWriter = descriptors[1]
    }

    deinit {
        if let cancel { PQfreeCancel(cancel) }
        close(self.wakeReader)
        close(self.wakeWriter)
    }

    func replace(with cancel: OpaquePointer?) {
        self.lock.lock()
        defer { self.lock.unlock() }
        if let old = self.cancel { PQfreeCancel(old) }
        self.cancel = cancel
    }

    /// A ticket for one call; pass it to ``request(_:)`` to cancel that call only.
    func makeTicket() -> Int {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.nextTicket += 1
        return self.nextTicket
    }

    /// Asks for the call with `ticket` to be cancelled. Never blocks.
    func request(_ ticket: Int) {
        self.lock.lock()
        self.requestedTicket = ticket
        let isActive = self.activeTicket == ticket
        self.lock.unlock()
        if isActive {
            var byte: UInt8 = 1
            _ = write(self.wakeWriter, &byte, 1)
        }
    }

    /// Marks the start of the call's statement; returns whether it was cancelled already.
    func begin(_ ticket: Int) -> Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.activeTicket = ticket
        return self.requestedTicket == ticket
    }

    /// Marks the end of the current call's statement.
    func end() {
        self.lock.lock()
        self.activeTicket = nil
        self.lock.unlock()
        var buffer = [UInt8](repeating: 0, count: 16)
        while read(self.wakeReader, &buffer, buffer.count) > 0 {}
    }

    /// Whether the running call's cancellation was requested.
    var isRequested: Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.activeTicket != nil && self.requestedTicket == self.activeTicket
    }

    /// Sends libpq's cancel request for the running statement (blocks briefly: call it on the
    /// connection's thread).
    func sendCancel() {
        var buffer = [UInt8](repeating: 0, count: 16)
        while read(self.wakeReader, &buffer, buffer.count) > 0 {}
        self.lock.lock()
        defer { self.lock.unlock() }
        guard let cancel else { return }
        var message = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &message, Int32(message.count))
    }
}
