import Hummingbird
import Logging

/// The request context of the admin router: Hummingbird's core context plus how the caller
/// authenticated.
public struct AdminRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// How the caller proved it may use the API; set by the authentication middleware.
    var authentication: AdminAuthentication?

    /// Creates a context for a request.
    /// - Parameter source: What Hummingbird knows of the connection.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.authentication = nil
    }

    /// Creates a context for a request that an app's router forwards (``Hummingbird/Router/addJobKitAdmin(jobs:configuration:logger:)``).
    /// - Parameter logger: The app's request logger.
    init(forwardedWith logger: Logger) {
        self.coreContext = .init(source: ForwardedRequestSource(logger: logger))
        self.authentication = nil
    }

    /// The largest request body decoded: 64 KiB.
    public var maxUploadSize: Int { 64 * 1024 }
}

/// What the admin context knows of a request forwarded from an app's router: its logger.
private struct ForwardedRequestSource: RequestContextSource {
    let logger: Logger
}
