/// A statement and its parameters.
///
/// Interpolated values become parameters (`$1`, `$2`, …), never SQL text, so a query built
/// from user input cannot be injected:
///
/// ```swift
/// let rows = try await connection.query("SELECT name FROM users WHERE id = \(id)")
/// ```
///
/// Identifiers that must be spliced into the text (a schema name from configuration) use
/// `\(unescaped: schema)`; never pass user input there.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The SQL text, with `$n` placeholders.
    public var sql: String
    /// The parameters.
    public var bindings: PostgresBindings
    /// A name for this statement, reported in errors and logs (for example `"jobs.claim"`).
    public var name: String?
    /// Whether the connection may run this statement as a prepared statement. Defaults to
    /// ``Preparation/automatic``.
    public var preparation: Preparation = .automatic

    /// Whether a connection with a statement cache
    /// (``PostgresConfiguration/statementCacheCapacity``) prepares a statement.
    public enum Preparation: Sendable, Hashable {
        /// Prepared unless a parameter is an array: such a statement's best plan depends on the
        /// arrays' lengths, which a generic plan (made for ten elements) does not know.
        case automatic
        /// Prepared even with array parameters: for a statement written so that any plan
        /// PostgreSQL may settle on scales with the arrays (each element found by an index).
        case always
        /// Never prepared: planned for each call's values.
        case never
    }

    /// Creates a query from SQL text and parameters.
    /// - Parameters:
    ///   - sql: The SQL text with `$n` placeholders.
    ///   - bindings: The parameters, in order.
    ///   - name: A name reported in errors and logs.
    public init(_ sql: String, bindings: PostgresBindings = PostgresBindings(), name: String? = nil) {
        self.sql = sql
        self.bindings = bindings
        self.name = name
    }

    /// Creates a query from SQL text without parameters.
    /// - Parameter value: The SQL text.
    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// Creates a query from an interpolated string: each interpolated value becomes a parameter.
    /// - Parameter stringInterpolation: The SQL text and parameters built so far.
    public init(stringInterpolation: StringInterpolation) {
        self.init(stringInterpolation.sql, bindings: stringInterpolation.bindings)
    }

    /// Returns a copy with a statement name for errors and logs.
    /// - Parameter name: The name, for example `"jobs.claim"`.
    /// - Returns: The named query.
    public func named(_ name: String) -> PostgresQuery {
        var copy = self
        copy.name = name
        return copy
    }

    /// Returns a copy with another ``Preparation``.
    /// - Parameter preparation: Whether the statement may be prepared.
    /// - Returns: The query.
    public func preparing(_ preparation: Preparation) -> PostgresQuery {
        var copy = self
        copy.preparation = preparation
        return copy
    }

    /// The SQL text, with `$n` placeholders (never the parameters' values).
    public var description: String { self.sql }

    /// Builds the SQL text and parameters of an interpolated query.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var bindings: PostgresBindings

        /// Creates an empty builder.
        /// - Parameters:
        ///   - literalCapacity: The length of the literal text, to reserve space.
        ///   - interpolationCount: The number of interpolated values.
        public init(literalCapacity: Int, interpolationCount: Int) {
            self.sql = ""
            self.sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            self.bindings = PostgresBindings(capacity: interpolationCount)
        }

        /// Appends SQL text as written.
        /// - Parameter literal: The text.
        public mutating func appendLiteral(_ literal: String) {
            self.sql.append(literal)
        }

        /// Appends a parameter placeholder and binds the value to it.
        /// - Parameter value: The parameter's value.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            self.bindings.append(value)
            self.sql.append("$\(self.bindings.count)")
        }

        /// Appends a parameter placeholder and binds the optional value to it (`nil` is NULL).
        /// - Parameter value: The parameter's value, or `nil` for `NULL`.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            self.bindings.append(value)
            self.sql.append("$\(self.bindings.count)")
        }

        /// Appends text as-is. Only for trusted identifiers such as a configured schema name.
        /// - Parameter text: The SQL text to splice in; never user input.
        public mutating func appendInterpolation(unescaped text: String) {
            self.sql.append(text)
        }
    }
}

/// The parameters of a statement, encoded in PostgreSQL's text format.
public struct PostgresBindings: Sendable, Hashable {
    /// Each parameter's type.
    public internal(set) var types: [PostgresType] = []
    /// Every parameter's bytes, each followed by a NUL, back to back.
    var bytes: [UInt8] = []
    /// Each parameter's start in `bytes`, or `nil` for NULL.
    var offsets: [Int?] = []

    /// Creates an empty set of parameters.
    public init() {}

    init(capacity: Int) {
        self.types.reserveCapacity(capacity)
        self.offsets.reserveCapacity(capacity)
    }

    /// The number of parameters.
    public var count: Int { self.types.count }

    /// Appends a parameter.
    /// - Parameter value: The value; `nil` optionals are sent as NULL.
    public mutating func append<Value: PostgresEncodable>(_ value: Value) {
        self.types.append(Value.postgresType)
        if value.isPostgresNull {
            self.offsets.append(nil)
        } else {
            self.offsets.append(self.bytes.count)
            value.encode(into: &self.bytes)
            self.bytes.append(0)
        }
    }

    /// Calls `body` with the C arrays libpq's `PQexecParams` expects.
    func withUnsafeParameters<Result>(
        _ body: (_ types: UnsafePointer<UInt32>?, _ values: UnsafePointer<UnsafePointer<CChar>?>?) throws -> Result
    ) rethrows -> Result {
        if self.types.isEmpty { return try body(nil, nil) }
        return try self.bytes.withUnsafeBufferPointer { raw in
            try raw.withMemoryRebound(to: CChar.self) { chars in
                let base = chars.baseAddress
                let values: [UnsafePointer<CChar>?] = self.offsets.map { offset in
                    guard let offset, let base else { return nil }
                    return UnsafePointer(base + offset)
                }
                let oids = self.types.map(\.oid)
                return try oids.withUnsafeBufferPointer { oidBuffer in
                    try values.withUnsafeBufferPointer { valueBuffer in
                        try body(oidBuffer.baseAddress, valueBuffer.baseAddress)
                    }
                }
            }
        }
    }
}
