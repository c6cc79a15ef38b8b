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

        /// The code's name, such as `illegalTransition`.
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
    /// - Parameters:
    ///   - id: The job looked for.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/notFound`` and the job id.
    public static func notFound(_ id: UUID, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.notFound, jobID: id, file: file, line: line)
    }

    /// The job cannot move from `from` to `to`.
    /// - Parameters:
    ///   - id: The job.
    ///   - from: Its status when the change was refused.
    ///   - to: The status that was asked for.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/illegalTransition``, the job id and both statuses.
    public static func illegalTransition(id: UUID, from: JobStatus, to: JobStatus, file: String = #fileID, line: Int = #line) -> JobError {
        var error = JobError(.illegalTransition, jobID: id, file: file, line: line)
        error.currentStatus = from
        error.requestedStatus = to
        return error
    }

    /// A progress outside 0...100.
    /// - Parameters:
    ///   - value: The rejected progress.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/invalidProgress`` and the value.
    public static func invalidProgress(_ value: Int, file: String = #fileID, line: Int = #line) -> JobError {
        var error = JobError(.invalidProgress, message: "progress must be between 0 and 100", file: file, line: line)
        error.progress = value
        return error
    }

    /// The caller no longer holds the job's lease.
    /// - Parameters:
    ///   - id: The job.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/leaseLost`` and the job id.
    public static func leaseLost(id: UUID, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.leaseLost, jobID: id, file: file, line: line)
    }

    /// A job with the unique key exists.
    /// - Parameters:
    ///   - uniqueKey: The key that is taken.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/duplicate`` and the key.
    public static func duplicate(uniqueKey: String, file: String = #fileID, line: Int = #line) -> JobError {
        var error = JobError(.duplicate, file: file, line: line)
        error.uniqueKey = uniqueKey
        return error
    }

    /// A payload or result did not decode.
    /// - Parameters:
    ///   - id: The job, when there is one.
    ///   - type: The type that was asked for.
    ///   - underlying: The decoder's error.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/payloadDecoding`` whose message names the type and the decoder's error.
    public static func payloadDecoding(id: UUID?, type: Any.Type, underlying: any Error, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.payloadDecoding, jobID: id, message: "cannot decode \(type): \(underlying)", file: file, line: line)
    }

    /// A payload or result did not encode.
    /// - Parameters:
    ///   - type: The type that failed to encode.
    ///   - underlying: The encoder's error.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/payloadEncoding`` whose message names the type and the encoder's error.
    public static func payloadEncoding(type: Any.Type, underlying: any Error, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.payloadEncoding, message: "cannot encode \(type): \(underlying)", file: file, line: line)
    }

    /// An argument out of range.
    /// - Parameters:
    ///   - message: What is wrong with the argument.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/invalidArgument`` and the message.
    public static func invalidArgument(_ message: String, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.invalidArgument, message: message, file: file, line: line)
    }

    /// The job was cancelled.
    /// - Parameters:
    ///   - id: The job.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/cancelled`` and the job id.
    public static func cancelled(id: UUID, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.cancelled, jobID: id, file: file, line: line)
    }

    /// The job ran past its timeout.
    /// - Parameters:
    ///   - id: The job.
    ///   - timeout: The limit it ran past.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/timedOut`` whose message names the limit.
    public static func timedOut(id: UUID, after timeout: Duration, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.timedOut, jobID: id, message: "timed out after \(timeout)", file: file, line: line)
    }

    /// The job ended failed with this message.
    /// - Parameters:
    ///   - id: The job.
    ///   - message: The job's error message.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/jobFailed`` carrying the job's error as its message.
    public static func jobFailed(id: UUID, message: String?, file: String = #fileID, line: Int = #line) -> JobError {
        JobError(.jobFailed, jobID: id, message: message, file: file, line: line)
    }
}

extension JobError: Equatable {
    /// Errors are equal when their codes are equal, whatever their context.
    /// - Parameters:
    ///   - lhs: An error.
    ///   - rhs: Another error.
    /// - Returns: Whether their codes are equal.
    public static func == (lhs: JobError, rhs: JobError) -> Bool { lhs.code == rhs.code }
}

extension JobError: CustomStringConvertible {
    /// What went wrong, in one line that is safe to show a client: it names the job and its statuses, never SQL.
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
    /// Everything known: the code, the description and the source location of the call.
    public var debugDescription: String {
        "JobError(code: \(self.code), \(self.description), at: \(self.file):\(self.line))"
    }
}
