import CLibPQ
import Foundation

extension LibPQHandle {
    /// Sends every statement in one pipeline (one round trip) and returns each one's outcome.
    ///
    /// The statements up to the closing sync run as one implicit transaction: after the first
    /// failure, the rest are reported as aborted. Runs libpq in non-blocking mode and waits with
    /// `poll`, reading results while it still writes, so a large pipeline cannot deadlock.
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
        for query in queries {
            let sent = query.bindings.withUnsafeParameters { types, values in
                PQsendQueryParams(connection, query.sql, Int32(query.bindings.count), types, values, nil, nil, 0)
            }
            guard sent == 1 else { throw self.connectionError(query: query) }
        }
        guard PQpipelineSync(connection) == 1 else { throw self.connectionError(query: pipelineQuery) }

        var outcomes: [Result<PostgresRows, PostgresError>] = []
        outcomes.reserveCapacity(queries.count)
        var pending: Result<PostgresRows, PostgresError>?
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
                    // The end of one statement's results.
                    let index = outcomes.count
                    guard index < queries.count else { break }
                    outcomes.append(pending ?? .success(.empty))
                    pending = nil
                    continue
                }
                let status = PQresultStatus(result)
                if status == PGRES_PIPELINE_SYNC {
                    PQclear(result)
                    return outcomes
                }
                let query = queries[min(outcomes.count, queries.count - 1)]
                if status == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    var error = PostgresError(code: .server, message: "not run: an earlier statement in the pipeline failed", sqlState: .inFailedTransaction)
                    error.statement = query.sql
                    error.statementName = query.name
                    pending = .failure(error)
                } else {
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
