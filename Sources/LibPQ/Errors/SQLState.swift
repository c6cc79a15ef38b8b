/// A five-character SQLSTATE code, typed so callers branch on names rather than strings.
///
/// ```swift
/// catch let error as PostgresError where error.sqlState == .uniqueViolation { … }
/// ```
public struct SQLState: Hashable, Sendable, RawRepresentable, ExpressibleByStringLiteral {
    /// The five-character code, for example `"23505"`.
    public var rawValue: String

    /// Creates a code from its five characters.
    /// - Parameter rawValue: The code, for example `"23505"`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Creates a code from a string literal.
    /// - Parameter value: The code, for example `"23505"`.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// `23505`: a unique constraint was violated.
    public static let uniqueViolation: SQLState = "23505"
    /// `23503`: a foreign key constraint was violated.
    public static let foreignKeyViolation: SQLState = "23503"
    /// `23502`: a NOT NULL constraint was violated.
    public static let notNullViolation: SQLState = "23502"
    /// `23514`: a CHECK constraint was violated.
    public static let checkViolation: SQLState = "23514"
    /// `40001`: the transaction could not be serialized; retry it.
    public static let serializationFailure: SQLState = "40001"
    /// `40P01`: a deadlock was detected; retry the transaction.
    public static let deadlockDetected: SQLState = "40P01"
    /// `55P03`: a lock could not be taken at once (`NOWAIT`).
    public static let lockNotAvailable: SQLState = "55P03"
    /// `57014`: the statement was cancelled.
    public static let queryCanceled: SQLState = "57014"
    /// `42601`: a syntax error.
    public static let syntaxError: SQLState = "42601"
    /// `42P01`: the table does not exist.
    public static let undefinedTable: SQLState = "42P01"
    /// `42703`: the column does not exist.
    public static let undefinedColumn: SQLState = "42703"
    /// `42P04`: the database already exists.
    public static let duplicateDatabase: SQLState = "42P04"
    /// `42P06`: the schema already exists.
    public static let duplicateSchema: SQLState = "42P06"
    /// `22P02`: a value's text could not be parsed for its type.
    public static let invalidTextRepresentation: SQLState = "22P02"
    /// `25P02`: the transaction is aborted; statements are ignored until its end.
    public static let inFailedTransaction: SQLState = "25P02"
    /// `26000`: no prepared statement has the name (for example after `DEALLOCATE ALL`).
    public static let invalidSQLStatementName: SQLState = "26000"
    /// `0A000`: a feature is not supported; also "cached plan must not change result type".
    public static let featureNotSupported: SQLState = "0A000"
    /// `57P01`: the server is shutting down.
    public static let adminShutdown: SQLState = "57P01"

    /// Whether a retry of the whole transaction may succeed (serialization failure or deadlock).
    public var isTransient: Bool {
        self == .serializationFailure || self == .deadlockDetected
    }
}
