/// A column's value could not be decoded as the Swift type asked for.
///
/// It names the column (by name and position), the Swift type and the PostgreSQL type.
public struct PostgresDecodingError: Error, Sendable, Equatable {
    /// Why decoding failed.
    public enum Reason: Error, Sendable, Equatable {
        /// The column's PostgreSQL type cannot be decoded as the Swift type.
        case typeMismatch
        /// The column is NULL and the Swift type is not optional.
        case unexpectedNull
        /// The text did not parse as the Swift type.
        case malformedValue
        /// No column has that name.
        case missingColumn
        /// The row has fewer columns than asked for.
        case columnIndexOutOfRange
    }

    /// Why decoding failed.
    public var reason: Reason
    /// The column's name, as the statement labelled it.
    public var columnName: String
    /// The column's zero-based position.
    public var columnIndex: Int
    /// The Swift type asked for.
    public var swiftType: String
    /// The column's PostgreSQL type.
    public var postgresType: PostgresType?
    /// The caller's source file.
    public var file: String
    /// The caller's source line.
    public var line: Int

    /// Errors are equal when their reason, column name and column index are equal.
    /// - Parameters:
    ///   - lhs: An error.
    ///   - rhs: Another error.
    /// - Returns: Whether their reasons, column names and column indices are equal.
    public static func == (lhs: PostgresDecodingError, rhs: PostgresDecodingError) -> Bool {
        lhs.reason == rhs.reason && lhs.columnName == rhs.columnName && lhs.columnIndex == rhs.columnIndex
    }
}

extension PostgresDecodingError: CustomStringConvertible {
    /// What could not be decoded: the column, its type and the Swift type asked for.
    public var description: String {
        let pgType = self.postgresType.map { "\($0)" } ?? "?"
        switch self.reason {
        case .typeMismatch:
            return "column \"\(self.columnName)\" (#\(self.columnIndex)) has type \(pgType), which cannot be decoded as \(self.swiftType)"
        case .unexpectedNull:
            return "column \"\(self.columnName)\" (#\(self.columnIndex)) is NULL, but \(self.swiftType) is not optional"
        case .malformedValue:
            return "column \"\(self.columnName)\" (#\(self.columnIndex)) of type \(pgType) does not hold a valid \(self.swiftType)"
        case .missingColumn:
            return "no column named \"\(self.columnName)\" to decode as \(self.swiftType)"
        case .columnIndexOutOfRange:
            return "no column #\(self.columnIndex) to decode as \(self.swiftType)"
        }
    }
}
