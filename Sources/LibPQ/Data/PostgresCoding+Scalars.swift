import Foundation

// MARK: - Bool

extension Bool: PostgresArrayElement {
    /// Values are sent as PostgreSQL `bool`.
    public static var postgresType: PostgresType { .bool }
    /// Arrays of these values are sent as PostgreSQL `bool[]`.
    public static var postgresArrayType: PostgresType { .boolArray }
    /// Appends the value's text form to `buffer`: `t` or `f`.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) {
        buffer.append(self ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }
    /// Decodes a `bool` column.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text other than `t` or `f`.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Bool {
        guard type == .bool else { throw .typeMismatch }
        guard text.count == 1 else { throw .malformedValue }
        switch text[0] {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: throw .malformedValue
        }
    }
}

// MARK: - Integers

extension Int64: PostgresArrayElement {
    /// Values are sent as PostgreSQL `int8`.
    public static var postgresType: PostgresType { .int8 }
    /// Arrays of these values are sent as PostgreSQL `int8[]`.
    public static var postgresArrayType: PostgresType { .int8Array }
    /// Appends the value's text form to `buffer`: its decimal digits.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) { appendDecimal(self, to: &buffer) }
    /// Decodes an `int8`, `int4`, `int2` or `oid` column.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text that is not an integer in range.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int64 {
        guard type == .int8 || type == .int4 || type == .int2 || type == .oidType else { throw .typeMismatch }
        guard let value = parseInteger(text) else { throw .malformedValue }
        return value
    }
}

extension Int: PostgresArrayElement {
    /// Values are sent as PostgreSQL `int8`.
    public static var postgresType: PostgresType { .int8 }
    /// Arrays of these values are sent as PostgreSQL `int8[]`.
    public static var postgresArrayType: PostgresType { .int8Array }
    /// Appends the value's text form to `buffer`: its decimal digits.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) { appendDecimal(self, to: &buffer) }
    /// Decodes an `int8`, `int4`, `int2` or `oid` column.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text that is not an integer in range.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int {
        Int(try Int64.decode(from: text, type: type))
    }
}

extension Int32: PostgresArrayElement {
    /// Values are sent as PostgreSQL `int4`.
    public static var postgresType: PostgresType { .int4 }
    /// Arrays of these values are sent as PostgreSQL `int4[]`.
    public static var postgresArrayType: PostgresType { .int4Array }
    /// Appends the value's text form to `buffer`: its decimal digits.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) { appendDecimal(self, to: &buffer) }
    /// Decodes an `int4` or `int2` column.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text that is not an integer that fits.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int32 {
        guard type == .int4 || type == .int2 else { throw .typeMismatch }
        guard let value = parseInteger(text), let narrowed = Int32(exactly: value) else { throw .malformedValue }
        return narrowed
    }
}

extension Int16: PostgresArrayElement {
    /// Values are sent as PostgreSQL `int2`.
    public static var postgresType: PostgresType { .int2 }
    /// Arrays of these values are sent as PostgreSQL `int2[]`.
    public static var postgresArrayType: PostgresType { .int2Array }
    /// Appends the value's text form to `buffer`: its decimal digits.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) { appendDecimal(self, to: &buffer) }
    /// Decodes an `int2` column.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text that is not an integer that fits.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int16 {
        guard type == .int2 else { throw .typeMismatch }
        guard let value = parseInteger(text), let narrowed = Int16(exactly: value) else { throw .malformedValue }
        return narrowed
    }
}

// MARK: - Double

extension Double: PostgresArrayElement {
    /// Values are sent as PostgreSQL `float8`.
    public static var postgresType: PostgresType { .float8 }
    /// Arrays of these values are sent as PostgreSQL `float8[]`.
    public static var postgresArrayType: PostgresType { .float8Array }
    /// Appends the value's text form to `buffer`: the shortest decimal text that reads back as the same value, or `NaN`, `Infinity`, `-Infinity`.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) {
        if self.isNaN {
            appendASCII("NaN", to: &buffer)
        } else if self == .infinity {
            appendASCII("Infinity", to: &buffer)
        } else if self == -.infinity {
            appendASCII("-Infinity", to: &buffer)
        } else {
            // Swift prints the shortest text that reads back as the same Double.
            buffer.append(contentsOf: self.description.utf8)
        }
    }
    /// Decodes a `float8`, `float4`, `numeric`, `int2`, `int4` or `int8` column (`NaN` and the infinities included).
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text that is not a number.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Double {
        guard type == .float8 || type == .float4 || type == .numeric || type == .int2 || type == .int4 || type == .int8 else {
            throw .typeMismatch
        }
        let string = text.postgresString
        switch string {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let value = Double(string) else { throw .malformedValue }
            return value
        }
    }
}

// MARK: - String

extension String: PostgresArrayElement {
    /// Values are sent as PostgreSQL `text`.
    public static var postgresType: PostgresType { .text }
    /// Arrays of these values are sent as PostgreSQL `text[]`.
    public static var postgresArrayType: PostgresType { .textArray }
    /// Appends the value's text form to `buffer`: its UTF-8 bytes, unchanged.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self.utf8) }
    /// Decodes any column as its text representation: text, varchar, enums, numbers, JSON.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type: anything but `bytea`.
    /// - Returns: The text.
    /// - Throws: `.typeMismatch` for a `bytea` column.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> String {
        guard type != .bytea else { throw .typeMismatch }
        return text.postgresString
    }
}

// MARK: - UUID

extension UUID: PostgresArrayElement {
    /// Values are sent as PostgreSQL `uuid`.
    public static var postgresType: PostgresType { .uuid }
    /// Arrays of these values are sent as PostgreSQL `uuid[]`.
    public static var postgresArrayType: PostgresType { .uuidArray }

    /// Appends the value's text form to `buffer`: the canonical 36-character form, in lower case.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) {
        let hex: StaticString = "0123456789abcdef"
        withUnsafeBytes(of: self.uuid) { bytes in
            hex.withUTF8Buffer { digits in
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 { buffer.append(UInt8(ascii: "-")) }
                    buffer.append(digits[Int(bytes[index] >> 4)])
                    buffer.append(digits[Int(bytes[index] & 0x0f)])
                }
            }
        }
    }

    /// Decodes a `uuid`, `text` or `varchar` column holding the canonical 36-character form, in either case.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text that is not a UUID.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> UUID {
        guard type == .uuid || type == .text || type == .varchar else { throw .typeMismatch }
        guard let uuid = UUID(postgresText: text) else { throw .malformedValue }
        return uuid
    }

    /// Parses the canonical 36-character form, in either case.
    init?(postgresText text: UnsafeRawBufferPointer) {
        guard text.count == 36 else { return nil }
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let ok = Swift.withUnsafeMutableBytes(of: &bytes) { (out: UnsafeMutableRawBufferPointer) -> Bool in
            var position = 0
            for index in 0..<16 {
                if position == 8 || position == 13 || position == 18 || position == 23 {
                    guard text[position] == UInt8(ascii: "-") else { return false }
                    position += 1
                }
                guard let high = hexValue(text[position]), let low = hexValue(text[position + 1]) else { return false }
                out[index] = high << 4 | low
                position += 2
            }
            return true
        }
        guard ok else { return nil }
        self.init(uuid: bytes)
    }
}

@inline(__always)
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

// MARK: - Data (bytea)

extension Data: PostgresArrayElement {
    /// Values are sent as PostgreSQL `bytea`.
    public static var postgresType: PostgresType { .bytea }
    /// Arrays of these values are sent as PostgreSQL `bytea[]`.
    public static var postgresArrayType: PostgresType { .byteaArray }

    /// Appends the value's text form to `buffer`: `\x` followed by two hex digits per byte (the `bytea` hex format).
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) {
        let hex: StaticString = "0123456789abcdef"
        buffer.reserveCapacity(buffer.count + 2 + self.count * 2)
        buffer.append(UInt8(ascii: "\\"))
        buffer.append(UInt8(ascii: "x"))
        hex.withUTF8Buffer { digits in
            for byte in self {
                buffer.append(digits[Int(byte >> 4)])
                buffer.append(digits[Int(byte & 0x0f)])
            }
        }
    }

    /// Decodes a `bytea` column in hex output format (the server default).
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type.
    /// - Returns: The decoded value.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text that is not `\x` and hex digits.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Data {
        guard type == .bytea else { throw .typeMismatch }
        // bytea_output = hex (the default since PostgreSQL 9.0).
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), text.count % 2 == 0 else {
            throw .malformedValue
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((text.count - 2) / 2)
        var index = 2
        while index < text.count {
            guard let high = hexValue(text[index]), let low = hexValue(text[index + 1]) else { throw .malformedValue }
            bytes.append(high << 4 | low)
            index += 2
        }
        return Data(bytes)
    }
}
