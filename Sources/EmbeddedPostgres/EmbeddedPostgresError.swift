/// An error thrown while creating, starting, stopping or removing an ``EmbeddedPostgres`` cluster.
///
/// Errors are equal when their codes are equal, so a test can write
/// `#expect(error.code == .binariesNotFound)`. ``message`` is a human sentence that says what
/// failed and, where a tool failed, ends with the tail of that tool's output and of the
/// server log.
public struct EmbeddedPostgresError: Error, Sendable {
    /// What kind of failure this is. More codes may be added; do not switch over them exhaustively.
    public struct Code: Hashable, Sendable {
        private enum Base: String, Hashable, Sendable {
            case binariesNotFound
            case initdbFailed
            case startFailed
            case stopFailed
            case noFreePort
            case processFailed
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// `initdb` and `pg_ctl` were not found: PostgreSQL's server package is not installed,
        /// or ``EmbeddedPostgres/Configuration/binDirectory`` points elsewhere.
        public static let binariesNotFound = Code(.binariesNotFound)
        /// `initdb` could not create the cluster.
        public static let initdbFailed = Code(.initdbFailed)
        /// The server did not start, or did not accept connections in time.
        public static let startFailed = Code(.startFailed)
        /// The server did not stop, or its folder could not be removed.
        public static let stopFailed = Code(.stopFailed)
        /// No free TCP port could be found on 127.0.0.1.
        public static let noFreePort = Code(.noFreePort)
        /// A helper program could not be launched, or the machine lacks what it needs
        /// (for example the `postgres` account when running as root).
        public static let processFailed = Code(.processFailed)
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human sentence saying what failed and how to fix it, with the tail of the tool output
    /// and server log where there is one.
    public var message: String
    /// The source file that raised the error (`#fileID`).
    let file: String
    /// The source line that raised the error.
    let line: Int

    init(code: Code, message: String, file: String, line: Int) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }
}

// MARK: - Factories

extension EmbeddedPostgresError {
    static func binariesNotFound(searched: [String], file: String = #fileID, line: Int = #line) -> Self {
        let places = searched.isEmpty ? "any known place" : searched.joined(separator: ", ")
        return Self(
            code: .binariesNotFound,
            message: "PostgreSQL server binaries (initdb, pg_ctl) were not found (looked in \(places)); "
                + "install them with `apt-get install postgresql` or set DATABASE_URL to an existing server",
            file: file,
            line: line
        )
    }

    static func initdbFailed(_ message: String, file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .initdbFailed, message: message, file: file, line: line)
    }

    static func startFailed(_ message: String, file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .startFailed, message: message, file: file, line: line)
    }

    static func stopFailed(_ message: String, file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .stopFailed, message: message, file: file, line: line)
    }

    static func noFreePort(_ message: String, file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .noFreePort, message: message, file: file, line: line)
    }

    static func processFailed(_ message: String, file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .processFailed, message: message, file: file, line: line)
    }
}

// MARK: - Conformances

extension EmbeddedPostgresError.Code: CustomStringConvertible {
    /// The code's name, such as `binariesNotFound`.
    public var description: String {
        self.base.rawValue
    }
}

extension EmbeddedPostgresError: Hashable {
    /// Compares two errors by their codes only.
    ///
    /// - Parameters:
    ///   - lhs: An error.
    ///   - rhs: Another error.
    /// - Returns: `true` when both have the same ``code``.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code
    }

    /// Hashes the error's code only, consistent with ``==(_:_:)``.
    ///
    /// - Parameters:
    ///   - hasher: The hasher to feed.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
    }
}

extension EmbeddedPostgresError: CustomStringConvertible {
    /// The code and the message. The message holds only paths, ports and PostgreSQL's own
    /// output about a throwaway local cluster, so it is safe to show.
    public var description: String {
        "EmbeddedPostgresError.\(self.code): \(self.message)"
    }
}

extension EmbeddedPostgresError: CustomDebugStringConvertible {
    /// The description followed by the source location that raised the error.
    public var debugDescription: String {
        "\(self.description) (raised at \(self.file):\(self.line))"
    }
}
