import Foundation
import JobKit

/// A failed test expectation of `JobKitTesting`: a job that should have been enqueued and was
/// not, one that should not have been and was, a performed job that did not end `done`.
///
/// Thrown by the `require…` helpers and by ``PerformResult/get()``, so a test of either Swift
/// Testing or XCTest fails on it; ``description`` says what was expected and what the database
/// held instead. Errors are equal when their ``code`` is equal.
public struct JobTestingError: Error, Sendable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case notEnqueued
            case unexpectedlyEnqueued
            case wrongCount
            case notDone
        }

        let base: Base

        /// No job matched, though one was expected.
        public static let notEnqueued = Code(base: .notEnqueued)
        /// Jobs matched, though none was expected.
        public static let unexpectedlyEnqueued = Code(base: .unexpectedlyEnqueued)
        /// Jobs matched, but not as many as expected.
        public static let wrongCount = Code(base: .wrongCount)
        /// A performed job did not end `done`.
        public static let notDone = Code(base: .notDone)

        public var description: String { self.base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What was expected and what was found, including the jobs the database held.
    public var message: String
    /// The jobs that matched the expectation (for ``Code/unexpectedlyEnqueued`` and
    /// ``Code/wrongCount``), or the performed job (for ``Code/notDone``).
    public var jobs: [Job]
    /// The caller's source file.
    public var file: String
    /// The caller's source line.
    public var line: Int

    init(_ code: Code, message: String, jobs: [Job] = [], file: String, line: Int) {
        self.code = code
        self.message = message
        self.jobs = jobs
        self.file = file
        self.line = line
    }
}

extension JobTestingError: Equatable {
    public static func == (lhs: JobTestingError, rhs: JobTestingError) -> Bool { lhs.code == rhs.code }
}

extension JobTestingError: CustomStringConvertible {
    public var description: String { self.message }
}

extension JobTestingError: CustomDebugStringConvertible {
    public var debugDescription: String {
        "JobTestingError(code: \(self.code), \(self.message), at: \(self.file):\(self.line))"
    }
}
