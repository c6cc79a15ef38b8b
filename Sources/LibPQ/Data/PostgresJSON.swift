import Foundation

/// Any `Codable` value stored as `jsonb`.
///
/// ```swift
/// try await connection.query("INSERT INTO docs (body) VALUES (\(PostgresJSON(document)))")
/// let document = try row.decode(PostgresJSON<Document>.self, at: 0).value
/// ```
///
/// Encoding failures cannot be thrown from a parameter: encode values that may fail with
/// ``init(encoding:)`` first, which throws.
public struct PostgresJSON<Value: Codable & Sendable>: PostgresArrayElement {
    /// The wrapped value.
    public var value: Value
    /// The value's JSON text, encoded once.
    let json: [UInt8]

    /// Wraps a value, encoding it now.
    /// - Parameter value: The value to store.
    /// - Throws: The `EncodingError` of `JSONEncoder`.
    public init(encoding value: Value) throws {
        self.value = value
        self.json = Array(try PostgresJSONCoders.encoder.encode(value))
    }

    /// Wraps a value whose encoding cannot fail (plain structs of strings, numbers, arrays).
    ///
    /// A value whose encoding fails is sent as JSON `null`; use ``init(encoding:)`` to see the error.
    /// - Parameter value: The value to store.
    public init(_ value: Value) {
        self.value = value
        self.json = (try? Array(PostgresJSONCoders.encoder.encode(value))) ?? Array("null".utf8)
    }

    /// Values are sent as PostgreSQL `jsonb`.
    public static var postgresType: PostgresType { .jsonb }
    /// Arrays of these values are sent as PostgreSQL `jsonb[]`.
    public static var postgresArrayType: PostgresType { .jsonbArray }

    /// Appends the value's text form to `buffer`: the JSON text of the wrapped value.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.json)
    }

    /// Decodes a `jsonb`, `json` or `text` column, decoding the JSON as `Value`.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` when the JSON does not decode as `Value`.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> PostgresJSON<Value> {
        guard type == .jsonb || type == .json || type == .text else { throw .typeMismatch }
        let bytes = Array(text)
        do {
            let value = try PostgresJSONCoders.decoder.decode(Value.self, from: Data(bytes))
            return PostgresJSON(value: value, json: bytes)
        } catch {
            throw .malformedValue
        }
    }

    private init(value: Value, json: [UInt8]) {
        self.value = value
        self.json = json
    }
}

/// The coders shared by every ``PostgresJSON``.
package enum PostgresJSONCoders {
    package static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
    package static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
