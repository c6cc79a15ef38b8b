import Foundation

/// An error from JobKit: an unknown job, an illegal move, bad input, a lost lease.
///
/// Errors are equal when their ``code`` is equal. Bad input is rejected before any SQL runs,
/// and a rejected change leaves the row as it was.
public struct JobError: Error, Sendable {
    /// What kind of error this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case notFound
            case illegalTransition
            case invalidProgress
            case leaseLost
            case payloadDecoding
            case payloadEncoding
            case duplicate
            case invalidArgument
            case cancelled
            case jobFailed
            case timedOut
        }

        let base: Base

        /// No job has that id.
        public static let notFound = Code(base: .notFound)
        /// The job's status does not allow the requested change.
        public static let illegalTransition = Code(base: .illegalTransition)
        /// A progress outside 0...100.
        public static let invalidProgress = Code(base: .invalidProgress)
        /// The caller's lease token is stale: the lease expired and the job moved on.
        public static let leaseLost = Code(base: .leaseLost)
        /// A payload or result could not be decoded as the requested type.
        public static let payloadDecoding = Code(base: .payloadDecoding)
        /// A payload or result could not be encoded as JSON.
        public static let payloadEncoding = Code(base: .payloadEncoding)
        /// A job with that unique key exists already.
        public static let duplicate = Code(base: .duplicate)
        /// An argument out of its range (a limit of 0, an empty type name).
        public static let invalidArgument = Code(base: .invalidArgument)
        /// The job was cancelled while the caller waited for it or ran it.
        public static let cancelled = Code(base: .cancelled)
        /// The job the caller waited for ended `failed`; ``JobError/message`` holds its error.
        public static let jobFailed = Code(base: .jobFailed)
        /// The job ran longer than its timeout and was stopped.
        public static let timedOut = Code(base: .timedOut)

        public var description: String { self.base.rawValue }
    }

    /// What kind of error this is.
    public var code: Code
    /// The job concerned, when there is one.
    public var jobID: UUID?
    /// The job's status when the change was refused.
    public var currentStatus: JobStatus?
    /// The status that was asked for.
    public var requestedStatus: JobStatus?
    /// The rejected progress value.
    public var progress: Int?
    /// The unique key that clashed.
    public var uniqueKey: String?
    /// More detail: the decoding error, the failed job's error message.
    public var message: String?
    /// The caller's source file.
    public var file: String
    /// The caller's source line.
    public var line: Int

    init(_ code: Code, jobID: UUID? = nil, message: String? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.jobID = jobID
        self.message = message
        self.file = file
        self.line = line
    }

    /// No job has the id.
    public static func notFound(_ id: UUID, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.notFound, jobID: id, file: file, line: line)
    }

    /// The job cannot move from `from` to `to`.
    public static func illegalTransition(id: UUID, from: JobStatus, to: JobStatus, file: String = #fileID, line: Int = #line) -> JobError {
        var error = JobError(.illegalTransition, jobID: id, file: file, line: line)
        error.currentStatus = from
        error.requestedStatus = to
        return error
    }

    /// A progress outside 0...100.
    public static func invalidProgress(_ value: Int, file: String = #fileID, line: Int = #line) -> JobError {
        var error = JobError(.invalidProgress, message: "progress must be between 0 and 100", file: file, line: line)
        error.progress = value
        return error
    }

    /// The caller no longer holds the job's lease.
    public static func leaseLost(id: UUID, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.leaseLost, jobID: id, file: file, line: line)
    }

    /// A job with the unique key exists.
    public static func duplicate(uniqueKey: String, file: String = #fileID, line: Int = #line) -> JobError {
        var error = JobError(.duplicate, file: file, line: line)
        error.uniqueKey = uniqueKey
        return error
    }

    /// A payload or result did not decode.
    public static func payloadDecoding(id: UUID?, type: Any.Type, underlying: any Error, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.payloadDecoding, jobID: id, message: "cannot decode \(type): \(underlying)", file: file, line: line)
    }

    /// A payload or result did not encode.
    public static func payloadEncoding(type: Any.Type, underlying: any Error, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.payloadEncoding, message: "cannot encode \(type): \(underlying)", file: file, line: line)
    }

    /// An argument out of range.
    public static func invalidArgument(_ message: String, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.invalidArgument, message: message, file: file, line: line)
    }

    /// The job was cancelled.
    public static func cancelled(id: UUID, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.cancelled, jobID: id, file: file, line: line)
    }

    /// The job ran past its timeout.
    public static func timedOut(id: UUID, after timeout: Duration, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.timedOut, jobID: id, message: "timed out after \(timeout)", file: file, line: line)
    }

    /// The job ended failed with this message.
    public static func jobFailed(id: UUID, message: String?, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.jobFailed, jobID: id, message: message, file: file, line: line)
    }
}

extension JobError: Equatable {
    public static func == (lhs: JobError, rhs: JobError) -> Bool { lhs.code == rhs.code }
}

extension JobError: CustomStringConvertible {
    public var description: String {
        let job = self.jobID.map { "job \($0.uuidString.lowercased())" } ?? "job"
        switch self.code.base {
        case .notFound: return "\(job) does not exist"
        case .illegalTransition:
            return "\(job) cannot move from \(self.currentStatus?.rawValue ?? "?") to \(self.requestedStatus?.rawValue ?? "?")"
        case .invalidProgress: return "progress \(self.progress ?? 0) is outside 0...100"
        case .leaseLost: return "\(job) is no longer leased by this worker"
        case .payloadDecoding, .payloadEncoding, .invalidArgument: return self.message ?? "\(self.code)"
        case .duplicate: return "a job with unique key \"\(self.uniqueKey ?? "")\" exists already"
        case .cancelled: return "\(job) was cancelled"
        case .jobFailed: return "\(job) failed: \(self.message ?? "no message")"
        case .timedOut: return "\(job) \(self.message ?? "timed out")"
        }
    }
}

extension JobError: CustomDebugStringConvertible {
    public var debugDescription: String {
        "JobError(code: \(self.code), \(self.description), at: \(self.file):\(self.line))"
    }
}
