/// The admin server cannot be served as configured.
///
/// Thrown by ``AdminServer/init(jobs:configuration:logger:onServerRunning:)`` and
/// ``buildAdminRouter(jobs:configuration:logger:)``, before anything listens.
/// Errors are equal when their ``code`` is equal.
public struct AdminServerError: Error, Sendable {
    /// What kind of error this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case missingToken
            case unauthenticatedNonLoopback
            case invalidPort
            case invalidHost
            case invalidSetting
        }

        let base: Base

        /// No token was configured and serving without one was not allowed.
        public static let missingToken = Code(base: .missingToken)
        /// Serving without a token was allowed, but the host is not a loopback address.
        public static let unauthenticatedNonLoopback = Code(base: .unauthenticatedNonLoopback)
        /// The port is outside 0...65535.
        public static let invalidPort = Code(base: .invalidPort)
        /// The host is empty.
        public static let invalidHost = Code(base: .invalidHost)
        /// Another setting is out of its range.
        public static let invalidSetting = Code(base: .invalidSetting)

        /// The code's name, such as `missingToken`.
        public var description: String { self.base.rawValue }
    }

    /// What kind of error this is.
    public var code: Code
    /// What is wrong and how to fix it.
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

    /// No token, and serving without one was not allowed.
    /// - Parameters:
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/missingToken`` whose message says how to give a token.
    public static func missingToken(file: String = #fileID, line: Int = #line) -> AdminServerError {
        AdminServerError(
            .missingToken,
            message: "the admin server needs a token: set \(AdminServer.Configuration.tokenVariable) or pass one "
                + "(or allow unauthenticated access on a loopback host)",
            file: file, line: line)
    }

    /// Serving without a token on a host that is not loopback.
    /// - Parameters:
    ///   - host: The configured host.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/unauthenticatedNonLoopback`` naming the host.
    public static func unauthenticatedNonLoopback(host: String, file: String = #fileID, line: Int = #line) -> AdminServerError {
        AdminServerError(
            .unauthenticatedNonLoopback,
            message: "serving without a token is only allowed on a loopback host, not on \(host)",
            file: file, line: line)
    }

    /// A port outside 0...65535.
    /// - Parameters:
    ///   - port: The configured port.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/invalidPort`` naming the port.
    public static func invalidPort(_ port: Int, file: String = #fileID, line: Int = #line) -> AdminServerError {
        AdminServerError(.invalidPort, message: "port \(port) is outside 0...65535", file: file, line: line)
    }

    /// An empty host.
    /// - Parameters:
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/invalidHost``.
    public static func invalidHost(file: String = #fileID, line: Int = #line) -> AdminServerError {
        AdminServerError(.invalidHost, message: "the host is empty", file: file, line: line)
    }

    /// A setting out of its range.
    /// - Parameters:
    ///   - message: Which setting, and what is wrong with it.
    ///   - file: The caller's source file; defaults to the call site.
    ///   - line: The caller's source line; defaults to the call site.
    /// - Returns: An error with code ``Code/invalidSetting`` and the message.
    public static func invalidSetting(_ message: String, file: String = #fileID, line: Int = #line) -> AdminServerError {
        AdminServerError(.invalidSetting, message: message, file: file, line: line)
    }
}

extension AdminServerError: Equatable {
    /// Errors are equal when their codes are equal, whatever their context.
    /// - Parameters:
    ///   - lhs: An error.
    ///   - rhs: Another error.
    /// - Returns: Whether their codes are equal.
    public static func == (lhs: AdminServerError, rhs: AdminServerError) -> Bool { lhs.code == rhs.code }
}

extension AdminServerError: CustomStringConvertible {
    /// What is wrong and how to fix it (the ``message``).
    public var description: String { self.message }
}

extension AdminServerError: CustomDebugStringConvertible {
    /// Everything known: the code, the message and the source location of the call.
    public var debugDescription: String {
        "AdminServerError(code: \(self.code), \(self.message), at: \(self.file):\(self.line))"
    }
}
