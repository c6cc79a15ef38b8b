/// A wall-clock time in the proleptic Gregorian calendar, with no time zone: what a clock on
/// the wall shows. Counted as "local seconds", seconds since 1970-01-01 00:00:00 on that clock,
/// so that a time zone's offset turns one into an instant (`instant = local - offset`).
///
/// Pure arithmetic, so that the schedule calculations need no `Calendar` per step.
struct CivilTime: Hashable, Sendable, CustomStringConvertible {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int

    init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// The wall-clock time `localSeconds` seconds after 1970-01-01 00:00:00.
    init(localSeconds: Int64) {
        let days = Self.floorDivide(localSeconds, 86_400)
        let secondOfDay = Int(localSeconds - days * 86_400)
        let (year, month, day) = Self.date(fromDays: days)
        self.init(year: year, month: month, day: day, hour: secondOfDay / 3600, minute: secondOfDay / 60 % 60, second: secondOfDay % 60)
    }

    /// Seconds since 1970-01-01 00:00:00 on the same clock.
    var localSeconds: Int64 {
        Self.days(year: self.year, month: self.month, day: self.day) * 86_400
            + Int64(self.hour * 3600 + self.minute * 60 + self.second)
    }

    var description: String {
        func pad(_ value: Int, _ width: Int = 2) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(self.year, 4))-\(pad(self.month))-\(pad(self.day)) \(pad(self.hour)):\(pad(self.minute)):\(pad(self.second))"
    }

    // MARK: - Calendar arithmetic

    static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func days(inMonth month: Int, year: Int) -> Int {
        switch month {
        case 2: self.isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// The most days `month` ever has (29 for February).
    static func maximumDays(inMonth month: Int) -> Int {
        month == 2 ? 29 : self.days(inMonth: month, year: 2001)
    }

    /// 0 for Sunday through 6 for Saturday.
    static func weekday(year: Int, month: Int, day: Int) -> Int {
        // 1970-01-01 was a Thursday.
        Int(self.floorModulo(self.days(year: year, month: month, day: day) + 4, 7))
    }

    /// Days since 1970-01-01 of a date.
    ///
    /// Counts in 400-year cycles starting on March 1 (so that the leap day ends a cycle's year):
    /// a cycle has 146,097 days; within it, a year starting in March has 365 days plus one
    /// every fourth year, except every hundredth.
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let marchYear = Int64(month <= 2 ? year - 1 : year)
        let cycle = self.floorDivide(marchYear, 400)
        let yearOfCycle = marchYear - cycle * 400
        let marchMonth = Int64(month <= 2 ? month + 9 : month - 3)  // March is 0
        // Days before a month counted from March: 31, 30, 31, 30, 31 repeat (153 days per 5 months).
        let dayOfYear = (153 * marchMonth + 2) / 5 + Int64(day - 1)
        let dayOfCycle = yearOfCycle * 365 + yearOfCycle / 4 - yearOfCycle / 100 + dayOfYear
        // 719,468 days lie between 0000-03-01 and 1970-01-01.
        return cycle * 146_097 + dayOfCycle - 719_468
    }

    /// The date `days` days after 1970-01-01: the inverse of ``days(year:month:day:)``.
    static func date(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let cycle = self.floorDivide(shifted, 146_097)
        let dayOfCycle = shifted - cycle * 146_097
        // Remove the leap days before this day, then divide by 365.
        let yearOfCycle = (dayOfCycle - dayOfCycle / 1460 + dayOfCycle / 36_524 - dayOfCycle / 146_096) / 365
        let dayOfYear = dayOfCycle - (365 * yearOfCycle + yearOfCycle / 4 - yearOfCycle / 100)
        let marchMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
        let month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        let year = yearOfCycle + cycle * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    static func floorModulo(_ value: Int64, _ divisor: Int64) -> Int64 {
        value - self.floorDivide(value, divisor) * divisor
    }
}
