import Foundation

extension CronExpression {
    /// How far ahead ``nextFire(after:in:)`` looks before it gives up: 50 years.
    static let searchYears = 50

    /// The first instant after `date` at which the expression fires on the clocks of `timeZone`.
    ///
    /// Fires fall on whole seconds; the result is strictly later than `date`.
    ///
    /// Daylight saving time: a wall-clock time that a change skips or repeats is handled as
    /// cron users expect, following Vixie cron's intent.
    /// - A **time of day** (the hour field names particular hours, as in `30 2 * * *` or
    ///   `0 */6 * * *`) fires once per day it matches. When the clocks spring forward over it
    ///   (02:30 does not exist that night), it fires at the first instant after the gap (03:00
    ///   new time); several skipped times fire once there. When the clocks fall back and it
    ///   happens twice, it fires at the first occurrence only.
    /// - A schedule for **every hour** (hour field `*`, as in `*/15 * * * *` or `* * * * * *`)
    ///   follows elapsed time: a skipped wall-clock time does not fire, a repeated one fires
    ///   both times, so "every 15 minutes" stays 15 minutes apart through the change.
    /// - Parameters:
    ///   - date: The instant to start after.
    ///   - timeZone: Whose clocks the fields are read on.
    /// - Returns: The next fire, or `nil` when there is none within 50 years.
    public func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        guard date.timeIntervalSince1970.isFinite else { return nil }
        let start = Int64(date.timeIntervalSince1970.rounded(.down)) + 1
        guard let limit = Self.localLimit(after: start) else { return nil }
        let zone = ZoneClock(timeZone)

        // The stretch of constant offset that `start` lies in, and the change that began it.
        var segmentStart = start
        var change = zone.lastChange(atOrBefore: start)
        while true {
            let offset = zone.offset(at: segmentStart)
            let segmentEnd = zone.nextChange(after: segmentStart)
            var lower = segmentStart + offset
            if let change {
                if change.offsetBefore > offset, self.isTimeOfDay {
                    // Fall back: wall times up to the old offset were lived before the change.
                    lower = max(lower, change.instant + change.offsetBefore)
                } else if change.offsetBefore < offset, self.isTimeOfDay, change.instant >= start,
                    let skipped = self.nextMatch(atOrAfter: change.instant + change.offsetBefore, limit: limit),
                    skipped < change.instant + offset
                {
                    // Spring forward over a matching wall time: fire once, as the gap ends.
                    return Date(timeIntervalSince1970: Double(change.instant))
                }
            }
            guard let local = self.nextMatch(atOrAfter: lower, limit: limit) else { return nil }
            let instant = local - offset
            if segmentEnd.map({ instant < $0 }) ?? true {
                return Date(timeIntervalSince1970: Double(instant))
            }
            guard let next = segmentEnd, next - offset < limit else { return nil }
            change = ZoneClock.Change(instant: next, offsetBefore: offset)
            segmentStart = next
        }
    }

    /// The latest local second the search considers, 50 years past `start` (and within year 9999).
    private static func localLimit(after start: Int64) -> Int64? {
        let year = CivilTime(localSeconds: start).year
        guard year < 9999 - self.searchYears else { return nil }
        return CivilTime(year: year + self.searchYears, month: 1, day: 1).localSeconds
    }

    /// The first wall-clock time at or after `local` (local seconds) that matches every field.
    func nextMatch(atOrAfter local: Int64, limit: Int64) -> Int64? {
        var time = CivilTime(localSeconds: local)
        let limitYear = CivilTime(localSeconds: limit).year
        func nextDay() {
            time.day += 1
            time.hour = 0
            time.minute = 0
            time.second = 0
        }
        while time.year <= limitYear {
            if time.month > 12 {
                time.year += 1
                time.month = 1
                continue
            }
            if self.months & (1 << UInt64(time.month)) == 0 {
                if let month = Self.next(in: self.months, atOrAbove: time.month) {
                    time.month = month
                } else {
                    time.year += 1
                    time.month = Self.next(in: self.months, atOrAbove: 1) ?? 1
                }
                time.day = 1
                time.hour = 0
                time.minute = 0
                time.second = 0
                continue
            }
            if time.day > CivilTime.days(inMonth: time.month, year: time.year) {
                time.month += 1
                time.day = 1
                time.hour = 0
                time.minute = 0
                time.second = 0
                continue
            }
            guard self.matchesDay(year: time.year, month: time.month, day: time.day) else {
                nextDay()
                continue
            }
            guard let hour = Self.next(in: self.hours, atOrAbove: time.hour) else {
                nextDay()
                continue
            }
            if hour != time.hour {
                time.hour = hour
                time.minute = 0
                time.second = 0
            }
            guard let minute = Self.next(in: self.minutes, atOrAbove: time.minute), minute < 60 else {
                time.hour += 1
                time.minute = 0
                time.second = 0
                if time.hour == 24 { nextDay() }
                continue
            }
            if minute != time.minute {
                time.minute = minute
                time.second = 0
            }
            guard let second = Self.next(in: self.seconds, atOrAbove: time.second), second < 60 else {
                time.minute += 1
                time.second = 0
                if time.minute == 60 {
                    time.minute = 0
                    time.hour += 1
                    if time.hour == 24 { nextDay() }
                }
                continue
            }
            time.second = second
            let result = time.localSeconds
            return result <= limit ? result : nil
        }
        return nil
    }
}

/// A time zone's offsets and changes, in whole seconds.
struct ZoneClock {
    /// A change of offset: from `instant` on the offset differs from `offsetBefore`.
    struct Change {
        var instant: Int64
        var offsetBefore: Int64
    }

    let timeZone: TimeZone

    init(_ timeZone: TimeZone) {
        self.timeZone = timeZone
    }

    /// Seconds east of UTC at `instant`.
    func offset(at instant: Int64) -> Int64 {
        Int64(self.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant))))
    }

    /// The first change of offset strictly after `instant`.
    func nextChange(after instant: Int64) -> Int64? {
        var from = instant
        // Foundation reports changes of the daylight-saving flag; skip those that keep the offset.
        for _ in 0..<8 {
            guard let date = self.timeZone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(from))) else {
                return nil
            }
            let change = Int64(date.timeIntervalSince1970.rounded(.up))
            guard change > from else { return nil }
            if self.offset(at: change) != self.offset(at: change - 1) { return change }
            from = change
        }
        return nil
    }

    /// The latest change at or before `instant`, if one lies within the last two days (a
    /// change further back cannot have repeated or skipped the wall times ahead of it).
    func lastChange(atOrBefore instant: Int64) -> Change? {
        var latest: Change?
        var from = instant - 2 * 86_400
        while let change = self.nextChange(after: from), change <= instant {
            latest = Change(instant: change, offsetBefore: self.offset(at: change - 1))
            from = change
        }
        return latest
    }
}
