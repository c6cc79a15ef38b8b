/// Where and how to connect to PostgreSQL.
///
/// The connection string is handed to libpq, so everything libpq understands works: a URL
/// (`postgresql://user:secret@host:5432/db?sslmode=require`) or `key=value` pairs
/// (`host=/run/postgresql dbname=app`), TLS settings, every authentication method, and the
/// `PG*` environment variables for whatever the string leaves out.
///
/// `DATABASE_URL` is read by the edges of an application (its CLI, its tests) with
/// ``environment(_:)``, never deep inside the library.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// A libpq connection URL or `key=value` string. Empty means libpq's defaults and `PG*`
    /// variables. Defaults to empty.
    public var connectionString: String
    /// The `application_name` the server shows in `pg_stat_activity`, unless the connection
    /// string names one. Defaults to `"jobkit"`.
    public var applicationName: String
    /// How long to wait for a connection to open. Defaults to 10 seconds; rounded up to whole
    /// seconds, as libpq counts them.
    public var connectTimeout: Duration
    /// How many statements each connection keeps prepared on its server, so a statement that
    /// runs again skips parsing and, once PostgreSQL settles on a generic plan, planning.
    /// Statements with an array parameter are not prepared: their best plan depends on the
    /// arrays' lengths. The least recently used statement makes room for a new one. Defaults to 256; 0 turns
    /// preparing off, for a pooler that cannot keep a session's prepared statements (PgBouncer
    /// before 1.21 in transaction pooling).
    public var statementCacheCapacity: Int = 256

    /// Creates a configuration.
    /// - Parameters:
    ///   - connectionString: A libpq URL or `key=value` string; empty for libpq's defaults.
    ///   - applicationName: The `application_name` to report. Defaults to `"jobkit"`.
    ///   - connectTimeout: How long to wait for a connection. Defaults to 10 seconds.
    public init(_ connectionString: String = "", applicationName: String = "jobkit", connectTimeout: Duration = .seconds(10)) {
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
    }

    /// The configuration from an environment: `DATABASE_URL` if set, else libpq's `PG*` variables.
    /// - Parameter environment: The variables; pass `ProcessInfo.processInfo.environment`.
    /// - Returns: The configuration.
    public static func environment(_ environment: [String: String]) -> PostgresConfiguration {
        PostgresConfiguration(environment["DATABASE_URL"] ?? "")
    }

    /// The connection string with any password replaced by `***`.
    public var description: String {
        Self.redactingPassword(in: self.connectionString)
    }

    /// Replaces the password of a URL or `password=` pair with `***`.
    static func redactingPassword(in string: String) -> String {
        var result = string
        // URL form: scheme://user:password@host
        if let schemeEnd = result.range(of: "://"),
            let at = result[schemeEnd.upperBound...].firstIndex(of: "@")
        {
            let userInfo = result[schemeEnd.upperBound..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                result.replaceSubrange(result.index(after: colon)..<at, with: "***")
            }
        }
        // key=value form and URL query: password=..., also `password = 'quoted value'`,
        // which libpq accepts too.
        var searchStart = result.startIndex
        while let key = result.range(of: "password", options: .caseInsensitive, range: searchStart..<result.endIndex) {
            searchStart = key.upperBound
            var cursor = key.upperBound
            while cursor < result.endIndex, result[cursor].isWhitespace { cursor = result.index(after: cursor) }
            guard cursor < result.endIndex, result[cursor] == "=" else { continue }
            cursor = result.index(after: cursor)
            while cursor < result.endIndex, result[cursor].isWhitespace { cursor = result.index(after: cursor) }
            let valueStart = cursor
            if cursor < result.endIndex, result[cursor] == "'" {
                // A quoted value ends at the first quote that no backslash escapes.
                cursor = result.index(after: cursor)
                while cursor < result.endIndex, result[cursor] != "'" {
                    if result[cursor] == "\\" { cursor = result.index(after: cursor) }
                    if cursor < result.endIndex { cursor = result.index(after: cursor) }
                }
                if cursor < result.endIndex { cursor = result.index(after: cursor) }
            } else {
                while cursor < result.endIndex, !result[cursor].isWhitespace, result[cursor] != "&" {
                    cursor = result.index(after: cursor)
                }
            }
            let resumeOffset = result.distance(from: result.startIndex, to: valueStart) + 3
            result.replaceSubrange(valueStart..<cursor, with: "***")
            searchStart = result.index(result.startIndex, offsetBy: resumeOffset)
        }
        return result
    }
}
