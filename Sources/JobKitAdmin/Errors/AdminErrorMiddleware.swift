import Hummingbird
import JobKit
import LibPQ
import Logging


/// Turns every error a handler throws into the API's JSON error answer, so that no request,
/// however malformed, gets an empty 500 or a message with SQL in it.
struct AdminErrorMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext

    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try AdminAPIError(error, logger: self.logger).response(from: request, context: context)
        }
    }
}

extension AdminAPIError {
    /// The API's answer to any error.
    ///
    /// - ``JobKit/JobError``: its own status and code.
    /// - ``LibPQ/PostgresError`` of the connection (lost, refused, pool closed or exhausted): 503.
    /// - A value the database rejected (SQLSTATE class 22, data exception): 422.
    /// - Hummingbird's own errors (unknown route, body too large): their status, with a code.
    /// - Anything else is the server's fault: 500 `internal_error`, logged at `info` with its
    ///   debug description; nothing of it reaches the client.
    init(_ error: any Error, logger: Logger) {
        switch error {
        case let error as AdminAPIError:
            self = error
        case let error as JobError:
            self.init(error)
        case let error as PostgresError:
            if error.isConnectionFailure || error.code == .acquireTimeout || error.code == .poolClosed {
                logger.info("Database unavailable", metadata: ["jobkit.error": "\(String(reflecting: error))"])
                self = .databaseUnavailable()
            } else if error.code == .server, error.sqlState?.rawValue.hasPrefix("22") == true {
                self.init(.unprocessableContent, code: "invalid_value", message: "the database rejected a value of the request")
            } else {
                logger.info("Request failed", metadata: ["jobkit.error": "\(String(reflecting: error))"])
                self = .internalError()
            }
        case let error as any HTTPResponseError:
            switch error.status {
            case .notFound: self = .routeNotFound()
            case .contentTooLarge: self = .bodyTooLarge()
            case .methodNotAllowed:
                self.init(.methodNotAllowed, code: "method_not_allowed", message: "method not allowed")
            case let status where (400..<500).contains(status.code):
                self.init(status, code: "bad_request", message: status.reasonPhrase)
            default:
                logger.info("Request failed", metadata: ["jobkit.error": "\(String(reflecting: error))"])
                self = .internalError()
            }
        case is CancellationError:
            self = .shuttingDown()
        default:
            logger.info("Request failed", metadata: ["jobkit.error": "\(String(reflecting: error))"])
            self = .internalError()
        }
    }
}
