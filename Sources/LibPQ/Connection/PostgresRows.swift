/// The rows a statement returned, copied out of libpq into one buffer.
///
/// A value type: safe to keep and pass between tasks.
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// The result's columns.
    public let columns: [Column]
    /// The number of rows the statement affected (`UPDATE`, `DELETE`, `INSERT`), or returned.
    public let affectedRows: Int
    /// All values, back to back.
    let storage: [UInt8]
    /// For row `r`, column `c`: the range in `storage` at `r * columns.count + c`, or nil for NULL.
    let cells: [Range<Int>?]
    let rowCount: Int

    /// A column of a result.
    public struct Column: Sendable, Hashable {
        /// The column's label in the statement.
        public var name: String
        /// The column's type.
        public var type: PostgresType
    }

    init(columns: [Column], affectedRows: Int, storage: [UInt8], cells: [Range<Int>?], rowCount: Int) {
        self.columns = columns
        self.affectedRows = affectedRows
        self.storage = storage
        self.cells = cells
        self.rowCount = rowCount
    }

    static let empty = PostgresRows(columns: [], affectedRows: 0, storage: [], cells: [], rowCount: 0)

    /// The index of the first row: 0.
    public var startIndex: Int { 0 }
    /// One past the index of the last row: the number of rows.
    public var endIndex: Int { self.rowCount }
    /// The row at `position`.
    /// - Parameter position: A row index, from 0.
    public subscript(position: Int) -> PostgresRow { PostgresRow(rows: self, index: position) }

    /// The index of the column with this name.
    func columnIndex(named name: String) -> Int? {
        self.columns.firstIndex { $0.name == name }
    }
}

/// One row of ``PostgresRows``.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    /// The row's position in its result.
    public let index: Int

    /// The row's columns.
    public var columns: [PostgresRows.Column] { self.rows.columns }

    /// Whether the column at `column` is NULL.
    /// - Parameter column: The zero-based column position.
    /// - Returns: `true` for NULL, and for a position past the last column.
    public func isNull(at column: Int) -> Bool {
        guard column >= 0 && column < self.rows.columns.count else { return true }
        return self.rows.cells[self.index * self.rows.columns.count + column] == nil
    }

    /// Decodes the column at a position.
    /// - Parameters:
    ///   - type: The Swift type to decode.
    ///   - column: The zero-based column position.
    /// - Returns: The value.
    /// - Throws: ``PostgresDecodingError`` naming the column, the Swift type and the PostgreSQL type.
    public func decode<Value: PostgresDecodable>(
        _ type: Value.Type,
        at column: Int,
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresDecodingError) -> Value {
        let width = self.rows.columns.count
        guard column >= 0 && column < width else {
            throw PostgresDecodingError(
                reason: .columnIndexOutOfRange, columnName: "", columnIndex: column,
                swiftType: "\(Value.self)", postgresType: nil, file: file, line: line)
        }
        let info = self.rows.columns[column]
        do {
            guard let range = self.rows.cells[self.index * width + column] else {
                return try Value.decodeNull()
            }
            let decoded = self.rows.storage.withUnsafeBytes { storage in
                Result { () throws(PostgresDecodingError.Reason) in
                    try Value.decode(from: UnsafeRawBufferPointer(rebasing: storage[range]), type: info.type)
                }
            }
            return try decoded.get()
        } catch {
            throw PostgresDecodingError(
                reason: error, columnName: info.name, columnIndex: column,
                swiftType: "\(Value.self)", postgresType: info.type, file: file, line: line)
        }
    }

    /// Decodes the column with a name.
    /// - Parameters:
    ///   - type: The Swift type to decode.
    ///   - column: The column's label in the statement.
    /// - Returns: The value.
    /// - Throws: ``PostgresDecodingError``; `.missingColumn` when no column has that name.
    public func decode<Value: PostgresDecodable>(
        _ type: Value.Type,
        column: String,
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresDecodingError) -> Value {
        guard let index = self.rows.columnIndex(named: column) else {
            throw PostgresDecodingError(
                reason: .missingColumn, columnName: column, columnIndex: -1,
                swiftType: "\(Value.self)", postgresType: nil, file: file, line: line)
        }
        return try self.decode(type, at: index, file: file, line: line)
    }

    /// Decodes the first columns as a tuple: `let (id, name) = try row.decode((UUID, String).self)`.
    /// - Parameter types: The tuple of Swift types, one per leading column.
    /// - Returns: The values.
    /// - Throws: ``PostgresDecodingError`` for the first column that does not decode.
    public func decode<each Value: PostgresDecodable>(
        _ types: (repeat each Value).Type,
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresDecodingError) -> (repeat each Value) {
        var column = 0
        func next<V: PostgresDecodable>(_ type: V.Type) throws(PostgresDecodingError) -> V {
            defer { column += 1 }
            return try self.decode(type, at: column, file: file, line: line)
        }
        return (repeat try next((each Value).self))
    }
}
