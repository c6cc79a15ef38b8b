import Foundation

/// The text of a job row's `trace_context`: a flat JSON object of string values, such as
/// `{"traceparent": "00-…-…-01"}`.
///
/// Written once per enqueue call and read once per claimed job, so both directions avoid
/// Foundation's JSON coders (10–20 µs a call here, more than the rest of a job's tracing): the
/// writer escapes what JSON requires, and the reader takes the object PostgreSQL prints for a
/// `jsonb` of strings. Anything else it hands to `JSONDecoder`, so it never misreads a value.
enum TraceCarrier {
    /// `carrier` as a JSON object, keys sorted.
    static func encode(_ carrier: [String: String]) -> String {
        var text = "{"
        for (index, key) in carrier.keys.sorted().enumerated() {
            if index > 0 { text += "," }
            Self.appendString(key, to: &text)
            text += ":"
            Self.appendString(carrier[key] ?? "", to: &text)
        }
        text += "}"
        return text
    }

    /// The key/values of a JSON object of strings; `nil` when `json` is not one.
    static func decode(_ json: String) -> [String: String]? {
        if let carrier = Self.decodeSimple(json) { return carrier }
        return try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))
    }

    private static func appendString(_ string: String, to text: inout String) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20: text += String(format: "\\u%04x", scalar.value)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }

    /// Reads `{"k": "v", …}` whose strings have no escapes; `nil` for anything else.
    static func decodeSimple(_ json: String) -> [String: String]? {
        var carrier: [String: String] = [:]
        let bytes = Array(json.utf8)
        var index = 0
        func skipSpaces() {
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\n")
                || bytes[index] == UInt8(ascii: "\t") || bytes[index] == UInt8(ascii: "\r") {
                index += 1
            }
        }
        func expect(_ byte: UInt8) -> Bool {
            skipSpaces()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        func string() -> String? {
            guard expect(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                // Escapes and control characters: leave them to JSONDecoder.
                if bytes[index] == UInt8(ascii: "\\") || bytes[index] < 0x20 { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
        guard expect(UInt8(ascii: "{")) else { return nil }
        if expect(UInt8(ascii: "}")) { return index == bytes.count ? carrier : nil }
        repeat {
            guard let key = string(), expect(UInt8(ascii: ":")), let value = string() else { return nil }
            carrier[key] = value
        } while expect(UInt8(ascii: ","))
        guard expect(UInt8(ascii: "}")) else { return nil }
        skipSpaces()
        return index == bytes.count ? carrier : nil
    }
}
