/// A Swift value that can be sent to PostgreSQL as a statement parameter.
///
/// Values travel in PostgreSQL's text format. Conforming types write their text into the
/// buffer; `Optional.none` is sent as SQL `NULL`.
public protocol PostgresEncodable: Sendable {
    /// The PostgreSQL type the value is sent as.
    static var postgresType: PostgresType { get }
    /// Appends the value's text representation to `buffer`.
    /// - Parameter buffer: The bytes of the parameter being built.
    func encode(into buffer: inout [UInt8])
    /// Whether the value is SQL `NULL`. Defaults to `false`.
    var isPostgresNull: Bool { get }
}

extension PostgresEncodable {
    /// `false`: a value of a non-optional type is never `NULL`.
    public var isPostgresNull: Bool { false }
}

/// A Swift value that can be read from a PostgreSQL column.
public protocol PostgresDecodable {
    /// Decodes a value from its text representation.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: ``PostgresDecodingError/Reason`` `.typeMismatch` when the type is not
    ///   accepted, `.malformedValue` when the text does not parse.
    static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Self
    /// The value for SQL `NULL`.
    /// - Throws: `.unexpectedNull` unless the type is optional.
    static func decodeNull() throws(PostgresDecodingError.Reason) -> Self
}

extension PostgresDecodable {
    /// A `NULL` column cannot decode as a non-optional type.
    /// - Throws: `.unexpectedNull`, always.
    public static func decodeNull() throws(PostgresDecodingError.Reason) -> Self {
        throw .unexpectedNull
    }
}

/// A type that is both ``PostgresEncodable`` and ``PostgresDecodable``.
public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

/// A type that can be an element of a PostgreSQL array parameter or column.
public protocol PostgresArrayElement: PostgresCodable {
    /// The PostgreSQL type of an array of this element, for example `int8[]`.
    static var postgresArrayType: PostgresType { get }
}

// MARK: - Optional

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    /// The wrapped type's PostgreSQL type; `nil` is sent as `NULL` of that type.
    public static var postgresType: PostgresType { Wrapped.postgresType }
    /// Appends the wrapped value's text; `nil` appends nothing (it is sent as `NULL`).
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) {
        if case .some(let value) = self { value.encode(into: &buffer) }
    }
    /// Whether the value is `nil` (or wraps a value that is itself `NULL`).
    public var isPostgresNull: Bool {
        switch self {
        case .none: true
        case .some(let value): value.isPostgresNull
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    /// Decodes the wrapped type from a non-`NULL` column.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: What the wrapped type's `decode` throws.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Self {
        try Wrapped.decode(from: text, type: type)
    }
    /// A `NULL` column decodes as `nil`.
    /// - Returns: `nil`.
    public static func decodeNull() throws(PostgresDecodingError.Reason) -> Self { nil }
}

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    /// The wrapped type's array type: an optional element is `NULL` in the array.
    public static var postgresArrayType: PostgresType { Wrapped.postgresArrayType }
}

// MARK: - Helpers

extension UnsafeRawBufferPointer {
    /// The bytes as a Swift string (UTF-8, repaired if invalid).
    var postgresString: String {
        String(decoding: self, as: UTF8.self)
    }
}

@inline(__always)
func appendASCII(_ string: StaticString, to buffer: inout [UInt8]) {
    string.withUTF8Buffer { buffer.append(contentsOf: $0) }
}

@inline(__always)
func appendDecimal<I: BinaryInteger>(_ value: I, to buffer: inout [UInt8]) {
    buffer.append(contentsOf: String(value).utf8)
}

@inline(__always)
func appendPadded(_ value: Int, digits: Int, to buffer: inout [UInt8]) {
    var divisor = 1
    for _ in 1..<digits { divisor *= 10 }
    var remaining = value
    while divisor > 0 {
        buffer.append(UInt8(truncatingIfNeeded: 48 + (remaining / divisor) % 10))
        remaining %= divisor
        divisor /= 10
    }
}

/// Parses an optionally signed decimal integer from ASCII bytes.
@inline(__always)
func parseInteger(_ text: UnsafeRawBufferPointer) -> Int64? {
    guard !text.isEmpty else { return nil }
    var index = 0
    var negative = false
    if text[0] == UInt8(ascii: "-") {
        negative = true
        index = 1
    } else if text[0] == UInt8(ascii: "+") {
        index = 1
    }
    guard index < text.count else { return nil }
    var value: Int64 = 0
    while index < text.count {
        let digit = Int64(text[index]) - 48
        guard digit >= 0 && digit <= 9 else { return nil }
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
        guard !o1 && !o2 else { return nil }
        value = next
        index += 1
    }
    return value
}
