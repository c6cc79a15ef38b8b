import Foundation
import Hummingbird
import JobKit

/// An error answer of the admin API: a status, a stable code and a message safe for strangers.
///
/// Its JSON is `{"error": {"code": "...", "message": "...", ...}}`, with `job_id`,
/// `current_status`, `requested_status` or `parameter` when they apply.
struct AdminAPIError: Error, HTTPResponseError, Sendable {
    /// The HTTP status.
    var status: HTTPResponse.Status
    /// The stable, machine-readable code, such as `illegal_transition`.
    var code: String
    /// What went wrong, for people; never SQL, never data of other jobs.
    var message: String
    /// The job concerned.
    var jobID: UUID?
    /// The job's status when a change was refused.
    var currentStatus: JobStatus?
    /// The status a refused change asked for.
    var requestedStatus: JobStatus?
    /// The query parameter or body field that was rejected.
    var parameter: String?
    /// Further headers (`WWW-Authenticate`).
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, code: String, message: String, parameter: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter
    }

    // MARK: - The errors of the admin API

    /// 400: the body is not the JSON the endpoint takes.
    static func malformedBody(_ message: String) -> AdminAPIError {
        AdminAPIError(.badRequest, code: "malformed_body", message: message)
    }

    /// 400: the job id in the path is not a UUID.
    static func malformedID() -> AdminAPIError {
        AdminAPIError(.badRequest, code: "malformed_id", message: "the job id is not a UUID")
    }

    /// 401: no token or a wrong one.
    static func unauthorized() -> AdminAPIError {
        var error = AdminAPIError(.unauthorized, code: "unauthorized", message: "a valid bearer token is required")
        error.headers[.wwwAuthenticate] = "Bearer realm=\"jobkit-admin\""
        return error
    }

    /// 403: a browser's state-changing call without the `X-JobKit-Admin` header.
    static func missingCSRFHeader() -> AdminAPIError {
        AdminAPIError(
            .forbidden, code: "missing_csrf_header",
            message: "requests authenticated by the session cookie must send the X-JobKit-Admin header")
    }

    /// 422: a value out of its range or of an unknown kind.
    static func invalidValue(_ parameter: String, _ message: String) -> AdminAPIError {
        AdminAPIError(.unprocessableContent, code: "invalid_value", message: message, parameter: parameter)
    }

    /// 404: no route has this path and method.
    static func routeNotFound() -> AdminAPIError {
        AdminAPIError(.notFound, code: "route_not_found", message: "no such endpoint")
    }

    /// 413: the body is larger than the server accepts.
    static func bodyTooLarge() -> AdminAPIError {
        AdminAPIError(.contentTooLarge, code: "body_too_large", message: "the body is too large")
    }

    /// 503: PostgreSQL cannot be reached.
    static func databaseUnavailable() -> AdminAPIError {
        AdminAPIError(.serviceUnavailable, code: "database_unavailable", message: "database unavailable")
    }

    /// 503: the server is stopping.
    static func shuttingDown() -> AdminAPIError {
        AdminAPIError(.serviceUnavailable, code: "unavailable", message: "the server is shutting down")
    }

    /// 500: a fault of the server; the details go to the log only.
    static func internalError() -> AdminAPIError {
        AdminAPIError(.internalServerError, code: "internal_error", message: "internal error")
    }

    // MARK: - HTTPResponseError

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = AdminJSON.response(ErrorEnvelope(error: self), status: self.status)
        response.headers.append(contentsOf: self.headers)
        return response
    }
}

extension AdminAPIError: CustomStringConvertible {
    var description: String { "\(self.status.code) \(self.code): \(self.message)" }
}

/// The JSON body of an error answer.
struct ErrorEnvelope: Encodable {
    var error: AdminAPIError
}

extension AdminAPIError: Encodable {
    private enum CodingKeys: String, CodingKey {
        case code, message
        case jobID = "job_id"
        case currentStatus = "current_status"
        case requestedStatus = "requested_status"
        case parameter
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.code, forKey: .code)
        try container.encode(self.message, forKey: .message)
        try container.encodeIfPresent(self.jobID.map(AdminJSON.id), forKey: .jobID)
        try container.encodeIfPresent(self.currentStatus, forKey: .currentStatus)
        try container.encodeIfPresent(self.requestedStatus, forKey: .requestedStatus)
        try container.encodeIfPresent(self.parameter, forKey: .parameter)
    }
}
