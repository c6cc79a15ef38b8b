import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// How a request proved it may use the admin server.
enum AdminAuthentication: Sendable, Equatable {
    /// `Authorization: Bearer <token>` with the right token.
    case bearer
    /// The session cookie of a browser that logged in.
    case session
    /// The server runs without a token (loopback only).
    case open
}

/// Checks tokens in constant time and keeps the browser sessions that the login page opens.
///
/// Sessions live in memory: a restart logs browsers out, which is what an admin page wants.
final class AdminAuthenticator: Sendable {
    /// The cookie that carries a browser's session.
    static let cookieName = "jobkit_admin_session"
    /// The header a browser's state-changing API call must carry (a cross-site form cannot set it).
    static let csrfHeader = HTTPField.Name.constant("X-JobKit-Admin")
    /// At most this many sessions are kept; the oldest go first.
    static let maximumSessions = 1000

    /// The token, or `nil` when the server serves without one.
    let token: String?
    private let tokenBytes: [UInt8]
    private let sessionLifetime: Duration
    private let sessions = Mutex<[String: ContinuousClock.Instant]>([:])

    init(token: String?, sessionLifetime: Duration) {
        self.token = token
        self.tokenBytes = Array((token ?? "").utf8)
        self.sessionLifetime = sessionLifetime
    }

    /// Whether requests need a token.
    var isRequired: Bool { self.token != nil }

    /// How the request authenticates, or `nil` when it does not.
    ///
    /// A request with an `Authorization` header is judged by that header alone; without one, by
    /// its session cookie.
    func authenticate(_ request: Request) -> AdminAuthentication? {
        guard self.isRequired else { return .open }
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
            return self.matchesToken(parts[1].trimmingCharacters(in: .whitespaces)) ? .bearer : nil
        }
        if let cookie = request.cookies[Self.cookieName], self.hasSession(cookie.value) {
            return .session
        }
        return nil
    }

    /// Whether `candidate` is the token, compared in time that depends only on the lengths.
    func matchesToken(_ candidate: some StringProtocol) -> Bool {
        guard self.isRequired else { return true }
        return Self.constantTimeEquals(Array(candidate.utf8), self.tokenBytes)
    }

    /// Compares every byte of the longer input, so the time taken does not reveal where the
    /// inputs first differ.
    @inline(never)
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference: UInt8 = lhs.count == rhs.count ? 0 : 1
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }

    // MARK: - Sessions

    /// Opens a session and returns its id: 32 random bytes, hex-encoded.
    func openSession() -> String {
        var generator = SystemRandomNumberGenerator()
        let id = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
        let now = ContinuousClock.now
        self.sessions.withLock { sessions in
            sessions = sessions.filter { $0.value > now }
            while sessions.count >= Self.maximumSessions, let oldest = sessions.min(by: { $0.value < $1.value }) {
                sessions[oldest.key] = nil
            }
            sessions[id] = now.advanced(by: self.sessionLifetime)
        }
        return id
    }

    /// Ends a session.
    func closeSession(_ id: String) {
        _ = self.sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// Whether `id` is a live session.
    func hasSession(_ id: String) -> Bool {
        let now = ContinuousClock.now
        return self.sessions.withLock { sessions in
            guard let expiry = sessions[id] else { return false }
            if expiry <= now {
                sessions[id] = nil
                return false
            }
            return true
        }
    }

    /// The `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, scoped to `/admin`.
    func sessionCookie(_ id: String) -> Cookie {
        Cookie(
            name: Self.cookieName, value: id, maxAge: Int(self.sessionLifetime.components.seconds), path: "/admin",
            httpOnly: true, sameSite: .strict)
    }

    /// The `Set-Cookie` that removes the session cookie.
    static var expiredCookie: Cookie {
        Cookie(name: Self.cookieName, value: "", maxAge: 0, path: "/admin", httpOnly: true, sameSite: .strict)
    }
}

/// Lets a request through only when it authenticates; otherwise answers 401 (API) or sends the
/// browser to the login page (pages).
///
/// A browser's state-changing API call, authenticated by its cookie, must also carry the
/// `X-JobKit-Admin` header: a cross-site form cannot set it (403 otherwise).
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext

    /// What an unauthenticated request gets.
    enum Refusal: Sendable {
        /// 401 with a JSON error.
        case unauthorized
        /// 303 to the login page.
        case redirectToLogin
    }

    let authenticator: AdminAuthenticator
    let refusal: Refusal

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authentication = self.authenticator.authenticate(request) else {
            switch self.refusal {
            case .unauthorized:
                throw AdminAPIError.unauthorized()
            case .redirectToLogin:
                let target = request.uri.query.map { "\(request.uri.path)?\($0)" } ?? request.uri.path
                return AdminPages.redirect(to: "/admin/login?next=\(QueryParameters.encode(target))")
            }
        }
        if authentication == .session, request.method != .get, request.method != .head,
            request.headers[AdminAuthenticator.csrfHeader] == nil
        {
            throw AdminAPIError.missingCSRFHeader()
        }
        var context = context
        context.authentication = authentication
        return try await next(request, context)
    }
}
