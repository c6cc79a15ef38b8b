import Foundation
import Hummingbird
import JobKit

/// The admin API's JSON conventions: snake_case keys (spelled out in each type), sorted keys,
/// lower-case UUIDs and ISO 8601 timestamps in UTC with milliseconds.
enum AdminJSON {
    /// An encoder for answers.
    static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Self.timestamp(date))
        }
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    /// A decoder for request bodies.
    static func decoder() -> JSONDecoder {
        JSONDecoder()
    }

    /// `value` as a JSON answer (`Cache-Control: no-store`: the data is live and private).
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data: Data
        do {
            data = try Self.encoder().encode(value)
        } catch {
            // Only non-conforming floats could fail, and the strategy above converts them.
            data = Data(#"{"error":{"code":"internal_error","message":"internal error"}}"#.utf8)
            return Self.response(data: data, status: .internalServerError)
        }
        return Self.response(data: data, status: status)
    }

    /// Raw JSON bytes as an answer.
    static func response(data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// A UUID as the API writes it: lower case.
    static func id(_ id: UUID) -> String {
        id.uuidString.lowercased()
    }

    // MARK: - Timestamps

    /// `2025-01-31T12:00:00.123Z`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Parses an ISO 8601 timestamp: with a zone (`Z`, `+02:00`), with or without fractional
    /// seconds; without a zone (`2025-01-31T12:00`, `2025-01-31`) it is read as UTC.
    /// Returns `nil` for anything else or a year outside 1...9999.
    static func parseTimestamp(_ text: String) -> Date? {
        var candidates = [text]
        let hasZone = text.hasSuffix("Z") || text.hasSuffix("z") || text.range(of: #"[+-]\d{2}:?\d{2}$"#, options: .regularExpression) != nil
        if text.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) != nil {
            candidates = [text + "T00:00:00Z"]
        } else if !hasZone, text.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"#, options: .regularExpression) != nil {
            candidates = [text + ":00Z"]
        } else if !hasZone {
            candidates = [text + "Z"]
        }
        for candidate in candidates {
            let shape = #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$"#
            guard candidate.range(of: shape, options: .regularExpression) != nil else { continue }
            let parsed =
                (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(candidate))
                ?? (try? Date.ISO8601FormatStyle().parse(candidate))
            if let parsed, let year = Int(candidate.prefix(4)), (1...9999).contains(year) {
                return parsed
            }
        }
        return nil
    }
}

extension JSONValue {
    /// Parses JSON text; text that does not parse is kept as a string.
    init(parsing text: String) {
        self = JSONValue(json: text) ?? .string(text)
    }

    /// Indented JSON text, for the web page.
    var prettyText: String {
        guard let data = try? AdminJSON.encoder(pretty: true).encode(self) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}
