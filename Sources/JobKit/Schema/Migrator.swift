import Foundation
import LibPQ
import Logging

/// Applies and reverts JobKit's schema migrations.
///
/// Each run holds a transaction-level advisory lock for the schema, so any number of
/// processes starting at once migrate exactly once; the others wait, then find nothing to do.
/// A run applies its migrations in one transaction: all or nothing.
public struct Migrator: Sendable {
    /// The schema the tables live in.
    public let schema: String
    private let pool: PostgresConnectionPool
    private let migrations: [Migration]
    private let logger: Logger

    /// Creates a migrator.
    /// - Parameters:
    ///   - pool: The database.
    ///   - schema: The schema; created if missing. Defaults to `"jobkit"`.
    ///   - logger: Receives a `debug` entry per migration applied or reverted.
    public init(pool: PostgresConnectionPool, schema: String = "jobkit", logger: Logger = JobKitLogging.noop) {
        self.init(pool: pool, schema: schema, migrations: Migration.all, logger: logger)
    }

    init(pool: PostgresConnectionPool, schema: String, migrations: [Migration], logger: Logger) {
        precondition(SchemaName.isValid(schema), "invalid schema name \(schema)")
        self.pool = pool
        self.schema = schema
        self.migrations = migrations
        self.logger = logger
    }

    /// The schema's state.
    public struct Status: Sendable, Hashable {
        /// The versions applied, ascending.
        public var applied: [Int]
        /// The versions known to this code and not applied, ascending.
        public var pending: [Int]
        /// The highest version applied, or 0.
        public var current: Int { self.applied.last ?? 0 }
        /// The version this code needs.
        public var latest: Int
        /// Whether the schema is at the version this code needs.
        public var isCurrent: Bool { self.current == self.latest && self.pending.isEmpty }
    }

    /// Applies every pending migration up to `target`.
    /// - Parameter target: The version to stop at; `nil` (the default) means the latest.
    /// - Returns: The versions applied by this call (empty when another process did it).
    /// - Throws: ``PostgresError`` from the SQL; nothing is applied then.
    @discardableResult
    public func migrateUp(to target: Int? = nil) async throws -> [Int] {
        try await self.locked { connection in
            let applied = try await self.appliedVersions(connection)
            var done: [Int] = []
            for migration in self.migrations where !applied.contains(migration.version) && migration.version <= (target ?? .max) {
                try await connection.execute(script: self.render(migration.up))
                try await connection.query("""
                    INSERT INTO \(unescaped: self.schema).schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))
                    """)
                self.logger.debug("Migration applied", metadata: ["jobkit.migration.version": "\(migration.version)"])
                done.append(migration.version)
            }
            return done
        }
    }

    /// Reverts applied migrations down to `target` (exclusive), newest first.
    /// - Parameter target: The version to end at; 0 reverts everything. Defaults to one step back.
    /// - Returns: The versions reverted.
    /// - Throws: ``PostgresError`` from the SQL; nothing is reverted then.
    @discardableResult
    public func migrateDown(to target: Int? = nil) async throws -> [Int] {
        try await self.locked { connection in
            let applied = try await self.appliedVersions(connection).sorted(by: >)
            let stop = target ?? (applied.dropFirst().first ?? 0)
            var done: [Int] = []
            for version in applied where version > stop {
                guard let migration = self.migrations.first(where: { $0.version == version }) else { continue }
                try await connection.execute(script: self.render(migration.down))
                try await connection.query("DELETE FROM \(unescaped: self.schema).schema_migrations WHERE version = \(version)")
                self.logger.debug("Migration reverted", metadata: ["jobkit.migration.version": "\(version)"])
                done.append(version)
            }
            return done
        }
    }

    /// Reads which migrations are applied.
    /// - Returns: The status.
    /// - Throws: ``PostgresError``.
    public func status() async throws -> Status {
        let exists = try await self.pool.query("SELECT to_regclass(\(self.schema + ".schema_migrations")) IS NOT NULL")
        var applied: [Int] = []
        if try exists.first?.decode(Bool.self, at: 0) == true {
            applied = try await self.pool.query("SELECT version FROM \(unescaped: self.schema).schema_migrations ORDER BY version")
                .map { try $0.decode(Int.self, at: 0) }
        }
        let known = self.migrations.map(\.version)
        return Status(
            applied: applied,
            pending: known.filter { !applied.contains($0) },
            latest: known.max() ?? 0)
    }

    // MARK: - Internals

    private func locked<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await self.pool.withTransaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(self.schema + ".migrations")))")
            try await connection.execute(script: """
                CREATE SCHEMA IF NOT EXISTS \(self.schema);
                CREATE TABLE IF NOT EXISTS \(self.schema).schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                );
                """)
            return try await body(connection)
        }
    }

    private func appliedVersions(_ connection: PostgresConnection) async throws -> Set<Int> {
        Set(try await connection.query("SELECT version FROM \(unescaped: self.schema).schema_migrations").map { try $0.decode(Int.self, at: 0) })
    }

    private func render(_ sql: String) -> String {
        sql.replacingOccurrences(of: "{schema}", with: self.schema)
    }
}

/// Schema names are spliced into SQL, so only plain identifiers are accepted.
enum SchemaName {
    static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.count <= 48 else { return false }
        let lower = CharacterSet.lowercaseLetters.union(CharacterSet(charactersIn: "_"))
        let rest = lower.union(CharacterSet(charactersIn: "0123456789"))
        return name.unicodeScalars.allSatisfy { $0.isASCII && rest.contains($0) } && lower.contains(first) && first.isASCII
    }
}
