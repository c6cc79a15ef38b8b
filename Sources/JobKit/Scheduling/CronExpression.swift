import Foundation

/// A crontab schedule: five fields (minute, hour, day of month, month, day of week), or six
/// with seconds first.
///
/// Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from `a` to
/// the field's end), and comma-separated lists of these. Months take `JAN`–`DEC`, days of the
/// week `SUN`–`SAT` (0 and 7 are both Sunday); names are case-insensitive. `?` means `*` in the
/// two day fields. The macros `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
/// (`@midnight`) and `@hourly` stand for their usual five fields.
///
/// As in Vixie cron, when both day fields are restricted (neither starts with `*` or `?`) a
/// day matches if *either* matches; otherwise both must.
///
/// ```swift
/// let weekdays = try CronExpression("30 7 * * MON-FRI")        // 07:30 on weekdays
/// let everyTenSeconds = try CronExpression("*/10 * * * * *")    // seconds first
/// let next = weekdays.nextFire(after: .now, in: TimeZone(identifier: "Europe/Berlin")!)
/// ```
///
/// Time zones and daylight saving time are the business of ``nextFire(after:in:)``, which
/// documents its rules.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// A field of the expression, for error messages.
    public enum Field: String, Sendable, Hashable, CaseIterable {
        /// 0–59, only in six-field expressions.
        case second
        /// 0–59.
        case minute
        /// 0–23.
        case hour
        /// 1–31.
        case dayOfMonth = "day-of-month"
        /// 1–12 or `JAN`–`DEC`.
        case month
        /// 0–7 (0 and 7 are Sunday) or `SUN`–`SAT`.
        case dayOfWeek = "day-of-week"

        /// The values the field accepts (day of week: 0–7, where 7 is read as 0).
        var range: ClosedRange<Int> {
            switch self {
            case .second, .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...7
            }
        }

        /// Names the field accepts, by value.
        var names: [String: Int] {
            switch self {
            case .month:
                ["JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12]
            case .dayOfWeek:
                ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6]
            default:
                [:]
            }
        }
    }

    /// The expression as given, trimmed, its fields separated by single spaces.
    public let text: String
    /// Whether the expression has a seconds field.
    public let hasSeconds: Bool

    // Bit n set: value n matches.
    let seconds: UInt64
    let minutes: UInt64
    let hours: UInt64
    let daysOfMonth: UInt64
    let months: UInt64
    let daysOfWeek: UInt64
    /// Neither day field starts with `*` or `?`: a day matches when either field does.
    let isDayOfMonthRestricted: Bool
    let isDayOfWeekRestricted: Bool

    /// Whether the hour field names particular hours (rather than all 24): such a schedule is
    /// a time of day, and daylight saving time changes are handled as for times of day.
    public var isTimeOfDay: Bool { self.hours != Self.mask(0...23) }

    /// Parses an expression.
    /// - Parameter text: Five fields, six with seconds first, or a macro such as `@daily`.
    /// - Throws: ``ScheduleError/Code/invalidExpression`` naming the field and the text at
    ///   fault: a value out of range, an unknown name, a reversed range, a step of 0, a wrong
    ///   number of fields, or days that never exist (`0 0 30 2 *`).
    public init(_ text: String) throws(ScheduleError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if fields.count == 1, let macro = fields.first, macro.hasPrefix("@") {
            guard let expansion = Self.macros[macro.lowercased()] else {
                throw .invalidExpression(
                    trimmed, field: nil, value: macro,
                    message: "is not a known macro (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)")
            }
            fields = expansion.split(separator: " ").map(String.init)
        }
        guard fields.count == 5 || fields.count == 6 else {
            throw .invalidExpression(
                trimmed, field: nil, value: nil,
                message: "has \(fields.count) field\(fields.count == 1 ? "" : "s"); expected 5, or 6 with seconds first")
        }
        self.text = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        self.hasSeconds = fields.count == 6
        let offset = self.hasSeconds ? 1 : 0
        self.seconds = try self.hasSeconds ? Self.parse(fields[0], .second, in: trimmed) : 1
        self.minutes = try Self.parse(fields[offset], .minute, in: trimmed)
        self.hours = try Self.parse(fields[offset + 1], .hour, in: trimmed)
        self.daysOfMonth = try Self.parse(fields[offset + 2], .dayOfMonth, in: trimmed)
        self.months = try Self.parse(fields[offset + 3], .month, in: trimmed)
        var weekdays = try Self.parse(fields[offset + 4], .dayOfWeek, in: trimmed)
        if weekdays & (1 << 7) != 0 { weekdays = (weekdays | 1) & ~(1 << 7) }
        self.daysOfWeek = weekdays
        self.isDayOfMonthRestricted = !Self.isWildcard(fields[offset + 2])
        self.isDayOfWeekRestricted = !Self.isWildcard(fields[offset + 4])
        try self.checkDaysExist(fields[offset + 2], in: trimmed)
    }

    /// The expression's ``text``.
    public var description: String { self.text }

    // MARK: - Parsing

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// `*`, `*/n`, `?` and `?/n` leave a day field unrestricted (Vixie cron's rule).
    static func isWildcard(_ field: String) -> Bool {
        field.hasPrefix("*") || field.hasPrefix("?")
    }

    /// Bits for every value of `range`.
    static func mask(_ range: ClosedRange<Int>) -> UInt64 {
        range.reduce(UInt64(0)) { $0 | (1 << UInt64($1)) }
    }

    /// Parses one field into a bit set of the values it matches.
    static func parse(_ text: String, _ field: Field, in expression: String) throws(ScheduleError) -> UInt64 {
        func failure(_ value: String, _ message: String) -> ScheduleError {
            .invalidExpression(expression, field: field, value: value, message: message)
        }
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard !item.isEmpty else { throw failure(text, "has an empty list item") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2 else { throw failure(item, "has more than one step") }
            var step = 1
            if parts.count == 2 {
                guard let value = Int(parts[1]), value >= 1 else {
                    throw failure(item, "has a step that is not a whole number of at least 1")
                }
                step = value
            }
            let base = parts[0]
            let low: Int
            var high: Int
            if base == "*" || (base == "?" && (field == .dayOfMonth || field == .dayOfWeek)) {
                low = field.range.lowerBound
                high = field == .dayOfWeek ? 6 : field.range.upperBound
            } else {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                guard bounds.count <= 2 else { throw failure(item, "is not a value, a range or a step") }
                low = try Self.value(bounds[0], field, item: item, in: expression)
                if bounds.count == 2 {
                    high = try Self.value(bounds[1], field, item: item, in: expression)
                    // SAT-SUN: Sunday as the end of a weekday range is 7.
                    if field == .dayOfWeek, high == 0, low > 0 { high = 7 }
                    guard low <= high else { throw failure(item, "is a reversed range; write it as a list") }
                } else {
                    high = parts.count == 2 ? (field == .dayOfWeek ? 6 : field.range.upperBound) : low
                }
            }
            for value in stride(from: low, through: high, by: step) {
                bits |= 1 << UInt64(value)
            }
        }
        return bits
    }

    /// A number or a name of `field`, checked against its range.
    static func value(_ text: String, _ field: Field, item: String, in expression: String) throws(ScheduleError) -> Int {
        if let named = field.names[text.uppercased()] { return named }
        guard let number = Int(text), text.allSatisfy(\.isASCII) else {
            let hint = field.names.isEmpty ? "" : " or name"
            throw .invalidExpression(expression, field: field, value: item, message: "has \"\(text)\", which is not a number\(hint)")
        }
        guard field.range.contains(number) else {
            throw .invalidExpression(
                expression, field: field, value: item,
                message: "is out of range \(field.range.lowerBound)-\(field.range.upperBound)")
        }
        return number
    }

    /// Refuses a day of month that no selected month has (`30 2`), unless the day of week can match.
    private func checkDaysExist(_ field: String, in expression: String) throws(ScheduleError) {
        guard !(self.isDayOfWeekRestricted && self.isDayOfMonthRestricted), self.isDayOfMonthRestricted else { return }
        let exists = (1...12).contains { month in
            self.months & (1 << UInt64(month)) != 0 && (self.daysOfMonth & Self.mask(1...CivilTime.maximumDays(inMonth: month))) != 0
        }
        if !exists {
            throw .invalidExpression(expression, field: .dayOfMonth, value: field, message: "never occurs in the months selected")
        }
    }

    // MARK: - Matching

    /// Whether the civil day matches the day-of-month, month and day-of-week fields.
    func matchesDay(year: Int, month: Int, day: Int) -> Bool {
        guard self.months & (1 << UInt64(month)) != 0 else { return false }
        let byMonthDay = self.daysOfMonth & (1 << UInt64(day)) != 0
        let byWeekday = self.daysOfWeek & (1 << UInt64(CivilTime.weekday(year: year, month: month, day: day))) != 0
        if self.isDayOfMonthRestricted && self.isDayOfWeekRestricted { return byMonthDay || byWeekday }
        return byMonthDay && byWeekday
    }

    /// The smallest value in `bits` at or above `value`, or `nil`.
    static func next(in bits: UInt64, atOrAbove value: Int) -> Int? {
        guard value < 64 else { return nil }
        let rest = bits >> UInt64(value)
        return rest == 0 ? nil : value + rest.trailingZeroBitCount
    }
}
