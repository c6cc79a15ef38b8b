/// One-dimensional arrays, for `= ANY($1)` and `unnest($1)`.
extension Array: PostgresEncodable where Element: PostgresArrayElement {
    /// The array type of the elements, such as `int8[]` for `[Int]`.
    public static var postgresType: PostgresType { Element.postgresArrayType }

    /// Appends the array's text form: `{…}` with every element quoted and escaped, and `NULL` for a `nil` element.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "{"))
        var element: [UInt8] = []
        for (index, value) in self.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            if value.isPostgresNull {
                appendASCII("NULL", to: &buffer)
                continue
            }
            element.removeAll(keepingCapacity: true)
            value.encode(into: &element)
            buffer.append(UInt8(ascii: "\""))
            for byte in element {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    buffer.append(UInt8(ascii: "\\"))
                }
                buffer.append(byte)
            }
            buffer.append(UInt8(ascii: "\""))
        }
        buffer.append(UInt8(ascii: "}"))
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    /// Decodes a one-dimensional array column whose elements decode as `Element`.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The elements, in order.
    /// - Throws: `.typeMismatch` for a column that is not an array; `.malformedValue` for text that is not an array literal, or an element that does not decode.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> [Element] {
        guard let elementType = PostgresType.elementType(ofArray: type) else { throw .typeMismatch }
        guard text.count >= 2, text[0] == UInt8(ascii: "{"), text[text.count - 1] == UInt8(ascii: "}") else {
            throw .malformedValue
        }
        var result: [Element] = []
        if text.count == 2 { return result }
        var cursor = 1
        let end = text.count - 1
        var scratch: [UInt8] = []
        while cursor <= end {
            scratch.removeAll(keepingCapacity: true)
            var quoted = false
            if text[cursor] == UInt8(ascii: "\"") {
                quoted = true
                cursor += 1
                while cursor < end, text[cursor] != UInt8(ascii: "\"") {
                    if text[cursor] == UInt8(ascii: "\\") { cursor += 1 }
                    guard cursor < end else { throw .malformedValue }
                    scratch.append(text[cursor])
                    cursor += 1
                }
                guard cursor < end else { throw .malformedValue }
                cursor += 1  // closing quote
            } else {
                while cursor < end, text[cursor] != UInt8(ascii: ",") {
                    guard text[cursor] != UInt8(ascii: "{") else { throw .malformedValue }  // nested: not supported
                    scratch.append(text[cursor])
                    cursor += 1
                }
            }
            if !quoted && scratch.count == 4 && String(decoding: scratch, as: UTF8.self).uppercased() == "NULL" {
                result.append(try Element.decodeNull())
            } else {
                let value = scratch.withUnsafeBytes { bytes in
                    Result { () throws(PostgresDecodingError.Reason) in try Element.decode(from: bytes, type: elementType) }
                }
                result.append(try value.get())
            }
            guard cursor == end || text[cursor] == UInt8(ascii: ",") else { throw .malformedValue }
            cursor += 1
        }
        return result
    }
}

extension PostgresType {
    /// The element type of the array types this client decodes.
    static func elementType(ofArray type: PostgresType) -> PostgresType? {
        switch type {
        case .boolArray: .bool
        case .byteaArray: .bytea
        case .int2Array: .int2
        case .int4Array: .int4
        case .int8Array: .int8
        case .textArray: .text
        case .varcharArray: .varchar
        case .float8Array: .float8
        case .timestamptzArray: .timestamptz
        case .uuidArray: .uuid
        case .jsonArray: .json
        case .jsonbArray: .jsonb
        default: nil
        }
    }
}
