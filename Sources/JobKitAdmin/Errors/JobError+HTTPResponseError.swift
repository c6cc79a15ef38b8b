import Hummingbird
import JobKit

extension JobError: HTTPResponseError {
    /// The HTTP status of the error: 404 for an unknown job, 409 for a change the job's status
    /// does not allow (and other conflicts with its state), 422 for a value out of its range.
    public var status: HTTPResponse.Status {
        switch self.code {
        case .notFound: .notFound
        case .illegalTransition, .duplicate, .leaseLost, .cancelled, .jobFailed, .timedOut: .conflict
        default: .unprocessableContent
        }
    }

    /// The error as the admin API's JSON error answer, with a stable code
    /// (`not_found`, `illegal_transition`, `invalid_value`, …) and the job's current status.
    /// - Parameters:
    ///   - request: The request that failed.
    ///   - context: Its context.
    /// - Returns: The response.
    /// - Throws: Nothing in practice; the signature is Hummingbird's.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try AdminAPIError(self).response(from: request, context: context)
    }
}

extension AdminAPIError {
    /// The API's form of a ``JobKit/JobError``: its description is safe for strangers (it
    /// names the job and its states, never SQL).
    init(_ error: JobError) {
        let code: String =
            switch error.code {
            case .notFound: "not_found"
            case .illegalTransition: "illegal_transition"
            case .invalidArgument: "invalid_value"
            case .invalidProgress: "invalid_progress"
            case .leaseLost: "lease_lost"
            case .duplicate: "duplicate"
            case .payloadDecoding: "payload_decoding"
            case .payloadEncoding: "payload_encoding"
            case .cancelled: "cancelled"
            case .jobFailed: "job_failed"
            case .timedOut: "timed_out"
            default: "job_error"
            }
        self.init(error.status, code: code, message: error.description)
        self.jobID = error.jobID
        self.currentStatus = error.currentStatus
        self.requestedStatus = error.requestedStatus
    }
}
