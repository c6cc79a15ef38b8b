/// An error from PostgreSQL or from talking to it.
///
/// Errors are equal when their ``code`` is equal, so tests can write
/// `#expect(throws: PostgresError.connectionFailed(...))`-style checks on the code alone.
///
/// ``description`` is a fixed sentence naming the kind of error and, for server errors, the
/// SQLSTATE: it is safe to show to strangers. ``debugDescription`` has everything, including
/// the statement, for logs.
public struct PostgresError: Error, Sendable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case server
            case connectionFailed
            case connectionClosed
            case acquireTimeout
            case poolClosed
            case invalidConfiguration
            case protocolViolation
        }

        let base: Base

        /// The server rejected a statement; ``PostgresError/sqlState`` says why.
        public static let server = Code(base: .server)
        /// A connection could not be opened (server unreachable, authentication refused, …).
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connection broke while in use; the statement's outcome is unknown.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// No pooled connection became free within the pool's acquire timeout.
        public static let acquireTimeout = Code(base: .acquireTimeout)
        /// The pool was closed.
        public static let poolClosed = Code(base: .poolClosed)
        /// A connection string or setting that libpq does not accept.
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// libpq returned something this client did not expect.
        public static let protocolViolation = Code(base: .protocolViolation)

        /// The code's name, such as `connectionFailed`.
        public var description: String { self.base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The SQLSTATE the server reported, for ``Code/server`` errors.
    public var sqlState: SQLState?
    /// `ERROR`, `FATAL`, `PANIC`, … as the server reported it.
    public var severity: String?
    /// The primary message: the server's, or libpq's for client-side failures.
    public var message: String
    /// The server's detail line, if any.
    public var detail: String?
    /// The server's hint, if any.
    public var hint: String?
    /// The constraint a violation names, if any.
    public var constraintName: String?
    /// The name the caller gave the failing statement (``PostgresQuery/name``), if any.
    public var statementName: String?
    /// The failing statement's SQL text.
    public var statement: String?
    /// The caller's source file.
    public var file: String
    /// The caller's source line.
    public var line: Int

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: The primary message.
    ///   - sqlState: The SQLSTATE, for server errors.
    ///   - file: The caller's source file.
    ///   - line: The caller's source line.
    public init(
        code: Code,
        message: String,
        sqlState: SQLState? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.file = file
        self.line = line
    }

    /// Whether the failure left the connection unusable.
    public var isConnectionFailure: Bool {
        self.code == .connectionFailed || self.code == .connectionClosed
    }
}

extension PostgresError: Equatable {
    /// Errors are equal when their code and SQLSTATE are equal.
    /// - Parameters:
    ///   - lhs: An error.
    ///   - rhs: Another error.
    /// - Returns: Whether their codes and SQLSTATEs are equal.
    public static func == (lhs: PostgresError, rhs: PostgresError) -> Bool {
        lhs.code == rhs.code && lhs.sqlState == rhs.sqlState
    }
}

extension PostgresError: CustomStringConvertible {
    /// A summary safe to show strangers: the kind of failure and the SQLSTATE, never the server's message or the statement (see ``debugDescription``).
    public var description: String {
        switch self.code.base {
        case .server:
            return "PostgreSQL error \(self.sqlState?.rawValue ?? "?")"
        case .connectionFailed:
            return "Could not connect to PostgreSQL"
        case .connectionClosed:
            return "The connection to PostgreSQL was lost"
        case .acquireTimeout:
            return "No PostgreSQL connection became free in time"
        case .poolClosed:
            return "The PostgreSQL connection pool is closed"
        case .invalidConfiguration:
            return "Invalid PostgreSQL configuration"
        case .protocolViolation:
            return "Unexpected response from PostgreSQL"
        }
    }
}

extension PostgresError: CustomDebugStringConvertible {
    /// Everything known, for logs: code, SQLSTATE, severity, the server's message, detail and hint, constraint, statement name and text, and the source location. May contain data: keep it out of client responses.
    public var debugDescription: String {
        var parts = ["PostgresError(code: \(self.code)"]
        if let sqlState { parts.append("sqlState: \(sqlState.rawValue)") }
        if let severity { parts.append("severity: \(severity)") }
        parts.append("message: \(self.message)")
        if let detail { parts.append("detail: \(detail)") }
        if let hint { parts.append("hint: \(hint)") }
        if let constraintName { parts.append("constraint: \(constraintName)") }
        if let statementName { parts.append("statementName: \(statementName)") }
        if let statement { parts.append("statement: \(statement)") }
        parts.append("at: \(self.file):\(self.line))")
        return parts.joined(separator: ", ")
    }
}
