import Foundation
@testable import JobKit
import Testing

/// The cron parser and the next-fire calculator, without a database.
@Suite(.timeLimit(.minutes(2)))
struct CronExpressionTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let berlin = TimeZone(identifier: "Europe/Berlin")!
    static let newYork = TimeZone(identifier: "America/New_York")!

    /// `2026-03-29T00:30:00Z` → a `Date`.
    static func date(_ text: String) throws -> Date {
        try #require(try? Date(text, strategy: .iso8601), "not an ISO 8601 date: \(text)")
    }

    static func iso(_ date: Date?) -> String {
        date.map { $0.formatted(.iso8601) } ?? "nil"
    }

    /// The next `count` fires after `start`.
    static func fires(_ expression: String, after start: String, count: Int, in zone: TimeZone = utc) throws -> [String] {
        let cron = try CronExpression(expression)
        var result: [String] = []
        var date = try Self.date(start)
        for _ in 0..<count {
            guard let next = cron.nextFire(after: date, in: zone) else { break }
            result.append(Self.iso(next))
            date = next
        }
        return result
    }

    // MARK: - Parsing

    @Test func fiveFieldsHaveNoSecondsAndFireAtSecondZero() throws {
        let cron = try CronExpression("  */15   9-17 * * MON-FRI ")
        #expect(!cron.hasSeconds)
        #expect(cron.text == "*/15 9-17 * * MON-FRI")
        #expect(try Self.fires("*/15 9-17 * * MON-FRI", after: "2026-11-20T16:50:00Z", count: 3) == [
            "2026-11-20T17:00:00Z", "2026-11-20T17:15:00Z", "2026-11-20T17:30:00Z",
        ])
        // Friday 17:45 → Monday 09:00.
        #expect(try Self.fires("*/15 9-17 * * MON-FRI", after: "2026-11-20T17:45:00Z", count: 1) == ["2026-11-23T09:00:00Z"])
    }

    @Test func sixFieldsPutSecondsFirst() throws {
        let cron = try CronExpression("*/20 * * * * *")
        #expect(cron.hasSeconds)
        #expect(try Self.fires("*/20 * * * * *", after: "2026-01-01T00:00:30Z", count: 3) == [
            "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z", "2026-01-01T00:01:20Z",
        ])
        #expect(try Self.fires("* * * * * *", after: "2026-12-31T23:59:58Z", count: 3) == [
            "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "2027-01-01T00:00:01Z",
        ])
    }

    @Test func macrosStandForTheirFields() throws {
        let cases: [(String, String)] = [
            ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"), ("@DAILY", "0 0 * * *"),
        ]
        for (macro, fields) in cases {
            let start = "2026-05-17T10:20:30Z"
            #expect(try Self.fires(macro, after: start, count: 3) == Self.fires(fields, after: start, count: 3), "\(macro)")
        }
        #expect(try Self.fires("@weekly", after: "2026-05-17T10:20:30Z", count: 1) == ["2026-05-24T00:00:00Z"])
    }

    @Test func listsRangesAndStepsCombine() throws {
        #expect(try Self.fires("0 1,5-7,20-23/2 * * *", after: "2026-02-01T00:00:00Z", count: 7) == [
            "2026-02-01T01:00:00Z", "2026-02-01T05:00:00Z", "2026-02-01T06:00:00Z", "2026-02-01T07:00:00Z",
            "2026-02-01T20:00:00Z", "2026-02-01T22:00:00Z", "2026-02-02T01:00:00Z",
        ])
        // `a/n` runs from a to the field's end.
        #expect(try Self.fires("50/4 0 * * *", after: "2026-02-01T00:00:00Z", count: 4) == [
            "2026-02-01T00:50:00Z", "2026-02-01T00:54:00Z", "2026-02-01T00:58:00Z", "2026-02-02T00:50:00Z",
        ])
    }

    @Test func monthAndDayNamesAreCaseInsensitive() throws {
        #expect(try Self.fires("0 12 1 jan,Jul *", after: "2026-02-01T00:00:00Z", count: 2) == [
            "2026-07-01T12:00:00Z", "2027-01-01T12:00:00Z",
        ])
        // 2026-06-06 is a Saturday; SAT-SUN wraps to Sunday, 7 is Sunday as 0 is.
        for expression in ["0 0 * * sat-sun", "0 0 * * 6,7", "0 0 * * 6,0", "0 0 * * 6-7"] {
            #expect(try Self.fires(expression, after: "2026-06-05T12:00:00Z", count: 3) == [
                "2026-06-06T00:00:00Z", "2026-06-07T00:00:00Z", "2026-06-13T00:00:00Z",
            ], "\(expression)")
        }
    }

    @Test func bothDayFieldsRestrictedMatchEitherDay() throws {
        // The 13th, and every Friday (Vixie cron's rule): 2026-02-13 is a Friday.
        #expect(try Self.fires("0 0 13 * FRI", after: "2026-02-01T00:00:00Z", count: 4) == [
            "2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z",
        ])
        #expect(try Self.fires("0 0 13 * FRI", after: "2026-02-27T00:00:00Z", count: 2) == [
            "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z",
        ])
    }

    @Test func aStarredDayFieldMakesBothDayFieldsApply() throws {
        // Odd days that are Mondays: `*/2` starts with `*`, so both fields must match.
        #expect(try Self.fires("0 0 */2 * MON", after: "2026-06-01T00:00:00Z", count: 3) == [
            "2026-06-15T00:00:00Z", "2026-06-29T00:00:00Z", "2026-07-13T00:00:00Z",
        ])
        // `?` is `*` in the day fields.
        #expect(try Self.fires("0 0 ? * MON", after: "2026-06-01T00:00:00Z", count: 2) == [
            "2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z",
        ])
    }

    @Test func leapDaysAndTheEndsOfMonths() throws {
        #expect(try Self.fires("0 0 29 2 *", after: "2097-03-01T00:00:00Z", count: 2) == [
            "2104-02-29T00:00:00Z", "2108-02-29T00:00:00Z",
        ])
        // The 31st skips the months without one.
        #expect(try Self.fires("0 0 31 * *", after: "2026-01-31T00:00:00Z", count: 3) == [
            "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z",
        ])
    }

    @Test func theNextFireIsStrictlyLaterAndOnAWholeSecond() throws {
        let cron = try CronExpression("0 * * * *")
        let onTheHour = try Self.date("2026-04-01T10:00:00Z")
        #expect(cron.nextFire(after: onTheHour, in: Self.utc) == onTheHour.addingTimeInterval(3600))
        #expect(cron.nextFire(after: onTheHour.addingTimeInterval(-0.25), in: Self.utc) == onTheHour)
        let everySecond = try CronExpression("* * * * * *")
        let fire = try #require(everySecond.nextFire(after: onTheHour.addingTimeInterval(0.75), in: Self.utc))
        #expect(fire == onTheHour.addingTimeInterval(1))
    }

    // MARK: - Errors

    @Test(arguments: [
        ("61 * * * *", CronExpression.Field.minute, "61", "is out of range 0-59"),
        ("* 24 * * *", .hour, "24", "is out of range 0-23"),
        ("* * 0 * *", .dayOfMonth, "0", "is out of range 1-31"),
        ("* * 32 * *", .dayOfMonth, "32", "is out of range 1-31"),
        ("* * * 13 *", .month, "13", "is out of range 1-12"),
        ("* * * * 8", .dayOfWeek, "8", "is out of range 0-7"),
        ("60 * * * * *", .second, "60", "is out of range 0-59"),
        ("* * * FOO *", .month, "FOO", "has \"FOO\", which is not a number or name"),
        ("* * * * MONDAY", .dayOfWeek, "MONDAY", "has \"MONDAY\", which is not a number or name"),
        ("x * * * *", .minute, "x", "has \"x\", which is not a number"),
        ("5-1 * * * *", .minute, "5-1", "is a reversed range; write it as a list"),
        ("*/0 * * * *", .minute, "*/0", "has a step that is not a whole number of at least 1"),
        ("1/2/3 * * * *", .minute, "1/2/3", "has more than one step"),
        ("1,,2 * * * *", .minute, "1,,2", "has an empty list item"),
        ("1-2-3 * * * *", .minute, "1-2-3", "is not a value, a range or a step"),
        ("? * * * *", .minute, "?", "has \"?\", which is not a number"),
        ("0 0 30 2 *", .dayOfMonth, "30", "never occurs in the months selected"),
        ("0 0 31 4,6 *", .dayOfMonth, "31", "never occurs in the months selected"),
    ])
    func aBadFieldIsNamed(_ expression: String, _ field: CronExpression.Field, _ value: String, _ message: String) {
        #expect {
            try CronExpression(expression)
        } throws: { error in
            guard let error = error as? ScheduleError else { return false }
            #expect(error.code == .invalidExpression)
            #expect(error.field == field)
            #expect(error.value == value)
            #expect(error.message == message)
            #expect(error.expression == expression)
            #expect(error.description == "invalid cron expression \"\(expression)\": the \(field.rawValue) field \"\(value)\" \(message)")
            return true
        }
    }

    @Test func aWrongNumberOfFieldsOrAnUnknownMacroNamesNoField() throws {
        for (expression, message) in [
            ("* * * *", "has 4 fields; expected 5, or 6 with seconds first"),
            ("* * * * * * *", "has 7 fields; expected 5, or 6 with seconds first"),
            ("", "has 0 fields; expected 5, or 6 with seconds first"),
            ("@every", "is not a known macro (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)"),
        ] {
            let error = try #require(throws: ScheduleError.self) { try CronExpression(expression) }
            #expect(error.code == .invalidExpression)
            #expect(error.field == nil)
            #expect(error.message == message)
        }
    }

    @Test func the30thOfFebruaryIsFineWhenTheWeekdayCanMatch() throws {
        // Both day fields restricted: any Monday matches, so the expression fires.
        #expect(try Self.fires("0 0 30 2 MON", after: "2026-02-01T00:00:00Z", count: 1) == ["2026-02-02T00:00:00Z"])
    }

    // MARK: - Time zones and daylight saving time

    @Test func aTimeOfDayFollowsTheZonesOffset() throws {
        // 08:00 in Berlin: 07:00Z in winter (CET), 06:00Z in summer (CEST).
        #expect(try Self.fires("0 8 * * *", after: "2026-03-27T12:00:00Z", count: 3, in: Self.berlin) == [
            "2026-03-28T07:00:00Z", "2026-03-29T06:00:00Z", "2026-03-30T06:00:00Z",
        ])
        #expect(try Self.fires("0 9 * * *", after: "2026-05-31T12:00:00Z", count: 1, in: TimeZone(identifier: "Asia/Tokyo")!) == [
            "2026-06-01T00:00:00Z",
        ])
    }

    @Test func springForwardFiresASkippedTimeOfDayOnceAsTheGapEnds() throws {
        // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z; 02:30 never happens.
        #expect(try Self.fires("30 2 * * *", after: "2026-03-28T12:00:00Z", count: 3, in: Self.berlin) == [
            "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z",
        ])
        // Four skipped times fire once, at 03:00 CEST.
        #expect(try Self.fires("0,15,30,45 2 * * *", after: "2026-03-29T00:00:00Z", count: 2, in: Self.berlin) == [
            "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z",
        ])
        // New York, 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00Z.
        #expect(try Self.fires("30 2 * * *", after: "2026-03-07T12:00:00Z", count: 2, in: Self.newYork) == [
            "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z",
        ])
    }

    @Test func springForwardKeepsAnHourlyScheduleInElapsedTime() throws {
        // Every 30 minutes in Berlin: 01:30 CET, then 03:00 CEST one half-hour later.
        #expect(try Self.fires("*/30 * * * *", after: "2026-03-29T00:00:00Z", count: 3, in: Self.berlin) == [
            "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z",
        ])
        // Minute 30 of every hour: 01:30 CET, then 03:30 CEST (02:30 does not exist).
        #expect(try Self.fires("30 * * * *", after: "2026-03-29T00:00:00Z", count: 2, in: Self.berlin) == [
            "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z",
        ])
    }

    @Test func fallBackFiresARepeatedTimeOfDayAtItsFirstOccurrenceOnly() throws {
        // Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z; 02:30 happens twice.
        #expect(try Self.fires("30 2 * * *", after: "2026-10-24T12:00:00Z", count: 2, in: Self.berlin) == [
            "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z",
        ])
        // Starting inside the repeated hour (02:10 CET): 02:30 CET is not fired again.
        #expect(try Self.fires("30 2 * * *", after: "2026-10-25T01:10:00Z", count: 1, in: Self.berlin) == ["2026-10-26T01:30:00Z"])
        // Starting between the two occurrences of 02:30 (02:40 CEST).
        #expect(try Self.fires("30 2 * * *", after: "2026-10-25T00:40:00Z", count: 1, in: Self.berlin) == ["2026-10-26T01:30:00Z"])
    }

    @Test func fallBackRepeatsAnHourlyScheduleInElapsedTime() throws {
        #expect(try Self.fires("*/30 * * * *", after: "2026-10-24T23:50:00Z", count: 5, in: Self.berlin) == [
            "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z",
        ])
    }

    @Test func aZoneWithoutDaylightSavingTimeHasNoSurprises() throws {
        let tokyo = TimeZone(identifier: "Asia/Tokyo")!
        #expect(try Self.fires("0 0 * * *", after: "2026-03-28T00:00:00Z", count: 3, in: tokyo) == [
            "2026-03-28T15:00:00Z", "2026-03-29T15:00:00Z", "2026-03-30T15:00:00Z",
        ])
    }

    // MARK: - Against a brute-force search

    /// Every minute of two months, matched field by field through Foundation's `Calendar`:
    /// the calculator must find the same fires.
    @Test(arguments: [
        "*/7 3,15 * * *", "0 0 1,15 * *", "30 4 * * 1-5", "0 0 13 * FRI", "15 */6 */3 * *", "59 23 28-31 * *",
        "0 12 * JAN,MAR *", "0 0 * * 0",
    ])
    func agreesWithABruteForceSearchInUTC(_ expression: String) throws {
        let cron = try CronExpression(expression)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = Self.utc
        let fields = expression.split(separator: " ").map(String.init)
        func matches(_ date: Date) -> Bool {
            let c = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: date)
            let minute = CronExpression.next(in: cron.minutes, atOrAbove: c.minute!) == c.minute!
            let hour = CronExpression.next(in: cron.hours, atOrAbove: c.hour!) == c.hour!
            let month = CronExpression.next(in: cron.months, atOrAbove: c.month!) == c.month!
            let monthDay = CronExpression.next(in: cron.daysOfMonth, atOrAbove: c.day!) == c.day!
            let weekDay = CronExpression.next(in: cron.daysOfWeek, atOrAbove: c.weekday! - 1) == c.weekday! - 1
            let dayRestricted = !fields[2].hasPrefix("*")
            let weekRestricted = !fields[4].hasPrefix("*")
            let day = dayRestricted && weekRestricted ? (monthDay || weekDay) : (monthDay && weekDay)
            return minute && hour && month && day
        }
        let start = try Self.date("2026-01-30T22:00:00Z")
        var expected: [Date] = []
        var minute = start.addingTimeInterval(60)
        while minute < start.addingTimeInterval(61 * 86_400) {
            if matches(minute) { expected.append(minute) }
            minute.addTimeInterval(60)
        }
        var found: [Date] = []
        var date = start
        while let next = cron.nextFire(after: date, in: Self.utc), next < start.addingTimeInterval(61 * 86_400) {
            found.append(next)
            date = next
        }
        #expect(found == expected)
    }

    // MARK: - Civil time

    @Test func civilDaysRoundTripAndAgreeWithFoundation() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = Self.utc
        for days in stride(from: Int64(-800_000), through: 2_900_000, by: 997) {
            let (year, month, day) = CivilTime.date(fromDays: days)
            #expect(CivilTime.days(year: year, month: month, day: day) == days)
            let date = Date(timeIntervalSince1970: Double(days) * 86_400)
            let components = calendar.dateComponents([.year, .month, .day, .weekday], from: date)
            if year > 1582 {
                #expect(components.year == year && components.month == month && components.day == day, "day \(days)")
                #expect(components.weekday.map { $0 - 1 } == CivilTime.weekday(year: year, month: month, day: day))
            }
        }
        #expect(CivilTime(localSeconds: -1).description == "1969-12-31 23:59:59")
        #expect(CivilTime(year: 2000, month: 2, day: 29, hour: 12).localSeconds == 951_825_600)
    }

    // MARK: - Intervals

    @Test func anIntervalTicksOnMultiplesSinceTheEpoch() throws {
        let timing = JobSchedule.Timing.every(.seconds(300))
        let start = try Self.date("2026-04-01T10:02:13Z")
        let first = try #require(timing.nextTick(after: start, in: Self.berlin))
        #expect(Self.iso(first) == "2026-04-01T10:05:00Z")
        #expect(Self.iso(timing.nextTick(after: first, in: Self.berlin)) == "2026-04-01T10:10:00Z")
        #expect(timing.description == "@every 300s")
        #expect(Self.iso(JobSchedule.Timing.every(.seconds(1)).nextTick(after: first.addingTimeInterval(0.5), in: Self.utc)) == "2026-04-01T10:05:01Z")
    }
}
