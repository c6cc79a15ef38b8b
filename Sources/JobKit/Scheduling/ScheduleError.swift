import Foundation

/// An error in a periodic schedule: a cron expression that does not parse, an unknown time
/// zone, a schedule whose settings are out of range.
///
/// Errors are equal when their ``code`` is equal. A bad schedule throws before any SQL runs.
public struct ScheduleError: Error, Sendable {
    /// What kind of error this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case invalidExpression
            case invalidTimeZone
            case invalidSchedule
            case notFound
        }

        let base: Base

        /// The cron expression does not parse, or never matches; ``ScheduleError/field`` names
        /// the field at fault when one is.
        public static let invalidExpression = Code(base: .invalidExpression)
        /// No time zone has that identifier.
        public static let invalidTimeZone = Code(base: .invalidTimeZone)
        /// A setting of the schedule is out of range: an empty name, an interval under a second,
        /// a backfill limit out of range, options that a schedule sets itself.
        public static let invalidSchedule = Code(base: .invalidSchedule)
        /// No schedule has that name.
        public static let notFound = Code(base: .notFound)

        /// The code's name, such as `invalidExpression`.
        public var description: String { self.base.rawValue }
    }

    /// What kind of error this is.
    public var code: Code
    /// The cron field at fault, for ``Code/invalidExpression``.
    public var field: CronExpression.Field?
    /// The offending text: a field's value, a time zone identifier.
    public var value: String?
    /// The whole cron expression, for ``Code/invalidExpression``.
    public var expression: String?
    /// The schedule concerned, when known.
    public var scheduleName: String?
    /// What is wrong, in a sentence fragment.
    public var message: String
    /// The caller's source file.
    public var file: String
    /// The caller's source line.
    public var line: Int

    init(_ code: Code, message: String, file: String, line: Int) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// A cron expression that does not parse or never matches.
    /// - Parameters:
    ///   - expression: The whole expression.
    ///   - field: The field at fault, if one is.
    ///   - value: The offending text.
    ///   - message: What is wrong.
    public static func invalidExpression(
        _ expression: String, field: CronExpression.Field?, value: String?, message: String,
        file: String = #fileID, line: Int = #line
    ) -> ScheduleError {
        var error = ScheduleError(.invalidExpression, message: message, file: file, line: line)
        error.expression = expression
        error.field = field
        error.value = value
        return error
    }

    /// An unknown time zone identifier.
    public static func invalidTimeZone(_ identifier: String, file: String = #fileID, line: Int = #line) -> ScheduleError {
        var error = ScheduleError(.invalidTimeZone, message: "no time zone is called \"\(identifier)\"", file: file, line: line)
        error.value = identifier
        return error
    }

    /// A setting of a schedule out of range.
    public static func invalidSchedule(_ message: String, name: String?, file: String = #fileID, line: Int = #line) -> ScheduleError {
        var error = ScheduleError(.invalidSchedule, message: message, file: file, line: line)
        error.scheduleName = name
        return error
    }

    /// No schedule has the name.
    public static func notFound(_ name: String, file: String = #fileID, line: Int = #line) -> ScheduleError {
        var error = ScheduleError(.notFound, message: "no schedule is called \"\(name)\"", file: file, line: line)
        error.scheduleName = name
        return error
    }
}

extension ScheduleError: Equatable {
    /// Errors are equal when their codes are.
    public static func == (lhs: ScheduleError, rhs: ScheduleError) -> Bool { lhs.code == rhs.code }
}

extension ScheduleError: CustomStringConvertible {
    /// What is wrong, naming the field and text at fault; safe to show (it holds only what the
    /// caller wrote).
    public var description: String {
        switch self.code.base {
        case .invalidExpression:
            let subject = self.field.map { "the \($0.rawValue) field \"\(self.value ?? "")\"" } ?? (self.value.map { "\"\($0)\"" } ?? "it")
            return "invalid cron expression \"\(self.expression ?? "")\": \(subject) \(self.message)"
        case .invalidTimeZone, .notFound:
            return self.message
        case .invalidSchedule:
            return self.scheduleName.map { "schedule \"\($0)\": \(self.message)" } ?? self.message
        }
    }
}

extension ScheduleError: CustomDebugStringConvertible {
    /// The description with the code and the caller's file and line.
    public var debugDescription: String {
        "ScheduleError(code: \(self.code), \(self.description), at: \(self.file):\(self.line))"
    }
}
