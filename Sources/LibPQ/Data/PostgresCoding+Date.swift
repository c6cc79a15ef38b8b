import Foundation

/// `timestamptz`, with microsecond precision. `infinity` and `-infinity` map to
/// `Date.distantFuture` and `Date.distantPast`.
extension Date: PostgresArrayElement {
    /// Values are sent as PostgreSQL `timestamptz`.
    public static var postgresType: PostgresType { .timestamptz }
    /// Arrays of these values are sent as PostgreSQL `timestamptz[]`.
    public static var postgresArrayType: PostgresType { .timestamptzArray }

    /// Appends the value's text form to `buffer`: `YYYY-MM-DD HH:MM:SS.ffffff+00` in UTC, or `infinity` / `-infinity` for `Date.distantFuture` / `Date.distantPast`.
    /// - Parameter buffer: The bytes of the parameter being built.
    public func encode(into buffer: inout [UInt8]) {
        if self == .distantFuture {
            appendASCII("infinity", to: &buffer)
            return
        }
        if self == .distantPast {
            appendASCII("-infinity", to: &buffer)
            return
        }
        let micros = Int64((self.timeIntervalSince1970 * 1_000_000).rounded())
        let perDay: Int64 = 86_400_000_000
        var days = micros / perDay
        var remainder = micros % perDay
        if remainder < 0 {
            days -= 1
            remainder += perDay
        }
        let (year, month, day) = civilFromDays(Int(days))
        let seconds = Int(remainder / 1_000_000)
        let fraction = Int(remainder % 1_000_000)
        appendPadded(year, digits: 4, to: &buffer)
        buffer.append(UInt8(ascii: "-"))
        appendPadded(month, digits: 2, to: &buffer)
        buffer.append(UInt8(ascii: "-"))
        appendPadded(day, digits: 2, to: &buffer)
        buffer.append(UInt8(ascii: " "))
        appendPadded(seconds / 3600, digits: 2, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        appendPadded(seconds / 60 % 60, digits: 2, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        appendPadded(seconds % 60, digits: 2, to: &buffer)
        buffer.append(UInt8(ascii: "."))
        appendPadded(fraction, digits: 6, to: &buffer)
        appendASCII("+00", to: &buffer)
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]]`, the ISO output style.
    /// - Parameters:
    ///   - text: The column's bytes in PostgreSQL's text format.
    ///   - type: The column's PostgreSQL type: `timestamptz` or `timestamp` (read as UTC).
    /// - Returns: The date; `infinity` and `-infinity` give `Date.distantFuture` and `Date.distantPast`.
    /// - Throws: `.typeMismatch` for another type; `.malformedValue` for text of another shape.
    public static func decode(from text: UnsafeRawBufferPointer, type: PostgresType) throws(PostgresDecodingError.Reason) -> Date {
        guard type == .timestamptz || type == .timestamp else { throw .typeMismatch }
        if text.elementsEqual("infinity".utf8) { return .distantFuture }
        if text.elementsEqual("-infinity".utf8) { return .distantPast }
        var cursor = 0
        func number(_ digits: Int) throws(PostgresDecodingError.Reason) -> Int {
            guard cursor + digits <= text.count else { throw .malformedValue }
            var value = 0
            for _ in 0..<digits {
                let digit = Int(text[cursor]) - 48
                guard digit >= 0 && digit <= 9 else { throw .malformedValue }
                value = value * 10 + digit
                cursor += 1
            }
            return value
        }
        func expect(_ byte: UInt8) throws(PostgresDecodingError.Reason) {
            guard cursor < text.count, text[cursor] == byte else { throw .malformedValue }
            cursor += 1
        }
        let year = try number(4)
        try expect(UInt8(ascii: "-"))
        let month = try number(2)
        try expect(UInt8(ascii: "-"))
        let day = try number(2)
        try expect(UInt8(ascii: " "))
        let hour = try number(2)
        try expect(UInt8(ascii: ":"))
        let minute = try number(2)
        try expect(UInt8(ascii: ":"))
        let second = try number(2)
        var micros = 0
        if cursor < text.count, text[cursor] == UInt8(ascii: ".") {
            cursor += 1
            var scale = 100_000
            while cursor < text.count, text[cursor] >= 48, text[cursor] <= 57 {
                micros += Int(text[cursor] - 48) * scale
                scale /= 10
                cursor += 1
            }
        }
        var offsetSeconds = 0
        if cursor < text.count, text[cursor] == UInt8(ascii: "+") || text[cursor] == UInt8(ascii: "-") {
            let sign = text[cursor] == UInt8(ascii: "-") ? -1 : 1
            cursor += 1
            var offset = try number(2) * 3600
            if cursor < text.count, text[cursor] == UInt8(ascii: ":") {
                cursor += 1
                offset += try number(2) * 60
                if cursor < text.count, text[cursor] == UInt8(ascii: ":") {
                    cursor += 1
                    offset += try number(2)
                }
            }
            offsetSeconds = sign * offset
        }
        guard cursor == text.count, (1...12).contains(month), (1...31).contains(day) else { throw .malformedValue }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        let totalMicros = seconds * 1_000_000 + Int64(micros)
        return Date(timeIntervalSince1970: Double(totalMicros) / 1_000_000)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

/// The proleptic Gregorian date of a count of days since 1970-01-01.
func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}
