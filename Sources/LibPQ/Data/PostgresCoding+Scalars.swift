import Foundation

// MARK: - Bool

extension Bool: PostgresArrayElement {
    public static var postgresType: PostgresType { .bool }
    public static var postgresArrayType: PostgresType { .boolArray }
    public func encode(into buffer: inout [UInt8]) {
        buffer.append(self ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }
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
    public static var postgresType: PostgresType { .int8 }
    public static var postgresArrayType: PostgresType { .int8Array }
    public func encode(into buffer: inout [UInt8]) { appendDecimal(self, to: &buffer) }
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int64 {
        guard type == .int8 || type == .int4 || type == .int2 || type == .oidType else { throw .typeMismatch }
        guard let value = parseInteger(text) else { throw .malformedValue }
        return value
    }
}

extension Int: PostgresArrayElement {
    public static var postgresType: PostgresType { .int8 }
    public static var postgresArrayType: PostgresType { .int8Array }
    public func encode(into buffer: inout [UInt8]) { appendDecimal(self, to: &buffer) }
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int {
        Int(try Int64.decode(from: text, type: type))
    }
}

extension Int32: PostgresArrayElement {
    public static var postgresType: PostgresType { .int4 }
    public static var postgresArrayType: PostgresType { .int4Array }
    public func encode(into buffer: inout [UInt8]) { appendDecimal(self, to: &buffer) }
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int32 {
        guard type == .int4 || type == .int2 else { throw .typeMismatch }
        guard let value = parseInteger(text), let narrowed = Int32(exactly: value) else { throw .malformedValue }
        return narrowed
    }
}

extension Int16: PostgresArrayElement {
    public static var postgresType: PostgresType { .int2 }
    public static var postgresArrayType: PostgresType { .int2Array }
    public func encode(into buffer: inout [UInt8]) { appendDecimal(self, to: &buffer) }
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Int16 {
        guard type == .int2 else { throw .typeMismatch }
        guard let value = parseInteger(text), let narrowed = Int16(exactly: value) else { throw .malformedValue }
        return narrowed
    }
}

// MARK: - Double

extension Double: PostgresArrayElement {
    public static var postgresType: PostgresType { .float8 }
    public static var postgresArrayType: PostgresType { .float8Array }
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
    public static var postgresType: PostgresType { .text }
    public static var postgresArrayType: PostgresType { .textArray }
    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self.utf8) }
    /// Decodes any column as its text representation: text, varchar, enums, numbers, JSON.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> String {
        guard type != .bytea else { throw .typeMismatch }
        return text.postgresString
    }
}

// MARK: - UUID

extension UUID: PostgresArrayElement {
    public static var postgresType: PostgresType { .uuid }
    public static var postgresArrayType: PostgresType { .uuidArray }

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
    public static var postgresType: PostgresType { .bytea }
    public static var postgresArrayType: PostgresType { .byteaArray }

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
