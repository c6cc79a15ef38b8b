import CLibPQ
import Foundation

extension LibPQHandle {
    /// Sends every statement in one pipeline (one round trip) and returns each one's outcome.
    ///
    /// The statements up to the closing sync run as one implicit transaction: after the first
    /// failure, the rest are reported as aborted. Runs libpq in non-blocking mode and waits with
    /// `poll`, reading results while it still writes, so a large pipeline cannot deadlock.
    ///
    /// With the statement cache on, a statement without array parameters seen for the first time on this session is
    /// prepared in the same pipeline, just before it runs. A cached statement the server no
    /// longer matches fails (the pipeline cannot be re-run for it) and is dropped from the
    /// cache, so the next run prepares it again.
    func pipeline(_ queries: [PostgresQuery]) throws(PostgresError) -> [Result<PostgresRows, PostgresError>] {
        guard !queries.isEmpty else { return [] }
        try self.ensureUsable()
        guard let connection else { throw PostgresError(code: .connectionClosed, message: "the connection is closed") }
        let pipelineQuery = PostgresQuery("-- pipeline of \(queries.count) statements", name: "pipeline")
        guard PQenterPipelineMode(connection) == 1 else {
            throw PostgresError(code: .protocolViolation, message: "could not enter pipeline mode: \(String(cString: PQerrorMessage(connection)).trimmed)")
        }
        PQsetnonblocking(connection, 1)
        defer {
            PQsetnonblocking(connection, 0)
            PQexitPipelineMode(connection)
        }
        let slots = try self.sendPipeline(queries, on: connection)
        guard PQpipelineSync(connection) == 1 else { throw self.connectionError(query: pipelineQuery) }

        var outcomes: [Result<PostgresRows, PostgresError>] = []
        outcomes.reserveCapacity(queries.count)
        var slotIndex = 0
        var pending: Result<PostgresRows, PostgresError>?
        var failedPreparation: Result<PostgresRows, PostgresError>?
        var needsFlush = true
        while true {
            if needsFlush {
                let flushed = PQflush(connection)
                guard flushed >= 0 else { throw self.connectionError(query: pipelineQuery) }
                needsFlush = flushed == 1
            }
            guard PQconsumeInput(connection) == 1 else { throw self.connectionError(query: pipelineQuery) }
            while PQisBusy(connection) == 0 {
                guard let result = PQgetResult(connection) else {
                    // The end of one slot's results.
                    guard slotIndex < slots.count else { break }
                    let slot = slots[slotIndex]
                    slotIndex += 1
                    switch (slot.kind, pending) {
                    case (.preparation(let key, let name), .success?):
                        self.statements.insert(key, name: name)
                    case (.preparation, _):
                        failedPreparation = pending
                    case (.statement, _):
                        // A failed preparation is the statement's failure, not the abort after it.
                        outcomes.append(failedPreparation ?? pending ?? .success(.empty))
                        failedPreparation = nil
                    }
                    pending = nil
                    continue
                }
                let status = PQresultStatus(result)
                if status == PGRES_PIPELINE_SYNC {
                    PQclear(result)
                    return outcomes
                }
                let slot = slots[min(slotIndex, slots.count - 1)]
                let query = queries[slot.query]
                if status == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    var error = PostgresError(code: .server, message: "not run: an earlier statement in the pipeline failed", sqlState: .inFailedTransaction)
                    error.statement = query.sql
                    error.statementName = query.name
                    pending = .failure(error)
                } else {
                    if case .statement(let preparedAs?) = slot.kind, Self.isStalePreparedStatement(result) {
                        self.statements.remove(StatementCache.Key(query))
                        self.staleStatementNames.append(preparedAs)
                    }
                    do {
                        pending = .success(try self.consume(result, query: query))
                    } catch {
                        pending = .failure(error)
                    }
                }
            }
            var descriptors = [
                pollfd(fd: PQsocket(connection), events: Int16(POLLIN) | (needsFlush ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: self.cancelToken.wakeReader, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&descriptors, 2, self.cancelToken.isRequested ? 100 : -1) >= 0 || errno == EINTR else {
                throw self.connectionError(query: pipelineQuery)
            }
            if self.cancelToken.isRequested { self.cancelToken.sendCancel() }
        }
    }

    /// One result the server sends back in a pipeline: a statement's (run by the name it was
    /// prepared as, if any), or the preparation of a statement seen for the first time.
    struct PipelineSlot {
        enum Kind {
            case statement(preparedAs: String?)
            case preparation(StatementCache.Key, name: String)
        }

        var query: Int
        var kind: Kind
    }

    /// Sends the pipeline's statements, preparing those the cache has room for; returns what
    /// the server will answer, in order.
    private func sendPipeline(_ queries: [PostgresQuery], on connection: OpaquePointer) throws(PostgresError) -> [PipelineSlot] {
        var slots: [PipelineSlot] = []
        var preparing: [StatementCache.Key: String] = [:]
        for (index, query) in queries.enumerated() {
            var name: String?
            if self.statements.prepares(query) {
                let key = StatementCache.Key(query)
                if let cached = self.statements.name(for: key) ?? preparing[key] {
                    name = cached
                } else if self.statements.count + preparing.count < self.statements.capacity {
                    let fresh = self.statements.makeName()
                    let sent = query.bindings.withUnsafeParameters { types, _ in
                        PQsendPrepare(connection, fresh, query.sql, Int32(query.bindings.count), types)
                    }
                    guard sent == 1 else { throw self.connectionError(query: query) }
                    slots.append(PipelineSlot(query: index, kind: .preparation(key, name: fresh)))
                    preparing[key] = fresh
                    name = fresh
                }
            }
            let sent = query.bindings.withUnsafeParameters { types, values in
                if let name {
                    PQsendQueryPrepared(connection, name, Int32(query.bindings.count), values, nil, nil, 0)
                } else {
                    PQsendQueryParams(connection, query.sql, Int32(query.bindings.count), types, values, nil, nil, 0)
                }
            }
            guard sent == 1 else { throw self.connectionError(query: query) }
            slots.append(PipelineSlot(query: index, kind: .statement(preparedAs: name)))
        }
        return slots
    }

    /// Runs `COPY … FROM STDIN` and streams the rows' text to the server.
    /// - Returns: The number of rows copied.
    func copyIn(_ statement: String, data: [UInt8]) throws(PostgresError) -> Int {
        try self.ensureUsable()
        guard let connection else { throw PostgresError(code: .connectionClosed, message: "the connection is closed") }
        let query = PostgresQuery(statement)
        self.lastTransactionStatus = PQtransactionStatus(connection)
        guard let start = PQexec(connection, statement) else { throw self.connectionError(query: query) }
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try self.consume(start, query: query)
            throw PostgresError(code: .protocolViolation, message: "the statement is not a COPY … FROM STDIN")
        }
        PQclear(start)
        let chunk = 256 * 1024
        var failure: PostgresError?
        data.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                var offset = 0
                while offset < chars.count {
                    let length = min(chunk, chars.count - offset)
                    guard let base = chars.baseAddress, PQputCopyData(connection, base + offset, Int32(length)) == 1 else {
                        failure = self.connectionError(query: query)
                        return
                    }
                    offset += length
                }
            }
        }
        if let failure { throw failure }
        guard PQputCopyEnd(connection, nil) == 1 else { throw self.connectionError(query: query) }
        var rows: PostgresRows?
        var error: PostgresError?
        while let result = PQgetResult(connection) {
            do {
                let consumed = try self.consume(result, query: query)
                if rows == nil { rows = consumed }
            } catch let failed {
                if error == nil { error = failed }
            }
        }
        if let error { throw error }
        return rows?.affectedRows ?? 0
    }
}

/// Rows for ``PostgresConnection/copyFrom(_:rows:file:line:)``, in `COPY`'s text format.
///
/// ```swift
/// var rows = PostgresCopyRows()
/// for item in items { rows.append(item.id, item.name, item.createdAt) }
/// try await connection.copyFrom("COPY items (id, name, created_at) FROM STDIN", rows: rows)
/// ```
public struct PostgresCopyRows: Sendable {
    /// The encoded text, one line per row.
    public private(set) var bytes: [UInt8] = []
    /// The number of rows appended.
    public private(set) var count = 0
    private var scratch: [UInt8] = []

    /// Creates an empty set of rows.
    public init() {}

    /// Appends one row; `nil` optionals become `NULL`.
    /// - Parameter values: The row's values, in the statement's column order.
    public mutating func append<each Value: PostgresEncodable>(_ values: repeat each Value) {
        var first = true
        for value in repeat each values {
            if !first { self.bytes.append(UInt8(ascii: "\t")) }
            first = false
            self.appendField(value)
        }
        self.bytes.append(UInt8(ascii: "\n"))
        self.count += 1
    }

    private mutating func appendField(_ value: some PostgresEncodable) {
        if value.isPostgresNull {
            self.bytes.append(UInt8(ascii: "\\"))
            self.bytes.append(UInt8(ascii: "N"))
            return
        }
        self.scratch.removeAll(keepingCapacity: true)
        value.encode(into: &self.scratch)
        for byte in self.scratch {
            switch byte {
            case UInt8(ascii: "\\"):
                self.bytes.append(UInt8(ascii: "\\"))
                self.bytes.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\t"):
                self.bytes.append(UInt8(ascii: "\\"))
                self.bytes.append(UInt8(ascii: "t"))
            case UInt8(ascii: "\n"):
                self.bytes.append(UInt8(ascii: "\\"))
                self.bytes.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"):
                self.bytes.append(UInt8(ascii: "\\"))
                self.bytes.append(UInt8(ascii: "r"))
            default:
                self.bytes.append(byte)
            }
        }
    }
}
